//! Runs a target on mutated inputs and keeps what panicked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::mutate::{Rng, mutate};
use crate::targets::Target;

/// What a run of a target found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub runs: u64,
    /// Inputs the target read without an error.
    pub accepted: u64,
    /// Inputs refused with an error (what bad input should get).
    pub refused: u64,
    /// Inputs that panicked, with the panic message (at most 20 kept).
    pub crashes: Vec<(Vec<u8>, String)>,
    pub panics: u64,
    pub seconds: f64,
    /// The slowest input's time.
    pub slowest: Duration,
    /// Inputs that took longer than [`SLOW`] (at most 5 kept), with their time.
    pub slow: Vec<(Vec<u8>, Duration)>,
}

/// An input slower than this is kept for a look: a loader should refuse bad input quickly.
pub const SLOW: Duration = Duration::from_secs(1);

/// Runs `target` on `runs` inputs: each a seed (or the previous input, to go further from
/// the seeds) mutated 1 to 4 times. `work` is a directory for the input file.
pub fn fuzz(target: &Target, seeds: &[Vec<u8>], runs: u64, seed: u64, work: &Path) -> Outcome {
    assert!(!seeds.is_empty(), "{}: no seed inputs", target.name);
    let path = work.join(target.file);
    let mut rng = Rng::new(seed ^ fnv(target.name.as_bytes()));
    let mut outcome = Outcome::default();
    let start = Instant::now();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut input = seeds[0].clone();
    for run in 0..runs {
        // Every few runs start again from a seed; otherwise keep mutating the last input.
        if run % 4 == 0 {
            input = seeds[rng.below(seeds.len())].clone();
        }
        let other = &seeds[rng.below(seeds.len())];
        mutate(&mut input, other, target.tokens, &mut rng);
        if input.len() > 1 << 20 {
            input.truncate(1 << 16);
        }
        let (result, took) = run_one(target, &path, &input);
        outcome.slowest = outcome.slowest.max(took);
        if took > SLOW && outcome.slow.len() < 5 {
            outcome.slow.push((input.clone(), took));
        }
        outcome.runs += 1;
        match result {
            Ok(true) => outcome.accepted += 1,
            Ok(false) => outcome.refused += 1,
            Err(message) => {
                outcome.panics += 1;
                if outcome.crashes.len() < 20 {
                    outcome.crashes.push((input.clone(), message));
                }
            }
        }
    }
    std::panic::set_hook(previous_hook);
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome
}

/// Runs `target` on one input: `Ok(accepted)`, or the panic message.
pub fn run_one(target: &Target, path: &Path, input: &[u8]) -> (Result<bool, String>, Duration) {
    if let Err(e) = std::fs::write(path, input) {
        panic!("cannot write the fuzz input {}: {e}", path.display());
    }
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(path)));
    let took = start.elapsed();
    let result = match result {
        Ok(Ok(())) => Ok(true),
        Ok(Err(_)) => Ok(false),
        Err(payload) => Err(payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())),
    };
    (result, took)
}

/// FNV-1a, to name inputs and to give each target its own stream.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

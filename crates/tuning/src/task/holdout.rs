//! A seeded held-out part of the training data, for model selection when the data has no
//! validation split of its own (`train --holdout FRACTION`), or when the validation split is
//! the one reported and must not choose the model (benchmarks/recipes/).
//!
//! The split depends only on (number of examples, fraction, seed): SplitMix64 from
//! `seed ^ 0x5EED0F401D0` shuffles the indices and the first `round(n * fraction)` are held
//! out. Both parts keep file order. The Python baselines (scripts/baselines/splits.py)
//! draw the same split, so both sides of a benchmark select on the same examples.

use anyhow::{Result, bail};

use crate::engine::sampler::SplitMix64;

/// Mixed into the seed, so the split is not the first epoch's shuffle.
const SPLIT: u64 = 0x5EE_D0F4_01D0;

/// (training, held out), each in file order.
pub fn hold_out<T>(examples: Vec<T>, fraction: f64, seed: u64) -> Result<(Vec<T>, Vec<T>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        bail!("--holdout must be between 0 and 1, got {fraction}");
    }
    let count = ((examples.len() as f64) * fraction).round() as usize;
    if count == 0 || count == examples.len() {
        bail!(
            "--holdout {fraction} of {} examples leaves no training or no validation examples",
            examples.len()
        );
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    SplitMix64::new(seed ^ SPLIT).shuffle(&mut order);
    let mut held = vec![false; examples.len()];
    for &i in &order[..count] {
        held[i] = true;
    }
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (example, held) in examples.into_iter().zip(held) {
        if held {
            validation.push(example);
        } else {
            train.push(example);
        }
    }
    Ok((train, validation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_seeded_sized_and_in_file_order() {
        let (train, held) = hold_out((0..100).collect::<Vec<_>>(), 0.1, 42).unwrap();
        assert_eq!((train.len(), held.len()), (90, 10));
        assert!(held.windows(2).all(|w| w[0] < w[1]));
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        let again = hold_out((0..100).collect::<Vec<_>>(), 0.1, 42).unwrap().1;
        assert_eq!(held, again);
        let other = hold_out((0..100).collect::<Vec<_>>(), 0.1, 43).unwrap().1;
        assert_ne!(held, other);
        // The split the Python side draws for these arguments
        // (`python3 -c 'import sys; sys.path.insert(0, "scripts/baselines"); import splits;
        // print(splits.hold_out(list(range(100)), 0.1, 42)[1])'`).
        assert_eq!(held, vec![1, 16, 24, 30, 42, 48, 51, 66, 93, 95]);
    }

    #[test]
    fn fractions_that_leave_an_empty_side_are_refused() {
        for fraction in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(hold_out(vec![1, 2, 3], fraction, 1).is_err());
        }
        let err = hold_out(vec![1, 2, 3], 0.01, 1).unwrap_err().to_string();
        assert!(err.contains("0.01 of 3 examples"), "{err}");
    }
}

//! The fuzz targets in CI: a short pass of each, the inputs that once panicked, and a check
//! that the harness does catch a panic.

use std::path::Path;

use fuzz::Target;

/// Executions per target in this test (`scripts/checks/fuzz` runs a million).
const RUNS: u64 = 1_500;

/// The fuzzer silences the (process-wide) panic hook while it runs: one test at a time, so
/// that another test's failure message is not silenced with it.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_target_reads_mutated_inputs_without_a_panic_and_replays_past_crashes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let regressions = fuzz::targets::root().join("crates/fuzz/regressions");
    for target in fuzz::targets() {
        let seeds = target.seed_inputs().unwrap();
        // Seeds are mostly valid inputs (some fixtures are bad on purpose: nulls, floats).
        let accepted = seeds
            .iter()
            .filter(|seed| {
                let path = work.path().join(target.file);
                fuzz::runner::run_one(&target, &path, seed).0 == Ok(true)
            })
            .count();
        assert!(accepted > 0, "{}: every seed input is refused", target.name);
        let outcome = fuzz::fuzz(&target, &seeds, RUNS, 2026, work.path());
        assert_eq!(outcome.runs, RUNS);
        assert!(
            outcome.refused > 0,
            "{}: no mutation was refused",
            target.name
        );
        for (input, message) in &outcome.crashes {
            failures.push(format!(
                "{}: {message} on {:?}",
                target.name,
                String::from_utf8_lossy(input)
            ));
        }
        for past in replay(&target, &regressions, work.path()) {
            failures.push(past);
        }
    }
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}

/// Runs `target` on each `regressions/<target>/*` input; returns the ones that panic.
fn replay(target: &Target, regressions: &Path, work: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(regressions.join(target.name)) else {
        return Vec::new();
    };
    let mut failures = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        if let (Err(message), _) = fuzz::runner::run_one(target, &work.join(target.file), &input) {
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    failures
}

#[test]
fn the_harness_keeps_an_input_that_panics() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let work = tempfile::tempdir().unwrap();
    let target = Target {
        name: "planted",
        what: "panics on a tab after a digit",
        file: "x.txt",
        seeds: &[],
        tokens: &["\t"],
        run: |p| {
            let text = std::fs::read(p)?;
            if text
                .windows(2)
                .any(|w| w[0].is_ascii_digit() && w[1] == b'\t')
            {
                panic!("planted");
            }
            Ok(())
        },
    };
    let outcome = fuzz::fuzz(&target, &[b"12 ab\n".to_vec()], 5_000, 1, work.path());
    assert!(outcome.panics > 0, "the planted panic was not found");
    assert_eq!(outcome.crashes[0].1, "planted");
    assert_eq!(outcome.panics + outcome.accepted + outcome.refused, 5_000);
}

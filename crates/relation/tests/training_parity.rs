//! Training parity with transformers: `relation train` on the tiny fixture encoder must take
//! the same steps as transformers' Trainer training scripts/baselines/baseline-transformers-relation.py's
//! RelationModel from the same initial weights, with dropout off and one full batch per step
//! (so the sampling order cannot matter). Pins what is the relation task's own on top of the
//! trainer that crates/sentiment/tests/training_parity.rs pins: the entity marking, the marker
//! rows of the embedding matrix, and each head's forward and backward (the start markers'
//! states for entity-start; the [CLS] and entity-span averages through their dense layers for
//! R-BERT).
//!
//! Fixtures: tests/fixtures/relation/training-parity-HEAD.{json,safetensors}, written by
//! scripts/checks/check-relation-training-parity.py --fixture (the command is in its docstring). The
//! JSON holds the exact `relation train` arguments and Trainer's per-step loss and gradient
//! norm; the safetensors Trainer's final weights.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tuning::test_support::parity;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn matches_trainer(head: &str) {
    let fixtures = root().join("tests/fixtures/relation");
    let json = fixtures.join(format!("training-parity-{head}.json"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let args: Vec<&str> = fixture["relation_train_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.windows(2).any(|w| w == ["--head", head]), "{args:?}");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = Command::new(env!("CARGO_BIN_EXE_relation"))
        .current_dir(root())
        .arg("train")
        .args(&args)
        .args(["--output-dir", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The four marker rows of the word embeddings are among the weights compared: they move
    // ~8e-3 in these 8 steps, and the sides agree to ~1e-7.
    let compared = parity::compare_run(
        &run,
        &fixture["steps"],
        &fixtures.join(format!("training-parity-{head}.safetensors")),
    )
    .unwrap();
    assert!(compared >= 35, "compared only {compared} tensors");
}

#[test]
fn entity_start_training_matches_transformers_trainer() {
    matches_trainer("entity-start");
}

#[test]
fn rbert_training_matches_transformers_trainer() {
    matches_trainer("rbert");
}

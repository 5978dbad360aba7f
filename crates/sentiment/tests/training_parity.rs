//! Training parity with transformers: `sentiment train` on the tiny fixture encoder must take
//! the same steps as transformers' Trainer from the same initial weights, with dropout off and
//! one full batch per step (so sampling order cannot matter). Checks per-step loss and
//! gradient norm, then every final weight: forward, loss, backward, gradient clipping, AdamW
//! with its weight-decay groups and the warmup + linear decay schedule together.
//! Fixture: scripts/fixtures/make-training-parity-fixture.py (settings and Trainer's numbers in
//! tests/fixtures/sentiment/training-parity.json, its final weights next to it).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tuning::test_support::parity;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> Value {
    let path = root().join("tests/fixtures/sentiment/training-parity.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn training_steps_and_final_weights_match_transformers_trainer() {
    let fixture = fixture();
    let s = &fixture["settings"];
    let arg = |key: &str| match &s[key] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = Command::new(env!("CARGO_BIN_EXE_sentiment"))
        .current_dir(root())
        .args(["train", "--model", &arg("model"), "--train", &arg("train")])
        .args([
            "--validation",
            &arg("train"),
            "--output-dir",
            run.to_str().unwrap(),
        ])
        .args(["--max-train-samples", &arg("max_train_samples")])
        .args([
            "--per-device-train-batch-size",
            &arg("per_device_train_batch_size"),
        ])
        .args(["--max-seq-length", &arg("max_seq_length")])
        .args(["--max-steps", &arg("max_steps")])
        .args(["--learning-rate", &arg("learning_rate")])
        .args(["--warmup-steps", &arg("warmup_steps")])
        .args(["--lr-scheduler-type", &arg("lr_scheduler_type")])
        .args(["--weight-decay", &arg("weight_decay")])
        .args(["--max-grad-norm", &arg("max_grad_norm")])
        .args(["--seed", &arg("seed"), "--logging-steps", "1"])
        .args(["--eval-strategy", "no", "--save-strategy", "no"])
        .args([
            "--hidden-dropout-prob",
            "0",
            "--attention-probs-dropout-prob",
            "0",
        ])
        .args(["--classifier-dropout", "0"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let compared = parity::compare_run(
        &run,
        &fixture["steps"],
        &root().join("tests/fixtures/sentiment/training-parity.safetensors"),
    )
    .unwrap();
    assert!(compared >= 35, "compared only {compared} tensors");
}

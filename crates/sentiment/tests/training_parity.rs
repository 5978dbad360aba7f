//! Training parity with transformers: `sentiment train` on the tiny fixture encoder must take
//! the same steps as transformers' Trainer from the same initial weights, with dropout off and
//! one full batch per step (so sampling order cannot matter). Checks per-step loss and
//! gradient norm, then every final weight: forward, loss, backward, gradient clipping, AdamW
//! with its weight-decay groups and the warmup + linear decay schedule together.
//! Fixture: scripts/make-training-parity-fixture.py (settings and Trainer's numbers in
//! tests/fixtures/sentiment/training-parity.json, its final weights next to it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::SafeTensors;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture() -> Value {
    let path = root().join("tests/fixtures/sentiment/training-parity.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f32_tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect()
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

    // metrics.jsonl keeps 6 decimals; float32 sums taken in another order drift by ~1e-7 per
    // step. A wrong schedule, clipping or gradient moves these by 1e-4 or more.
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let ours: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r.get("loss").is_some())
        .collect();
    let theirs = fixture["steps"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "logged steps");
    for (a, b) in ours.iter().zip(theirs) {
        assert_eq!(a["step"], b["step"]);
        for key in ["loss", "grad_norm"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!(
                (x - y).abs() < 5e-6,
                "step {}: {key} {x} vs transformers {y}",
                a["step"]
            );
        }
    }

    // Every weight after the last step. LayerNorm weights sit near 1, so decaying them by
    // mistake (lr·wd·steps ≈ 1.6e-4) would show; weights agree to ~2e-6 otherwise.
    // Attention key biases are left out: their exact gradient is zero (softmax ignores a
    // constant added to every key's score), so both sides take Adam steps of full size in
    // the direction of their own rounding noise.
    let ours = f32_tensors(&run.join("model.safetensors"));
    let theirs = f32_tensors(&root().join("tests/fixtures/sentiment/training-parity.safetensors"));
    let mut names: Vec<&String> = theirs.keys().collect();
    names.sort();
    let mut compared = 0;
    for name in names {
        let Some(mine) = ours.get(name) else {
            panic!("the export lacks {name}");
        };
        if name.ends_with("attention.self.key.bias") {
            continue;
        }
        let worst = mine
            .iter()
            .zip(&theirs[name])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{name}: max abs diff {worst:e}");
        compared += 1;
    }
    assert!(compared >= 35, "compared only {compared} tensors");
}

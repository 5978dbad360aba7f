//! The example task of the README's "Adding a task" (`similarity/`: sentence-pair similarity
//! as regression) trained end to end through the task app on tiny data and exported as
//! transformers' `BertForSequenceClassification` with `problem_type` regression and one label.
//!
//! That transformers gives the same outputs is shown in two halves: (1) on a checkpoint
//! transformers itself saved (tests/fixtures/checkpoints/regression), the task's `predict`
//! gives transformers' logits within 1e-4 (f32 on both sides, weights drawn with a large std:
//! a wrong op moves them by far more); (2) our export holds exactly the tensors (names and
//! shapes) and the config entries of that checkpoint, so `AutoModelForSequenceClassification`
//! loads it as the same model. Run with `ADDING_A_TASK_EXPORT=DIR` (relative to the repository
//! root) to keep the export for `scripts/checks/check-regression-export.py`, which loads it in
//! transformers directly.

mod similarity;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};
use similarity::{ScoreFlags, SimilarityApp};
use tuning::app::{self, TaskApp};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Result<()> {
    app::run::<SimilarityApp>(std::iter::once("similarity").chain(args.iter().copied()))
}

fn tensors(dir: &Path) -> Vec<(String, Vec<usize>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    all.sort();
    all
}

#[test]
fn the_guide_example_trains_exports_and_computes_as_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let words = [
        "good", "bad", "movie", "film", "great", "story", "dog", "fox", "city", "love",
    ];
    let write = |name: &str, n: usize| {
        let lines: String = (0..n)
            .map(|i| {
                let (a, b) = (words[i % 10], words[(i * 7 + 3) % 10]);
                let label = if a == b { 5.0 } else { (i % 5) as f64 };
                format!("{}\n", json!({"sentence1": format!("the {a}"), "sentence2": format!("a {b} {a}"), "label": label}))
            })
            .collect();
        std::fs::write(dir.path().join(name), lines).unwrap();
        dir.path().join(name)
    };
    let (train, validation, out) = (
        write("train.jsonl", 48),
        write("val.jsonl", 16),
        dir.path().join("run"),
    );
    // Fine-tuned from the encoder of transformers' own regression checkpoint (its head is
    // replaced), so the export can be compared with that checkpoint tensor for tensor.
    let fixture = root().join("tests/fixtures/checkpoints/regression");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let train_args = [
        "train",
        "--model",
        &s(&fixture),
        "--train",
        &s(&train),
        "--validation",
        &s(&validation),
        "--output-dir",
        &s(&out),
        "--num-train-epochs",
        "3",
        "--learning-rate",
        "1e-3",
    ];
    run(&train_args).unwrap();

    // The export: transformers' regression layout, tensor for tensor.
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        config["architectures"],
        json!(["BertForSequenceClassification"])
    );
    assert_eq!(
        (&config["problem_type"], &config["id2label"]),
        (&json!("regression"), &json!({"0": "LABEL_0"}))
    );
    assert_eq!(
        tensors(&out),
        tensors(&fixture),
        "the tensors of transformers' class"
    );
    if let Some(keep) = std::env::var_os("ADDING_A_TASK_EXPORT") {
        // The export, its predictions on the fixture's pairs, and those pairs.
        let keep = &root().join(keep);
        std::fs::create_dir_all(keep).unwrap();
        for name in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
        ] {
            std::fs::copy(out.join(name), keep.join(name)).unwrap();
        }
        std::fs::copy(fixture.join("input.jsonl"), keep.join("input.jsonl")).unwrap();
        let input = s(&keep.join("input.jsonl"));
        let predictions = s(&keep.join("predictions.jsonl"));
        run(&[
            "predict",
            "--model",
            &s(&out),
            "--input",
            &input,
            "--output",
            &predictions,
        ])
        .unwrap();
    }
    // eval of the export reproduces the best evaluation of training; score agrees with it.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval_results.json")).unwrap())
            .unwrap();
    run(&["eval", "--model", &s(&out), "--data", &s(&validation)]).unwrap();
    let eval: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval_val.json")).unwrap()).unwrap();
    let pearson = eval["report"]["pearson"].as_f64().unwrap();
    assert!((pearson - results["eval_pearson"].as_f64().unwrap()).abs() < 1e-6);
    let predictions = dir.path().join("pred.jsonl");
    run(&[
        "predict",
        "--model",
        &s(&out),
        "--input",
        &s(&validation),
        "--output",
        &s(&predictions),
    ])
    .unwrap();
    let scored = SimilarityApp::score(&ScoreFlags {
        gold: validation.clone(),
        predictions,
    })
    .unwrap();
    assert!((scored["pearson"] - pearson).abs() < 1e-6);

    // transformers' own regression checkpoint: this task's predict gives its logits.
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("reference.json")).unwrap())
            .unwrap();
    let predicted = dir.path().join("fixture.jsonl");
    run(&[
        "predict",
        "--model",
        &s(&fixture),
        "--input",
        &s(&fixture.join("input.jsonl")),
        "--output",
        &s(&predicted),
    ])
    .unwrap();
    let lines = std::fs::read_to_string(&predicted).unwrap();
    for (line, want) in lines
        .lines()
        .zip(reference["outputs"]["logits"].as_array().unwrap())
    {
        let got = serde_json::from_str::<Value>(line).unwrap()["score"]
            .as_f64()
            .unwrap();
        assert!(
            (got - want[0].as_f64().unwrap()).abs() < 1e-4,
            "{got} vs {want}"
        );
    }
    assert_eq!(lines.lines().count(), 3);
}

#[test]
fn the_example_metrics_are_scipys() {
    // scipy.stats.pearsonr / spearmanr (ties take their mean rank) of the same lists.
    let m = similarity::scores(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]);
    assert!((m["pearson"] - 0.8320502943378436).abs() < 1e-12);
    assert!((m["spearman"] - 0.8207826816681233).abs() < 1e-12);
    assert!((m["mse"] - 13.6).abs() < 1e-12);
}

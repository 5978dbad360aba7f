//! Checkpoints finetune never trained: transformers' `BertForSequenceClassification` saved by
//! transformers itself (tests/fixtures/checkpoints, written with their reference logits by
//! scripts/fixtures/make-fixtures.py). `sentiment predict` must give transformers' logits
//! and take the labels from `id2label`, or name them `LABEL_0`, `LABEL_1`, ... as transformers
//! does when the config has none.
//!
//! Tolerance 1e-4 on the logits: both sides compute in f32 on the same weights; the tiny
//! model's weights are drawn with a large std (logits of size ~1-10), so a wrong operation
//! moves them by far more, while summation order moves them by ~1e-6.

use std::path::Path;

use serde_json::Value;
use tuning::test_support::cli::{
    Binary, err, fixture, floats, json_file, json_lines, max_abs_diff, ok, s,
};

fn sentiment(args: &[&str]) -> String {
    ok(&Binary::new(env!("CARGO_BIN_EXE_sentiment")).run(args))
}

/// Predicts the checkpoint's input file; checks every example's logits against transformers'
/// and returns the predicted labels.
fn predict_like_transformers(checkpoint: &Path) -> Vec<String> {
    let reference = json_file(&checkpoint.join("reference.json"));
    let input = checkpoint.join("input.jsonl");
    let out = sentiment(&["predict", "--model", s(checkpoint), "--input", s(&input)]);
    let predictions = json_lines(&out);
    let expected = reference["outputs"]["logits"].as_array().unwrap();
    assert_eq!(predictions.len(), expected.len());
    for (i, (got, want)) in predictions.iter().zip(expected).enumerate() {
        let diff = max_abs_diff(&floats(&got["logits"]), &floats(want));
        assert!(diff < 1e-4, "example {i}: logits differ by {diff}");
    }
    predictions
        .iter()
        .map(|p| p["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_transformers_classifier_predicts_its_logits_with_its_labels() {
    let checkpoint = fixture("checkpoints/sequence-classification");
    let labels = predict_like_transformers(&checkpoint);
    let reference = json_file(&checkpoint.join("reference.json"));
    let id2label = &reference["outputs"]["id2label"];
    let known: Vec<&str> = (0..3)
        .map(|i| id2label[i.to_string()].as_str().unwrap())
        .collect();
    assert!(
        labels.iter().all(|l| known.contains(&l.as_str())),
        "{labels:?}"
    );
    // Every label of id2label named in the order of the logits: the argmax picks the name.
    for (label, want) in labels
        .iter()
        .zip(reference["outputs"]["logits"].as_array().unwrap())
    {
        let want = floats(want);
        let best = (0..want.len())
            .max_by(|&a, &b| want[a].total_cmp(&want[b]))
            .unwrap();
        assert_eq!(label, known[best]);
    }
}

#[test]
fn without_label_names_labels_are_named_as_transformers_names_them() {
    let checkpoint = fixture("checkpoints/sequence-classification-default-labels");
    let config = json_file(&checkpoint.join("config.json"));
    assert!(
        config.get("id2label").is_none(),
        "the fixture names no labels"
    );
    let labels = predict_like_transformers(&checkpoint);
    assert!(
        labels.iter().all(|l| l == "LABEL_0" || l == "LABEL_1"),
        "{labels:?}"
    );
}

#[test]
fn eval_scores_a_foreign_checkpoint_and_writes_beside_it() {
    // A copy: eval writes its report into the model directory.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    let source = fixture("checkpoints/sequence-classification");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    let data = dir.path().join("gold.tsv");
    std::fs::write(
        &data,
        "sentence\tlabel\ngood movie\tpositive\nbad film\tnegative\nit is a film\tneutral\n",
    )
    .unwrap();
    let report: Value = serde_json::from_str(&sentiment(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
    ]))
    .unwrap();
    assert_eq!(report["examples"], 3);
    assert_eq!(report["report"]["labels"][2], "positive");
    assert!(model.join("eval_gold.json").is_file());
}

#[test]
fn a_checkpoint_of_another_class_is_refused_by_name() {
    let checkpoint = fixture("checkpoints/token-classification");
    let input = fixture("checkpoints/sequence-classification/input.jsonl");
    let e = err(&Binary::new(env!("CARGO_BIN_EXE_sentiment")).run(&[
        "predict",
        "--model",
        s(&checkpoint),
        "--input",
        s(&input),
    ]));
    assert!(
        e.contains("BertForTokenClassification") && e.contains("ForSequenceClassification"),
        "{e}"
    );
    let regression = fixture("checkpoints/regression");
    let e = err(&Binary::new(env!("CARGO_BIN_EXE_sentiment")).run(&[
        "predict",
        "--model",
        s(&regression),
        "--input",
        s(&input),
    ]));
    assert!(e.contains("problem_type `regression`"), "{e}");
}

/// The same for every other family's `*ForSequenceClassification` (tests/fixtures/families,
/// by scripts/fixtures/make-family-fixtures.py): RoBERTa's and XLM-R's two-layer head with
/// tanh, ELECTRA's with GELU, DistilBERT's pre_classifier and ReLU.
#[test]
fn every_familys_classifier_predicts_its_logits_with_its_labels() {
    for family in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let checkpoint = fixture(&format!("families/{family}-sequence-classification"));
        let labels = predict_like_transformers(&checkpoint);
        assert!(
            labels
                .iter()
                .all(|l| ["negative", "neutral", "positive"].contains(&l.as_str())),
            "{family}: {labels:?}"
        );
    }
}

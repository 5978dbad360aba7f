//! A transformers `BertForQuestionAnswering` that finetune never trained
//! (tests/fixtures/checkpoints/question-answering, by scripts/fixtures/make-fixtures.py):
//! `qa predict --logits` must cut the same windows as run_qa (384 tokens, stride 128; one
//! context needs two) and give transformers' start and end logits in each.
//! Tolerance 1e-4: see crates/sentiment/tests/foreign_checkpoints.rs.

use tuning::test_support::cli::{
    Binary, fixture, floats, json_file, json_lines, max_abs_diff, ok, s,
};

#[test]
fn a_transformers_span_model_gives_its_logits_in_run_qa_windows() {
    predict_like_transformers(&fixture("checkpoints/question-answering"), "bert");
}

/// The same for every other family's `*ForQuestionAnswering` (tests/fixtures/families):
/// their pair layouts (`<s> Q </s></s> C </s>` for RoBERTa and XLM-R), byte-level BPE and
/// SentencePiece offsets, run_qa's windows.
#[test]
fn every_familys_span_model_gives_its_logits_in_run_qa_windows() {
    for family in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        predict_like_transformers(
            &fixture(&format!("families/{family}-question-answering")),
            family,
        );
    }
}

/// `qa predict --logits` on the checkpoint's input: every window's ids and start/end logits
/// against transformers', and an answer for each question.
fn predict_like_transformers(checkpoint: &std::path::Path, family: &str) {
    let reference = json_file(&checkpoint.join("reference.json"));
    let dir = tempfile::tempdir().unwrap();
    ok(&Binary::new(env!("CARGO_BIN_EXE_qa")).run(&[
        "predict",
        "--model",
        s(checkpoint),
        "--input",
        s(&checkpoint.join("input.jsonl")),
        "--output-dir",
        s(dir.path()),
        "--logits",
    ]));
    let windows =
        json_lines(&std::fs::read_to_string(dir.path().join("window_logits.jsonl")).unwrap());
    let expected = reference["outputs"]["windows"].as_array().unwrap();
    assert_eq!(
        windows.len(),
        expected.len(),
        "{family}: windows per question as run_qa"
    );
    for (i, (got, want)) in windows.iter().zip(expected).enumerate() {
        assert_eq!(got["id"], want["id"]);
        assert_eq!(got["input_ids"], want["input_ids"], "{family}: window {i}");
        for key in ["start_logits", "end_logits"] {
            let diff = max_abs_diff(&floats(&got[key]), &floats(&want[key]));
            assert!(diff < 1e-4, "{family}: window {i}: {key} differ by {diff}");
        }
    }
    let answers = json_file(&dir.path().join("predictions.json"));
    assert!(
        answers["q1"].is_string() && answers["q2"].is_string(),
        "{family}"
    );
}

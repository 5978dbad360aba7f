//! Relation classifiers of the other encoder families as a transformers user prepares them:
//! the family's `*ForSequenceClassification` with `<e1> </e1> <e2> </e2>` added to the
//! tokenizer and the embeddings resized (tests/fixtures/families/<family>-relation, written
//! with transformers' logits by scripts/fixtures/make-relation-family-fixtures.py).
//! `relation predict` must mark each sentence as transformers' side did (byte-level BPE,
//! Unigram and WordPiece offsets, the family's `<s>`/`[CLS]` layout, the added ids) and give
//! its logits.
//!
//! Tolerance 1e-4 on the logits: f32 on both sides on the same weights, drawn with std 0.3
//! (the new embedding rows and the head too), so a wrong op or a single wrong input id moves
//! them by far more, while summation order moves them by ~1e-6.

use tuning::test_support::cli::{
    Binary, fixture, floats, json_file, json_lines, max_abs_diff, ok, s,
};

#[test]
fn each_family_predicts_transformers_logits_with_added_marker_tokens() {
    for family in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let checkpoint = fixture(&format!("families/{family}-relation"));
        let reference = json_file(&checkpoint.join("reference.json"));
        let out = ok(&Binary::new(env!("CARGO_BIN_EXE_relation")).run(&[
            "predict",
            "--model",
            s(&checkpoint),
            "--input",
            s(&checkpoint.join("input.txt")),
            "--format",
            "jsonl",
        ]));
        let predictions = json_lines(&out);
        let expected = reference["outputs"].as_array().unwrap();
        assert_eq!(predictions.len(), expected.len(), "{family}");
        for (got, want) in predictions.iter().zip(expected) {
            assert_eq!(got["id"], want["id"], "{family}");
            let diff = max_abs_diff(&floats(&got["logits"]), &floats(&want["logits"]));
            assert!(
                diff < 1e-4,
                "{family} sentence {}: logits differ by {diff}",
                want["id"]
            );
        }
    }
}

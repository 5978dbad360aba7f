//! A transformers `BertForTokenClassification` that finetune never trained
//! (tests/fixtures/checkpoints/token-classification, with transformers' logits, by
//! scripts/fixtures/make-fixtures.py): `ner predict --format logits` must give every word's
//! first sub-token logits as transformers computes them, with the labels of its `id2label`.
//! Tolerance 1e-4: see crates/sentiment/tests/foreign_checkpoints.rs.

use tuning::test_support::cli::{
    Binary, fixture, floats, json_file, json_lines, max_abs_diff, ok, s,
};

#[test]
fn a_transformers_tagger_predicts_its_logits_with_its_labels() {
    let checkpoint = fixture("checkpoints/token-classification");
    let reference = json_file(&checkpoint.join("reference.json"));
    let ner = Binary::new(env!("CARGO_BIN_EXE_ner"));
    let input = checkpoint.join("input.conll");
    let out = ok(&ner.run(&[
        "predict",
        "--model",
        s(&checkpoint),
        "--input",
        s(&input),
        "--format",
        "logits",
    ]));
    let sentences = json_lines(&out);
    let expected = reference["outputs"]["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), expected.len());
    for (got, want) in sentences.iter().zip(expected) {
        assert_eq!(got["words"], want["words"]);
        assert_eq!(got["labels"], reference["outputs"]["labels"]);
        let (got, want) = (
            got["logits"].as_array().unwrap(),
            want["logits"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len());
        for (word, (g, w)) in got.iter().zip(want).enumerate() {
            let diff = max_abs_diff(&floats(g), &floats(w));
            assert!(diff < 1e-4, "word {word}: logits differ by {diff}");
        }
    }
    // And the tags: one per word, from its labels.
    let tags = ok(&ner.run(&["predict", "--model", s(&checkpoint), "--input", s(&input)]));
    let labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];
    let tagged: Vec<&str> = tags.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(tagged.len(), 16);
    for line in tagged {
        let tag = line.split(' ').nth(1).unwrap();
        assert!(labels.contains(&tag), "{line}");
    }
}

/// The same for every other family's `*ForTokenClassification` (tests/fixtures/families, by
/// scripts/fixtures/make-family-fixtures.py): RoBERTa's words tokenized with
/// `add_prefix_space` as run_ner does, XLM-R's SentencePiece, DistilBERT's names, ELECTRA's
/// projection. The sub-token ids of each sentence are checked through `--format logits`' word
/// count and the logits of every word's first sub-token.
#[test]
fn every_familys_tagger_predicts_its_logits() {
    let ner = Binary::new(env!("CARGO_BIN_EXE_ner"));
    for family in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let checkpoint = fixture(&format!("families/{family}-token-classification"));
        let reference = json_file(&checkpoint.join("reference.json"));
        let out = ok(&ner.run(&[
            "predict",
            "--model",
            s(&checkpoint),
            "--input",
            s(&checkpoint.join("input.conll")),
            "--format",
            "logits",
        ]));
        let sentences = json_lines(&out);
        let expected = reference["outputs"]["sentences"].as_array().unwrap();
        assert_eq!(sentences.len(), expected.len(), "{family}");
        for (got, want) in sentences.iter().zip(expected) {
            assert_eq!(got["words"], want["words"], "{family}");
            assert_eq!(got["labels"], reference["outputs"]["labels"], "{family}");
            let (got, want) = (
                got["logits"].as_array().unwrap(),
                want["logits"].as_array().unwrap(),
            );
            assert_eq!(got.len(), want.len(), "{family}");
            for (word, (g, w)) in got.iter().zip(want).enumerate() {
                let diff = max_abs_diff(&floats(g), &floats(w));
                assert!(
                    diff < 1e-4,
                    "{family}: word {word}: logits differ by {diff}"
                );
            }
        }
    }
}

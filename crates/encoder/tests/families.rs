//! Golden parity of the encoder families other than BERT (RoBERTa, XLM-RoBERTa, DistilBERT,
//! ELECTRA) against transformers, on tiny random checkpoints of each family's bare model class
//! with a tokenizer of the family's kind (tests/fixtures/families, written by
//! scripts/fixtures/make-family-fixtures.py).
//!
//! Each case checks the token ids (texts and pairs, the empty text, accents, CJK, emoji, a
//! text truncated at the model's longest input) and the last hidden states.
//!
//! Tolerance 1e-5 (max abs), as for BERT (parity_tiny.rs): both sides compute in f32 with the
//! same operations, so only summation order differs; the weights are drawn with std 0.3, so
//! a wrong position id, a missing token type or an unprojected embedding is off by O(1).

mod common;

use std::path::PathBuf;

use burn::module::Module;
use common::*;
use encoder::{EncodeOptions, ModelFamily, Pretrained};
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;

fn family_dir(name: &str) -> PathBuf {
    fixtures().join("families").join(name)
}

fn family_reference(name: &str) -> Value {
    let text = std::fs::read_to_string(family_dir(name).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs every case alone, then all of them as one padded batch, against transformers.
fn check_family(name: &str, family: ModelFamily) {
    let p: Pretrained = load_for_test(&family_dir(name));
    assert_eq!(p.config.family(), family);
    assert!(
        p.report.missing.is_empty() && p.report.unexpected.is_empty(),
        "{name}: {:?}",
        p.report
    );
    let reference = family_reference(name);
    let max_length = p.config.max_sequence_length();
    assert_eq!(max_length as u64, reference["max_length"].as_u64().unwrap());
    let options = EncodeOptions::truncate_to(max_length);
    let pad = p.config.pad_id() as u32;
    let cases = reference["cases"].as_array().unwrap();
    let windows: Vec<_> = cases
        .iter()
        .map(|case| {
            let mut windows = p
                .tokenizer
                .encode(
                    case["text"].as_str().unwrap(),
                    case["text_pair"].as_str(),
                    &options,
                )
                .unwrap();
            windows.remove(0)
        })
        .collect();
    for (case, window) in cases.iter().zip(&windows) {
        assert_eq!(
            window.input_ids,
            ids(&case["input_ids"]),
            "{name}: ids of {}",
            case["text"]
        );
        let input = encoder::input::pad_batch(&[window], pad, &test_device());
        let hidden = tensor_values(p.model.forward(input).last_hidden_state);
        let diff = max_abs_diff(&hidden, &floats(&case["last_hidden_state"]));
        assert!(
            diff <= TOLERANCE,
            "{name}: hidden states off by {diff} for {}",
            case["text"]
        );
    }
    // Padded together: padding must not move the positions of RoBERTa-style models.
    assert_padded_batch_matches(&p.model, &windows, cases, pad, TOLERANCE, name);
}

#[test]
fn roberta_matches_transformers() {
    check_family("roberta", ModelFamily::Roberta);
}

#[test]
fn xlm_roberta_matches_transformers() {
    check_family("xlm-roberta", ModelFamily::XlmRoberta);
}

#[test]
fn distilbert_matches_transformers() {
    check_family("distilbert", ModelFamily::DistilBert);
}

#[test]
fn electra_matches_transformers() {
    check_family("electra", ModelFamily::Electra);
}

/// An encoder saved by us loads in transformers' class of its family: the same key names and
/// config field names as the file it came from, and the same weights.
#[test]
fn saved_model_keeps_the_family_layout() {
    for name in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let p = load_for_test(&family_dir(name));
        let out = tempfile::tempdir().unwrap();
        encoder::save_pretrained(out.path(), &p.model, &p.config, &p.tokenizer).unwrap();
        let theirs = encoder::Checkpoint::read(&family_dir(name).join("model.safetensors"))
            .unwrap()
            .floats;
        let ours = encoder::Checkpoint::read(&out.path().join("model.safetensors"))
            .unwrap()
            .floats;
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{name}: key names"
        );
        for (key, tensor) in &theirs {
            assert_eq!(ours[key], *tensor, "{name}: {key}");
        }
        let original: Value = serde_json::from_str(
            &std::fs::read_to_string(family_dir(name).join("config.json")).unwrap(),
        )
        .unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
                .unwrap();
        for (field, value) in original.as_object().unwrap() {
            assert_eq!(&written[field], value, "{name}: config field {field}");
        }
        let reloaded = load_for_test(out.path());
        assert_eq!(reloaded.config, p.config, "{name}");
        assert_eq!(reloaded.model.num_params(), p.model.num_params());
    }
}

/// Pre-split words (NER) as run_ner tokenizes them: RoBERTa's tokenizer with
/// `add_prefix_space=True` ([`encoder::Tokenizer::with_prefix_space`]); the other kinds as
/// they are.
#[test]
fn pre_split_words_get_run_ners_ids() {
    for name in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let dir = family_dir(&format!("{name}-token-classification"));
        let tokenizer = encoder::Tokenizer::from_model_dir(&dir)
            .unwrap()
            .with_prefix_space();
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        for sentence in reference["outputs"]["sentences"].as_array().unwrap() {
            let words: Vec<&str> = sentence["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            let windows = tokenizer
                .encode_words(&words, &EncodeOptions::default())
                .unwrap();
            assert_eq!(
                windows[0].input_ids,
                ids(&sentence["input_ids"]),
                "{name}: {words:?}"
            );
        }
    }
}

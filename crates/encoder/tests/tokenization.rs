//! Tokenization parity with transformers' fast tokenizer: ids, type ids, character offsets,
//! sequence ids, overflowing windows with a stride, and word ids for pre-split words.

mod common;

use common::*;
use encoder::{EncodeOptions, Tokenizer, Truncation};
use serde_json::Value;

fn offsets(value: &Value) -> Vec<(usize, usize)> {
    let at = |o: &Value, i: usize| o[i].as_u64().unwrap() as usize;
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (at(o, 0), at(o, 1)))
        .collect()
}

fn options(case: &Value) -> EncodeOptions {
    match case["max_length"].as_u64() {
        None => EncodeOptions::default(),
        Some(max) => EncodeOptions {
            max_length: Some(max as usize),
            truncation: case["truncation"].as_str().unwrap().parse().unwrap(),
            stride: case["stride"].as_u64().unwrap_or(0) as usize,
            return_overflowing: case["overflow"].as_bool().unwrap_or(false),
            add_special_tokens: true,
        },
    }
}

fn check_windows(tokenizer: &Tokenizer) {
    let reference = reference();
    for case in reference["tokenization"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let pair = case.get("text_pair").and_then(Value::as_str);
        let windows = tokenizer.encode(text, pair, &options(case)).unwrap();
        let expected = case["windows"].as_array().unwrap();
        assert_eq!(windows.len(), expected.len(), "window count for {text}");
        for (got, want) in windows.iter().zip(expected) {
            assert_eq!(got.input_ids, ids(&want["input_ids"]), "ids for {text}");
            assert_eq!(got.token_type_ids, ids(&want["token_type_ids"]));
            assert_eq!(got.offsets, offsets(&want["offsets"]), "offsets for {text}");
            let sequence_ids: Vec<Option<usize>> = want["sequence_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().map(|v| v as usize))
                .collect();
            assert_eq!(got.sequence_ids, sequence_ids, "sequence ids for {text}");
        }
    }
}

fn check_words(tokenizer: &Tokenizer) {
    for case in reference()["words"].as_array().unwrap() {
        let words: Vec<&str> = case["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        let window = tokenizer
            .encode_words(&words, &EncodeOptions::default())
            .unwrap()
            .remove(0);
        assert_eq!(window.input_ids, ids(&case["input_ids"]));
        let word_ids: Vec<Option<u32>> = case["word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().map(|v| v as u32))
            .collect();
        assert_eq!(window.word_ids, word_ids, "word ids for {words:?}");
        assert_eq!(
            window.offsets,
            offsets(&case["offsets"]),
            "offsets for {words:?}"
        );
    }
}

#[test]
fn tokenizer_json_matches_transformers() {
    let tokenizer = Tokenizer::from_model_dir(&tiny("tiny-bert")).unwrap();
    check_windows(&tokenizer);
    check_words(&tokenizer);
}

#[test]
fn vocab_txt_fallback_matches_transformers() {
    let tokenizer = Tokenizer::from_model_dir(&tiny("tiny-vocab-only")).unwrap();
    assert!(tokenizer.source().ends_with("vocab.txt"));
    check_windows(&tokenizer);
    check_words(&tokenizer);
}

#[test]
fn padding_and_truncation_stored_in_tokenizer_json_are_ignored() {
    // all-MiniLM-L6-v2's tokenizer.json pads and truncates to 128; transformers ignores that
    // unless asked, and so do we.
    let dir = tempfile::tempdir().unwrap();
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(tiny("tiny-bert/tokenizer.json")).unwrap())
            .unwrap();
    json["truncation"] = serde_json::json!({"max_length": 4, "strategy": "LongestFirst", "stride": 0, "direction": "Right"});
    json["padding"] = serde_json::json!({"strategy": {"Fixed": 10}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
    std::fs::write(dir.path().join("tokenizer.json"), json.to_string()).unwrap();
    let tokenizer = Tokenizer::from_model_dir(dir.path()).unwrap();
    let window = tokenizer
        .encode("the quick brown fox jumps", None, &EncodeOptions::default())
        .unwrap()
        .remove(0);
    assert_eq!(window.len(), 7);
}

#[test]
fn truncation_names_parse_like_transformers() {
    assert_eq!(
        "only_second".parse::<Truncation>().unwrap(),
        Truncation::OnlySecond
    );
    assert!("sideways".parse::<Truncation>().is_err());
}

#[test]
fn each_call_uses_its_own_truncation_settings() {
    // The tokenizer keeps a copy configured for the last settings: a change must rebuild it.
    let tokenizer = Tokenizer::from_model_dir(&tiny("tiny-bert")).unwrap();
    let text = "the quick brown fox jumps over the lazy dog";
    let len = |options: &EncodeOptions| tokenizer.encode(text, None, options).unwrap()[0].len();
    let full = len(&EncodeOptions::default());
    assert!(full > 8);
    assert_eq!(len(&EncodeOptions::truncate_to(6)), 6);
    assert_eq!(len(&EncodeOptions::default()), full);
    assert_eq!(len(&EncodeOptions::truncate_to(8)), 8);
    // A clone starts from the same vocabulary and settings per call.
    assert_eq!(
        tokenizer
            .clone()
            .encode(text, None, &EncodeOptions::truncate_to(6))
            .unwrap()[0]
            .len(),
        6
    );
}

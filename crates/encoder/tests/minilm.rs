//! The real all-MiniLM-L6-v2 against transformers' outputs (tests/fixtures/minilm), on accents,
//! CJK, emoji, empty text, a sentence pair and inputs longer than 512 tokens.
//!
//! Needs the model (scripts/fetch-model). Skipped with a message when it is missing, except
//! under CI (CI=true), where a missing model is a failure: CI fetches it first.
//!
//! Tolerance 1e-4: six layers of f32 with a different summation order in matmuls (BLAS vs
//! Burn's kernels) over hidden 384 and up to 512 tokens; measured differences are ~1e-5.

mod common;

use common::*;
use encoder::EncodeOptions;
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

#[test]
fn minilm_matches_transformers() {
    let Some(dir) = minilm_dir_or_skip() else {
        return;
    };
    let device = test_device();
    let p = load_for_test(&dir);
    let (reference, states) = minilm_reference();
    let states = safetensors::SafeTensors::deserialize(&states).unwrap();
    let options = EncodeOptions::truncate_to(512);
    let mut report = Vec::new();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let pair = case.get("text_pair").and_then(Value::as_str);
        let window = p
            .tokenizer
            .encode(case["text"].as_str().unwrap(), pair, &options)
            .unwrap()
            .remove(0);
        assert_eq!(
            window.input_ids,
            ids(&case["input_ids"]),
            "{name}: input ids"
        );
        assert_eq!(
            window.token_type_ids,
            ids(&case["token_type_ids"]),
            "{name}"
        );
        let input = encoder::input::pad_batch(&[&window], 0, &device);
        let got = tensor_values(p.model.forward(input).last_hidden_state);
        let expected = reference_state(&states, name);
        let diff = max_abs_diff(&got, &expected);
        report.push(format!(
            "{name}: {} tokens, max abs diff {diff:.2e}",
            window.len()
        ));
        assert!(diff <= TOLERANCE, "{name}: off by {diff}");
    }
    eprintln!("{}", report.join("\n"));
}

//! Shared helpers for the encoder's integration tests: fixture paths and comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use encoder::{DeviceChoice, EncodeOptions, Kernels, Pretrained, TokenizedWindow, load_pretrained};
use serde_json::Value;

/// tests/fixtures at the workspace root (written by scripts/fixtures/make-fixtures.py).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The device these tests compute on: `FINETUNE_DEVICE` (cpu, cuda[:N], wgpu; the CPU when
/// unset), so that the same parity tests check a GPU build (`--features cuda` or `wgpu`).
/// A device that cannot be opened fails the test: it never silently falls back to the CPU.
pub fn test_device() -> Device {
    let choice = DeviceChoice::from_env().unwrap();
    choice
        .open()
        .unwrap_or_else(|e| panic!("FINETUNE_DEVICE={choice}: {e}"))
}

/// The kernels these tests compute with: `FINETUNE_KERNELS` (fused unless `burn`) as they
/// apply on [`test_device`] (Burn's operations off the CPU).
pub fn test_kernels() -> Kernels {
    DeviceChoice::from_env()
        .unwrap()
        .kernels(Kernels::from_env())
        .unwrap()
}

/// A model directory loaded on [`test_device`] with [`test_kernels`].
pub fn load_for_test(dir: &Path) -> Pretrained {
    let mut p = load_pretrained(dir, &test_device()).unwrap();
    p.model = p.model.with_kernels(test_kernels());
    p
}

pub fn tiny(name: &str) -> PathBuf {
    fixtures().join("encoder").join(name)
}

pub fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("encoder/reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fetched all-MiniLM-L6-v2, or `None` (with a message) when it is missing outside CI;
/// under CI (CI=true) a missing model is a failure: CI fetches it first.
pub fn minilm_dir_or_skip() -> Option<PathBuf> {
    let dir = encoder::default_model_dir();
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run scripts/fetch-model before the tests ({} missing)",
        dir.display()
    );
    eprintln!(
        "skipping: {} missing; run scripts/fetch-model",
        dir.display()
    );
    None
}

/// transformers' MiniLM outputs (tests/fixtures/minilm): the cases, and the raw safetensors
/// bytes holding each case's `last_hidden_state` under its name.
pub fn minilm_reference() -> (Value, Vec<u8>) {
    let cases = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("minilm/reference.json")).unwrap(),
    )
    .unwrap();
    let states = std::fs::read(fixtures().join("minilm/reference.safetensors")).unwrap();
    (cases, states)
}

/// One case's reference `last_hidden_state` (f32, flattened).
pub fn reference_state(states: &safetensors::SafeTensors, name: &str) -> Vec<f32> {
    states
        .tensor(name)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

pub fn floats(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number array: {other}"),
    }
}

pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

pub fn tensor_values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "different number of values");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Tokenizes a reference case the way the fixture script called the tokenizer (no truncation).
pub fn tokenize_case(tokenizer: &encoder::Tokenizer, case: &Value) -> TokenizedWindow {
    let text = case["text"].as_str().unwrap();
    let pair = case.get("text_pair").and_then(Value::as_str);
    tokenizer
        .encode(text, pair, &EncodeOptions::default())
        .unwrap()
        .remove(0)
}

/// Checks that each window, run in one padded batch with the others, gives its case's
/// `last_hidden_state` (padding must not change a row's result); `what` names the model.
pub fn assert_padded_batch_matches(
    model: &encoder::BertModel,
    windows: &[TokenizedWindow],
    cases: &[Value],
    pad_id: u32,
    tolerance: f32,
    what: &str,
) {
    let refs: Vec<_> = windows.iter().collect();
    let input = encoder::input::pad_batch(&refs, pad_id, &test_device());
    let hidden = model.forward(input).last_hidden_state;
    let [_, seq, width] = hidden.dims();
    let values = tensor_values(hidden);
    for (row, (case, window)) in cases.iter().zip(windows).enumerate() {
        let got: Vec<f32> = (0..window.len())
            .flat_map(|t| values[(row * seq + t) * width..(row * seq + t + 1) * width].to_vec())
            .collect();
        let diff = max_abs_diff(&got, &floats(&case["last_hidden_state"]));
        assert!(
            diff <= tolerance,
            "{what}: row {row} off by {diff} when padded to {seq}"
        );
    }
}

/// The reference cases as `encode`'s JSONL input: `{"text": ..., "text_pair": ...}` lines.
pub fn encode_input(cases: &[Value]) -> String {
    cases
        .iter()
        .map(|c| {
            let mut line = serde_json::json!({"text": c["text"]});
            if let Some(pair) = c.get("text_pair") {
                line["text_pair"] = pair.clone();
            }
            format!("{line}\n")
        })
        .collect()
}

//! `--precision f16` (half-precision products in the linear layers) on the real
//! all-MiniLM-L6-v2, against transformers' f32 outputs (tests/fixtures/minilm).
//!
//! The precision belongs to the model (`BertModel::with_kernels`): one copy of the model
//! computes in f32, the other in f16, side by side.
//!
//! Tolerance: the hidden states move by the f16 rounding of the operands (2^-11 relative) and
//! of chunked f16 partial sums, through six layers: measured at most 5.4e-3 over the fixture's
//! cases (the report this test prints), so [`TOLERANCE`] is about 3.7x that. The test also
//! checks that the f16 path really ran (a difference well above f32's ~1e-5).
//! Skipped on CPUs without AVX512-FP16 and when the model is missing (outside CI).

mod common;

use burn::tensor::Device;
use common::*;
use encoder::{EncodeOptions, Kernels, Precision, load_pretrained};
use serde_json::Value;

const TOLERANCE: f32 = 0.02;

#[test]
fn f16_products_stay_close_to_transformers_f32_outputs() {
    let Some(dir) = minilm_dir_or_skip() else {
        return;
    };
    let Ok(half_kernels) = Kernels::default().with_precision(Precision::F16) else {
        eprintln!("skipping: this CPU has no AVX512-FP16");
        return;
    };
    let device = Device::flex();
    let p = load_pretrained(&dir, &device).unwrap();
    let half_model = p.model.clone().with_kernels(half_kernels);
    let (reference, states) = minilm_reference();
    let states = safetensors::SafeTensors::deserialize(&states).unwrap();
    let options = EncodeOptions::truncate_to(512);
    let mut report = Vec::new();
    let mut largest_f16_effect = 0.0f32;
    for case in reference["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let pair = case.get("text_pair").and_then(Value::as_str);
        let window = p
            .tokenizer
            .encode(case["text"].as_str().unwrap(), pair, &options)
            .unwrap()
            .remove(0);
        let input = encoder::input::pad_batch(&[&window], 0, &device);
        let exact = tensor_values(p.model.forward(input.clone()).last_hidden_state);
        let half = tensor_values(half_model.forward(input).last_hidden_state);
        let expected = reference_state(&states, name);
        let diff = max_abs_diff(&half, &expected);
        let effect = max_abs_diff(&half, &exact);
        largest_f16_effect = largest_f16_effect.max(effect);
        report.push(format!(
            "{name}: {} tokens, f16 vs transformers max abs diff {diff:.2e} (f16 vs f32 {effect:.2e})",
            window.len()
        ));
        assert!(diff <= TOLERANCE, "{name}: off by {diff}");
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        largest_f16_effect > 1e-3,
        "f16 changed the outputs by only {largest_f16_effect}: the f16 path did not run"
    );
}

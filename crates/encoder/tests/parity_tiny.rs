//! Golden parity against transformers on tiny random checkpoints (tests/fixtures/encoder).
//!
//! Tolerance 1e-5 (max abs): both sides compute in f32 with the same operations, so what
//! remains is summation order in matmuls and softmax; hidden states are O(1) after LayerNorm,
//! and the fixtures' weights are large (std 0.3) so a misplaced or transposed tensor would be
//! off by far more than that.
//!
//! They run on the device `FINETUNE_DEVICE` names (the CPU by default; CI also runs them with
//! `FINETUNE_KERNELS=burn` and on wgpu), with the same tolerance.

mod common;

use burn::module::Module;
use burn::tensor::Device;
use common::*;
use encoder::{BertModel, Tokenizer, load_pretrained};
use serde_json::Value;

const TOLERANCE: f32 = 1e-5;

fn device() -> Device {
    test_device()
}

/// Runs every reference case one at a time and checks ids and hidden states.
fn check_cases(model: &BertModel, tokenizer: &Tokenizer, cases: &Value, check_pooler: bool) {
    for case in cases.as_array().unwrap() {
        let window = tokenize_case(tokenizer, case);
        assert_eq!(window.input_ids, ids(&case["input_ids"]), "ids of {case}");
        assert_eq!(window.token_type_ids, ids(&case["token_type_ids"]));
        let input = encoder::input::pad_batch(&[&window], 0, &device());
        let output = model.forward(input);
        let diff = max_abs_diff(
            &tensor_values(output.last_hidden_state),
            &floats(&case["last_hidden_state"]),
        );
        assert!(
            diff <= TOLERANCE,
            "hidden states off by {diff} for {}",
            case["text"]
        );
        if check_pooler {
            let pooled = tensor_values(output.pooler_output.expect("model has a pooler"));
            let diff = max_abs_diff(&pooled, &floats(&case["pooler_output"]));
            assert!(
                diff <= TOLERANCE,
                "pooler off by {diff} for {}",
                case["text"]
            );
        }
    }
}

#[test]
fn safetensors_checkpoint_matches_transformers() {
    let p = load_for_test(&tiny("tiny-bert"));
    assert!(p.report.missing.is_empty() && p.report.unexpected.is_empty());
    assert_eq!(p.report.loaded, 5 + 16 * 2 + 2);
    check_cases(&p.model, &p.tokenizer, &reference()["cases"], true);
}

#[test]
fn padded_batch_gives_each_row_its_unpadded_result() {
    let p = load_for_test(&tiny("tiny-bert"));
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    let windows: Vec<_> = cases
        .iter()
        .map(|c| tokenize_case(&p.tokenizer, c))
        .collect();
    assert_padded_batch_matches(&p.model, &windows, cases, 0, TOLERANCE, "tiny-bert");
}

#[test]
fn prefixed_task_checkpoint_loads_the_encoder_and_reports_the_head() {
    let p = load_for_test(&tiny("tiny-bert-prefixed"));
    assert_eq!(
        p.report.unexpected,
        vec![
            "classifier.bias".to_string(),
            "classifier.weight".to_string()
        ]
    );
    check_cases(&p.model, &p.tokenizer, &reference()["cases"], true);
}

#[test]
fn pytorch_bin_with_legacy_names_matches_transformers() {
    let p = load_for_test(&tiny("tiny-bert-bin"));
    assert!(p.report.unexpected.is_empty(), "{:?}", p.report.unexpected);
    check_cases(&p.model, &p.tokenizer, &reference()["cases"], true);
}

#[test]
fn checkpoint_without_pooler_builds_no_pooler() {
    let p = load_for_test(&tiny("tiny-bert-nopooler"));
    assert!(p.model.pooler.is_none());
    check_cases(&p.model, &p.tokenizer, &reference()["cases"], false);
}

#[test]
fn float16_checkpoint_is_cast_to_f32() {
    let p = load_for_test(&tiny("tiny-bert-f16"));
    check_cases(&p.model, &p.tokenizer, &reference()["f16_cases"], true);
}

#[test]
fn saved_checkpoint_has_transformers_layout_and_reloads_identically() {
    let p = load_for_test(&tiny("tiny-bert"));
    let out = tempfile::tempdir().unwrap();
    encoder::save_pretrained(out.path(), &p.model, &p.config, &p.tokenizer).unwrap();

    // Same keys, shapes (PyTorch orientation) and values as the file transformers wrote.
    let original = std::fs::read(tiny("tiny-bert/model.safetensors")).unwrap();
    let saved = std::fs::read(out.path().join("model.safetensors")).unwrap();
    let original = safetensors::SafeTensors::deserialize(&original).unwrap();
    let saved_st = safetensors::SafeTensors::deserialize(&saved).unwrap();
    let mut names: Vec<_> = original.names().into_iter().map(String::from).collect();
    names.sort();
    let mut saved_names: Vec<_> = saved_st.names().into_iter().map(String::from).collect();
    saved_names.sort();
    assert_eq!(saved_names, names);
    for name in &names {
        let (a, b) = (
            original.tensor(name).unwrap(),
            saved_st.tensor(name).unwrap(),
        );
        assert_eq!(a.shape(), b.shape(), "{name}");
        assert_eq!(b.dtype(), safetensors::Dtype::F32);
        assert_eq!(a.data(), b.data(), "{name} values differ");
    }
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&saved).unwrap();
    let metadata = metadata.metadata().clone().unwrap();
    assert_eq!(metadata.get("format").map(String::as_str), Some("pt"));

    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model_type"], "bert");
    assert_eq!(config["hidden_size"], 32);
    assert_eq!(config["architectures"], serde_json::json!(["BertModel"]));
    assert!(out.path().join("tokenizer.json").is_file());

    let reloaded = load_for_test(out.path());
    check_cases(
        &reloaded.model,
        &reloaded.tokenizer,
        &reference()["cases"],
        true,
    );
}

#[test]
fn dropout_acts_only_in_training() {
    let autodiff = device().autodiff();
    let mut p = load_pretrained(&tiny("tiny-bert"), &autodiff).unwrap();
    p.model = p.model.with_kernels(test_kernels());
    let case = &reference()["cases"][1];
    let window = tokenize_case(&p.tokenizer, case);
    let run = |model: &BertModel| {
        let input = encoder::input::pad_batch(&[&window], 0, &autodiff);
        tensor_values(model.forward(input).last_hidden_state)
    };
    let (a, b) = (run(&p.model), run(&p.model));
    assert!(
        max_abs_diff(&a, &b) > 1e-3,
        "training forward passes should differ"
    );
    let eval = p.model.valid();
    let expected = floats(&case["last_hidden_state"]);
    assert!(max_abs_diff(&run(&eval), &expected) <= TOLERANCE);
}

#[test]
fn random_init_follows_transformers() {
    let config = encoder::EncoderConfig::from_file(&tiny("tiny-bert/config.json")).unwrap();
    let model = BertModel::new(&config, true, &device());
    let state = encoder::checkpoint::hf_state_dict(&model);
    let word = &state["embeddings.word_embeddings.weight"];
    assert!(
        word.data[..32].iter().all(|v| *v == 0.0),
        "padding row is zero"
    );
    let std = |v: &[f32]| {
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
    };
    let query = &state["encoder.layer.0.attention.self.query.weight"];
    assert!(
        (std(&query.data) - 0.02).abs() < 0.004,
        "std {}",
        std(&query.data)
    );
    assert!(
        state["encoder.layer.0.attention.self.query.bias"]
            .data
            .iter()
            .all(|v| *v == 0.0)
    );
    assert!(
        state["embeddings.LayerNorm.weight"]
            .data
            .iter()
            .all(|v| *v == 1.0)
    );
}

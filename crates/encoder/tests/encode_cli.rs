//! The `encode` binary end to end: JSONL in, ids and hidden states out, errors with line numbers.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn run_encode(model: &std::path::Path, stdin: &str, extra: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_encode"))
        .arg("--model")
        .arg(model)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The JSON lines of a run that must have succeeded (`what` names the model in failures).
fn encoded_lines(out: &std::process::Output, what: &str) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn encode_prints_ids_and_hidden_states_like_transformers() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    let input = encode_input(cases);
    // Batch size 3 so that several batches with padding are exercised.
    let lines = encoded_lines(
        &run_encode(&tiny("tiny-bert"), &input, &["--batch-size", "3"]),
        "tiny-bert",
    );
    assert_eq!(lines.len(), cases.len());
    for (got, want) in lines.iter().zip(cases) {
        assert_eq!(got["input_ids"], want["input_ids"]);
        assert_eq!(got["token_type_ids"], want["token_type_ids"]);
        let rows = got["last_hidden_state"].as_array().unwrap();
        assert_eq!(rows.len(), want["input_ids"].as_array().unwrap().len());
        let diff = max_abs_diff(
            &floats(&got["last_hidden_state"]),
            &floats(&want["last_hidden_state"]),
        );
        assert!(diff <= 1e-5, "off by {diff}");
    }
}

#[test]
fn encode_truncates_to_the_model_limit() {
    // The tiny model has 64 positions: a long text is cut to 64 tokens, ending in [SEP].
    let text = "the quick brown fox ".repeat(40);
    let out = run_encode(
        &tiny("tiny-bert"),
        &format!("{}\n", serde_json::json!({"text": text})),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = line["input_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 64);
    assert_eq!(ids.last().unwrap(), 5, "[SEP] closes the truncated input");
}

#[test]
fn bad_input_line_is_reported_with_its_number() {
    let input = "{\"text\": \"hello\"}\n\n{\"txet\": \"oops\"}\n";
    let out = run_encode(&tiny("tiny-bert"), input, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin line 3"), "{stderr}");
}

#[test]
fn missing_model_says_how_to_fetch_it() {
    let out = run_encode(std::path::Path::new("/nonexistent/model"), "", &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/model") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_clearly() {
    let out = run_encode(&tiny("tiny-bert"), "", &["--device", "cuda:99"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = if cfg!(feature = "cuda") {
        "CUDA device"
    } else {
        "built without the `cuda` feature"
    };
    assert!(
        stderr.contains("--device cuda:99") && stderr.contains(why),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Every family `encode` reads gives transformers' ids and hidden states, batched with
/// padding (RoBERTa's positions, DistilBERT's names, ELECTRA's projection: families.rs).
#[test]
fn encode_runs_every_family_like_transformers() {
    for family in ["roberta", "xlm-roberta", "distilbert", "electra"] {
        let dir = fixtures().join("families").join(family);
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let cases = reference["cases"].as_array().unwrap();
        let input = encode_input(cases);
        let lines = encoded_lines(&run_encode(&dir, &input, &["--batch-size", "4"]), family);
        assert_eq!(lines.len(), cases.len(), "{family}");
        for (got, want) in lines.iter().zip(cases) {
            assert_eq!(got["input_ids"], want["input_ids"], "{family}");
            let diff = max_abs_diff(
                &floats(&got["last_hidden_state"]),
                &floats(&want["last_hidden_state"]),
            );
            assert!(diff <= 1e-5, "{family}: off by {diff} for {}", want["text"]);
        }
    }
}

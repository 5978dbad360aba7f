//! `qa score` on hand-made cases with committed expected values
//! (tests/fixtures/qa/README.md shows the arithmetic), and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/qa")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn qa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qa"))
        .args(args)
        .output()
        .unwrap()
}

fn report(args: &[&str]) -> (Value, String) {
    let out = qa(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn close(value: &Value, expected: f64) -> bool {
    (value.as_f64().unwrap() - expected).abs() < 1e-3
}

#[test]
fn v1_articles_punctuation_several_golds_empty_and_unanswered() {
    let (r, stderr) = report(&[
        "score",
        "--gold",
        &fixture("dev-v1.json"),
        "--predictions",
        &fixture("predictions-v1.json"),
    ]);
    assert!(close(&r["exact_match"], 33.333), "{r}");
    assert!(close(&r["f1"], 56.944), "{r}");
    assert_eq!(r["total"], 6);
    assert_eq!(r["unanswered"], 1);
    assert!(r.get("v2").is_none());
    assert!(stderr.contains("1 prediction id(s) are not in"), "{stderr}");
    assert!(
        stderr.contains("1 of 6 questions have no prediction"),
        "{stderr}"
    );
}

#[test]
fn v2_has_ans_no_ans_and_best_thresholds() {
    let base = [
        "score",
        "--gold",
        &fixture("dev-v2.jsonl"),
        "--predictions",
        &fixture("predictions-v2.json"),
    ];
    let (r, _) = report(&base);
    assert!(
        close(&r["exact_match"], 50.0) && close(&r["f1"], 66.667),
        "{r}"
    );
    let v2 = &r["v2"];
    assert!(close(&v2["has_ans_exact"], 50.0) && close(&v2["has_ans_f1"], 83.333));
    assert!(close(&v2["no_ans_exact"], 50.0) && close(&v2["no_ans_f1"], 50.0));
    assert_eq!(
        (v2["has_ans_total"].as_u64(), v2["no_ans_total"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(v2.get("best_f1").is_none(), "thresholds need --na-probs");

    let probs = fixture("na-probs-v2.json");
    let mut with_probs = base.to_vec();
    with_probs.extend(["--na-probs", &probs]);
    let (r, _) = report(&with_probs);
    let v2 = &r["v2"];
    assert!(
        close(&v2["best_exact"], 75.0) && close(&v2["best_exact_thresh"], 0.1),
        "{v2}"
    );
    assert!(
        close(&v2["best_f1"], 91.667) && close(&v2["best_f1_thresh"], 0.4),
        "{v2}"
    );
    assert!(
        close(&r["exact_match"], 50.0),
        "threshold 1.0 changes nothing"
    );

    with_probs.extend(["--na-prob-thresh", "0.5"]);
    let (r, _) = report(&with_probs);
    assert!(
        close(&r["exact_match"], 75.0) && close(&r["f1"], 91.667),
        "{r}"
    );
}

#[test]
fn bad_input_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let broken = write("pred.json", "{\"q1\": \"a\",\n \"q2\": }");
    let out = qa(&[
        "score",
        "--gold",
        &fixture("dev-v1.json"),
        "--predictions",
        &broken,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("pred.json: line 2, column 8"), "{err}");
    let gold = write(
        "gold.json",
        "{\"data\": [{\"paragraphs\": [{\"qas\": []}]}]}",
    );
    let out = qa(&[
        "score",
        "--gold",
        &gold,
        "--predictions",
        &fixture("predictions-v1.json"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gold.json: data[0].paragraphs[0]: missing field `context`"),
        "{err}"
    );
}

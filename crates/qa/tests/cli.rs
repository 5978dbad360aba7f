//! `qa score` on hand-made cases with committed expected values
//! (tests/fixtures/qa/README.md shows the arithmetic), bad input, and the `qa` binary end to
//! end on the tiny fixture encoder: train -> eval -> predict -> score.

use std::process::Output;

use serde_json::Value;
use tuning::test_support::cli::{Binary, ok, root};

fn fixture(name: &str) -> String {
    tuning::test_support::cli::fixture("qa")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn qa(args: &[&str]) -> Output {
    Binary::new(env!("CARGO_BIN_EXE_qa")).run(args)
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

/// Short windows on the tiny fixture encoder (its vocabulary is mostly single characters,
/// so every sample context needs several windows of 48).
const WINDOWS: [&str; 6] = [
    "--max-seq-length",
    "48",
    "--doc-stride",
    "8",
    "--max-query-length",
    "16",
];

#[test]
fn train_eval_predict_score_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let tiny = root().join("tests/fixtures/encoder/tiny-bert");
    let validation = root().join("data/qa/validation.jsonl");
    let (run_s, tiny_s, validation_s) = (
        run.to_str().unwrap(),
        tiny.to_str().unwrap(),
        validation.to_str().unwrap(),
    );
    let mut args = vec![
        "train",
        "--model",
        tiny_s,
        "--output-dir",
        run_s,
        "--num-train-epochs",
        "2",
        "--learning-rate",
        "1e-3",
        "--per-device-train-batch-size",
        "16",
        "--max-train-samples",
        "32",
    ];
    args.extend(WINDOWS);
    let summary: Value = serde_json::from_str(&ok(&qa(&args))).unwrap();
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForQuestionAnswering");
    assert_eq!(config["finetune_qa"]["doc_stride"], 8);
    assert_eq!(config["finetune_qa"]["max_query_length"], 16);
    // eval and predict below run at the trained length without being told it.
    assert_eq!(config["finetune_max_seq_length"], 48);

    // eval reproduces the best checkpoint's scores and writes the predictions it scored.
    let eval: Value = serde_json::from_str(&ok(&qa(&[
        "eval",
        "--model",
        run_s,
        "--data",
        validation_s,
    ])))
    .unwrap();
    let f1 = eval["report"]["f1"].as_f64().unwrap();
    let best = summary["eval"]["f1"].as_f64().unwrap();
    assert!((f1 - best).abs() < 1e-9, "eval {f1} vs best {best}");
    assert_eq!(eval["report"]["total"], 90);
    // --max-eval-samples scores the first questions only (run_qa's max_eval_samples).
    let first: Value = serde_json::from_str(&ok(&qa(&[
        "eval",
        "--model",
        run_s,
        "--data",
        validation_s,
        "--max-eval-samples",
        "10",
    ])))
    .unwrap();
    assert_eq!(first["report"]["total"], 10);

    // predict writes the official format; score recomputes eval's figures from it.
    let out = dir.path().join("pred");
    ok(&qa(&[
        "predict",
        "--model",
        run_s,
        "--input",
        validation_s,
        "--output-dir",
        out.to_str().unwrap(),
        "--logits",
    ]));
    let predictions: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("predictions.json")).unwrap())
            .unwrap();
    assert_eq!(predictions.as_object().unwrap().len(), 90);
    let windows = std::fs::read_to_string(out.join("window_logits.jsonl")).unwrap();
    let longest = windows
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["input_ids"]
                .as_array()
                .unwrap()
                .len()
        })
        .max()
        .unwrap();
    assert_eq!(longest, 48, "windows of the trained length");
    let nbest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("nbest_predictions.json")).unwrap())
            .unwrap();
    // Every answer is a span of its context, the top of its n-best list.
    let contexts: std::collections::HashMap<String, String> = std::fs::read_to_string(&validation)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["context"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (id, answer) in predictions.as_object().unwrap() {
        let answer = answer.as_str().unwrap();
        assert!(contexts[id].contains(answer), "{id}: {answer}");
        let list = nbest[id].as_array().unwrap();
        assert!(list.len() <= 20);
        assert_eq!(list[0]["text"], answer);
        let total: f64 = list
            .iter()
            .map(|c| c["probability"].as_f64().unwrap())
            .sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
    // Several windows per question with these settings.
    let windows = std::fs::read_to_string(out.join("window_logits.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(windows > 2 * 90, "{windows} windows");
    let scored: Value = serde_json::from_str(&ok(&qa(&[
        "score",
        "--gold",
        validation_s,
        "--predictions",
        out.join("predictions.json").to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(scored["f1"], eval["report"]["f1"]);
    assert_eq!(scored["exact_match"], eval["report"]["exact_match"]);
}

#[test]
fn degenerate_settings_and_a_training_set_without_usable_answers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = tuning::test_support::cli::tiny_model();
    let run = dir.path().join("run");
    let base = [
        "train",
        "--model",
        tiny.to_str().unwrap(),
        "--output-dir",
        run.to_str().unwrap(),
        "--max-steps",
        "1",
    ];
    for flag in ["--max-query-length", "--n-best-size", "--max-answer-length"] {
        let mut args = base.to_vec();
        args.extend([flag, "0"]);
        let out = qa(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(flag) && stderr.contains("at least 1"),
            "{stderr}"
        );
    }
    // Scoring no question at all is refused, not reported as 0 of 0.
    let out = qa(&["eval", "--model", "no-model", "--max-eval-samples", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("--max-eval-samples")
            && stderr.contains("at least 1"),
        "{stderr}"
    );
    // A question and stride the window cannot hold: refused before any model is read.
    let out = qa(&[
        "train",
        "--model",
        "no-model",
        "--max-query-length",
        "64",
        "--doc-stride",
        "64",
        "--max-seq-length",
        "128",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("leaves no room for context"),
        "{stderr}"
    );
    // Every answer points past its context.
    let shifted = dir.path().join("train.jsonl");
    let text = std::fs::read_to_string(root().join("data/qa/train.jsonl")).unwrap();
    let broken: String = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["answers"]["answer_start"] = serde_json::json!([100_000]);
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&shifted, broken).unwrap();
    let mut args = base.to_vec();
    args.extend(["--train", shifted.to_str().unwrap()]);
    let out = qa(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("nothing to train on"),
        "{stderr}"
    );
    assert!(!run.join("model.safetensors").exists(), "no model exported");
}

#[test]
fn eval_reads_squad_json_from_stdin() {
    let model = tuning::test_support::cli::fixture("checkpoints/question-answering");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&model).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let data = std::fs::read_to_string(fixture("dev-v1.json")).unwrap();
    let binary = Binary::new(env!("CARGO_BIN_EXE_qa"));
    let out = binary.run_with_stdin(
        &["eval", "--model", copy.to_str().unwrap(), "--data", "-"],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["total"], 6, "{report}");
    assert!(copy.join("eval_stdin.json").is_file());
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_unusable_devices_refused(
        &Binary::new(env!("CARGO_BIN_EXE_qa")),
        dir.path(),
        &["--output-dir", dir.path().join("out").to_str().unwrap()],
        (cfg!(feature = "cuda"), cfg!(feature = "wgpu")),
    );
}

/// `qa lr-find`: the range test of the shared app (`assert_lr_find_works`).
#[test]
fn lr_find_runs_the_range_test() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_lr_find_works(
        &Binary::new(env!("CARGO_BIN_EXE_qa")),
        dir.path(),
        &WINDOWS,
    );
}

#[test]
fn holdout_selects_on_whole_paragraphs_of_the_training_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let tiny = root().join("tests/fixtures/encoder/tiny-bert");
    let train = root().join("data/qa/train.jsonl");
    let mut args = vec![
        "train",
        "--model",
        tiny.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--holdout",
        "0.1",
        "--output-dir",
        run.to_str().unwrap(),
        "--max-steps",
        "2",
        "--per-device-train-batch-size",
        "8",
    ];
    args.extend(WINDOWS);
    let out = qa(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    // data/qa/train.jsonl: 100 paragraphs of 3 questions; 10 paragraphs held out whole.
    assert!(
        stderr.contains("qa: 270 training questions from")
            && stderr.contains("30 validation from 0.1 of the paragraphs of"),
        "{stderr}"
    );
    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run_inputs.json")).unwrap())
            .unwrap();
    let files: Vec<&String> = inputs["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["train"], "the validation file was not read");
    // A validation file and --holdout are one choice, not two.
    let validation = root().join("data/qa/validation.jsonl");
    args.extend(["--validation", validation.to_str().unwrap()]);
    let out = qa(&args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--holdout"));
}

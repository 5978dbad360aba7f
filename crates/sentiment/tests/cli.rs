//! The `sentiment` binary end to end on the tiny fixture encoder and the sample data:
//! train -> eval -> predict -> score, checking what each writes, and bad input.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tuning::test_support::cli::{Binary, err, json_file, ok, root, s};

fn tiny() -> std::path::PathBuf {
    tuning::test_support::cli::tiny_model()
}

fn sentiment(args: &[&str]) -> Output {
    Binary::new(env!("CARGO_BIN_EXE_sentiment")).run(args)
}

#[test]
fn train_eval_predict_score_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let validation = root().join("data/sentiment/validation.tsv");
    let out = ok(&sentiment(&[
        "train",
        "--model",
        s(&tiny()),
        "--output-dir",
        s(&run),
        "--num-train-epochs",
        "2",
        "--learning-rate",
        "1e-3",
        "--per-device-train-batch-size",
        "32",
        "--logging-steps",
        "5",
        "--max-train-samples",
        "160",
    ]));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["global_step"], 10, "160 examples / 32 x 2 epochs");

    // The run directory: settings, log, results, and an HF model with the label mapping.
    let args = json_file(&run.join("training_args.json"));
    assert_eq!(args["learning_rate"], 1e-3);
    assert_eq!(args["max_train_samples"], 160);
    let log: Vec<Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.iter().filter(|l| l.get("loss").is_some()).count(), 2);
    let evals: Vec<&Value> = log
        .iter()
        .filter(|l| l.get("eval_accuracy").is_some())
        .collect();
    assert_eq!(evals.len(), 2);
    let config = json_file(&run.join("config.json"));
    assert_eq!(config["id2label"], serde_json::json!({"0": "0", "1": "1"}));
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    let best = evals
        .iter()
        .map(|e| e["eval_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let results = json_file(&run.join("eval_results.json"));
    assert_eq!(results["eval_accuracy"].as_f64().unwrap(), best);

    // eval reproduces the best model's accuracy and writes it to the run dir too.
    let eval: Value = serde_json::from_str(&ok(&sentiment(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&validation),
    ])))
    .unwrap();
    let accuracy = eval["report"]["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - best).abs() < 1e-9,
        "eval {accuracy} vs best {best}"
    );
    let confusion = &eval["report"]["confusion"];
    let total: u64 = confusion
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 111);
    assert_eq!(
        json_file(&run.join("eval_validation.json"))["report"],
        eval["report"]
    );

    // predict: one line per example with consistent label, score and probabilities.
    let predictions = dir.path().join("pred.jsonl");
    ok(&sentiment(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&validation),
        "--output",
        s(&predictions),
    ]));
    let lines: Vec<Value> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 111);
    for line in &lines {
        let p0 = line["probabilities"]["0"].as_f64().unwrap();
        let p1 = line["probabilities"]["1"].as_f64().unwrap();
        assert!((p0 + p1 - 1.0).abs() < 1e-9);
        let label = if p1 > p0 { "1" } else { "0" };
        assert_eq!(line["label"], label);
        assert_eq!(line["score"].as_f64().unwrap(), p0.max(p1));
    }

    // score on predict's output gives eval's numbers.
    let scored: Value = serde_json::from_str(&ok(&sentiment(&[
        "score",
        "--gold",
        s(&validation),
        "--predictions",
        s(&predictions),
    ])))
    .unwrap();
    assert_eq!(scored["accuracy"], eval["report"]["accuracy"]);
    assert_eq!(scored["confusion"], eval["report"]["confusion"]);

    // GLUE submission format, same labels.
    let glue = ok(&sentiment(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&validation),
        "--format",
        "glue",
    ]));
    let rows: Vec<&str> = glue.lines().collect();
    assert_eq!(rows[0], "index\tprediction");
    assert_eq!(rows.len(), 112);
    for (row, line) in rows[1..].iter().zip(&lines) {
        assert_eq!(
            row.split('\t').nth(1).unwrap(),
            line["label"].as_str().unwrap()
        );
    }
}

#[test]
fn bad_input_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    };
    let train_with = |train: &Path| {
        sentiment(&[
            "train",
            "--model",
            s(&tiny()),
            "--train",
            s(train),
            "--output-dir",
            s(&dir.path().join("never")),
            "--max-steps",
            "1",
        ])
    };
    let missing = write("nocol.tsv", b"text\tlabel\ngood\t1\n");
    let e = err(&train_with(&missing));
    assert!(
        e.contains("nocol.tsv:1") && e.contains("no column `sentence`"),
        "{e}"
    );
    let empty = write("empty.tsv", b"");
    assert!(err(&train_with(&empty)).contains("empty.tsv"));
    let ragged = write("ragged.tsv", b"sentence\tlabel\ngood\t1\nbad\t0\textra\n");
    let e = err(&train_with(&ragged));
    assert!(e.contains("ragged.tsv:3") && e.contains("malformed"), "{e}");
    let latin1 = write("latin1.tsv", b"sentence\tlabel\ncaf\xe9\t1\n");
    let e = err(&train_with(&latin1));
    assert!(e.contains("latin1.tsv:2") && e.contains("UTF-8"), "{e}");
    let one_label = write("one.tsv", b"sentence\tlabel\ngood\t1\nfine\t1\n");
    assert!(err(&train_with(&one_label)).contains("at least 2"));

    // An unknown label at evaluation time names its line.
    let train = write("train.tsv", b"sentence\tlabel\ngood\t1\nbad\t0\n");
    let run = dir.path().join("run");
    ok(&sentiment(&[
        "train",
        "--model",
        s(&tiny()),
        "--train",
        s(&train),
        "--validation",
        s(&train),
        "--output-dir",
        s(&run),
        "--max-steps",
        "1",
    ]));
    let unknown = write("unknown.tsv", b"sentence\tlabel\ngood\t1\nmeh\tneutral\n");
    let e = err(&sentiment(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&unknown),
    ]));
    assert!(
        e.contains("unknown.tsv:3") && e.contains("unknown label `neutral`"),
        "{e}"
    );

    // A run directory is never overwritten by accident.
    let e = err(&sentiment(&[
        "train",
        "--model",
        s(&tiny()),
        "--train",
        s(&train),
        "--validation",
        s(&train),
        "--output-dir",
        s(&run),
        "--max-steps",
        "1",
    ]));
    assert!(e.contains("already holds a run"), "{e}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["train", "eval", "predict", "score"] {
        let out = ok(&sentiment(&[sub, "--help"]));
        assert!(out.contains("Usage: sentiment"), "{sub}: {out}");
    }
    let train_help = ok(&sentiment(&["train", "--help"]));
    for flag in [
        "--learning-rate",
        "--strategy",
        "--gradient-accumulation-steps",
        "--config",
    ] {
        assert!(train_help.contains(flag), "train --help lacks {flag}");
    }
    // The task's own defaults and words, not the engine's.
    assert!(
        train_help.contains("[default: runs/sentiment]"),
        "{train_help}"
    );
    assert!(
        train_help.contains("(default: data/sentiment/train.tsv)"),
        "{train_help}"
    );
    let help = ok(&sentiment(&["--help"]));
    assert!(help.contains("predict  Label new text"), "{help}");
    assert!(help.contains("eval     Score a fine-tuned model"), "{help}");
}

#[test]
fn inference_uses_the_sequence_length_the_model_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("short");
    let validation = root().join("data/sentiment/validation.tsv");
    ok(&sentiment(&[
        "train",
        "--model",
        s(&tiny()),
        "--output-dir",
        s(&run),
        "--max-seq-length",
        "8",
        "--max-steps",
        "1",
        "--eval-strategy",
        "no",
        "--save-strategy",
        "no",
    ]));
    Binary::new(env!("CARGO_BIN_EXE_sentiment")).assert_predicts_at_trained_length(
        &run,
        &validation,
        &[],
        8,
        64,
    );
}

#[test]
fn degenerate_lengths_and_unknown_predicted_labels_are_refused() {
    let model = tuning::test_support::cli::fixture("checkpoints/sequence-classification");
    let validation = root().join("data/sentiment/validation.tsv");
    for command in ["eval", "predict"] {
        let data = if command == "eval" {
            "--data"
        } else {
            "--input"
        };
        for length in ["0", "1", "7"] {
            let out = err(&sentiment(&[
                command,
                "--model",
                s(&model),
                data,
                s(&validation),
                "--max-seq-length",
                length,
            ]));
            assert!(
                out.contains("--max-seq-length") && out.contains("at least 8"),
                "{out}"
            );
        }
        let out = err(&sentiment(&[
            command,
            "--model",
            s(&model),
            data,
            s(&validation),
            "--batch-size",
            "0",
        ]));
        assert!(out.contains("--batch-size"), "{out}");
    }
    let dir = tempfile::tempdir().unwrap();
    let predictions = dir.path().join("predictions.txt");
    let examples = std::fs::read_to_string(&validation)
        .unwrap()
        .lines()
        .count()
        - 1;
    let mut text = String::from("index\tprediction\n");
    for i in 0..examples {
        text.push_str(&format!("{i}\t{}\n", if i == 3 { "positive" } else { "1" }));
    }
    std::fs::write(&predictions, text).unwrap();
    let out = err(&sentiment(&[
        "score",
        "--gold",
        s(&validation),
        "--predictions",
        s(&predictions),
    ]));
    assert!(out.contains("index 3: `positive` is not a label"), "{out}");
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_unusable_devices_refused(
        &Binary::new(env!("CARGO_BIN_EXE_sentiment")),
        dir.path(),
        &[],
        (cfg!(feature = "cuda"), cfg!(feature = "wgpu")),
    );
    let bench = Binary::new(env!("CARGO_BIN_EXE_step-bench"));
    let output = bench.run(&["--model", s(&tiny()), "--device", "cuda:99", "--iters", "1"]);
    assert_eq!(output.status.code(), Some(1));
    let e = String::from_utf8_lossy(&output.stderr);
    assert!(
        e.contains("--device cuda:99") && !e.contains("panicked"),
        "{e}"
    );
}

/// The range test: see `assert_lr_find_works`; and it trains what the strategy trains (its
/// parameter count is `train`'s with the same strategy).
#[test]
fn lr_find_runs_the_range_test_with_the_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let binary = Binary::new(env!("CARGO_BIN_EXE_sentiment"));
    let report = tuning::test_support::cli::assert_lr_find_works(
        &binary,
        dir.path(),
        &["--strategy", "bitfit"],
    );
    let run = dir.path().join("bitfit");
    let model = tuning::test_support::cli::tiny_model();
    let summary: Value = serde_json::from_str(&ok(&binary.run(&[
        "train",
        "--model",
        s(&model),
        "--output-dir",
        s(&run),
        "--strategy",
        "bitfit",
        "--max-steps",
        "1",
    ])))
    .unwrap();
    assert_eq!(
        report["lr_find"]["trainable_params"],
        summary["trainable_params"]
    );
    assert!(
        report["lr_find"]["trainable_params"].as_u64().unwrap()
            < report["lr_find"]["total_params"].as_u64().unwrap()
    );
}

#[test]
fn holdout_selects_on_a_seeded_part_of_the_training_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let train = root().join("data/sentiment/train.tsv");
    let out = sentiment(&[
        "train",
        "--model",
        s(&tiny()),
        "--train",
        s(&train),
        "--holdout",
        "0.25",
        "--seed",
        "7",
        "--output-dir",
        s(&run),
        "--max-steps",
        "3",
        "--eval-strategy",
        "steps",
        "--eval-steps",
        "3",
    ]);
    let summary: Value = serde_json::from_str(&ok(&out)).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("240 training and 80 validation examples")
            && stderr.contains("0.25 of ")
            && stderr.contains("held out (seed 7)"),
        "{stderr}"
    );
    // The held-out rows are the shared split's (the one the Python baselines draw too):
    // evaluating the export on exactly those rows gives the run's validation accuracy.
    let text = std::fs::read_to_string(&train).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    let (_, held) = tuning::task::holdout::hold_out(rows, 0.25, 7).unwrap();
    let held_file = dir.path().join("held.tsv");
    std::fs::write(&held_file, format!("{header}\n{}\n", held.join("\n"))).unwrap();
    let eval: Value = serde_json::from_str(&ok(&sentiment(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&held_file),
    ])))
    .unwrap();
    let selected = summary["eval"]["accuracy"]
        .as_f64()
        .expect("the run's validation accuracy");
    assert_eq!(eval["report"]["accuracy"].as_f64(), Some(selected));
    assert_eq!(eval["examples"], 80);
    // The run's recorded inputs are the files it read: the training file, not the (sample)
    // validation file it did not.
    let inputs: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run_inputs.json")).unwrap())
            .unwrap();
    let files: Vec<&String> = inputs["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["train"]);
    assert_eq!(inputs["task_flags"]["holdout"], "0.25");
    // A validation file and --holdout together are refused.
    let both = sentiment(&[
        "train",
        "--holdout",
        "0.1",
        "--validation",
        s(&train),
        "--output-dir",
        s(&dir.path().join("both")),
    ]);
    assert!(err(&both).contains("--holdout"), "{}", err(&both));
}

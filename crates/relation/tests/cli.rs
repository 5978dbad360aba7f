//! The `relation` binary end to end on the tiny fixture encoder and the sample data:
//! train -> eval -> predict -> score for each head, the scorer on hand-made keys, and bad
//! input.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tuning::test_support::cli::{Binary, err, max_abs_diff, ok, root, s};

fn tiny() -> PathBuf {
    tuning::test_support::cli::tiny_model()
}

fn relation(args: &[&str]) -> Output {
    Binary::new(env!("CARGO_BIN_EXE_relation")).run(args)
}

fn validation() -> PathBuf {
    root().join("data/relation/validation.txt")
}

/// `relation eval` of a run on the sample validation file: its JSON report.
fn eval_validation(run: &Path) -> Value {
    let data = validation();
    let args = ["eval", "--model", s(run), "--data", s(&data)];
    serde_json::from_str(&ok(&relation(&args))).unwrap()
}

/// `relation train` of `model` into `run` with `head` and further `settings`: the summary.
fn train_run(model: &Path, run: &Path, head: &str, settings: &[&str]) -> Value {
    let mut args = vec!["train", "--model", s(model), "--output-dir", s(run)];
    args.extend(["--head", head]);
    args.extend(settings);
    serde_json::from_str(&ok(&relation(&args))).unwrap()
}

/// Trains the tiny encoder briefly with `head`; returns the run directory and the summary.
fn train(dir: &Path, head: &str, epochs: &str) -> (PathBuf, Value) {
    let run = dir.join(format!("run-{head}"));
    let settings = [
        "--markers",
        "punct",
        "--num-train-epochs",
        epochs,
        "--learning-rate",
        "1e-3",
        "--per-device-train-batch-size",
        "16",
        "--max-train-samples",
        "64",
        "--logging-steps",
        "2",
    ];
    let summary = train_run(&tiny(), &run, head, &settings);
    (run, summary)
}

#[test]
fn train_eval_predict_score_agree_for_every_head() {
    let dir = tempfile::tempdir().unwrap();
    for head in ["entity-start", "cls", "rbert"] {
        let (run, summary) = train(dir.path(), head, "2");
        assert_eq!(summary["global_step"], 8, "64 examples / 16 x 2 epochs");

        // The export records the head, the markers and the 19 SemEval labels in order.
        let config: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["finetune_relation"]["head"], head);
        assert_eq!(
            config["finetune_relation"]["markers"],
            serde_json::json!(["$", "$", "#", "#"])
        );
        assert_eq!(config["id2label"].as_object().unwrap().len(), 19);
        assert_eq!(config["id2label"]["0"], "Other");
        assert_eq!(config["id2label"]["1"], "Cause-Effect(e1,e2)");
        let architecture = if head == "cls" {
            "BertForSequenceClassification"
        } else {
            "BertForRelationClassification"
        };
        assert_eq!(config["architectures"][0], architecture);

        // eval: the official figures, in the run dir too, with the confusion matrix PNG.
        let eval = eval_validation(&run);
        let report = &eval["report"];
        assert_eq!(report["examples"], 120);
        let official = report["official_macro_f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&official));
        assert_eq!(report["directed"]["macro_f1"], report["official_macro_f1"]);
        assert!(run.join("eval_validation.json").exists());
        let png = std::fs::read(run.join("plots/confusion_validation.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        // The best checkpoint's validation score is what eval recomputes from the export.
        let best = summary["eval"]["macro_f1"].as_f64().unwrap();
        assert!((best - official).abs() < 1e-9, "{best} vs {official}");

        // predict: the official key format, one line per sentence, ids from the file.
        let key = dir.path().join(format!("pred-{head}.txt"));
        ok(&relation(&[
            "predict",
            "--model",
            s(&run),
            "--input",
            s(&validation()),
            "--output",
            s(&key),
        ]));
        let lines: Vec<String> = std::fs::read_to_string(&key)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(lines.len(), 120);
        assert!(lines[0].starts_with("1001\t"), "{}", lines[0]);
        let labels = config["label2id"].as_object().unwrap();
        for line in &lines {
            let (_, label) = line.split_once('\t').unwrap();
            assert!(labels.contains_key(label), "{label}");
        }

        // score: the same figures from the key files as eval computed from the model.
        let scored: Value = serde_json::from_str(&ok(&relation(&[
            "score",
            "--gold",
            s(&validation()),
            "--predictions",
            s(&key),
        ])))
        .unwrap();
        assert_eq!(scored["official_macro_f1"], report["official_macro_f1"]);
        assert_eq!(scored["directed"], report["directed"]);
    }
}

#[test]
fn predict_jsonl_gives_probabilities_over_all_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = train(dir.path(), "entity-start", "1");
    let input = dir.path().join("new.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"text\": \"The cat sat on the mat.\", \"e1\": [4, 7], \"e2\": [19, 22]}\n",
    )
    .unwrap();
    let out = ok(&relation(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&input),
        "--format",
        "jsonl",
    ]));
    let record: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(record["id"], "a");
    assert_eq!(record["e1"], "cat");
    assert_eq!(record["e2"], "mat");
    let probs = record["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), 19);
    let total: f64 = probs.values().map(|p| p.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-6);
    assert_eq!(
        record["score"].as_f64().unwrap(),
        probs[record["label"].as_str().unwrap()].as_f64().unwrap()
    );
}

/// Hand-made keys with values worked out by hand from the scorer's definition
/// (tests/fixtures/relation/README.md shows the arithmetic).
#[test]
fn score_matches_the_official_definition_on_hand_made_keys() {
    let fixtures = root().join("tests/fixtures/relation");
    let out = relation(&[
        "score",
        "--gold",
        s(&fixtures.join("key.txt")),
        "--predictions",
        s(&fixtures.join("predictions.txt")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap())
            .unwrap();
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
    for (path, want) in expected.as_object().unwrap() {
        let got = report.pointer(path).unwrap_or_else(|| panic!("no {path}"));
        assert!(close(got, want), "{path}: got {got}, expected {want}");
    }
    assert!(stderr.contains("macro-F1 = 61.11%"), "{stderr}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let train_with = |path: &Path| {
        err(&relation(&[
            "train",
            "--model",
            s(&tiny()),
            "--markers",
            "punct",
            "--train",
            s(path),
            "--output-dir",
            s(&dir.path().join("never")),
        ]))
    };
    let missing = write("missing.txt", b"1\t\"The <e1>cat</e1> sat.\"\nOther\n");
    assert!(train_with(&missing).contains("missing.txt:1: missing marker <e2>"));
    let nested = write(
        "nested.txt",
        b"1\t\"<e1>a <e2>b</e2></e1>\"\nOther\nComment:\n\n",
    );
    assert!(train_with(&nested).contains("nested.txt:1: the entities are nested"));
    let label = write("label.txt", b"1\t\"<e1>a</e1> <e2>b</e2>\"\nLikes(e1,e2)\n");
    assert!(train_with(&label).contains("label.txt:2: unknown relation label `Likes(e1,e2)`"));
    let empty = write("empty.txt", b"\n\n");
    assert!(train_with(&empty).contains("empty.txt: no examples"));
    let latin1 = write("latin1.txt", b"1\t\"<e1>caf\xe9</e1> <e2>b</e2>\"\nOther\n");
    assert!(train_with(&latin1).contains("latin1.txt:1: not valid UTF-8"));
    let unlabelled = write("unlabelled.txt", b"1\t\"<e1>a</e1> <e2>b</e2>\"\n");
    assert!(train_with(&unlabelled).contains("unlabelled.txt:1: example 1 has no label"));

    // `--markers unused` needs [unused0-3]; the tiny vocabulary has only two.
    let no_markers = err(&relation(&[
        "train",
        "--model",
        s(&tiny()),
        "--output-dir",
        s(&dir.path().join("never")),
        "--markers",
        "unused",
    ]));
    assert!(
        no_markers.contains("`[unused2]` is not in the vocabulary")
            && no_markers.contains("--markers new"),
        "{no_markers}"
    );

    // `relation score` on two key files; each case must fail with the message given.
    let score_fails_with = |gold: &Path, predictions: &Path, message: &str| {
        let out = err(&relation(&[
            "score",
            "--gold",
            s(gold),
            "--predictions",
            s(predictions),
        ]));
        assert!(out.contains(message), "expected `{message}` in: {out}");
    };
    // A prediction for an id the key does not have, and a malformed key line.
    let key = write("key.txt", b"1\tOther\n2\tCause-Effect(e1,e2)\n");
    let stray = write("stray.txt", b"1\tOther\n9\tOther\n");
    score_fails_with(&key, &stray, "stray.txt:2: id 9 is not in the gold key");
    let malformed = write("malformed.txt", b"1 Other\n");
    score_fails_with(
        &key,
        &malformed,
        "malformed.txt:1: expected `ID<TAB>Relation`",
    );
    // An undirected key (as some copies of TEST_FILE_KEY.TXT) against directed predictions,
    // and the reverse.
    let undirected = write("undirected.txt", b"1\tOther\n2\tCause-Effect\n");
    let directed = write("directed.txt", b"1\tOther\n2\tCause-Effect(e2,e1)\n");
    let no_direction = "undirected.txt:2: label `Cause-Effect` has no direction";
    score_fails_with(&undirected, &directed, no_direction);
    score_fails_with(
        &undirected,
        &directed,
        "directed.txt:2 has `Cause-Effect(e2,e1)`",
    );
    score_fails_with(&directed, &undirected, no_direction);
}

#[test]
fn eval_rejects_a_label_the_model_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = train(dir.path(), "cls", "1");
    let data = dir.path().join("other.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"ab cd\", \"e1\": [0, 2], \"e2\": [3, 5], \"label\": \"Owns\"}\n",
    )
    .unwrap();
    let out = err(&relation(&["eval", "--model", s(&run), "--data", s(&data)]));
    assert!(out.contains("other.jsonl:1: unknown label `Owns`"), "{out}");
}

#[test]
fn inference_uses_the_sequence_length_the_model_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("short");
    let model = tiny();
    ok(&relation(&[
        "train",
        "--model",
        s(&model),
        "--output-dir",
        s(&run),
        "--markers",
        "punct",
        "--max-seq-length",
        "40",
        "--max-train-samples",
        "16",
        "--max-steps",
        "1",
        "--eval-strategy",
        "no",
        "--save-strategy",
        "no",
    ]));
    Binary::new(env!("CARGO_BIN_EXE_relation")).assert_predicts_at_trained_length(
        &run,
        &validation(),
        &["--format", "jsonl"],
        40,
        64,
    );
}

#[test]
fn unseen_validation_labels_special_markers_and_unknown_predicted_labels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny();
    let train = dir.path().join("train.jsonl");
    let line = |label: &str| {
        format!(
            "{{\"text\": \"The author wrote a novel.\", \"e1\": [4, 10], \"e2\": [19, 24], \"label\": \"{label}\"}}\n"
        )
    };
    std::fs::write(&train, line("wrote") + &line("read")).unwrap();
    let unseen = dir.path().join("validation.jsonl");
    std::fs::write(&unseen, line("wrote") + &line("sold")).unwrap();
    let run = dir.path().join("run");
    let base = [
        "train",
        "--model",
        s(&model),
        "--train",
        s(&train),
        "--output-dir",
        s(&run),
        "--max-steps",
        "1",
    ];
    let mut args = base.to_vec();
    args.extend(["--validation", s(&unseen), "--markers", "punct"]);
    let out = err(&relation(&args));
    assert!(
        out.contains("validation.jsonl:2") && out.contains("`sold`"),
        "{out}"
    );
    assert!(out.contains("labels of the training data"), "{out}");
    let mut args = base.to_vec();
    args.extend([
        "--validation",
        s(&train),
        "--markers",
        "[CLS],[SEP],[PAD],[MASK]",
    ]);
    let out = err(&relation(&args));
    assert!(out.contains("`[CLS]` is a special token"), "{out}");
    assert!(!run.join("training_args.json").exists());

    let predictions = dir.path().join("predictions.txt");
    std::fs::write(
        &predictions,
        "1\tCause-Effect(e1,e2)\n2\tFriend-Of(e1,e2)\n",
    )
    .unwrap();
    let key = root().join("tests/fixtures/relation/key.txt");
    let out = err(&relation(&[
        "score",
        "--gold",
        s(&key),
        "--predictions",
        s(&predictions),
    ]));
    assert!(
        out.contains("predictions.txt:2") && out.contains("`Friend-Of(e1,e2)` is not a label"),
        "{out}"
    );
    std::fs::write(&predictions, "1\tCause-Effect(e1,e2)\n").unwrap();
    let out = relation(&["score", "--gold", s(&key), "--predictions", s(&predictions)]);
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warned.contains("of 9 gold ids have no prediction"),
        "{warned}"
    );
}

#[test]
fn predict_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = train(dir.path(), "entity-start", "1");
    let input = std::fs::read_to_string(validation()).unwrap();
    let from_file = ok(&relation(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&validation()),
    ]));
    let binary = Binary::new(env!("CARGO_BIN_EXE_relation"));
    let piped =
        ok(&binary.run_with_stdin(&["predict", "--model", s(&run), "--input", "-"], &input));
    assert_eq!(piped, from_file);
    assert!(!from_file.is_empty());
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_unusable_devices_refused(
        &Binary::new(env!("CARGO_BIN_EXE_relation")),
        dir.path(),
        &[],
        (cfg!(feature = "cuda"), cfg!(feature = "wgpu")),
    );
}

/// A RoBERTa checkpoint, whose byte-level BPE vocabulary has no reserved entries: by default
/// `<e1> </e1> <e2> </e2>` are added to the vocabulary and the word embeddings grow by four
/// rows at the mean of the others (with a learning rate of 1e-12 they stay there); the export carries
/// the grown tokenizer and matrix, names the family's class, and `eval` on it recomputes the
/// run's score.
#[test]
fn new_marker_tokens_grow_the_vocabulary_and_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let model = tuning::test_support::cli::fixture("families/roberta");
    let embeddings = |dir: &Path| {
        let file = encoder::Checkpoint::read(&dir.join("model.safetensors")).unwrap();
        let (_, tensor) = file
            .floats
            .into_iter()
            .find(|(name, _)| name.ends_with("embeddings.word_embeddings.weight"))
            .unwrap();
        tensor
    };
    let before = embeddings(&model);
    assert_eq!(before.shape, [400, 32]);
    for (head, lr) in [("cls", "1e-12"), ("entity-start", "1e-3")] {
        let run = dir.path().join(head);
        let settings = [
            "--learning-rate",
            lr,
            "--num-train-epochs",
            "1",
            "--max-train-samples",
            "16",
            "--per-device-train-batch-size",
            "8",
        ];
        let summary = train_run(&model, &run, head, &settings);
        let config = tuning::test_support::cli::json_file(&run.join("config.json"));
        assert_eq!(config["vocab_size"], 404);
        let class = if head == "cls" {
            "RobertaForSequenceClassification"
        } else {
            "RobertaForRelationClassification"
        };
        assert_eq!(config["architectures"][0], class);
        let markers = ["<e1>", "</e1>", "<e2>", "</e2>"];
        assert_eq!(
            config["finetune_relation"]["markers"],
            serde_json::json!(markers)
        );
        // The tokenizer saved with the export knows the markers, at ids 400-403.
        let tokenizer = encoder::Tokenizer::from_model_dir(&run).unwrap();
        let ids: Vec<Option<u32>> = markers.iter().map(|t| tokenizer.token_to_id(t)).collect();
        assert_eq!(ids, [Some(400), Some(401), Some(402), Some(403)]);
        assert!(
            markers
                .iter()
                .all(|t| !tokenizer.is_special(tokenizer.token_to_id(t).unwrap()))
        );
        let after = embeddings(&run);
        assert_eq!(after.shape, [404, 32]);
        if head == "cls" {
            // The old rows as they were; each new row the mean of the old ones.
            let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
            let old = max_abs_diff(&wide(&after.data[..400 * 32]), &wide(&before.data));
            assert!(old < 1e-9, "the old rows moved by {old}");
            for column in 0..32 {
                let mean = (0..400)
                    .map(|r| before.data[r * 32 + column] as f64)
                    .sum::<f64>()
                    / 400.0;
                for row in 400..404 {
                    let got = after.data[row * 32 + column] as f64;
                    assert!(
                        (got - mean).abs() < 1e-6,
                        "row {row} column {column}: {got} vs {mean}"
                    );
                }
            }
        }
        let official = eval_validation(&run)["report"]["official_macro_f1"]
            .as_f64()
            .unwrap();
        let best = summary["eval"]["macro_f1"].as_f64().unwrap();
        assert!(
            (best - official).abs() < 1e-9,
            "{head}: {best} vs {official}"
        );
    }
}

/// `relation lr-find`: the range test of the shared app (`assert_lr_find_works`).
#[test]
fn lr_find_runs_the_range_test() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_lr_find_works(
        &Binary::new(env!("CARGO_BIN_EXE_relation")),
        dir.path(),
        &[],
    );
}

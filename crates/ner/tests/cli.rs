//! The `ner` binary end to end on the tiny fixture encoder and the sample data:
//! train -> eval -> predict -> score, long sentences in windows, document context, raw
//! text, the scorer against seqeval, and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use tuning::test_support::cli::{Binary, err, json_lines, ok, root, s};

fn tiny() -> PathBuf {
    tuning::test_support::cli::tiny_model()
}

fn binary() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_ner"))
}

fn ner(args: &[&str]) -> Output {
    binary().run(args)
}

fn validation() -> PathBuf {
    root().join("data/ner/validation.conll")
}

/// Trains the tiny encoder briefly; returns the run directory and the summary.
fn train(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, Value) {
    let run = dir.join(name);
    let model = tiny();
    let mut args = vec![
        "train",
        "--model",
        s(&model),
        "--output-dir",
        s(&run),
        "--learning-rate",
        "1e-3",
        "--per-device-train-batch-size",
        "16",
        "--max-train-samples",
        "64",
    ];
    args.extend_from_slice(extra);
    let summary: Value = serde_json::from_str(&ok(&ner(&args))).unwrap();
    (run, summary)
}

/// Words per sentence of a CoNLL file (DOCSTART and blank lines skipped).
fn words_per_sentence(text: &str) -> Vec<usize> {
    let mut counts = vec![0];
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with("-DOCSTART-") {
            if *counts.last().unwrap() > 0 {
                counts.push(0);
            }
        } else {
            *counts.last_mut().unwrap() += 1;
        }
    }
    counts.retain(|&c| c > 0);
    counts
}

#[test]
fn train_eval_predict_score_agree_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (run, summary) = train(dir.path(), "run", &["--num-train-epochs", "2"]);
    assert_eq!(summary["global_step"], 8, "64 sentences / 16 x 2 epochs");

    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    let labels: Vec<&str> = (0..9)
        .map(|i| config["id2label"][i.to_string()].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"
        ],
        "IOB1 sample data is trained as IOB2"
    );

    // eval reproduces the best checkpoint's F1.
    let eval: Value = serde_json::from_str(&ok(&ner(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&validation()),
    ])))
    .unwrap();
    assert_eq!(eval["scheme"], "iob1");
    let report = &eval["report"];
    assert_eq!(report["mode"], "conlleval");
    let f1 = report["f1"].as_f64().unwrap();
    let best = summary["eval"]["f1"].as_f64().unwrap();
    assert!((f1 - best).abs() < 1e-9, "eval {f1} vs best {best}");
    assert!(run.join("eval_validation.json").exists());

    // predict writes conlleval lines `token gold predicted`, one per word.
    let predictions = dir.path().join("pred.txt");
    ok(&ner(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&validation()),
        "--output",
        s(&predictions),
    ]));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let source = std::fs::read_to_string(validation()).unwrap();
    assert_eq!(words_per_sentence(&written), words_per_sentence(&source));
    // The input's layout is kept: its -DOCSTART- line comes first.
    assert_eq!(written.lines().next(), source.lines().next());
    let first = written
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with("-DOCSTART-"))
        .unwrap();
    let first_source = source
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with("-DOCSTART-"))
        .unwrap();
    let (word, gold) = {
        let f: Vec<&str> = first_source.split_whitespace().collect();
        (f[0], f[3])
    };
    assert!(first.starts_with(&format!("{word} {gold} ")), "{first}");

    // score recomputes eval's figures from the file.
    let scored: Value =
        serde_json::from_str(&ok(&ner(&["score", "--predictions", s(&predictions)]))).unwrap();
    for key in ["precision", "recall", "f1", "accuracy", "gold_entities"] {
        assert_eq!(scored[key], report[key], "{key}");
    }
}

#[test]
fn score_agrees_with_seqeval_on_hand_made_edge_cases() {
    // IOB corners in both modes; BIOES corners in conlleval's reading (seqeval's strict IOB2
    // mode does not read E-/S- tags, so the fixture has no strict figures for that file).
    let fixtures = root().join("tests/fixtures/ner");
    for (name, modes) in [
        ("edge-cases", &["conlleval", "strict"][..]),
        ("edge-cases-bioes", &["conlleval"][..]),
    ] {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(expected.as_object().unwrap().len(), modes.len(), "{name}");
        for &mode in modes {
            let file = fixtures.join(format!("{name}.conlleval"));
            let mut args = vec!["score", "--predictions", s(&file)];
            if mode == "strict" {
                args.push("--strict");
            }
            let report: Value = serde_json::from_str(&ok(&ner(&args))).unwrap();
            let want = &expected[mode];
            let round = |v: &Value| (v.as_f64().unwrap() * 1e4).round() / 1e4;
            for key in ["precision", "recall", "f1"] {
                assert_eq!(
                    round(&report[key]),
                    round(&want[key]),
                    "{name} {mode} {key}"
                );
            }
            let types = report["per_type"].as_array().unwrap();
            assert_eq!(
                types.len(),
                want["per_type"].as_object().unwrap().len(),
                "{name} {mode}"
            );
            for entry in types {
                let kind = entry["type"].as_str().unwrap();
                let w = &want["per_type"][kind];
                for key in ["precision", "recall", "f1"] {
                    assert_eq!(
                        round(&entry[key]),
                        round(&w[key]),
                        "{name} {mode} {kind} {key}"
                    );
                }
                assert_eq!(entry["support"], w["support"], "{name} {mode} {kind}");
            }
        }
    }
}

#[test]
fn long_sentences_are_windowed_and_every_word_gets_a_tag() {
    let dir = tempfile::tempdir().unwrap();
    // 16 sub-tokens per window and a stride of 4: most sample sentences need 2-4 windows.
    let (run, _) = train(
        dir.path(),
        "windows",
        &[
            "--num-train-epochs",
            "1",
            "--max-seq-length",
            "16",
            "--doc-stride",
            "4",
        ],
    );
    let predictions = dir.path().join("pred.txt");
    ok(&ner(&[
        "predict",
        "--model",
        s(&run),
        "--input",
        s(&validation()),
        "--max-seq-length",
        "16",
        "--output",
        s(&predictions),
    ]));
    let written = std::fs::read_to_string(&predictions).unwrap();
    let source = std::fs::read_to_string(validation()).unwrap();
    // The tiny vocabulary is mostly single characters: every sample sentence needs several
    // windows of 16, and still every word comes back with exactly one tag.
    assert_eq!(words_per_sentence(&written), words_per_sentence(&source));
}

#[test]
fn document_context_is_recorded_and_used_at_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let (run, summary) = train(
        dir.path(),
        "context",
        &["--num-train-epochs", "1", "--document-context"],
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["finetune_ner"]["document_context"], true);
    let eval: Value = serde_json::from_str(&ok(&ner(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&validation()),
    ])))
    .unwrap();
    let f1 = eval["report"]["f1"].as_f64().unwrap();
    let best = summary["eval"]["f1"].as_f64().unwrap();
    assert!((f1 - best).abs() < 1e-9, "eval {f1} vs best {best}");
}

#[test]
fn raw_text_gives_entities_with_character_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = train(dir.path(), "text", &["--num-train-epochs", "1"]);
    let text = "Anna Berg joined Norvale Bank in Marenburg.\n\nRain, said Sven.\n";
    let out = binary().run_with_stdin(
        &["predict", "--model", s(&run), "--input", "-", "--text"],
        text,
    );
    let records = json_lines(&ok(&out));
    assert_eq!(records.len(), 2, "the blank line is skipped");
    assert_eq!(records[1]["line"], 3);
    for record in &records {
        let line: Vec<char> = record["text"].as_str().unwrap().chars().collect();
        for entity in record["entities"].as_array().unwrap() {
            let (start, end) = (
                entity["start"].as_u64().unwrap() as usize,
                entity["end"].as_u64().unwrap() as usize,
            );
            let surface: String = line[start..end].iter().collect();
            assert_eq!(entity["text"], surface.as_str());
        }
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let train_with = |path: &Path, extra: &[&str]| {
        let model = tiny();
        let never = dir.path().join("never");
        let mut args = vec![
            "train",
            "--model",
            s(&model),
            "--train",
            s(path),
            "--output-dir",
            s(&never),
        ];
        args.extend_from_slice(extra);
        err(&ner(&args))
    };
    let columns = write("columns.conll", b"EU NNP I-NP I-ORG\nrejects VBZ O\n");
    assert!(train_with(&columns, &[]).contains("columns.conll:2: 3 columns, but line 1 has 4"));
    let scheme = write("scheme.conll", b"a B-PER\n\nb O\nc I-LOC\n");
    let out = train_with(
        &scheme,
        &["--scheme", "iob2", "--scheme-violations", "error"],
    );
    assert!(
        out.contains("scheme.conll:4: tag column: `I-LOC` in IOB2"),
        "{out}"
    );
    let bioes = write("bioes.conll", b"a B-PER\nb O\n\nc S-LOC\n");
    let out = train_with(&bioes, &["--scheme-violations", "error"]);
    assert!(
        out.contains("bioes.conll:2") && out.contains("not closed"),
        "{out}"
    );
    let not_a_tag = write("tag.conll", b"a PERSON\n");
    assert!(train_with(&not_a_tag, &[]).contains("tag.conll:1: tag column: `PERSON` is not a tag"));
    let empty = write("empty.jsonl", b"{\"tokens\": [], \"tags\": []}\n");
    assert!(train_with(&empty, &[]).contains("empty.jsonl:1: empty sentence"));
    let nothing = write("nothing.conll", b"\n\n-DOCSTART- -X- -X- O\n\n");
    assert!(train_with(&nothing, &[]).contains("nothing.conll: no sentences"));
    let latin1 = write("latin1.conll", b"a O\ncaf\xe9 O\n");
    assert!(train_with(&latin1, &[]).contains("latin1.conll:2: not valid UTF-8"));

    // A tag the trained model does not know, at eval.
    let (run, _) = train(dir.path(), "run", &["--num-train-epochs", "1"]);
    let unknown = write("unknown.conll", b"Anna B-PER\nsings O\n\nx B-DATE\n");
    let out = err(&ner(&["eval", "--model", s(&run), "--data", s(&unknown)]));
    assert!(
        out.contains("unknown.conll:4: unknown tag `B-DATE`"),
        "{out}"
    );
    // A scheme violation with one reading (the original CoNLL-2003 eng.train has two) is
    // read as conlleval does by default, with a warning that names its line.
    let violation = write(
        "violation.conll",
        b"Anna B-PER\nsings O\n\nthe O\nBonn I-LOC\n",
    );
    let out = ner(&[
        "eval",
        "--model",
        s(&run),
        "--data",
        s(&violation),
        "--scheme",
        "iob2",
    ]);
    let report: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["repaired_tags"], 1);
    assert_eq!(report["report"]["gold_entities"], 2, "{report}");
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(
        warning.contains("warning: ")
            && warning.contains("violation.conll:5: tag column: `I-LOC` in IOB2"),
        "{warning}"
    );
    // A conlleval file with a missing column.
    let short = write("short.txt", b"Anna B-PER\n");
    let out = err(&ner(&["score", "--predictions", s(&short)]));
    assert!(
        out.contains("short.txt:1: expected `token ... gold predicted`"),
        "{out}"
    );
}

#[test]
fn inference_uses_the_sequence_length_the_model_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = train(
        dir.path(),
        "short",
        &[
            "--max-seq-length",
            "36",
            "--doc-stride",
            "8",
            "--max-steps",
            "1",
        ],
    );
    binary().assert_predicts_at_trained_length(
        &run,
        &validation(),
        &["--format", "logits"],
        36,
        64,
    );
}

#[test]
fn predictions_keep_the_inputs_lines_so_they_score_against_it_and_a_cut_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = tuning::test_support::cli::fixture("checkpoints/token-classification");
    let predicted = dir.path().join("predicted.txt");
    let input = std::fs::read_to_string(validation()).unwrap();
    ok(&ner(&[
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&validation()),
        "--output",
        s(&predicted),
    ]));
    let output = std::fs::read_to_string(&predicted).unwrap();
    assert_eq!(
        output.lines().count(),
        input.lines().count(),
        "line for line"
    );
    assert_eq!(
        output.matches("-DOCSTART-").count(),
        input.matches("-DOCSTART-").count(),
        "document boundaries kept"
    );
    let scored = |predictions: &Path| {
        ner(&[
            "score",
            "--predictions",
            s(predictions),
            "--gold",
            s(&validation()),
        ])
    };
    let report: Value = serde_json::from_str(&ok(&scored(&predicted))).unwrap();
    assert!(report["f1"].as_f64().is_some(), "{report}");
    // The same from stdin, in CoNLL mode.
    let piped =
        ok(&binary().run_with_stdin(&["predict", "--model", s(&model), "--input", "-"], &input));
    assert_eq!(piped, output);
    let from_stdin = ok(&binary().run_with_stdin(
        &["score", "--predictions", "-", "--gold", s(&validation())],
        &output,
    ));
    assert_eq!(serde_json::from_str::<Value>(&from_stdin).unwrap(), report);
    // A predictions file that stops halfway is refused, with how much it covers.
    let half: String = output
        .lines()
        .take(input.lines().count() / 2)
        .map(|l| format!("{l}\n"))
        .collect();
    let cut = dir.path().join("cut.txt");
    std::fs::write(&cut, half).unwrap();
    let refused = err(&scored(&cut));
    assert!(
        refused.contains("more token lines") && refused.contains("gold tokens"),
        "{refused}"
    );
}

#[test]
fn a_bad_validation_tag_in_train_is_named_by_its_own_line_and_no_run_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("validation.conll");
    let text = std::fs::read_to_string(validation()).unwrap();
    // The third word of the first sentence (line 5 of the file).
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines[4].ends_with(" O"), "{}", lines[4]);
    lines[4] = lines[4].replace(" O", " I-FOO");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let run = dir.path().join("run");
    let model = tiny();
    let out = err(&ner(&[
        "train",
        "--model",
        s(&model),
        "--validation",
        s(&bad),
        "--output-dir",
        s(&run),
        "--max-steps",
        "1",
    ]));
    assert!(
        out.contains("validation.conll:5:") && out.contains("FOO"),
        "{out}"
    );
    assert!(!run.join("training_args.json").exists());
    // A stride the window cannot hold is refused before any model is read.
    let out = err(&ner(&[
        "train",
        "--model",
        s(&dir.path().join("no-model")),
        "--doc-stride",
        "126",
        "--max-seq-length",
        "128",
    ]));
    assert!(
        out.contains("doc_stride 126 must be less than max_seq_length 128"),
        "{out}"
    );
}

#[test]
fn a_device_this_build_or_machine_lacks_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_unusable_devices_refused(
        &Binary::new(env!("CARGO_BIN_EXE_ner")),
        dir.path(),
        &[],
        (cfg!(feature = "cuda"), cfg!(feature = "wgpu")),
    );
}

/// `ner lr-find`: the range test of the shared app (`assert_lr_find_works`).
#[test]
fn lr_find_runs_the_range_test() {
    let dir = tempfile::tempdir().unwrap();
    tuning::test_support::cli::assert_lr_find_works(
        &Binary::new(env!("CARGO_BIN_EXE_ner")),
        dir.path(),
        &[],
    );
}

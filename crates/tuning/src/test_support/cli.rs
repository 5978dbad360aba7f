//! Running a task binary from its crate's tests: from the repository root, with or without
//! stdin, and reading what it wrote.
//!
//! ```text
//! use tuning::test_support::cli::{Binary, ok, s, tiny_model};
//! let sentiment = Binary::new(env!("CARGO_BIN_EXE_sentiment"));
//! let out = ok(&sentiment.run(&["train", "--model", s(&tiny_model()), "--max-steps", "1"]));
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root (the binaries' sample-data defaults are relative to it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file or folder under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    root().join("tests/fixtures").join(relative)
}

/// The tiny random BERT every end-to-end test trains (2 layers, hidden 32).
pub fn tiny_model() -> PathBuf {
    fixture("encoder/tiny-bert")
}

/// A task binary built by cargo for the test (`env!("CARGO_BIN_EXE_<name>")`).
#[derive(Debug, Clone)]
pub struct Binary {
    path: PathBuf,
}

impl Binary {
    pub fn new(path: &str) -> Self {
        Self {
            path: PathBuf::from(path),
        }
    }

    /// Runs it with `args` in the repository root.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.path)
            .args(args)
            .current_dir(root())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.path.display()))
    }

    /// Checks that `predict` on `input` (with `extra` flags) runs at the sequence length the
    /// model in `run` was trained with unless told otherwise: its output equals the output
    /// at `--max-seq-length trained` and differs from the output at `other`.
    pub fn assert_predicts_at_trained_length(
        &self,
        run: &Path,
        input: &Path,
        extra: &[&str],
        trained: usize,
        other: usize,
    ) {
        let recorded = json_file(&run.join("config.json"))["finetune_max_seq_length"].clone();
        assert_eq!(
            recorded,
            serde_json::json!(trained),
            "the export records it"
        );
        let predict = |length: Option<usize>| {
            let length = length.map(|n| n.to_string());
            let mut args = vec!["predict", "--model", s(run), "--input", s(input)];
            args.extend_from_slice(extra);
            if let Some(n) = &length {
                args.extend_from_slice(&["--max-seq-length", n]);
            }
            ok(&self.run(&args))
        };
        let default = predict(None);
        assert_eq!(
            default,
            predict(Some(trained)),
            "default = the trained length"
        );
        assert_ne!(
            default,
            predict(Some(other)),
            "{other} tokens give other outputs"
        );
    }

    /// Starts it with `args` in the repository root, in the background: stdout and stderr go
    /// to `log` (a pipe nobody reads could fill and stall it).
    pub fn spawn(&self, args: &[&str], log: &Path) -> std::process::Child {
        let file = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        Command::new(&self.path)
            .args(args)
            .current_dir(root())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.path.display()))
    }

    /// Runs it with `args` in the repository root, `stdin` on its standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(&self.path)
            .args(args)
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.path.display()));
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(stdin.as_bytes())
            .expect("stdin written");
        child.wait_with_output().expect("the binary ends")
    }
}

/// The stdout of a run that must have succeeded (its stderr in the failure message).
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The stderr of a run that must have failed.
pub fn err(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "should have failed; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A JSON file's contents.
pub fn json_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSONL file's (or output's) records.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A JSON array of numbers (logits) as `f64`s.
pub fn floats(value: &Value) -> Vec<f64> {
    let values = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"));
    values
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The largest absolute difference between two equally long lists.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Checks that `train`, `eval` and `predict` of a task binary refuse a device this build or
/// machine cannot use, with an error that names it and says why (exit status 1, no panic),
/// before writing any run. `cuda` and `wgpu`: whether the binary was built with that feature
/// (`cfg!(feature = ...)` in the task crate's tests). A `wgpu` build is not checked for
/// `wgpu`: a machine with a Vulkan driver (lavapipe included) runs it. `scratch`: an empty
/// folder the runs would be written under. `predict_flags`: what the task's `predict` needs
/// besides `--model` and `--input` (qa: `--output-dir`).
pub fn assert_unusable_devices_refused(
    binary: &Binary,
    scratch: &Path,
    predict_flags: &[&str],
    (cuda, wgpu): (bool, bool),
) {
    let run = scratch.join("run");
    let model = tiny_model();
    let mut devices = vec![(
        "cuda:99",
        if cuda {
            // A build with CUDA: no driver here, or fewer devices.
            "CUDA device"
        } else {
            "built without the `cuda` feature"
        },
    )];
    if !wgpu {
        devices.push(("wgpu", "built without the `wgpu` feature"));
    }
    for (device, why) in devices {
        for command in ["train", "eval", "predict"] {
            let mut args = vec![command, "--device", device, "--model", s(&model)];
            match command {
                "train" => args.extend(["--output-dir", s(&run), "--max-steps", "1"]),
                "eval" => args.extend(["--data", "-"]),
                _ => {
                    args.extend(["--input", "-"]);
                    args.extend_from_slice(predict_flags);
                }
            }
            let output = binary.run(&args);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{command} --device {device}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let e = String::from_utf8_lossy(&output.stderr);
            assert!(e.contains(&format!("--device {device}")), "{command}: {e}");
            assert!(e.contains(why), "{command} --device {device}: {e}");
            assert!(!e.contains("panicked"), "{command}: {e}");
            assert!(
                !run.join("training_args.json").exists(),
                "no run is written"
            );
        }
    }
    // A misspelt device is a usage error (status 2), from the flag and from FINETUNE_DEVICE.
    let e = err(&binary.run(&["train", "--device", "gpu"]));
    assert!(e.contains("cpu, cuda, cuda:N or wgpu"), "{e}");
    let output = Command::new(&binary.path)
        .args(["train", "--output-dir", s(&run)])
        .env("FINETUNE_DEVICE", "cuda:x")
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let e = String::from_utf8_lossy(&output.stderr);
    assert!(
        e.contains("CUDA device index must be a whole number"),
        "{e}"
    );
}

/// Runs `lr-find` of a task binary on the tiny model with the task's `flags` (e.g. relation's
/// `--markers punct`) and checks what every task's range test must do: rates rising
/// exponentially within the range, a suggestion inside it with its rule, `lr_find.json` and
/// the plot written to the output folder, and the model directory left as it was. A range
/// reaching 1e4 must end on the divergence rule. Returns `lr_find.json`.
pub fn assert_lr_find_works(binary: &Binary, scratch: &Path, flags: &[&str]) -> Value {
    let model = tiny_model();
    let files = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut all: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect();
        all.sort();
        all
    };
    let before = files(&model);
    let out = scratch.join("lr-find");
    let mut args = vec!["lr-find", "--model", s(&model), "--output-dir", s(&out)];
    args.extend([
        "--num-lr-steps",
        "12",
        "--start-lr",
        "1e-5",
        "--end-lr",
        "1e4",
    ]);
    args.extend([
        "--max-train-samples",
        "32",
        "--per-device-train-batch-size",
        "8",
    ]);
    args.extend_from_slice(flags);
    let summary: Value = serde_json::from_str(&ok(&binary.run(&args))).unwrap();
    let report = json_file(&out.join("lr_find.json"));
    let points = report["lr_find"]["points"].as_array().unwrap();
    assert!(
        !points.is_empty() && points.len() <= 12,
        "{} steps",
        points.len()
    );
    let rates: Vec<f64> = points
        .iter()
        .map(|p| p["learning_rate"].as_f64().unwrap())
        .collect();
    assert!((rates[0] - 1e-5).abs() < 1e-15);
    for w in rates.windows(2) {
        // Nine decades over 11 intervals.
        assert!(
            (w[1] / w[0] - 10f64.powf(9.0 / 11.0)).abs() < 1e-9,
            "{rates:?}"
        );
    }
    let stopped = summary["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("passed 4 x its lowest") || stopped.contains("the loss became"),
        "a rate of 1e4 must diverge: {summary}"
    );
    let suggested = summary["suggestion"]["learning_rate"].as_f64().unwrap();
    assert!((1e-6..1e4).contains(&suggested), "{summary}");
    assert!(
        summary["suggestion"]["rule"]
            .as_str()
            .unwrap()
            .contains("divided by 10")
    );
    let png = std::fs::read(out.join("plots/lr_find.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        before == files(&model),
        "lr-find changed the model directory"
    );
    report
}

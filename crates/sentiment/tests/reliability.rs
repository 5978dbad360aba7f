//! Runs that cannot be corrupted, replayed through a real binary (`sentiment` on the tiny
//! encoder and the sample data): kill -9 during training and `--resume`; two writers into one
//! directory; overwrite then resume; changed settings on resume; a run that fails to start;
//! leftovers of an interrupted export; a full disk during a checkpoint (a small tmpfs, where
//! the machine lets a test mount one).
//!
//! The other scenarios of the same adversarial pass (score inputs, edge flags, stdin,
//! document boundaries) are in each task's `tests/cli.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tuning::test_support::cli::{Binary, err, json_file, ok, root, s, tiny_model};

/// The binary under test: this build's, or another one named by `RELIABILITY_BINARY` (to
/// show what an older build does in these scenarios).
fn binary_path() -> String {
    std::env::var("RELIABILITY_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sentiment").into())
}

fn sentiment() -> Binary {
    Binary::new(&binary_path())
}

/// A run of 240 steps (three epochs of the 320 sample examples, batch 4), a checkpoint every
/// 5 steps, evaluated per epoch: long enough to be killed in the middle.
fn long_run(run: &Path) -> Vec<String> {
    let tiny = tiny_model();
    [
        "train",
        "--model",
        s(&tiny),
        "--output-dir",
        s(run),
        "--per-device-train-batch-size",
        "4",
        "--num-train-epochs",
        "3",
        "--learning-rate",
        "1e-3",
        "--save-steps",
        "5",
        "--logging-steps",
        "1",
        "--max-seq-length",
        "32",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `args` with `extra` flags: a flag already there gets the new value (clap takes a flag once).
fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    let mut all = args.to_vec();
    let mut i = 0;
    while i < extra.len() {
        let flag = extra[i];
        let value = extra.get(i + 1).filter(|v| !v.starts_with("--"));
        match (all.iter().position(|a| a == flag), value) {
            (Some(at), Some(v)) => all[at + 1] = v.to_string(),
            (None, Some(v)) => all.extend([flag.to_string(), v.to_string()]),
            _ => all.push(flag.to_string()),
        }
        i += if value.is_some() { 2 } else { 1 };
    }
    all
}

/// Waits (at most a minute) until `ready` holds.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited a minute for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The records of `metrics.jsonl` without timings.
fn log_without_timings(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let map = v.as_object_mut().unwrap();
            map.retain(|k, _| !k.contains("runtime") && !k.contains("per_second"));
            v
        })
        .collect()
}

#[test]
fn kill_9_in_the_middle_of_training_then_resume_gives_the_uninterrupted_runs_bits() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    ok(&sentiment().run(&strs(&long_run(&whole))));

    let mut child = sentiment().spawn(&strs(&long_run(&killed)), &dir.path().join("log"));
    let checkpoint = killed.join("checkpoints/checkpoint-30");
    wait_for("checkpoint-30", || checkpoint.is_dir());
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !killed.join("checkpoints/checkpoint-240").exists(),
        "killed before its end"
    );

    ok(&sentiment().run(&strs(&with(&long_run(&killed), &["--resume"]))));
    for file in [
        "checkpoints/checkpoint-240/model.safetensors",
        "checkpoints/checkpoint-240/optimizer.safetensors",
        "model.safetensors",
    ] {
        assert!(
            std::fs::read(whole.join(file)).unwrap() == std::fs::read(killed.join(file)).unwrap(),
            "{file} differs after kill -9 and --resume"
        );
    }
    let eval = |run: &Path| {
        let mut v = json_file(&run.join("eval_results.json"));
        v.as_object_mut()
            .unwrap()
            .retain(|k, _| !k.contains("runtime") && !k.contains("per_second"));
        v
    };
    assert_eq!(eval(&whole), eval(&killed));
    assert_eq!(log_without_timings(&whole), log_without_timings(&killed));
}

#[test]
fn a_second_writer_is_refused_with_the_first_ones_pid_and_the_first_run_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut first = sentiment().spawn(&strs(&long_run(&run)), &dir.path().join("log"));
    let lock = run.join(".finetune.lock");
    wait_for("the lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| !t.is_empty())
    });
    let second = err(&sentiment().run(&strs(&with(
        &long_run(&run),
        &["--overwrite-output-dir", "--seed", "43"],
    ))));
    assert!(
        second.contains("is in use") && second.contains(&first.id().to_string()),
        "{second}"
    );
    assert!(first.wait().unwrap().success(), "the first run finished");
    let steps: Vec<u64> = log_without_timings(&run)
        .iter()
        .filter(|r| r.get("loss").is_some())
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=240).collect::<Vec<u64>>(), "one run's log");
    assert_eq!(json_file(&run.join("training_args.json"))["seed"], 42);
}

#[test]
fn overwriting_a_run_leaves_nothing_of_it_for_a_resume_to_pick_up() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    ok(&sentiment().run(&strs(&long_run(&run))));
    // What a kill during an export leaves behind.
    std::fs::write(run.join(".model.safetensors.4242.tmp"), "half").unwrap();
    let short = with(
        &long_run(&run),
        &[
            "--overwrite-output-dir",
            "--max-steps",
            "3",
            "--save-strategy",
            "no",
        ],
    );
    ok(&sentiment().run(&strs(&short)));
    assert!(!run.join("checkpoints").exists(), "old checkpoints removed");
    assert!(!run.join(".model.safetensors.4242.tmp").exists());
    let resumed = err(&sentiment().run(&strs(&with(&short, &["--resume"]))));
    assert!(resumed.contains("no checkpoint"), "{resumed}");
    let max_step = log_without_timings(&run)
        .iter()
        .filter_map(|r| r["step"].as_u64())
        .max();
    assert_eq!(max_step, Some(3), "only the new run's records");
}

#[test]
fn resume_refuses_changed_settings_and_data_unless_told_and_then_records_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let base = with(&long_run(&run), &["--max-steps", "10"]);
    ok(&sentiment().run(&strs(&base)));
    let batch = err(&sentiment().run(&strs(&with(
        &base,
        &["--resume", "--per-device-train-batch-size", "8"],
    ))));
    assert!(
        batch.contains("per_device_train_batch_size: 4 -> 8"),
        "{batch}"
    );
    let other = dir.path().join("other.tsv");
    let text = std::fs::read_to_string(root().join("data/sentiment/train.tsv")).unwrap();
    std::fs::write(&other, text.replace("excellent", "superb")).unwrap();
    let data = err(&sentiment().run(&strs(&with(&base, &["--resume", "--train", s(&other)]))));
    assert!(data.contains("files.train"), "{data}");
    // Longer is allowed: it continues.
    ok(&sentiment().run(&strs(&with(
        &long_run(&run),
        &["--resume", "--max-steps", "12"],
    ))));
    ok(&sentiment().run(&strs(&with(
        &long_run(&run),
        &[
            "--resume",
            "--max-steps",
            "14",
            "--learning-rate",
            "5e-4",
            "--allow-changed-settings",
        ],
    ))));
    let log = log_without_timings(&run);
    let event = log
        .iter()
        .find(|r| r.get("event").is_some())
        .expect("recorded");
    assert_eq!(event["step"], 12);
    assert_eq!(event["changes"]["learning_rate"]["now"], "0.0005");
    assert_eq!(
        json_file(&run.join("training_args.json"))["learning_rate"],
        5e-4
    );
}

#[test]
fn a_run_that_fails_before_training_leaves_no_run_and_the_retry_is_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let bad = dir.path().join("validation.tsv");
    std::fs::write(&bad, "sentence\tlabel\nfine\t1\nodd\t7\n").unwrap();
    let failed = err(&sentiment().run(&strs(&with(
        &long_run(&run),
        &["--validation", s(&bad), "--max-steps", "2"],
    ))));
    assert!(failed.contains("validation.tsv:3"), "{failed}");
    let missing = err(&sentiment().run(&strs(&with(
        &long_run(&run),
        &["--model", s(&dir.path().join("no-model"))],
    ))));
    assert!(missing.contains("no-model"), "{missing}");
    assert!(!run.join("training_args.json").exists());
    ok(&sentiment().run(&strs(&with(&long_run(&run), &["--max-steps", "2"]))));
}

/// Whether this machine lets a test mount a tmpfs in its own mount namespace.
fn can_mount_tmpfs(dir: &Path) -> bool {
    Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs \"$0\"",
            s(dir),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_full_disk_during_a_checkpoint_is_one_error_naming_the_path_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    if !can_mount_tmpfs(&mount) {
        eprintln!(
            "NOTICE: disk-full scenario SKIPPED: `unshare -rm` + `mount -t tmpfs` is not \
             allowed here (it needs user namespaces); the other reliability scenarios ran"
        );
        return;
    }
    let run: PathBuf = mount.join("run");
    let train = with(&long_run(&run), &["--save-steps", "1", "--max-steps", "3"]);
    // The tiny model's checkpoint (weights and two optimizer moments) is ~280 KB: 200 KB
    // holds the run's first files but not its first checkpoint. The listing is taken inside
    // the namespace, where the tmpfs is.
    let script = "mount -t tmpfs -o size=200k tmpfs \"$0\" && \"$@\"; echo \"status $?\"; \
                  ls -a \"$0/run\" \"$0/run/checkpoints\"";
    let binary = binary_path();
    let mut args = vec!["-rm", "sh", "-c", script, s(&mount), &binary];
    args.extend(strs(&train));
    let out = Command::new("unshare")
        .args(&args)
        .current_dir(root())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("status 1"), "{stdout}\n{stderr}");
    eprintln!("the disk-full error: {stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(
        error[0].contains("checkpoint-1") && error[0].contains("No space left on device"),
        "{}",
        error[0]
    );
    assert_eq!(
        error[0].matches("No space left").count(),
        1,
        "the OS error once: {}",
        error[0]
    );
    let temporaries: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('.') && l.ends_with(".tmp"))
        .collect();
    assert!(temporaries.is_empty(), "left: {temporaries:?}");
    assert!(stdout.contains("checkpoints:"), "listed: {stdout}");
}

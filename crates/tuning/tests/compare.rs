//! `tuning::report::compare`: reading finished runs and summarising seed groups, on run directories
//! written here with known values.

use std::path::Path;

use tuning::report::compare::{markdown_table, read_group};

/// Writes the four files a finished run leaves behind.
fn write_run(dir: &Path, seed: u64, best: f64, curve: &[(u64, f64)], runtime: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let train = serde_json::json!({
        "epoch": 2.0, "global_step": 100, "total_params": 1000, "trainable_params": 250,
        "train_runtime": runtime, "train_samples_per_second": 50.0,
    });
    std::fs::write(dir.join("train_results.json"), train.to_string()).unwrap();
    let eval = serde_json::json!({"eval_accuracy": best, "eval_macro_f1": best - 0.1});
    std::fs::write(dir.join("eval_results.json"), eval.to_string()).unwrap();
    let args = serde_json::json!({"learning_rate": 5e-5, "seed": seed});
    std::fs::write(dir.join("training_args.json"), args.to_string()).unwrap();
    let mut log = String::from("{\"step\":10,\"loss\":0.6}\n");
    for &(step, value) in curve {
        log.push_str(&format!("{{\"step\":{step},\"eval_accuracy\":{value}}}\n"));
    }
    // The final evaluation logged a second time at the same step must count once.
    if let Some(&(step, value)) = curve.last() {
        log.push_str(&format!("{{\"step\":{step},\"eval_accuracy\":{value}}}\n"));
    }
    std::fs::write(dir.join("metrics.jsonl"), log).unwrap();
}

#[test]
fn a_folder_of_seed_runs_reports_mean_spread_and_mean_curve() {
    let root = tempfile::tempdir().unwrap();
    let group = root.path().join("lora-8");
    write_run(
        &group.join("seed-43"),
        43,
        0.80,
        &[(50, 0.70), (100, 0.80)],
        30.0,
    );
    write_run(
        &group.join("seed-42"),
        42,
        0.90,
        &[(50, 0.60), (100, 0.90)],
        10.0,
    );
    write_run(
        &group.join("seed-44"),
        44,
        0.85,
        &[(50, 0.65), (100, 0.85)],
        20.0,
    );
    std::fs::create_dir_all(group.join("not-a-run")).unwrap();

    let g = read_group(&group, "accuracy").unwrap();
    assert_eq!(g.name, "lora-8");
    let seeds: Vec<_> = g.runs.iter().map(|r| r.seed).collect();
    assert_eq!(
        seeds,
        [Some(42), Some(43), Some(44)],
        "seed runs in name order"
    );
    assert!((g.mean_best() - 0.85).abs() < 1e-12);
    // Sample standard deviation of 0.90, 0.80, 0.85: sqrt((0.0025 + 0.0025 + 0) / 2) = 0.05.
    assert!((g.std_best() - 0.05).abs() < 1e-12);
    let curve = g.mean_curve();
    assert_eq!(
        curve.len(),
        2,
        "duplicate final evaluation counted once: {curve:?}"
    );
    assert!((curve[0].1 - 0.65).abs() < 1e-12 && (curve[1].1 - 0.85).abs() < 1e-12);
    let row = g.to_json();
    assert_eq!(
        row["seconds_per_epoch"], 10.0,
        "mean of 5, 10 and 15 s per epoch"
    );
    assert_eq!(row["trainable_share"], 0.25);

    let table = markdown_table(&[g], "accuracy");
    assert!(
        table.contains("| lora-8 | 0.8500 ± 0.0500 (3) | 0.9000 0.8000 0.8500 |"),
        "{table}"
    );
}

#[test]
fn a_single_run_is_its_own_group() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("full");
    write_run(&run, 42, 0.91, &[(100, 0.91)], 8.0);
    let g = read_group(&run, "accuracy").unwrap();
    assert_eq!(g.runs.len(), 1);
    assert_eq!(g.std_best(), 0.0);
    let table = markdown_table(&[g], "accuracy");
    assert!(table.contains("| full | 0.9100 | 0.9100 |"), "{table}");
}

#[test]
fn missing_metric_and_empty_folders_are_named_errors() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("full");
    write_run(&run, 42, 0.91, &[(100, 0.91)], 8.0);
    let err = read_group(&run, "f1").unwrap_err().to_string();
    assert!(err.contains("no eval_f1 in eval_results.json"), "{err}");
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = format!("{:#}", read_group(&empty, "accuracy").unwrap_err());
    assert!(err.contains("neither a finished run"), "{err}");
}

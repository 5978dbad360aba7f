//! Side-by-side summaries of finished runs, the library behind `compare-runs`.
//!
//! A strategy study trains one run per strategy, often once per seed. Each argument of
//! `compare-runs` is either one run directory or a directory of seed runs (its
//! subdirectories that hold a finished run, e.g. `full/seed-42`, `full/seed-43`): the group's
//! row reports the mean and the sample standard deviation of the best metric over the seeds,
//! every seed's value, and the mean time and throughput; its chart line is the mean curve.
//! One seed says little on a dev set of a few hundred examples: seed-to-seed spread is often
//! as large as the gap between strategies.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What one finished run reports.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub dir: PathBuf,
    /// The reported metric of the exported (selected) model: from eval_results.json, or,
    /// with a [`Reported`] file, from that file (the set that chose nothing).
    pub best: f64,
    /// With a [`Reported`] file: the selection set's value from eval_results.json.
    pub selection: Option<f64>,
    pub learning_rate: Value,
    pub seed: Option<u64>,
    pub trainable_params: u64,
    pub total_params: u64,
    pub seconds_per_epoch: f64,
    pub samples_per_second: f64,
    /// `(step, metric)` for every evaluation in metrics.jsonl.
    pub curve: Vec<(f64, f64)>,
}

/// The runs of one row: a single run, or the seeds of one setting.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub runs: Vec<RunResult>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

fn is_run(dir: &Path) -> bool {
    dir.join("train_results.json").is_file()
}

/// Where the reported figure comes from when the runs selected on another set: a JSON file
/// in each run directory (`<task> eval` writes `eval_<data>.json` there) and the key of its
/// `report` object, e.g. `eval_dev.json` and `accuracy`.
#[derive(Debug, Clone)]
pub struct Reported {
    pub file: String,
    pub key: String,
}

impl Reported {
    /// `FILE` or `FILE:KEY` (the key defaults to `metric`).
    pub fn parse(spec: &str, metric: &str) -> Self {
        match spec.split_once(':') {
            Some((file, key)) => Self {
                file: file.into(),
                key: key.into(),
            },
            None => Self {
                file: spec.into(),
                key: metric.into(),
            },
        }
    }

    fn read(&self, dir: &Path) -> Result<f64> {
        let path = dir.join(&self.file);
        let value = read_json(&path)?;
        let report = value.get("report").unwrap_or(&value);
        report
            .get(&self.key)
            .and_then(Value::as_f64)
            .with_context(|| {
                let keys: Vec<&String> = report
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                format!(
                    "{}: no number `{}` (keys: {keys:?})",
                    path.display(),
                    self.key
                )
            })
    }
}

/// Reads one finished run; `metric` as logged without the `eval_` prefix.
pub fn read_run(dir: &Path, metric: &str) -> Result<RunResult> {
    read_run_reported(dir, metric, None)
}

/// [`read_run`], with the reported figure read from `reported` when given.
pub fn read_run_reported(
    dir: &Path,
    metric: &str,
    reported: Option<&Reported>,
) -> Result<RunResult> {
    let key = format!("eval_{metric}");
    let train = read_json(&dir.join("train_results.json"))?;
    let eval = read_json(&dir.join("eval_results.json"))?;
    let settings = read_json(&dir.join("training_args.json"))?;
    let Some(selected) = eval.get(&key).and_then(Value::as_f64) else {
        bail!("{}: no {key} in eval_results.json", dir.display());
    };
    let (best, selection) = match reported {
        Some(r) => (r.read(dir)?, Some(selected)),
        None => (selected, None),
    };
    let log_path = dir.join("metrics.jsonl");
    let log = std::fs::read_to_string(&log_path)
        .with_context(|| format!("cannot read {}", log_path.display()))?;
    let mut curve = Vec::new();
    for (i, line) in log.lines().enumerate() {
        let record: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not valid JSON", log_path.display(), i + 1))?;
        if let (Some(step), Some(value)) = (
            record.get("step").and_then(Value::as_f64),
            record.get(&key).and_then(Value::as_f64),
        ) {
            // The final evaluation can be logged twice at the same step.
            if curve.last().map(|&(s, _)| s) != Some(step) {
                curve.push((step, value));
            }
        }
    }
    let epochs = train["epoch"].as_f64().unwrap_or(1.0).max(1e-9);
    Ok(RunResult {
        dir: dir.to_path_buf(),
        best,
        selection,
        learning_rate: settings["learning_rate"].clone(),
        seed: settings["seed"].as_u64(),
        trainable_params: train["trainable_params"].as_u64().unwrap_or(0),
        total_params: train["total_params"].as_u64().unwrap_or(0),
        seconds_per_epoch: train["train_runtime"].as_f64().unwrap_or(0.0) / epochs,
        samples_per_second: train["train_samples_per_second"].as_f64().unwrap_or(0.0),
        curve,
    })
}

/// Reads `dir` as one run, or as a group of seed runs (its subdirectories holding a run,
/// in name order). The group is named after `dir`.
pub fn read_group(dir: &Path, metric: &str) -> Result<Group> {
    read_group_reported(dir, metric, None)
}

/// [`read_group`], with the reported figures read from `reported` when given.
pub fn read_group_reported(dir: &Path, metric: &str, reported: Option<&Reported>) -> Result<Group> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| dir.display().to_string());
    if is_run(dir) {
        return Ok(Group {
            name,
            runs: vec![read_run_reported(dir, metric, reported)?],
        });
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_run(p))
        .collect();
    if dirs.is_empty() {
        bail!(
            "{}: neither a finished run (no train_results.json) nor a folder of runs",
            dir.display()
        );
    }
    dirs.sort();
    let runs = dirs
        .iter()
        .map(|d| read_run_reported(d, metric, reported))
        .collect::<Result<Vec<_>>>()?;
    Ok(Group { name, runs })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

impl Group {
    pub fn mean_best(&self) -> f64 {
        mean(self.runs.iter().map(|r| r.best))
    }

    /// Sample standard deviation (n - 1) of the best metric; 0 for a single run.
    pub fn std_best(&self) -> f64 {
        let n = self.runs.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean_best();
        let ss: f64 = self.runs.iter().map(|r| (r.best - m).powi(2)).sum();
        (ss / (n - 1) as f64).sqrt()
    }

    /// The metric averaged over the runs at the evaluation steps they all share (equal
    /// budgets evaluate at the same steps).
    pub fn mean_curve(&self) -> Vec<(f64, f64)> {
        let Some(first) = self.runs.first() else {
            return Vec::new();
        };
        first
            .curve
            .iter()
            .filter_map(|&(step, _)| {
                let values: Option<Vec<f64>> = self
                    .runs
                    .iter()
                    .map(|r| r.curve.iter().find(|&&(s, _)| s == step).map(|&(_, v)| v))
                    .collect();
                values.map(|v| (step, mean(v.into_iter())))
            })
            .collect()
    }

    /// The mean selection-set value, when the reported figures come from another set.
    pub fn mean_selection(&self) -> Option<f64> {
        let values: Option<Vec<f64>> = self.runs.iter().map(|r| r.selection).collect();
        values.map(|v| mean(v.into_iter()))
    }

    pub fn to_json(&self) -> Value {
        let first = &self.runs[0];
        json!({
            "run": self.name,
            "best_mean": self.mean_best(),
            "best_std": self.std_best(),
            "best_per_seed": self.runs.iter().map(|r| json!({"seed": r.seed, "best": r.best}))
                .collect::<Vec<_>>(),
            "selection_mean": self.mean_selection(),
            "learning_rate": first.learning_rate,
            "trainable_params": first.trainable_params,
            "trainable_share": first.trainable_params as f64 / first.total_params.max(1) as f64,
            "seconds_per_epoch": mean(self.runs.iter().map(|r| r.seconds_per_epoch)),
            "train_samples_per_second": mean(self.runs.iter().map(|r| r.samples_per_second)),
        })
    }
}

/// The markdown table: one row per group, the best metric as `mean ± std (n)` with the
/// per-seed values when there is more than one.
pub fn markdown_table(groups: &[Group], metric: &str) -> String {
    let mut out = format!(
        "| run | {metric} | per seed | lr | trainable params | share | s / epoch | samples/s |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for g in groups {
        let row = g.to_json();
        let best = if g.runs.len() > 1 {
            format!(
                "{:.4} ± {:.4} ({})",
                g.mean_best(),
                g.std_best(),
                g.runs.len()
            )
        } else {
            format!("{:.4}", g.mean_best())
        };
        let per_seed: Vec<String> = g.runs.iter().map(|r| format!("{:.4}", r.best)).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2}% | {:.1} | {:.1} |\n",
            g.name,
            best,
            per_seed.join(" "),
            row["learning_rate"],
            row["trainable_params"],
            100.0 * row["trainable_share"].as_f64().unwrap_or(0.0),
            row["seconds_per_epoch"].as_f64().unwrap_or(0.0),
            row["train_samples_per_second"].as_f64().unwrap_or(0.0),
        ));
    }
    out
}

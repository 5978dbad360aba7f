//! `compare-runs`: put finished runs side by side — a markdown table (best metric, trainable
//! parameters, time per epoch, throughput), the same as JSON, and one chart of the metric over
//! steps for all runs. Made for strategy studies: one run per strategy, same budget and seed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Compare finished runs: table, JSON and a chart of one metric over steps")]
struct Args {
    /// Run directories (each with metrics.jsonl, train_results.json, eval_results.json).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The evaluation metric to compare (as logged, without the eval_ prefix).
    #[arg(long, default_value = "accuracy")]
    metric: String,
    /// Write the chart here (PNG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the table data here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let key = format!("eval_{}", args.metric);
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for run in &args.runs {
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let train = read_json(&run.join("train_results.json"))?;
        let eval = read_json(&run.join("eval_results.json"))?;
        let settings = read_json(&run.join("training_args.json"))?;
        let Some(best) = eval.get(&key).and_then(Value::as_f64) else {
            bail!("{}: no {key} in eval_results.json", run.display());
        };
        let log = std::fs::read_to_string(run.join("metrics.jsonl"))
            .with_context(|| format!("cannot read {}", run.join("metrics.jsonl").display()))?;
        let points: Vec<(f64, f64)> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(&key)?.as_f64()?)))
            .collect();
        let epochs = train["epoch"].as_f64().unwrap_or(1.0).max(1e-9);
        let runtime = train["train_runtime"].as_f64().unwrap_or(0.0);
        let trainable = train["trainable_params"].as_u64().unwrap_or(0);
        let total = train["total_params"].as_u64().unwrap_or(0).max(1);
        rows.push(json!({
            "run": name,
            "best": best,
            "learning_rate": settings["learning_rate"],
            "trainable_params": trainable,
            "trainable_share": trainable as f64 / total as f64,
            "seconds_per_epoch": runtime / epochs,
            "train_samples_per_second": train["train_samples_per_second"],
        }));
        series.push((name, points));
    }
    println!(
        "| run | {} | lr | trainable params | share | s / epoch | samples/s |",
        args.metric
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.4} | {} | {} | {:.2}% | {:.1} | {:.1} |",
            r["run"].as_str().unwrap_or(""),
            r["best"].as_f64().unwrap_or(0.0),
            r["learning_rate"],
            r["trainable_params"],
            100.0 * r["trainable_share"].as_f64().unwrap_or(0.0),
            r["seconds_per_epoch"].as_f64().unwrap_or(0.0),
            r["train_samples_per_second"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json!({"metric": args.metric, "runs": rows}))?;
        encoder::fsutil::write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let named: Vec<(&str, Vec<(f64, f64)>)> = series
            .iter()
            .map(|(n, p)| (n.as_str(), p.clone()))
            .collect();
        let title = format!("EVAL {}", args.metric.replace('_', " ").to_uppercase());
        tuning::plot::line_chart(path, &title, "STEP", &named)?;
    }
    Ok(())
}

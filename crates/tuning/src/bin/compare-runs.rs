//! `compare-runs`: put finished runs side by side — a markdown table (best metric, trainable
//! parameters, time per epoch, throughput), the same as JSON, one chart of the metric over
//! steps for all runs, and a self-contained HTML page with the table, the charts (over steps,
//! against trainable parameters, time and frozen layers) and short answers computed from the
//! numbers. Made for strategy studies: one run (or one folder of seed runs) per strategy, same
//! budget and seeds. See [`tuning::report::compare`] and [`tuning::report::html`].

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use serde_json::json;
use tuning::report::compare::{Group, Reported, markdown_table, read_group_reported};

#[derive(Parser)]
#[command(about = "Compare finished runs: table, JSON and a chart of one metric over steps")]
struct Args {
    /// Run directories (each with metrics.jsonl, train_results.json, eval_results.json), or
    /// directories of seed runs of one setting (reported as mean ± standard deviation).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The evaluation metric to compare (as logged, without the eval_ prefix).
    #[arg(long, default_value = "accuracy")]
    metric: String,
    /// Report the metric from this file of each run instead of eval_results.json: `FILE` or
    /// `FILE:KEY` (default key: the metric), e.g. `eval_dev.json` written by `<task> eval`,
    /// when the runs selected their model on a held-out set and the reported set chose
    /// nothing. The curves stay the selection set's.
    #[arg(long)]
    reported: Option<String>,
    /// Write the chart here (PNG; seed groups are drawn as their mean curve).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the table data here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the report here: one static HTML page (no server, nothing fetched), with the
    /// table, the charts and the answers the numbers give.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The report's title.
    #[arg(long, default_value = "Fine-tuning strategies compared")]
    title: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let reported = args
        .reported
        .as_deref()
        .map(|spec| Reported::parse(spec, &args.metric));
    let groups = args
        .runs
        .iter()
        .map(|dir| read_group_reported(dir, &args.metric, reported.as_ref()))
        .collect::<Result<Vec<Group>>>()?;
    print!("{}", markdown_table(&groups, &args.metric));
    if let Some(path) = &args.json {
        let rows: Vec<_> = groups.iter().map(Group::to_json).collect();
        let text = serde_json::to_string_pretty(&json!({"metric": args.metric, "runs": rows}))?;
        encoder::fsutil::write_atomic(path, text.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let curves: Vec<(String, Vec<(f64, f64)>)> = groups
            .iter()
            .map(|g| (g.name.clone(), g.mean_curve()))
            .collect();
        let named: Vec<(&str, Vec<(f64, f64)>)> = curves
            .iter()
            .map(|(n, p)| (n.as_str(), p.clone()))
            .collect();
        let title = format!("EVAL {}", args.metric.replace('_', " ").to_uppercase());
        tuning::report::plot::line_chart(path, &title, "STEP", &named)?;
    }
    if let Some(path) = &args.html {
        let command: Vec<String> = std::env::args().collect();
        let info = tuning::report::html::PageInfo {
            title: &args.title,
            metric: &args.metric,
            command: &command.join(" "),
            reported: reported.as_ref().map(|r| r.file.as_str()),
        };
        let page = tuning::report::html::study_page(&info, &groups);
        encoder::fsutil::write_atomic(path, page.as_bytes())?;
    }
    Ok(())
}

//! `qa`: extractive question answering. So far `score`: the official SQuAD v1.1 / v2.0
//! figures from a dataset file and a predictions file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand};
use qa::{data, metrics};

#[derive(Parser)]
#[command(
    name = "qa",
    about = "Extractive question answering (SQuAD v1.1/v2.0): the official scores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Official exact match and F1 of a predictions file ({id: answer}) on a dataset file.
    Score(ScoreCmd),
}

#[derive(Args)]
struct ScoreCmd {
    /// The dataset: SQuAD JSON (.json or .json.gz) or JSONL.
    #[arg(long)]
    gold: PathBuf,
    /// predictions.json: an object {question id: answer text} ("" = no answer).
    #[arg(long)]
    predictions: PathBuf,
    /// v2.0: a JSON object {question id: probability of no answer}; adds the best
    /// thresholds and applies --na-prob-thresh.
    #[arg(long)]
    na_probs: Option<PathBuf>,
    /// v2.0: predict no answer when the no-answer probability is above this.
    #[arg(long, default_value_t = 1.0)]
    na_prob_thresh: f64,
}

fn main() {
    tuning::cli::exit_on_error("qa", run(Cli::parse()));
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Score(cmd) => score(cmd),
    }
}

/// A JSON object of `id -> T` from a file, with the position of a syntax error.
fn read_map<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<HashMap<String, T>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: line {}, column {}: expected a JSON object of {what}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

fn score(cmd: ScoreCmd) -> Result<()> {
    let (examples, report) = data::load(&cmd.gold)?;
    if !report.mismatched.is_empty() {
        eprintln!(
            "qa: {} gold answer(s) in {} are not at their offsets (scores use the texts): {}",
            report.mismatched.len(),
            cmd.gold.display(),
            report
                .mismatched
                .iter()
                .take(5)
                .map(|(id, _, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let predictions: HashMap<String, String> =
        read_map(&cmd.predictions, "question ids to answer strings")?;
    let known: std::collections::HashSet<&str> = examples.iter().map(|e| e.id.as_str()).collect();
    let unknown = predictions
        .keys()
        .filter(|id| !known.contains(id.as_str()))
        .count();
    if unknown > 0 {
        eprintln!(
            "qa: {unknown} prediction id(s) are not in {} and are ignored",
            cmd.gold.display()
        );
    }
    let na_probs: Option<HashMap<String, f64>> = match &cmd.na_probs {
        Some(path) => Some(read_map(path, "question ids to probabilities")?),
        None => None,
    };
    let result = metrics::score(
        &examples,
        &predictions,
        report.is_v2(&examples),
        na_probs.as_ref(),
        cmd.na_prob_thresh,
    );
    if result.unanswered > 0 {
        eprintln!(
            "qa: {} of {} questions have no prediction and score 0",
            result.unanswered, result.total
        );
    }
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

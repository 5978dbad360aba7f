//! `sentiment`: fine-tune, evaluate and apply sentence classifiers (SST-2 and any CSV, TSV or
//! JSONL data with a text column and a label column).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use sentiment::data::{self, Columns, Example, LabelSet, Labels};
use sentiment::head::Pooling;
use sentiment::metrics;
use sentiment::task::{SentimentTask, argmax, probabilities};
use serde_json::json;
use tuning::cli::InferenceArgs;
use tuning::run_dir::load_task_model;
use tuning::trainer::predict_all;
use tuning::{Task, Trainer, TrainingArgs, TrainingFlags};

#[derive(Parser)]
#[command(
    name = "sentiment",
    about = "Sentence classification: fine-tune, evaluate, predict, score"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a pretrained encoder (defaults: all-MiniLM-L6-v2 on the sample data).
    Train(Box<TrainCmd>),
    /// Score a fine-tuned model on labelled data: metrics JSON on stdout and in the run dir.
    Eval(EvalCmd),
    /// Label new text: JSONL (label, score, probabilities) or GLUE submission TSV.
    Predict(PredictCmd),
    /// Compute the metrics from a gold file and a predictions file.
    Score(ScoreCmd),
}

#[derive(Args, Clone)]
struct ColumnArgs {
    /// Column holding the text.
    #[arg(long, default_value = "sentence")]
    text_column: String,
    /// Column holding the second text of a pair (sentence-pair classification).
    #[arg(long)]
    text_pair_column: Option<String>,
    /// Column holding the label (strings or integers).
    #[arg(long, default_value = "label")]
    label_column: String,
}

impl ColumnArgs {
    fn columns(&self) -> Columns {
        Columns {
            text: self.text_column.clone(),
            text_pair: self.text_pair_column.clone(),
            label: self.label_column.clone(),
        }
    }
}

#[derive(Args)]
struct TrainCmd {
    /// Pretrained model directory (default: data/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training data (default: data/sentiment/train.tsv).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation data, evaluated per epoch or every eval_steps (default:
    /// data/sentiment/validation.tsv).
    #[arg(long)]
    validation: Option<PathBuf>,
    #[command(flatten)]
    columns: ColumnArgs,
    /// Sentence vector: pooler (BertForSequenceClassification), cls or mean.
    #[arg(long, default_value = "pooler")]
    pooling: Pooling,
    #[command(flatten)]
    flags: TrainingFlags,
}

#[derive(Args)]
struct EvalCmd {
    /// A run directory written by `sentiment train`.
    #[arg(long)]
    model: PathBuf,
    /// Labelled data.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct PredictCmd {
    /// A run directory written by `sentiment train`.
    #[arg(long)]
    model: PathBuf,
    /// Data file, or `-` for stdin (one text per line, or JSONL objects).
    #[arg(long)]
    input: PathBuf,
    /// `jsonl` (label, score, probabilities, logits) or `glue` (index<TAB>prediction).
    #[arg(long, default_value = "jsonl")]
    format: String,
    /// Write here (atomically) instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    columns: ColumnArgs,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct ScoreCmd {
    /// Labelled data.
    #[arg(long)]
    gold: PathBuf,
    /// `sentiment predict` output: JSONL with `label`, or GLUE TSV (index<TAB>prediction).
    #[arg(long)]
    predictions: PathBuf,
    #[command(flatten)]
    columns: ColumnArgs,
}

fn main() {
    encoder::allocator::keep_freed_memory();
    tuning::cli::exit_on_error("sentiment", run(Cli::parse()));
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(cmd) => train(*cmd),
        Command::Eval(cmd) => eval(cmd),
        Command::Predict(cmd) => predict(cmd),
        Command::Score(cmd) => score(cmd),
    }
}

fn sample_file(relative: &str) -> PathBuf {
    tuning::cli::sample_file(env!("CARGO_MANIFEST_DIR"), relative)
}

/// The task defaults for sentence classification (run_glue-style), under the config file
/// and flags.
fn task_defaults() -> serde_json::Value {
    json!({
        "output_dir": "runs/sentiment",
        "learning_rate": 5e-5,
        "num_train_epochs": 3.0,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "logging_steps": 10,
        "max_seq_length": 128,
    })
}

fn train(cmd: TrainCmd) -> Result<()> {
    let args = TrainingArgs::resolve(task_defaults(), &cmd.flags)?;
    let train_path = cmd
        .train
        .unwrap_or_else(|| sample_file("data/sentiment/train.tsv"));
    let validation_path = cmd
        .validation
        .unwrap_or_else(|| sample_file("data/sentiment/validation.tsv"));
    let columns = cmd.columns.columns();
    let train = data::load(&train_path, &columns, Labels::Required)?;
    let validation = data::load(&validation_path, &columns, Labels::Required)?;
    let labels = LabelSet::from_examples(&train)?;
    // Unknown validation labels fail now, with their line, not after an epoch of training.
    labels.ids(&validation)?;
    eprintln!(
        "sentiment: {} training and {} validation examples from {} and {}; labels: {}",
        train.len(),
        validation.len(),
        train_path.display(),
        validation_path.display(),
        labels.names.join(", ")
    );
    let task = SentimentTask {
        labels,
        pooling: cmd.pooling,
    };
    let trainer = Trainer {
        task: &task,
        args,
        model_dir: cmd.model.unwrap_or_else(encoder::default_model_dir),
        resume: cmd.flags.resume,
    };
    let summary = trainer.train(&train, Some(&validation))?;
    tuning::cli::print_summary(&trainer.args, &summary)
}

fn load_task(dir: &Path) -> Result<SentimentTask> {
    let config_path = dir.join("config.json");
    let config = encoder::EncoderConfig::from_file(&config_path)?;
    let labels = LabelSet::from_config(&config, &config_path)?;
    let pooling = match config.extra.get("finetune_pooling") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| anyhow!("{}: finetune_pooling: {e}", config_path.display()))?,
        None => Pooling::Pooler,
    };
    Ok(SentimentTask { labels, pooling })
}

/// Logits for every example, in order.
fn run_model(
    dir: &Path,
    examples: &[Example],
    inference: InferenceArgs,
) -> Result<(SentimentTask, Vec<Vec<f32>>)> {
    inference.apply()?;
    let InferenceArgs {
        batch_size,
        max_seq_length,
        ..
    } = inference;
    let task = load_task(dir)?;
    let device = encoder::default_device();
    let (model, config, tokenizer) = load_task_model(&task, dir, &device)?;
    let max_seq_length = tuning::run_dir::fit_max_len(max_seq_length, &config);
    // Labels are not needed to predict: featurize without them.
    let unlabelled: Vec<Example> = examples
        .iter()
        .map(|e| Example {
            label: None,
            ..e.clone()
        })
        .collect();
    let features = task.featurize(&unlabelled, &tokenizer, max_seq_length)?;
    let logits = predict_all(&task, &model, &features, batch_size, &device);
    Ok((task, logits))
}

fn eval(cmd: EvalCmd) -> Result<()> {
    let examples = data::load(&cmd.data, &cmd.columns.columns(), Labels::Required)?;
    let task = load_task(&cmd.model)?;
    let gold = task.gold(&examples)?;
    let (task, logits) = run_model(&cmd.model, &examples, cmd.inference)?;
    let predicted: Vec<usize> = logits.iter().map(|l| argmax(l)).collect();
    let report = metrics::report(&gold, &predicted, &task.labels.names);
    let value = json!({"data": cmd.data, "examples": examples.len(), "report": report});
    let text = serde_json::to_string_pretty(&value)?;
    let stem = tuning::cli::file_stem(&cmd.data);
    let plot = cmd
        .model
        .join("plots")
        .join(format!("confusion_{stem}.png"));
    std::fs::create_dir_all(cmd.model.join("plots"))?;
    tuning::plot::heat_map(
        &plot,
        &format!("CONFUSION: {stem}"),
        &report.labels,
        &report.confusion,
    )?;
    let path = cmd.model.join(format!("eval_{stem}.json"));
    encoder::fsutil::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{text}");
    Ok(())
}

/// Reads `-` (stdin: plain text lines or JSONL objects) or a data file.
fn read_input(path: &Path, columns: &Columns) -> Result<Vec<Example>> {
    if path != Path::new("-") {
        return data::load(path, columns, Labels::Optional);
    }
    let mut examples = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.with_context(|| format!("stdin:{}: cannot read", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let source = format!("stdin:{}", i + 1);
        let (text, text_pair) = if line.trim_start().starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| anyhow!("{source}: not valid JSON: {e}"))?;
            let field = |name: &str| -> Result<String> {
                value
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("{source}: missing text field `{name}`"))
            };
            let pair = match &columns.text_pair {
                Some(name) => Some(field(name)?),
                None => None,
            };
            (field(&columns.text)?, pair)
        } else {
            (line, None)
        };
        examples.push(Example {
            text,
            text_pair,
            label: None,
            index: examples.len(),
            source,
        });
    }
    if examples.is_empty() {
        bail!("stdin: no input lines");
    }
    Ok(examples)
}

fn predict(cmd: PredictCmd) -> Result<()> {
    let examples = read_input(&cmd.input, &cmd.columns.columns())?;
    let (task, logits) = run_model(&cmd.model, &examples, cmd.inference)?;
    let mut out = Vec::new();
    match cmd.format.as_str() {
        "jsonl" => {
            for (example, logits) in examples.iter().zip(&logits) {
                let probs = probabilities(logits);
                let best = argmax(logits);
                let per_label: serde_json::Map<String, serde_json::Value> = task
                    .labels
                    .names
                    .iter()
                    .zip(&probs)
                    .map(|(n, p)| (n.clone(), json!(p)))
                    .collect();
                let record = json!({
                    "index": example.index,
                    "label": task.labels.names[best],
                    "score": probs[best],
                    "probabilities": per_label,
                    "logits": logits,
                });
                writeln!(out, "{record}")?;
            }
        }
        "glue" => {
            writeln!(out, "index\tprediction")?;
            for (example, logits) in examples.iter().zip(&logits) {
                writeln!(
                    out,
                    "{}\t{}",
                    example.index,
                    task.labels.names[argmax(logits)]
                )?;
            }
        }
        other => bail!("unknown --format `{other}` (jsonl, glue)"),
    }
    match &cmd.output {
        Some(path) => encoder::fsutil::write_atomic(path, &out)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

/// Predicted labels by example index, from `predict`'s JSONL or a GLUE TSV.
fn read_predictions(path: &Path) -> Result<Vec<(usize, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut predictions = Vec::new();
    let is_tsv = path.extension().and_then(|e| e.to_str()) == Some("tsv");
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), i + 1);
        if line.trim().is_empty() || (is_tsv && i == 0) {
            continue;
        }
        if is_tsv {
            let (index, label) = line
                .split_once('\t')
                .ok_or_else(|| anyhow!("{at}: expected index<TAB>prediction"))?;
            let index = index
                .trim()
                .parse()
                .map_err(|_| anyhow!("{at}: index is not a number"))?;
            predictions.push((index, label.trim().to_string()));
        } else {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
            let label = match value.get("label") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => bail!("{at}: missing field `label`"),
            };
            let index = value
                .get("index")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .unwrap_or(predictions.len());
            predictions.push((index, label));
        }
    }
    Ok(predictions)
}

fn score(cmd: ScoreCmd) -> Result<()> {
    let gold = data::load(&cmd.gold, &cmd.columns.columns(), Labels::Required)?;
    let predictions = read_predictions(&cmd.predictions)?;
    if predictions.len() != gold.len() {
        bail!(
            "{} has {} predictions for {} gold examples in {}",
            cmd.predictions.display(),
            predictions.len(),
            gold.len(),
            cmd.gold.display()
        );
    }
    let by_index: std::collections::HashMap<usize, &String> =
        predictions.iter().map(|(i, l)| (*i, l)).collect();
    // Every label seen on either side, so a prediction outside the gold set still counts.
    let labels = LabelSet::from_names(
        gold.iter()
            .filter_map(|e| e.label.as_deref())
            .chain(predictions.iter().map(|(_, l)| l.as_str())),
    );
    let gold_ids = labels.ids(&gold)?;
    let predicted_ids = gold
        .iter()
        .map(|e| {
            let label = by_index.get(&e.index).ok_or_else(|| {
                anyhow!(
                    "{}: no prediction for index {}",
                    cmd.predictions.display(),
                    e.index
                )
            })?;
            Ok(labels.id(label).expect("added above"))
        })
        .collect::<Result<Vec<_>>>()?;
    let report = metrics::report(&gold_ids, &predicted_ids, &labels.names);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

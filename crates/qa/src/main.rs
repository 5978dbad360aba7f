//! `qa`: fine-tune, evaluate and apply extractive question answering models (SQuAD v1.1 /
//! v2.0 and JSONL), and compute the official scores of any predictions file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use qa::data::{self, Example};
use qa::metrics;
use qa::task::{Prediction, QaTask, Settings};
use serde_json::json;
use tuning::cli::file_stem;
use tuning::run_dir::load_task_model;
use tuning::trainer::predict_all;
use tuning::{Task, Trainer, TrainingArgs, TrainingFlags};

#[derive(Parser)]
#[command(
    name = "qa",
    about = "Extractive question answering (SQuAD v1.1/v2.0): fine-tune, evaluate, predict, score"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a pretrained encoder (defaults: all-MiniLM-L6-v2 on the sample data).
    Train(Box<TrainCmd>),
    /// Official scores of a fine-tuned model on a dataset (JSON, also in the run dir, with
    /// the predictions).
    Eval(EvalCmd),
    /// Answer questions: predictions.json ({id: answer}) and nbest_predictions.json.
    Predict(PredictCmd),
    /// Official exact match and F1 of a predictions file ({id: answer}) on a dataset file.
    Score(ScoreCmd),
}

/// How questions become windows and windows become answers (run_qa's options).
#[derive(Args, Clone, Copy)]
struct SpanArgs {
    /// Context tokens shared by consecutive windows of a long context.
    #[arg(long, default_value_t = 128)]
    doc_stride: usize,
    /// Questions longer than this many tokens are cut to it.
    #[arg(long, default_value_t = 64)]
    max_query_length: usize,
    /// Start and end candidates per window, and answers kept in the n-best list.
    #[arg(long, default_value_t = 20)]
    n_best_size: usize,
    /// Longest answer in tokens.
    #[arg(long, default_value_t = 30)]
    max_answer_length: usize,
    /// v2.0: answer "" when null score - best span score exceeds this.
    #[arg(long, default_value_t = 0.0)]
    null_score_diff_threshold: f64,
}

impl SpanArgs {
    fn settings(&self, version_2_with_negative: bool) -> Settings {
        Settings {
            doc_stride: self.doc_stride,
            max_query_length: self.max_query_length,
            n_best_size: self.n_best_size,
            max_answer_length: self.max_answer_length,
            version_2_with_negative,
            null_score_diff_threshold: self.null_score_diff_threshold,
        }
    }
}

#[derive(Args)]
struct TrainCmd {
    /// Pretrained model directory (default: data/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training data (default: data/qa/train.jsonl).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation data (default: data/qa/validation.jsonl).
    #[arg(long)]
    validation: Option<PathBuf>,
    #[command(flatten)]
    span: SpanArgs,
    #[command(flatten)]
    flags: TrainingFlags,
}

#[derive(Args)]
struct InferenceCmd {
    /// A run directory written by `qa train`.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Window length in tokens (default: the one the model was trained with).
    #[arg(long)]
    max_seq_length: Option<usize>,
    /// Arithmetic of the linear layers' products: f32 (the default) or f16 (CPUs with
    /// AVX512-FP16; BENCHMARKS.md "f16 inference").
    #[arg(long, value_enum, default_value = "f32")]
    precision: encoder::kernels::Precision,
}

#[derive(Args)]
struct EvalCmd {
    #[command(flatten)]
    run: InferenceCmd,
    /// The dataset (SQuAD JSON, .json.gz, or JSONL).
    #[arg(long)]
    data: PathBuf,
}

#[derive(Args)]
struct PredictCmd {
    #[command(flatten)]
    run: InferenceCmd,
    /// Questions (SQuAD JSON, .json.gz, or JSONL; answers optional).
    #[arg(long)]
    input: PathBuf,
    /// Where predictions.json and nbest_predictions.json go (written atomically).
    #[arg(long)]
    output_dir: PathBuf,
    /// Also write window_logits.jsonl: every window's input ids and start/end logits (for
    /// comparing with transformers, scripts/check-qa-export.py).
    #[arg(long)]
    logits: bool,
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
    encoder::allocator::keep_freed_memory();
    tuning::cli::exit_on_error("qa", run(Cli::parse()));
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

/// run_qa's defaults (its README's BERT recipe), under the config file and flags.
fn task_defaults() -> serde_json::Value {
    json!({
        "output_dir": "runs/qa",
        "learning_rate": 3e-5,
        "num_train_epochs": 2.0,
        "per_device_train_batch_size": 12,
        "per_device_eval_batch_size": 64,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "logging_steps": 10,
        "max_seq_length": 384,
    })
}

/// Loads a dataset and says what the loader found (mismatched offsets, long questions).
fn load_examples(path: &Path, task_name: &str) -> Result<(Vec<Example>, bool)> {
    let (examples, report) = data::load(path)?;
    if !report.mismatched.is_empty() {
        let ids: Vec<&str> = report
            .mismatched
            .iter()
            .map(|m| m.0.as_str())
            .take(10)
            .collect();
        eprintln!(
            "{task_name}: {} answer(s) in {} are not at their offsets and are not used for              training (scores use the texts): {}{}",
            report.mismatched.len(),
            path.display(),
            ids.join(", "),
            if report.mismatched.len() > 10 {
                ", ..."
            } else {
                ""
            }
        );
    }
    let v2 = report.is_v2(&examples);
    Ok((examples, v2))
}

fn train(cmd: TrainCmd) -> Result<()> {
    let args = TrainingArgs::resolve(task_defaults(), &cmd.flags)?;
    let train_path = cmd
        .train
        .unwrap_or_else(|| sample_file("data/qa/train.jsonl"));
    let validation_path = cmd
        .validation
        .unwrap_or_else(|| sample_file("data/qa/validation.jsonl"));
    let (train, train_v2) = load_examples(&train_path, "qa")?;
    let (validation, validation_v2) = load_examples(&validation_path, "qa")?;
    let unusable = train
        .iter()
        .filter(|e| !e.is_impossible && e.answers.is_empty())
        .count();
    let task = QaTask {
        settings: cmd.span.settings(train_v2 || validation_v2),
    };
    eprintln!(
        "qa: {} training questions from {} ({unusable} without a usable answer), {} validation from {}; SQuAD {}",
        train.len(),
        train_path.display(),
        validation.len(),
        validation_path.display(),
        if task.settings.version_2_with_negative {
            "v2.0 (with unanswerable questions)"
        } else {
            "v1.1"
        }
    );
    let trainer = Trainer {
        task: &task,
        args,
        model_dir: cmd.model.unwrap_or_else(encoder::default_model_dir),
        resume: cmd.flags.resume,
    };
    let summary = trainer.train(&train, Some(&validation))?;
    tuning::cli::print_summary(&trainer.args, &summary)
}

fn load_task(dir: &Path) -> Result<(QaTask, usize)> {
    let path = dir.join("config.json");
    let config = encoder::EncoderConfig::from_file(&path)?;
    let settings = config
        .extra
        .get("finetune_qa")
        .ok_or_else(|| anyhow!("{}: no `finetune_qa` entry; not a qa model", path.display()))?;
    let settings: Settings = serde_json::from_value(settings.clone())
        .map_err(|e| anyhow!("{}: finetune_qa: {e}", path.display()))?;
    let args = dir.join("training_args.json");
    let trained_len = std::fs::read_to_string(&args)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["max_seq_length"].as_u64())
        .unwrap_or(384) as usize;
    Ok((QaTask { settings }, trained_len))
}

/// Answers for every question.
/// The model's answers, and what it saw: every window with its start and end logits.
struct Answers {
    task: QaTask,
    predictions: Vec<Prediction>,
    features: Vec<qa::task::Feature>,
    logits: Vec<qa::task::SpanLogits>,
}

fn answer(run: &InferenceCmd, examples: &[Example]) -> Result<Answers> {
    if run.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    encoder::kernels::set_inference_precision(run.precision)?;
    let (task, trained_len) = load_task(&run.model)?;
    let device = encoder::default_device();
    let (model, config, tokenizer) = load_task_model(&task, &run.model, &device)?;
    let max_len = tuning::run_dir::fit_max_len(run.max_seq_length.unwrap_or(trained_len), &config);
    let features = task.featurize(examples, &tokenizer, max_len)?;
    let outputs = predict_all(&task, &model, &features, run.batch_size, &device);
    let predictions = task.postprocess(examples, &features, &outputs);
    Ok(Answers {
        task,
        predictions,
        features,
        logits: outputs,
    })
}

fn write_predictions(dir: &Path, examples: &[Example], predictions: &[Prediction]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let answers: serde_json::Map<String, serde_json::Value> = examples
        .iter()
        .zip(predictions)
        .map(|(e, p)| (e.id.clone(), json!(p.text)))
        .collect();
    let nbest: serde_json::Map<String, serde_json::Value> = examples
        .iter()
        .zip(predictions)
        .map(|(e, p)| (e.id.clone(), json!(p.nbest)))
        .collect();
    for (name, value) in [
        ("predictions.json", answers),
        ("nbest_predictions.json", nbest),
    ] {
        let path = dir.join(name);
        encoder::fsutil::write_atomic(&path, serde_json::to_string_pretty(&value)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn eval(cmd: EvalCmd) -> Result<()> {
    let (examples, v2) = load_examples(&cmd.data, "qa")?;
    let Answers {
        task, predictions, ..
    } = answer(&cmd.run, &examples)?;
    let by_id: HashMap<String, String> = examples
        .iter()
        .zip(&predictions)
        .map(|(e, p)| (e.id.clone(), p.text.clone()))
        .collect();
    let report = metrics::score(
        &examples,
        &by_id,
        v2 || task.settings.version_2_with_negative,
        None,
        1.0,
    );
    let value = json!({"data": cmd.data, "report": report});
    let stem = file_stem(&cmd.data);
    let stem = stem.strip_suffix(".json").unwrap_or(&stem).to_string();
    write_predictions(
        &cmd.run.model.join(format!("predictions_{stem}")),
        &examples,
        &predictions,
    )?;
    let path = cmd.run.model.join(format!("eval_{stem}.json"));
    encoder::fsutil::write_atomic(&path, serde_json::to_string_pretty(&value)?.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn predict(cmd: PredictCmd) -> Result<()> {
    let (examples, _) = load_examples(&cmd.input, "qa")?;
    let answers = answer(&cmd.run, &examples)?;
    let predictions = &answers.predictions;
    write_predictions(&cmd.output_dir, &examples, predictions)?;
    if cmd.logits {
        let mut lines = String::new();
        for (feature, (starts, ends)) in answers.features.iter().zip(&answers.logits) {
            let record = json!({
                "id": examples[feature.example].id,
                "input_ids": feature.window.input_ids,
                "start_logits": starts,
                "end_logits": ends,
            });
            lines.push_str(&record.to_string());
            lines.push('\n');
        }
        let path = cmd.output_dir.join("window_logits.jsonl");
        encoder::fsutil::write_atomic(&path, lines.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "qa: {} answers written to {}",
        predictions.len(),
        cmd.output_dir.join("predictions.json").display()
    );
    Ok(())
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

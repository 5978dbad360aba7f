//! `relation`: fine-tune, evaluate and apply relation classifiers (SemEval-2010 Task 8 and
//! JSONL data with two entity spans), and score answer keys with the official definition.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use relation::data::{self, Example};
use relation::head::Head;
use relation::markers::Markers;
use relation::metrics::{self, Report};
use relation::task::{self as relation_task, RelationTask, argmax};
use serde_json::json;
use tuning::cli::{InferenceArgs, file_stem};
use tuning::run_dir::load_task_model;
use tuning::sampler::SplitMix64;
use tuning::trainer::predict_all;
use tuning::{Task, Trainer, TrainingArgs, TrainingFlags};

#[derive(Parser)]
#[command(
    name = "relation",
    about = "Relation classification: fine-tune, evaluate, predict, score (SemEval-2010 Task 8)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a pretrained encoder (defaults: all-MiniLM-L6-v2 on the sample data).
    Train(Box<TrainCmd>),
    /// Score a fine-tuned model on labelled data: the official figures as JSON on stdout and
    /// in the run dir, and the confusion matrix as a PNG.
    Eval(EvalCmd),
    /// Classify new sentences: the official answer-key format (`ID<TAB>Relation`) or JSONL.
    Predict(PredictCmd),
    /// The official SemEval-2010 Task 8 figures from a gold key (or data file) and a
    /// predictions key.
    Score(ScoreCmd),
}

#[derive(Args)]
struct TrainCmd {
    /// Pretrained model directory (default: data/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training data: SemEval-2010 Task 8 format or JSONL (default: data/relation/train.txt).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation data (default: data/relation/validation.txt, unless --holdout is given).
    #[arg(long)]
    validation: Option<PathBuf>,
    /// Hold out this fraction of the training data (seeded) for validation instead of a
    /// validation file, e.g. 0.1.
    #[arg(long, conflicts_with = "validation")]
    holdout: Option<f64>,
    /// The head: entity-start, cls (BertForSequenceClassification) or rbert.
    #[arg(long, default_value = "entity-start")]
    head: Head,
    /// Entity markers: unused ([unused0-3]), punct ($ e1 $, # e2 #) or four tokens.
    #[arg(long, default_value = "unused")]
    markers: Markers,
    #[command(flatten)]
    flags: TrainingFlags,
}

#[derive(Args)]
struct EvalCmd {
    /// A run directory written by `relation train`.
    #[arg(long)]
    model: PathBuf,
    /// Labelled data (SemEval-2010 Task 8 format or JSONL).
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct PredictCmd {
    /// A run directory written by `relation train`.
    #[arg(long)]
    model: PathBuf,
    /// Sentences with marked entities (SemEval-2010 Task 8 format, labels optional) or JSONL.
    #[arg(long)]
    input: PathBuf,
    /// `key` (ID<TAB>Relation, the official scorer's input) or `jsonl` (label, score,
    /// probabilities).
    #[arg(long, default_value = "key")]
    format: String,
    /// Write here (atomically) instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct ScoreCmd {
    /// The answer key (ID<TAB>Relation), or a labelled data file.
    #[arg(long)]
    gold: PathBuf,
    /// Predictions in the answer-key format; ids may be a subset (the rest count as skipped).
    #[arg(long)]
    predictions: PathBuf,
    /// The label left out of the macro average.
    #[arg(long, default_value = data::OTHER)]
    other_label: String,
}

fn main() {
    encoder::allocator::keep_freed_memory();
    tuning::cli::exit_on_error("relation", run(Cli::parse()));
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

/// The task defaults (R-BERT / Matching-the-Blanks-style fine-tuning), under the config file
/// and flags.
fn task_defaults() -> serde_json::Value {
    json!({
        "output_dir": "runs/relation",
        "learning_rate": 5e-5,
        "num_train_epochs": 5.0,
        "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "logging_steps": 10,
        "max_seq_length": 128,
    })
}

/// Splits off a seeded random `fraction` of `examples` for validation.
fn hold_out(
    examples: Vec<Example>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<Example>, Vec<Example>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        bail!("--holdout must be between 0 and 1, got {fraction}");
    }
    let count = ((examples.len() as f64) * fraction).round() as usize;
    if count == 0 || count == examples.len() {
        bail!("--holdout {fraction} leaves no training or no validation examples");
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    SplitMix64::new(seed ^ 0x5EE_D0F4_01D0_u64).shuffle(&mut order);
    let held: std::collections::HashSet<usize> = order[..count].iter().copied().collect();
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (i, example) in examples.into_iter().enumerate() {
        if held.contains(&i) {
            validation.push(example);
        } else {
            train.push(example);
        }
    }
    Ok((train, validation))
}

fn train(cmd: TrainCmd) -> Result<()> {
    let args = TrainingArgs::resolve(task_defaults(), &cmd.flags)?;
    let train_path = cmd
        .train
        .unwrap_or_else(|| sample_file("data/relation/train.txt"));
    let all = data::load(&train_path, true)?;
    let (train, validation, validation_name) = match cmd.holdout {
        Some(fraction) => {
            let (train, validation) = hold_out(all, fraction, args.seed)?;
            let name = format!(
                "{fraction} of {} (seed {})",
                train_path.display(),
                args.seed
            );
            (train, validation, name)
        }
        None => {
            let path = cmd
                .validation
                .unwrap_or_else(|| sample_file("data/relation/validation.txt"));
            (all, data::load(&path, true)?, path.display().to_string())
        }
    };
    let labels = data::label_names(
        train
            .iter()
            .chain(&validation)
            .filter_map(|e| e.label.as_deref()),
    );
    let task = RelationTask::new(labels, cmd.head, cmd.markers);
    eprintln!(
        "relation: {} training examples from {}, {} validation from {}; {} labels; head {}, \
         markers {}",
        train.len(),
        train_path.display(),
        validation.len(),
        validation_name,
        task.labels.len(),
        task.head,
        task.markers
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

fn load_task(dir: &Path) -> Result<RelationTask> {
    let config_path = dir.join("config.json");
    let config = encoder::EncoderConfig::from_file(&config_path)?;
    relation_task::from_config(&config, &config_path)
}

/// Logits for every example, in order.
fn run_model(
    dir: &Path,
    examples: &[Example],
    inference: InferenceArgs,
) -> Result<(RelationTask, Vec<Vec<f32>>)> {
    inference.apply()?;
    let task = load_task(dir)?;
    let device = encoder::default_device();
    let (model, config, tokenizer) = load_task_model(&task, dir, &device)?;
    let max_len = tuning::run_dir::fit_max_len(inference.max_seq_length, &config);
    let unlabelled: Vec<Example> = examples
        .iter()
        .map(|e| Example {
            label: None,
            ..e.clone()
        })
        .collect();
    let features = task.featurize(&unlabelled, &tokenizer, max_len)?;
    let logits = predict_all(&task, &model, &features, inference.batch_size, &device);
    Ok((task, logits))
}

fn write_report(dir: &Path, stem: &str, report: &Report, value: &serde_json::Value) -> Result<()> {
    std::fs::create_dir_all(dir.join("plots"))?;
    tuning::plot::heat_map(
        &dir.join("plots").join(format!("confusion_{stem}.png")),
        &format!("CONFUSION: {stem}"),
        &report.labels,
        &report.confusion,
    )?;
    let path = dir.join(format!("eval_{stem}.json"));
    encoder::fsutil::write_atomic(&path, serde_json::to_string_pretty(value)?.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn eval(cmd: EvalCmd) -> Result<()> {
    let examples = data::load(&cmd.data, true)?;
    let task = load_task(&cmd.model)?;
    // Unknown gold labels fail before the model runs, with their line.
    for example in &examples {
        task.label_id(example)?;
    }
    let (task, logits) = run_model(&cmd.model, &examples, cmd.inference)?;
    let gold: Vec<&str> = examples
        .iter()
        .map(|e| e.label.as_deref().unwrap())
        .collect();
    let predicted: Vec<Option<&str>> = logits
        .iter()
        .map(|l| Some(task.labels[argmax(l)].as_str()))
        .collect();
    let report = metrics::score(&gold, &predicted, &task.other);
    let value = json!({"data": cmd.data, "report": report});
    write_report(&cmd.model, &file_stem(&cmd.data), &report, &value)?;
    eprintln!("{}", official_line(&report));
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn official_line(report: &Report) -> String {
    format!(
        "official score ((9+1)-way, direction taken into account): macro-F1 = {:.2}%",
        100.0 * report.official_macro_f1
    )
}

fn predict(cmd: PredictCmd) -> Result<()> {
    let examples = data::load(&cmd.input, false)?;
    let (task, logits) = run_model(&cmd.model, &examples, cmd.inference)?;
    let mut out = Vec::new();
    match cmd.format.as_str() {
        "key" => {
            for (example, logits) in examples.iter().zip(&logits) {
                writeln!(out, "{}\t{}", example.id, task.labels[argmax(logits)])?;
            }
        }
        "jsonl" => {
            for (example, logits) in examples.iter().zip(&logits) {
                let probs = tuning::task::softmax(logits);
                let best = argmax(logits);
                let per_label: serde_json::Map<String, serde_json::Value> = task
                    .labels
                    .iter()
                    .zip(&probs)
                    .map(|(n, p)| (n.clone(), json!(p)))
                    .collect();
                let record = json!({
                    "id": example.id,
                    "label": task.labels[best],
                    "score": probs[best],
                    "e1": example.entity_text(example.e1),
                    "e2": example.entity_text(example.e2),
                    "probabilities": per_label,
                    "logits": logits,
                });
                writeln!(out, "{record}")?;
            }
        }
        other => bail!("unknown --format `{other}` (key, jsonl)"),
    }
    match &cmd.output {
        Some(path) => encoder::fsutil::write_atomic(path, &out)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

/// Refuses a relation named without its direction on one side (`Cause-Effect`) and with it on
/// the other (`Cause-Effect(e2,e1)`): every such answer would count as wrong and the official
/// score would read 0% with no hint why. Some SemEval copies ship an undirected
/// TEST_FILE_KEY.TXT; the directed key is in the label lines of TEST_FILE_FULL.TXT.
fn check_directions(
    cmd: &ScoreCmd,
    gold: &[(String, String, String)],
    predictions: &[(String, String, usize)],
) -> Result<()> {
    let name = cmd.predictions.display();
    let gold: Vec<(&str, String)> = gold
        .iter()
        .map(|(_, l, at)| (l.as_str(), at.clone()))
        .collect();
    let predicted: Vec<(&str, String)> = predictions
        .iter()
        .map(|(_, l, line)| (l.as_str(), format!("{name}:{line}")))
        .collect();
    for (one, other) in [(&gold, &predicted), (&predicted, &gold)] {
        // The first directed label of `other` for each relation, by its undirected name.
        let mut directed: HashMap<&str, &(&str, String)> = HashMap::new();
        for entry in other.iter() {
            let relation = metrics::undirected(entry.0);
            if relation != entry.0 {
                directed.entry(relation).or_insert(entry);
            }
        }
        if let Some(((label, at), (with, with_at))) = one
            .iter()
            .find_map(|entry| directed.get(entry.0).map(|found| (entry, *found)))
        {
            bail!(
                "{at}: label `{label}` has no direction, but {with_at} has `{with}`: the \
                 official score needs the direction on both sides (a SemEval key without \
                 directions can be rebuilt from the label lines of TEST_FILE_FULL.TXT, or \
                 pass that file as --gold)"
            );
        }
    }
    Ok(())
}

fn score(cmd: ScoreCmd) -> Result<()> {
    let gold: Vec<(String, String, String)> = if data::is_dataset(&cmd.gold)? {
        data::load(&cmd.gold, true)?
            .into_iter()
            .map(|e| (e.id, e.label.unwrap(), e.source))
            .collect()
    } else {
        let name = cmd.gold.display();
        data::read_key(&cmd.gold)?
            .into_iter()
            .map(|(id, label, line)| (id, label, format!("{name}:{line}")))
            .collect()
    };
    let predictions = data::read_key(&cmd.predictions)?;
    check_directions(&cmd, &gold, &predictions)?;
    let gold_ids: std::collections::HashSet<&str> =
        gold.iter().map(|(id, _, _)| id.as_str()).collect();
    // As the official scorer: a predicted id missing from the key is an error.
    if let Some((id, _, line)) = predictions
        .iter()
        .find(|(id, _, _)| !gold_ids.contains(id.as_str()))
    {
        bail!(
            "{}:{line}: id {id} is not in the gold key {}",
            cmd.predictions.display(),
            cmd.gold.display()
        );
    }
    let by_id: std::collections::HashMap<&str, &str> = predictions
        .iter()
        .map(|(id, label, _)| (id.as_str(), label.as_str()))
        .collect();
    let gold_labels: Vec<&str> = gold.iter().map(|(_, l, _)| l.as_str()).collect();
    let predicted: Vec<Option<&str>> = gold
        .iter()
        .map(|(id, _, _)| by_id.get(id.as_str()).copied())
        .collect();
    let report = metrics::score(&gold_labels, &predicted, &cmd.other_label);
    if report.skipped == report.examples {
        return Err(anyhow!(
            "{}: no prediction for any id of {}",
            cmd.predictions.display(),
            cmd.gold.display()
        ));
    }
    eprintln!("{}", official_line(&report));
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

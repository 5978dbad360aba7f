//! `ner`: fine-tune, evaluate and apply named-entity taggers (CoNLL-2003 and any CoNLL-style
//! or JSONL data), and score conlleval-format files.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use ner::data::{self, Columns, Normalized, Sentence, Violations};
use ner::metrics::{self, Mode, Report};
use ner::scheme::Scheme;
use ner::task::NerTask;
use serde_json::json;
use tuning::cli::{InferenceArgs, file_stem};
use tuning::run_dir::load_task_model;
use tuning::trainer::predict_all;
use tuning::{Task, Trainer, TrainingArgs, TrainingFlags};

#[derive(Parser)]
#[command(
    name = "ner",
    about = "Named-entity recognition: fine-tune, evaluate, predict, score (CoNLL-2003)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fine-tune a pretrained encoder (defaults: all-MiniLM-L6-v2 on the sample data).
    Train(Box<TrainCmd>),
    /// Entity-level scores of a fine-tuned model on tagged data (JSON, also in the run dir).
    Eval(EvalCmd),
    /// Tag CoNLL/JSONL files (conlleval lines `token gold predicted`) or raw text lines
    /// (JSONL entities with character offsets).
    Predict(PredictCmd),
    /// Entity-level scores of a conlleval-format file (`token ... gold predicted`).
    Score(ScoreCmd),
}

#[derive(Args, Clone, Copy)]
struct DataArgs {
    /// Column of the word in CoNLL-style files (from 1).
    #[arg(long, default_value_t = 1)]
    token_column: usize,
    /// Column of the tag (from 1; default: the last column).
    #[arg(long)]
    tag_column: Option<usize>,
    /// Tag scheme of the files: iob1, iob2 or bioes (default: detected).
    #[arg(long)]
    scheme: Option<Scheme>,
    /// Tags that break the scheme but have one reading (an entity started with IOB1 `B-`
    /// after `O`, IOB2 `I-` after `O`, an unclosed BIOES entity): `repair` reads them as
    /// conlleval does and warns with each line; `error` refuses the file.
    #[arg(long, default_value = "repair")]
    scheme_violations: Violations,
}

impl DataArgs {
    fn columns(&self) -> Result<Columns> {
        if self.token_column == 0 || self.tag_column == Some(0) {
            bail!("columns are numbered from 1");
        }
        Ok(Columns {
            token: self.token_column - 1,
            tag: self.tag_column.map(|c| c - 1),
        })
    }

    /// Loads tagged sentences with their tags checked and converted to IOB2.
    fn load_tagged(&self, path: &Path) -> Result<(Vec<Sentence>, Normalized)> {
        let mut sentences = data::load(path, self.columns()?, true)?;
        let normalized = self.normalize(&mut sentences, path)?;
        Ok((sentences, normalized))
    }

    /// Checks and converts the tags, with a warning for each repaired violation.
    fn normalize(&self, sentences: &mut [Sentence], path: &Path) -> Result<Normalized> {
        let normalized =
            data::normalize_tags(sentences, self.scheme, self.scheme_violations, path)?;
        for warning in &normalized.repaired {
            eprintln!("ner: warning: {warning}");
        }
        Ok(normalized)
    }
}

#[derive(Args)]
struct TrainCmd {
    /// Pretrained model directory (default: data/models/all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training data (default: data/ner/train.conll).
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation data (default: data/ner/validation.conll).
    #[arg(long)]
    validation: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Label every sub-token of a word (B- becomes I- after the first), as run_ner's
    /// --label_all_tokens; by default only first sub-tokens carry labels.
    #[arg(long)]
    label_all_tokens: bool,
    /// Fill each window with the neighbouring sentences of the same document.
    #[arg(long)]
    document_context: bool,
    /// Sub-tokens shared by consecutive windows of a sentence longer than max_seq_length.
    #[arg(long, default_value_t = 32)]
    doc_stride: usize,
    /// Select the best checkpoint on strict IOB2 F1 instead of conlleval F1.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    flags: TrainingFlags,
}

#[derive(Args)]
struct EvalCmd {
    /// A run directory written by `ner train`.
    #[arg(long)]
    model: PathBuf,
    /// Tagged data.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    columns: DataArgs,
    /// Strict IOB2 entities instead of conlleval's reading.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct PredictCmd {
    /// A run directory written by `ner train`.
    #[arg(long)]
    model: PathBuf,
    /// CoNLL-style or JSONL sentences, or with --text one raw text per line (`-` = stdin).
    #[arg(long)]
    input: PathBuf,
    /// The input is raw text, one document per line: write JSONL entities.
    #[arg(long)]
    text: bool,
    /// For CoNLL/JSONL input: `conll` (conlleval lines) or `logits` (JSONL per sentence: the
    /// logits of each word's first sub-token, for comparing with other implementations).
    #[arg(long, default_value = "conll")]
    format: String,
    /// Write here (atomically) instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    columns: DataArgs,
    #[command(flatten)]
    inference: InferenceArgs,
}

#[derive(Args)]
struct ScoreCmd {
    /// conlleval-format predictions: the last two columns are gold and predicted (or, with
    /// --gold, the last column is the prediction).
    #[arg(long)]
    predictions: PathBuf,
    /// A tagged CoNLL file with the gold tags, line by line with the predictions.
    #[arg(long)]
    gold: Option<PathBuf>,
    /// Strict IOB2 entities instead of conlleval's reading.
    #[arg(long)]
    strict: bool,
}

fn main() {
    encoder::allocator::keep_freed_memory();
    tuning::cli::exit_on_error("ner", run(Cli::parse()));
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

fn mode(strict: bool) -> Mode {
    if strict {
        Mode::Strict
    } else {
        Mode::Conlleval
    }
}

/// run_ner-style defaults, under the config file and flags.
fn task_defaults() -> serde_json::Value {
    json!({
        "output_dir": "runs/ner",
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
        .unwrap_or_else(|| sample_file("data/ner/train.conll"));
    let validation_path = cmd
        .validation
        .unwrap_or_else(|| sample_file("data/ner/validation.conll"));
    let (train, normalized) = cmd.data.load_tagged(&train_path)?;
    let scheme = normalized.scheme;
    let (validation, _) = cmd.data.load_tagged(&validation_path)?;
    let task = NerTask {
        labels: NerTask::labels_for(train.iter()),
        label_all_tokens: cmd.label_all_tokens,
        document_context: cmd.document_context,
        doc_stride: cmd.doc_stride,
        mode: mode(cmd.strict),
    };
    eprintln!(
        "ner: {} training sentences from {} (scheme {scheme}, trained as iob2), {} validation \
         from {}; labels: {}",
        train.len(),
        train_path.display(),
        validation.len(),
        validation_path.display(),
        task.labels.join(" ")
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

fn load_task(dir: &Path, mode: Mode) -> Result<NerTask> {
    let path = dir.join("config.json");
    let config = encoder::EncoderConfig::from_file(&path)?;
    let at = path.display();
    let settings = config
        .extra
        .get("finetune_ner")
        .ok_or_else(|| anyhow!("{at}: no `finetune_ner` entry; not an ner model"))?;
    let labels = tuning::labels::read(&config, &path)?;
    Ok(NerTask {
        labels,
        label_all_tokens: settings["label_all_tokens"].as_bool().unwrap_or(false),
        document_context: settings["document_context"].as_bool().unwrap_or(false),
        doc_stride: settings["doc_stride"].as_u64().unwrap_or(32) as usize,
        mode,
    })
}

/// Runs the model of run `dir` over `sentences`.
fn tag(dir: &Path, sentences: &[Sentence], inference: InferenceArgs, mode: Mode) -> Result<Tagged> {
    inference.apply()?;
    let task = load_task(dir, mode)?;
    let device = encoder::default_device();
    let (model, config, tokenizer) = load_task_model(&task, dir, &device)?;
    let max_len = tuning::run_dir::fit_max_len(inference.max_seq_length, &config);
    let untagged: Vec<Sentence> = sentences
        .iter()
        .map(|s| Sentence {
            tags: None,
            ..s.clone()
        })
        .collect();
    let features = task.featurize(&untagged, &tokenizer, max_len)?;
    let outputs = predict_all(&task, &model, &features, inference.batch_size, &device);
    let tags = task.merge(sentences, &features, &outputs);
    let logits = task
        .word_logits(sentences, &features, &outputs)
        .into_iter()
        .map(|words| words.into_iter().map(|w| w.map(<[f32]>::to_vec)).collect())
        .collect();
    Ok(Tagged { task, tags, logits })
}

/// What the model says about every word of every sentence.
struct Tagged {
    task: NerTask,
    /// One IOB2 tag per word.
    tags: Vec<Vec<String>>,
    /// The logits of each word's first sub-token (`None` for a word without sub-tokens).
    logits: Vec<Vec<Option<Vec<f32>>>>,
}

fn eval(cmd: EvalCmd) -> Result<()> {
    let (sentences, normalized) = cmd.columns.load_tagged(&cmd.data)?;
    let task = load_task(&cmd.model, mode(cmd.strict))?;
    // Unknown gold tags fail before the model runs, with their line.
    for s in &sentences {
        for (t, line) in s.tags.iter().flatten().zip(&s.lines) {
            if !task.labels.contains(t) {
                bail!(
                    "{}:{line}: unknown tag `{t}` (the model knows: {})",
                    cmd.data.display(),
                    task.labels.join(", ")
                );
            }
        }
    }
    let predicted = tag(&cmd.model, &sentences, cmd.inference, mode(cmd.strict))?.tags;
    let gold: Vec<Vec<String>> = sentences.iter().map(|s| s.tags.clone().unwrap()).collect();
    let report = metrics::score(&gold, &predicted, mode(cmd.strict));
    let value = json!({"data": cmd.data, "scheme": normalized.scheme.to_string(), "repaired_tags": normalized.repaired.len(), "sentences": sentences.len(), "report": report});
    let text = serde_json::to_string_pretty(&value)?;
    let path = cmd
        .model
        .join(format!("eval_{}.json", file_stem(&cmd.data)));
    encoder::fsutil::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{text}");
    Ok(())
}

/// Splits raw text into words (whitespace, and every punctuation character on its own, as
/// BERT's basic tokenizer) with character offsets.
pub fn split_words(text: &str) -> Vec<(String, usize, usize)> {
    let mut words = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace()
            || c.is_ascii_punctuation()
            || (!c.is_alphanumeric() && !c.is_whitespace())
        {
            if let Some((w, start)) = current.take() {
                let end = start + w.chars().count();
                words.push((w, start, end));
            }
            if !c.is_whitespace() {
                words.push((c.to_string(), i, i + 1));
            }
        } else {
            match &mut current {
                Some((w, _)) => w.push(c),
                None => current = Some((c.to_string(), i)),
            }
        }
    }
    if let Some((w, start)) = current {
        let end = start + w.chars().count();
        words.push((w, start, end));
    }
    words
}

fn read_text_lines(path: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if path == Path::new("-") {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            lines.push(line.with_context(|| format!("stdin:{}: cannot read", i + 1))?);
        }
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
        lines.extend(text.lines().map(str::to_string));
    }
    Ok(lines)
}

fn predict(cmd: PredictCmd) -> Result<()> {
    let mut out = Vec::new();
    if cmd.text {
        let lines = read_text_lines(&cmd.input)?;
        let mut sentences = Vec::new();
        let mut spans = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let words = split_words(line);
            if words.is_empty() {
                continue;
            }
            sentences.push(Sentence {
                words: words.iter().map(|w| w.0.clone()).collect(),
                original_tags: None,
                tags: None,
                lines: vec![i + 1; words.len()],
                document: sentences.len(),
                source: format!("{}:{}", cmd.input.display(), i + 1),
            });
            spans.push((i, words));
        }
        if sentences.is_empty() {
            bail!("{}: no text", cmd.input.display());
        }
        let predicted = tag(&cmd.model, &sentences, cmd.inference, Mode::Conlleval)?.tags;
        for ((line, words), tags) in spans.iter().zip(&predicted) {
            let text = &lines[*line];
            let mut found: Vec<_> = metrics::conlleval_entities(std::slice::from_ref(tags))
                .into_iter()
                .collect();
            found.sort_by_key(|e| e.1);
            let entities: Vec<serde_json::Value> = found
                .into_iter()
                .map(|(kind, first, last)| {
                    let (start, end) = (words[first].1, words[last].2);
                    let surface: String = text.chars().skip(start).take(end - start).collect();
                    json!({"type": kind, "text": surface, "start": start, "end": end})
                })
                .collect();
            writeln!(
                out,
                "{}",
                json!({"line": line + 1, "text": text, "entities": entities})
            )?;
        }
    } else {
        let columns = cmd.columns.columns()?;
        // Gold tags are optional in prediction input: read them when every line has them.
        let sentences = match data::load(&cmd.input, columns, true) {
            Ok(mut tagged) if tagged.iter().all(|s| s.original_tags.is_some()) => {
                cmd.columns.normalize(&mut tagged, &cmd.input)?;
                tagged
            }
            _ => data::load(&cmd.input, columns, false)?,
        };
        let tagged = tag(&cmd.model, &sentences, cmd.inference, Mode::Conlleval)?;
        match cmd.format.as_str() {
            "conll" => {
                for (sentence, tags) in sentences.iter().zip(&tagged.tags) {
                    for (i, (word, tag)) in sentence.words.iter().zip(tags).enumerate() {
                        match &sentence.original_tags {
                            Some(gold) => writeln!(out, "{word} {} {tag}", gold[i])?,
                            None => writeln!(out, "{word} {tag}")?,
                        }
                    }
                    writeln!(out)?;
                }
            }
            "logits" => {
                for (sentence, logits) in sentences.iter().zip(&tagged.logits) {
                    let record = json!({
                        "words": sentence.words,
                        "labels": tagged.task.labels,
                        "logits": logits,
                    });
                    writeln!(out, "{record}")?;
                }
            }
            other => bail!("unknown --format `{other}` (conll, logits)"),
        }
    }
    match &cmd.output {
        Some(path) => encoder::fsutil::write_atomic(path, &out)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&out)?,
    }
    Ok(())
}

/// One tag sequence per sentence.
type TagSequences = Vec<Vec<String>>;

/// Sentences of (gold, predicted) tags from a conlleval-format file.
fn read_conlleval(path: &Path, gold_from: Option<&Path>) -> Result<(TagSequences, TagSequences)> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let gold_lines: Option<Vec<String>> = match gold_from {
        Some(g) => Some(
            std::fs::read_to_string(g)
                .with_context(|| format!("cannot read {}", g.display()))?
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        None => None,
    };
    let (mut gold, mut predicted) = (vec![Vec::new()], vec![Vec::new()]);
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "-DOCSTART-" {
            if !gold.last().unwrap().is_empty() {
                gold.push(Vec::new());
                predicted.push(Vec::new());
            }
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let (g, p) = match &gold_lines {
            Some(lines) => {
                let other = lines
                    .get(i)
                    .map(|l| l.split_whitespace().collect::<Vec<_>>());
                let Some(other) = other.filter(|o| !o.is_empty() && o[0] == fields[0]) else {
                    bail!(
                        "{at}: the gold file has no token `{}` on this line",
                        fields[0]
                    );
                };
                (
                    other[other.len() - 1].to_string(),
                    fields[fields.len() - 1].to_string(),
                )
            }
            None => {
                if fields.len() < 3 {
                    bail!("{at}: expected `token ... gold predicted` (at least 3 columns)");
                }
                (
                    fields[fields.len() - 2].to_string(),
                    fields[fields.len() - 1].to_string(),
                )
            }
        };
        for tag in [&g, &p] {
            if ner::scheme::parse(tag).is_none() {
                bail!("{at}: `{tag}` is not a tag (O, or B-/I-/E-/S- and a type)");
            }
        }
        gold.last_mut().unwrap().push(g);
        predicted.last_mut().unwrap().push(p);
    }
    if gold.last().is_some_and(Vec::is_empty) {
        gold.pop();
        predicted.pop();
    }
    if gold.is_empty() {
        bail!("{name}: no tagged lines");
    }
    Ok((gold, predicted))
}

fn score(cmd: ScoreCmd) -> Result<()> {
    let (gold, predicted) = read_conlleval(&cmd.predictions, cmd.gold.as_deref())?;
    let report: Report = metrics::score(&gold, &predicted, mode(cmd.strict));
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

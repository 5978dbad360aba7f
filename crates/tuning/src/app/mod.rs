//! The task application: `train`, `eval`, `predict` and `score` for any task, so that a task
//! binary is its name, its extra flags and one call ([`main`]).
//!
//! The app owns what every task does the same way: the command line (the common flags, the
//! training settings with the task's defaults shown in `--help`, `--config` and `--resume`),
//! loading the pretrained model and training, loading a fine-tuned model back (a run
//! directory or a transformers checkpoint of the task's class, with the trained sequence
//! length), running it in batches, the `eval_<data>.json` file, the confusion-matrix plot and
//! the summaries. A task says, through [`TaskApp`], what differs: how its data files are read,
//! what its report and prediction files hold, and how `score` reads a predictions file.
//!
//! The README's "Adding a task" walks through writing one.

pub mod cli;
pub mod inference;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{ArgMatches, Args, Command, FromArgMatches};
use encoder::Kernels;

pub use cli::{InferenceFlags, OutputFlag};
pub use inference::Inference;

use crate::engine::run_dir::write_json;
use crate::{Task, Trainer, TrainingArgs};

/// What a task binary adds to the engine's [`Task`]: its flags, how it reads its data, and
/// what `eval`, `predict` and `score` write. Implemented in the task's `main.rs` on a unit
/// struct; the flag types are `clap::Args` structs (an empty struct where a task has none:
/// [`NoFlags`]).
pub trait TaskApp {
    /// The task this binary trains and runs.
    type Task: Task;
    /// How the task's data files are read (columns, tag schemes, ...): given to `train`,
    /// `eval` and `predict`.
    type DataFlags: Args;
    /// `train`'s own flags (the head, the markers, ...), besides the training settings.
    type TrainFlags: Args;
    /// `eval`'s own flags.
    type EvalFlags: Args;
    /// `predict`'s own flags (output format and place).
    type PredictFlags: Args;
    /// All of `score`'s flags: it compares a predictions file with a gold file, no model.
    type ScoreFlags: Args;
    /// What `score` prints (as JSON, in its own field order).
    type ScoreReport: serde::Serialize;

    /// The binary's name, as in `name train`.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The sample data `train` defaults to, relative to the repository root.
    const SAMPLE_TRAIN: &'static str;
    const SAMPLE_VALIDATION: &'static str;
    /// What each command does, for `--help`.
    const TRAIN_ABOUT: &'static str =
        "Fine-tune a pretrained encoder (defaults: all-MiniLM-L6-v2 on the sample data).";
    const EVAL_ABOUT: &'static str = "Score a fine-tuned model on labelled data: the metrics as \
         JSON on stdout and in the model directory (eval_<data>.json).";
    const PREDICT_ABOUT: &'static str = "Apply a fine-tuned model to new data.";
    const SCORE_ABOUT: &'static str =
        "Compute the metrics from a gold file and a predictions file.";

    /// The training settings this task starts from (under `--config` and the flags).
    fn defaults() -> TrainingArgs;

    /// Reads the training and validation data and makes the task to train on them (its
    /// labels from the training data, ...). Says on stderr what it read.
    fn prepare(
        files: &TrainFiles,
        data: &Self::DataFlags,
        flags: &Self::TrainFlags,
        args: &TrainingArgs,
    ) -> Result<Prepared<Self::Task>>;

    /// Scores `model` on the labelled data in `data`.
    fn evaluate(
        model: &Inference<Self::Task>,
        data: &Path,
        flags: &Self::DataFlags,
        eval: &Self::EvalFlags,
    ) -> Result<Evaluation>;

    /// Applies `model` to `input` (a file, or `-` for stdin where the task reads it) and
    /// writes the predictions where `predict` says.
    fn predict(
        model: &Inference<Self::Task>,
        input: &Path,
        flags: &Self::DataFlags,
        predict: &Self::PredictFlags,
    ) -> Result<()>;

    /// The metrics of a predictions file against a gold file (printed as JSON).
    fn score(flags: &Self::ScoreFlags) -> Result<Self::ScoreReport>;
}

/// No flags (it may stand for several of a task's flag types at once).
#[derive(Args, Clone, Copy, Debug, Default)]
#[group(skip)]
pub struct NoFlags {}

/// The files a training run starts from: its data (the sample data unless given) and the
/// pretrained model directory.
#[derive(Debug, Clone)]
pub struct TrainFiles {
    pub train: PathBuf,
    pub validation: PathBuf,
    pub model: PathBuf,
}

/// A task ready to train and its data.
pub struct Prepared<T: Task> {
    pub task: T,
    pub train: Vec<T::Example>,
    pub validation: Vec<T::Example>,
}

/// What `eval` found: written to the model directory and printed.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// The report: `eval_<data>.json` in the model directory, and stdout.
    pub report: serde_json::Value,
    /// A confusion matrix to draw as `plots/confusion_<data>.png`: label names, and counts
    /// with gold labels as rows.
    pub confusion: Option<(Vec<String>, Vec<Vec<usize>>)>,
    /// Further files for the model directory (path relative to it, contents).
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// What a training command starts from: the pretrained model, the data and a settings file.
#[derive(Args, Debug)]
struct RunFiles {
    /// Pretrained model directory (default: data/models/all-MiniLM-L6-v2, or $FINETUNE_MODEL).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Training data.
    #[arg(long)]
    train: Option<PathBuf>,
    /// Validation data, evaluated per epoch or every eval_steps.
    #[arg(long)]
    validation: Option<PathBuf>,
    /// TOML or JSON file with settings (flags given here override it).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// `train`'s own flags, besides the settings.
#[derive(Args, Debug)]
struct TrainInput {
    #[command(flatten)]
    files: RunFiles,
    /// Continue the run in output_dir from its newest checkpoint (with the settings and
    /// inputs it started with).
    #[arg(long)]
    resume: bool,
    /// With --resume: accept changed settings or inputs (listed in metrics.jsonl).
    #[arg(long, requires = "resume")]
    allow_changed_settings: bool,
    #[command(flatten)]
    device: cli::DeviceFlag,
}

/// `lr-find`'s own flags, besides the settings (which it uses as `train` does).
#[derive(Args, Debug)]
struct LrFindInput {
    #[command(flatten)]
    files: RunFiles,
    /// The first learning rate tried.
    #[arg(long, default_value_t = 1e-7)]
    start_lr: f64,
    /// The last learning rate tried.
    #[arg(long, default_value_t = 1.0)]
    end_lr: f64,
    /// Optimizer steps (one per learning rate, rising exponentially) at most.
    #[arg(long, default_value_t = 100, value_parser = cli::at_least::<2>)]
    num_lr_steps: usize,
    #[command(flatten)]
    device: cli::DeviceFlag,
}

/// `eval`'s common flags.
#[derive(Args, Debug)]
struct EvalInput {
    /// A run directory written by `train`, or a transformers checkpoint of the task's class.
    #[arg(long)]
    model: PathBuf,
    /// Labelled data.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    inference: InferenceFlags,
}

/// `predict`'s common flags.
#[derive(Args, Debug)]
struct PredictInput {
    /// A run directory written by `train`, or a transformers checkpoint of the task's class.
    #[arg(long)]
    model: PathBuf,
    /// The data to label (`-` for stdin where the task accepts it).
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    inference: InferenceFlags,
}

/// The binary's command line: `train`, `eval`, `predict`, `score`.
pub fn command<A: TaskApp>() -> Command {
    let defaults = A::defaults();
    let train = TrainInput::augment_args(Command::new("train"))
        .mut_arg("train", |a| {
            a.help(format!("Training data (default: {})", A::SAMPLE_TRAIN))
        })
        .mut_arg("validation", |a| {
            a.help(format!(
                "Validation data, evaluated per epoch or every eval_steps (default: {})",
                A::SAMPLE_VALIDATION
            ))
        });
    let train = A::TrainFlags::augment_args(A::DataFlags::augment_args(train));
    let train = TrainingArgs::add_flags(train, &defaults);
    let lr_find = LrFindInput::augment_args(Command::new("lr-find"))
        .mut_arg("train", |a| {
            a.help(format!("Training data (default: {})", A::SAMPLE_TRAIN))
        })
        .mut_arg("validation", |a| {
            a.help(format!(
                "Validation data, read for its labels only, never evaluated (default: {})",
                A::SAMPLE_VALIDATION
            ))
        });
    let lr_find = A::TrainFlags::augment_args(A::DataFlags::augment_args(lr_find));
    let lr_find = TrainingArgs::add_flags(lr_find, &defaults);
    let eval = EvalInput::augment_args(Command::new("eval"));
    let eval = A::EvalFlags::augment_args(A::DataFlags::augment_args(eval));
    let predict = PredictInput::augment_args(Command::new("predict"));
    let predict = A::PredictFlags::augment_args(A::DataFlags::augment_args(predict));
    let score = A::ScoreFlags::augment_args(Command::new("score"));
    // Each `about` last: a flattened struct's doc comment would replace it.
    Command::new(A::NAME)
        .about(A::ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands([
            train.about(A::TRAIN_ABOUT),
            lr_find.about(LR_FIND_ABOUT),
            eval.about(A::EVAL_ABOUT),
            predict.about(A::PREDICT_ABOUT),
            score.about(A::SCORE_ABOUT),
        ])
}

/// A task binary's `main`: the command line, then the command; on error `name: error: ...`
/// on stderr and exit status 1.
pub fn main<A: TaskApp>() {
    cli::keep_freed_memory();
    let matches = command::<A>().get_matches();
    cli::exit_on_error(A::NAME, dispatch::<A>(&matches));
}

/// Runs one command line (`args[0]` is the program name) in this process, as `main` would,
/// returning what went wrong instead of exiting (for tests and embedding).
pub fn run<A: TaskApp>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> Result<()> {
    let matches = command::<A>().try_get_matches_from(args)?;
    dispatch::<A>(&matches)
}

fn dispatch<A: TaskApp>(matches: &ArgMatches) -> Result<()> {
    match matches.subcommand() {
        Some(("train", m)) => train::<A>(m),
        Some(("lr-find", m)) => lr_find::<A>(m),
        Some(("eval", m)) => eval::<A>(m),
        Some(("predict", m)) => predict::<A>(m),
        Some(("score", m)) => {
            let report = A::score(&A::ScoreFlags::from_arg_matches(m)?)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        _ => unreachable!("clap requires a known subcommand"),
    }
}

/// The settings (defaults < `--config` < flags) and the files of a training command, and the
/// task prepared on them.
fn prepare_run<A: TaskApp>(
    m: &ArgMatches,
    input: RunFiles,
) -> Result<(TrainingArgs, TrainFiles, Prepared<A::Task>)> {
    let data = A::DataFlags::from_arg_matches(m)?;
    let flags = A::TrainFlags::from_arg_matches(m)?;
    let args = TrainingArgs::resolve(
        &A::defaults(),
        input.config.as_deref(),
        TrainingArgs::given(m)?,
    )?;
    let files = TrainFiles {
        train: input
            .train
            .unwrap_or_else(|| cli::sample_file(A::SAMPLE_TRAIN)),
        validation: input
            .validation
            .unwrap_or_else(|| cli::sample_file(A::SAMPLE_VALIDATION)),
        model: input.model.unwrap_or_else(encoder::default_model_dir),
    };
    let prepared = A::prepare(&files, &data, &flags, &args)?;
    Ok((args, files, prepared))
}

fn train<A: TaskApp>(m: &ArgMatches) -> Result<()> {
    let input = TrainInput::from_arg_matches(m)?;
    let (args, files, prepared) = prepare_run::<A>(m, input.files)?;
    // With a task's `--holdout` the validation examples come from the training file: the
    // validation file (the default sample one) is not read, so it is not a recorded input.
    let held_out = matches!(m.try_get_raw("holdout"), Ok(Some(_)));
    let mut data_files = vec![("train".into(), files.train.clone())];
    if !held_out {
        data_files.push(("validation".into(), files.validation.clone()));
    }
    let trainer = Trainer {
        resume: input.resume,
        allow_changed_settings: input.allow_changed_settings,
        kernels: Kernels::from_env(),
        device: input.device.choice,
        data_files,
        task_flags: task_flags::<A>(m),
        ..Trainer::new(&prepared.task, args, files.model.clone())
    };
    let summary = trainer.train(&prepared.train, Some(&prepared.validation))?;
    cli::print_summary(&trainer.args, &summary)
}

const LR_FIND_ABOUT: &str = "The learning-rate range test: one step per learning rate, rising \
     exponentially, from the starting weights, with the run's strategy and settings; writes \
     lr_find.json and plots/lr_find.png to --output-dir and suggests a learning rate. The \
     model is not changed.";

fn lr_find<A: TaskApp>(m: &ArgMatches) -> Result<()> {
    let input = LrFindInput::from_arg_matches(m)?;
    let settings = crate::engine::lr_find::RangeTestSettings {
        start_lr: input.start_lr,
        end_lr: input.end_lr,
        num_steps: input.num_lr_steps,
        ..Default::default()
    };
    crate::engine::lr_find::RangeTest::new(settings)?;
    let (args, files, prepared) = prepare_run::<A>(m, input.files)?;
    let trainer = Trainer {
        kernels: Kernels::from_env(),
        device: input.device.choice,
        ..Trainer::new(&prepared.task, args, files.model.clone())
    };
    let report = trainer.lr_find(&prepared.train, settings)?;
    let out = &trainer.args.output_dir;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let command: Vec<String> = std::env::args().collect();
    let json = serde_json::json!({
        "command": command.join(" "),
        "model": files.model,
        "train": files.train,
        "lr_find": report,
    });
    crate::engine::run_dir::write_json(&out.join("lr_find.json"), &json)?;
    let points: Vec<(f64, f64, f64)> = report
        .test
        .points
        .iter()
        .map(|p| (p.learning_rate, p.loss, p.smoothed_loss))
        .collect();
    let suggested = report.suggestion.as_ref().map(|s| s.learning_rate);
    let plot = crate::report::plot::lr_find(out, &points, suggested)?;
    let suggestion = &report.suggestion;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "output_dir": out,
            "steps": report.test.points.len(),
            "stopped": report.test.stopped,
            "suggestion": suggestion,
            "plot": plot,
        }))?
    );
    Ok(())
}

/// The task's own flags (data and train flags) as given or defaulted, by name: recorded with
/// the run so that `--resume` sees a change.
fn task_flags<A: TaskApp>(m: &ArgMatches) -> std::collections::BTreeMap<String, String> {
    let own = A::TrainFlags::augment_args(A::DataFlags::augment_args(Command::new("flags")));
    own.get_arguments()
        .filter_map(|arg| {
            let id = arg.get_id().as_str();
            let values = m.try_get_raw(id).ok().flatten()?;
            let text: Vec<String> = values.map(|v| v.to_string_lossy().to_string()).collect();
            Some((id.to_string(), text.join(",")))
        })
        .collect()
}

fn eval<A: TaskApp>(m: &ArgMatches) -> Result<()> {
    let input = EvalInput::from_arg_matches(m)?;
    let data = A::DataFlags::from_arg_matches(m)?;
    let flags = A::EvalFlags::from_arg_matches(m)?;
    let model =
        Inference::<A::Task>::load(&input.model, &input.inference, A::defaults().max_seq_length)?;
    let evaluation = A::evaluate(&model, &input.data, &data, &flags)?;
    write_evaluation(&input.model, &cli::file_stem(&input.data), &evaluation)?;
    println!("{}", serde_json::to_string_pretty(&evaluation.report)?);
    Ok(())
}

/// Writes what `eval` found into the model directory: `eval_<stem>.json`, the confusion
/// matrix plot and the task's further files.
pub fn write_evaluation(dir: &Path, stem: &str, evaluation: &Evaluation) -> Result<()> {
    for (name, bytes) in &evaluation.files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        encoder::fsutil::write_atomic(&path, bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if let Some((labels, counts)) = &evaluation.confusion {
        let plots = dir.join("plots");
        std::fs::create_dir_all(&plots)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", plots.display()))?;
        crate::report::plot::heat_map(
            &dir.join("plots").join(format!("confusion_{stem}.png")),
            &format!("CONFUSION: {stem}"),
            labels,
            counts,
        )?;
    }
    write_json(&dir.join(format!("eval_{stem}.json")), &evaluation.report)
}

fn predict<A: TaskApp>(m: &ArgMatches) -> Result<()> {
    let input = PredictInput::from_arg_matches(m)?;
    let data = A::DataFlags::from_arg_matches(m)?;
    let flags = A::PredictFlags::from_arg_matches(m)?;
    let model =
        Inference::<A::Task>::load(&input.model, &input.inference, A::defaults().max_seq_length)?;
    A::predict(&model, &input.input, &data, &flags)
}

//! `sentiment`: fine-tune, evaluate and apply sentence classifiers (SST-2 and any CSV, TSV,
//! JSONL, Parquet or Arrow data with a text column and a label column).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use sentiment::data::{self, Columns, Labels};
use sentiment::head::Pooling;
use sentiment::metrics;
use sentiment::task::SentimentTask;
use tuning::TrainingArgs;
use tuning::app::{
    self, Evaluation, Inference, NoFlags, OutputFlag, Prepared, TaskApp, TrainFiles,
};

#[derive(Args)]
struct TrainFlags {
    /// Hold out this fraction of the training data (seeded) for validation instead of a
    /// validation file, e.g. 0.02: model selection then never sees the validation set you
    /// report (SST-2's dev set).
    #[arg(long, conflicts_with = "validation")]
    holdout: Option<f64>,
    /// Sentence vector: pooler (BertForSequenceClassification), cls or mean.
    #[arg(long, default_value = "pooler")]
    pooling: Pooling,
}

#[derive(Args)]
struct PredictFlags {
    /// `jsonl` (label, score, probabilities, logits) or `glue` (index<TAB>prediction).
    #[arg(long, default_value = "jsonl")]
    format: String,
    #[command(flatten)]
    output: OutputFlag,
}

#[derive(Args)]
struct ScoreFlags {
    /// Labelled data.
    #[arg(long)]
    gold: PathBuf,
    /// `sentiment predict` output: JSONL with `label`, or GLUE TSV (index<TAB>prediction).
    #[arg(long)]
    predictions: PathBuf,
    #[command(flatten)]
    columns: Columns,
}

struct Sentiment;

impl TaskApp for Sentiment {
    type Task = SentimentTask;
    type DataFlags = Columns;
    type TrainFlags = TrainFlags;
    type EvalFlags = NoFlags;
    type PredictFlags = PredictFlags;
    type ScoreFlags = ScoreFlags;
    type ScoreReport = metrics::Report;

    const NAME: &'static str = "sentiment";
    const ABOUT: &'static str = "Sentence classification: fine-tune, evaluate, predict, score";
    const SAMPLE_TRAIN: &'static str = "data/sentiment/train.tsv";
    const SAMPLE_VALIDATION: &'static str = "data/sentiment/validation.tsv";
    const PREDICT_ABOUT: &'static str = "Label new text (a data file, or `-` for stdin: one text \
         per line or JSONL objects): JSONL (label, score, probabilities) or GLUE submission TSV.";

    /// run_glue's recipe.
    fn defaults() -> TrainingArgs {
        TrainingArgs::for_task("runs/sentiment")
    }

    fn prepare(
        files: &TrainFiles,
        columns: &Columns,
        flags: &TrainFlags,
        args: &TrainingArgs,
    ) -> Result<Prepared<SentimentTask>> {
        let all = data::load(&files.train, columns, Labels::Required)?;
        let (train, validation, validation_name) = match flags.holdout {
            Some(fraction) => {
                let (train, held) = tuning::task::holdout::hold_out(all, fraction, args.seed)?;
                let name = format!(
                    "{fraction} of {} held out (seed {})",
                    files.train.display(),
                    args.seed
                );
                (train, held, name)
            }
            None => {
                let validation = data::load(&files.validation, columns, Labels::Required)?;
                (all, validation, files.validation.display().to_string())
            }
        };
        let task = SentimentTask::for_training(&train, &validation, flags.pooling)?;
        eprintln!(
            "sentiment: {} training and {} validation examples from {} and {}; labels: {}",
            train.len(),
            validation.len(),
            files.train.display(),
            validation_name,
            task.labels.names.join(", ")
        );
        Ok(Prepared {
            task,
            train,
            validation,
        })
    }

    fn evaluate(
        model: &Inference<SentimentTask>,
        path: &Path,
        columns: &Columns,
        _: &NoFlags,
    ) -> Result<Evaluation> {
        let examples = data::load(path, columns, Labels::Required)?;
        // Unknown gold labels fail before the model runs, with their line.
        model.task.gold(&examples)?;
        let (_, logits) = model.run(&data::without_labels(&examples))?;
        model.task.evaluation(path, &examples, &logits)
    }

    fn predict(
        model: &Inference<SentimentTask>,
        input: &Path,
        columns: &Columns,
        flags: &PredictFlags,
    ) -> Result<()> {
        let examples = data::read_input(input, columns)?;
        let (_, logits) = model.run(&data::without_labels(&examples))?;
        let bytes = model.task.predictions(&examples, &logits, &flags.format)?;
        flags.output.write(&bytes)
    }

    fn score(flags: &ScoreFlags) -> Result<metrics::Report> {
        metrics::score_files(&flags.gold, &flags.predictions, &flags.columns)
    }
}

fn main() {
    app::main::<Sentiment>();
}

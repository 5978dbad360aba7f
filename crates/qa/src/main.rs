//! `qa`: fine-tune, evaluate and apply extractive question answering models (SQuAD v1.1 /
//! v2.0 and JSONL), and compute the official scores of any predictions file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use qa::metrics;
use qa::task::{self, QaTask, Settings, Validation};
use tuning::TrainingArgs;
use tuning::app::{self, Evaluation, Inference, NoFlags, Prepared, TaskApp, TrainFiles};

#[derive(Args)]
struct TrainFlags {
    /// Hold out this fraction of the training file's paragraphs (seeded; a held-out
    /// paragraph takes all its questions) for validation instead of a validation file,
    /// e.g. 0.01: model selection then never sees the set you report (the dev set).
    #[arg(long, conflicts_with = "validation")]
    holdout: Option<f64>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Args)]
struct EvalFlags {
    /// Score the first N questions of the data only, in file order (run_qa's
    /// max_eval_samples).
    #[arg(long, value_parser = tuning::app::cli::at_least::<1>)]
    max_eval_samples: Option<usize>,
}

#[derive(Args)]
struct PredictFlags {
    /// Where predictions.json and nbest_predictions.json go (written atomically).
    #[arg(long)]
    output_dir: PathBuf,
    /// Also write window_logits.jsonl: every window's input ids and start/end logits (for
    /// comparing with transformers, scripts/checks/check-qa-export.py).
    #[arg(long)]
    logits: bool,
}

#[derive(Args)]
struct ScoreFlags {
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

struct Qa;

impl TaskApp for Qa {
    type Task = QaTask;
    type DataFlags = NoFlags;
    type TrainFlags = TrainFlags;
    type EvalFlags = EvalFlags;
    type PredictFlags = PredictFlags;
    type ScoreFlags = ScoreFlags;
    type ScoreReport = metrics::Report;

    const NAME: &'static str = "qa";
    const ABOUT: &'static str = "Extractive question answering (SQuAD v1.1/v2.0): fine-tune, \
         evaluate, predict, score";
    const SAMPLE_TRAIN: &'static str = "data/qa/train.jsonl";
    const SAMPLE_VALIDATION: &'static str = "data/qa/validation.jsonl";
    const EVAL_ABOUT: &'static str = "Official scores of a fine-tuned model on a dataset (SQuAD \
         JSON, .json.gz, or JSONL): JSON on stdout and in the model directory, with the \
         predictions.";
    const PREDICT_ABOUT: &'static str =
        "Answer questions: predictions.json ({id: answer}) and nbest_predictions.json.";
    const SCORE_ABOUT: &'static str = "Official exact match and F1 of a predictions file ({id: \
         answer}) on a dataset file.";

    /// run_qa's defaults (its README's BERT recipe).
    fn defaults() -> TrainingArgs {
        TrainingArgs {
            learning_rate: 3e-5,
            num_train_epochs: 2.0,
            per_device_train_batch_size: 12,
            warmup_ratio: 0.0,
            weight_decay: 0.0,
            max_seq_length: 384,
            ..TrainingArgs::for_task("runs/qa")
        }
    }

    fn prepare(
        files: &TrainFiles,
        _: &NoFlags,
        flags: &TrainFlags,
        args: &TrainingArgs,
    ) -> Result<Prepared<QaTask>> {
        let validation = match flags.holdout {
            Some(fraction) => Validation::Holdout {
                fraction,
                seed: args.seed,
            },
            None => Validation::File(files.validation.clone()),
        };
        let (task, train, validation) = task::prepare(
            &files.train,
            &validation,
            &flags.settings,
            args.max_seq_length,
        )?;
        Ok(Prepared {
            task,
            train,
            validation,
        })
    }

    fn evaluate(
        model: &Inference<QaTask>,
        path: &Path,
        _: &NoFlags,
        flags: &EvalFlags,
    ) -> Result<Evaluation> {
        task::evaluation(model, path, flags.max_eval_samples)
    }

    fn predict(
        model: &Inference<QaTask>,
        input: &Path,
        _: &NoFlags,
        flags: &PredictFlags,
    ) -> Result<()> {
        task::predict(model, input, &flags.output_dir, flags.logits)
    }

    fn score(flags: &ScoreFlags) -> Result<metrics::Report> {
        let na_probs = flags.na_probs.as_deref();
        metrics::score_files(
            &flags.gold,
            &flags.predictions,
            na_probs,
            flags.na_prob_thresh,
        )
    }
}

fn main() {
    app::main::<Qa>();
}

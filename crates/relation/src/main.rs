//! `relation`: fine-tune, evaluate and apply relation classifiers (SemEval-2010 Task 8 and
//! JSONL data with two entity spans), and score answer keys with the official definition.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use relation::data::{self, OTHER};
use relation::head::Head;
use relation::markers::MarkerChoice;
use relation::metrics;
use relation::task::{self, RelationTask};
use tuning::TrainingArgs;
use tuning::app::{
    self, Evaluation, Inference, NoFlags, OutputFlag, Prepared, TaskApp, TrainFiles,
};

#[derive(Args)]
struct TrainFlags {
    /// Hold out this fraction of the training data (seeded) for validation instead of a
    /// validation file, e.g. 0.1.
    #[arg(long, conflicts_with = "validation")]
    holdout: Option<f64>,
    /// The head: entity-start, cls (BertForSequenceClassification) or rbert.
    #[arg(long, default_value = "entity-start")]
    head: Head,
    /// Entity markers: auto (unused where the vocabulary has [unused0-3], else new), unused,
    /// new (<e1> </e1> <e2> </e2> added to the vocabulary, embeddings grown), punct ($ e1 $,
    /// # e2 #) or four tokens (those missing added).
    #[arg(long, default_value = "auto")]
    markers: MarkerChoice,
}

#[derive(Args)]
struct PredictFlags {
    /// `key` (ID<TAB>Relation, the official scorer's input) or `jsonl` (label, score,
    /// probabilities).
    #[arg(long, default_value = "key")]
    format: String,
    #[command(flatten)]
    output: OutputFlag,
}

#[derive(Args)]
struct ScoreFlags {
    /// The answer key (ID<TAB>Relation), or a labelled data file.
    #[arg(long)]
    gold: PathBuf,
    /// Predictions in the answer-key format; ids may be a subset (the rest count as skipped).
    #[arg(long)]
    predictions: PathBuf,
    /// The label left out of the macro average.
    #[arg(long, default_value = OTHER)]
    other_label: String,
}

struct Relation;

impl TaskApp for Relation {
    type Task = RelationTask;
    type DataFlags = NoFlags;
    type TrainFlags = TrainFlags;
    type EvalFlags = NoFlags;
    type PredictFlags = PredictFlags;
    type ScoreFlags = ScoreFlags;
    type ScoreReport = metrics::Report;

    const NAME: &'static str = "relation";
    const ABOUT: &'static str =
        "Relation classification: fine-tune, evaluate, predict, score (SemEval-2010 Task 8)";
    const SAMPLE_TRAIN: &'static str = "data/relation/train.txt";
    const SAMPLE_VALIDATION: &'static str = "data/relation/validation.txt";
    const EVAL_ABOUT: &'static str = "Score a fine-tuned model on labelled data: the official \
         figures as JSON on stdout and in the model directory, and the confusion matrix as a \
         PNG.";
    const PREDICT_ABOUT: &'static str = "Classify new sentences (SemEval-2010 Task 8 format, \
         labels optional, or JSONL): the official answer-key format (`ID<TAB>Relation`) or \
         JSONL.";
    const SCORE_ABOUT: &'static str = "The official SemEval-2010 Task 8 figures from a gold key \
         (or data file) and a predictions key.";

    /// R-BERT / Matching-the-Blanks-style fine-tuning.
    fn defaults() -> TrainingArgs {
        TrainingArgs {
            num_train_epochs: 5.0,
            ..TrainingArgs::for_task("runs/relation")
        }
    }

    fn prepare(
        files: &TrainFiles,
        _: &NoFlags,
        flags: &TrainFlags,
        args: &TrainingArgs,
    ) -> Result<Prepared<RelationTask>> {
        let choice = (flags.head, flags.markers.clone());
        let (task, train, validation) = task::prepare(files, flags.holdout, args.seed, choice)?;
        Ok(Prepared {
            task,
            train,
            validation,
        })
    }

    fn evaluate(
        model: &Inference<RelationTask>,
        path: &Path,
        _: &NoFlags,
        _: &NoFlags,
    ) -> Result<Evaluation> {
        let examples = data::load(path, true)?;
        // Unknown gold labels fail before the model runs, with their line.
        for example in &examples {
            model.task.label_id(example)?;
        }
        let (_, logits) = model.run(&data::without_labels(&examples))?;
        Ok(model.task.evaluation(path, &examples, &logits))
    }

    fn predict(
        model: &Inference<RelationTask>,
        input: &Path,
        _: &NoFlags,
        flags: &PredictFlags,
    ) -> Result<()> {
        let examples = data::load(input, false)?;
        let (_, logits) = model.run(&data::without_labels(&examples))?;
        let bytes = model.task.predictions(&examples, &logits, &flags.format)?;
        flags.output.write(&bytes)
    }

    fn score(flags: &ScoreFlags) -> Result<metrics::Report> {
        let report = metrics::score_files(&flags.gold, &flags.predictions, &flags.other_label)?;
        eprintln!("{}", metrics::official_line(&report));
        Ok(report)
    }
}

fn main() {
    app::main::<Relation>();
}

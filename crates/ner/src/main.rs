//! `ner`: fine-tune, evaluate and apply named-entity taggers (CoNLL-2003 and any CoNLL-style
//! or JSONL data), and score conlleval-format files.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use ner::data::Reading;
use ner::metrics::{self, Mode};
use ner::task::{self, NerTask};
use tuning::TrainingArgs;
use tuning::app::{self, Evaluation, Inference, OutputFlag, Prepared, TaskApp, TrainFiles};

#[derive(Args)]
struct TrainFlags {
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
    #[command(flatten)]
    strict: Strict,
}

#[derive(Args)]
struct Strict {
    /// Strict IOB2 entities instead of conlleval's reading (in training: for selection).
    #[arg(long)]
    strict: bool,
}

impl Strict {
    fn mode(&self) -> Mode {
        if self.strict {
            Mode::Strict
        } else {
            Mode::Conlleval
        }
    }
}

#[derive(Args)]
struct PredictFlags {
    /// The input is raw text, one document per line: write JSONL entities.
    #[arg(long)]
    text: bool,
    /// For CoNLL/JSONL input: `conll` (conlleval lines) or `logits` (JSONL per sentence: the
    /// logits of each word's first sub-token, for comparing with other implementations).
    #[arg(long, default_value = "conll")]
    format: String,
    #[command(flatten)]
    output: OutputFlag,
}

#[derive(Args)]
struct ScoreFlags {
    /// conlleval-format predictions: the last two columns are gold and predicted (or, with
    /// --gold, the last column is the prediction).
    #[arg(long)]
    predictions: PathBuf,
    /// A tagged CoNLL file with the gold tags, line by line with the predictions.
    #[arg(long)]
    gold: Option<PathBuf>,
    #[command(flatten)]
    strict: Strict,
}

struct Ner;

impl TaskApp for Ner {
    type Task = NerTask;
    type DataFlags = Reading;
    type TrainFlags = TrainFlags;
    type EvalFlags = Strict;
    type PredictFlags = PredictFlags;
    type ScoreFlags = ScoreFlags;
    type ScoreReport = metrics::Report;

    const NAME: &'static str = "ner";
    const ABOUT: &'static str =
        "Named-entity recognition: fine-tune, evaluate, predict, score (CoNLL-2003)";
    const SAMPLE_TRAIN: &'static str = "data/ner/train.conll";
    const SAMPLE_VALIDATION: &'static str = "data/ner/validation.conll";
    const PREDICT_ABOUT: &'static str = "Tag CoNLL/JSONL files (conlleval lines `token gold \
         predicted`) or raw text lines (JSONL entities with character offsets).";
    const SCORE_ABOUT: &'static str =
        "Entity-level scores of a conlleval-format file (`token ... gold predicted`).";

    /// run_ner's recipe.
    fn defaults() -> TrainingArgs {
        TrainingArgs::for_task("runs/ner")
    }

    fn prepare(
        files: &TrainFiles,
        reading: &Reading,
        flags: &TrainFlags,
        args: &TrainingArgs,
    ) -> Result<Prepared<NerTask>> {
        let settings = NerTask {
            labels: Vec::new(),
            label_all_tokens: flags.label_all_tokens,
            document_context: flags.document_context,
            doc_stride: flags.doc_stride,
            mode: flags.strict.mode(),
        };
        let (train, validation) = (&files.train, &files.validation);
        let length = args.max_seq_length;
        let (task, train, validation) =
            task::prepare(train, validation, reading, settings, length)?;
        Ok(Prepared {
            task,
            train,
            validation,
        })
    }

    fn evaluate(
        model: &Inference<NerTask>,
        path: &Path,
        reading: &Reading,
        strict: &Strict,
    ) -> Result<Evaluation> {
        task::evaluation(model, path, reading, strict.mode())
    }

    fn predict(
        model: &Inference<NerTask>,
        input: &Path,
        reading: &Reading,
        flags: &PredictFlags,
    ) -> Result<()> {
        let bytes = task::predictions(model, input, reading, flags.text, &flags.format)?;
        flags.output.write(&bytes)
    }

    fn score(flags: &ScoreFlags) -> Result<metrics::Report> {
        let gold = flags.gold.as_deref();
        metrics::score_file(&flags.predictions, gold, flags.strict.mode())
    }
}

fn main() {
    app::main::<Ner>();
}

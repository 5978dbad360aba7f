//! What a task must provide for the engine to fine-tune and evaluate it.
//!
//! Designed with the four shipped tasks in view:
//! - sentence classification: one feature per example, logits per feature;
//! - token tagging: one or more windows per sentence, labels on first sub-tokens, outputs
//!   merged back per word in `evaluate`;
//! - span extraction: several overlapping windows per question, n-best span search across
//!   them in `evaluate`;
//! - relation classification: entity markers in the text, pooled at marker positions.
//!
//! A feature is one model input window; an example can have several. `evaluate` sees all
//! examples, features and per-feature outputs at once, so post-processing that spans windows
//! (QA, long NER sentences) lives in the task, not in the engine.
//!
//! A task writes what it needs into the exported `config.json` ([`Task::export_config`]) and
//! reads itself back from it ([`Task::from_export`]), also from a transformers checkpoint of
//! its `*For*` class that finetune never saw.

pub mod heads;
pub mod holdout;
pub mod labels;
pub mod scoring;

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use encoder::{BertModel, EncoderConfig, Tokenizer};

/// Metric name -> value, e.g. {"accuracy": 0.91, "macro_f1": 0.90}.
pub type Metrics = BTreeMap<String, f64>;

pub trait Task {
    /// A typed example from the task's loader.
    type Example: Clone + Send + Sync;
    /// One model input window with its aligned labels.
    type Feature: Clone + Send + Sync;
    /// The encoder with the task's head (holding the encoder in a `bert` field, so the
    /// checkpoint keys are transformers' `*For*` class keys).
    type Model: Module;
    /// Per-feature model output, on the host (e.g. logits).
    type Output: Clone + Send;

    /// Short name for logs ("sentiment", "ner", ...).
    fn name(&self) -> &str;

    /// The task model around a (pretrained) encoder, with a newly initialised head
    /// (normal, std = initializer_range, zero bias, as transformers initialises heads).
    fn build_model(
        &self,
        encoder: BertModel,
        config: &EncoderConfig,
        classifier_dropout: f64,
        device: &Device,
    ) -> Self::Model;

    /// Tokenizes examples into features, each at most `max_seq_length` tokens.
    fn featurize(
        &self,
        examples: &[Self::Example],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> anyhow::Result<Vec<Self::Feature>>;

    /// Number of tokens of a feature (for length grouping and padding).
    fn feature_len(&self, feature: &Self::Feature) -> usize;

    /// The mean training loss of a batch (a scalar tensor of shape `[1]`).
    fn loss(&self, model: &Self::Model, batch: &[&Self::Feature], device: &Device) -> Tensor<1>;

    /// Model outputs for a batch, in batch order.
    fn predict(
        &self,
        model: &Self::Model,
        batch: &[&Self::Feature],
        device: &Device,
    ) -> Vec<Self::Output>;

    /// The task's official metrics from all outputs of an evaluation set.
    fn evaluate(
        &self,
        examples: &[Self::Example],
        features: &[Self::Feature],
        outputs: &[Self::Output],
    ) -> Metrics;

    /// The metric that selects the best checkpoint by default, and whether greater is better.
    fn selection_metric(&self) -> (&'static str, bool);

    /// Whether the task's head and export follow transformers for checkpoints of `family`
    /// (its `*For*` class of that family). BERT only unless a task says more; the task app
    /// refuses the others by name.
    fn supports_family(&self, family: encoder::ModelFamily) -> bool {
        family == encoder::ModelFamily::Bert
    }

    /// Tokens to add to the tokenizer's vocabulary before featurizing (e.g. entity markers
    /// a vocabulary lacks). The trainer adds those the vocabulary does not have yet and grows
    /// the word embeddings to match, as transformers users do with `add_tokens` and
    /// `resize_token_embeddings`; the export carries the grown tokenizer and matrix. None
    /// unless a task says.
    fn added_tokens(&self) -> Vec<String> {
        Vec::new()
    }

    /// Adds what the export's `config.json` needs (architectures, id2label, label2id, ...).
    fn export_config(&self, config: &mut EncoderConfig);

    /// The task a model directory was trained for, from its `config.json` (`path`, for
    /// errors): the inverse of [`Task::export_config`]. A transformers checkpoint of the
    /// task's `*For*` class loads too, its labels from `id2label`.
    fn from_export(config: &EncoderConfig, path: &Path) -> anyhow::Result<Self>
    where
        Self: Sized;
}

/// Softmax of a row of logits (in f64, so probabilities near 1 keep their precision).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// A classifier's answer for one input, as `predict` writes it: the index of the best label,
/// its probability, and every label's probability by name (softmax of `logits`).
pub fn label_probabilities(
    labels: &[String],
    logits: &[f32],
) -> (usize, f64, serde_json::Map<String, serde_json::Value>) {
    let probabilities = softmax(logits);
    let best = argmax(logits);
    let by_name = labels
        .iter()
        .zip(&probabilities)
        .map(|(name, p)| (name.clone(), serde_json::json!(p)))
        .collect();
    (best, probabilities[best], by_name)
}

/// Index of the largest value (the first one on ties, as `torch.argmax`).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Mean cross-entropy of `[B, C]` logits against one class per row (transformers'
/// `CrossEntropyLoss` for single-label classification), as a `[1]` tensor.
pub fn cross_entropy(logits: Tensor<2>, classes: &[usize], device: &Device) -> Tensor<1> {
    use burn::tensor::{Int, TensorData};
    let targets: Vec<i64> = classes.iter().map(|&c| c as i64).collect();
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, [classes.len(), 1]), device);
    burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, targets)
        .mean()
        .neg()
}

/// The rows of a `[B, C]` tensor on the host.
pub fn rows(logits: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, n] = logits.dims();
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 logits");
    values.chunks(n).map(<[f32]>::to_vec).collect()
}

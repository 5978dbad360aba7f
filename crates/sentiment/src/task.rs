//! Sentence (and sentence-pair) classification as a [`tuning::Task`].

use anyhow::{Result, anyhow};
use burn::tensor::{Device, Tensor};
use encoder::{BertModel, EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer, Truncation};
use tuning::{Metrics, Task};

use crate::data::{Example, LabelSet};
use crate::head::{Pooling, SequenceClassifier};
use crate::metrics;

#[derive(Debug, Clone)]
pub struct Feature {
    pub window: TokenizedWindow,
    pub label: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct SentimentTask {
    pub labels: LabelSet,
    pub pooling: Pooling,
}

impl SentimentTask {
    fn input(&self, batch: &[&Feature], device: &Device) -> encoder::EncoderInput {
        let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
        encoder::input::pad_batch(&windows, 0, device)
    }

    /// Gold label ids of labelled examples (unknown labels are errors naming their line).
    pub fn gold(&self, examples: &[Example]) -> Result<Vec<usize>> {
        self.labels.ids(examples)
    }
}

pub use tuning::task::{argmax, softmax as probabilities};

impl Task for SentimentTask {
    type Example = Example;
    type Feature = Feature;
    type Model = SequenceClassifier;
    /// Logits, one per label.
    type Output = Vec<f32>;

    fn name(&self) -> &str {
        "sentiment"
    }

    fn build_model(
        &self,
        encoder: BertModel,
        config: &EncoderConfig,
        classifier_dropout: f64,
        device: &Device,
    ) -> SequenceClassifier {
        SequenceClassifier::new(
            encoder,
            config,
            self.labels.len(),
            self.pooling,
            classifier_dropout,
            device,
        )
    }

    fn featurize(
        &self,
        examples: &[Example],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> Result<Vec<Feature>> {
        let options = EncodeOptions {
            truncation: Truncation::LongestFirst,
            ..EncodeOptions::truncate_to(max_seq_length)
        };
        examples
            .iter()
            .map(|e| {
                let window = tokenizer
                    .encode(&e.text, e.text_pair.as_deref(), &options)
                    .map_err(|err| anyhow!("{}: cannot tokenize: {err}", e.source))?
                    .remove(0);
                let label = match &e.label {
                    Some(l) => Some(self.labels.id(l).ok_or_else(|| {
                        anyhow!(
                            "{}: unknown label `{l}` (the model knows: {})",
                            e.source,
                            self.labels.names.join(", ")
                        )
                    })?),
                    None => None,
                };
                Ok(Feature { window, label })
            })
            .collect()
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    /// Mean cross-entropy (transformers' `CrossEntropyLoss` for single-label classification).
    fn loss(&self, model: &SequenceClassifier, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let logits = model.forward(self.input(batch, device));
        let classes: Vec<usize> = batch
            .iter()
            .map(|f| f.label.expect("training features are labelled"))
            .collect();
        tuning::task::cross_entropy(logits, &classes, device)
    }

    fn predict(
        &self,
        model: &SequenceClassifier,
        batch: &[&Feature],
        device: &Device,
    ) -> Vec<Vec<f32>> {
        let logits = model.forward(self.input(batch, device));
        tuning::task::rows(logits)
    }

    fn evaluate(
        &self,
        _examples: &[Example],
        features: &[Feature],
        outputs: &[Vec<f32>],
    ) -> Metrics {
        let gold: Vec<usize> = features
            .iter()
            .map(|f| f.label.expect("evaluation features are labelled"))
            .collect();
        let predicted: Vec<usize> = outputs.iter().map(|o| argmax(o)).collect();
        metrics::report(&gold, &predicted, &self.labels.names).metrics()
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("accuracy", true)
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        tuning::labels::write(config, "BertForSequenceClassification", &self.labels.names);
        let extra = &mut config.extra;
        extra.insert(
            "problem_type".into(),
            serde_json::json!("single_label_classification"),
        );
        extra.insert(
            "finetune_pooling".into(),
            serde_json::to_value(self.pooling).expect("serializes"),
        );
    }
}

//! Sentence (and sentence-pair) classification as a [`tuning::Task`], and what its commands
//! write: the evaluation report and the predictions (JSONL or a GLUE submission).

use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use burn::tensor::{Device, Tensor};
use encoder::{BertModel, EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer, Truncation};
use serde_json::json;
use tuning::app::Evaluation;
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

    /// The task to train on `train`: its labels (sorted as run_glue sorts them, at least
    /// two); a validation label outside them fails now, with its line, not after an epoch.
    pub fn for_training(
        train: &[Example],
        validation: &[Example],
        pooling: Pooling,
    ) -> Result<Self> {
        let labels = LabelSet::from_examples(train)?;
        labels.ids(validation)?;
        Ok(Self { labels, pooling })
    }

    /// Gold label ids of labelled examples (unknown labels are errors naming their line).
    pub fn gold(&self, examples: &[Example]) -> Result<Vec<usize>> {
        self.labels.ids(examples)
    }

    /// `eval`'s report of `logits` on the labelled `examples` read from `data`: accuracy,
    /// macro-F1, per-class scores and the confusion matrix (also drawn).
    pub fn evaluation(
        &self,
        data: &Path,
        examples: &[Example],
        logits: &[Vec<f32>],
    ) -> Result<Evaluation> {
        let gold = self.gold(examples)?;
        let predicted: Vec<usize> = logits.iter().map(|l| argmax(l)).collect();
        let report = metrics::report(&gold, &predicted, &self.labels.names);
        Ok(Evaluation {
            report: json!({"data": data, "examples": examples.len(), "report": report}),
            confusion: Some((report.labels.clone(), report.confusion.clone())),
            files: Vec::new(),
        })
    }

    /// `predict`'s output: `jsonl` (index, label, score, probabilities, logits per example)
    /// or `glue` (a submission TSV: index<TAB>prediction).
    pub fn predictions(
        &self,
        examples: &[Example],
        logits: &[Vec<f32>],
        format: &str,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match format {
            "jsonl" => {
                for (example, logits) in examples.iter().zip(logits) {
                    let (best, score, per_label) = label_probabilities(&self.labels.names, logits);
                    let record = json!({
                        "index": example.index,
                        "label": self.labels.names[best],
                        "score": score,
                        "probabilities": per_label,
                        "logits": logits,
                    });
                    writeln!(out, "{record}")?;
                }
            }
            "glue" => {
                writeln!(out, "index\tprediction")?;
                for (example, logits) in examples.iter().zip(logits) {
                    writeln!(
                        out,
                        "{}\t{}",
                        example.index,
                        self.labels.names[argmax(logits)]
                    )?;
                }
            }
            other => bail!("unknown --format `{other}` (jsonl, glue)"),
        }
        Ok(out)
    }
}

pub use tuning::task::{argmax, label_probabilities, softmax as probabilities};

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

    /// A run's export, or a transformers `*ForSequenceClassification` checkpoint (single
    /// label; labels from `id2label`, the pooler head unless the export says otherwise).
    fn from_export(config: &EncoderConfig, path: &Path) -> Result<Self> {
        tuning::task::labels::check_architecture(config, path, &["ForSequenceClassification"])?;
        let at = path.display();
        match config.extra.get("problem_type").and_then(|v| v.as_str()) {
            None | Some("single_label_classification") => {}
            Some(other) => {
                bail!("{at}: problem_type `{other}`; sentiment predicts one label per text")
            }
        }
        let labels = LabelSet::from_config(config, path)?;
        if labels.len() < 2 {
            bail!(
                "{at}: {} label(s); a classifier has at least 2 (1 is regression)",
                labels.len()
            );
        }
        let pooling = match config.extra.get("finetune_pooling") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| anyhow!("{at}: finetune_pooling: {e}"))?,
            None => Pooling::Pooler,
        };
        Ok(Self { labels, pooling })
    }

    /// Every family's `*ForSequenceClassification` head is built ([`crate::head`]).
    fn supports_family(&self, _family: encoder::ModelFamily) -> bool {
        true
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        let architecture = config.family().class_name("ForSequenceClassification");
        tuning::task::labels::write(config, &architecture, &self.labels.names);
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

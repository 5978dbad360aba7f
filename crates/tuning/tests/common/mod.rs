//! A minimal task for testing the engine without any real task crate: regress a number from a
//! sentence with a linear layer on the pooled output, on the tiny fixture encoder.
#![allow(dead_code)]

use std::cell::Cell;
use std::path::PathBuf;

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use encoder::bert::init_linear;
use encoder::{BertModel, EncodeOptions, EncoderConfig, TokenizedWindow, Tokenizer};
use tuning::{Metrics, Task};

pub fn tiny_model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/encoder/tiny-bert")
}

#[derive(Module, Debug)]
pub struct Regressor {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub regressor: Linear,
}

#[derive(Clone)]
pub struct Example {
    pub text: String,
    pub target: f32,
}

#[derive(Clone)]
pub struct Feature {
    pub window: TokenizedWindow,
    pub target: f32,
}

/// Sentence -> number; `nan_after` makes the loss NaN after that many micro-batches.
#[derive(Default)]
pub struct RegressionTask {
    pub nan_after: Option<usize>,
    pub calls: Cell<usize>,
    /// Examples passed to `featurize`, over all calls.
    pub featurized: Cell<usize>,
}

pub fn examples(n: usize) -> Vec<Example> {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "good", "bad", "movie",
        "story",
    ];
    (0..n)
        .map(|i| {
            let len = 2 + (i * 7) % 9;
            let text: Vec<&str> = (0..len)
                .map(|j| words[(i * 3 + j * 5) % words.len()])
                .collect();
            let target = if text.contains(&"good") { 1.0 } else { -1.0 } + len as f32 * 0.1;
            Example {
                text: text.join(" "),
                target,
            }
        })
        .collect()
}

pub fn batch_input(batch: &[&Feature], device: &Device) -> (encoder::EncoderInput, Tensor<2>) {
    let windows: Vec<&TokenizedWindow> = batch.iter().map(|f| &f.window).collect();
    let input = encoder::input::pad_batch(&windows, 0, device);
    let targets: Vec<f32> = batch.iter().map(|f| f.target).collect();
    let targets = Tensor::<2>::from_data(TensorData::new(targets, [batch.len(), 1]), device);
    (input, targets)
}

impl RegressionTask {
    pub fn forward(
        &self,
        model: &Regressor,
        batch: &[&Feature],
        device: &Device,
    ) -> (Tensor<2>, Tensor<2>) {
        let (input, targets) = batch_input(batch, device);
        let pooled = model.bert.forward(input).pooler_output.unwrap();
        (
            model.regressor.forward(model.dropout.forward(pooled)),
            targets,
        )
    }
}

impl Task for RegressionTask {
    type Example = Example;
    type Feature = Feature;
    type Model = Regressor;
    type Output = f32;

    fn name(&self) -> &str {
        "regression"
    }

    fn build_model(
        &self,
        encoder: BertModel,
        config: &EncoderConfig,
        dropout: f64,
        device: &Device,
    ) -> Regressor {
        Regressor {
            bert: encoder,
            dropout: DropoutConfig::new(dropout).init(),
            regressor: init_linear(config.hidden_size, 1, config.initializer_range, device),
        }
    }

    fn featurize(
        &self,
        examples: &[Example],
        tokenizer: &Tokenizer,
        max_seq_length: usize,
    ) -> anyhow::Result<Vec<Feature>> {
        self.featurized.set(self.featurized.get() + examples.len());
        examples
            .iter()
            .map(|e| {
                let window = tokenizer
                    .encode(&e.text, None, &EncodeOptions::truncate_to(max_seq_length))
                    .map_err(anyhow::Error::msg)?
                    .remove(0);
                Ok(Feature {
                    window,
                    target: e.target,
                })
            })
            .collect()
    }

    fn feature_len(&self, feature: &Feature) -> usize {
        feature.window.len()
    }

    fn loss(&self, model: &Regressor, batch: &[&Feature], device: &Device) -> Tensor<1> {
        let calls = self.calls.get() + 1;
        self.calls.set(calls);
        let (predicted, targets) = self.forward(model, batch, device);
        let diff = predicted - targets;
        let loss = (diff.clone() * diff).mean();
        match self.nan_after {
            Some(n) if calls > n => loss * f32::NAN,
            _ => loss,
        }
    }

    fn predict(&self, model: &Regressor, batch: &[&Feature], device: &Device) -> Vec<f32> {
        let (predicted, _) = self.forward(model, batch, device);
        predicted
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    fn evaluate(&self, _examples: &[Example], features: &[Feature], outputs: &[f32]) -> Metrics {
        let mse = features
            .iter()
            .zip(outputs)
            .map(|(f, o)| ((f.target - o) as f64).powi(2))
            .sum::<f64>()
            / features.len() as f64;
        Metrics::from([("mse".to_string(), mse)])
    }

    fn selection_metric(&self) -> (&'static str, bool) {
        ("mse", false)
    }

    fn from_export(_config: &EncoderConfig, _path: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self::default())
    }

    fn export_config(&self, config: &mut EncoderConfig) {
        config.extra.insert(
            "architectures".into(),
            serde_json::json!(["BertForSequenceClassification"]),
        );
        config
            .extra
            .insert("num_labels".into(), serde_json::json!(1));
    }
}

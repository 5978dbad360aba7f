//! The classification head: transformers' `BertForSequenceClassification` (pooler, dropout,
//! linear), so an export loads in transformers as that class with the same logits.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use encoder::bert::init_linear;
use encoder::{BertModel, EncoderConfig, EncoderInput};

/// How the sentence vector is taken from the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// The trained pooler, tanh(dense(h_[CLS])), as BertForSequenceClassification.
    Pooler,
    /// The raw [CLS] hidden state, for encoders without a trained pooler.
    Cls,
    /// The mean of the token states (padding excluded), as sentence-transformers.
    Mean,
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pooler" => Ok(Self::Pooler),
            "cls" => Ok(Self::Cls),
            "mean" => Ok(Self::Mean),
            _ => Err(format!("unknown pooling `{s}` (pooler, cls, mean)")),
        }
    }
}

#[derive(Module, Debug)]
pub struct SequenceClassifier {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
    #[module(skip)]
    pub pooling: Pooling,
}

impl SequenceClassifier {
    pub fn new(
        mut bert: BertModel,
        config: &EncoderConfig,
        num_labels: usize,
        pooling: Pooling,
        dropout: f64,
        device: &Device,
    ) -> Self {
        if pooling == Pooling::Pooler && bert.pooler.is_none() {
            // A checkpoint without a pooler gets a new one, as transformers does (and warns).
            bert.pooler = Some(encoder::bert::BertPooler::new(config, device));
        }
        if pooling != Pooling::Pooler {
            bert.pooler = None;
        }
        Self {
            bert,
            dropout: DropoutConfig::new(dropout).init(),
            classifier: init_linear(
                config.hidden_size,
                num_labels,
                config.initializer_range,
                device,
            ),
            pooling,
        }
    }

    /// `[B, num_labels]` logits.
    pub fn forward(&self, input: EncoderInput) -> Tensor<2> {
        let mask = input.attention_mask.clone();
        let output = self.bert.forward(input);
        let sentence = match self.pooling {
            Pooling::Pooler => output.pooler_output.expect("built with a pooler"),
            Pooling::Cls => {
                let [batch, _, hidden] = output.last_hidden_state.dims();
                output
                    .last_hidden_state
                    .narrow(1, 0, 1)
                    .reshape([batch, hidden])
            }
            Pooling::Mean => {
                let [batch, seq, _] = output.last_hidden_state.dims();
                let weights = mask.float().reshape([batch, seq, 1]);
                let summed = (output.last_hidden_state * weights.clone()).sum_dim(1);
                let counts = weights.sum_dim(1).clamp_min(1e-9);
                let [_, _, hidden] = summed.dims();
                (summed / counts).reshape([batch, hidden])
            }
        };
        self.classifier
            .forward(self.bert.ops().dropout(&self.dropout, sentence))
    }
}

//! The tagging head: transformers' `BertForTokenClassification` (encoder without pooler,
//! dropout, one linear layer over every token), so an export loads in transformers as that
//! class with the same logits.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use encoder::bert::init_linear;
use encoder::{BertModel, EncoderConfig, EncoderInput};

#[derive(Module, Debug)]
pub struct TokenClassifier {
    pub bert: BertModel,
    pub dropout: Dropout,
    pub classifier: Linear,
}

impl TokenClassifier {
    pub fn new(
        mut bert: BertModel,
        config: &EncoderConfig,
        num_labels: usize,
        dropout: f64,
        device: &Device,
    ) -> Self {
        // BertForTokenClassification is built with add_pooling_layer=False.
        bert.pooler = None;
        Self {
            bert,
            dropout: DropoutConfig::new(dropout).init(),
            classifier: init_linear(
                config.hidden_size,
                num_labels,
                config.initializer_range,
                device,
            ),
        }
    }

    /// `[B, seq, num_labels]` logits.
    pub fn forward(&self, input: EncoderInput) -> Tensor<3> {
        let states = self.bert.forward(input).last_hidden_state;
        let ops = self.bert.ops();
        ops.linear(&self.classifier, ops.dropout(&self.dropout, states))
    }
}

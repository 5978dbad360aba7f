//! The span head: transformers' `BertForQuestionAnswering` (encoder without pooler, one
//! linear layer `qa_outputs` giving a start and an end logit per token), so an export loads
//! in transformers as that class with the same logits. The other families' classes are the
//! same but for DistilBERT's dropout (`qa_dropout`) before `qa_outputs`.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use encoder::bert::init_linear;
use encoder::{BertModel, EncoderConfig, EncoderInput};

#[derive(Module, Debug)]
pub struct QuestionAnswering {
    pub bert: BertModel,
    pub qa_outputs: Linear,
    /// DistilBertForQuestionAnswering's dropout on the hidden states (none in BERT's class).
    pub dropout: Option<Dropout>,
}

impl QuestionAnswering {
    pub fn new(mut bert: BertModel, config: &EncoderConfig, device: &Device) -> Self {
        // BertForQuestionAnswering is built with add_pooling_layer=False.
        bert.pooler = None;
        Self {
            bert,
            qa_outputs: init_linear(config.hidden_size, 2, config.initializer_range, device),
            dropout: (config.family() == encoder::ModelFamily::DistilBert).then(|| {
                let p = config.extra.get("qa_dropout").and_then(|v| v.as_f64());
                DropoutConfig::new(p.unwrap_or(0.1)).init()
            }),
        }
    }

    /// `([B, seq], [B, seq])`: start and end logits.
    pub fn forward(&self, input: EncoderInput) -> (Tensor<2>, Tensor<2>) {
        let mut states = self.bert.forward(input).last_hidden_state;
        if let Some(dropout) = &self.dropout {
            states = self.bert.ops().dropout(dropout, states);
        }
        let [batch, seq, _] = states.dims();
        let logits = self.bert.ops().linear(&self.qa_outputs, states);
        let start = logits.clone().narrow(2, 0, 1).reshape([batch, seq]);
        let end = logits.narrow(2, 1, 1).reshape([batch, seq]);
        (start, end)
    }
}

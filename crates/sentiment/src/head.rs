//! The classification head: transformers' `*ForSequenceClassification` of the encoder's
//! family, so an export loads in transformers as that class with the same logits:
//!
//! - BERT: pooler, dropout, `classifier` (linear);
//! - RoBERTa, XLM-R: the first token through dropout, `classifier.dense`, tanh, dropout,
//!   `classifier.out_proj` (`RobertaClassificationHead`); ELECTRA the same with GELU;
//! - DistilBERT: the first token through `pre_classifier`, ReLU, dropout
//!   (`seq_classif_dropout`), `classifier`.
//!
//! The layers per family are `tuning::task::heads`' (relation's `cls` head uses them too).
//!
//! `--pooling mean` feeds the mean of the token states to the same head instead of the first
//! token (no transformers class does that; its export loads, but transformers' class would
//! read the first token).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::{Device, Tensor};
use encoder::{BertModel, EncoderConfig, EncoderInput, ModelFamily};
use tuning::task::heads::{ClassificationHead, SequenceHead};

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
    /// DistilBERT's `pre_classifier`.
    pub pre_classifier: Option<Linear>,
    /// BERT's and DistilBERT's `classifier` (one linear layer).
    pub classifier: Option<Linear>,
    /// RoBERTa's, XLM-R's and ELECTRA's `classifier` (two layers; the key table names it
    /// `classifier`).
    pub classification_head: Option<ClassificationHead>,
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
        let family = config.family();
        if family != ModelFamily::Bert {
            // The other families' classes build no pooler.
            bert.pooler = None;
        } else if pooling == Pooling::Pooler && bert.pooler.is_none() {
            // A checkpoint without a pooler gets a new one, as transformers does (and warns).
            bert.pooler = Some(encoder::bert::BertPooler::new(config, device));
        }
        if pooling != Pooling::Pooler {
            bert.pooler = None;
        }
        // DistilBERT's head reads its own dropout (`seq_classif_dropout`, which
        // `--classifier-dropout` sets in the config).
        let head = SequenceHead::new(config, num_labels, dropout, device);
        Self {
            bert,
            dropout: DropoutConfig::new(head.dropout).init(),
            pre_classifier: head.pre_classifier,
            classifier: head.classifier,
            classification_head: head.classification_head,
            pooling,
        }
    }

    /// `[B, num_labels]` logits.
    pub fn forward(&self, input: EncoderInput) -> Tensor<2> {
        let mask = input.attention_mask.clone();
        let output = self.bert.forward(input);
        let first_token = |states: Tensor<3>| {
            let [batch, _, hidden] = states.dims();
            states.narrow(1, 0, 1).reshape([batch, hidden])
        };
        let sentence = match (self.pooling, output.pooler_output) {
            (Pooling::Pooler, Some(pooled)) => pooled,
            (Pooling::Pooler | Pooling::Cls, _) => first_token(output.last_hidden_state),
            (Pooling::Mean, _) => {
                let [batch, seq, _] = output.last_hidden_state.dims();
                let weights = mask.float().reshape([batch, seq, 1]);
                let summed = (output.last_hidden_state * weights.clone()).sum_dim(1);
                let counts = weights.sum_dim(1).clamp_min(1e-9);
                let [_, _, hidden] = summed.dims();
                (summed / counts).reshape([batch, hidden])
            }
        };
        let layers = (
            &self.pre_classifier,
            &self.classifier,
            &self.classification_head,
        );
        SequenceHead::classify(layers, &self.dropout, self.bert.ops(), sentence)
    }
}

//! The classification head: transformers' `*ForSequenceClassification` of the encoder's
//! family, so an export loads in transformers as that class with the same logits:
//!
//! - BERT: pooler, dropout, `classifier` (linear);
//! - RoBERTa, XLM-R: the first token through dropout, `classifier.dense`, tanh, dropout,
//!   `classifier.out_proj` (`RobertaClassificationHead`); ELECTRA the same with GELU;
//! - DistilBERT: the first token through `pre_classifier`, ReLU, dropout
//!   (`seq_classif_dropout`), `classifier`.
//!
//! `--pooling mean` feeds the mean of the token states to the same head instead of the first
//! token (no transformers class does that; its export loads, but transformers' class would
//! read the first token).

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use encoder::bert::init_linear;
use encoder::{BertModel, EncoderConfig, EncoderInput, ModelFamily};

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

/// The activation between a two-layer head's `dense` and `out_proj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadActivation {
    /// RoBERTa, XLM-R.
    Tanh,
    /// ELECTRA (`get_activation("gelu")`, the exact GELU).
    Gelu,
}

/// `RobertaClassificationHead` / `ElectraClassificationHead` (HF: `classifier`): dropout,
/// dense, activation, dropout, out_proj.
#[derive(Module, Debug)]
pub struct ClassificationHead {
    pub dense: Linear,
    pub out_proj: Linear,
    #[module(skip)]
    pub activation: HeadActivation,
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
        let (h, std) = (config.hidden_size, config.initializer_range);
        let linear = |d_in, d_out| init_linear(d_in, d_out, std, device);
        let two_layers = |activation| ClassificationHead {
            dense: linear(h, h),
            out_proj: linear(h, num_labels),
            activation,
        };
        let (pre_classifier, classifier, classification_head, dropout) = match family {
            ModelFamily::Bert => (None, Some(linear(h, num_labels)), None, dropout),
            ModelFamily::Roberta | ModelFamily::XlmRoberta => {
                (None, None, Some(two_layers(HeadActivation::Tanh)), dropout)
            }
            ModelFamily::Electra => (None, None, Some(two_layers(HeadActivation::Gelu)), dropout),
            ModelFamily::DistilBert => {
                // DistilBertForSequenceClassification's own dropout (`--classifier-dropout`
                // does not change it).
                let p = config.extra.get("seq_classif_dropout");
                let p = p.and_then(|v| v.as_f64()).unwrap_or(0.2);
                (Some(linear(h, h)), Some(linear(h, num_labels)), None, p)
            }
        };
        Self {
            bert,
            dropout: DropoutConfig::new(dropout).init(),
            pre_classifier,
            classifier,
            classification_head,
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
        let ops = self.bert.ops();
        if let Some(head) = &self.classification_head {
            let x = ops.linear(&head.dense, ops.dropout(&self.dropout, sentence));
            let x = match head.activation {
                HeadActivation::Tanh => x.tanh(),
                HeadActivation::Gelu => burn::tensor::activation::gelu(x),
            };
            return ops.linear(&head.out_proj, ops.dropout(&self.dropout, x));
        }
        let classifier = self.classifier.as_ref().expect("built with a classifier");
        match &self.pre_classifier {
            Some(pre) => {
                let x = relu(ops.linear(pre, sentence));
                ops.linear(classifier, ops.dropout(&self.dropout, x))
            }
            None => classifier.forward(ops.dropout(&self.dropout, sentence)),
        }
    }
}

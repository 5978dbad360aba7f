//! transformers' sequence-classification head of each encoder family, for the tasks that
//! classify a whole input from one vector (sentiment; relation's `cls` head):
//!
//! - BERT: dropout, `classifier` (linear), over the pooler's output;
//! - RoBERTa, XLM-R: dropout, `classifier.dense`, tanh, dropout, `classifier.out_proj`
//!   (`RobertaClassificationHead`), over the first token; ELECTRA the same with GELU
//!   (`ElectraClassificationHead`);
//! - DistilBERT: `pre_classifier`, ReLU, dropout (`seq_classif_dropout`), `classifier`, over
//!   the first token.
//!
//! The layers are fields of the task's model under these names (so that its keys are those
//! of the family's `*ForSequenceClassification`): [`SequenceHead::new`] builds them and
//! [`SequenceHead::classify`] applies them. The vector they read (pooler, first token, mean)
//! is the task's choice.

use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use encoder::bert::init_linear;
use encoder::{EncoderConfig, ModelFamily, Ops};

/// The activation between a two-layer head's `dense` and `out_proj`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadActivation {
    /// RoBERTa, XLM-R.
    Tanh,
    /// ELECTRA (`get_activation("gelu")`, the exact GELU).
    Gelu,
}

/// `RobertaClassificationHead` / `ElectraClassificationHead` (HF: `classifier`): dropout,
/// dense, activation, dropout, out_proj. A task model holds it as `classification_head`,
/// which the key table writes as `classifier`.
#[derive(Module, Debug)]
pub struct ClassificationHead {
    pub dense: Linear,
    pub out_proj: Linear,
    #[module(skip)]
    pub activation: HeadActivation,
}

/// The layers of a family's sequence-classification head, to be kept in the task model's
/// fields of the same names; the ones the family lacks are `None`.
#[derive(Debug)]
pub struct SequenceHead {
    /// DistilBERT's `pre_classifier`.
    pub pre_classifier: Option<Linear>,
    /// BERT's and DistilBERT's `classifier` (one linear layer).
    pub classifier: Option<Linear>,
    /// RoBERTa's, XLM-R's and ELECTRA's two-layer `classifier`.
    pub classification_head: Option<ClassificationHead>,
    /// The head's dropout probability: `dropout` as given, except DistilBERT's, which is its
    /// config's `seq_classif_dropout` as in `DistilBertForSequenceClassification` (the
    /// trainer sets it from `--classifier-dropout`).
    pub dropout: f64,
}

impl SequenceHead {
    /// A new head for `num_labels` classes over vectors of `config.hidden_size`, initialised as
    /// transformers initialises heads (normal, std = initializer_range, zero bias).
    pub fn new(config: &EncoderConfig, num_labels: usize, dropout: f64, device: &Device) -> Self {
        let (h, std) = (config.hidden_size, config.initializer_range);
        let linear = |d_in, d_out| init_linear(d_in, d_out, std, device);
        let two_layers = |activation| ClassificationHead {
            dense: linear(h, h),
            out_proj: linear(h, num_labels),
            activation,
        };
        let none = Self {
            pre_classifier: None,
            classifier: None,
            classification_head: None,
            dropout,
        };
        match config.family() {
            ModelFamily::Bert => Self {
                classifier: Some(linear(h, num_labels)),
                ..none
            },
            ModelFamily::Roberta | ModelFamily::XlmRoberta => Self {
                classification_head: Some(two_layers(HeadActivation::Tanh)),
                ..none
            },
            ModelFamily::Electra => Self {
                classification_head: Some(two_layers(HeadActivation::Gelu)),
                ..none
            },
            ModelFamily::DistilBert => {
                let p = config.extra.get("seq_classif_dropout");
                Self {
                    pre_classifier: Some(linear(h, h)),
                    classifier: Some(linear(h, num_labels)),
                    dropout: p.and_then(|v| v.as_f64()).unwrap_or(0.2),
                    ..none
                }
            }
        }
    }

    /// `[B, num_labels]` logits of `[B, hidden]` vectors through the layers a task model holds
    /// (`pre_classifier`, `classifier`, `classification_head`), with its `dropout` and `ops`.
    pub fn classify(
        (pre_classifier, classifier, classification_head): (
            &Option<Linear>,
            &Option<Linear>,
            &Option<ClassificationHead>,
        ),
        dropout: &Dropout,
        ops: Ops,
        vector: Tensor<2>,
    ) -> Tensor<2> {
        if let Some(head) = classification_head {
            let x = ops.linear(&head.dense, ops.dropout(dropout, vector));
            let x = match head.activation {
                HeadActivation::Tanh => x.tanh(),
                HeadActivation::Gelu => burn::tensor::activation::gelu(x),
            };
            return ops.linear(&head.out_proj, ops.dropout(dropout, x));
        }
        let classifier = classifier.as_ref().expect("built with a classifier");
        match pre_classifier {
            Some(pre) => {
                let x = relu(ops.linear(pre, vector));
                ops.linear(classifier, ops.dropout(dropout, x))
            }
            None => classifier.forward(ops.dropout(dropout, vector)),
        }
    }
}

//! The relation heads over the encoder, selectable with `--head`:
//!
//! - `cls`: transformers' `*ForSequenceClassification` of the encoder's family over the marked
//!   sentence (BERT: pooler, dropout, linear; the others their own heads on the first token,
//!   `tuning::task::heads`); its export loads in transformers as that class.
//! - `entity-start`: the hidden states of the two start markers, concatenated, dropout, linear
//!   (the "entity markers - entity start" variant of Matching the Blanks, Baldini Soares et
//!   al. 2019).
//! - `rbert`: R-BERT (Wu & He 2019): `[CLS]` and the averaged states of each entity (markers
//!   included), each through dropout, tanh and a dense layer (one shared by both entities),
//!   concatenated, dropout, linear.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::Device;
use burn::tensor::activation::tanh;
use burn::tensor::{Int, Tensor};
use encoder::bert::{BertPooler, init_linear};
use encoder::{BertModel, EncoderConfig, EncoderInput, ModelFamily};
use tuning::task::heads::{ClassificationHead, SequenceHead};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    Cls,
    EntityStart,
    Rbert,
}

impl std::str::FromStr for Head {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cls" => Ok(Self::Cls),
            "entity-start" => Ok(Self::EntityStart),
            "rbert" => Ok(Self::Rbert),
            _ => Err(format!("unknown head `{s}` (cls, entity-start, rbert)")),
        }
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cls => "cls",
            Self::EntityStart => "entity-start",
            Self::Rbert => "rbert",
        })
    }
}

/// A batch for the relation model: the encoder input and where the entities are.
pub struct RelationInput {
    pub encoder: EncoderInput,
    /// `[B]`: flat indices (`row * seq + position`) of the e1 and e2 start markers.
    pub e1_start: Tensor<1, Int>,
    pub e2_start: Tensor<1, Int>,
    /// `[B, seq]`: 1/len over each entity's tokens (markers included), 0 elsewhere.
    pub e1_weights: Tensor<2>,
    pub e2_weights: Tensor<2>,
}

#[derive(Module, Debug)]
pub struct RelationClassifier {
    pub bert: BertModel,
    pub dropout: Dropout,
    /// R-BERT's dense layer over tanh([CLS]).
    pub cls_fc: Option<Linear>,
    /// R-BERT's dense layer over tanh(entity average), shared by e1 and e2.
    pub entity_fc: Option<Linear>,
    /// The `cls` head's layers on DistilBERT (`pre_classifier`) and on RoBERTa, XLM-R and
    /// ELECTRA (`classification_head`, written as `classifier`).
    pub pre_classifier: Option<Linear>,
    /// The last linear layer (every head but `cls` on RoBERTa, XLM-R and ELECTRA).
    pub classifier: Option<Linear>,
    pub classification_head: Option<ClassificationHead>,
    #[module(skip)]
    pub head: Head,
}

impl RelationClassifier {
    pub fn new(
        mut bert: BertModel,
        config: &EncoderConfig,
        num_labels: usize,
        head: Head,
        dropout: f64,
        device: &Device,
    ) -> Self {
        let hidden = config.hidden_size;
        let std = config.initializer_range;
        let bert_cls = head == Head::Cls && config.family() == ModelFamily::Bert;
        if !bert_cls {
            // Only BERT's class has a pooler; the other heads read token states.
            bert.pooler = None;
        } else if bert.pooler.is_none() {
            // A checkpoint without a pooler gets a new one, as transformers does.
            bert.pooler = Some(BertPooler::new(config, device));
        }
        let rbert = head == Head::Rbert;
        let layers = match head {
            Head::Cls => SequenceHead::new(config, num_labels, dropout, device),
            Head::EntityStart | Head::Rbert => {
                let features = if rbert { 3 * hidden } else { 2 * hidden };
                SequenceHead {
                    pre_classifier: None,
                    classifier: Some(init_linear(features, num_labels, std, device)),
                    classification_head: None,
                    dropout,
                }
            }
        };
        Self {
            bert,
            dropout: DropoutConfig::new(layers.dropout).init(),
            cls_fc: rbert.then(|| init_linear(hidden, hidden, std, device)),
            entity_fc: rbert.then(|| init_linear(hidden, hidden, std, device)),
            pre_classifier: layers.pre_classifier,
            classifier: layers.classifier,
            classification_head: layers.classification_head,
            head,
        }
    }

    /// `[B, num_labels]` logits.
    pub fn forward(&self, input: RelationInput) -> Tensor<2> {
        let ops = self.bert.ops();
        let output = self.bert.forward(input.encoder);
        let states = output.last_hidden_state;
        let [batch, seq, hidden] = states.dims();
        let features = match self.head {
            Head::Cls => match output.pooler_output {
                Some(pooled) => pooled,
                None => states.narrow(1, 0, 1).reshape([batch, hidden]),
            },
            Head::EntityStart => {
                let flat = states.reshape([batch * seq, hidden]);
                let e1 = flat.clone().select(0, input.e1_start);
                let e2 = flat.select(0, input.e2_start);
                Tensor::cat(vec![e1, e2], 1)
            }
            Head::Rbert => {
                let average = |weights: Tensor<2>| {
                    (states.clone() * weights.reshape([batch, seq, 1]))
                        .sum_dim(1)
                        .reshape([batch, hidden])
                };
                let cls = states.clone().narrow(1, 0, 1).reshape([batch, hidden]);
                let dense = |fc: &Option<Linear>, x: Tensor<2>| {
                    fc.as_ref()
                        .expect("R-BERT layers")
                        .forward(tanh(ops.dropout(&self.dropout, x)))
                };
                let e1 = average(input.e1_weights);
                let e2 = average(input.e2_weights);
                Tensor::cat(
                    vec![
                        dense(&self.cls_fc, cls),
                        dense(&self.entity_fc, e1),
                        dense(&self.entity_fc, e2),
                    ],
                    1,
                )
            }
        };
        let layers = (
            &self.pre_classifier,
            &self.classifier,
            &self.classification_head,
        );
        SequenceHead::classify(layers, &self.dropout, ops, features)
    }
}

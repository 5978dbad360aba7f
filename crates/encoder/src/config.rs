//! The model's hyper-parameters, read from a Hugging Face `config.json`.
//!
//! Mirrors transformers' `BertConfig`: the same field names and the same defaults, so a config
//! written by transformers reads here unchanged and one written here reads in transformers.
//! Fields we do not use are kept (in `extra`) and written back on export, which is what lets a
//! fine-tuned model keep `architectures`, `id2label` and friends.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::LoadError;

/// Encoder families this crate can run. They share one module tree (post-LayerNorm transformer
/// layers, [`crate::bert`]); what differs between them is how a checkpoint names the weights
/// ([`crate::key_map::FamilyKeys`]), a few config field names (DistilBERT's) and small
/// embedding details: position ids, token types, a projection after the embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    Bert,
    /// RoBERTa (`modeling_roberta.py`): position ids count from `padding_idx + 1` over the
    /// non-padding tokens, one token type.
    Roberta,
    /// XLM-RoBERTa: RoBERTa's model under another name and tokenizer.
    XlmRoberta,
    /// DistilBERT: no token types, its own weight and config names.
    DistilBert,
    /// ELECTRA (the discriminator): embeddings of `embedding_size`, projected to the hidden size.
    Electra,
}

impl ModelFamily {
    pub const SUPPORTED: &'static [&'static str] =
        &["bert", "roberta", "xlm-roberta", "distilbert", "electra"];

    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            "roberta" => Some(Self::Roberta),
            "xlm-roberta" => Some(Self::XlmRoberta),
            "distilbert" => Some(Self::DistilBert),
            "electra" => Some(Self::Electra),
            _ => None,
        }
    }

    /// transformers' `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::XlmRoberta => "xlm-roberta",
            Self::DistilBert => "distilbert",
            Self::Electra => "electra",
        }
    }

    /// transformers' class of this family for a task suffix: `ForTokenClassification` ->
    /// `RobertaForTokenClassification`.
    pub fn class_name(self, suffix: &str) -> String {
        let prefix = match self {
            Self::Bert => "Bert",
            Self::Roberta => "Roberta",
            Self::XlmRoberta => "XLMRoberta",
            Self::DistilBert => "DistilBert",
            Self::Electra => "Electra",
        };
        format!("{prefix}{suffix}")
    }

    /// Whether position ids start after the padding index and skip padding (RoBERTa's
    /// `create_position_ids_from_input_ids`) instead of counting 0, 1, 2, ...
    pub fn offsets_positions(self) -> bool {
        matches!(self, Self::Roberta | Self::XlmRoberta)
    }

    /// Whether the model adds token-type embeddings (DistilBERT has none).
    pub fn has_token_types(self) -> bool {
        !matches!(self, Self::DistilBert)
    }
}

impl std::fmt::Display for ModelFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// DistilBERT's `config.json` names for the fields every family shares, as
/// (DistilBERT's name, `BertConfig`'s name). Read, they fill the BERT-named fields; written,
/// they get their own names back, so transformers' `DistilBertConfig` reads our exports.
const DISTILBERT_FIELDS: &[(&str, &str)] = &[
    ("dim", "hidden_size"),
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("hidden_dim", "intermediate_size"),
    ("activation", "hidden_act"),
    ("dropout", "hidden_dropout_prob"),
    ("attention_dropout", "attention_probs_dropout_prob"),
];

/// `BertConfig` fields that `DistilBertConfig` does not have: DistilBERT's values are fixed
/// (LayerNorm eps 1e-12, no token types, absolute positions), so they are set on reading and
/// left out on writing.
const NOT_IN_DISTILBERT: &[&str] = &[
    "type_vocab_size",
    "layer_norm_eps",
    "position_embedding_type",
];

/// The activation used in the feed-forward block (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// transformers' `"gelu"`: the exact, erf-based GELU.
    Gelu,
    /// `"gelu_new"`, `"gelu_pytorch_tanh"`: the tanh approximation.
    GeluTanh,
    Relu,
    /// `"silu"` / `"swish"`.
    Silu,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
        }
    }
}

fn default_vocab_size() -> usize {
    30522
}
fn default_hidden_size() -> usize {
    768
}
fn default_num_hidden_layers() -> usize {
    12
}
fn default_num_attention_heads() -> usize {
    12
}
fn default_intermediate_size() -> usize {
    3072
}
fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_position_embeddings() -> usize {
    512
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_initializer_range() -> f64 {
    0.02
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}

/// An encoder's `config.json`. Defaults are `BertConfig`'s.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncoderConfig {
    pub model_type: String,
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    #[serde(default = "default_hidden_size")]
    pub hidden_size: usize,
    #[serde(default = "default_num_hidden_layers")]
    pub num_hidden_layers: usize,
    #[serde(default = "default_num_attention_heads")]
    pub num_attention_heads: usize,
    #[serde(default = "default_intermediate_size")]
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// `null` in some configs; BERT pads with id 0.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
    /// ELECTRA's width of the embeddings when it differs from `hidden_size` (a projection
    /// follows them); `None` for every other family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Every other field of the file, kept verbatim so an export writes it back.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl EncoderConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|err| err.in_file(path))
    }

    /// Parses and validates a config from JSON text. Errors carry no file name; `from_file` adds it.
    pub fn from_json_str(text: &str) -> Result<Self, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|err| LoadError::Config {
                path: None,
                message: format!("not valid JSON: {err}"),
            })?;
        if value.get("model_type").is_none() {
            return Err(LoadError::Config {
                path: None,
                message: format!(
                    "missing field `model_type` (expected one of: {})",
                    ModelFamily::SUPPORTED.join(", ")
                ),
            });
        }
        let mut value = if value["model_type"] == "distilbert" {
            from_distilbert_names(value)?
        } else {
            value
        };
        if value["model_type"] == "electra" && value.get("embedding_size").is_none() {
            // ElectraConfig's default.
            value["embedding_size"] = 128.into();
        }
        let config: Self = serde_json::from_value(value).map_err(|err| LoadError::Config {
            path: None,
            message: err.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), LoadError> {
        let bad = |message: String| LoadError::Config {
            path: None,
            message,
        };
        if ModelFamily::from_model_type(&self.model_type).is_none() {
            return Err(LoadError::UnsupportedModelType {
                model_type: self.model_type.clone(),
                supported: ModelFamily::SUPPORTED.join(", "),
            });
        }
        if self.family().offsets_positions() && self.max_position_embeddings <= self.pad_id() + 1 {
            return Err(bad(format!(
                "max_position_embeddings {} leaves no position after padding_idx {}",
                self.max_position_embeddings,
                self.pad_id()
            )));
        }
        if self.embedding_size == Some(0) {
            return Err(bad("embedding_size must be positive".into()));
        }
        if Activation::parse(&self.hidden_act).is_none() {
            return Err(bad(format!(
                "hidden_act `{}` is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, silu)",
                self.hidden_act
            )));
        }
        if self.position_embedding_type != "absolute" {
            return Err(bad(format!(
                "position_embedding_type `{}` is not supported (only `absolute`)",
                self.position_embedding_type
            )));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(bad(format!("{name} must be in [0, 1), got {p}")));
            }
        }
        Ok(())
    }

    pub fn family(&self) -> ModelFamily {
        ModelFamily::from_model_type(&self.model_type).expect("validated when the config was read")
    }

    pub fn activation(&self) -> Activation {
        Activation::parse(&self.hidden_act).expect("validated when the config was read")
    }

    /// The padding token id (0 when the config leaves it unset, as BERT's vocabularies do).
    pub fn pad_id(&self) -> usize {
        self.pad_token_id.unwrap_or(0)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The width of the embedding vectors: `embedding_size` (ELECTRA) or `hidden_size`.
    pub fn embedding_dim(&self) -> usize {
        match self.family() {
            ModelFamily::Electra => self.embedding_size.unwrap_or(self.hidden_size),
            _ => self.hidden_size,
        }
    }

    /// The longest input the model takes, in tokens: `max_position_embeddings`, less the
    /// `padding_idx + 1` positions RoBERTa-style models never use (514 -> 512 for roberta-base).
    pub fn max_sequence_length(&self) -> usize {
        if self.family().offsets_positions() {
            self.max_position_embeddings
                .saturating_sub(self.pad_id() + 1)
        } else {
            self.max_position_embeddings
        }
    }

    /// The config as pretty JSON, with `extra` fields merged back in, in the family's own
    /// field names (transformers' layout).
    pub fn to_json_string(&self) -> String {
        let mut value = serde_json::to_value(self).expect("a config always serializes");
        if self.family() == ModelFamily::DistilBert {
            let object = value.as_object_mut().expect("a config is an object");
            for (distil, bert) in DISTILBERT_FIELDS {
                if let Some(v) = object.remove(*bert) {
                    object.insert((*distil).to_string(), v);
                }
            }
            for name in NOT_IN_DISTILBERT {
                object.remove(*name);
            }
        }
        serde_json::to_string_pretty(&value).expect("a config always serializes")
    }
}

/// DistilBERT's field names turned into `BertConfig`'s, with its fixed values filled in.
fn from_distilbert_names(mut value: serde_json::Value) -> Result<serde_json::Value, LoadError> {
    let object = value
        .as_object_mut()
        .expect("checked: the config has a model_type");
    if object
        .get("sinusoidal_pos_embds")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        return Err(LoadError::Config {
            path: None,
            message: "sinusoidal_pos_embds: true is not supported (only learned positions)".into(),
        });
    }
    for (distil, bert) in DISTILBERT_FIELDS {
        if let Some(v) = object.remove(*distil) {
            object.insert((*bert).to_string(), v);
        }
    }
    // DistilBERT's LayerNorms use eps 1e-12 whatever the config says; it has no token types.
    object.insert("layer_norm_eps".into(), 1e-12.into());
    object.insert("type_vocab_size".into(), 0.into());
    // DistilBertConfig's defaults, where they differ from BertConfig's.
    object.entry("hidden_size").or_insert(768.into());
    object.entry("num_hidden_layers").or_insert(6.into());
    object.entry("intermediate_size").or_insert(3072.into());
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_bert_base_and_unknown_fields_survive() {
        let cfg = EncoderConfig::from_json_str(r#"{"model_type":"bert","foo":[1,2]}"#).unwrap();
        assert_eq!(cfg.hidden_size, 768);
        assert_eq!(cfg.num_hidden_layers, 12);
        assert_eq!(cfg.layer_norm_eps, 1e-12);
        assert_eq!(cfg.activation(), Activation::Gelu);
        let back: serde_json::Value = serde_json::from_str(&cfg.to_json_string()).unwrap();
        assert_eq!(back["foo"], serde_json::json!([1, 2]));
        assert_eq!(back["hidden_size"], 768);
    }

    #[test]
    fn unsupported_model_type_is_named() {
        let err = EncoderConfig::from_json_str(r#"{"model_type":"gpt2"}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("gpt2") && text.contains("bert"), "{text}");
    }

    #[test]
    fn missing_model_type_and_bad_heads_are_errors() {
        let err = EncoderConfig::from_json_str(r#"{"hidden_size":32}"#).unwrap_err();
        assert!(err.to_string().contains("model_type"), "{err}");
        let err = EncoderConfig::from_json_str(
            r#"{"model_type":"bert","hidden_size":30,"num_attention_heads":4}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("multiple"), "{err}");
    }

    #[test]
    fn distilbert_names_are_read_and_written_back() {
        let cfg = EncoderConfig::from_json_str(
            r#"{"model_type":"distilbert","dim":64,"n_layers":3,"n_heads":4,"hidden_dim":99,
                "activation":"gelu","dropout":0.2,"attention_dropout":0.05,"seq_classif_dropout":0.3}"#,
        )
        .unwrap();
        assert_eq!(cfg.family(), ModelFamily::DistilBert);
        assert_eq!(
            (
                cfg.hidden_size,
                cfg.num_hidden_layers,
                cfg.num_attention_heads
            ),
            (64, 3, 4)
        );
        assert_eq!(cfg.intermediate_size, 99);
        assert_eq!(cfg.hidden_dropout_prob, 0.2);
        assert_eq!(cfg.attention_probs_dropout_prob, 0.05);
        assert_eq!((cfg.layer_norm_eps, cfg.type_vocab_size), (1e-12, 0));
        let back: serde_json::Value = serde_json::from_str(&cfg.to_json_string()).unwrap();
        assert_eq!(back["dim"], 64);
        assert_eq!(back["n_layers"], 3);
        assert_eq!(back["seq_classif_dropout"], 0.3);
        for bert_name in [
            "hidden_size",
            "num_hidden_layers",
            "type_vocab_size",
            "layer_norm_eps",
        ] {
            assert!(back.get(bert_name).is_none(), "{bert_name} written");
        }
        let err = EncoderConfig::from_json_str(
            r#"{"model_type":"distilbert","sinusoidal_pos_embds":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("sinusoidal"), "{err}");
    }

    #[test]
    fn roberta_reserves_positions_and_electra_projects() {
        let roberta = EncoderConfig::from_json_str(
            r#"{"model_type":"roberta","max_position_embeddings":514,"pad_token_id":1}"#,
        )
        .unwrap();
        assert_eq!(roberta.max_sequence_length(), 512);
        assert_eq!(roberta.embedding_dim(), 768);
        let bert = EncoderConfig::from_json_str(r#"{"model_type":"bert"}"#).unwrap();
        assert_eq!(bert.max_sequence_length(), 512);
        let electra = EncoderConfig::from_json_str(
            r#"{"model_type":"electra","hidden_size":256,"num_attention_heads":4}"#,
        )
        .unwrap();
        assert_eq!(electra.embedding_dim(), 128);
        let tight = EncoderConfig::from_json_str(
            r#"{"model_type":"xlm-roberta","max_position_embeddings":2,"pad_token_id":1}"#,
        );
        assert!(tight.is_err());
    }
}

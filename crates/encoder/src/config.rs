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
/// layers); what differs between them is the checkpoint key table and small embedding details,
/// so adding RoBERTa, DistilBERT or ELECTRA means a new variant, a key table and those details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    Bert,
}

impl ModelFamily {
    pub const SUPPORTED: &'static [&'static str] = &["bert"];

    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            _ => None,
        }
    }
}

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
                message: "missing field `model_type` (expected one of: bert)".into(),
            });
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

    /// The config as pretty JSON, with `extra` fields merged back in (transformers' layout).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config always serializes")
    }
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
}

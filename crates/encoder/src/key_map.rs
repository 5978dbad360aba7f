//! The table between Burn parameter paths and Hugging Face checkpoint keys.
//!
//! Burn names a parameter by the field path that leads to it (`encoder.layer.0.attention.
//! self_attention.query.weight`); transformers by its `state_dict` key
//! (`encoder.layer.0.attention.self.query.weight`). Our modules use HF's names wherever Rust
//! allows, so the table is short and declarative: a few segment renames, the LayerNorm parameter
//! names, and which weights PyTorch stores transposed. Loading, saving and every task head go
//! through these same rules.

/// Burn field name -> HF module name, applied to every path segment.
pub const SEGMENT_RENAMES: &[(&str, &str)] = &[
    // `self` is a Rust keyword.
    ("self_attention", "self"),
    // HF spells its LayerNorm modules in CamelCase.
    ("layer_norm", "LayerNorm"),
];

/// (owning Burn module type, Burn parameter name, HF parameter name).
pub const PARAM_RENAMES: &[(&str, &str, &str)] = &[
    ("Struct:LayerNorm", "gamma", "weight"),
    ("Struct:LayerNorm", "beta", "bias"),
];

/// Parameters whose PyTorch layout is the transpose of Burn's: `nn.Linear.weight` is
/// `[out, in]` in PyTorch and `[in, out]` in Burn.
pub const TRANSPOSED: &[(&str, &str)] = &[("Struct:Linear", "weight")];

/// Legacy key spellings still found in old checkpoints (TF-converted BERT), old -> current.
pub const LEGACY_SUFFIXES: &[(&str, &str)] = &[
    ("LayerNorm.gamma", "LayerNorm.weight"),
    ("LayerNorm.beta", "LayerNorm.bias"),
];

/// The prefix under which task models (`BertForSequenceClassification`, ...) keep the encoder.
pub const ENCODER_PREFIX: &str = "bert.";

/// How one Burn parameter is stored in an HF checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfKey {
    pub name: String,
    pub transposed: bool,
}

/// Maps a Burn parameter, given by its path segments and the type of the module that owns it,
/// to its HF key.
pub fn hf_key(path: &[String], owner_type: &str) -> HfKey {
    let (param, modules) = path.split_last().expect("a parameter path is never empty");
    let mut segments: Vec<&str> = modules
        .iter()
        .map(|segment| {
            SEGMENT_RENAMES
                .iter()
                .find(|(burn, _)| burn == segment)
                .map_or(segment.as_str(), |(_, hf)| hf)
        })
        .collect();
    let param_name = PARAM_RENAMES
        .iter()
        .find(|(owner, burn, _)| *owner == owner_type && burn == param)
        .map_or(param.as_str(), |(_, _, hf)| hf);
    segments.push(param_name);
    HfKey {
        name: segments.join("."),
        transposed: TRANSPOSED
            .iter()
            .any(|(owner, name)| *owner == owner_type && name == param),
    }
}

/// A checkpoint key in today's spelling: legacy LayerNorm names replaced.
pub fn modern_key(key: &str) -> String {
    for (old, new) in LEGACY_SUFFIXES {
        if let Some(stem) = key.strip_suffix(old) {
            return format!("{stem}{new}");
        }
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(String::from).collect()
    }

    #[test]
    fn attention_query_weight_is_renamed_and_transposed() {
        let key = hf_key(
            &path("encoder.layer.3.attention.self_attention.query.weight"),
            "Struct:Linear",
        );
        assert_eq!(key.name, "encoder.layer.3.attention.self.query.weight");
        assert!(key.transposed);
    }

    #[test]
    fn layer_norm_gamma_becomes_weight_and_is_not_transposed() {
        let key = hf_key(&path("embeddings.layer_norm.gamma"), "Struct:LayerNorm");
        assert_eq!(key.name, "embeddings.LayerNorm.weight");
        assert!(!key.transposed);
        let key = hf_key(
            &path("encoder.layer.0.output.layer_norm.beta"),
            "Struct:LayerNorm",
        );
        assert_eq!(key.name, "encoder.layer.0.output.LayerNorm.bias");
    }

    #[test]
    fn embeddings_and_biases_keep_their_layout() {
        let key = hf_key(
            &path("embeddings.word_embeddings.weight"),
            "Struct:Embedding",
        );
        assert_eq!(key.name, "embeddings.word_embeddings.weight");
        assert!(!key.transposed);
        let key = hf_key(&path("pooler.dense.bias"), "Struct:Linear");
        assert!(!key.transposed);
    }

    #[test]
    fn legacy_names_are_modernised() {
        assert_eq!(
            modern_key("bert.embeddings.LayerNorm.gamma"),
            "bert.embeddings.LayerNorm.weight"
        );
        assert_eq!(modern_key("cls.x.beta_1"), "cls.x.beta_1");
    }
}

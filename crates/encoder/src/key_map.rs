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
    // RoBERTa's and ELECTRA's two-layer sequence head, which a task model holds next to
    // (never together with) BERT's one-layer `classifier`.
    ("classification_head", "classifier"),
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
/// Inside finetune every family's weights go by BERT's names (the canonical names: what
/// [`hf_key`] gives, what strategies match); [`FamilyKeys`] translates at the file boundary.
pub const ENCODER_PREFIX: &str = "bert.";

/// DistilBERT's names for the parts of a layer, as (canonical, DistilBERT's) after
/// `encoder.layer.{i}.` / `transformer.layer.{i}.`.
const DISTILBERT_LAYER: &[(&str, &str)] = &[
    ("attention.self.query.", "attention.q_lin."),
    ("attention.self.key.", "attention.k_lin."),
    ("attention.self.value.", "attention.v_lin."),
    ("attention.output.dense.", "attention.out_lin."),
    ("attention.output.LayerNorm.", "sa_layer_norm."),
    ("intermediate.dense.", "ffn.lin1."),
    ("output.dense.", "ffn.lin2."),
    ("output.LayerNorm.", "output_layer_norm."),
];

/// A layer module named as DistilBERT names it (`q_lin`, `out_lin`, `lin1`, ...), as its
/// canonical part of a layer (`attention.self.query`): what a LoRA target written in
/// DistilBERT's names (HF PEFT's `target_modules`) selects.
pub fn canonical_layer_module(distilbert_name: &str) -> Option<&'static str> {
    DISTILBERT_LAYER.iter().find_map(|(canonical, own)| {
        let own = own.trim_end_matches('.');
        (own.rsplit('.').next() == Some(distilbert_name)).then(|| canonical.trim_end_matches('.'))
    })
}

/// How one family's checkpoints name the encoder's weights: the prefix its task classes keep
/// the encoder under (transformers' `base_model_prefix`) and, for DistilBERT, its own module
/// names. Loading renames a file's keys to the canonical (BERT) names; saving renames back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyKeys {
    /// `bert.`, `roberta.` (RoBERTa and XLM-R), `distilbert.`, `electra.`.
    pub prefix: &'static str,
    /// `encoder.layer.` or DistilBERT's `transformer.layer.`.
    pub layers: &'static str,
    /// Renames inside a layer (DistilBERT's table; empty for the others).
    pub layer_parts: &'static [(&'static str, &'static str)],
}

impl FamilyKeys {
    pub fn of(family: crate::ModelFamily) -> Self {
        use crate::ModelFamily::*;
        let (prefix, layers, layer_parts) = match family {
            Bert => ("bert.", "encoder.layer.", &[][..]),
            Roberta | XlmRoberta => ("roberta.", "encoder.layer.", &[][..]),
            DistilBert => ("distilbert.", "transformer.layer.", DISTILBERT_LAYER),
            Electra => ("electra.", "encoder.layer.", &[][..]),
        };
        Self {
            prefix,
            layers,
            layer_parts,
        }
    }

    /// A checkpoint key in the canonical names (`roberta.encoder.layer.0...` ->
    /// `bert.encoder.layer.0...`); keys outside the encoder are left as they are.
    pub fn to_canonical(&self, key: &str) -> String {
        self.translate(
            key,
            (self.prefix, ENCODER_PREFIX),
            (self.layers, "encoder.layer."),
            true,
        )
    }

    /// A canonical key in this family's names, for writing a checkpoint.
    pub fn to_file(&self, key: &str) -> String {
        self.translate(
            key,
            (ENCODER_PREFIX, self.prefix),
            ("encoder.layer.", self.layers),
            false,
        )
    }

    fn translate(
        &self,
        key: &str,
        (prefix_from, prefix_to): (&str, &str),
        (layers_from, layers_to): (&str, &str),
        to_canonical: bool,
    ) -> String {
        let (prefix, body) = match key.strip_prefix(prefix_from) {
            Some(body) => (prefix_to, body),
            None => ("", key),
        };
        let Some(rest) = body.strip_prefix(layers_from) else {
            return format!("{prefix}{body}");
        };
        let Some((index, part)) = rest.split_once('.') else {
            return format!("{prefix}{body}");
        };
        let part = self
            .layer_parts
            .iter()
            .map(|&(canonical, own)| {
                if to_canonical {
                    (own, canonical)
                } else {
                    (canonical, own)
                }
            })
            .find_map(|(from, to)| part.strip_prefix(from).map(|param| format!("{to}{param}")))
            .unwrap_or_else(|| part.to_string());
        format!("{prefix}{layers_to}{index}.{part}")
    }
}

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
    fn distilbert_names_go_both_ways() {
        let keys = FamilyKeys::of(crate::ModelFamily::DistilBert);
        for (file, canonical) in [
            (
                "distilbert.transformer.layer.1.attention.q_lin.weight",
                "bert.encoder.layer.1.attention.self.query.weight",
            ),
            (
                "transformer.layer.0.sa_layer_norm.bias",
                "encoder.layer.0.attention.output.LayerNorm.bias",
            ),
            (
                "transformer.layer.0.output_layer_norm.weight",
                "encoder.layer.0.output.LayerNorm.weight",
            ),
            (
                "transformer.layer.5.ffn.lin2.bias",
                "encoder.layer.5.output.dense.bias",
            ),
            (
                "distilbert.embeddings.LayerNorm.weight",
                "bert.embeddings.LayerNorm.weight",
            ),
            ("pre_classifier.weight", "pre_classifier.weight"),
        ] {
            assert_eq!(keys.to_canonical(file), canonical);
            assert_eq!(keys.to_file(canonical), file);
        }
    }

    #[test]
    fn distilbert_module_names_have_canonical_parts() {
        assert_eq!(
            canonical_layer_module("q_lin"),
            Some("attention.self.query")
        );
        assert_eq!(
            canonical_layer_module("out_lin"),
            Some("attention.output.dense")
        );
        assert_eq!(canonical_layer_module("lin2"), Some("output.dense"));
        assert_eq!(canonical_layer_module("query"), None);
    }

    #[test]
    fn roberta_and_electra_swap_the_prefix_only() {
        let keys = FamilyKeys::of(crate::ModelFamily::XlmRoberta);
        assert_eq!(
            keys.to_canonical("roberta.encoder.layer.2.attention.self.key.bias"),
            "bert.encoder.layer.2.attention.self.key.bias"
        );
        assert_eq!(
            keys.to_file("classifier.out_proj.weight"),
            "classifier.out_proj.weight"
        );
        let keys = FamilyKeys::of(crate::ModelFamily::Electra);
        assert_eq!(
            keys.to_file("bert.embeddings_project.weight"),
            "electra.embeddings_project.weight"
        );
        assert_eq!(
            keys.to_canonical("embeddings_project.bias"),
            "embeddings_project.bias"
        );
        let bert = FamilyKeys::of(crate::ModelFamily::Bert);
        assert_eq!(
            bert.to_file("bert.pooler.dense.weight"),
            "bert.pooler.dense.weight"
        );
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

//! Where a parameter sits in the model, and how the optimizer treats it: the vocabulary a
//! [`super::Strategy`] is written in.
//!
//! Parameters are grouped by their HF name: the embeddings, encoder layer `i` (0 = bottom), or
//! the head (everything outside the encoder, plus the pooler, which only heads use).

/// Where a parameter sits in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Embeddings,
    Layer(usize),
    Head,
}

/// Classifies an HF parameter name (`bert.encoder.layer.3.attention.self.query.weight`).
pub fn part_of(name: &str) -> Part {
    let name = name
        .strip_prefix(encoder::key_map::ENCODER_PREFIX)
        .unwrap_or(name);
    if name.starts_with("embeddings.") {
        return Part::Embeddings;
    }
    if let Some(rest) = name.strip_prefix("encoder.layer.")
        && let Some(index) = rest.split('.').next().and_then(|i| i.parse().ok())
    {
        return Part::Layer(index);
    }
    Part::Head
}

/// Weight decay applies to every parameter except biases and LayerNorm weights
/// (transformers' `Trainer.get_decay_parameter_names`).
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm.") || name.contains("layer_norm."))
}

/// How one parameter is optimised: its learning-rate multiplier and whether it decays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamGroup {
    pub lr_scale: f64,
    pub weight_decay: bool,
}

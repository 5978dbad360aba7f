//! LoRA (Hu et al. 2021) through Burn's reparameterization: adapters `A [in, r]`, `B [r, out]`
//! on chosen linear weights of the encoder layers, the effective weight being
//! `W + (alpha / r) A B`. Base weights are frozen; the adapters (and the head) train. For export
//! the adapters are merged into the weights, so the result is a plain transformers model.

use std::collections::BTreeMap;

use burn::module::{Lora, Module, ParamGroup};
use encoder::HostTensor;
use encoder::checkpoint::named_params;

use serde::{Deserialize, Serialize};

use super::parts::{Part, part_of};

/// LoRA settings (Hu et al. 2021): rank-`rank` adapters on the named linear layers, scaled
/// by `alpha / rank`; merged into the weights when the model is exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSettings {
    pub rank: usize,
    #[serde(default = "default_lora_alpha")]
    pub alpha: f64,
    /// Linear layers to adapt, by their last name segment (HF PEFT's `target_modules`).
    #[serde(default = "default_lora_targets")]
    pub target_modules: Vec<String>,
}

impl LoraSettings {
    /// Rank-`rank` adapters with the default alpha (16) on `query` and `value`.
    pub fn with_rank(rank: usize) -> Self {
        Self {
            rank,
            alpha: default_lora_alpha(),
            target_modules: default_lora_targets(),
        }
    }
}

fn default_lora_alpha() -> f64 {
    16.0
}

fn default_lora_targets() -> Vec<String> {
    vec!["query".into(), "value".into()]
}

/// The segment Burn puts between an adapted weight and its factors (`...weight.lora.a`).
const ADAPTER_SEGMENT: &str = ".lora.";

/// Whether an HF-style parameter name belongs to a LoRA adapter factor.
pub fn is_adapter(name: &str) -> bool {
    name.contains(ADAPTER_SEGMENT)
}

/// HF names of the weights LoRA adapts: `encoder.layer.*.{target}.weight`. A target may also
/// be a DistilBERT module name (`q_lin`, `v_lin`, `out_lin`, `lin1`, `lin2`), which selects
/// that exact part of every layer, whatever the family (inside finetune every family goes by
/// BERT's names: `q_lin` is `attention.self.query`).
pub fn targets<M: Module>(model: &M, settings: &LoraSettings) -> Vec<(String, String)> {
    let matches = |name: &str, target: &str| match encoder::key_map::canonical_layer_module(target)
    {
        Some(part) => layer_part(name) == Some(&format!("{part}.weight")),
        None => name.ends_with(&format!(".{target}.weight")),
    };
    named_params(model)
        .into_iter()
        .filter(|p| matches!(part_of(&p.name), Part::Layer(_)) && p.shape.len() == 2)
        .filter(|p| settings.target_modules.iter().any(|t| matches(&p.name, t)))
        .map(|p| (p.name, p.path))
        .collect()
}

/// What follows `encoder.layer.{i}.` in a parameter name.
fn layer_part(name: &str) -> Option<&str> {
    let (_, rest) = name.split_once("encoder.layer.")?;
    Some(rest.split_once('.')?.1)
}

/// Attaches adapters to the target weights. Fails when no weight matches the targets.
pub fn apply<M: Module>(model: M, settings: &LoraSettings) -> Result<M, String> {
    let targets = targets(&model, settings);
    if targets.is_empty() {
        return Err(format!(
            "lora.target_modules {:?} match no linear layer of the encoder (e.g. query, key, value, dense)",
            settings.target_modules
        ));
    }
    let group = ParamGroup::from_paths(targets.into_iter().map(|(_, path)| path).collect());
    let lora = Lora::new(settings.rank, settings.alpha).set_param_group(group);
    Ok(model.apply_lora(lora))
}

/// Folds every adapter into its weight: `W_hf += scale * (A B)^T` (HF stores `[out, in]`),
/// and drops the factors.
pub fn merge(state: &mut BTreeMap<String, HostTensor>, scale: f64) {
    let bases: Vec<String> = state
        .keys()
        .filter_map(|k| k.strip_suffix(".lora.a").map(str::to_string))
        .collect();
    for base in bases {
        let a = state
            .remove(&format!("{base}.lora.a"))
            .expect("listed above");
        let b = state
            .remove(&format!("{base}.lora.b"))
            .expect("LoRA factors come in pairs");
        let weight = state.get_mut(&base).expect("an adapter's base weight");
        let (d_in, rank, d_out) = (a.shape[0], a.shape[1], b.shape[1]);
        assert_eq!(
            weight.shape,
            vec![d_out, d_in],
            "{base}: HF layout [out, in]"
        );
        for o in 0..d_out {
            for i in 0..d_in {
                let mut delta = 0.0f64;
                for r in 0..rank {
                    delta += a.data[i * rank + r] as f64 * b.data[r * d_out + o] as f64;
                }
                weight.data[o * d_in + i] += (scale * delta) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distilbert() -> encoder::BertModel {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/families/distilbert");
        encoder::load_pretrained(&dir, &burn::tensor::Device::default())
            .unwrap()
            .model
    }

    fn names(modules: &[&str]) -> Vec<String> {
        let settings = LoraSettings {
            target_modules: modules.iter().map(|t| t.to_string()).collect(),
            ..LoraSettings::with_rank(4)
        };
        targets(&distilbert(), &settings)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn distilbert_module_names_select_the_same_weights_as_berts() {
        assert_eq!(names(&["q_lin", "v_lin"]), names(&["query", "value"]));
        assert_eq!(
            names(&["lin2"]),
            vec![
                "encoder.layer.0.output.dense.weight".to_string(),
                "encoder.layer.1.output.dense.weight".to_string()
            ]
        );
        // `dense` is every dense layer (PEFT's suffix rule); `out_lin` only attention's.
        assert_eq!(names(&["dense"]).len(), 6);
        assert_eq!(names(&["out_lin"]).len(), 2);
    }
}

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

/// HF names of the weights LoRA adapts: `encoder.layer.*.{target}.weight`.
pub fn targets<M: Module>(model: &M, settings: &LoraSettings) -> Vec<(String, String)> {
    named_params(model)
        .into_iter()
        .filter(|p| matches!(part_of(&p.name), Part::Layer(_)) && p.shape.len() == 2)
        .filter(|p| {
            settings
                .target_modules
                .iter()
                .any(|t| p.name.ends_with(&format!(".{t}.weight")))
        })
        .map(|p| (p.name, p.path))
        .collect()
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

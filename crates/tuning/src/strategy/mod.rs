//! Fine-tuning strategies: which parameters learn, and at what rate.
//!
//! A [`Strategy`] is a set of composable settings (freeze the embeddings *and* use layer-wise
//! decay, say); [`Strategy::preset`] reads the one-word forms users pick on the command line
//! (`full`, `freeze-bottom:3`, `llrd:0.95`, `top:2`, `bitfit`, `lora:8`, ...). A strategy turns
//! into a [`ParamPlan`]: for every parameter, by its HF name, whether it trains, its learning
//! rate multiplier and whether weight decay applies.
//!
//! Parameters are grouped by where they sit in the model: the embeddings, encoder layer `i`
//! (0 = bottom), or the head (everything outside the encoder, plus the pooler, which only heads
//! use).

pub mod lora;
pub mod parts;

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::Tensor;
use encoder::checkpoint::{NamedParam, named_params};
use serde::{Deserialize, Serialize};

pub use lora::LoraSettings;
pub use parts::{ParamGroup, Part, decays, part_of};

/// A fine-tuning strategy. The default is full fine-tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Strategy {
    /// Keep the embedding layer fixed.
    pub freeze_embeddings: bool,
    /// Keep the embeddings and the bottom `k` encoder layers fixed.
    pub freeze_bottom_layers: usize,
    /// Train only the top `k` encoder layers and the head.
    pub train_top_layers: Option<usize>,
    /// Layer-wise learning-rate decay factor xi: layer i (1 = bottom, L = top) learns at
    /// lr * xi^(L - i), the embeddings at lr * xi^L, the head at lr.
    pub layerwise_lr_decay: Option<f64>,
    /// ULMFiT-style: epoch 0 trains the head and the top layer, each later epoch one more
    /// layer downwards, the embeddings last.
    pub gradual_unfreezing: bool,
    /// Re-initialise the top `k` encoder layers (normal, std = initializer_range) before training.
    pub reinit_top_layers: usize,
    /// BitFit (Ben Zaken et al. 2022): train only the biases and the head.
    pub bitfit: bool,
    /// Train LoRA adapters and the head; everything else stays fixed.
    pub lora: Option<LoraSettings>,
}

impl Strategy {
    /// Parses the one-word forms: `full`, `freeze-embeddings`, `freeze-bottom:K`, `top:K`,
    /// `llrd:XI`, `gradual-unfreezing`, `reinit-top:K`, `bitfit`, `lora:R`.
    pub fn preset(text: &str) -> Result<Self, String> {
        let (name, arg) = match text.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let need = |what: &str| -> Result<&str, String> {
            arg.ok_or_else(|| format!("strategy `{name}` needs {what}, e.g. `{name}:2`"))
        };
        let int = |what: &str| -> Result<usize, String> {
            need(what)?
                .parse()
                .map_err(|_| format!("strategy `{text}`: {what} must be a whole number"))
        };
        let mut s = Strategy::default();
        match name {
            "full" => {}
            "freeze-embeddings" => s.freeze_embeddings = true,
            "freeze-bottom" => s.freeze_bottom_layers = int("a layer count")?,
            "top" => s.train_top_layers = Some(int("a layer count")?),
            "llrd" => {
                let xi: f64 = need("a decay factor")?
                    .parse()
                    .map_err(|_| format!("strategy `{text}`: the decay factor must be a number"))?;
                s.layerwise_lr_decay = Some(xi);
            }
            "gradual-unfreezing" => s.gradual_unfreezing = true,
            "reinit-top" => s.reinit_top_layers = int("a layer count")?,
            "bitfit" => s.bitfit = true,
            "lora" => {
                s.lora = Some(LoraSettings::with_rank(int("a rank")?));
            }
            _ => {
                return Err(format!(
                    "unknown strategy `{text}` (full, freeze-embeddings, freeze-bottom:K, top:K, llrd:XI, gradual-unfreezing, reinit-top:K, bitfit, lora:R)"
                ));
            }
        }
        Ok(s)
    }

    /// The one-word form of this strategy (`llrd:0.95`), when it is one of the presets.
    pub fn preset_name(&self) -> Option<String> {
        let mut names = Vec::new();
        let d = Strategy::default();
        if self.freeze_embeddings {
            names.push("freeze-embeddings".to_string());
        }
        if self.freeze_bottom_layers != d.freeze_bottom_layers {
            names.push(format!("freeze-bottom:{}", self.freeze_bottom_layers));
        }
        if let Some(k) = self.train_top_layers {
            names.push(format!("top:{k}"));
        }
        if let Some(xi) = self.layerwise_lr_decay {
            names.push(format!("llrd:{xi}"));
        }
        if self.gradual_unfreezing {
            names.push("gradual-unfreezing".into());
        }
        if self.reinit_top_layers != d.reinit_top_layers {
            names.push(format!("reinit-top:{}", self.reinit_top_layers));
        }
        if self.bitfit {
            names.push("bitfit".into());
        }
        if let Some(lora) = &self.lora {
            if *lora != LoraSettings::with_rank(lora.rank) {
                return None;
            }
            names.push(format!("lora:{}", lora.rank));
        }
        match names.len() {
            0 => Some("full".into()),
            1 => names.pop(),
            _ => None,
        }
    }

    pub fn validate(&self, num_layers: usize) -> Result<(), String> {
        if self.freeze_bottom_layers > num_layers {
            return Err(format!(
                "freeze_bottom_layers = {} but the model has {num_layers} layers",
                self.freeze_bottom_layers
            ));
        }
        if let Some(k) = self.train_top_layers
            && k > num_layers
        {
            return Err(format!(
                "train_top_layers = {k} but the model has {num_layers} layers"
            ));
        }
        if self.reinit_top_layers > num_layers {
            return Err(format!(
                "reinit_top_layers = {} but the model has {num_layers} layers",
                self.reinit_top_layers
            ));
        }
        if let Some(xi) = self.layerwise_lr_decay
            && !(xi > 0.0 && xi <= 1.0)
        {
            return Err(format!("layerwise_lr_decay must be in (0, 1], got {xi}"));
        }
        if let Some(lora) = &self.lora {
            if lora.rank == 0 {
                return Err("lora.rank must be at least 1".into());
            }
            if lora.target_modules.is_empty() {
                return Err("lora.target_modules is empty".into());
            }
        }
        if self.lora.is_some() && (self.bitfit || self.gradual_unfreezing) {
            return Err("lora cannot be combined with bitfit or gradual_unfreezing".into());
        }
        Ok(())
    }

    /// Whether parameter `name` trains in epoch `epoch` (0-based).
    pub fn trains(&self, name: &str, num_layers: usize, epoch: usize) -> bool {
        let part = part_of(name);
        if self.lora.is_some() {
            // Of the model's own parameters only the head trains, besides the adapters.
            return part == Part::Head || lora::is_adapter(name);
        }
        if self.bitfit && part != Part::Head && !name.ends_with(".bias") {
            return false;
        }
        match part {
            Part::Head => true,
            Part::Embeddings => {
                !self.freeze_embeddings
                    && self.freeze_bottom_layers == 0
                    && self.train_top_layers.is_none()
                    && (!self.gradual_unfreezing || epoch >= num_layers)
            }
            Part::Layer(i) => {
                let from_top = num_layers - 1 - i; // 0 for the top layer
                i >= self.freeze_bottom_layers
                    && self.train_top_layers.is_none_or(|k| from_top < k)
                    && (!self.gradual_unfreezing || from_top <= epoch)
            }
        }
    }

    /// The learning-rate multiplier of parameter `name`.
    pub fn lr_scale(&self, name: &str, num_layers: usize) -> f64 {
        let Some(xi) = self.layerwise_lr_decay else {
            return 1.0;
        };
        match part_of(name) {
            Part::Head => 1.0,
            // Layer index i (0-based) is layer i + 1 counted from 1.
            Part::Layer(i) => xi.powi((num_layers - (i + 1)) as i32),
            Part::Embeddings => xi.powi(num_layers as i32),
        }
    }

    /// The per-parameter plan for epoch `epoch`.
    pub fn plan(&self, params: &[NamedParam], num_layers: usize, epoch: usize) -> ParamPlan {
        ParamPlan {
            entries: params
                .iter()
                .map(|p| PlanEntry {
                    name: p.name.clone(),
                    numel: p.numel(),
                    trainable: self.trains(&p.name, num_layers, epoch),
                    lr_scale: self.lr_scale(&p.name, num_layers),
                    weight_decay: decays(&p.name),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    pub name: String,
    pub numel: usize,
    pub trainable: bool,
    pub lr_scale: f64,
    pub weight_decay: bool,
}

/// What the strategy decided for every parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamPlan {
    pub entries: Vec<PlanEntry>,
}

/// Sets which parameters take part in backpropagation, by parameter id.
struct SetTrainable<'a> {
    trainable: &'a HashMap<ParamId, bool>,
}

impl ModuleMapper for SetTrainable<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let wanted = self.trainable.get(&param.id).copied().unwrap_or(true);
        param.set_require_grad(wanted)
    }
}

impl ParamPlan {
    /// Applies the plan to `model` (whose parameters it was made from, in the same order):
    /// frozen parameters stop requiring gradients (so none is even computed for them), and
    /// each parameter's optimizer group is returned by id.
    pub fn apply<M: Module>(&self, model: M) -> (M, HashMap<ParamId, ParamGroup>) {
        let params = named_params(&model);
        let mut trainable = HashMap::new();
        let mut groups = HashMap::new();
        for (param, entry) in params.iter().zip(&self.entries) {
            debug_assert_eq!(param.name, entry.name);
            trainable.insert(param.id, entry.trainable);
            groups.insert(
                param.id,
                ParamGroup {
                    lr_scale: entry.lr_scale,
                    weight_decay: entry.weight_decay,
                },
            );
        }
        let model = model.map(&mut SetTrainable {
            trainable: &trainable,
        });
        (model, groups)
    }

    pub fn get(&self, name: &str) -> Option<&PlanEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// (trainable parameters, all parameters)
    pub fn counts(&self) -> (usize, usize) {
        let total = self.entries.iter().map(|e| e.numel).sum();
        let trainable = self
            .entries
            .iter()
            .filter(|e| e.trainable)
            .map(|e| e.numel)
            .sum();
        (trainable, total)
    }

    /// "trainable params: 22,713,216 of 22,713,986 (100.00%)"
    pub fn summary(&self) -> String {
        let (trainable, total) = self.counts();
        format!(
            "trainable params: {} of {} ({:.2}%)",
            thousands(trainable),
            thousands(total),
            100.0 * trainable as f64 / total.max(1) as f64
        )
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: usize = 6;

    fn layer(i: usize, rest: &str) -> String {
        format!("bert.encoder.layer.{i}.{rest}")
    }

    #[test]
    fn names_are_placed_in_the_model() {
        assert_eq!(
            part_of("bert.embeddings.word_embeddings.weight"),
            Part::Embeddings
        );
        assert_eq!(part_of("embeddings.LayerNorm.bias"), Part::Embeddings);
        assert_eq!(part_of(&layer(5, "output.dense.weight")), Part::Layer(5));
        assert_eq!(part_of("bert.pooler.dense.weight"), Part::Head);
        assert_eq!(part_of("classifier.weight"), Part::Head);
    }

    #[test]
    fn weight_decay_skips_biases_and_layer_norm() {
        assert!(decays(&layer(0, "attention.self.query.weight")));
        assert!(decays("bert.embeddings.word_embeddings.weight"));
        assert!(decays("classifier.weight"));
        assert!(!decays("classifier.bias"));
        assert!(!decays(&layer(2, "output.LayerNorm.weight")));
        assert!(!decays("bert.embeddings.LayerNorm.bias"));
    }

    #[test]
    fn layerwise_decay_gives_layer_i_lr_times_xi_to_the_l_minus_i() {
        let s = Strategy::preset("llrd:0.9").unwrap();
        let top = layer(5, "output.dense.weight");
        assert_eq!(s.lr_scale(&top, L), 1.0);
        assert!((s.lr_scale(&layer(0, "output.dense.weight"), L) - 0.9f64.powi(5)).abs() < 1e-15);
        assert!(
            (s.lr_scale("bert.embeddings.word_embeddings.weight", L) - 0.9f64.powi(6)).abs()
                < 1e-15
        );
        assert_eq!(s.lr_scale("classifier.weight", L), 1.0);
        assert_eq!(Strategy::default().lr_scale(&top, L), 1.0);
    }

    #[test]
    fn freezing_presets_pick_the_right_parts() {
        let s = Strategy::preset("freeze-bottom:3").unwrap();
        assert!(!s.trains("bert.embeddings.word_embeddings.weight", L, 0));
        assert!(!s.trains(&layer(2, "output.dense.weight"), L, 0));
        assert!(s.trains(&layer(3, "output.dense.weight"), L, 0));
        assert!(s.trains("classifier.weight", L, 0));

        let s = Strategy::preset("top:2").unwrap();
        assert!(!s.trains(&layer(3, "output.dense.bias"), L, 0));
        assert!(s.trains(&layer(4, "output.dense.bias"), L, 0));
        assert!(s.trains("bert.pooler.dense.weight", L, 0));
        assert!(!s.trains("bert.embeddings.LayerNorm.weight", L, 0));

        let s = Strategy::preset("freeze-embeddings").unwrap();
        assert!(!s.trains("bert.embeddings.position_embeddings.weight", L, 0));
        assert!(s.trains(&layer(0, "attention.self.key.weight"), L, 0));
    }

    #[test]
    fn bitfit_trains_biases_and_the_head_only() {
        let s = Strategy::preset("bitfit").unwrap();
        assert!(s.trains(&layer(1, "attention.self.query.bias"), L, 0));
        assert!(s.trains("bert.embeddings.LayerNorm.bias", L, 0));
        assert!(!s.trains(&layer(1, "attention.self.query.weight"), L, 0));
        assert!(!s.trains("bert.embeddings.LayerNorm.weight", L, 0));
        assert!(s.trains("classifier.weight", L, 0));
    }

    #[test]
    fn gradual_unfreezing_adds_one_layer_per_epoch_from_the_top() {
        let s = Strategy::preset("gradual-unfreezing").unwrap();
        let trains = |i: usize, epoch| s.trains(&layer(i, "output.dense.weight"), L, epoch);
        assert!(trains(5, 0) && !trains(4, 0));
        assert!(trains(4, 1) && !trains(3, 1));
        assert!(trains(0, 5));
        assert!(!s.trains("bert.embeddings.word_embeddings.weight", L, 5));
        assert!(s.trains("bert.embeddings.word_embeddings.weight", L, 6));
    }

    #[test]
    fn presets_reject_bad_input() {
        assert!(Strategy::preset("top").unwrap_err().contains("top:2"));
        assert!(Strategy::preset("llrd:fast").is_err());
        assert!(
            Strategy::preset("sideways")
                .unwrap_err()
                .contains("unknown strategy")
        );
        assert!(
            Strategy::preset("freeze-bottom:9")
                .unwrap()
                .validate(L)
                .is_err()
        );
        assert!(Strategy::preset("llrd:1.5").unwrap().validate(L).is_err());
    }

    #[test]
    fn summary_counts_trainable_share() {
        let plan = ParamPlan {
            entries: vec![
                PlanEntry {
                    name: "a".into(),
                    numel: 3_000_000,
                    trainable: true,
                    lr_scale: 1.0,
                    weight_decay: true,
                },
                PlanEntry {
                    name: "b".into(),
                    numel: 1_000_000,
                    trainable: false,
                    lr_scale: 1.0,
                    weight_decay: true,
                },
            ],
        };
        assert_eq!(
            plan.summary(),
            "trainable params: 3,000,000 of 4,000,000 (75.00%)"
        );
    }
}

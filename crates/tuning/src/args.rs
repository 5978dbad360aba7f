//! Training settings, named after transformers' `TrainingArguments`.
//!
//! Resolution order: defaults, then a TOML or JSON config file, then command-line flags. The
//! resolved settings are validated with messages that name the setting, and written to
//! `output_dir/training_args.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::schedule::SchedulerType;
use crate::strategy::Strategy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalStrategy {
    No,
    Steps,
    Epoch,
}

/// Every setting of a training run. Field names and defaults are transformers'
/// `TrainingArguments` unless noted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingArgs {
    pub output_dir: PathBuf,
    pub overwrite_output_dir: bool,
    pub learning_rate: f64,
    pub num_train_epochs: f64,
    /// Total optimizer steps; overrides `num_train_epochs` when set (transformers: -1 = unset).
    pub max_steps: Option<usize>,
    pub per_device_train_batch_size: usize,
    pub per_device_eval_batch_size: usize,
    pub gradient_accumulation_steps: usize,
    pub warmup_ratio: f64,
    pub warmup_steps: usize,
    pub lr_scheduler_type: SchedulerType,
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    pub max_grad_norm: f64,
    pub seed: u64,
    pub eval_strategy: IntervalStrategy,
    pub eval_steps: Option<usize>,
    pub save_strategy: IntervalStrategy,
    pub save_steps: usize,
    pub save_total_limit: Option<usize>,
    pub logging_steps: usize,
    /// Selects the best model; defaults to the task's own metric (e.g. accuracy).
    pub metric_for_best_model: Option<String>,
    /// Defaults to true for every metric but a loss.
    pub greater_is_better: Option<bool>,
    /// What `output_dir` holds at the end: the model of the best evaluation (true) or the
    /// final one (false). transformers' Trainer defaults to false; finetune to true, since it
    /// evaluates every epoch by default and a run's export is what `eval` and `predict` use.
    pub load_best_model_at_end: bool,
    /// Stop after this many evaluations without improvement (transformers'
    /// `EarlyStoppingCallback`).
    pub early_stopping_patience: Option<usize>,
    pub early_stopping_threshold: f64,
    pub max_train_samples: Option<usize>,
    pub max_eval_samples: Option<usize>,
    /// Longest input in tokens (run_glue's `max_seq_length`; padding is dynamic).
    pub max_seq_length: usize,
    pub group_by_length: bool,
    /// Override the encoder's dropout probabilities (`hidden_dropout_prob`,
    /// `attention_probs_dropout_prob` in config.json).
    pub hidden_dropout_prob: Option<f64>,
    pub attention_probs_dropout_prob: Option<f64>,
    /// Dropout before the task head (transformers' `classifier_dropout`; defaults to
    /// `hidden_dropout_prob`).
    pub classifier_dropout: Option<f64>,
    pub strategy: Strategy,
}

impl Default for TrainingArgs {
    fn default() -> Self {
        Self {
            output_dir: PathBuf::from("runs/latest"),
            overwrite_output_dir: false,
            learning_rate: 5e-5,
            num_train_epochs: 3.0,
            max_steps: None,
            per_device_train_batch_size: 8,
            per_device_eval_batch_size: 8,
            gradient_accumulation_steps: 1,
            warmup_ratio: 0.0,
            warmup_steps: 0,
            lr_scheduler_type: SchedulerType::Linear,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            seed: 42,
            eval_strategy: IntervalStrategy::Epoch,
            eval_steps: None,
            // transformers' default; the final state is always checkpointed as well.
            save_strategy: IntervalStrategy::Steps,
            save_steps: 500,
            save_total_limit: None,
            logging_steps: 50,
            metric_for_best_model: None,
            greater_is_better: None,
            load_best_model_at_end: true,
            early_stopping_patience: None,
            early_stopping_threshold: 0.0,
            max_train_samples: None,
            max_eval_samples: None,
            max_seq_length: 128,
            group_by_length: false,
            hidden_dropout_prob: None,
            attention_probs_dropout_prob: None,
            classifier_dropout: None,
            strategy: Strategy::default(),
        }
    }
}

/// Command-line flags for every setting, each overriding the config file. Flags use
/// transformers' names (`--learning_rate`), dashes accepted too (`--learning-rate`).
#[derive(Debug, Clone, Default, Args, Serialize)]
pub struct TrainingFlags {
    /// TOML or JSON file with settings (flags given here override it).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue the run in output_dir from its newest checkpoint.
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    #[arg(long = "output-dir", alias = "output_dir")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    #[arg(long = "overwrite-output-dir", alias = "overwrite_output_dir")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overwrite_output_dir: bool,
    #[arg(long = "learning-rate", alias = "learning_rate")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[arg(long = "num-train-epochs", alias = "num_train_epochs")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_train_epochs: Option<f64>,
    #[arg(long = "max-steps", alias = "max_steps")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    #[arg(
        long = "per-device-train-batch-size",
        alias = "per_device_train_batch_size"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_device_train_batch_size: Option<usize>,
    #[arg(
        long = "per-device-eval-batch-size",
        alias = "per_device_eval_batch_size"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_device_eval_batch_size: Option<usize>,
    #[arg(
        long = "gradient-accumulation-steps",
        alias = "gradient_accumulation_steps"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gradient_accumulation_steps: Option<usize>,
    #[arg(long = "warmup-ratio", alias = "warmup_ratio")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_ratio: Option<f64>,
    #[arg(long = "warmup-steps", alias = "warmup_steps")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_steps: Option<usize>,
    #[arg(long = "lr-scheduler-type", alias = "lr_scheduler_type")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_scheduler_type: Option<SchedulerType>,
    #[arg(long = "weight-decay", alias = "weight_decay")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    #[arg(long = "max-grad-norm", alias = "max_grad_norm")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<f64>,
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[arg(long = "eval-strategy", alias = "eval_strategy", value_parser = parse_interval)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_strategy: Option<IntervalStrategy>,
    #[arg(long = "eval-steps", alias = "eval_steps")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_steps: Option<usize>,
    #[arg(long = "save-strategy", alias = "save_strategy", value_parser = parse_interval)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_strategy: Option<IntervalStrategy>,
    #[arg(long = "save-steps", alias = "save_steps")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_steps: Option<usize>,
    #[arg(long = "save-total-limit", alias = "save_total_limit")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_total_limit: Option<usize>,
    #[arg(long = "logging-steps", alias = "logging_steps")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_steps: Option<usize>,
    #[arg(long = "metric-for-best-model", alias = "metric_for_best_model")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_for_best_model: Option<String>,
    #[arg(long = "greater-is-better", alias = "greater_is_better")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greater_is_better: Option<bool>,
    /// Export the best evaluation's model (true, the default) or the final model (false)
    #[arg(long = "load-best-model-at-end", alias = "load_best_model_at_end")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_best_model_at_end: Option<bool>,
    #[arg(long = "early-stopping-patience", alias = "early_stopping_patience")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    #[arg(long = "early-stopping-threshold", alias = "early_stopping_threshold")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping_threshold: Option<f64>,
    #[arg(long = "max-train-samples", alias = "max_train_samples")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_train_samples: Option<usize>,
    #[arg(long = "max-eval-samples", alias = "max_eval_samples")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_eval_samples: Option<usize>,
    #[arg(long = "max-seq-length", alias = "max_seq_length")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_seq_length: Option<usize>,
    #[arg(long = "group-by-length", alias = "group_by_length")]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub group_by_length: bool,
    #[arg(long = "hidden-dropout-prob", alias = "hidden_dropout_prob")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_dropout_prob: Option<f64>,
    #[arg(
        long = "attention-probs-dropout-prob",
        alias = "attention_probs_dropout_prob"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_probs_dropout_prob: Option<f64>,
    #[arg(long = "classifier-dropout", alias = "classifier_dropout")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    /// Fine-tuning strategy: full, freeze-embeddings, freeze-bottom:K, top:K, llrd:XI,
    /// gradual-unfreezing, reinit-top:K, bitfit, lora:R (replaces the config's strategy).
    #[arg(long, value_parser = Strategy::preset)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
}

fn parse_interval(s: &str) -> Result<IntervalStrategy, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("`{s}` is not one of: no, steps, epoch"))
}

impl TrainingArgs {
    /// Defaults, then `base` (a task's own defaults as JSON), then the config file, then flags.
    pub fn resolve(base: serde_json::Value, flags: &TrainingFlags) -> Result<Self> {
        let mut value = serde_json::to_value(TrainingArgs::default())?;
        merge(&mut value, base);
        if let Some(path) = &flags.config {
            merge(&mut value, read_config_file(path)?);
        }
        merge(&mut value, serde_json::to_value(flags)?);
        let args: TrainingArgs =
            serde_json::from_value(value).map_err(|err| match &flags.config {
                Some(path) => anyhow::anyhow!("{}: {err}", path.display()),
                None => anyhow::anyhow!("invalid settings: {err}"),
            })?;
        args.validate()?;
        Ok(args)
    }

    pub fn validate(&self) -> Result<()> {
        let positive = [
            (
                "per_device_train_batch_size",
                self.per_device_train_batch_size,
            ),
            (
                "per_device_eval_batch_size",
                self.per_device_eval_batch_size,
            ),
            (
                "gradient_accumulation_steps",
                self.gradient_accumulation_steps,
            ),
            ("logging_steps", self.logging_steps),
            ("max_seq_length", self.max_seq_length),
        ];
        for (name, value) in positive {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            bail!(
                "learning_rate must be a positive number, got {}",
                self.learning_rate
            );
        }
        if self.max_steps.is_none()
            && self.num_train_epochs.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
        {
            bail!("num_train_epochs must be positive (or set max_steps)");
        }
        if self.max_steps == Some(0) {
            bail!("max_steps must be at least 1");
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            bail!("warmup_ratio must be in [0, 1), got {}", self.warmup_ratio);
        }
        if self.weight_decay < 0.0 {
            bail!("weight_decay must not be negative");
        }
        if self.max_grad_norm < 0.0 {
            bail!("max_grad_norm must not be negative (0 turns clipping off)");
        }
        if self.eval_strategy == IntervalStrategy::Steps && self.eval_steps.is_none() {
            bail!("eval_strategy = steps needs eval_steps");
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            ("classifier_dropout", self.classifier_dropout),
        ] {
            if let Some(p) = p
                && !(0.0..1.0).contains(&p)
            {
                bail!("{name} must be in [0, 1), got {p}");
            }
        }
        Ok(())
    }

    /// Writes the resolved settings, as transformers writes `training_args.bin` (here JSON).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        encoder::fsutil::write_atomic(&dir.join("training_args.json"), json.as_bytes())
            .with_context(|| format!("cannot write {}", dir.join("training_args.json").display()))
    }
}

fn read_config_file(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", path.display())),
        _ => {
            let value: toml::Value = toml::from_str(&text)
                .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
            Ok(serde_json::to_value(value)?)
        }
    }
}

/// Overlays `top` on `base`, key by key (objects recursively).
fn merge(base: &mut serde_json::Value, top: serde_json::Value) {
    match (base, top) {
        (serde_json::Value::Object(base), serde_json::Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() && key != "strategy" => {
                        merge(slot, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, top) => *slot = top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: TrainingFlags,
    }

    fn flags(args: &[&str]) -> TrainingFlags {
        Cli::parse_from(std::iter::once("x").chain(args.iter().copied())).flags
    }

    #[test]
    fn defaults_are_transformers_defaults() {
        let a = TrainingArgs::default();
        assert_eq!(a.learning_rate, 5e-5);
        assert_eq!(a.adam_epsilon, 1e-8);
        assert_eq!(a.max_grad_norm, 1.0);
        assert_eq!(a.per_device_train_batch_size, 8);
        assert_eq!(a.lr_scheduler_type, SchedulerType::Linear);
    }

    #[test]
    fn flags_override_the_config_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(
            &path,
            "learning_rate = 3e-5\nnum_train_epochs = 2\n[strategy]\nlayerwise_lr_decay = 0.9\n",
        )
        .unwrap();
        let cli = flags(&[
            "--config",
            path.to_str().unwrap(),
            "--num_train_epochs",
            "4",
            "--warmup-ratio",
            "0.1",
        ]);
        let a = TrainingArgs::resolve(serde_json::json!({}), &cli).unwrap();
        assert_eq!(a.learning_rate, 3e-5);
        assert_eq!(a.num_train_epochs, 4.0);
        assert_eq!(a.warmup_ratio, 0.1);
        assert_eq!(a.strategy.layerwise_lr_decay, Some(0.9));
        let cli = flags(&["--config", path.to_str().unwrap(), "--strategy", "bitfit"]);
        let a = TrainingArgs::resolve(serde_json::json!({}), &cli).unwrap();
        assert!(a.strategy.bitfit && a.strategy.layerwise_lr_decay.is_none());
    }

    #[test]
    fn unknown_and_invalid_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, r#"{"learning_rat": 1e-5}"#).unwrap();
        let err = TrainingArgs::resolve(
            serde_json::json!({}),
            &flags(&["--config", path.to_str().unwrap()]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("run.json") && err.contains("learning_rat"),
            "{err}"
        );
        let err = TrainingArgs::resolve(
            serde_json::json!({}),
            &flags(&["--per_device_train_batch_size", "0"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("per_device_train_batch_size"), "{err}");
        let err =
            TrainingArgs::resolve(serde_json::json!({}), &flags(&["--eval_strategy", "steps"]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("eval_steps"), "{err}");
    }
}

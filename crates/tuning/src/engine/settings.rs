//! Training settings, named after transformers' `TrainingArguments`, declared once in
//! [`TrainingArgs`].
//!
//! Resolution order: the task's defaults, then a TOML or JSON config file, then the flags given
//! on the command line. The resolved settings are validated with messages that name the
//! setting, and written to `output_dir/training_args.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};

use super::schedule::SchedulerType;
use crate::strategy::Strategy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalStrategy {
    No,
    Steps,
    Epoch,
}

/// Every setting of a training run, declared once: the fields are the keys of
/// `training_args.json` and of a `--config` file, and (through the `clap::Args` derive) the
/// command-line flags of every task's `train`, with transformers' names (`--learning-rate`, or
/// `--learning_rate` as transformers spells it). Field names and defaults are transformers'
/// `TrainingArguments` unless noted; a task starts from its own defaults
/// ([`TrainingArgs::for_task`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields, default)]
#[command(next_help_heading = "Training settings (transformers' TrainingArguments)")]
pub struct TrainingArgs {
    /// Where the run is written: the model, training_args.json, metrics.jsonl, checkpoints.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Replace a run already in output_dir.
    #[arg(long)]
    pub overwrite_output_dir: bool,
    /// Peak learning rate (AdamW).
    #[arg(long)]
    pub learning_rate: f64,
    /// Epochs over the training set (fractions allowed).
    #[arg(long)]
    pub num_train_epochs: f64,
    /// Total optimizer steps; overrides `num_train_epochs` when set (transformers: -1 = unset).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Training features per micro-batch.
    #[arg(long)]
    pub per_device_train_batch_size: usize,
    /// Features per batch when evaluating.
    #[arg(long)]
    pub per_device_eval_batch_size: usize,
    /// Micro-batches whose averaged gradients make one optimizer step.
    #[arg(long)]
    pub gradient_accumulation_steps: usize,
    /// Share of the steps spent warming the learning rate up from 0.
    #[arg(long)]
    pub warmup_ratio: f64,
    /// Warmup steps (overrides warmup_ratio when positive).
    #[arg(long)]
    pub warmup_steps: usize,
    /// linear, cosine, constant, constant_with_warmup or polynomial.
    #[arg(long)]
    pub lr_scheduler_type: SchedulerType,
    /// AdamW's decoupled weight decay (never on biases and LayerNorm weights).
    #[arg(long)]
    pub weight_decay: f64,
    #[arg(long)]
    pub adam_beta1: f64,
    #[arg(long)]
    pub adam_beta2: f64,
    #[arg(long)]
    pub adam_epsilon: f64,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long)]
    pub max_grad_norm: f64,
    /// Seeds the head's initial weights, the shuffling and dropout.
    #[arg(long)]
    pub seed: u64,
    /// When to evaluate: no, steps (every eval_steps) or epoch.
    #[arg(long, value_parser = parse_interval)]
    pub eval_strategy: IntervalStrategy,
    #[arg(long)]
    pub eval_steps: Option<usize>,
    /// When to write a checkpoint: no, steps (every save_steps) or epoch; the final state is
    /// always written unless `no`.
    #[arg(long, value_parser = parse_interval)]
    pub save_strategy: IntervalStrategy,
    #[arg(long)]
    pub save_steps: usize,
    /// Keep only the newest this many checkpoints.
    #[arg(long)]
    pub save_total_limit: Option<usize>,
    /// Log the training loss every this many steps.
    #[arg(long)]
    pub logging_steps: usize,
    /// Selects the best model; defaults to the task's own metric (e.g. accuracy).
    #[arg(long)]
    pub metric_for_best_model: Option<String>,
    /// Defaults to true for every metric but a loss.
    #[arg(long)]
    pub greater_is_better: Option<bool>,
    /// What `output_dir` holds at the end: the model of the best evaluation (true) or the
    /// final one (false). transformers' Trainer defaults to false; finetune to true, since it
    /// evaluates every epoch by default and a run's export is what `eval` and `predict` use.
    #[arg(long, action = ArgAction::Set)]
    pub load_best_model_at_end: bool,
    /// Stop after this many evaluations without improvement (transformers'
    /// `EarlyStoppingCallback`).
    #[arg(long)]
    pub early_stopping_patience: Option<usize>,
    /// The least gain that counts as an improvement.
    #[arg(long)]
    pub early_stopping_threshold: f64,
    /// Train on the first N training examples only.
    #[arg(long)]
    pub max_train_samples: Option<usize>,
    /// Evaluate on the first N validation examples only.
    #[arg(long)]
    pub max_eval_samples: Option<usize>,
    /// Longest input in tokens (run_glue's `max_seq_length`; padding is dynamic). `eval` and
    /// `predict` use it too unless told otherwise.
    #[arg(long)]
    pub max_seq_length: usize,
    /// Batches of similar length (less padding; transformers' `group_by_length`).
    #[arg(long)]
    pub group_by_length: bool,
    /// Override the encoder's dropout probabilities (`hidden_dropout_prob`,
    /// `attention_probs_dropout_prob` in config.json).
    #[arg(long)]
    pub hidden_dropout_prob: Option<f64>,
    #[arg(long)]
    pub attention_probs_dropout_prob: Option<f64>,
    /// Dropout before the task head (transformers' `classifier_dropout`; defaults to the
    /// checkpoint's, else `hidden_dropout_prob`; on DistilBERT it sets `seq_classif_dropout`
    /// and `qa_dropout`).
    #[arg(long)]
    pub classifier_dropout: Option<f64>,
    /// Fine-tuning strategy: full, freeze-embeddings, freeze-bottom:K, top:K, llrd:XI,
    /// gradual-unfreezing, reinit-top:K, bitfit, lora:R (replaces the config's strategy).
    #[arg(long, value_parser = Strategy::preset)]
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

fn parse_interval(s: &str) -> Result<IntervalStrategy, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("`{s}` is not one of: no, steps, epoch"))
}

impl TrainingArgs {
    /// The defaults most fine-tuning recipes start from (run_glue / run_ner style): batch 16
    /// (64 to evaluate), 10% warmup, weight decay 0.01, a log line every 10 steps, 128 tokens,
    /// writing to `output_dir`. A task changes what its recipe does differently.
    pub fn for_task(output_dir: &str) -> Self {
        Self {
            output_dir: PathBuf::from(output_dir),
            per_device_train_batch_size: 16,
            per_device_eval_batch_size: 64,
            warmup_ratio: 0.1,
            weight_decay: 0.01,
            logging_steps: 10,
            max_seq_length: 128,
            ..Self::default()
        }
    }

    /// Adds a flag for every setting to `command`, each showing its value in `defaults` as
    /// its default in `--help`, and accepting transformers' underscore spelling too.
    pub fn add_flags(command: Command, defaults: &TrainingArgs) -> Command {
        let mut command = Self::augment_args(command);
        let values = serde_json::to_value(defaults).expect("settings serialize");
        let names: Vec<String> = Self::augment_args(Command::new("settings"))
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        for name in names {
            let shown = match (&values[&name], name.as_str()) {
                (serde_json::Value::Null, _) => None,
                (_, "strategy") => Some(defaults.strategy.preset_name().unwrap_or("full".into())),
                (serde_json::Value::String(text), _) => Some(text.clone()),
                (value, _) => Some(value.to_string()),
            };
            command = command.mut_arg(&name, |arg| {
                let long = arg.get_long().unwrap_or_default().replace('-', "_");
                let arg = if long.contains('_') {
                    arg.alias(long)
                } else {
                    arg
                };
                // Every flag is optional. The default is shown in --help (and lets clap parse
                // the whole struct); the value itself comes from `defaults` in `resolve`, so
                // the two can never disagree.
                let arg = arg.required(false);
                match shown {
                    Some(text) => arg.default_value(text),
                    None => arg,
                }
            });
        }
        command
    }

    /// The settings given on the command line (not defaults), as `training_args.json` keys.
    pub fn given(matches: &ArgMatches) -> Result<serde_json::Map<String, serde_json::Value>> {
        let parsed = Self::from_arg_matches(matches)?;
        let serde_json::Value::Object(all) = serde_json::to_value(parsed)? else {
            unreachable!("settings serialize to an object");
        };
        Ok(all
            .into_iter()
            .filter(|(key, _)| {
                matches.try_contains_id(key).unwrap_or(false)
                    && matches.value_source(key) == Some(ValueSource::CommandLine)
            })
            .collect())
    }

    /// `defaults`, then the config file (TOML, or JSON by extension), then `given` (flags).
    pub fn resolve(
        defaults: &TrainingArgs,
        config: Option<&Path>,
        given: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self> {
        let mut value = serde_json::to_value(defaults)?;
        if let Some(path) = config {
            merge(&mut value, read_config_file(path)?);
        }
        merge(&mut value, serde_json::Value::Object(given));
        let args: TrainingArgs = serde_json::from_value(value).map_err(|err| match config {
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
        ];
        for (name, value) in positive {
            if value == 0 {
                bail!("{name} must be at least 1");
            }
        }
        let shortest = super::run_dir::MIN_SEQ_LENGTH;
        if self.max_seq_length < shortest {
            bail!(
                "max_seq_length must be at least {shortest} (the special tokens and some text), \
                 got {}",
                self.max_seq_length
            );
        }
        for (name, value) in [
            ("save_steps", Some(self.save_steps)),
            ("eval_steps", self.eval_steps),
            ("save_total_limit", self.save_total_limit),
            ("early_stopping_patience", self.early_stopping_patience),
            ("max_train_samples", self.max_train_samples),
            ("max_eval_samples", self.max_eval_samples),
        ] {
            if value == Some(0) {
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

    /// Resolves `flags` (and `--config FILE` among them) over `defaults`, as `train` does.
    fn resolve(defaults: &TrainingArgs, flags: &[&str]) -> Result<TrainingArgs> {
        let command = Command::new("x").arg(
            clap::Arg::new("config")
                .long("config")
                .value_parser(clap::value_parser!(PathBuf)),
        );
        let matches = TrainingArgs::add_flags(command, defaults)
            .try_get_matches_from(std::iter::once("x").chain(flags.iter().copied()))?;
        let config = matches.get_one::<PathBuf>("config").cloned();
        TrainingArgs::resolve(defaults, config.as_deref(), TrainingArgs::given(&matches)?)
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
    fn without_flags_the_task_defaults_hold_and_help_shows_them() {
        let defaults = TrainingArgs {
            learning_rate: 3e-5,
            max_steps: Some(7),
            ..TrainingArgs::for_task("runs/t")
        };
        assert_eq!(resolve(&defaults, &[]).unwrap(), defaults);
        let help = TrainingArgs::add_flags(Command::new("x"), &defaults)
            .render_help()
            .to_string();
        assert!(
            help.contains("[default: 0.00003]") || help.contains("[default: 3e-5]"),
            "{help}"
        );
        assert!(help.contains("[default: runs/t]"), "{help}");
        assert!(help.contains("[default: full]"), "{help}");
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
        let config = path.to_str().unwrap();
        let defaults = TrainingArgs::default();
        let a = resolve(
            &defaults,
            &[
                "--config",
                config,
                "--num_train_epochs",
                "4",
                "--warmup-ratio",
                "0.1",
            ],
        )
        .unwrap();
        assert_eq!(a.learning_rate, 3e-5);
        assert_eq!(a.num_train_epochs, 4.0);
        assert_eq!(a.warmup_ratio, 0.1);
        assert_eq!(a.strategy.layerwise_lr_decay, Some(0.9));
        let a = resolve(&defaults, &["--config", config, "--strategy", "bitfit"]).unwrap();
        assert!(a.strategy.bitfit && a.strategy.layerwise_lr_decay.is_none());
        // A flag equal to the default still overrides the config file.
        let a = resolve(&defaults, &["--config", config, "--learning-rate", "5e-5"]).unwrap();
        assert_eq!(a.learning_rate, 5e-5);
    }

    #[test]
    fn every_kind_of_flag_parses() {
        let a = resolve(
            &TrainingArgs::default(),
            &[
                "--overwrite-output-dir",
                "--group_by_length",
                "--load-best-model-at-end",
                "false",
                "--greater-is-better",
                "true",
                "--eval-strategy",
                "steps",
                "--eval-steps",
                "5",
                "--lr-scheduler-type",
                "cosine",
                "--max-steps",
                "9",
                "--strategy",
                "lora:4",
            ],
        )
        .unwrap();
        assert!(a.overwrite_output_dir && a.group_by_length && !a.load_best_model_at_end);
        assert_eq!(a.greater_is_better, Some(true));
        assert_eq!(a.eval_strategy, IntervalStrategy::Steps);
        assert_eq!(a.eval_steps, Some(5));
        assert_eq!(a.lr_scheduler_type, SchedulerType::Cosine);
        assert_eq!(a.max_steps, Some(9));
        assert_eq!(a.strategy.lora.unwrap().rank, 4);
    }

    #[test]
    fn unknown_and_invalid_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, r#"{"learning_rat": 1e-5}"#).unwrap();
        let defaults = TrainingArgs::default();
        let err = resolve(&defaults, &["--config", path.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run.json") && err.contains("learning_rat"),
            "{err}"
        );
        let err = resolve(&defaults, &["--per_device_train_batch_size", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("per_device_train_batch_size"), "{err}");
        let err = resolve(&defaults, &["--eval_strategy", "steps"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("eval_steps"), "{err}");
        let err = resolve(&defaults, &["--eval-strategy", "sometimes"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no, steps, epoch"), "{err}");
    }
}

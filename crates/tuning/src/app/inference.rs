//! A fine-tuned model loaded for `eval` and `predict`: a run directory exported by `train`,
//! or a transformers checkpoint of the task's `*For*` class.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::tensor::Device;
use encoder::{EncoderConfig, ModelDir, Tokenizer};

use super::cli::InferenceFlags;
use crate::engine::evaluation::predict_all;
use crate::engine::run_dir::{MAX_SEQ_LENGTH_KEY, check_positions, fit_max_len};
use crate::task::Task;

/// What [`Inference::run`] returns: the features and the model's output for each.
pub type Ran<T> = (Vec<<T as Task>::Feature>, Vec<<T as Task>::Output>);

/// A task model ready to run, with its task read back from the model's `config.json`.
pub struct Inference<T: Task> {
    pub task: T,
    pub model: T::Model,
    pub tokenizer: Tokenizer,
    pub config: EncoderConfig,
    /// The model directory.
    pub dir: PathBuf,
    /// Input length in tokens: `--max-seq-length`, else the length the model was trained
    /// with, else the task's default.
    pub max_seq_length: usize,
    pub batch_size: usize,
    pub device: Device,
}

impl<T: Task> Inference<T> {
    /// Loads `dir`: its `config.json` (read once) gives the task ([`Task::from_export`]) and
    /// the trained sequence length; every parameter of the task's model must be in its
    /// weights. `default_len` is the length when the model does not say (a foreign
    /// checkpoint).
    pub fn load(dir: &Path, flags: &InferenceFlags, default_len: usize) -> Result<Self> {
        let (device, kernels) = flags.device_and_kernels()?;
        let model_dir = ModelDir::open(dir)?;
        let config = model_dir.config()?;
        let task = T::from_export(&config, &dir.join("config.json"))?;
        crate::engine::setup::require_family(&task, &config, dir)?;
        let loaded = model_dir.load(&config, &device, |encoder| {
            task.build_model(encoder.with_kernels(kernels), &config, 0.0, &device)
        })?;
        if !loaded.report.missing.is_empty() {
            bail!(
                "{} is not a fine-tuned {} model: missing {}",
                dir.display(),
                task.name(),
                loaded.report.missing.join(", ")
            );
        }
        let trained = trained_length(&config, dir).unwrap_or(default_len);
        let max_seq_length = fit_max_len(flags.max_seq_length.unwrap_or(trained), &config)?;
        Ok(Self {
            task,
            model: loaded.model,
            tokenizer: loaded.tokenizer,
            config,
            dir: dir.to_path_buf(),
            max_seq_length,
            batch_size: flags.batch_size,
            device,
        })
    }

    /// Featurizes `examples` and runs the model over every feature.
    pub fn run(&self, examples: &[T::Example]) -> Result<Ran<T>> {
        let features = self
            .task
            .featurize(examples, &self.tokenizer, self.max_seq_length)?;
        check_positions(&self.task, &features, self.max_seq_length)?;
        let outputs = predict_all(
            &self.task,
            &self.model,
            &features,
            self.batch_size,
            &self.device,
        );
        Ok((features, outputs))
    }
}

/// The sequence length a model was trained with: recorded in its `config.json` by `train`,
/// or (runs exported before it was recorded there) in the run's `training_args.json`.
pub fn trained_length(config: &EncoderConfig, dir: &Path) -> Option<usize> {
    if let Some(length) = config
        .extra
        .get(MAX_SEQ_LENGTH_KEY)
        .and_then(|v| v.as_u64())
    {
        return Some(length as usize);
    }
    let text = std::fs::read_to_string(dir.join("training_args.json")).ok()?;
    let args: serde_json::Value = serde_json::from_str(&text).ok()?;
    args["max_seq_length"].as_u64().map(|n| n as usize)
}

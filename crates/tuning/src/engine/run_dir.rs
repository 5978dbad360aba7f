//! The run directory: what `train` writes there and under which rules.
//!
//! A run directory holds one run: `training_args.json`, `metrics.jsonl`, the exported model in
//! Hugging Face layout (`config.json`, `model.safetensors`, tokenizer files), the results files
//! and `checkpoints/`. [`prepare_output_dir`] refuses to write into one that already holds a run
//! unless told to overwrite; [`export`] writes the model so that transformers' `*For*` class
//! of the task loads it, and so that the task loads itself back from it
//! ([`crate::Task::from_export`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use encoder::{EncoderConfig, Tokenizer};

use crate::task::Task;

/// The `config.json` key recording the sequence length a model was trained with, which
/// `eval` and `predict` use by default.
pub const MAX_SEQ_LENGTH_KEY: &str = "finetune_max_seq_length";

/// Refuses to write into a directory that already holds a run, unless told to overwrite.
pub fn prepare_output_dir(dir: &Path, overwrite: bool) -> Result<()> {
    let markers = ["training_args.json", "metrics.jsonl", "model.safetensors"];
    let holds_run = markers.iter().any(|m| dir.join(m).exists());
    if holds_run && !overwrite {
        bail!(
            "output_dir {} already holds a run; pass --overwrite-output-dir to replace it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if holds_run {
        for stale in ["metrics.jsonl", "eval_results.json", "train_results.json"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    Ok(())
}

/// `requested` capped at the model's `max_position_embeddings` (longer inputs would index
/// past the position table), as transformers caps `max_seq_length` at the tokenizer's
/// `model_max_length`; says so when it caps.
pub fn fit_max_len(requested: usize, config: &EncoderConfig) -> usize {
    let limit = config.max_position_embeddings;
    if requested > limit {
        eprintln!(
            "warning: max_seq_length {requested} is longer than the model's \
             max_position_embeddings {limit}; using {limit}"
        );
        return limit;
    }
    requested
}

/// What an export records besides the task's own entries.
#[derive(Debug, Clone, Copy)]
pub struct ExportInfo {
    /// The sequence length the model was trained with.
    pub max_seq_length: usize,
    /// LoRA's `alpha / rank`: adapters are merged into the weights with it.
    pub lora_scale: Option<f64>,
}

/// Writes `model` to `dir` as an HF model directory with the task's config entries (labels,
/// architecture, settings) and the trained sequence length. LoRA adapters, if any, are
/// merged into the weights.
pub fn export<T: Task>(
    task: &T,
    model: &T::Model,
    config: &EncoderConfig,
    tokenizer: &Tokenizer,
    dir: &Path,
    info: ExportInfo,
) -> Result<()> {
    let mut config = config.clone();
    task.export_config(&mut config);
    config.extra.insert(
        MAX_SEQ_LENGTH_KEY.into(),
        serde_json::json!(info.max_seq_length),
    );
    let mut state = encoder::checkpoint::hf_state_dict(model);
    if let Some(scale) = info.lora_scale {
        crate::strategy::lora::merge(&mut state, scale);
    }
    encoder::model_dir::save_state_dict(dir, &state, &config, tokenizer)
        .with_context(|| format!("cannot export the model to {}", dir.display()))
}

/// Writes pretty JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    encoder::fsutil::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

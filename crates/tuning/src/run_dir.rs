//! Loading a fine-tuned task model back from the HF directory a run exported.

use std::path::Path;

use anyhow::{Result, bail};
use burn::tensor::Device;
use encoder::checkpoint::load_into;
use encoder::model_dir::has_pooler;
use encoder::{BertModel, EncoderConfig, ModelDir, Tokenizer};

use crate::task::Task;

/// Rebuilds `task`'s model from `dir` (config.json, model.safetensors, tokenizer): every
/// parameter must be in the checkpoint, or the directory is not this task's export.
pub fn load_task_model<T: Task>(
    task: &T,
    dir: &Path,
    device: &Device,
) -> Result<(T::Model, EncoderConfig, Tokenizer)> {
    let model_dir = ModelDir::open(dir)?;
    let config = model_dir.config()?;
    let tokenizer = model_dir.tokenizer()?;
    let checkpoint = model_dir.checkpoint()?;
    let skeleton = BertModel::new(&config, has_pooler(&checkpoint), device);
    let model = task.build_model(skeleton, &config, 0.0, device);
    let (model, report) = load_into(model, &checkpoint)?;
    if !report.missing.is_empty() {
        bail!(
            "{} is not a fine-tuned {} model: missing {}",
            dir.display(),
            task.name(),
            report.missing.join(", ")
        );
    }
    Ok((model, config, tokenizer))
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

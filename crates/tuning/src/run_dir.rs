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

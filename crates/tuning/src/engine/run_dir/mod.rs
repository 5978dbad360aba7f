//! The run directory: what `train` writes there and under which rules.
//!
//! A run directory holds one run: `training_args.json`, `metrics.jsonl`, the exported model in
//! Hugging Face layout (`config.json`, `model.safetensors`, tokenizer files), the results files
//! and `checkpoints/`. A run holds the directory's lock ([`RunLock`]) while it runs;
//! [`check_new_run`] refuses to write into one that already holds a run unless told to
//! overwrite, and then [`clear_run`] empties what the old run owned; `--resume` checks that the
//! run goes on as it started ([`resume`]); [`export`] writes the model so that transformers' `*For*` class
//! of the task loads it, and so that the task loads itself back from it
//! ([`crate::Task::from_export`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use encoder::{EncoderConfig, Tokenizer};

use crate::task::Task;

pub mod lock;
pub mod resume;

pub use lock::RunLock;
pub use resume::RunInputs;

/// The `config.json` key recording the sequence length a model was trained with, which
/// `eval` and `predict` use by default.
pub const MAX_SEQ_LENGTH_KEY: &str = "finetune_max_seq_length";

/// Files a run writes into its directory (the export, the settings, the logs, the results);
/// `eval` adds `eval_<data>.json` files. Replacing a run removes these, `checkpoints/` and
/// `plots/`, and nothing else.
const RUN_FILES: &[&str] = &[
    "training_args.json",
    resume::INPUTS_FILE,
    "metrics.jsonl",
    "train_results.json",
    "eval_results.json",
    "all_results.json",
    "config.json",
    "model.safetensors",
    "tokenizer.json",
];
const RUN_DIRS: &[&str] = &["checkpoints", "plots"];

/// Whether `dir` holds a run (or a model export).
pub fn holds_run(dir: &Path) -> bool {
    ["training_args.json", "metrics.jsonl", "model.safetensors"]
        .iter()
        .any(|m| dir.join(m).exists())
}

/// Refuses a new run in a directory that already holds one, unless told to overwrite.
/// Writes nothing.
pub fn check_new_run(dir: &Path, overwrite: bool) -> Result<()> {
    if holds_run(dir) && !overwrite {
        bail!(
            "output_dir {} already holds a run; pass --overwrite-output-dir to replace it \
             (or --resume to continue it)",
            dir.display()
        );
    }
    Ok(())
}

/// Empties what a run owns in `dir` (its files, `checkpoints/`, `plots/`, `eval_*.json`),
/// so that a replacing run shares nothing with the one it replaces.
pub fn clear_run(dir: &Path) -> Result<()> {
    let side = encoder::model_dir::TOKENIZER_SIDE_FILES;
    let evals = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("eval_") && n.ends_with(".json"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let files = RUN_FILES.iter().chain(side).map(|s| s.to_string());
    for name in files.chain(evals) {
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                bail!("cannot remove {} of the replaced run: {e}", path.display())
            }
            _ => {}
        }
    }
    for name in RUN_DIRS {
        let path = dir.join(name);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                bail!("cannot remove {} of the replaced run: {e}", path.display())
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes what interrupted writes left (`.NAME.PID.tmp` files of [`encoder::fsutil`],
/// `.checkpoint-N.tmp` directories): called with the run's lock held, so no writer is
/// using them. Returns how many it removed.
pub fn remove_temporaries(dir: &Path) -> usize {
    let mut removed = 0;
    for folder in [
        dir.to_path_buf(),
        dir.join("checkpoints"),
        dir.join("plots"),
    ] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if gone.is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// The shortest `max_seq_length` accepted: room for the special tokens and some text (a
/// tokenizer given less than its special tokens need stops truncating altogether).
pub const MIN_SEQ_LENGTH: usize = 8;

/// `requested` capped at the model's longest input (`max_position_embeddings`, less the
/// positions RoBERTa-style models reserve; longer inputs would index past the position table), as transformers caps `max_seq_length` at the tokenizer's
/// `model_max_length`; says so when it caps. Shorter than [`MIN_SEQ_LENGTH`] is an error.
pub fn fit_max_len(requested: usize, config: &EncoderConfig) -> Result<usize> {
    if requested < MIN_SEQ_LENGTH {
        bail!(
            "max_seq_length {requested} is too short: at least {MIN_SEQ_LENGTH} tokens (the \
             special tokens and some text)"
        );
    }
    let limit = config.max_sequence_length();
    if requested > limit {
        eprintln!(
            "warning: max_seq_length {requested} is longer than the model's longest input \
             ({limit} tokens); using {limit}"
        );
        return Ok(limit);
    }
    Ok(requested)
}

/// Refuses features longer than the model's position table (a task that featurized past
/// `max_seq_length` would otherwise fail deep inside the model): names the first.
pub fn check_positions<T: Task>(task: &T, features: &[T::Feature], limit: usize) -> Result<()> {
    if let Some((i, f)) = features
        .iter()
        .enumerate()
        .find(|(_, f)| task.feature_len(f) > limit)
    {
        bail!(
            "{}: input {} has {} tokens, more than the model's {limit} positions",
            task.name(),
            i + 1,
            task.feature_len(f)
        );
    }
    Ok(())
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

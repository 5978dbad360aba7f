//! `convert-checkpoint`: read any checkpoint the encoder crate can load and write it back as a
//! clean HF model directory (f32 `model.safetensors`, config, tokenizer).
//!
//! Useful on its own (a `pytorch_model.bin`, f16 or TF-era checkpoint to safetensors) and the
//! way our parity script checks that what we save loads in transformers.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use encoder::{load_pretrained, save_pretrained};

#[derive(Parser, Debug)]
#[command(about = "Rewrite an encoder checkpoint as an HF model directory (safetensors, f32)")]
struct Args {
    /// Source model directory. Defaults to data/models/all-MiniLM-L6-v2.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Directory to write (created if needed; existing files are replaced).
    #[arg(long)]
    output: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let model_dir = args.model.unwrap_or_else(encoder::default_model_dir);
    // Weights are only read and written: the CPU.
    let device = burn::tensor::Device::flex();
    let pretrained = load_pretrained(&model_dir, &device)?;
    for warning in pretrained.report.warnings() {
        eprintln!("convert-checkpoint: {warning}");
    }
    let mut config = pretrained.config.clone();
    config
        .extra
        .insert("architectures".into(), serde_json::json!(["BertModel"]));
    save_pretrained(
        &args.output,
        &pretrained.model,
        &config,
        &pretrained.tokenizer,
    )
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "convert-checkpoint: wrote {} weights to {}",
        pretrained.report.loaded,
        args.output.display()
    );
    Ok(())
}

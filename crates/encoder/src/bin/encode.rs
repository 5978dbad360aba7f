//! `encode`: run a pretrained encoder over JSONL text and print its hidden states.
//!
//! Reads one JSON object per line on stdin, `{"text": ..., "text_pair": ...}` (`text_pair`
//! optional), and writes one per line on stdout with `input_ids`, `token_type_ids` and
//! `last_hidden_state` (one array of floats per token). Inputs are truncated to 512 tokens
//! (or the model's longest input if shorter: `max_position_embeddings`, less the positions
//! RoBERTa-style models reserve), longest sequence first, as transformers'
//! `tokenizer(..., truncation=True)` does. Every family the encoder crate reads works here.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use encoder::{DeviceChoice, EncodeOptions, TokenizedWindow, load_pretrained};
use serde::Deserialize;

#[derive(Parser, Debug)]
#[command(about = "Encode JSONL text with a pretrained encoder and print its hidden states")]
struct Args {
    /// Hugging Face model directory (config.json, model.safetensors or pytorch_model.bin,
    /// tokenizer.json or vocab.txt). Defaults to data/models/all-MiniLM-L6-v2.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Texts run through the model together; only speed depends on it.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Longest input in tokens (at most the model's longest input).
    #[arg(long, default_value_t = 512)]
    max_length: usize,
    /// Where to compute: cpu, cuda[:N] (`cuda` feature) or wgpu (`wgpu` feature).
    #[arg(long, env = "FINETUNE_DEVICE", default_value = "cpu")]
    device: DeviceChoice,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    text: String,
    #[serde(default)]
    text_pair: Option<String>,
}

fn main() {
    kernels::allocator::keep_freed_memory();
    let args = Args::parse();
    // One line per failure (never a backtrace), as the task binaries print them.
    if let Err(err) = run(args) {
        eprintln!("encode: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let model_dir = args.model.unwrap_or_else(encoder::default_model_dir);
    let device = args.device.open()?;
    let kernels = args.device.kernels(encoder::Kernels::from_env())?;
    let pretrained = load_pretrained(&model_dir, &device)?;
    for warning in pretrained.report.warnings() {
        eprintln!("encode: {warning}");
    }
    let model = pretrained.model.with_kernels(kernels);
    let tokenizer = pretrained.tokenizer;
    let max_length = args.max_length.min(pretrained.config.max_sequence_length());
    let options = EncodeOptions::truncate_to(max_length);
    let pad_id = pretrained.config.pad_id() as u32;

    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut pending: Vec<TokenizedWindow> = Vec::new();
    for (index, line) in stdin.lock().lines().enumerate() {
        let line_no = index + 1;
        let line = line.with_context(|| format!("stdin line {line_no}: cannot read"))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).with_context(|| {
            format!("stdin line {line_no}: expected {{\"text\": ..., \"text_pair\": ...}}")
        })?;
        let mut windows = tokenizer
            .encode(&parsed.text, parsed.text_pair.as_deref(), &options)
            .map_err(|e| anyhow::anyhow!("stdin line {line_no}: cannot tokenize: {e}"))?;
        pending.push(windows.remove(0));
        if pending.len() == args.batch_size {
            write_batch(&model, &pending, pad_id, &device, &mut out)?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        write_batch(&model, &pending, pad_id, &device, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn write_batch(
    model: &encoder::BertModel,
    windows: &[TokenizedWindow],
    pad_id: u32,
    device: &burn::tensor::Device,
    out: &mut impl Write,
) -> Result<()> {
    let refs: Vec<&TokenizedWindow> = windows.iter().collect();
    let input = encoder::input::pad_batch(&refs, pad_id, device);
    let hidden = model.forward(input).last_hidden_state;
    let [_, seq, width] = hidden.dims();
    let values = hidden
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read hidden states: {e:?}"))?;
    for (row, window) in windows.iter().enumerate() {
        let states: Vec<&[f32]> = (0..window.len())
            .map(|t| {
                let start = (row * seq + t) * width;
                &values[start..start + width]
            })
            .collect();
        let record = serde_json::json!({
            "input_ids": window.input_ids,
            "token_type_ids": window.token_type_ids,
            "last_hidden_state": states,
        });
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

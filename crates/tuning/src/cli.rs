//! Pieces every task binary's command line shares.

use std::path::{Path, PathBuf};

use clap::Args;

/// Batching for inference (speed only; results do not depend on it).
#[derive(Args, Clone, Copy, Debug)]
pub struct InferenceArgs {
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Longest input in tokens; longer inputs are handled as in training.
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    /// Arithmetic of the linear layers' products: f32 (the default: transformers' numbers) or
    /// f16 (CPUs with AVX512-FP16: ~1.4x faster inference, outputs move by ~1e-3; BENCHMARKS.md
    /// "f16 inference").
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: encoder::kernels::Precision,
}

impl InferenceArgs {
    /// Checks the arguments and sets this process's inference precision.
    pub fn apply(&self) -> anyhow::Result<()> {
        if self.batch_size == 0 {
            anyhow::bail!("--batch-size must be at least 1");
        }
        encoder::kernels::set_inference_precision(self.precision)
    }
}

/// A file of the repository's data/ folder (the sample data behind a binary's defaults):
/// relative to the current directory when there, else to the workspace the binary was built
/// from (`manifest_dir` is the calling crate's `CARGO_MANIFEST_DIR`).
pub fn sample_file(manifest_dir: &str, relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        return local;
    }
    Path::new(manifest_dir).join("../..").join(relative)
}

/// The stem of a data file for naming what is written about it (`eval_<stem>.json`).
pub fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into())
}

/// A data file as UTF-8 text (a leading byte-order mark dropped), or an error naming the
/// line of the first byte that is not UTF-8.
pub fn read_utf8(path: &Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        }),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            anyhow::bail!(
                "{}:{line}: not valid UTF-8 (byte 0x{:02x} at offset {at}); convert the file \
                 to UTF-8",
                path.display(),
                bytes[at]
            )
        }
    }
}

/// Prints what `train` reports on stdout (JSON): where the run is and its best evaluation.
pub fn print_summary(
    args: &crate::TrainingArgs,
    summary: &crate::RunSummary,
) -> anyhow::Result<()> {
    let value = serde_json::json!({
        "output_dir": args.output_dir,
        "global_step": summary.global_step,
        "train_runtime_s": summary.train_runtime_s,
        "train_samples_per_second": summary.train_samples_per_second,
        "trainable_params": summary.trainable_params,
        "peak_rss_bytes": encoder::allocator::peak_rss_bytes(),
        "eval": summary.eval,
    });
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Ends a binary: on error, `name: error: ...` with its causes on stderr and exit status 1.
pub fn exit_on_error(name: &str, result: anyhow::Result<()>) {
    if let Err(err) = result {
        eprintln!("{name}: error: {err:#}");
        std::process::exit(1);
    }
}

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

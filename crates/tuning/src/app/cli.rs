//! The command-line pieces every task binary shares: flags, files, output and errors.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use encoder::{DeviceChoice, Kernels, Precision};
/// The process settings every binary applies at start-up, and its peak memory.
pub use kernels::allocator::{keep_freed_memory, peak_rss_bytes};

/// Flags of `eval` and `predict` that say how the model runs (batching and arithmetic: speed
/// only, except `--max-seq-length`).
#[derive(Args, Clone, Copy, Debug)]
pub struct InferenceFlags {
    /// Inputs per batch.
    #[arg(long, default_value_t = 32, value_parser = at_least::<1>)]
    pub batch_size: usize,
    /// Longest input in tokens; longer inputs are handled as in training (default: the length
    /// the model was trained with; at least 8, at most the model's positions).
    #[arg(long, value_parser = at_least::<{ crate::engine::run_dir::MIN_SEQ_LENGTH }>)]
    pub max_seq_length: Option<usize>,
    /// Arithmetic of the linear layers' products: f32 (the default: transformers' numbers) or
    /// f16 (CPUs with AVX512-FP16: ~1.4x faster inference, outputs move by ~1e-3;
    /// BENCHMARKS.md "f16 inference").
    #[arg(long, value_enum, default_value = "f32")]
    pub precision: PrecisionFlag,
    #[command(flatten)]
    pub device: DeviceFlag,
}

/// `--device`, for every command that runs a model.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct DeviceFlag {
    /// Where to compute: cpu (the default), cuda or cuda:N (a build with the `cuda` feature),
    /// wgpu (a build with the `wgpu` feature).
    #[arg(long = "device", env = "FINETUNE_DEVICE", default_value = "cpu")]
    pub choice: DeviceChoice,
}

/// A clap value parser for a count that must be at least `MIN`: the range is checked when
/// the command line is read, with the flag named by clap.
pub fn at_least<const MIN: usize>(text: &str) -> Result<usize, String> {
    let value: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if value < MIN {
        return Err(format!("must be at least {MIN}, got {value}"));
    }
    Ok(value)
}

/// `--precision`: the command-line spelling of [`Precision`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionFlag {
    F32,
    F16,
}

impl From<PrecisionFlag> for Precision {
    fn from(flag: PrecisionFlag) -> Self {
        match flag {
            PrecisionFlag::F32 => Precision::F32,
            PrecisionFlag::F16 => Precision::F16,
        }
    }
}

impl InferenceFlags {
    /// The device and the kernels to run with: this process's default kernels
    /// (`FINETUNE_KERNELS`) in the precision asked for, as they apply on the device; an error
    /// for a zero batch size, a device this build or machine lacks, or f16 where it is not.
    pub fn device_and_kernels(&self) -> Result<(Device, Kernels)> {
        if self.batch_size == 0 {
            anyhow::bail!("--batch-size must be at least 1");
        }
        let choice = self.device.choice;
        let kernels = choice.kernels(Kernels {
            precision: self.precision.into(),
            ..Kernels::from_env()
        })?;
        Ok((choice.open()?, kernels))
    }
}

/// `--output FILE`, for commands that write one file (stdout without it).
#[derive(Args, Clone, Debug)]
pub struct OutputFlag {
    /// Write here (atomically) instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl OutputFlag {
    /// Writes `bytes` to the file (through a temporary file and a rename), or to stdout.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match &self.output {
            Some(path) => encoder::fsutil::write_atomic(path, bytes)
                .with_context(|| format!("cannot write {}", path.display())),
            None => Ok(std::io::stdout().write_all(bytes)?),
        }
    }
}

/// A file of the repository's data/ folder (the sample data behind a binary's defaults):
/// relative to the current directory when there, else to the workspace the binary was built
/// from.
pub fn sample_file(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The name of a data file for naming what is written about it (`eval_<stem>.json`): the
/// file name without its extension, and without `.json` before a `.gz`.
pub fn file_stem(path: &Path) -> String {
    if is_stdin(path) {
        return "stdin".into();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "data".into());
    match stem.strip_suffix(".json") {
        Some(inner) if !inner.is_empty() => inner.to_string(),
        _ => stem,
    }
}

/// A data file as UTF-8 text (a leading byte-order mark dropped), or an error naming the
/// line of the first byte that is not UTF-8.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
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
                input_name(path),
                bytes[at]
            )
        }
    }
}

/// Whether `path` is `-`, which every input flag reads as stdin.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How messages name an input: its path, or `stdin` for `-`.
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// The bytes of a file, or of stdin for `-`.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if is_stdin(path) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .context("cannot read stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Whether an input is JSON lines: by its extension (`.jsonl`, `.json`), or for stdin by its
/// first non-blank character.
pub fn is_jsonl(path: &Path, text: &str) -> bool {
    if is_stdin(path) {
        return text.trim_start().starts_with('{');
    }
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json")
    )
}

/// Prints what `train` reports on stdout (JSON): where the run is and its best evaluation.
pub fn print_summary(args: &crate::TrainingArgs, summary: &crate::RunSummary) -> Result<()> {
    let value = serde_json::json!({
        "output_dir": args.output_dir,
        "global_step": summary.global_step,
        "train_runtime_s": summary.train_runtime_s,
        "train_samples_per_second": summary.train_samples_per_second,
        "trainable_params": summary.trainable_params,
        "peak_rss_bytes": peak_rss_bytes(),
        "eval": summary.eval,
    });
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// Ends a binary: on error, `name: error: ...` with its causes on stderr and exit status 1.
pub fn exit_on_error(name: &str, result: Result<()>) {
    if let Err(err) = result {
        eprintln!("{name}: error: {}", error_line(&err));
        std::process::exit(1);
    }
}

/// An error and its causes in one line, each said once: a cause that repeats what the
/// message before it says (`cannot write F: cannot write F: No space left`) is folded in.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        match parts.last_mut() {
            Some(last) if text.contains(last.as_str()) => *last = text,
            Some(last) if last.contains(&text) => {}
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let io = std::io::Error::other("cannot write /r/x: No space left on device (os error 28)");
        let err = anyhow::Error::new(io).context("cannot write /r/x");
        assert_eq!(
            error_line(&err),
            "cannot write /r/x: No space left on device (os error 28)"
        );
        let err = anyhow::anyhow!("disk").context("cannot save checkpoint-4");
        assert_eq!(error_line(&err), "cannot save checkpoint-4: disk");
    }

    #[test]
    fn stems_drop_the_extension_and_a_json_before_gz() {
        assert_eq!(file_stem(Path::new("d/validation.tsv")), "validation");
        assert_eq!(file_stem(Path::new("dev-v1.1.json.gz")), "dev-v1.1");
        assert_eq!(file_stem(Path::new(".json")), ".json");
        assert_eq!(file_stem(Path::new("-")), "stdin");
    }

    #[test]
    fn a_byte_that_is_not_utf8_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tsv");
        std::fs::write(&path, b"a\nb\xff\n").unwrap();
        let err = read_utf8(&path).unwrap_err().to_string();
        assert!(err.contains("x.tsv:2") && err.contains("0xff"), "{err}");
        std::fs::write(&path, "\u{feff}text").unwrap();
        assert_eq!(read_utf8(&path).unwrap(), "text");
    }
}

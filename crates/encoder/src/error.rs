//! Everything that can go wrong while reading a model directory, each naming what it is about.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error(
        "model directory {dir} does not exist{hint}",
        hint = if *.is_default { " (it is the default model: run scripts/fetch-model to download it, or pass --model DIR)" } else { "" }
    )]
    MissingModelDir { dir: PathBuf, is_default: bool },

    #[error("{dir} has no {what}: expected {expected}")]
    MissingFile {
        dir: PathBuf,
        what: &'static str,
        expected: &'static str,
    },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}invalid config: {message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Config {
        path: Option<PathBuf>,
        message: String,
    },

    #[error("model_type `{model_type}` is not supported yet (supported: {supported})")]
    UnsupportedModelType {
        model_type: String,
        supported: String,
    },

    #[error("{path}: not a readable checkpoint: {message}")]
    Checkpoint { path: PathBuf, message: String },

    #[error("{path}: tensor `{name}` has dtype {dtype}, which cannot be used as float weights")]
    UnsupportedDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },

    #[error("{path}: tensor `{name}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("{path}: missing weights: {}", names.join(", "))]
    MissingWeights { path: PathBuf, names: Vec<String> },

    #[error("{path}: cannot load tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
}

impl LoadError {
    /// Attaches the file a config error came from.
    pub(crate) fn in_file(self, file: &std::path::Path) -> Self {
        match self {
            LoadError::Config {
                path: None,
                message,
            } => LoadError::Config {
                path: Some(file.to_path_buf()),
                message,
            },
            LoadError::UnsupportedModelType {
                model_type,
                supported,
            } => LoadError::Config {
                path: Some(file.to_path_buf()),
                message: format!(
                    "model_type `{model_type}` is not supported yet (supported: {supported})"
                ),
            },
            other => other,
        }
    }
}

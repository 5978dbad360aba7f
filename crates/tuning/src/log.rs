//! `metrics.jsonl`: one JSON object per line, per logging step and per evaluation, as
//! transformers' `trainer_state.json` log history, but appended as the run goes so a crash
//! loses nothing already written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

pub struct MetricsLog {
    file: BufWriter<File>,
    path: std::path::PathBuf,
}

impl MetricsLog {
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            file: BufWriter::new(file),
            path: path.to_path_buf(),
        })
    }

    /// Appends one record and flushes it, so a line is either whole or absent.
    pub fn write(&mut self, record: &serde_json::Value) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

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

    /// Drops records of steps after `step` (written after the checkpoint a run resumes from),
    /// so the resumed run's log reads as one uninterrupted run.
    pub fn truncate_after_step(&mut self, step: usize) -> Result<()> {
        self.file.flush()?;
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let kept: String = text
            .lines()
            .filter(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                    .is_some_and(|s| s as usize <= step)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        encoder::fsutil::write_atomic(&self.path, kept.as_bytes())
            .with_context(|| format!("cannot rewrite {}", self.path.display()))?;
        *self = Self::create(&self.path.clone())?;
        Ok(())
    }
}

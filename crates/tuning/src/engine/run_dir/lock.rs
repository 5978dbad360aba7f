//! One writer per run directory: `train` holds an exclusive lock on `output_dir/.finetune.lock`
//! for as long as it runs, and a second `train` into the same directory is refused with the
//! holder's process id.
//!
//! The lock is the operating system's (`flock` on Unix, through [`std::fs::File::try_lock`]):
//! it ends with the process however the process ends (kill -9 included), so a stale lock never
//! blocks a retry. The file itself stays (deleting it on exit would let two processes lock
//! two different files of the same name); it holds the pid of the last holder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

/// The lock file's name in a run directory.
pub const LOCK_FILE: &str = ".finetune.lock";

/// An exclusive hold on a run directory, released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Creates `dir` if needed and locks it, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow!("cannot create the run directory {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow!("cannot open the lock file {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("process {holder}")
                };
                return Err(anyhow!(
                    "{} is in use: {who} is training into it (lock {}); wait for it to end \
                     or choose another --output-dir",
                    dir.display(),
                    path.display()
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(anyhow!("cannot lock {}: {e}", path.display()));
            }
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(pid.as_bytes()))
            .and_then(|_| file.flush())
            .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
        Ok(Self { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        let pid = std::process::id().to_string();
        assert!(err.contains("is in use") && err.contains(&pid), "{err}");
        assert!(err.contains(LOCK_FILE), "names the lock file: {err}");
        drop(first);
        let again = RunLock::acquire(&run).unwrap();
        assert_eq!(again.path(), run.join(LOCK_FILE));
    }
}

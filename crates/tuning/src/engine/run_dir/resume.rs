//! What `--resume` checks: that the run goes on as it started.
//!
//! A run records its settings (`training_args.json`) and its inputs (`run_inputs.json`: the
//! pretrained model, a fingerprint of each data file, the task's own flags). Resuming with
//! anything changed that alters the trajectory (data, batch, accumulation, learning rate,
//! schedule, seed, strategy, model, ...) is refused with the list of differences; the length
//! (`max_steps`, `num_train_epochs`) may grow, and what only changes how the run is logged,
//! saved or evaluated in batches may change. `--allow-changed-settings` accepts a deliberate
//! change, which the trainer then records in `metrics.jsonl`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::engine::settings::TrainingArgs;

/// The file in a run directory that records what the run was trained from.
pub const INPUTS_FILE: &str = "run_inputs.json";

/// Settings that may change on resume: they change how the run is logged, saved or where it
/// is written, never its weights.
const FREE: &[&str] = &[
    "output_dir",
    "overwrite_output_dir",
    "logging_steps",
    "save_steps",
    "save_strategy",
    "save_total_limit",
    "per_device_eval_batch_size",
];

/// Settings that may grow on resume (a longer run); shrinking them is a change.
const MAY_GROW: &[&str] = &["max_steps", "num_train_epochs"];

/// What a run was trained from, besides its settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInputs {
    /// The pretrained model directory (as an absolute path where it resolves).
    pub model: String,
    /// A fingerprint of the model's `config.json`.
    pub model_config: Option<Fingerprint>,
    /// Each data file by its role (`train`, `validation`).
    pub files: BTreeMap<String, Fingerprint>,
    /// The task's own flags (markers, columns, label scheme, ...), as given or defaulted.
    pub task_flags: BTreeMap<String, String>,
}

/// A file's path, size and content hash (64-bit FNV-1a): enough to see that a file changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub path: String,
    pub bytes: u64,
    pub fnv1a64: String,
}

impl Fingerprint {
    /// Reads `path` through once. A missing file (e.g. the sample data where there is none)
    /// has no fingerprint.
    pub fn of(path: &Path) -> Result<Option<Self>> {
        if path.as_os_str() == "-" {
            return Ok(None);
        }
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(None);
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut bytes = 0u64;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = file
                .read(&mut buffer)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            for &b in &buffer[..n] {
                hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Ok(Some(Self {
            path: absolute(path),
            bytes,
            fnv1a64: format!("{hash:016x}"),
        }))
    }
}

/// `path` made absolute where it resolves, as given otherwise.
pub fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

impl RunInputs {
    /// The inputs of a run of the model in `model_dir` on the data `files` (role, path), with
    /// the task's flags.
    pub fn describe(
        model_dir: &Path,
        files: &[(&str, &Path)],
        task_flags: BTreeMap<String, String>,
    ) -> Result<Self> {
        let mut described = Self {
            model: absolute(model_dir),
            model_config: Fingerprint::of(&model_dir.join("config.json"))?,
            files: BTreeMap::new(),
            task_flags,
        };
        for (role, path) in files {
            if let Some(print) = Fingerprint::of(path)? {
                described.files.insert(role.to_string(), print);
            }
        }
        Ok(described)
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        super::write_json(&dir.join(INPUTS_FILE), &serde_json::to_value(self)?)
    }

    /// The inputs a run recorded, if it recorded them (runs before `run_inputs.json` did not).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(INPUTS_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{}: not a run_inputs.json finetune wrote", path.display()))
    }
}

/// One difference between a run's recorded settings or inputs and a resume's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub was: String,
    pub now: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.key, self.was, self.now)
    }
}

/// What differs between the run's recorded settings and inputs and the resume's, in key
/// order (free settings and grown lengths are not changes).
pub fn changes(
    was: &TrainingArgs,
    now: &TrainingArgs,
    was_inputs: Option<&RunInputs>,
    now_inputs: &RunInputs,
) -> Result<Vec<Change>> {
    let mut found = Vec::new();
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) =
        (serde_json::to_value(was)?, serde_json::to_value(now)?)
    else {
        bail!("settings serialize to objects");
    };
    for (key, old) in &a {
        let new = &b[key];
        if old == new || FREE.contains(&key.as_str()) {
            continue;
        }
        if MAY_GROW.contains(&key.as_str()) && grows(old, new) {
            continue;
        }
        found.push(change(key, old, new));
    }
    if let Some(was_inputs) = was_inputs {
        let (a, b) = (flatten(was_inputs)?, flatten(now_inputs)?);
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let none = serde_json::Value::String("(none)".into());
        for key in keys {
            let (old, new) = (a.get(key).unwrap_or(&none), b.get(key).unwrap_or(&none));
            if old != new {
                found.push(change(key, old, new));
            }
        }
    }
    Ok(found)
}

/// A length setting grows: from a number to a larger one (`max_steps` unset -> set is a
/// change of how the length is given, so it counts as a change).
fn grows(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    match (old.as_f64(), new.as_f64()) {
        (Some(a), Some(b)) => b >= a,
        _ => false,
    }
}

fn change(key: &str, old: &serde_json::Value, new: &serde_json::Value) -> Change {
    Change {
        key: key.to_string(),
        was: old.to_string(),
        now: new.to_string(),
    }
}

/// `{"files": {"train": {"path": ..}}}` as `files.train.path = ..`.
fn flatten(inputs: &RunInputs) -> Result<BTreeMap<String, serde_json::Value>> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", &serde_json::to_value(inputs)?, &mut out);
    Ok(out)
}

/// Refuses a resume whose settings or inputs differ from the run's, listing the differences,
/// unless `allow`; returns the differences (empty when none).
pub fn check(
    dir: &Path,
    now: &TrainingArgs,
    now_inputs: &RunInputs,
    allow: bool,
) -> Result<Vec<Change>> {
    let path = dir.join("training_args.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--resume: cannot read {}", path.display()))?;
    let was: TrainingArgs = serde_json::from_str(&text).with_context(|| {
        format!(
            "--resume: {} is not a training_args.json finetune wrote",
            path.display()
        )
    })?;
    let was_inputs = RunInputs::read(dir)?;
    if was_inputs.is_none() {
        eprintln!(
            "warning: {} has no {INPUTS_FILE}: the model and data of the run cannot be checked",
            dir.display()
        );
    }
    let found = changes(&was, now, was_inputs.as_ref(), now_inputs)?;
    if !found.is_empty() && !allow {
        let list: Vec<String> = found.iter().map(|c| format!("  {c}")).collect();
        bail!(
            "--resume: this run in {} was started with other settings or inputs; resuming \
             with these would not continue it:\n{}\nrun it as it started (only max_steps and \
             num_train_epochs may grow), or pass --allow-changed-settings to change them on \
             purpose (recorded in metrics.jsonl)",
            dir.display(),
            list.join("\n")
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(train_hash: &str) -> RunInputs {
        RunInputs {
            model: "/m".into(),
            model_config: None,
            files: BTreeMap::from([(
                "train".to_string(),
                Fingerprint {
                    path: "/d/train.tsv".into(),
                    bytes: 10,
                    fnv1a64: train_hash.into(),
                },
            )]),
            task_flags: BTreeMap::from([("markers".to_string(), "[unused1]".to_string())]),
        }
    }

    #[test]
    fn trajectory_settings_and_inputs_are_changes_but_lengths_may_grow() {
        let was = TrainingArgs::default();
        let same = changes(&was, &was.clone(), Some(&inputs("a")), &inputs("a")).unwrap();
        assert!(same.is_empty());
        let now = TrainingArgs {
            per_device_train_batch_size: 4,
            learning_rate: 1e-4,
            seed: 7,
            num_train_epochs: 10.0,
            logging_steps: 1,
            save_total_limit: Some(1),
            ..was.clone()
        };
        let found = changes(&was, &now, Some(&inputs("a")), &inputs("b")).unwrap();
        let keys: Vec<&str> = found.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "learning_rate",
                "per_device_train_batch_size",
                "seed",
                "files.train.fnv1a64"
            ]
        );
        assert_eq!(found[2].to_string(), "seed: 42 -> 7");
        let shorter = TrainingArgs {
            num_train_epochs: 1.0,
            ..was.clone()
        };
        let found = changes(&was, &shorter, None, &inputs("z")).unwrap();
        assert_eq!(
            found.len(),
            1,
            "shrinking is a change; no recorded inputs: not checked"
        );
    }

    #[test]
    fn a_refused_resume_lists_every_difference() {
        let dir = tempfile::tempdir().unwrap();
        let was = TrainingArgs::default();
        was.write(dir.path()).unwrap();
        inputs("a").write(dir.path()).unwrap();
        let now = TrainingArgs {
            per_device_train_batch_size: 16,
            ..was.clone()
        };
        let err = check(dir.path(), &now, &inputs("b"), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("per_device_train_batch_size: 8 -> 16"),
            "{err}"
        );
        assert!(err.contains("files.train.fnv1a64"), "{err}");
        let allowed = check(dir.path(), &now, &inputs("b"), true).unwrap();
        assert_eq!(allowed.len(), 2);
    }

    #[test]
    fn a_fingerprint_sees_one_changed_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tsv");
        std::fs::write(&path, "a\t1\n").unwrap();
        let one = Fingerprint::of(&path).unwrap().unwrap();
        std::fs::write(&path, "a\t0\n").unwrap();
        let two = Fingerprint::of(&path).unwrap().unwrap();
        assert_eq!((one.bytes, two.bytes), (4, 4));
        assert_ne!(one.fnv1a64, two.fnv1a64);
        assert!(Fingerprint::of(&dir.path().join("none")).unwrap().is_none());
    }
}

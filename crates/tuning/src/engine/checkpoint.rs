//! Training checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! `output_dir/checkpoints/checkpoint-{step}/` holds the model (`model.safetensors`, HF keys),
//! the optimizer moments (`optimizer.safetensors`, `{name}.exp_avg` / `{name}.exp_avg_sq`) and
//! `trainer_state.json` (step, epoch, position in the epoch, the micro-batch counter that seeds
//! dropout, best metric so far, running sums). The shuffling order is a function of
//! (seed, epoch), so it needs no saving. A checkpoint is written into a temporary directory
//! and renamed into place: a crash leaves either the whole checkpoint or none.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::{Module, ParamId};
use burn::tensor::{Device, Tensor, TensorData};
use encoder::HostTensor;
use encoder::checkpoint::{hf_state_dict, load_into, named_params, write_safetensors};

use super::optimizer::{AdamW, Moments};
use super::state::LoopState;

pub fn checkpoints_dir(output_dir: &Path) -> PathBuf {
    output_dir.join("checkpoints")
}

/// Checkpoint directories, oldest first.
pub fn list(output_dir: &Path) -> Vec<(usize, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(checkpoints_dir(output_dir)) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("checkpoint-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Writes a checkpoint atomically, then keeps only the newest `keep` checkpoints.
pub fn save<M: Module>(
    output_dir: &Path,
    model: &M,
    optimizer: &AdamW,
    state: &LoopState,
    keep: Option<usize>,
) -> Result<PathBuf> {
    let dir = checkpoints_dir(output_dir);
    let final_path = dir.join(format!("checkpoint-{}", state.global_step));
    let tmp = dir.join(format!(".checkpoint-{}.tmp", state.global_step));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = write_into(&tmp, model, optimizer, state).and_then(|()| {
        let _ = std::fs::remove_dir_all(&final_path);
        std::fs::rename(&tmp, &final_path)
            .with_context(|| format!("cannot move checkpoint into {}", final_path.display()))
    });
    if let Err(err) = written {
        // A checkpoint is whole or absent: nothing half-written stays (a full disk included).
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err.context(format!("cannot save {}", final_path.display())));
    }
    if let Some(keep) = keep {
        let all = list(output_dir);
        for (_, old) in all.iter().take(all.len().saturating_sub(keep.max(1))) {
            std::fs::remove_dir_all(old)
                .with_context(|| format!("cannot remove old checkpoint {}", old.display()))?;
        }
    }
    Ok(final_path)
}

/// The checkpoint's three files, written into `tmp`.
fn write_into<M: Module>(
    tmp: &Path,
    model: &M,
    optimizer: &AdamW,
    state: &LoopState,
) -> Result<()> {
    std::fs::create_dir_all(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    write_safetensors(&hf_state_dict(model), &tmp.join("model.safetensors"))?;
    let names: HashMap<ParamId, String> = named_params(model)
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut moments = BTreeMap::new();
    for (id, m) in &optimizer.moments {
        let Some(name) = names.get(id) else { continue };
        moments.insert(format!("{name}.exp_avg"), host(&m.exp_avg));
        moments.insert(format!("{name}.exp_avg_sq"), host(&m.exp_avg_sq));
    }
    write_safetensors(&moments, &tmp.join("optimizer.safetensors"))?;
    let json = serde_json::to_string_pretty(state)?;
    encoder::fsutil::write_atomic(&tmp.join("trainer_state.json"), json.as_bytes())?;
    Ok(())
}

fn host(tensor: &Tensor<1>) -> HostTensor {
    HostTensor {
        shape: tensor.dims().to_vec(),
        data: tensor
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 moments"),
    }
}

/// Loads a checkpoint into a freshly built model and optimizer.
pub fn load<M: Module>(
    dir: &Path,
    model: M,
    optimizer: &mut AdamW,
    device: &Device,
) -> Result<(M, LoopState)> {
    let state: LoopState = serde_json::from_str(
        &std::fs::read_to_string(dir.join("trainer_state.json"))
            .with_context(|| format!("cannot read {}", dir.join("trainer_state.json").display()))?,
    )
    .with_context(|| format!("{}: invalid trainer state", dir.display()))?;
    let weights = encoder::Checkpoint::read(&dir.join("model.safetensors"))?;
    let (model, report) = load_into(model, &weights)?;
    if !report.missing.is_empty() {
        bail!(
            "{}: checkpoint lacks {}",
            dir.display(),
            report.missing.join(", ")
        );
    }
    let moments = encoder::Checkpoint::read(&dir.join("optimizer.safetensors"))?;
    let inner = device.clone().inner();
    let to_tensor = |t: &HostTensor| {
        Tensor::<1>::from_data(TensorData::new(t.data.clone(), [t.data.len()]), &inner)
    };
    optimizer.moments.clear();
    for param in named_params(&model) {
        let (avg, sq) = (
            moments.floats.get(&format!("{}.exp_avg", param.name)),
            moments.floats.get(&format!("{}.exp_avg_sq", param.name)),
        );
        if let (Some(avg), Some(sq)) = (avg, sq) {
            optimizer.moments.insert(
                param.id,
                Moments {
                    exp_avg: to_tensor(avg),
                    exp_avg_sq: to_tensor(sq),
                },
            );
        }
    }
    optimizer.steps = state.optimizer_steps;
    Ok((model, state))
}

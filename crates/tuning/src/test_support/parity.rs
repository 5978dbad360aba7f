//! Comparing a finished run with a transformers Trainer reference taken from the same start:
//! the per-step loss and gradient norm of `metrics.jsonl`, then every final weight.
//!
//! The task crates' training-parity tests use it (their fixtures are written by
//! `scripts/fixtures/make-training-parity-fixture.py` and `scripts/checks/check-relation-training-parity.py`):
//! with dropout off and one full batch per step, both sides take the same steps, so a
//! difference in the forward pass, the loss, the backward pass, clipping, AdamW or the
//! schedule shows as a loss or weight that parts.

use std::path::Path;

use anyhow::{Context, Result, bail};
use encoder::weights::Checkpoint;
use serde_json::Value;

/// One logged training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub step: u64,
    pub loss: f64,
    pub grad_norm: f64,
}

impl Step {
    fn from_json(record: &Value) -> Option<Step> {
        Some(Step {
            step: record.get("step")?.as_u64()?,
            loss: record.get("loss")?.as_f64()?,
            grad_norm: record.get("grad_norm")?.as_f64()?,
        })
    }
}

/// The training steps a run logged (`metrics.jsonl` records with a loss).
pub fn logged_steps(run_dir: &Path) -> Result<Vec<Step>> {
    let path = run_dir.join("metrics.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let record: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
        if record.get("loss").is_some() {
            steps.push(Step::from_json(&record).with_context(|| {
                format!(
                    "{}:{}: a loss record without step/grad_norm",
                    path.display(),
                    i + 1
                )
            })?);
        }
    }
    Ok(steps)
}

/// The reference's steps: a JSON array of `{step, loss, grad_norm}`.
pub fn reference_steps(steps: &Value) -> Result<Vec<Step>> {
    let Some(array) = steps.as_array() else {
        bail!("the reference's steps are not a list");
    };
    array
        .iter()
        .map(|s| Step::from_json(s).with_context(|| format!("reference step {s}")))
        .collect()
}

/// Every step's loss and gradient norm within `tolerance` of the reference's, step for step.
pub fn compare_steps(ours: &[Step], theirs: &[Step], tolerance: f64) -> Result<()> {
    if ours.len() != theirs.len() {
        bail!(
            "{} logged steps, the reference has {}",
            ours.len(),
            theirs.len()
        );
    }
    let mut largest: f64 = 0.0;
    for (a, b) in ours.iter().zip(theirs) {
        if a.step != b.step {
            bail!(
                "step {} logged where the reference has step {}",
                a.step,
                b.step
            );
        }
        for (name, x, y) in [
            ("loss", a.loss, b.loss),
            ("grad_norm", a.grad_norm, b.grad_norm),
        ] {
            if (x - y).abs() >= tolerance {
                bail!("step {}: {name} {x} vs the reference's {y}", a.step);
            }
            largest = largest.max((x - y).abs());
        }
    }
    eprintln!(
        "parity: {} steps, largest loss or gradient norm difference {largest:.1e}",
        ours.len()
    );
    Ok(())
}

/// How two checkpoints' tensors must agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WeightCheck {
    /// Every element within this absolute difference.
    MaxAbs(f32),
    /// Each tensor's difference within this fraction of its norm (L2, the tensor as a whole).
    RelativeNorm(f32),
}

/// Every tensor of the reference checkpoint against the same-named one of ours, except
/// those `skip` names. Returns how many tensors were compared.
pub fn compare_weights(
    ours: &Path,
    reference: &Path,
    skip: impl Fn(&str) -> bool,
    check: WeightCheck,
) -> Result<usize> {
    let ours = Checkpoint::read(ours)?.floats;
    let theirs = Checkpoint::read(reference)?.floats;
    let mut compared = 0;
    let mut largest: f32 = 0.0;
    for (name, want) in &theirs {
        if skip(name) {
            continue;
        }
        let Some(got) = ours.get(name) else {
            bail!("our export lacks {name}");
        };
        if got.shape != want.shape {
            bail!("{name}: shape {:?} vs {:?}", got.shape, want.shape);
        }
        let (worst, tolerance) = match check {
            WeightCheck::MaxAbs(tolerance) => (max_abs_diff(&got.data, &want.data), tolerance),
            WeightCheck::RelativeNorm(tolerance) => {
                let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
                let diff = norm(&mut got.data.iter().zip(&want.data).map(|(a, b)| a - b));
                (
                    diff / norm(&mut want.data.iter().copied()).max(1e-12),
                    tolerance,
                )
            }
        };
        if worst >= tolerance {
            bail!("{name}: difference {worst:e} ({check:?})");
        }
        largest = largest.max(worst);
        compared += 1;
    }
    eprintln!("parity: {compared} weights, largest difference {largest:.1e} ({check:?})");
    Ok(compared)
}

/// A run against a Trainer reference: its logged steps against `reference_steps` (a JSON list
/// of `{step, loss, grad_norm}`), then every final weight against `reference_weights`, the
/// attention key biases left out. Returns how many tensors were compared. The run was
/// trained on the device `FINETUNE_DEVICE` names (the CPU by default): see [`Tolerances`].
pub fn compare_run(
    run_dir: &Path,
    reference_steps: &Value,
    reference_weights: &Path,
) -> Result<usize> {
    let tolerances = Tolerances::for_test_device();
    let theirs = self::reference_steps(reference_steps)?;
    compare_steps(&logged_steps(run_dir)?, &theirs, tolerances.steps)?;
    compare_weights(
        &run_dir.join("model.safetensors"),
        reference_weights,
        is_attention_key_bias,
        tolerances.weights,
    )
}

/// How far a run may be from Trainer's, by where it was trained.
///
/// On the CPU: `metrics.jsonl` keeps 6 decimals and float32 sums taken in another order drift
/// by ~1e-7 a step, so losses and gradient norms must agree within 5e-6 (a wrong schedule,
/// clipping, marker or gradient moves them by 1e-4 or more); weights agree to ~2e-6 and must
/// within 1e-5 (LayerNorm weights sit near 1, so decaying them by mistake would show).
///
/// Off the CPU (Burn's GPU kernels, e.g. wgpu on lavapipe): the forward agrees as closely
/// (step 1's loss is equal to the 6th decimal), but the backward pass sums in other orders
/// (tiled matrix products, tree reductions): gradient norms differ from Trainer's by ~2e-5
/// at first. AdamW divides each gradient by its own running size, so an element whose
/// gradient is near zero takes a step of about the learning rate in the direction of its
/// rounding noise (as the attention key biases do on every side): single elements then
/// differ by up to ~2e-3 after 8 steps at lr 2e-3, each tensor as a whole by up to 1.8e-4 of
/// its norm, and later steps' gradient norms by up to 1.6e-4 (all measured on lavapipe, the
/// sentiment and relation fixtures). Allowed: 1e-3 for losses and gradient norms, 1e-3 of each
/// tensor's norm; a wrong operation moves them by far more (initial head weights drawn on the
/// GPU's generator instead of the CPU's moved step 1's loss by 2e-3 and 9e-2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub steps: f64,
    pub weights: WeightCheck,
}

impl Tolerances {
    pub const CPU: Self = Self {
        steps: 5e-6,
        weights: WeightCheck::MaxAbs(1e-5),
    };
    pub const GPU: Self = Self {
        steps: 1e-3,
        weights: WeightCheck::RelativeNorm(1e-3),
    };

    /// For a run on the device `FINETUNE_DEVICE` names.
    pub fn for_test_device() -> Self {
        match encoder::DeviceChoice::from_env() {
            Ok(choice) if !choice.is_cpu() => Self::GPU,
            _ => Self::CPU,
        }
    }
}

/// Attention key biases get an exact gradient of zero (softmax ignores a constant added to
/// every key's score), so each side's AdamW steps them at full size in the direction of its
/// own rounding noise: a parity comparison leaves them out.
pub fn is_attention_key_bias(name: &str) -> bool {
    name.ends_with("attention.self.key.bias")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

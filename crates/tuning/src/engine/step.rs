//! One optimizer step, the unit of training that `Trainer::train` repeats and `step-bench`
//! times: the micro-batches' losses and gradients (averaged), global-norm clipping, then one
//! AdamW update at the scheduled learning rate.

use std::collections::HashMap;

use burn::module::ParamId;
use burn::tensor::Device;

use super::optimizer::{AdamW, GradAccumulator};
use super::sampler::derive_seed;
use crate::strategy::ParamGroup;
use crate::task::Task;

/// What seeds micro-batch `i`'s dropout masks: `derive_seed(run seed, DROPOUT_SEED, i)`.
const DROPOUT_SEED: u64 = 2;

/// The optimizer and how a step uses it.
#[derive(Debug)]
pub struct Step {
    pub optimizer: AdamW,
    /// Clip the global gradient norm to this (0: no clipping; the norm is still measured).
    pub max_grad_norm: f64,
    /// The run's seed: dropout masks of the `i`-th micro-batch of the run depend only on
    /// (seed, i), so a resumed run draws the same ones.
    pub seed: u64,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The loss of each micro-batch, in order.
    pub losses: Vec<f64>,
    /// Training features seen.
    pub samples: usize,
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

/// A micro-batch whose loss is not a finite number: the step was not taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFiniteLoss(pub f64);

impl std::fmt::Display for NonFiniteLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the training loss became {}", self.0)
    }
}

impl std::error::Error for NonFiniteLoss {}

impl Step {
    /// Runs `micro_batches` (one optimizer step's worth) through `task`'s loss, averages their
    /// gradients, clips them and updates `model` at learning rate `lr` (scaled per parameter
    /// by `groups`). `micro_index` counts the run's micro-batches; it seeds each one's dropout
    /// and is advanced here.
    #[allow(clippy::too_many_arguments)]
    pub fn run<T: Task>(
        &mut self,
        task: &T,
        model: T::Model,
        micro_batches: &[Vec<&T::Feature>],
        lr: f64,
        groups: &HashMap<ParamId, ParamGroup>,
        micro_index: &mut u64,
        device: &Device,
    ) -> Result<(T::Model, StepReport), NonFiniteLoss> {
        let mut grads = GradAccumulator::default();
        let mut report = StepReport {
            losses: Vec::with_capacity(micro_batches.len()),
            samples: 0,
            grad_norm: 0.0,
        };
        let weight = 1.0 / micro_batches.len() as f64;
        for batch in micro_batches {
            device.seed(derive_seed(self.seed, DROPOUT_SEED, *micro_index));
            *micro_index += 1;
            let loss = task.loss(&model, batch, device);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(NonFiniteLoss(value));
            }
            report.losses.push(value);
            report.samples += batch.len();
            let mut gradients = loss.backward();
            grads.accumulate(&model, &mut gradients, weight);
        }
        let kernels = self.optimizer.kernels;
        report.grad_norm = if self.max_grad_norm > 0.0 {
            grads.clip_global_norm(self.max_grad_norm, &kernels)
        } else {
            grads.global_norm(&kernels)
        };
        let model = self.optimizer.step(model, grads, lr, groups);
        Ok((model, report))
    }
}

//! AdamW as transformers trains with it (`torch.optim.AdamW`), gradient accumulation and
//! global-norm gradient clipping.
//!
//! Why our own: transformers' recipe needs per-parameter learning rates (layer-wise decay),
//! weight decay on some parameters only, and clipping by the norm of *all* gradients together
//! (`torch.nn.utils.clip_grad_norm_`); Burn's optimizers clip tensor by tensor and take one
//! learning rate. The update follows PyTorch line by line (see [`AdamW::step`]).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Gradients, Tensor};
use kernels::Kernels;
use kernels::adamw::ApplyStep;

pub use crate::strategy::ParamGroup;

/// Hyper-parameters, with transformers' defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Summed gradients of the micro-batches of one optimizer step, flattened, by parameter.
#[derive(Debug, Default)]
pub struct GradAccumulator {
    grads: HashMap<ParamId, Tensor<1>>,
}

struct Harvest<'a> {
    grads: &'a mut Gradients,
    into: &'a mut HashMap<ParamId, Tensor<1>>,
    scale: f64,
}

impl ModuleVisitor for Harvest<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.is_require_grad() {
            return;
        }
        let Some(grad) = param.val().grad_remove(self.grads) else {
            return;
        };
        let numel = grad.shape().num_elements();
        let grad = grad.reshape([numel]);
        // Without accumulation the scale is 1: skip a pass over every gradient.
        let grad = if self.scale == 1.0 {
            grad
        } else {
            grad * self.scale
        };
        let summed = match self.into.remove(&param.id) {
            Some(previous) => previous + grad,
            None => grad,
        };
        self.into.insert(param.id, summed);
    }
}

impl GradAccumulator {
    /// Adds `scale` times this backward pass's gradients of `model`'s trainable parameters.
    /// With `scale = 1 / micro_batches` the result is the average over the micro-batches.
    pub fn accumulate<M: Module>(&mut self, model: &M, grads: &mut Gradients, scale: f64) {
        model.visit(&mut Harvest {
            grads,
            into: &mut self.grads,
            scale,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    pub fn len(&self) -> usize {
        self.grads.len()
    }

    pub fn get(&self, id: &ParamId) -> Option<&Tensor<1>> {
        self.grads.get(id)
    }

    /// The L2 norm of all gradients together (each gradient's sum of squares by `kernels`).
    pub fn global_norm(&self, kernels: &Kernels) -> f64 {
        self.grads
            .values()
            .map(|grad| kernels.sum_of_squares(grad))
            .sum::<f64>()
            .sqrt()
    }

    /// `torch.nn.utils.clip_grad_norm_`: scales all gradients by
    /// min(1, max_norm / (norm + 1e-6)). Returns the norm before clipping.
    pub fn clip_global_norm(&mut self, max_norm: f64, kernels: &Kernels) -> f64 {
        let norm = self.global_norm(kernels);
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            // Each gradient moved out and back, so the multiplication owns its buffer and
            // runs in place (a clone would force a copy of every gradient).
            self.grads = std::mem::take(&mut self.grads)
                .into_iter()
                .map(|(id, grad)| (id, grad * coef))
                .collect();
        }
        norm
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
pub struct Moments {
    pub exp_avg: Tensor<1>,
    pub exp_avg_sq: Tensor<1>,
}

#[derive(Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Fused in-place updates on the CPU, or Burn's operations.
    pub kernels: Kernels,
    /// Optimizer steps taken (PyTorch's `state["step"]`, shared by all parameters here since
    /// every trainable parameter is updated at every step).
    pub steps: u64,
    pub moments: HashMap<ParamId, Moments>,
}

struct Update<'a> {
    optimizer: &'a mut AdamW,
    grads: GradAccumulator,
    groups: &'a HashMap<ParamId, ParamGroup>,
    lr: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = self.grads.grads.remove(&param.id) else {
            return param;
        };
        let group = self.groups.get(&param.id).copied().unwrap_or(ParamGroup {
            lr_scale: 1.0,
            weight_decay: true,
        });
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.dims();
        let numel = grad.dims()[0];
        let value = tensor.inner().reshape([numel]);
        let grad = grad.inner();
        let updated = self.optimizer.update(
            id,
            value,
            grad,
            self.lr * group.lr_scale,
            group.weight_decay,
        );
        let updated = Tensor::<D>::from_inner(updated.reshape(shape)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}

impl AdamW {
    pub fn new(config: AdamWConfig, kernels: Kernels) -> Self {
        Self {
            config,
            kernels,
            steps: 0,
            moments: HashMap::new(),
        }
    }

    /// One AdamW step over every parameter that has a gradient in `grads`, at base learning
    /// rate `lr` scaled per parameter by `groups`. Parameters without a gradient (frozen) are
    /// left untouched and get no optimizer state.
    pub fn step<M: Module>(
        &mut self,
        model: M,
        grads: GradAccumulator,
        lr: f64,
        groups: &HashMap<ParamId, ParamGroup>,
    ) -> M {
        self.steps += 1;
        let mut update = Update {
            optimizer: self,
            grads,
            groups,
            lr,
        };
        model.map(&mut update)
    }

    /// PyTorch's `_single_tensor_adamw`, in the same order:
    /// decoupled decay, moment updates, bias corrections, then the step.
    fn update(
        &mut self,
        id: ParamId,
        param: Tensor<1>,
        grad: Tensor<1>,
        lr: f64,
        decays: bool,
    ) -> Tensor<1> {
        let c = self.config;
        let step = self.steps as i32;
        let (exp_avg, exp_avg_sq) = match self.moments.remove(&id) {
            Some(m) => (m.exp_avg, m.exp_avg_sq),
            None => (grad.zeros_like(), grad.zeros_like()),
        };
        let bias_correction1 = 1.0 - c.beta1.powi(step);
        let bias_correction2 = 1.0 - c.beta2.powi(step);
        let step_size = lr / bias_correction1;
        let (param, exp_avg, exp_avg_sq) = if self.kernels.fused_adamw(&grad) {
            // The same arithmetic in three in-place passes (kernels::adamw).
            let exp_avg = kernels::adamw_first_moment(exp_avg, grad.clone(), c.beta1);
            let exp_avg_sq = kernels::adamw_second_moment(exp_avg_sq, grad, c.beta2);
            let decay = if decays {
                1.0 - lr * c.weight_decay
            } else {
                1.0
            };
            let step = ApplyStep {
                decay: decay as f32,
                step_size: step_size as f32,
                bias_correction2_sqrt: bias_correction2.sqrt() as f32,
                eps: c.eps as f32,
            };
            let param = kernels::adamw_apply(param, exp_avg.clone(), exp_avg_sq.clone(), step);
            (param, exp_avg, exp_avg_sq)
        } else {
            let param = if decays && c.weight_decay != 0.0 {
                param * (1.0 - lr * c.weight_decay)
            } else {
                param
            };
            // exp_avg.lerp_(grad, 1 - beta1)
            let exp_avg = exp_avg.clone() + (grad.clone() - exp_avg) * (1.0 - c.beta1);
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            let exp_avg_sq = exp_avg_sq * c.beta2 + grad.clone() * grad * (1.0 - c.beta2);
            let denom = exp_avg_sq.clone().sqrt() / bias_correction2.sqrt() + c.eps;
            let param = param - exp_avg.clone() / denom * step_size;
            (param, exp_avg, exp_avg_sq)
        };
        self.moments.insert(
            id,
            Moments {
                exp_avg,
                exp_avg_sq,
            },
        );
        param
    }
}

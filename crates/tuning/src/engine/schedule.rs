//! Learning-rate schedules, stepped once per optimizer step, with transformers' formulas
//! (`transformers.optimization.get_scheduler`).
//!
//! Like PyTorch's `LambdaLR`, the multiplier for optimizer step `k` (0-based) is `lambda(k)`:
//! with warmup the very first update uses learning rate 0.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    /// Warmup, then linear decay to 0 at the last step.
    Linear,
    /// Warmup, then half a cosine period down to 0.
    Cosine,
    /// No warmup, constant (transformers' `constant` ignores warmup).
    Constant,
    /// Warmup, then constant.
    ConstantWithWarmup,
    /// Warmup, then polynomial decay (power 1, to lr_end = 1e-7).
    Polynomial,
}

impl std::str::FromStr for SchedulerType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!(
                "unknown lr_scheduler_type `{s}` (linear, cosine, constant, constant_with_warmup, polynomial)"
            )
        })
    }
}

/// transformers' polynomial schedule defaults.
const POLY_LR_END: f64 = 1e-7;
const POLY_POWER: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub kind: SchedulerType,
    pub base_lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl Schedule {
    /// The multiplier of the base learning rate at optimizer step `step` (0-based).
    pub fn factor(&self, step: usize) -> f64 {
        let (step_f, warmup, total) = (
            step as f64,
            self.warmup_steps as f64,
            self.total_steps as f64,
        );
        let warming = step < self.warmup_steps;
        let warm = step_f / warmup.max(1.0);
        match self.kind {
            SchedulerType::Constant => 1.0,
            SchedulerType::ConstantWithWarmup => {
                if warming {
                    warm
                } else {
                    1.0
                }
            }
            SchedulerType::Linear => {
                if warming {
                    warm
                } else {
                    ((total - step_f) / (total - warmup).max(1.0)).max(0.0)
                }
            }
            SchedulerType::Cosine => {
                if warming {
                    warm
                } else {
                    let progress = (step_f - warmup) / (total - warmup).max(1.0);
                    // num_cycles = 0.5: half a cosine from 1 to 0.
                    (0.5 * (1.0 + (std::f64::consts::PI * 2.0 * 0.5 * progress).cos())).max(0.0)
                }
            }
            SchedulerType::Polynomial => {
                if warming {
                    warm
                } else if step > self.total_steps {
                    POLY_LR_END / self.base_lr
                } else {
                    let remaining = 1.0 - (step_f - warmup) / (total - warmup);
                    let decayed =
                        (self.base_lr - POLY_LR_END) * remaining.powf(POLY_POWER) + POLY_LR_END;
                    decayed / self.base_lr
                }
            }
        }
    }

    /// The learning rate at optimizer step `step`.
    pub fn lr(&self, step: usize) -> f64 {
        self.base_lr * self.factor(step)
    }
}

/// Warmup steps as transformers resolves them: explicit steps win, else ceil(ratio * total).
pub fn warmup_steps(warmup_steps: usize, warmup_ratio: f64, total_steps: usize) -> usize {
    if warmup_steps > 0 {
        warmup_steps
    } else {
        (warmup_ratio * total_steps as f64).ceil() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: SchedulerType) -> Schedule {
        Schedule {
            kind,
            base_lr: 2e-5,
            warmup_steps: 10,
            total_steps: 100,
        }
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    // Expected values are transformers' lr_lambda formulas evaluated by hand.
    #[test]
    fn linear_warms_up_from_zero_then_decays_to_zero() {
        let s = schedule(SchedulerType::Linear);
        close(s.factor(0), 0.0);
        close(s.factor(5), 0.5);
        close(s.factor(10), 1.0);
        close(s.factor(55), 45.0 / 90.0);
        close(s.factor(100), 0.0);
        close(s.factor(120), 0.0);
    }

    #[test]
    fn cosine_follows_half_a_period() {
        let s = schedule(SchedulerType::Cosine);
        close(s.factor(3), 0.3);
        close(s.factor(10), 1.0);
        close(s.factor(55), 0.5);
        let p = 30.0 / 90.0;
        close(s.factor(40), 0.5 * (1.0 + (std::f64::consts::PI * p).cos()));
        close(s.factor(100), 0.0);
    }

    #[test]
    fn constant_ignores_warmup_and_constant_with_warmup_does_not() {
        close(schedule(SchedulerType::Constant).factor(0), 1.0);
        let s = schedule(SchedulerType::ConstantWithWarmup);
        close(s.factor(2), 0.2);
        close(s.factor(99), 1.0);
    }

    #[test]
    fn polynomial_power_one_ends_at_lr_end() {
        let s = schedule(SchedulerType::Polynomial);
        close(s.factor(10), 1.0);
        let expected = ((2e-5 - 1e-7) * (1.0 - 45.0 / 90.0) + 1e-7) / 2e-5;
        close(s.factor(55), expected);
        close(s.lr(100), 1e-7);
        close(s.lr(150), 1e-7);
    }

    #[test]
    fn warmup_ratio_rounds_up_like_transformers() {
        assert_eq!(warmup_steps(0, 0.06, 1000), 60);
        assert_eq!(warmup_steps(0, 0.1, 15), 2);
        assert_eq!(warmup_steps(7, 0.5, 100), 7);
    }

    #[test]
    fn scheduler_names_parse() {
        assert_eq!(
            "cosine".parse::<SchedulerType>().unwrap(),
            SchedulerType::Cosine
        );
        assert!("exp".parse::<SchedulerType>().is_err());
    }
}

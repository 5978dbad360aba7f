//! Where a run stands: its position in the data and the running sums, saved with every
//! checkpoint (`trainer_state.json`) so that a resumed run goes on exactly where it stopped.

use serde::{Deserialize, Serialize};

use super::step::StepReport;
use crate::task::Metrics;

/// The loop's position and running sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub global_step: usize,
    pub epoch: usize,
    /// Optimizer steps already taken in `epoch`.
    pub steps_in_epoch: usize,
    /// Micro-batches run so far (seeds dropout).
    pub micro_index: u64,
    pub best_score: Option<f64>,
    pub best_metrics: Option<Metrics>,
    pub last_eval: Option<Metrics>,
    pub evals_without_gain: usize,
    pub total_loss: f64,
    pub total_micro: usize,
    pub samples_seen: usize,
    pub loss_sum_since_log: f64,
    pub micro_since_log: usize,
    pub optimizer_steps: u64,
    /// Seconds of training before this (resumed) process started.
    pub elapsed_before_s: f64,
}

impl LoopState {
    /// Counts one optimizer step that did `report`; `optimizer_steps` is the optimizer's own
    /// count after it.
    pub fn record_step(&mut self, report: &StepReport, optimizer_steps: u64) {
        for &loss in &report.losses {
            self.loss_sum_since_log += loss;
            self.total_loss += loss;
            self.micro_since_log += 1;
            self.total_micro += 1;
        }
        self.samples_seen += report.samples;
        self.global_step += 1;
        self.steps_in_epoch += 1;
        self.optimizer_steps = optimizer_steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_adds_its_micro_batches_to_both_running_sums() {
        let mut st = LoopState {
            loss_sum_since_log: 1.0,
            micro_since_log: 1,
            ..LoopState::default()
        };
        let report = StepReport {
            losses: vec![0.5, 0.25],
            samples: 12,
            grad_norm: 3.0,
        };
        st.record_step(&report, 9);
        assert_eq!(
            (st.global_step, st.steps_in_epoch, st.optimizer_steps),
            (1, 1, 9)
        );
        assert_eq!((st.loss_sum_since_log, st.micro_since_log), (1.75, 3));
        assert_eq!(
            (st.total_loss, st.total_micro, st.samples_seen),
            (0.75, 2, 12)
        );
    }
}

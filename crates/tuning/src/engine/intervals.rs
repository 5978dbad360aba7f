//! When the loop logs, evaluates and saves, as transformers' Trainer decides it.

use super::settings::{IntervalStrategy, TrainingArgs};

/// Where the loop stands after an optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// Optimizer steps taken (1 after the first).
    pub step: usize,
    pub total_steps: usize,
    pub steps_per_epoch: usize,
}

impl Moment {
    pub fn is_last(&self) -> bool {
        self.step == self.total_steps
    }

    pub fn ends_epoch(&self) -> bool {
        self.step.is_multiple_of(self.steps_per_epoch)
    }

    /// Epochs done, as a fraction (`metrics.jsonl`'s `epoch`).
    pub fn epoch(&self) -> f64 {
        self.step as f64 / self.steps_per_epoch as f64
    }
}

/// A training-loss line every `logging_steps`, and at the last step.
pub fn log_due(args: &TrainingArgs, at: Moment) -> bool {
    at.step.is_multiple_of(args.logging_steps) || at.is_last()
}

/// An evaluation per epoch, or every `eval_steps` and at the last step when that is not a
/// multiple of it (as Trainer in transformers 5).
pub fn eval_due(args: &TrainingArgs, at: Moment) -> bool {
    match args.eval_strategy {
        IntervalStrategy::No => false,
        IntervalStrategy::Epoch => at.ends_epoch(),
        IntervalStrategy::Steps => {
            at.step.is_multiple_of(args.eval_steps.expect("validated")) || at.is_last()
        }
    }
}

/// A checkpoint per epoch or every `save_steps`; also at the last step and when the run
/// stops early, unless saving is off.
pub fn save_due(args: &TrainingArgs, at: Moment, stopping: bool) -> bool {
    let scheduled = match args.save_strategy {
        IntervalStrategy::No => return false,
        IntervalStrategy::Epoch => at.ends_epoch(),
        IntervalStrategy::Steps => at.step.is_multiple_of(args.save_steps),
    };
    scheduled || stopping || at.is_last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: usize) -> Moment {
        Moment {
            step,
            total_steps: 25,
            steps_per_epoch: 10,
        }
    }

    fn steps(args: &TrainingArgs, due: impl Fn(&TrainingArgs, Moment) -> bool) -> Vec<usize> {
        (1..=25).filter(|&s| due(args, at(s))).collect()
    }

    #[test]
    fn logging_every_n_steps_and_at_the_end() {
        let args = TrainingArgs {
            logging_steps: 10,
            ..TrainingArgs::default()
        };
        assert_eq!(steps(&args, log_due), [10, 20, 25]);
    }

    #[test]
    fn evaluation_per_epoch_or_every_n_steps_plus_the_last() {
        let mut args = TrainingArgs::default();
        assert_eq!(steps(&args, eval_due), [10, 20]);
        args.eval_strategy = IntervalStrategy::Steps;
        args.eval_steps = Some(8);
        assert_eq!(steps(&args, eval_due), [8, 16, 24, 25]);
        args.eval_strategy = IntervalStrategy::No;
        assert!(steps(&args, eval_due).is_empty());
    }

    #[test]
    fn saving_on_schedule_at_the_end_and_on_an_early_stop() {
        let mut args = TrainingArgs {
            save_steps: 12,
            ..TrainingArgs::default()
        };
        assert_eq!(steps(&args, |a, m| save_due(a, m, false)), [12, 24, 25]);
        assert!(save_due(&args, at(5), true));
        args.save_strategy = IntervalStrategy::Epoch;
        assert_eq!(steps(&args, |a, m| save_due(a, m, false)), [10, 20, 25]);
        args.save_strategy = IntervalStrategy::No;
        assert!(!save_due(&args, at(25), true));
    }
}

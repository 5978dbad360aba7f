//! Model selection and early stopping: which evaluation is the best so far, and when to stop
//! (transformers' `metric_for_best_model`, `greater_is_better`, `EarlyStoppingCallback`).

use anyhow::{Result, bail};

use super::settings::TrainingArgs;
use crate::task::Metrics;

/// How evaluations are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The metric that decides (without the `eval_` prefix).
    pub metric: String,
    pub greater_is_better: bool,
    /// The least gain that counts as an improvement.
    pub threshold: f64,
    /// Stop after this many evaluations in a row without improvement.
    pub patience: Option<usize>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new best model.
    Improved,
    /// No better than the best; keep going.
    NoGain,
    /// No better, and the patience is used up: stop training.
    Stop,
}

impl Selection {
    /// The run's rule: `metric_for_best_model` or the task's own metric; greater is better
    /// unless set otherwise or the metric is a loss.
    pub fn new(args: &TrainingArgs, task_metric: (&str, bool)) -> Self {
        let (name, greater) = task_metric;
        let metric = args
            .metric_for_best_model
            .clone()
            .unwrap_or(name.to_string());
        let greater_is_better = args
            .greater_is_better
            .unwrap_or(if metric.contains("loss") {
                false
            } else {
                greater
            });
        Self {
            metric,
            greater_is_better,
            threshold: args.early_stopping_threshold,
            patience: args.early_stopping_patience,
        }
    }

    /// The deciding metric's value in `metrics`; an error listing the metrics when absent.
    pub fn score(&self, metrics: &Metrics) -> Result<f64> {
        match metrics.get(&self.metric) {
            Some(&score) => Ok(score),
            None => bail!(
                "metric_for_best_model `{}` is not among the task's metrics ({})",
                self.metric,
                metrics.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Judges `score` against the best so far, after `evals_without_gain` evaluations in a
    /// row that did not improve on it.
    pub fn judge(&self, score: f64, best: Option<f64>, evals_without_gain: usize) -> Verdict {
        let improved = match best {
            None => true,
            Some(best) => {
                let gain = if self.greater_is_better {
                    score - best
                } else {
                    best - score
                };
                gain > self.threshold
            }
        };
        match self.patience {
            _ if improved => Verdict::Improved,
            Some(patience) if evals_without_gain + 1 >= patience => Verdict::Stop,
            _ => Verdict::NoGain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(metric: Option<&str>, patience: Option<usize>) -> Selection {
        let args = TrainingArgs {
            metric_for_best_model: metric.map(String::from),
            early_stopping_patience: patience,
            early_stopping_threshold: 0.01,
            ..TrainingArgs::default()
        };
        Selection::new(&args, ("accuracy", true))
    }

    #[test]
    fn the_task_metric_by_default_and_losses_decrease() {
        let s = selection(None, None);
        assert_eq!((s.metric.as_str(), s.greater_is_better), ("accuracy", true));
        let s = selection(Some("loss"), None);
        assert!(!s.greater_is_better);
        assert_eq!(s.judge(0.5, Some(0.6), 0), Verdict::Improved);
        assert_eq!(
            s.judge(0.595, Some(0.6), 0),
            Verdict::NoGain,
            "under the threshold"
        );
    }

    #[test]
    fn the_first_evaluation_is_the_best_and_gains_must_pass_the_threshold() {
        let s = selection(None, None);
        assert_eq!(s.judge(0.1, None, 0), Verdict::Improved);
        assert_eq!(s.judge(0.805, Some(0.8), 0), Verdict::NoGain);
        assert_eq!(s.judge(0.82, Some(0.8), 3), Verdict::Improved);
    }

    #[test]
    fn early_stopping_after_patience_evaluations_without_gain() {
        let s = selection(None, Some(2));
        assert_eq!(s.judge(0.7, Some(0.8), 0), Verdict::NoGain);
        assert_eq!(s.judge(0.7, Some(0.8), 1), Verdict::Stop);
        assert_eq!(s.judge(0.9, Some(0.8), 1), Verdict::Improved);
    }

    #[test]
    fn a_missing_metric_is_named_with_the_ones_there_are() {
        let s = selection(Some("f1"), None);
        let metrics = Metrics::from([("accuracy".to_string(), 0.5)]);
        let err = s.score(&metrics).unwrap_err().to_string();
        assert!(err.contains("`f1`") && err.contains("accuracy"), "{err}");
    }
}

//! The learning-rate range test (`<task> lr-find`): from the run's starting weights, one
//! optimizer step per learning rate, the rates rising exponentially from `start_lr` to
//! `end_lr`, the loss of each step recorded and smoothed; the test stops when the smoothed
//! loss runs away (above `diverge_factor` times its lowest) or a loss is not finite.
//!
//! Everything else is the run's: the same setup (pretrained weights, re-initialised layers,
//! LoRA adapters), the same strategy (frozen layers, layer-wise rates, BitFit, LoRA: the
//! rate tried is the base rate the strategy scales, as in training), batches, optimizer and
//! clipping. The weights it trains are thrown away: nothing is written to the model or to a
//! run, so a `train` after it starts from the pretrained weights as it would have.
//!
//! The suggestion, with its rule stated: the rate of the lowest smoothed loss (after the
//! first tenth of the steps) divided by 10, safely below where the loss turns; the rate of
//! the steepest descent of the smoothed loss is reported next to it.

use anyhow::{Result, bail};
use encoder::checkpoint::named_params;
use serde::Serialize;

use super::sampler::epoch_batches;
use super::settings::IntervalStrategy;
use super::setup::{Features, Setup};
use super::trainer::Trainer;
use crate::task::Task;

/// How the range test runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeTestSettings {
    pub start_lr: f64,
    pub end_lr: f64,
    /// Optimizer steps at most (one per learning rate).
    pub num_steps: usize,
    /// Exponential smoothing of the loss (with bias correction), as commonly used: 0.98.
    pub smoothing: f64,
    /// Stop once the smoothed loss exceeds this many times its lowest value.
    pub diverge_factor: f64,
}

impl Default for RangeTestSettings {
    fn default() -> Self {
        Self {
            start_lr: 1e-7,
            end_lr: 1.0,
            num_steps: 100,
            smoothing: 0.98,
            diverge_factor: 4.0,
        }
    }
}

/// One step of the test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub step: usize,
    pub learning_rate: f64,
    pub loss: f64,
    pub smoothed_loss: f64,
}

/// The test's record: the steps taken, why it stopped, and what it suggests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeTest {
    #[serde(skip)]
    settings: RangeTestSettings,
    pub points: Vec<Point>,
    /// Why the test ended before `num_steps` (the smoothed loss diverged, a loss was not
    /// finite), if it did.
    pub stopped: Option<String>,
    #[serde(skip)]
    average: f64,
}

/// What the test suggests, and by which rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The suggested learning rate: `min_loss_lr / 10`.
    pub learning_rate: f64,
    pub rule: &'static str,
    /// The rate at the lowest smoothed loss.
    pub min_loss_lr: f64,
    /// The rate where the smoothed loss falls fastest against log(rate), over the steps up
    /// to the lowest one.
    pub steepest_lr: Option<f64>,
}

impl RangeTest {
    pub fn new(settings: RangeTestSettings) -> Result<Self> {
        let s = &settings;
        if !(s.start_lr > 0.0 && s.end_lr > s.start_lr && s.end_lr.is_finite()) {
            bail!(
                "lr-find needs 0 < start_lr < end_lr, got {} and {}",
                s.start_lr,
                s.end_lr
            );
        }
        if s.num_steps < 2 {
            bail!("lr-find needs at least 2 steps, got {}", s.num_steps);
        }
        if !(0.0..1.0).contains(&s.smoothing) || s.diverge_factor <= 1.0 {
            bail!("lr-find: smoothing must be in [0, 1) and the divergence factor above 1");
        }
        Ok(Self {
            settings,
            points: Vec::new(),
            stopped: None,
            average: 0.0,
        })
    }

    /// The learning rate of step `i` (0-based): `start * (end / start)^(i / (steps - 1))`.
    pub fn lr(&self, i: usize) -> f64 {
        let s = &self.settings;
        let t = i as f64 / (s.num_steps - 1) as f64;
        s.start_lr * (s.end_lr / s.start_lr).powf(t)
    }

    /// Whether the test goes on after the step it has recorded.
    pub fn running(&self) -> bool {
        self.stopped.is_none() && self.points.len() < self.settings.num_steps
    }

    /// Records the next step's loss; stops the test on a loss that is not finite or on a
    /// smoothed loss above `diverge_factor` times the lowest.
    pub fn record(&mut self, loss: f64) {
        let step = self.points.len();
        let learning_rate = self.lr(step);
        if !loss.is_finite() {
            self.stopped = Some(format!(
                "the loss became {loss} at learning rate {learning_rate:.3e}"
            ));
            return;
        }
        let beta = self.settings.smoothing;
        self.average = beta * self.average + (1.0 - beta) * loss;
        let smoothed_loss = self.average / (1.0 - beta.powi(step as i32 + 1));
        let lowest = self
            .points
            .iter()
            .map(|p| p.smoothed_loss)
            .fold(f64::INFINITY, f64::min);
        self.points.push(Point {
            step,
            learning_rate,
            loss,
            smoothed_loss,
        });
        if smoothed_loss > self.settings.diverge_factor * lowest {
            self.stopped = Some(format!(
                "the smoothed loss {smoothed_loss:.4} passed {} x its lowest ({lowest:.4}) at \
                 learning rate {learning_rate:.3e}",
                self.settings.diverge_factor
            ));
        }
    }

    /// The suggestion, once there are steps. The first tenth of the steps is left out of the
    /// search: the average has seen few losses there, so its lowest value would be the luck
    /// of a first batch.
    pub fn suggestion(&self) -> Option<Suggestion> {
        let skip = self.settings.num_steps / 10;
        let lowest = self
            .points
            .iter()
            .skip(skip)
            .min_by(|a, b| a.smoothed_loss.total_cmp(&b.smoothed_loss))?;
        let descent = &self.points[skip..=lowest.step];
        let steepest_lr = descent
            .windows(2)
            .map(|w| {
                let slope = (w[1].smoothed_loss - w[0].smoothed_loss)
                    / (w[1].learning_rate.ln() - w[0].learning_rate.ln());
                (slope, w[1].learning_rate)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, lr)| lr);
        Some(Suggestion {
            learning_rate: lowest.learning_rate / 10.0,
            rule: "the learning rate of the lowest smoothed loss (first tenth of the steps left \
                   out), divided by 10",
            min_loss_lr: lowest.learning_rate,
            steepest_lr,
        })
    }
}

/// What `lr-find` found: the test, its suggestion, and what trained.
#[derive(Debug, Clone, Serialize)]
pub struct LrFindReport {
    #[serde(flatten)]
    pub test: RangeTest,
    pub suggestion: Option<Suggestion>,
    /// The strategy's parameter plan (first epoch), as `train` prints it.
    pub trainable: String,
    pub trainable_params: usize,
    pub total_params: usize,
}

impl<T: Task> Trainer<'_, T> {
    /// The range test on `train_examples` with this run's settings (model, strategy, batch
    /// size, accumulation, optimizer, clipping, seed, device); writes nothing.
    pub fn lr_find(
        &self,
        train_examples: &[T::Example],
        settings: RangeTestSettings,
    ) -> Result<LrFindReport> {
        let (task, args) = (self.task, &self.args);
        let mut test = RangeTest::new(settings)?;
        let kernels = self.device.kernels(self.kernels)?;
        let device = self.device.open()?.autodiff();
        let setup = Setup::load(task, args, &self.model_dir, kernels, &device)?;
        let no_eval = super::TrainingArgs {
            eval_strategy: IntervalStrategy::No,
            ..args.clone()
        };
        let data = Features::new(
            task,
            &no_eval,
            &setup.tokenizer,
            setup.max_len,
            train_examples,
            None,
        )?;
        let plan = args
            .strategy
            .plan(&named_params(&setup.model), setup.num_layers, 0);
        let (trainable_params, total_params) = plan.counts();
        let trainable = plan.summary();
        eprintln!("{}: lr-find: {trainable}", task.name());
        let (mut model, groups) = plan.apply(setup.model);
        let mut step = self.step(kernels);
        let (mut micro_index, mut epoch) = (0u64, 0usize);
        let size = args.per_device_train_batch_size;
        'epochs: while test.running() {
            let batches = epoch_batches(
                &data.lengths,
                size,
                args.seed,
                epoch,
                true,
                args.group_by_length,
            );
            for step_batches in batches.chunks(args.gradient_accumulation_steps) {
                if !test.running() {
                    break 'epochs;
                }
                let micro_batches: Vec<Vec<&T::Feature>> = step_batches
                    .iter()
                    .map(|indices| indices.iter().map(|&i| &data.train[i]).collect())
                    .collect();
                let lr = test.lr(test.points.len());
                let done = step.run(
                    task,
                    model.clone(),
                    &micro_batches,
                    lr,
                    &groups,
                    &mut micro_index,
                    &device,
                );
                match done {
                    Ok((updated, report)) => {
                        model = updated;
                        let loss = report.losses.iter().sum::<f64>() / report.losses.len() as f64;
                        test.record(loss);
                    }
                    Err(non_finite) => test.record(non_finite.0),
                }
            }
            epoch += 1;
        }
        Ok(LrFindReport {
            suggestion: test.suggestion(),
            test,
            trainable,
            trainable_params,
            total_params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(num_steps: usize) -> RangeTestSettings {
        RangeTestSettings {
            start_lr: 1e-6,
            end_lr: 1.0,
            num_steps,
            ..RangeTestSettings::default()
        }
    }

    #[test]
    fn rates_rise_exponentially_from_start_to_end() {
        let test = RangeTest::new(settings(7)).unwrap();
        let rates: Vec<f64> = (0..7).map(|i| test.lr(i)).collect();
        for (i, want) in [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0].iter().enumerate() {
            assert!((rates[i] / want - 1.0).abs() < 1e-12, "{i}: {}", rates[i]);
        }
        assert!(
            RangeTest::new(RangeTestSettings {
                end_lr: 1e-7,
                ..settings(7)
            })
            .is_err()
        );
        assert!(RangeTest::new(settings(1)).is_err());
    }

    /// A loss that falls as the rate grows to 1e-3 and then explodes: the test stops on the
    /// way up, and suggests a tenth of the rate at the bottom.
    #[test]
    fn stops_when_the_smoothed_loss_diverges_and_suggests_below_the_minimum() {
        let mut test = RangeTest::new(RangeTestSettings {
            smoothing: 0.0,
            ..settings(61)
        })
        .unwrap();
        while test.running() {
            let log_lr = test.lr(test.points.len()).log10();
            // 1 at 1e-6 falling to 0.1 at 1e-3, then growing a hundredfold per decade.
            let loss = if log_lr <= -3.0 {
                1.0 - 0.3 * (log_lr + 6.0)
            } else {
                0.1 * 10f64.powf(2.0 * (log_lr + 3.0))
            };
            test.record(loss);
        }
        let stopped = test.stopped.clone().expect("diverged");
        assert!(stopped.contains("passed 4 x its lowest"), "{stopped}");
        assert!(test.points.len() < 61);
        let s = test.suggestion().unwrap();
        assert!(
            (s.min_loss_lr / 1e-3 - 1.0).abs() < 1e-9,
            "{}",
            s.min_loss_lr
        );
        assert!((s.learning_rate / 1e-4 - 1.0).abs() < 1e-9);
        assert!(s.steepest_lr.unwrap() <= s.min_loss_lr);
    }

    #[test]
    fn a_loss_that_is_not_finite_ends_the_test_without_recording_it() {
        let mut test = RangeTest::new(settings(10)).unwrap();
        test.record(1.0);
        test.record(f64::NAN);
        assert!(!test.running());
        assert_eq!(test.points.len(), 1);
        assert!(test.stopped.as_ref().unwrap().contains("NaN"));
    }

    /// The smoothed loss is an exponential average with bias correction: its first value is
    /// the first loss, then it lags behind.
    #[test]
    fn smoothing_is_bias_corrected() {
        let mut test = RangeTest::new(settings(10)).unwrap();
        test.record(3.0);
        assert!((test.points[0].smoothed_loss - 3.0).abs() < 1e-12);
        test.record(1.0);
        let want = (0.98 * 0.02 * 3.0 + 0.02 * 1.0) / (1.0 - 0.98f64.powi(2));
        assert!((test.points[1].smoothed_loss - want).abs() < 1e-12);
    }
}

//! The training loop shared by every task.
//!
//! One optimizer step ([`Step`]) = `gradient_accumulation_steps` micro-batches of
//! `per_device_train_batch_size` features, gradients averaged, clipped by their global norm,
//! then one AdamW step at the scheduled learning rate. Evaluation runs per epoch or every
//! `eval_steps` and after the last step ([`intervals`](super::intervals)); the best model by
//! the task's metric ([`Selection`]) is exported to `output_dir` each time it improves, so
//! `output_dir` always holds the best model seen (transformers' `load_best_model_at_end` +
//! `save_model`). With `load_best_model_at_end = false` the evaluations are only logged (and
//! drive early stopping) and the final model is exported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::tensor::Device;
use encoder::checkpoint::named_params;
use encoder::{DeviceChoice, EncoderConfig, Kernels, Tokenizer};

use super::checkpoint;
use super::evaluation::evaluate;
use super::intervals::{self, Moment};
use super::optimizer::{AdamW, AdamWConfig};
use super::reporting::{Reporter, RunSummary};
use super::run_dir::{self, ExportInfo, RunInputs, RunLock, export, resume};
use super::sampler::epoch_batches;
use super::schedule::{Schedule, warmup_steps};
use super::selection::{Selection, Verdict};
use super::settings::TrainingArgs;
use super::setup::{Features, Setup, Validation};
use super::state::LoopState;
use super::step::Step;
use crate::report::log::MetricsLog;
use crate::task::Task;

/// Fine-tunes a pretrained encoder on a task.
pub struct Trainer<'a, T: Task> {
    pub task: &'a T,
    pub args: TrainingArgs,
    pub model_dir: PathBuf,
    /// Continue from the newest checkpoint in `output_dir/checkpoints`.
    pub resume: bool,
    /// How the model and the optimizer compute (the fused CPU kernels by default; Burn's
    /// operations off the CPU, whatever this says).
    pub kernels: Kernels,
    /// Where to train (`--device`; the CPU by default).
    pub device: DeviceChoice,
    /// The data files (role, path), recorded with a fingerprint in `run_inputs.json` so that
    /// `--resume` can see they are the run's.
    pub data_files: Vec<(String, PathBuf)>,
    /// The task's own flags, recorded likewise.
    pub task_flags: BTreeMap<String, String>,
    /// `--resume` may change settings and inputs (recorded in `metrics.jsonl`).
    pub allow_changed_settings: bool,
}

/// A run directory held for one run.
struct Claim {
    _lock: RunLock,
    /// The checkpoint to continue from (`--resume`).
    resume_from: Option<PathBuf>,
    /// What `--resume` changes (allowed by `--allow-changed-settings`).
    changes: Vec<resume::Change>,
}

/// How long a run is: optimizer steps per epoch and in all, and the learning rate of each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub schedule: Schedule,
}

impl Plan {
    /// `max_steps`, or `num_train_epochs` over `features` training features (a partial
    /// batch and a partial accumulation count as a step, as in Trainer).
    pub fn new(args: &TrainingArgs, features: usize) -> Self {
        let batches_per_epoch = features.div_ceil(args.per_device_train_batch_size);
        let steps_per_epoch = batches_per_epoch.div_ceil(args.gradient_accumulation_steps);
        let total_steps = args
            .max_steps
            .unwrap_or_else(|| (args.num_train_epochs * steps_per_epoch as f64).ceil() as usize)
            .max(1);
        let schedule = Schedule {
            kind: args.lr_scheduler_type,
            base_lr: args.learning_rate,
            warmup_steps: warmup_steps(args.warmup_steps, args.warmup_ratio, total_steps),
            total_steps,
        };
        Self {
            steps_per_epoch,
            total_steps,
            schedule,
        }
    }

    fn at(&self, step: usize) -> Moment {
        Moment {
            step,
            total_steps: self.total_steps,
            steps_per_epoch: self.steps_per_epoch,
        }
    }
}

/// What the loop exports with, and how it judges evaluations.
struct Exporter<'a, T: Task> {
    task: &'a T,
    out: &'a Path,
    config: EncoderConfig,
    tokenizer: Tokenizer,
    info: ExportInfo,
    selection: Selection,
    load_best_model_at_end: bool,
}

impl<T: Task> Exporter<'_, T> {
    fn export(&self, model: &T::Model) -> Result<()> {
        export(
            self.task,
            model,
            &self.config,
            &self.tokenizer,
            self.out,
            self.info,
        )
    }

    /// Evaluates `model`, logs the metrics, and keeps track of the best: exports a new best
    /// (unless the final model is wanted). Returns whether to stop early.
    fn evaluate(
        &self,
        model: &T::Model,
        (examples, features): &Validation<'_, T>,
        (batch, device): (usize, &Device),
        at: Moment,
        st: &mut LoopState,
        report: &mut Reporter,
    ) -> Result<bool> {
        let metrics = evaluate(self.task, &model.valid(), examples, features, batch, device);
        let score = self.selection.score(&metrics)?;
        report.evaluation(at, &metrics)?;
        let verdict = self
            .selection
            .judge(score, st.best_score, st.evals_without_gain);
        let name = self.task.name();
        match verdict {
            Verdict::Improved => {
                st.best_score = Some(score);
                st.best_metrics = Some(metrics.clone());
                st.evals_without_gain = 0;
                if self.load_best_model_at_end {
                    self.export(model)?;
                    let metric = &self.selection.metric;
                    let out = self.out.display();
                    report.line(&format!(
                        "{name}: new best {metric} = {score:.4}, exported to {out}"
                    ));
                }
            }
            Verdict::NoGain => st.evals_without_gain += 1,
            Verdict::Stop => {
                st.evals_without_gain += 1;
                report.line(&format!(
                    "{name}: early stopping after {} evaluations without improvement",
                    st.evals_without_gain
                ));
            }
        }
        st.last_eval = Some(metrics);
        Ok(verdict == Verdict::Stop)
    }
}

impl<'a, T: Task> Trainer<'a, T> {
    /// A new run of `task` from the pretrained model in `model_dir`.
    pub fn new(task: &'a T, args: TrainingArgs, model_dir: PathBuf) -> Self {
        Self {
            task,
            args,
            model_dir,
            resume: false,
            kernels: Kernels::default(),
            device: DeviceChoice::Cpu,
            data_files: Vec::new(),
            task_flags: BTreeMap::new(),
            allow_changed_settings: false,
        }
    }

    fn data_files(&self) -> Vec<(&str, &Path)> {
        self.data_files
            .iter()
            .map(|(role, path)| (role.as_str(), path.as_path()))
            .collect()
    }

    /// Takes the run directory: locks it, removes what interrupted writes left, and checks
    /// the run can start there (a new run: no run there unless overwriting; `--resume`: a
    /// checkpoint, and the same settings and inputs). Writes nothing but the lock file.
    fn claim_run_dir(&self, inputs: &RunInputs) -> Result<Claim> {
        let out = &self.args.output_dir;
        let lock = RunLock::acquire(out)?;
        let stale = run_dir::remove_temporaries(out);
        if stale > 0 {
            eprintln!(
                "{}: removed {stale} temporary file(s) that an interrupted write left in {}",
                self.task.name(),
                out.display()
            );
        }
        if !self.resume {
            run_dir::check_new_run(out, self.args.overwrite_output_dir)?;
            return Ok(Claim {
                _lock: lock,
                resume_from: None,
                changes: Vec::new(),
            });
        }
        let (_, dir) = checkpoint::list(out).pop().with_context(|| {
            format!(
                "--resume: no checkpoint in {}",
                checkpoint::checkpoints_dir(out).display()
            )
        })?;
        let changes = resume::check(out, &self.args, inputs, self.allow_changed_settings)?;
        Ok(Claim {
            _lock: lock,
            resume_from: Some(dir),
            changes,
        })
    }

    /// Writes the run's settings and inputs, after everything loaded: a run that fails to
    /// start leaves no run behind. A new run first empties what a replaced run owned.
    fn start_writing(&self, claim: &Claim, inputs: &RunInputs) -> Result<()> {
        let out = &self.args.output_dir;
        if claim.resume_from.is_none() && run_dir::holds_run(out) {
            run_dir::clear_run(out)?;
        }
        self.args.write(out)?;
        inputs.write(out)
    }

    /// The optimizer step of this run's settings.
    pub(crate) fn step(&self, kernels: Kernels) -> Step {
        let args = &self.args;
        let config = AdamWConfig {
            beta1: args.adam_beta1,
            beta2: args.adam_beta2,
            eps: args.adam_epsilon,
            weight_decay: args.weight_decay,
        };
        Step {
            optimizer: AdamW::new(config, kernels),
            max_grad_norm: args.max_grad_norm,
            seed: args.seed,
        }
    }

    pub fn train(
        &self,
        train_examples: &[T::Example],
        eval_examples: Option<&[T::Example]>,
    ) -> Result<RunSummary> {
        let (args, task, out) = (&self.args, self.task, &self.args.output_dir);
        let inputs =
            RunInputs::describe(&self.model_dir, &self.data_files(), self.task_flags.clone())?;
        let claim = self.claim_run_dir(&inputs)?;
        // The device and what is backend-specific (the kernels), chosen here once.
        let kernels = self.device.kernels(self.kernels)?;
        let device = self.device.open()?.autodiff();
        let inference = device.clone().inner();
        let setup = Setup::load(task, args, &self.model_dir, kernels, &device)?;
        let (tokenizer, max_len) = (&setup.tokenizer, setup.max_len);
        let data = Features::new(
            task,
            args,
            tokenizer,
            max_len,
            train_examples,
            eval_examples,
        )?;
        let plan = Plan::new(args, data.train.len());
        let mut step = self.step(kernels);
        self.start_writing(&claim, &inputs)?;
        let mut log = MetricsLog::create(&out.join("metrics.jsonl"))?;
        eprintln!(
            "{}: {} training features, {} per batch x {} accumulation, {} steps ({} per epoch), warmup {}, on {}",
            task.name(),
            data.train.len(),
            args.per_device_train_batch_size,
            args.gradient_accumulation_steps,
            plan.total_steps,
            plan.steps_per_epoch,
            plan.schedule.warmup_steps,
            self.device
        );
        let Setup {
            mut model,
            config,
            tokenizer,
            num_layers,
            max_len,
            lora_scale,
        } = setup;
        let exporter = Exporter {
            task,
            out,
            config,
            tokenizer,
            info: ExportInfo {
                max_seq_length: max_len,
                lora_scale,
            },
            selection: Selection::new(args, task.selection_metric()),
            load_best_model_at_end: args.load_best_model_at_end,
        };
        let mut st = LoopState::default();
        if let Some(dir) = &claim.resume_from {
            (model, st) = checkpoint::load(dir, model, &mut step.optimizer, &device)?;
            log.truncate_after_step(st.global_step)?;
            if !claim.changes.is_empty() {
                let changes: serde_json::Map<String, serde_json::Value> = claim
                    .changes
                    .iter()
                    .map(|c| {
                        (
                            c.key.clone(),
                            serde_json::json!({"was": c.was, "now": c.now}),
                        )
                    })
                    .collect();
                log.write(&serde_json::json!({
                    "step": st.global_step,
                    "event": "resumed_with_changed_settings",
                    "changes": changes,
                }))?;
            }
            let name = task.name();
            eprintln!(
                "{name}: resumed from {} (step {})",
                dir.display(),
                st.global_step
            );
        }
        let mut report = Reporter::new(task.name(), log, plan.total_steps, st.elapsed_before_s);

        let (mut counts, mut stop, mut epoch) = (None, false, st.epoch);
        while st.global_step < plan.total_steps && !stop {
            // The strategy's plan can change per epoch (gradual unfreezing).
            let params = args.strategy.plan(&named_params(&model), num_layers, epoch);
            if counts != Some(params.counts()) {
                report.line(&format!(
                    "{}: epoch {epoch}: {}",
                    task.name(),
                    params.summary()
                ));
                counts = Some(params.counts());
            }
            let groups;
            (model, groups) = params.apply(model);
            let (size, seed) = (args.per_device_train_batch_size, args.seed);
            let batches =
                epoch_batches(&data.lengths, size, seed, epoch, true, args.group_by_length);
            let skip = if epoch == st.epoch {
                st.steps_in_epoch
            } else {
                0
            };
            (st.epoch, st.steps_in_epoch) = (epoch, skip);
            for step_batches in batches.chunks(args.gradient_accumulation_steps).skip(skip) {
                if st.global_step >= plan.total_steps {
                    break;
                }
                let micro_batches: Vec<Vec<&T::Feature>> = step_batches
                    .iter()
                    .map(|indices| indices.iter().map(|&i| &data.train[i]).collect())
                    .collect();
                let lr = plan.schedule.lr(st.global_step);
                let micro = &mut st.micro_index;
                let done = step.run(task, model, &micro_batches, lr, &groups, micro, &device);
                let (updated, done) = done.map_err(|err| {
                    anyhow!(
                        "{err} at step {} (epoch {epoch}); stopped. {} keeps the last good \
                         model. Try a lower learning_rate or max_grad_norm.",
                        st.global_step + 1,
                        out.display()
                    )
                })?;
                model = updated;
                st.record_step(&done, step.optimizer.steps);
                let at = plan.at(st.global_step);
                report.step(
                    at,
                    &mut st,
                    lr,
                    done.grad_norm,
                    intervals::log_due(args, at),
                )?;
                if let (true, Some(validation)) =
                    (intervals::eval_due(args, at), data.validation.as_ref())
                {
                    let batch = (args.per_device_eval_batch_size, &inference);
                    stop =
                        exporter.evaluate(&model, validation, batch, at, &mut st, &mut report)?;
                }
                if intervals::save_due(args, at, stop) {
                    st.elapsed_before_s = report.elapsed();
                    checkpoint::save(out, &model, &step.optimizer, &st, args.save_total_limit)?;
                }
                if stop {
                    break;
                }
            }
            epoch += 1;
        }

        let keep_best = args.load_best_model_at_end && st.best_score.is_some();
        if !keep_best {
            // Nothing selected a model, or the run asked for the final one.
            exporter.export(&model)?;
        }
        let runtime = report.elapsed();
        let (trainable_params, total_params) = counts.unwrap_or_default();
        let summary = RunSummary {
            global_step: st.global_step,
            epochs: st.global_step as f64 / plan.steps_per_epoch as f64,
            train_loss: st.total_loss / st.total_micro.max(1) as f64,
            train_runtime_s: runtime,
            train_samples_per_second: st.samples_seen as f64 / runtime.max(1e-9),
            eval: if keep_best {
                st.best_metrics.clone()
            } else {
                st.last_eval.clone()
            },
            trainable_params,
            total_params,
        };
        report.finish(out, &summary)?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_counts_partial_batches_and_accumulations_as_steps() {
        let args = TrainingArgs {
            per_device_train_batch_size: 8,
            gradient_accumulation_steps: 3,
            num_train_epochs: 2.5,
            warmup_ratio: 0.1,
            ..TrainingArgs::default()
        };
        // 100 features: 13 batches, 5 steps an epoch (the last of one batch), 13 in 2.5 epochs.
        let plan = Plan::new(&args, 100);
        assert_eq!((plan.steps_per_epoch, plan.total_steps), (5, 13));
        assert_eq!(plan.schedule.warmup_steps, 2, "ceil(0.1 x 13)");
        let capped = Plan::new(
            &TrainingArgs {
                max_steps: Some(4),
                ..args
            },
            100,
        );
        assert_eq!(capped.total_steps, 4);
    }
}

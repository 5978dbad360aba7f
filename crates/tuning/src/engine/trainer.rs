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

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use encoder::Kernels;
use encoder::checkpoint::named_params;

use super::checkpoint;
use super::evaluation::evaluate;
use super::intervals::{self, Moment};
use super::optimizer::{AdamW, AdamWConfig};
use super::reporting::{Reporter, RunSummary};
use super::run_dir::{ExportInfo, export, prepare_output_dir};
use super::sampler::epoch_batches;
use super::schedule::{Schedule, warmup_steps};
use super::selection::{Selection, Verdict};
use super::settings::TrainingArgs;
use super::setup::{Features, Setup};
use super::state::LoopState;
use super::step::Step;
use crate::report::log::MetricsLog;
use crate::task::Task;

/// The compute device for training: autodiff on CUDA with the `cuda` feature, else the CPU.
pub fn training_device() -> Device {
    encoder::default_device().autodiff()
}

/// Fine-tunes a pretrained encoder on a task.
pub struct Trainer<'a, T: Task> {
    pub task: &'a T,
    pub args: TrainingArgs,
    pub model_dir: PathBuf,
    /// Continue from the newest checkpoint in `output_dir/checkpoints`.
    pub resume: bool,
    /// How the model and the optimizer compute (the fused CPU kernels by default).
    pub kernels: Kernels,
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
        }
    }

    pub fn train(
        &self,
        train_examples: &[T::Example],
        eval_examples: Option<&[T::Example]>,
    ) -> Result<RunSummary> {
        let (args, task, out) = (&self.args, self.task, &self.args.output_dir);
        let resume_from = if self.resume {
            let (_, dir) = checkpoint::list(out).pop().with_context(|| {
                format!(
                    "--resume: no checkpoint in {}",
                    checkpoint::checkpoints_dir(out).display()
                )
            })?;
            Some(dir)
        } else {
            prepare_output_dir(out, args.overwrite_output_dir)?;
            None
        };
        args.write(out)?;

        let device = training_device();
        let setup = Setup::load(task, args, &self.model_dir, self.kernels, &device)?;
        let data = Features::new(
            task,
            args,
            &setup.tokenizer,
            setup.max_len,
            train_examples,
            eval_examples,
        )?;
        let batches_per_epoch = data.train.len().div_ceil(args.per_device_train_batch_size);
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
        let mut step = Step {
            optimizer: AdamW::new(
                AdamWConfig {
                    beta1: args.adam_beta1,
                    beta2: args.adam_beta2,
                    eps: args.adam_epsilon,
                    weight_decay: args.weight_decay,
                },
                self.kernels,
            ),
            max_grad_norm: args.max_grad_norm,
            seed: args.seed,
        };
        let selection = Selection::new(args, task.selection_metric());
        let export_info = ExportInfo {
            max_seq_length: setup.max_len,
            lora_scale: setup.lora_scale,
        };
        let log = MetricsLog::create(&out.join("metrics.jsonl"))?;
        eprintln!(
            "{}: {} training features, {} per batch x {} accumulation, {} steps ({} per epoch), warmup {}",
            task.name(),
            data.train.len(),
            args.per_device_train_batch_size,
            args.gradient_accumulation_steps,
            total_steps,
            steps_per_epoch,
            schedule.warmup_steps
        );

        let Setup {
            mut model,
            config,
            tokenizer,
            num_layers,
            ..
        } = setup;
        let mut log = log;
        let mut st = LoopState::default();
        if let Some(dir) = &resume_from {
            let (loaded, state) = checkpoint::load(dir, model, &mut step.optimizer, &device)?;
            model = loaded;
            st = state;
            log.truncate_after_step(st.global_step)?;
            eprintln!(
                "{}: resumed from {} (step {})",
                task.name(),
                dir.display(),
                st.global_step
            );
        }
        let mut report = Reporter::new(task.name(), log, total_steps, st.elapsed_before_s);
        let mut counts = None;
        let mut stop = false;
        let mut epoch = st.epoch;
        while st.global_step < total_steps && !stop {
            // The plan can change per epoch (gradual unfreezing).
            let plan = args.strategy.plan(&named_params(&model), num_layers, epoch);
            if counts != Some(plan.counts()) {
                report.line(&format!(
                    "{}: epoch {epoch}: {}",
                    task.name(),
                    plan.summary()
                ));
                counts = Some(plan.counts());
            }
            let (planned, groups) = plan.apply(model);
            model = planned;
            let batches = epoch_batches(
                &data.lengths,
                args.per_device_train_batch_size,
                args.seed,
                epoch,
                true,
                args.group_by_length,
            );
            let skip = if epoch == st.epoch {
                st.steps_in_epoch
            } else {
                0
            };
            st.epoch = epoch;
            st.steps_in_epoch = skip;
            for step_batches in batches.chunks(args.gradient_accumulation_steps).skip(skip) {
                if st.global_step >= total_steps {
                    break;
                }
                let micro_batches: Vec<Vec<&T::Feature>> = step_batches
                    .iter()
                    .map(|indices| indices.iter().map(|&i| &data.train[i]).collect())
                    .collect();
                let lr = schedule.lr(st.global_step);
                let (updated, done) = step
                    .run(
                        task,
                        model,
                        &micro_batches,
                        lr,
                        &groups,
                        &mut st.micro_index,
                        &device,
                    )
                    .map_err(|err| {
                        anyhow::anyhow!(
                            "{err} at step {} (epoch {epoch}); stopped. {} keeps the last good \
                             model. Try a lower learning_rate or max_grad_norm.",
                            st.global_step + 1,
                            out.display()
                        )
                    })?;
                model = updated;
                st.record_step(&done, step.optimizer.steps);
                let at = Moment {
                    step: st.global_step,
                    total_steps,
                    steps_per_epoch,
                };
                report.step(
                    at,
                    &mut st,
                    lr,
                    done.grad_norm,
                    intervals::log_due(args, at),
                )?;

                if let (true, Some((examples, features))) =
                    (intervals::eval_due(args, at), data.validation.as_ref())
                {
                    let metrics = evaluate(
                        task,
                        &model.valid(),
                        examples,
                        features,
                        args.per_device_eval_batch_size,
                        &device.clone().inner(),
                    );
                    let score = selection.score(&metrics)?;
                    report.evaluation(at, &metrics)?;
                    match selection.judge(score, st.best_score, st.evals_without_gain) {
                        Verdict::Improved => {
                            st.best_score = Some(score);
                            st.best_metrics = Some(metrics.clone());
                            st.evals_without_gain = 0;
                            if args.load_best_model_at_end {
                                export(task, &model, &config, &tokenizer, out, export_info)?;
                                report.line(&format!(
                                    "{}: new best {} = {score:.4}, exported to {}",
                                    task.name(),
                                    selection.metric,
                                    out.display()
                                ));
                            }
                        }
                        Verdict::NoGain => st.evals_without_gain += 1,
                        Verdict::Stop => {
                            st.evals_without_gain += 1;
                            report.line(&format!(
                                "{}: early stopping after {} evaluations without improvement",
                                task.name(),
                                st.evals_without_gain
                            ));
                            stop = true;
                        }
                    }
                    st.last_eval = Some(metrics);
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
            export(task, &model, &config, &tokenizer, out, export_info)?;
        }
        let runtime = report.elapsed();
        let (trainable_params, total_params) = counts.unwrap_or_default();
        let summary = RunSummary {
            global_step: st.global_step,
            epochs: st.global_step as f64 / steps_per_epoch as f64,
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

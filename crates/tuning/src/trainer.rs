//! The training loop shared by every task.
//!
//! One optimizer step = `gradient_accumulation_steps` micro-batches of
//! `per_device_train_batch_size` features, gradients averaged, clipped by their global norm,
//! then one AdamW step at the scheduled learning rate. Evaluation runs per epoch or every
//! `eval_steps` and after the last step; the best model by the task's metric is exported to `output_dir` each time it
//! improves, so `output_dir` always holds the best model seen (transformers'
//! `load_best_model_at_end` + `save_model`). With `load_best_model_at_end = false` the
//! evaluations are only logged (and drive early stopping) and the final model is exported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Device, Tensor};
use encoder::checkpoint::named_params;
use encoder::{EncoderConfig, Tokenizer, load_pretrained_with};
use serde_json::json;

use crate::args::{IntervalStrategy, TrainingArgs};
use crate::checkpoint;
use crate::log::MetricsLog;
use crate::optimizer::{AdamW, AdamWConfig, GradAccumulator, ParamGroup};
use crate::sampler::{derive_seed, epoch_batches};
use crate::schedule::{Schedule, warmup_steps};
use crate::strategy::ParamPlan;
use crate::task::{Metrics, Task};

const DROPOUT_SEED: u64 = 2;

/// What a finished run reports (also written to `eval_results.json` / `train_results.json`).
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub global_step: usize,
    pub epochs: f64,
    pub train_loss: f64,
    pub train_runtime_s: f64,
    pub train_samples_per_second: f64,
    /// Metrics of the evaluation whose model was exported: the best (or the final one when
    /// nothing selects), or the last with `load_best_model_at_end = false`.
    pub eval: Option<Metrics>,
    pub trainable_params: usize,
    pub total_params: usize,
}

/// The compute device for training: autodiff on CUDA with the `cuda` feature, else the CPU.
pub fn training_device() -> Device {
    encoder::default_device().autodiff()
}

/// Refuses to write into a directory that already holds a run, unless told to overwrite.
pub fn prepare_output_dir(dir: &Path, overwrite: bool) -> Result<()> {
    let markers = ["training_args.json", "metrics.jsonl", "model.safetensors"];
    let holds_run = markers.iter().any(|m| dir.join(m).exists());
    if holds_run && !overwrite {
        bail!(
            "output_dir {} already holds a run; pass --overwrite-output-dir to replace it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if holds_run {
        for stale in ["metrics.jsonl", "eval_results.json", "train_results.json"] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
    }
    Ok(())
}

/// Sets which parameters take part in backpropagation, by HF name.
struct SetTrainable<'a> {
    trainable: &'a HashMap<ParamId, bool>,
}

impl ModuleMapper for SetTrainable<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let wanted = self.trainable.get(&param.id).copied().unwrap_or(true);
        param.set_require_grad(wanted)
    }
}

/// Applies a plan to the model: frozen parameters stop requiring gradients (so no gradient is
/// even computed for them) and the optimizer gets each parameter's group.
pub fn apply_plan<M: Module>(model: M, plan: &ParamPlan) -> (M, HashMap<ParamId, ParamGroup>) {
    let params = named_params(&model);
    let mut trainable = HashMap::new();
    let mut groups = HashMap::new();
    for (param, entry) in params.iter().zip(&plan.entries) {
        debug_assert_eq!(param.name, entry.name);
        trainable.insert(param.id, entry.trainable);
        groups.insert(
            param.id,
            ParamGroup {
                lr_scale: entry.lr_scale,
                weight_decay: entry.weight_decay,
            },
        );
    }
    let model = model.map(&mut SetTrainable {
        trainable: &trainable,
    });
    (model, groups)
}

/// Runs `task`'s model over `features` in batches and returns the outputs in feature order.
pub fn predict_all<T: Task>(
    task: &T,
    model: &T::Model,
    features: &[T::Feature],
    batch_size: usize,
    device: &Device,
) -> Vec<T::Output> {
    // Batches of similar length waste less compute on padding; the order is restored after.
    let mut order: Vec<usize> = (0..features.len()).collect();
    order.sort_by_key(|&i| task.feature_len(&features[i]));
    let mut outputs: Vec<Option<T::Output>> = vec![None; features.len()];
    for chunk in order.chunks(batch_size) {
        let batch: Vec<&T::Feature> = chunk.iter().map(|&i| &features[i]).collect();
        for (&i, output) in chunk.iter().zip(task.predict(model, &batch, device)) {
            outputs[i] = Some(output);
        }
    }
    outputs
        .into_iter()
        .map(|o| o.expect("every feature predicted"))
        .collect()
}

/// Writes the model as an HF directory with the task's config additions.
/// LoRA adapters, if any, are merged into the weights (`lora_scale` = alpha / rank).
pub fn export<T: Task>(
    task: &T,
    model: &T::Model,
    config: &EncoderConfig,
    tokenizer: &Tokenizer,
    dir: &Path,
    lora_scale: Option<f64>,
) -> Result<()> {
    let mut config = config.clone();
    task.export_config(&mut config);
    let mut state = encoder::checkpoint::hf_state_dict(model);
    if let Some(scale) = lora_scale {
        crate::lora::merge(&mut state, scale);
    }
    encoder::model_dir::save_state_dict(dir, &state, &config, tokenizer)
        .with_context(|| format!("cannot export the model to {}", dir.display()))
}

/// Fine-tunes a pretrained encoder on a task.
pub struct Trainer<'a, T: Task> {
    pub task: &'a T,
    pub args: TrainingArgs,
    pub model_dir: PathBuf,
    /// Continue from the newest checkpoint in `output_dir/checkpoints`.
    pub resume: bool,
}

impl<T: Task> Trainer<'_, T> {
    pub fn train(
        &self,
        train_examples: &[T::Example],
        eval_examples: Option<&[T::Example]>,
    ) -> Result<RunSummary> {
        let args = &self.args;
        let task = self.task;
        let out = &args.output_dir;
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
        device.seed(args.seed);
        let pretrained = load_pretrained_with(&self.model_dir, &device, |config| {
            if let Some(p) = args.hidden_dropout_prob {
                config.hidden_dropout_prob = p;
            }
            if let Some(p) = args.attention_probs_dropout_prob {
                config.attention_probs_dropout_prob = p;
            }
        })?;
        for warning in pretrained.report.warnings() {
            eprintln!("{}: {warning}", task.name());
        }
        let config = pretrained.config.clone();
        let tokenizer = pretrained.tokenizer.clone();
        let mut encoder = pretrained.model;
        let num_layers = encoder.num_layers();
        let strategy = &args.strategy;
        strategy
            .validate(num_layers)
            .map_err(|e| anyhow::anyhow!("strategy: {e}"))?;
        for i in num_layers - strategy.reinit_top_layers..num_layers {
            encoder.encoder.layer[i] = encoder::bert::BertLayer::new(&config, &device);
        }
        let classifier_dropout = args
            .classifier_dropout
            .unwrap_or(config.hidden_dropout_prob);
        // Draw every random initial value (new head, re-initialised layers) now, from the
        // seed, instead of lazily at first use: the run's start is then fixed by the seed alone.
        device.seed(args.seed);
        let mut model = task
            .build_model(encoder, &config, classifier_dropout, &device)
            .materialize();
        // After materialize(), which would drop the adapters again.
        if let Some(settings) = &strategy.lora {
            model = crate::lora::apply(model, settings)
                .map_err(|e| anyhow::anyhow!("strategy: {e}"))?;
        }

        let train_examples = limit(train_examples, args.max_train_samples);
        // A validation set that is never evaluated is not featurized either (run_qa's is
        // 10,570 questions, ~10,800 windows of up to 384 tokens, held for nothing).
        let eval_examples = eval_examples
            .filter(|_| args.eval_strategy != IntervalStrategy::No)
            .map(|e| limit(e, args.max_eval_samples));
        let max_len = crate::run_dir::fit_max_len(args.max_seq_length, &config);
        let train_features = task.featurize(train_examples, &tokenizer, max_len)?;
        if train_features.is_empty() {
            bail!("no training features: the training set is empty");
        }
        let eval_features = match eval_examples {
            Some(e) => Some(task.featurize(e, &tokenizer, max_len)?),
            None => None,
        };
        let lengths: Vec<usize> = train_features.iter().map(|f| task.feature_len(f)).collect();

        let batches_per_epoch = train_features
            .len()
            .div_ceil(args.per_device_train_batch_size);
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
        let mut optimizer = AdamW::new(AdamWConfig {
            beta1: args.adam_beta1,
            beta2: args.adam_beta2,
            eps: args.adam_epsilon,
            weight_decay: args.weight_decay,
        });
        let (metric_name, greater_is_better) = {
            let (name, greater) = task.selection_metric();
            let name = args
                .metric_for_best_model
                .clone()
                .unwrap_or(name.to_string());
            let greater = args.greater_is_better.unwrap_or(if name.contains("loss") {
                false
            } else {
                greater
            });
            (name, greater)
        };

        let lora_scale = strategy.lora.as_ref().map(|l| l.alpha / l.rank as f64);
        let mut log = MetricsLog::create(&out.join("metrics.jsonl"))?;
        eprintln!(
            "{}: {} training features, {} per batch x {} accumulation, {} steps ({} per epoch), warmup {}",
            task.name(),
            train_features.len(),
            args.per_device_train_batch_size,
            args.gradient_accumulation_steps,
            total_steps,
            steps_per_epoch,
            schedule.warmup_steps
        );

        let mut st = checkpoint::LoopState::default();
        if let Some(dir) = &resume_from {
            let (loaded, state) = checkpoint::load(dir, model, &mut optimizer, &device)?;
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
        let progress = crate::progress::Progress::new(task.name(), total_steps);
        let started = Instant::now();
        let elapsed_at_start = st.elapsed_before_s;
        let total_elapsed = || elapsed_at_start + started.elapsed().as_secs_f64();
        let mut counts = None;
        let mut stop = false;

        let mut epoch = st.epoch;
        while st.global_step < total_steps && !stop {
            // The plan can change per epoch (gradual unfreezing).
            let plan = strategy.plan(&named_params(&model), num_layers, epoch);
            if counts != Some(plan.counts()) {
                progress.line(&format!(
                    "{}: epoch {epoch}: {}",
                    task.name(),
                    plan.summary()
                ));
                counts = Some(plan.counts());
            }
            let (planned, groups) = apply_plan(model, &plan);
            model = planned;

            let batches = epoch_batches(
                &lengths,
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
                let mut grads = GradAccumulator::default();
                let micro_count = step_batches.len();
                for batch_indices in step_batches {
                    // Dropout masks depend only on (seed, micro-batch index): a resumed run
                    // draws the same ones.
                    device.seed(derive_seed(args.seed, DROPOUT_SEED, st.micro_index));
                    st.micro_index += 1;
                    let batch: Vec<&T::Feature> =
                        batch_indices.iter().map(|&i| &train_features[i]).collect();
                    let loss = task.loss(&model, &batch, &device);
                    let value = loss.clone().into_scalar::<f32>() as f64;
                    if !value.is_finite() {
                        bail!(
                            "the training loss became {value} at step {} (epoch {epoch}); stopped. \
                             {} keeps the last good model. Try a lower learning_rate or max_grad_norm.",
                            st.global_step + 1,
                            out.display()
                        );
                    }
                    st.loss_sum_since_log += value;
                    st.total_loss += value;
                    st.micro_since_log += 1;
                    st.total_micro += 1;
                    st.samples_seen += batch.len();
                    let mut gradients = loss.backward();
                    grads.accumulate(&model, &mut gradients, 1.0 / micro_count as f64);
                }
                let grad_norm = if args.max_grad_norm > 0.0 {
                    grads.clip_global_norm(args.max_grad_norm)
                } else {
                    grads.global_norm()
                };
                let lr = schedule.lr(st.global_step);
                model = optimizer.step(model, grads, lr, &groups);
                st.global_step += 1;
                st.steps_in_epoch += 1;
                st.optimizer_steps = optimizer.steps;
                let global_step = st.global_step;
                let epoch_f = global_step as f64 / steps_per_epoch as f64;
                {
                    let elapsed = total_elapsed();
                    let eta = elapsed / global_step as f64 * (total_steps - global_step) as f64;
                    let recent = st.loss_sum_since_log / st.micro_since_log.max(1) as f64;
                    let rate = st.samples_seen as f64 / elapsed.max(1e-9);
                    progress.tick(global_step, recent, lr, rate, &format_duration(eta));
                }

                if global_step.is_multiple_of(args.logging_steps) || global_step == total_steps {
                    let elapsed = total_elapsed();
                    let rate = st.samples_seen as f64 / elapsed.max(1e-9);
                    let eta = elapsed / global_step as f64 * (total_steps - global_step) as f64;
                    let loss = st.loss_sum_since_log / st.micro_since_log.max(1) as f64;
                    log.write(&json!({
                        "step": global_step, "epoch": round4(epoch_f), "loss": round6(loss),
                        "learning_rate": lr, "grad_norm": round6(grad_norm),
                        "samples_per_second": round4(rate),
                    }))?;
                    progress.line(&format!(
                        "{}: step {global_step}/{total_steps} | epoch {epoch_f:.2} | loss {loss:.4} | lr {lr:.3e} | {rate:.1} samples/s | ETA {}",
                        task.name(),
                        format_duration(eta)
                    ));
                    st.loss_sum_since_log = 0.0;
                    st.micro_since_log = 0;
                }

                let end_of_epoch = global_step.is_multiple_of(steps_per_epoch);
                let due = match args.eval_strategy {
                    IntervalStrategy::No => false,
                    IntervalStrategy::Epoch => end_of_epoch,
                    // As Trainer (transformers 5): every `eval_steps`, and at the last step
                    // when that is not a multiple of it.
                    IntervalStrategy::Steps => {
                        global_step.is_multiple_of(args.eval_steps.expect("validated"))
                            || global_step == total_steps
                    }
                };
                if let (true, Some(eval_examples), Some(eval_features)) =
                    (due, eval_examples, eval_features.as_ref())
                {
                    let valid = model.valid();
                    let inference = device.clone().inner();
                    let outputs = predict_all(
                        task,
                        &valid,
                        eval_features,
                        args.per_device_eval_batch_size,
                        &inference,
                    );
                    let metrics = task.evaluate(eval_examples, eval_features, &outputs);
                    let Some(&score) = metrics.get(&metric_name) else {
                        bail!(
                            "metric_for_best_model `{metric_name}` is not among the task's metrics ({})",
                            metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                        );
                    };
                    let mut record = json!({"step": global_step, "epoch": round4(epoch_f)});
                    for (k, v) in &metrics {
                        record[format!("eval_{k}")] = json!(v);
                    }
                    log.write(&record)?;
                    progress.line(&format!(
                        "{}: eval at step {global_step}: {}",
                        task.name(),
                        describe(&metrics)
                    ));
                    let improved = match st.best_score {
                        None => true,
                        Some(best_score) => {
                            let gain = if greater_is_better {
                                score - best_score
                            } else {
                                best_score - score
                            };
                            gain > args.early_stopping_threshold
                        }
                    };
                    if improved {
                        st.best_score = Some(score);
                        st.best_metrics = Some(metrics.clone());
                        st.evals_without_gain = 0;
                        if args.load_best_model_at_end {
                            export(task, &model, &config, &tokenizer, out, lora_scale)?;
                            progress.line(&format!(
                                "{}: new best {metric_name} = {score:.4}, exported to {}",
                                task.name(),
                                out.display()
                            ));
                        }
                    } else {
                        st.evals_without_gain += 1;
                        if let Some(patience) = args.early_stopping_patience
                            && st.evals_without_gain >= patience
                        {
                            progress.line(&format!(
                                "{}: early stopping after {patience} evaluations without improvement",
                                task.name()
                            ));
                            stop = true;
                        }
                    }
                    st.last_eval = Some(metrics);
                }
                let save_due = match args.save_strategy {
                    IntervalStrategy::No => false,
                    IntervalStrategy::Epoch => end_of_epoch,
                    IntervalStrategy::Steps => global_step.is_multiple_of(args.save_steps),
                };
                let last = global_step == total_steps;
                if (save_due || stop || last) && args.save_strategy != IntervalStrategy::No {
                    st.elapsed_before_s = total_elapsed();
                    checkpoint::save(out, &model, &optimizer, &st, args.save_total_limit)?;
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
            export(task, &model, &config, &tokenizer, out, lora_scale)?;
        }
        let runtime = total_elapsed();
        let eval = if keep_best {
            st.best_metrics.clone()
        } else {
            st.last_eval.clone()
        };
        let (trainable_params, total_params) = counts.unwrap_or_default();
        let global_step = st.global_step;
        let summary = RunSummary {
            global_step,
            epochs: global_step as f64 / steps_per_epoch as f64,
            train_loss: st.total_loss / st.total_micro.max(1) as f64,
            train_runtime_s: runtime,
            train_samples_per_second: st.samples_seen as f64 / runtime.max(1e-9),
            eval: eval.clone(),
            trainable_params,
            total_params,
        };
        let train_results = json!({
            "global_step": summary.global_step,
            "epoch": round4(summary.epochs),
            "train_loss": round6(summary.train_loss),
            "train_runtime": round4(summary.train_runtime_s),
            "train_samples_per_second": round4(summary.train_samples_per_second),
            "trainable_params": summary.trainable_params,
            "total_params": summary.total_params,
            "peak_rss_bytes": encoder::allocator::peak_rss_bytes(),
        });
        write_json(&out.join("train_results.json"), &train_results)?;
        if let Some(metrics) = &eval {
            let record: serde_json::Map<String, serde_json::Value> = metrics
                .iter()
                .map(|(k, v)| (format!("eval_{k}"), json!(v)))
                .collect();
            write_json(
                &out.join("eval_results.json"),
                &serde_json::Value::Object(record),
            )?;
        }
        log.write(&json!({"step": global_step, "train_runtime": round4(summary.train_runtime_s), "train_loss": round6(summary.train_loss)}))?;
        drop(log);
        crate::plot::plot_run(out)?;
        Ok(summary)
    }
}

fn limit<E>(examples: &[E], max: Option<usize>) -> &[E] {
    match max {
        Some(n) if n < examples.len() => &examples[..n],
        _ => examples,
    }
}

pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    encoder::fsutil::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn describe(metrics: &Metrics) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

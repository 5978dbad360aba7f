//! What a run tells as it goes and when it ends: `metrics.jsonl` records (training loss per
//! logging step, every evaluation), the progress bar and lines on stderr, and at the end
//! `train_results.json`, `eval_results.json` and the plots.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use super::intervals::Moment;
use super::run_dir::write_json;
use super::state::LoopState;
use crate::report::log::MetricsLog;
use crate::report::progress::Progress;
use crate::task::Metrics;

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

/// The run's log, progress display and clock.
pub struct Reporter {
    name: String,
    log: MetricsLog,
    progress: Progress,
    started: Instant,
    /// Seconds of training before this (resumed) process started.
    elapsed_before_s: f64,
}

impl Reporter {
    pub fn new(name: &str, log: MetricsLog, total_steps: usize, elapsed_before_s: f64) -> Self {
        Self {
            name: name.to_string(),
            log,
            progress: Progress::new(name, total_steps),
            started: Instant::now(),
            elapsed_before_s,
        }
    }

    /// Training seconds so far, over every process of the run.
    pub fn elapsed(&self) -> f64 {
        self.elapsed_before_s + self.started.elapsed().as_secs_f64()
    }

    /// A line on stderr that stays.
    pub fn line(&self, text: &str) {
        self.progress.line(text);
    }

    /// After an optimizer step: the progress bar, and on logging steps the training record
    /// (mean loss since the last one, learning rate, gradient norm, throughput).
    pub fn step(
        &mut self,
        at: Moment,
        st: &mut LoopState,
        lr: f64,
        grad_norm: f64,
        log_due: bool,
    ) -> Result<()> {
        let step = at.step;
        let elapsed = self.elapsed();
        let eta = elapsed / step as f64 * (at.total_steps - step) as f64;
        let loss = st.loss_sum_since_log / st.micro_since_log.max(1) as f64;
        let rate = st.samples_seen as f64 / elapsed.max(1e-9);
        self.progress
            .tick(step, loss, lr, rate, &format_duration(eta));
        if !log_due {
            return Ok(());
        }
        let elapsed = self.elapsed();
        let rate = st.samples_seen as f64 / elapsed.max(1e-9);
        let eta = elapsed / step as f64 * (at.total_steps - step) as f64;
        let epoch = at.epoch();
        self.log.write(&json!({
            "step": step, "epoch": round4(epoch), "loss": round6(loss),
            "learning_rate": lr, "grad_norm": round6(grad_norm),
            "samples_per_second": round4(rate),
        }))?;
        self.progress.line(&format!(
            "{}: step {step}/{} | epoch {epoch:.2} | loss {loss:.4} | lr {lr:.3e} | {rate:.1} samples/s | ETA {}",
            self.name,
            at.total_steps,
            format_duration(eta)
        ));
        st.loss_sum_since_log = 0.0;
        st.micro_since_log = 0;
        Ok(())
    }

    /// An evaluation's record (`eval_`-prefixed metrics) and line.
    pub fn evaluation(&mut self, at: Moment, metrics: &Metrics) -> Result<()> {
        let mut record = json!({"step": at.step, "epoch": round4(at.epoch())});
        for (k, v) in metrics {
            record[format!("eval_{k}")] = json!(v);
        }
        self.log.write(&record)?;
        self.progress.line(&format!(
            "{}: eval at step {}: {}",
            self.name,
            at.step,
            describe(metrics)
        ));
        Ok(())
    }

    /// The end of the run: `train_results.json`, `eval_results.json` (the reported
    /// evaluation's metrics), the last `metrics.jsonl` record and the plots.
    pub fn finish(mut self, out: &Path, summary: &RunSummary) -> Result<()> {
        let train_results = json!({
            "global_step": summary.global_step,
            "epoch": round4(summary.epochs),
            "train_loss": round6(summary.train_loss),
            "train_runtime": round4(summary.train_runtime_s),
            "train_samples_per_second": round4(summary.train_samples_per_second),
            "trainable_params": summary.trainable_params,
            "total_params": summary.total_params,
            "peak_rss_bytes": kernels::allocator::peak_rss_bytes(),
        });
        write_json(&out.join("train_results.json"), &train_results)?;
        if let Some(metrics) = &summary.eval {
            let record: serde_json::Map<String, serde_json::Value> = metrics
                .iter()
                .map(|(k, v)| (format!("eval_{k}"), json!(v)))
                .collect();
            write_json(
                &out.join("eval_results.json"),
                &serde_json::Value::Object(record),
            )?;
        }
        self.log.write(&json!({"step": summary.global_step, "train_runtime": round4(summary.train_runtime_s), "train_loss": round6(summary.train_loss)}))?;
        drop(self.log);
        crate::report::plot::plot_run(out)?;
        Ok(())
    }
}

/// `metric value, ...` with four decimals.
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

//! # tuning
//!
//! The fine-tuning engine and the task application.
//!
//! - [`task`]: the [`Task`] trait every task implements (featurize, loss, predict, evaluate,
//!   export and load itself back), with the label and scoring helpers tasks share and each
//!   encoder family's sequence-classification head ([`task::heads`]);
//! - [`engine`]: the training loop in parts ([`Trainer`], [`engine::step::Step`], settings
//!   named after transformers' `TrainingArguments`, AdamW, schedules, sampling, evaluation,
//!   model selection, checkpoints, the run directory);
//! - [`strategy`]: which parameters learn and at what rate (freezing, layer-wise decay,
//!   BitFit, LoRA, ...);
//! - [`app`]: `train` / `eval` / `predict` / `score` for any task ([`app::TaskApp`]), so a
//!   task binary is its name, its flags and one call;
//! - [`report`]: `metrics.jsonl`, progress, plots and `compare-runs`;
//! - `test_support` (feature `test-support`): what the task crates' tests share.
//!
//! What it is not: it knows no particular task (no labels, metrics or task heads of its own), no
//! checkpoint format beyond what the `encoder` crate provides, and no kernel code (the
//! `kernels` crate's, passed down as a [`encoder::Kernels`] value).

pub mod app;
pub mod engine;
pub mod report;
pub mod strategy;
pub mod task;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use engine::{IntervalStrategy, RunSummary, Trainer, TrainingArgs};
pub use strategy::Strategy;
pub use task::{Metrics, Task};

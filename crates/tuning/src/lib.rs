//! # tuning
//!
//! The fine-tuning engine: the [`Task`] trait every task implements, the training loop
//! ([`trainer`]), the strategies that decide which parameters learn at which rate
//! ([`strategy`]), AdamW with transformers' semantics ([`optimizer`]), learning-rate schedules
//! ([`schedule`]), sampling and length grouping ([`sampler`]), the settings, named after
//! transformers' `TrainingArguments` ([`args`]), and the step-for-step comparison with a
//! transformers Trainer reference that the training-parity tests use ([`parity`]).
//!
//! What it is not: it knows no particular task (no labels, heads or metrics of its own) and no
//! checkpoint format beyond what the `encoder` crate provides.

pub mod args;
pub mod checkpoint;
pub mod cli;
pub mod compare;
pub mod labels;
pub mod log;
pub mod lora;
pub mod optimizer;
pub mod parity;
pub mod plot;
pub mod progress;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod scoring;
pub mod strategy;
pub mod task;
pub mod trainer;

pub use args::{IntervalStrategy, TrainingArgs, TrainingFlags};
pub use strategy::Strategy;
pub use task::{Metrics, Task};
pub use trainer::{RunSummary, Trainer};

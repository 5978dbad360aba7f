//! The training engine: [`Trainer::train`] is the loop; its parts are modules of their own,
//! each with its tests:
//!
//! - [`settings`]: every setting of a run ([`TrainingArgs`]), resolved and validated;
//! - [`setup`]: the pretrained encoder with the task's head, re-initialised layers and LoRA
//!   adapters, and the featurized data;
//! - [`step`]: one optimizer step (micro-batches, gradient averaging, clipping, AdamW), the
//!   same code that `step-bench` times; built on [`optimizer`] and [`schedule`];
//! - [`sampler`]: the seeded order of the batches (optionally grouped by length);
//! - [`intervals`]: when to log, evaluate and save;
//! - [`evaluation`]: running a model over a data set;
//! - [`selection`]: the best model so far, and early stopping;
//! - [`state`] and [`checkpoint`]: where the run stands, saved so that `--resume` continues
//!   exactly;
//! - [`run_dir`]: the run directory and the export in Hugging Face layout;
//! - [`reporting`]: `metrics.jsonl`, the progress display and the results files;
//! - [`lr_find`]: the learning-rate range test (`<task> lr-find`), on the same parts.

pub mod checkpoint;
pub mod evaluation;
pub mod intervals;
pub mod lr_find;
pub mod optimizer;
pub mod reporting;
pub mod run_dir;
pub mod sampler;
pub mod schedule;
pub mod selection;
pub mod settings;
pub mod setup;
pub mod state;
pub mod step;
pub mod trainer;

pub use reporting::RunSummary;
pub use settings::{IntervalStrategy, TrainingArgs};
pub use step::Step;
pub use trainer::Trainer;

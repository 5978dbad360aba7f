//! # sentiment
//!
//! Sentence and sentence-pair classification (SST-2 and any labelled CSV/TSV/JSONL data) on
//! the `tuning` engine: the loaders ([`data`], Parquet and Arrow through [`columnar`]),
//! transformers' `BertForSequenceClassification` head ([`head`]), the metrics ([`metrics`]) and
//! the [`tuning::Task`] impl with what `eval` and `predict` write ([`task`]). The `sentiment`
//! binary is `main.rs`: its flags and a `tuning::app::TaskApp` (the task app provides train /
//! eval / predict / score); `step-bench` times the trainer's own step.
//!
//! What it is not: a general text-classification framework; multi-label and regression are
//! not supported yet.

pub mod columnar;
pub mod data;
pub mod head;
pub mod metrics;
pub mod task;

//! # sentiment
//!
//! Sentence and sentence-pair classification (SST-2 and any labelled CSV/TSV/JSONL data) on
//! the `tuning` engine: the loaders ([`data`]), transformers' `BertForSequenceClassification`
//! head ([`head`]), the metrics ([`metrics`]) and the [`tuning::Task`] impl ([`task`]).
//! The `sentiment` binary (train / eval / predict / score) is in `main.rs`.
//!
//! What it is not: a general text-classification framework; multi-label and regression are
//! not supported yet.

pub mod columnar;
pub mod data;
pub mod head;
pub mod metrics;
pub mod task;

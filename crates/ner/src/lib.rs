//! # ner
//!
//! Named-entity recognition (CoNLL-2003 and any CoNLL-style or JSONL token/tag data) on the
//! `tuning` engine: the loaders ([`data`]), tag schemes and their conversion ([`scheme`]),
//! transformers' `BertForTokenClassification` head ([`head`]), entity-level metrics with
//! conlleval / seqeval semantics ([`metrics`]) and the [`tuning::Task`] impl with sub-token
//! alignment, long-sentence windows and document context, and what `eval` and `predict` write
//! ([`task`]). The `ner` binary is `main.rs`: its flags and a `tuning::app::TaskApp` (the task
//! app provides train / eval / predict / score).
//!
//! What it is not: nested or overlapping entities, or span-based NER; one tag per word.

pub mod data;
pub mod head;
pub mod metrics;
pub mod scheme;
pub mod task;

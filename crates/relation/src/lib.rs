//! # relation
//!
//! Relation classification between two marked entities of a sentence (SemEval-2010 Task 8 and
//! any data with two character spans and a label) on the `tuning` engine: the loaders
//! ([`data`]), entity marking ([`markers`]), three heads ([`head`]: `[CLS]`, entity-start
//! pooling, R-BERT), the official SemEval-2010 Task 8 scorer ([`metrics`]) and the
//! [`tuning::Task`] impl with what `eval` and `predict` write ([`task`]). The `relation` binary
//! is `main.rs`: its flags and a `tuning::app::TaskApp` (the task app provides train / eval /
//! predict / score).
//!
//! What it is not: relation *extraction* over all entity pairs of a document, or n-ary
//! relations; each example is one sentence with exactly one ordered pair of entities.

pub mod data;
pub mod head;
pub mod markers;
pub mod metrics;
pub mod task;

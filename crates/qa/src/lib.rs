//! # qa
//!
//! Extractive question answering (SQuAD v1.1 and v2.0) on the `tuning` engine, as
//! transformers' run_qa: the loaders ([`data`]: SQuAD JSON, plain or gzipped, and JSONL, with
//! answer offsets checked), `BertForQuestionAnswering`'s head ([`head`]), features with
//! doc_stride windows and the n-best post-processing across them ([`task`]), and the official
//! scores ([`metrics`]: exact match and F1 after the official normalisation, best over the
//! gold answers; for v2.0 the HasAns/NoAns split and the best no-answer threshold). The `qa`
//! binary is `main.rs`: its flags and a `tuning::app::TaskApp` (the task app provides train /
//! eval / predict / score).
//!
//! What it is not: generative QA, or multiple-choice QA.

pub mod data;
pub mod head;
pub mod metrics;
pub mod task;

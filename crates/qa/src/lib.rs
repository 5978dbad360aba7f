//! # qa
//!
//! Extractive question answering (SQuAD v1.1 and v2.0). So far: the loaders ([`data`]:
//! SQuAD JSON, plain or gzipped, and JSONL, with answer offsets checked) and the official
//! scores ([`metrics`]: exact match and F1 after the official normalisation, best over the
//! gold answers; for v2.0 the HasAns/NoAns split and the best no-answer threshold), behind
//! `qa score`. The model side (features with doc_stride, the `qa_outputs` head, n-best
//! post-processing, train / eval / predict) is the next step.
//!
//! What it is not: generative QA, or multiple-choice QA.

pub mod data;
pub mod metrics;

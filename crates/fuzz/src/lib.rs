//! Fuzzing every input finetune reads: the data loaders of the four tasks (SST-2 TSV, CSV,
//! JSONL, Parquet, Arrow; CoNLL; SemEval-2010 Task 8; SQuAD), the `score` inputs
//! (predictions files, answer keys, conlleval files), `config.json` and safetensors headers.
//!
//! Each [`Target`] writes one input to a file named as the loader expects (the extension picks
//! the format) and calls the loader as the binaries do. An input may be refused with an
//! error, never with a panic: [`runner::fuzz`] mutates seed inputs ([`mutate`]), runs the
//! target on each under `catch_unwind`, and keeps every input that panicked.
//!
//! What this is not: a coverage-guided fuzzer. cargo-fuzz (libFuzzer) needs a nightly
//! toolchain, which our CI does not install; this harness runs on stable, with seeds from the
//! sample data and the test fixtures and a dictionary of each format's tokens, so that its
//! mutations reach past the first syntax check. `scripts/checks/fuzz` runs every target for
//! a million executions; the `short_pass` test runs each briefly in CI, and replays the inputs
//! in `crates/fuzz/regressions/` (crashes found once stay tests).

pub mod mutate;
pub mod runner;
pub mod targets;

pub use runner::{Outcome, fuzz};
pub use targets::{Target, targets};

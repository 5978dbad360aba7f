//! Helpers for the task crates' tests (the `test-support` feature, for dev-dependencies
//! only): the step-for-step comparison with a transformers Trainer reference ([`parity`])
//! and running a task binary from a test ([`cli`]).

pub mod cli;
pub mod parity;

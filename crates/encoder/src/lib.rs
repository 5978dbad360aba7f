//! # encoder
//!
//! Pretrained transformer encoders (BERT, RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA) from
//! Hugging Face model directories, as Burn modules that compute what transformers computes.
//!
//! What it is: the HF config ([`EncoderConfig`], the family from `model_type`:
//! [`ModelFamily`]), the model ([`bert`], mirroring `modeling_bert.py`; the other families are
//! the same module tree with their embedding details), checkpoint loading and saving in HF
//! layout, each family's key names translated at the file ([`checkpoint`], [`key_map`],
//! [`weights`]), tokenization with offsets, word ids and overflowing windows
//! ([`tokenizer`]), the operations a task head applies with the encoder's kernels ([`Ops`]),
//! and the `encode` and `convert-checkpoint` binaries.
//!
//! What it is not: it knows nothing of tasks, heads, losses or training loops (those live in
//! the `tuning` crate and the per-task crates), and it holds no kernel code: the fused CPU
//! kernels are the `kernels` crate's, chosen by a [`Kernels`] value the caller passes in. Its
//! code is safe Rust only: `Cargo.toml` forbids the other kind (`[lints.rust]`).

pub mod bert;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod error;
pub mod fsutil;
pub mod input;
pub mod key_map;
pub mod model_dir;
pub mod ops;
pub mod tokenizer;
pub mod weights;

pub use bert::{BertModel, EncoderInput, EncoderOutput};
pub use checkpoint::LoadReport;
pub use config::{Activation, EncoderConfig, ModelFamily};
pub use device::{DeviceChoice, DeviceError};
pub use error::LoadError;
pub use kernels::{Kernels, Precision};
pub use model_dir::{
    ModelDir, Pretrained, default_model_dir, load_pretrained, load_pretrained_with, save_pretrained,
};
pub use ops::Ops;
pub use tokenizer::{EncodeOptions, TokenizedWindow, Tokenizer, Truncation};
pub use weights::{Checkpoint, HostTensor};

//! The operations a task head applies around the encoder, with the encoder's own kernels.
//!
//! A head (`BertForSequenceClassification`'s classifier, the span head, ...) holds Burn
//! `Linear` and `Dropout` modules next to the encoder. Applied through [`Ops`] (from
//! [`crate::BertModel::ops`]) they run as the encoder's layers do: the fused CPU kernels when
//! the model was built with them, Burn's operations otherwise, with dropout masks drawn from
//! the device's seeded generator either way. Heads never call the kernels crate themselves.

use burn::nn::{Dropout, Linear};
use burn::tensor::Tensor;
use kernels::Kernels;

/// The encoder's kernels, as seen by a head: linear layers and dropout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ops(pub(crate) Kernels);

impl Ops {
    /// `layer` over the last dimension of `x`, every leading dimension folded into the rows
    /// of one matrix product (the same arithmetic as `Linear::forward`).
    pub fn linear<const D: usize>(&self, layer: &Linear, x: Tensor<D>) -> Tensor<D> {
        self.0.linear(layer, x)
    }

    /// `module`'s dropout: active only in training mode on an autodiff device, as Burn's
    /// `Dropout::forward`.
    pub fn dropout<const D: usize>(&self, module: &Dropout, x: Tensor<D>) -> Tensor<D> {
        self.0.dropout(module, x)
    }
}

//! The fused kernels registered as a Burn backend extension: a trait with the primitive
//! operations, its implementation on burn-flex (the CPU backend), and on `Autodiff<Flex>` with a
//! hand-written backward pass. Other backends (CUDA) never reach this trait: the
//! [`super`] wrappers route them to Burn's own operations.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension};
use burn::tensor::{Bytes, DType};

use super::attention_softmax::{self, Rows};
use super::dropout::{self, MaskSeed};
use super::erf_gelu;

#[backend_extension(Flex, Autodiff)]
pub trait EncoderKernels: Backend {
    /// transformers' exact `"gelu"`: `0.5·x·(1 + erf(x/√2))`.
    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `softmax(scores·scale + mask_bias)` over the last axis, for f32 `[B, N, T, K]` scores
    /// and a `[B, 1, 1, K]` mask bias. The mask is a constant: it receives no gradient.
    fn attention_softmax(
        scores: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self>;

    /// Dropout with drop probability `prob`, its mask a hash of `(seed, element index)`.
    fn seeded_dropout(x: FloatTensor<Self>, prob: f32, seed: u64) -> FloatTensor<Self>;
}

/// The elements of a contiguous f32 tensor starting at offset 0 (what the kernels can read
/// without a copy), or `None`.
fn dense_f32(tensor: &FlexTensor) -> Option<&[f32]> {
    let layout = tensor.layout();
    if tensor.dtype() != DType::F32 || !layout.is_contiguous() || layout.start_offset() != 0 {
        return None;
    }
    tensor.as_slice::<f32>()
}

fn from_vec(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    let shape = like.layout().shape().clone();
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// `Flex` GELU: in place when the tensor is the only owner of its buffer (inference), into a
/// new buffer otherwise (training keeps the input for the backward pass).
fn flex_gelu(mut x: FlexTensor) -> FlexTensor {
    if dense_f32(&x).is_none() {
        // f16/bf16 or a strided view: burn-flex's own element loop.
        return <Flex as ActivationOps<Flex>>::gelu(x);
    }
    if x.is_unique() {
        let n = x.layout().num_elements();
        if let Some(values) = x.try_storage_mut::<f32>() {
            erf_gelu::gelu_in_place(&mut values[..n]);
            return x;
        }
    }
    let input = dense_f32(&x).expect("checked above");
    let mut out = vec![0.0f32; input.len()];
    erf_gelu::gelu_into(input, &mut out);
    from_vec(out, &x)
}

/// `grad · GELU'(x)`, written into `grad`'s buffer when it is the only owner.
fn flex_gelu_backward(x: FlexTensor, mut grad: FlexTensor) -> FlexTensor {
    if dense_f32(&x).is_none() || dense_f32(&grad).is_none() {
        return <Flex as ActivationOps<Flex>>::gelu_backward(x, grad);
    }
    let input = dense_f32(&x).expect("checked above");
    if grad.is_unique() {
        let n = grad.layout().num_elements();
        if let Some(values) = grad.try_storage_mut::<f32>() {
            erf_gelu::gelu_backward_in_place(input, &mut values[..n]);
            return grad;
        }
    }
    let mut out = dense_f32(&grad).expect("checked above").to_vec();
    erf_gelu::gelu_backward_in_place(input, &mut out);
    from_vec(out, &grad)
}

/// The kernel's row layout for `[B, N, T, K]` scores.
fn attention_rows(scores: &FlexTensor) -> Rows {
    let dims = &scores.layout().shape()[..];
    assert_eq!(
        dims.len(),
        4,
        "attention softmax: scores must be [B, N, T, K]"
    );
    Rows {
        keys: dims[3],
        rows_per_mask: dims[1] * dims[2],
    }
}

/// A contiguous f32 copy when `tensor` is a strided view (kernels read dense rows).
fn densified(tensor: FlexTensor) -> FlexTensor {
    assert_eq!(tensor.dtype(), DType::F32, "fused kernels: f32 only");
    if dense_f32(&tensor).is_some() {
        tensor
    } else {
        let values = tensor.to_contiguous();
        let dense = dense_f32(&values).expect("contiguous").to_vec();
        from_vec(dense, &values)
    }
}

fn flex_attention_softmax(scores: FlexTensor, mask_bias: FlexTensor, scale: f32) -> FlexTensor {
    let rows = attention_rows(&scores);
    let mask = densified(mask_bias);
    let mut scores = densified(scores);
    let n = scores.layout().num_elements();
    let mask_values = dense_f32(&mask).expect("densified");
    if let Some(values) = scores.try_storage_mut::<f32>() {
        attention_softmax::forward_in_place(&mut values[..n], mask_values, rows, scale);
        return scores;
    }
    let mut out = dense_f32(&scores).expect("densified").to_vec();
    attention_softmax::forward_in_place(&mut out, mask_values, rows, scale);
    from_vec(out, &scores)
}

fn flex_attention_softmax_backward(probs: FlexTensor, grad: FlexTensor, scale: f32) -> FlexTensor {
    let keys = attention_rows(&probs).keys;
    let mut grad = densified(grad);
    let n = grad.layout().num_elements();
    let p = dense_f32(&probs).expect("the forward output is dense");
    if let Some(values) = grad.try_storage_mut::<f32>() {
        attention_softmax::backward_in_place(p, &mut values[..n], keys, scale);
        return grad;
    }
    let mut out = dense_f32(&grad).expect("densified").to_vec();
    attention_softmax::backward_in_place(p, &mut out, keys, scale);
    from_vec(out, &grad)
}

/// Dropout on a Flex tensor: in place when the buffer is not shared. Also the backward pass
/// (the same mask applied to the gradient).
fn flex_dropout(x: FlexTensor, prob: f32, seed: u64) -> FlexTensor {
    let seed = MaskSeed::new(seed);
    let mut x = densified(x);
    let n = x.layout().num_elements();
    if let Some(values) = x.try_storage_mut::<f32>() {
        dropout::apply_in_place(&mut values[..n], prob, seed);
        return x;
    }
    let input = dense_f32(&x).expect("densified");
    let mut out = vec![0.0f32; input.len()];
    dropout::apply_into(input, &mut out, prob, seed);
    from_vec(out, &x)
}

impl EncoderKernels for Flex {
    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex_gelu(x)
    }

    fn attention_softmax(
        scores: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        flex_attention_softmax(scores, mask_bias, scale)
    }

    fn seeded_dropout(x: FloatTensor<Self>, prob: f32, seed: u64) -> FloatTensor<Self> {
        flex_dropout(x, prob, seed)
    }
}

/// The backward step of [`EncoderKernels::erf_gelu`]; its state is the forward input.
#[derive(Debug)]
struct ErfGeluBackward;

impl Backward<Flex, 1> for ErfGeluBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let input = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            flex_gelu_backward(input, grad)
        });
    }
}

/// The backward step of [`EncoderKernels::attention_softmax`]; its state is the forward
/// output (the probabilities) and the scale.
#[derive(Debug)]
struct AttentionSoftmaxBackward;

impl Backward<Flex, 1> for AttentionSoftmaxBackward {
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (probs, scale) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            flex_attention_softmax_backward(probs, grad, scale)
        });
    }
}

/// The backward step of [`EncoderKernels::seeded_dropout`]: the mask is recomputed from the
/// seed, so nothing but two numbers is kept.
#[derive(Debug)]
struct DropoutBackward;

impl Backward<Flex, 1> for DropoutBackward {
    type State = (f32, u64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (prob, seed) = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            flex_dropout(grad, prob, seed)
        });
    }
}

impl<C: CheckpointStrategy> EncoderKernels for Autodiff<Flex, C> {
    fn seeded_dropout(x: FloatTensor<Self>, prob: f32, seed: u64) -> FloatTensor<Self> {
        match DropoutBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish((prob, seed), flex_dropout(x.into_primitive(), prob, seed))
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_dropout(x.into_primitive(), prob, seed)),
        }
    }

    fn attention_softmax(
        scores: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        // Only the scores are a parent: the mask bias is built from the attention mask and
        // never trained.
        let mask = mask_bias.into_primitive();
        match AttentionSoftmaxBackward
            .prepare::<C>([scores.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let probs = flex_attention_softmax(scores.into_primitive(), mask, scale);
                prep.finish((probs.clone(), scale), probs)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(flex_attention_softmax(scores.into_primitive(), mask, scale))
            }
        }
    }

    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // Compute bound: keep the input rather than recompute anything under checkpointing.
        match ErfGeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                prep.finish(input.clone(), flex_gelu(input))
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_gelu(x.into_primitive())),
        }
    }
}

//! The fused kernels registered as a Burn backend extension: a trait with the primitive
//! operations, its implementation on burn-flex (the CPU backend), and on `Autodiff<Flex>` with a
//! hand-written backward pass. Other backends (CUDA) never reach this trait: the
//! [`crate::Kernels`] wrappers route them to Burn's own operations.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, Flex, backend_extension};
use burn::tensor::{Bytes, DType, Shape};

use super::Precision;
use super::adamw::{self, ApplyStep};
use super::attention::{self, ProbsDropout, Shape as AttentionShape};
use super::attention_softmax::{self, Rows};
use super::dropout::{self, MaskSeed};
use super::erf_gelu;
use super::fused_linear;
use super::norm;

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

    /// Multi-head attention `dropout(softmax(Q·Kᵀ·scale + mask))·V` per head, for f32
    /// `[B, T, H]` projections and a `[B, 1, 1, T]` mask bias (a constant: no gradient),
    /// `[B, T, H]` out. Dropout on the probabilities with `dropout_prob` (0: none), its mask
    /// hashed from `seed` as [`EncoderKernels::seeded_dropout`] would for the `[B, N, T, T]`
    /// probabilities.
    #[allow(clippy::too_many_arguments)]
    fn attention_context(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        heads: usize,
        scale: f32,
        dropout_prob: f32,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// Dropout with drop probability `prob`, its mask a hash of `(seed, element index)`.
    fn seeded_dropout(x: FloatTensor<Self>, prob: f32, seed: u64) -> FloatTensor<Self>;

    /// `x·weight + bias` for f32 `[M, K]` rows, a `[K, N]` weight and an `[N]` bias; with
    /// `half`, the products in f16 where no gradient is recorded (inference only).
    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        half: bool,
    ) -> FloatTensor<Self>;

    /// Σ x² over all elements, as a one-element tensor (accumulated in f64). Optimizer
    /// arithmetic: never differentiated.
    fn sum_of_squares(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// AdamW's first moment `exp_avg + (grad − exp_avg)·weight` (`weight = 1 − β1`), in place
    /// when `exp_avg` is not shared. Optimizer arithmetic: never differentiated.
    fn adamw_first_moment(
        exp_avg: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight: f32,
    ) -> FloatTensor<Self>;

    /// AdamW's second moment `exp_avg_sq·β2 + grad²·weight` (`weight = 1 − β2`), in place
    /// when not shared.
    fn adamw_second_moment(
        exp_avg_sq: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        beta2: f32,
        weight: f32,
    ) -> FloatTensor<Self>;

    /// AdamW's parameter update
    /// `param·decay − exp_avg / (√exp_avg_sq / bias_correction2_sqrt + eps) · step_size`.
    fn adamw_apply(
        param: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        decay: f32,
        step_size: f32,
        bias_correction2_sqrt: f32,
        eps: f32,
    ) -> FloatTensor<Self>;
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

/// A contiguous f32 tensor of `shape` holding `values` (no copy).
fn with_shape(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
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

/// The operands of a fused attention call, made dense, and their shape.
struct AttentionOperands {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    shape: AttentionShape,
    dims: Vec<usize>,
}

impl AttentionOperands {
    fn new(q: FlexTensor, k: FlexTensor, v: FlexTensor, heads: usize) -> Self {
        let (q, k, v) = (densified(q), densified(k), densified(v));
        let dims = q.layout().shape()[..].to_vec();
        let [batch, seq, hidden] = dims[..] else {
            panic!("fused attention: projections must be [B, T, H], got {dims:?}");
        };
        assert!(
            heads > 0 && hidden.is_multiple_of(heads),
            "fused attention: {hidden} columns do not split into {heads} heads"
        );
        let shape = AttentionShape {
            batch,
            seq,
            heads,
            head_dim: hidden / heads,
        };
        Self {
            q,
            k,
            v,
            shape,
            dims,
        }
    }

    fn slices(&self) -> (&[f32], &[f32], &[f32]) {
        (
            dense_f32(&self.q).expect("densified"),
            dense_f32(&self.k).expect("densified"),
            dense_f32(&self.v).expect("densified"),
        )
    }
}

fn probs_dropout(prob: f32, seed: u64) -> Option<ProbsDropout> {
    (prob > 0.0).then(|| ProbsDropout {
        prob,
        seed: MaskSeed::new(seed),
    })
}

/// The context alone (inference, or training where no input needs a gradient).
fn flex_attention_context(
    operands: &AttentionOperands,
    mask_bias: FlexTensor,
    scale: f32,
    dropout: Option<ProbsDropout>,
) -> FlexTensor {
    let mask = densified(mask_bias);
    let mask = dense_f32(&mask).expect("densified");
    let (q, k, v) = operands.slices();
    let out = match dropout {
        None => attention::forward(q, k, v, mask, operands.shape, scale),
        Some(_) => attention::forward_training(q, k, v, mask, operands.shape, scale, dropout).0,
    };
    with_shape(out, &operands.dims)
}

/// Dropout on a Flex tensor: in place/// Dropout on a Flex tensor: in place when the buffer is not shared. Also the backward pass
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

    fn attention_context(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        heads: usize,
        scale: f32,
        dropout_prob: f32,
        seed: u64,
    ) -> FloatTensor<Self> {
        let operands = AttentionOperands::new(q, k, v, heads);
        flex_attention_context(
            &operands,
            mask_bias,
            scale,
            probs_dropout(dropout_prob, seed),
        )
    }

    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        half: bool,
    ) -> FloatTensor<Self> {
        // No autodiff here: evaluation and prediction, where f16 products may be asked for.
        let precision = if half { Precision::F16 } else { Precision::F32 };
        flex_linear(x, weight, bias, precision)
    }

    fn sum_of_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex_sum_of_squares(x)
    }

    fn adamw_first_moment(
        exp_avg: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight: f32,
    ) -> FloatTensor<Self> {
        flex_adamw_first_moment(exp_avg, grad, weight)
    }

    fn adamw_second_moment(
        exp_avg_sq: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        beta2: f32,
        weight: f32,
    ) -> FloatTensor<Self> {
        flex_adamw_second_moment(exp_avg_sq, grad, beta2, weight)
    }

    fn adamw_apply(
        param: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        decay: f32,
        step_size: f32,
        bias_correction2_sqrt: f32,
        eps: f32,
    ) -> FloatTensor<Self> {
        flex_adamw_apply(
            param,
            exp_avg,
            exp_avg_sq,
            decay,
            step_size,
            bias_correction2_sqrt,
            eps,
        )
    }
}

/// The dimensions `[rows, cols]` of a 2-D tensor.
fn dims2(tensor: &FlexTensor, what: &str) -> [usize; 2] {
    match tensor.layout().shape()[..] {
        [rows, cols] => [rows, cols],
        ref other => panic!("fused linear: {what} must be 2-D, got {other:?}"),
    }
}

/// The operand sizes `(m, k, n)` of `x[m, k] · weight[k, n]`, checked.
fn linear_sizes(x: &FlexTensor, weight: &FlexTensor) -> (usize, usize, usize) {
    let [m, k] = dims2(x, "the input");
    let [k_w, n] = dims2(weight, "the weight");
    assert_eq!(k, k_w, "fused linear: input width {k} != weight rows {k_w}");
    (m, k, n)
}

fn flex_linear(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    precision: Precision,
) -> FlexTensor {
    let (x, weight, bias) = (densified(x), densified(weight), densified(bias));
    let (m, k, n) = linear_sizes(&x, &weight);
    let out = fused_linear::forward(
        dense_f32(&x).expect("densified"),
        dense_f32(&weight).expect("densified"),
        dense_f32(&bias).expect("densified"),
        m,
        k,
        n,
        precision,
    );
    with_shape(out, &[m, n])
}

/// `x` as a dense f32 tensor whose buffer this call may write: itself when unshared, a copy
/// otherwise.
fn owned_dense(x: FlexTensor) -> FlexTensor {
    let mut x = densified(x);
    if x.is_unique() && x.try_storage_mut::<f32>().is_some() {
        return x;
    }
    let values = dense_f32(&x).expect("densified").to_vec();
    from_vec(values, &x)
}

/// Runs `update` on the elements of `target` (made writable) and returns it.
fn updated_in_place(target: FlexTensor, update: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut target = owned_dense(target);
    let n = target.layout().num_elements();
    update(&mut target.try_storage_mut::<f32>().expect("owned above")[..n]);
    target
}

fn flex_sum_of_squares(x: FlexTensor) -> FlexTensor {
    let x = densified(x);
    let total = norm::sum_of_squares(dense_f32(&x).expect("densified"));
    with_shape(vec![total as f32], &[1])
}

fn flex_adamw_first_moment(exp_avg: FlexTensor, grad: FlexTensor, weight: f32) -> FlexTensor {
    let grad = densified(grad);
    let g = dense_f32(&grad).expect("densified");
    updated_in_place(exp_avg, |m| adamw::first_moment(m, g, weight))
}

fn flex_adamw_second_moment(
    exp_avg_sq: FlexTensor,
    grad: FlexTensor,
    beta2: f32,
    weight: f32,
) -> FlexTensor {
    let grad = densified(grad);
    let g = dense_f32(&grad).expect("densified");
    updated_in_place(exp_avg_sq, |v| adamw::second_moment(v, g, beta2, weight))
}

fn flex_adamw_apply(
    param: FlexTensor,
    exp_avg: FlexTensor,
    exp_avg_sq: FlexTensor,
    decay: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
) -> FlexTensor {
    let step = ApplyStep {
        decay,
        step_size,
        bias_correction2_sqrt,
        eps,
    };
    let (exp_avg, exp_avg_sq) = (densified(exp_avg), densified(exp_avg_sq));
    let m = dense_f32(&exp_avg).expect("densified");
    let v = dense_f32(&exp_avg_sq).expect("densified");
    updated_in_place(param, |p| adamw::apply(p, m, v, step))
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

/// The backward step of [`EncoderKernels::fused_linear`]; its state is the forward input and
/// weight (each needed for the other's gradient).
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = densified(grads.consume::<Flex>(&ops.node));
        let (x, weight) = ops.state;
        let (x, weight) = (densified(x), densified(weight));
        let (m, k, n) = linear_sizes(&x, &weight);
        let dy = dense_f32(&grad).expect("densified");
        if let Some(node) = node_x {
            let w = dense_f32(&weight).expect("densified");
            let dx = fused_linear::grad_input(dy, w, m, k, n);
            grads.register::<Flex>(node.id, with_shape(dx, &[m, k]));
        }
        if let Some(node) = node_weight {
            let xs = dense_f32(&x).expect("densified");
            let dw = fused_linear::grad_weight(xs, dy, m, k, n);
            grads.register::<Flex>(node.id, with_shape(dw, &[k, n]));
        }
        if let Some(node) = node_bias {
            let db = fused_linear::grad_bias(dy, m, n);
            grads.register::<Flex>(node.id, with_shape(db, &[n]));
        }
    }
}

/// The backward step of [`EncoderKernels::attention_context`]: its state is the operands,
/// the probabilities before dropout, and the scale and dropout to replay.
#[derive(Debug)]
struct AttentionBackward;

/// What [`AttentionBackward`] keeps from the forward pass.
#[derive(Debug, Clone)]
struct AttentionState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    probs: FlexTensor,
    heads: usize,
    scale: f32,
    dropout_prob: f32,
    seed: u64,
}

impl Backward<Flex, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_q, node_k, node_v] = ops.parents;
        let d_out = densified(grads.consume::<Flex>(&ops.node));
        let state = ops.state;
        let operands = AttentionOperands::new(state.q, state.k, state.v, state.heads);
        let (q, k, v) = operands.slices();
        let (dq, dk, dv) = attention::backward(
            q,
            k,
            v,
            dense_f32(&state.probs).expect("the forward output is dense"),
            dense_f32(&d_out).expect("densified"),
            operands.shape,
            state.scale,
            probs_dropout(state.dropout_prob, state.seed),
        );
        for (node, grad) in [(node_q, dq), (node_k, dk), (node_v, dv)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, with_shape(grad, &operands.dims));
            }
        }
    }
}

impl<C: CheckpointStrategy> EncoderKernels for Autodiff<Flex, C> {
    fn attention_context(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask_bias: FloatTensor<Self>,
        heads: usize,
        scale: f32,
        dropout_prob: f32,
        seed: u64,
    ) -> FloatTensor<Self> {
        // The mask bias is built from the attention mask and never trained: not a parent.
        let mask = mask_bias.into_primitive();
        let dropout = probs_dropout(dropout_prob, seed);
        let kind = AttentionBackward
            .prepare::<C>([q.node(), k.node(), v.node()])
            .compute_bound()
            .stateful();
        let operands = AttentionOperands::new(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            heads,
        );
        match kind {
            OpsKind::Tracked(prep) => {
                let mask = densified(mask);
                let (qs, ks, vs) = operands.slices();
                let mask_values = dense_f32(&mask).expect("densified");
                let (out, probs) = attention::forward_training(
                    qs,
                    ks,
                    vs,
                    mask_values,
                    operands.shape,
                    scale,
                    dropout,
                );
                let shape = operands.shape;
                let probs = with_shape(probs, &[shape.batch, heads, shape.seq, shape.seq]);
                let out = with_shape(out, &operands.dims);
                let state = AttentionState {
                    q: operands.q,
                    k: operands.k,
                    v: operands.v,
                    probs,
                    heads,
                    scale,
                    dropout_prob,
                    seed,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(flex_attention_context(&operands, mask, scale, dropout))
            }
        }
    }

    // The optimizer updates run on the inner (non-autodiff) tensors; on autodiff ones they
    // are plain untracked arithmetic.
    fn sum_of_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(flex_sum_of_squares(Self::inner(x)))
    }

    fn adamw_first_moment(
        exp_avg: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        weight: f32,
    ) -> FloatTensor<Self> {
        Self::from_inner(flex_adamw_first_moment(
            Self::inner(exp_avg),
            Self::inner(grad),
            weight,
        ))
    }

    fn adamw_second_moment(
        exp_avg_sq: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        beta2: f32,
        weight: f32,
    ) -> FloatTensor<Self> {
        Self::from_inner(flex_adamw_second_moment(
            Self::inner(exp_avg_sq),
            Self::inner(grad),
            beta2,
            weight,
        ))
    }

    fn adamw_apply(
        param: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        exp_avg_sq: FloatTensor<Self>,
        decay: f32,
        step_size: f32,
        bias_correction2_sqrt: f32,
        eps: f32,
    ) -> FloatTensor<Self> {
        Self::from_inner(flex_adamw_apply(
            Self::inner(param),
            Self::inner(exp_avg),
            Self::inner(exp_avg_sq),
            decay,
            step_size,
            bias_correction2_sqrt,
            eps,
        ))
    }

    fn fused_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        _half: bool,
    ) -> FloatTensor<Self> {
        match LinearBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                // Training computes in f32 whatever the inference precision.
                let out = flex_linear(
                    x.clone(),
                    weight.clone(),
                    bias.into_primitive(),
                    Precision::F32,
                );
                prep.finish((x, weight), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(flex_linear(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                Precision::F32,
            )),
        }
    }

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

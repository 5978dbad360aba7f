//! Fused CPU kernels for the hot spots of a BERT step that burn-flex runs slowly, registered
//! through Burn's backend-extension API so they take part in autodiff like any other op.
//!
//! What it is: drop-in replacements with the same numerics as Burn's operations (within the
//! accuracy stated on each kernel), used by [`crate::bert`] on the CPU backend.
//! What it is not: a new backend. On any other device (CUDA) the wrappers here call Burn's own
//! operation, and `FINETUNE_KERNELS=burn` in the environment does the same on the CPU (to
//! compare, or to rule the kernels out when chasing a numerical question).

#[macro_use]
mod simd;
pub mod adamw;
pub mod attention;
pub mod attention_softmax;
pub mod dropout;
pub mod erf_gelu;
mod extension;
pub mod fused_linear;
pub mod gemm_f16;
pub mod norm;

pub use extension::EncoderKernels;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::{Dropout, Linear};
use burn::tensor::{DType, Distribution, Tensor};

/// Whether the fused kernels are switched on (the default) for this process.
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        !matches!(
            std::env::var("FINETUNE_KERNELS").as_deref(),
            Ok("burn") | Ok("off") | Ok("0")
        )
    })
}

/// The arithmetic of the linear layers' matrix products when no gradient is recorded
/// (evaluation, prediction). Training always computes in f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: the same numbers as transformers in f32 (the default).
    #[default]
    F32,
    /// Products in IEEE half precision, accumulated in f32 every 64 terms (`gemm_f16::CHUNK`)
    /// (CPUs with AVX512-FP16 only): about twice the matrix throughput; a fine-tuned model's
    /// outputs move by ~1e-3 (measured in BENCHMARKS.md, "f16 inference").
    F16,
}

static INFERENCE_F16: AtomicBool = AtomicBool::new(false);

/// Sets the precision of this process's inference products; an error when f16 is asked for
/// on a CPU without AVX512-FP16.
pub fn set_inference_precision(precision: Precision) -> anyhow::Result<()> {
    if precision == Precision::F16 && !gemm_f16::available() {
        anyhow::bail!(
            "--precision f16 needs a CPU with AVX512-FP16 (Intel Sapphire Rapids or later); use f32"
        );
    }
    INFERENCE_F16.store(precision == Precision::F16, Ordering::Relaxed);
    Ok(())
}

/// The precision of inference products set for this process (f32 unless changed).
pub fn inference_precision() -> Precision {
    if INFERENCE_F16.load(Ordering::Relaxed) {
        Precision::F16
    } else {
        Precision::F32
    }
}

/// Whether `tensor` lives on burn-flex, with or without autodiff.
fn on_flex<const D: usize>(tensor: &Tensor<D>) -> bool {
    matches!(
        tensor.device().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// transformers' exact `"gelu"`, `0.5·x·(1 + erf(x/√2))`: the fused kernel on the CPU, Burn's
/// `gelu` elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if enabled() && on_flex(&x) {
        Tensor::from_dispatch(<Dispatch as EncoderKernels>::erf_gelu(x.into_dispatch()))
    } else {
        burn::tensor::activation::gelu(x)
    }
}

/// `softmax(scores·scale + mask_bias, dim 3)` for `[B, N, T, K]` attention scores and a
/// `[B, 1, 1, K]` additive mask (a constant: it gets no gradient): one fused pass on the CPU,
/// Burn's operations elsewhere.
pub fn attention_softmax(scores: Tensor<4>, mask_bias: Tensor<4>, scale: f64) -> Tensor<4> {
    let [batch, _, _, keys] = scores.dims();
    let fused = enabled()
        && on_flex(&scores)
        && scores.dtype() == DType::F32
        && mask_bias.dtype() == DType::F32
        && mask_bias.dims() == [batch, 1, 1, keys];
    if fused {
        Tensor::from_dispatch(<Dispatch as EncoderKernels>::attention_softmax(
            scores.into_dispatch(),
            mask_bias.into_dispatch(),
            scale as f32,
        ))
    } else {
        burn::tensor::activation::softmax(scores * scale + mask_bias, 3)
    }
}

/// Whether [`fused_attention`] applies: on the CPU, f32, a `[B, 1, 1, T]` mask for `[B, T, H]`
/// projections (training and inference alike).
pub fn fused_attention_applies(q: &Tensor<3>, mask_bias: &Tensor<4>) -> bool {
    let [batch, seq, _] = q.dims();
    enabled()
        && on_flex(q)
        && q.dtype() == DType::F32
        && mask_bias.dtype() == DType::F32
        && mask_bias.dims() == [batch, 1, 1, seq]
}

/// The attention context `dropout(softmax(Q·Kᵀ·scale + mask))·V` over `heads` heads, from
/// and to `[B, T, H]`, in one kernel with its own backward pass ([`attention`]). `dropout`
/// acts as in [`dropout`] (training mode on an autodiff device), with the same masks as the
/// composed path. Check [`fused_attention_applies`] first.
pub fn fused_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask_bias: Tensor<4>,
    heads: usize,
    scale: f64,
    dropout: &Dropout,
) -> Tensor<3> {
    let (prob, seed) = if dropout_active(dropout, &q) {
        (dropout.prob as f32, draw_mask_seed(&q.device()))
    } else {
        (0.0, 0)
    };
    Tensor::from_dispatch(<Dispatch as EncoderKernels>::attention_context(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        mask_bias.into_dispatch(),
        heads,
        scale as f32,
        prob,
        seed,
    ))
}

/// Whether `module` drops anything here: training mode, on an autodiff device (as Burn's
/// `Dropout::forward`), with a non-zero probability.
fn dropout_active<const D: usize>(module: &Dropout, x: &Tensor<D>) -> bool {
    module.training.is_enabled() && x.device().is_autodiff() && module.prob > 0.0
}

/// A 64-bit mask seed drawn from the device's random generator, so `device.seed(s)` fixes
/// the kernels' masks exactly as it fixes Burn's.
fn draw_mask_seed(device: &burn::tensor::Device) -> u64 {
    // Four 16-bit draws (exact in f32) make the 64-bit seed.
    let draws = Tensor::<1>::random(
        [4],
        Distribution::Uniform(0.0, 65_536.0),
        &device.clone().inner(),
    )
    .into_data()
    .convert::<f32>()
    .try_into_vec::<f32>()
    .expect("f32 draws");
    draws
        .iter()
        .fold(0u64, |acc, &d| (acc << 16) | (d.floor() as u64 & 0xFFFF))
}

/// Σ x² over all elements of `x` (a gradient, for global-norm clipping): one fused pass with
/// f64 accumulation on the CPU, Burn's operations elsewhere. Never differentiated.
pub fn sum_of_squares<const D: usize>(x: &Tensor<D>) -> f64 {
    if enabled() && on_flex(x) && x.dtype() == DType::F32 {
        let total = Tensor::<1>::from_dispatch(<Dispatch as EncoderKernels>::sum_of_squares(
            x.clone().into_dispatch(),
        ));
        total.into_scalar::<f32>() as f64
    } else {
        (x.clone() * x.clone()).sum().into_scalar::<f32>() as f64
    }
}

/// `module`'s dropout (active only in training, on an autodiff device, as Burn's
/// `Dropout::forward`): the seeded fused kernel on the CPU, Burn's own elsewhere.
///
/// The kernel's seed is drawn from the device's random generator, so `device.seed(s)` fixes
/// the masks exactly as it fixes Burn's.
pub fn dropout<const D: usize>(module: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !dropout_active(module, &x) {
        return x;
    }
    if !(enabled() && on_flex(&x) && x.dtype() == DType::F32) {
        return module.forward(x);
    }
    let seed = draw_mask_seed(&x.device());
    Tensor::from_dispatch(<Dispatch as EncoderKernels>::seeded_dropout(
        x.into_dispatch(),
        module.prob as f32,
        seed,
    ))
}

/// `layer` applied to `x` with every leading dimension folded into the rows of one 2-D matrix
/// product (`[B·T, in] × [in, out]`), on every backend.
///
/// Burn's `Linear::forward` on a `[B, T, in]` input broadcasts the weight over the batch: the
/// forward runs B small products and the backward computes the weight gradient per batch
/// element, then sums the B copies. One large product does the same arithmetic in one call,
/// and its weight gradient is a single `[in, B·T] × [B·T, out]` product. On the CPU, with a
/// bias, the product and the bias are one fused op ([`fused_linear`]). The effective weight
/// is `layer.weight.val()`, so LoRA adapters attached to it take part as usual.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows: usize = dims[..D - 1].iter().product();
    let weight = layer.weight.val();
    let d_out = weight.dims()[1];
    let x = x.reshape([rows, d_in]);
    let y = match &layer.bias {
        Some(bias) => {
            let bias = bias.val();
            let fused = enabled()
                && on_flex(&x)
                && [x.dtype(), weight.dtype(), bias.dtype()] == [DType::F32; 3];
            if fused {
                Tensor::from_dispatch(<Dispatch as EncoderKernels>::fused_linear(
                    x.into_dispatch(),
                    weight.into_dispatch(),
                    bias.into_dispatch(),
                ))
            } else {
                x.matmul(weight) + bias.unsqueeze::<2>()
            }
        }
        None => x.matmul(weight),
    };
    let mut out = dims;
    out[D - 1] = d_out;
    y.reshape(out)
}

/// Whether [`adamw_first_moment`], [`adamw_second_moment`] and [`adamw_apply`] run fused for
/// tensors like `t` (f32 on the CPU, kernels on). Otherwise the optimizer uses Burn's ops.
pub fn fused_adamw_available(t: &Tensor<1>) -> bool {
    enabled() && on_flex(t) && t.dtype() == DType::F32
}

/// AdamW's first moment in one pass: `exp_avg + (grad − exp_avg)·(1 − β1)`.
pub fn adamw_first_moment(exp_avg: Tensor<1>, grad: Tensor<1>, beta1: f64) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as EncoderKernels>::adamw_first_moment(
        exp_avg.into_dispatch(),
        grad.into_dispatch(),
        (1.0 - beta1) as f32,
    ))
}

/// AdamW's second moment in one pass: `exp_avg_sq·β2 + grad²·(1 − β2)`.
pub fn adamw_second_moment(exp_avg_sq: Tensor<1>, grad: Tensor<1>, beta2: f64) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as EncoderKernels>::adamw_second_moment(
        exp_avg_sq.into_dispatch(),
        grad.into_dispatch(),
        beta2 as f32,
        (1.0 - beta2) as f32,
    ))
}

/// AdamW's parameter update in one pass (see [`adamw::ApplyStep`] for the scalars).
pub fn adamw_apply(
    param: Tensor<1>,
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
    step: adamw::ApplyStep,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as EncoderKernels>::adamw_apply(
        param.into_dispatch(),
        exp_avg.into_dispatch(),
        exp_avg_sq.into_dispatch(),
        step.decay,
        step.step_size,
        step.bias_correction2_sqrt,
        step.eps,
    ))
}

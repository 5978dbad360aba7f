//! # kernels
//!
//! Fused CPU kernels for the hot spots of a BERT training step that burn-flex runs slowly,
//! registered through Burn's backend-extension API so they take part in autodiff like any
//! other op: multi-head attention (forward and backward), the exact GELU, seeded dropout,
//! linear layers as one fused product + bias (f32, or f16 products for inference), AdamW's
//! updates in place and the gradients' sum of squares; plus the allocator settings of the
//! binaries ([`allocator`]).
//!
//! What it is: drop-in replacements with the same numerics as Burn's operations (within the
//! accuracy stated on each kernel), chosen by a [`Kernels`] value that the caller builds once,
//! at the top, and passes down (the encoder keeps it in its model; the optimizer in its
//! step). This is the only crate of the workspace with `unsafe` code (SIMD intrinsics, the
//! allocator's `mallopt`).
//! What it is not: a backend, and it knows no model. A program on any device other than the
//! CPU (CUDA, wgpu) runs [`Kernels::BURN`] ([`Kernels::for_device`], applied once where the
//! device is chosen): every wrapper then calls Burn's own operation. [`Kernels::BURN`] does
//! the same on the CPU, to compare, to rule the kernels out when chasing a numerical
//! question, and to exercise on every CI run the path a GPU takes.

#[macro_use]
mod simd;
pub mod adamw;
pub mod allocator;
pub mod attention;
pub mod attention_softmax;
pub mod dropout;
pub mod erf_gelu;
mod extension;
pub mod fused_linear;
pub mod gemm_f16;
pub mod norm;

pub use extension::EncoderKernels;

use burn::backend::{Dispatch, DispatchDevice};
use burn::nn::{Dropout, Linear};
use burn::tensor::{DType, Distribution, Tensor};

/// The arithmetic of the linear layers' matrix products when no gradient is recorded
/// (evaluation, prediction). Training always computes in f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
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

/// Which implementation runs the hot spots, and in which precision inference products run.
///
/// Built once where a program starts (from its flags; [`Kernels::from_env`] reads the
/// `FINETUNE_KERNELS` variable for the default) and passed down to the model and the
/// optimizer; nothing here reads a global. The fused kernels apply only to f32 tensors on
/// burn-flex; everything else takes Burn's own operations whatever this says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    /// Use the fused CPU kernels where they apply (`false`: Burn's operations everywhere).
    pub fused: bool,
    /// The precision of inference products (f16 only with `fused`, on AVX512-FP16 CPUs).
    pub precision: Precision,
}

impl Default for Kernels {
    /// The fused kernels, f32 inference.
    fn default() -> Self {
        Self {
            fused: true,
            precision: Precision::F32,
        }
    }
}

/// Why a [`Kernels`] setting cannot be used on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unsupported {}

impl Kernels {
    /// Burn's own operations everywhere (the kernels off).
    pub const BURN: Self = Self {
        fused: false,
        precision: Precision::F32,
    };

    /// The default of a program started with `FINETUNE_KERNELS=burn` (or `off`, `0`): Burn's
    /// operations; otherwise the fused kernels. For `main` functions only: code below them
    /// takes the value it is given.
    pub fn from_env() -> Self {
        match std::env::var("FINETUNE_KERNELS").as_deref() {
            Ok("burn") | Ok("off") | Ok("0") => Self::BURN,
            _ => Self::default(),
        }
    }

    /// The same kernels with inference products in `precision`; f16 needs a CPU with
    /// AVX512-FP16.
    pub fn with_precision(self, precision: Precision) -> Result<Self, Unsupported> {
        if precision == Precision::F16 && !gemm_f16::available() {
            return Err(Unsupported(
                "--precision f16 needs a CPU with AVX512-FP16 (Intel Sapphire Rapids or later); use f32",
            ));
        }
        Ok(Self { precision, ..self })
    }

    /// These kernels as they apply on `device`: the fused kernels and f16 products exist on
    /// burn-flex (the CPU) only, so anywhere else (a GPU) this is [`Kernels::BURN`]. Applied
    /// once, where a model or an optimizer is built for its device; the wrappers below then
    /// never ask which device a tensor is on.
    pub fn for_device(self, device: &burn::tensor::Device) -> Self {
        let on_cpu = matches!(
            device.clone().inner().as_dispatch(),
            DispatchDevice::Flex(_)
        );
        if on_cpu { self } else { Self::BURN }
    }

    /// Whether the fused kernel applies to `tensor`: kernels on and f32. A program that
    /// computes elsewhere than on burn-flex has its kernels off ([`Kernels::for_device`]).
    fn applies<const D: usize>(&self, tensor: &Tensor<D>) -> bool {
        let applies = self.fused && tensor.dtype() == DType::F32;
        debug_assert!(
            !applies || on_flex(tensor),
            "fused CPU kernels on {:?}: build the kernels with Kernels::for_device",
            tensor.device()
        );
        applies
    }

    /// transformers' exact `"gelu"`, `0.5·x·(1 + erf(x/√2))`: the fused kernel on the CPU,
    /// Burn's `gelu` elsewhere.
    pub fn gelu<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.fused {
            debug_assert!(on_flex(&x), "fused CPU kernels off the CPU");
            Tensor::from_dispatch(<Dispatch as EncoderKernels>::erf_gelu(x.into_dispatch()))
        } else {
            burn::tensor::activation::gelu(x)
        }
    }

    /// `softmax(scores·scale + mask_bias, dim 3)` for `[B, N, T, K]` attention scores and a
    /// `[B, 1, 1, K]` additive mask (a constant: it gets no gradient): one fused pass on the
    /// CPU, Burn's operations elsewhere.
    pub fn attention_softmax(
        &self,
        scores: Tensor<4>,
        mask_bias: Tensor<4>,
        scale: f64,
    ) -> Tensor<4> {
        let [batch, _, _, keys] = scores.dims();
        let fused = self.applies(&scores)
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

    /// Whether [`Kernels::fused_attention`] applies: on the CPU, f32, a `[B, 1, 1, T]` mask
    /// for `[B, T, H]` projections (training and inference alike).
    pub fn fused_attention_applies(&self, q: &Tensor<3>, mask_bias: &Tensor<4>) -> bool {
        let [batch, seq, _] = q.dims();
        self.applies(q) && mask_bias.dtype() == DType::F32 && mask_bias.dims() == [batch, 1, 1, seq]
    }

    /// The attention context `dropout(softmax(Q·Kᵀ·scale + mask))·V` over `heads` heads, from
    /// and to `[B, T, H]`, in one kernel with its own backward pass ([`attention`]).
    /// `dropout` acts as in [`Kernels::dropout`] (training mode on an autodiff device), with
    /// the same masks as the composed path. Check [`Kernels::fused_attention_applies`] first.
    #[allow(clippy::too_many_arguments)]
    pub fn fused_attention(
        &self,
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

    /// `module`'s dropout (active only in training, on an autodiff device, as Burn's
    /// `Dropout::forward`): the seeded fused kernel on the CPU, Burn's own elsewhere.
    ///
    /// The kernel's seed is drawn from the device's random generator, so `device.seed(s)`
    /// fixes the masks exactly as it fixes Burn's.
    pub fn dropout<const D: usize>(&self, module: &Dropout, x: Tensor<D>) -> Tensor<D> {
        if !dropout_active(module, &x) {
            return x;
        }
        if !self.applies(&x) {
            return module.forward(x);
        }
        let seed = draw_mask_seed(&x.device());
        Tensor::from_dispatch(<Dispatch as EncoderKernels>::seeded_dropout(
            x.into_dispatch(),
            module.prob as f32,
            seed,
        ))
    }

    /// `layer` applied to `x` with every leading dimension folded into the rows of one 2-D
    /// matrix product (`[B·T, in] × [in, out]`), on every backend.
    ///
    /// Burn's `Linear::forward` on a `[B, T, in]` input broadcasts the weight over the batch:
    /// the forward runs B small products and the backward computes the weight gradient per
    /// batch element, then sums the B copies. One large product does the same arithmetic in
    /// one call, and its weight gradient is a single `[in, B·T] × [B·T, out]` product. On the
    /// CPU, with a bias, the product and the bias are one fused op ([`fused_linear`]), in
    /// [`Kernels::precision`] when no gradient is recorded. The effective weight is
    /// `layer.weight.val()`, so LoRA adapters attached to it take part as usual.
    pub fn linear<const D: usize>(&self, layer: &Linear, x: Tensor<D>) -> Tensor<D> {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let rows: usize = dims[..D - 1].iter().product();
        let weight = layer.weight.val();
        let d_out = weight.dims()[1];
        let x = x.reshape([rows, d_in]);
        let y = match &layer.bias {
            Some(bias) => {
                let bias = bias.val();
                let fused =
                    self.applies(&x) && weight.dtype() == DType::F32 && bias.dtype() == DType::F32;
                if fused {
                    Tensor::from_dispatch(<Dispatch as EncoderKernels>::fused_linear(
                        x.into_dispatch(),
                        weight.into_dispatch(),
                        bias.into_dispatch(),
                        self.precision == Precision::F16,
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

    /// Σ x² over all elements of `x` (a gradient, for global-norm clipping): one fused pass
    /// with f64 accumulation on the CPU, Burn's operations elsewhere. Never differentiated.
    pub fn sum_of_squares<const D: usize>(&self, x: &Tensor<D>) -> f64 {
        if self.applies(x) {
            let total = Tensor::<1>::from_dispatch(<Dispatch as EncoderKernels>::sum_of_squares(
                x.clone().into_dispatch(),
            ));
            total.into_scalar::<f32>() as f64
        } else {
            (x.clone() * x.clone()).sum().into_scalar::<f32>() as f64
        }
    }

    /// Whether AdamW's updates run fused for tensors like `t` (f32 on the CPU, kernels on):
    /// [`adamw_first_moment`], [`adamw_second_moment`] and [`adamw_apply`]. Otherwise the
    /// optimizer uses Burn's operations.
    pub fn fused_adamw(&self, t: &Tensor<1>) -> bool {
        self.applies(t)
    }
}

/// Whether `device` is burn-flex (the CPU, where these kernels run), with or without autodiff.
pub fn on_cpu(device: &burn::tensor::Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Whether `tensor` lives on burn-flex, with or without autodiff.
fn on_flex<const D: usize>(tensor: &Tensor<D>) -> bool {
    on_cpu(&tensor.device())
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

/// AdamW's first moment in one pass: `exp_avg + (grad − exp_avg)·(1 − β1)` (check
/// [`Kernels::fused_adamw`] first).
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

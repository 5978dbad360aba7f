//! The fused CPU kernels against Burn's own operations: the same values
//! and the same gradients through autodiff, on contiguous, shared and strided inputs.
//!
//! Tolerance 1e-6 absolute (relative to 1 + |x|): the kernels' stated accuracy is ~2e-7 and
//! both sides are f32.

use burn::tensor::{Device, Distribution, Tensor};
use kernels::Kernels;
use std::sync::{Mutex, MutexGuard};

/// The fused kernels, as a program gets them by default.
fn kernels() -> Kernels {
    Kernels::default()
}

/// Burn's Flex backend keeps one random generator for the whole process, and the test
/// harness runs these tests on parallel threads: a test that seeds it and then counts on
/// the next draws (the dropout-mask test below) must not have another test draw in between.
/// Every test that seeds the generator holds this lock from the seed to its last draw.
static GENERATOR: Mutex<()> = Mutex::new(());

fn seeded(device: &Device, seed: u64) -> MutexGuard<'static, ()> {
    let turn = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    turn
}

fn max_scaled_diff(a: &[f32], b: &[f32], x: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .zip(x)
        .map(|((a, b), x)| (a - b).abs() / (1.0 + x.abs()))
        .fold(0.0, f32::max)
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn gelu_forward_matches_burn() {
    let device = Device::flex();
    let _turn = seeded(&device, 7);
    let x = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 3.0), &device);
    let want = values(burn::tensor::activation::gelu(x.clone()));
    // Shared input (the clone keeps a second owner): written into a new buffer.
    let shared = values(kernels().gelu(x.clone()));
    let xs = values(x.clone());
    assert!(max_scaled_diff(&shared, &want, &xs) < 1e-6);
    // Sole owner: computed in place.
    let owned = values(kernels().gelu(x.clone() * 1.0));
    assert!(max_scaled_diff(&owned, &want, &xs) < 1e-6);
    // A transposed view takes Burn's path for strided tensors and agrees too.
    let t = kernels().gelu(x.clone().transpose());
    let want_t = values(burn::tensor::activation::gelu(x.clone().transpose()));
    let xt = values(x.transpose());
    assert!(max_scaled_diff(&values(t), &want_t, &xt) < 1e-6);
}

#[test]
fn gelu_gradient_matches_burn() {
    let device = Device::flex().autodiff();
    let _turn = seeded(&device, 11);
    let x = Tensor::<2>::random([48, 200], Distribution::Normal(0.0, 3.0), &device).require_grad();
    let w = Tensor::<2>::random([48, 200], Distribution::Normal(0.0, 1.0), &device);

    let fused = kernels().gelu(x.clone()) * w.clone();
    let fused_grads = fused.sum().backward();
    let fused_dx = values(x.grad(&fused_grads).unwrap());

    let reference = burn::tensor::activation::gelu(x.clone()) * w;
    let reference_grads = reference.sum().backward();
    let reference_dx = values(x.grad(&reference_grads).unwrap());

    let xs = values(x.inner());
    assert!(
        max_scaled_diff(&fused_dx, &reference_dx, &xs) < 1e-6,
        "gradients differ"
    );
    // The gradient is not trivially zero or one.
    assert!(fused_dx.iter().any(|g| g.abs() > 0.5));
}

#[test]
fn gelu_inside_a_larger_graph_trains_the_weights_before_it() {
    // A linear layer feeding GELU: the kernel's backward must hand the gradient on.
    let device = Device::flex().autodiff();
    let _turn = seeded(&device, 3);
    let x = Tensor::<2>::random([16, 32], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random([32, 64], Distribution::Normal(0.0, 0.5), &device).require_grad();
    let fused = kernels().gelu(x.clone().matmul(w.clone())).sum();
    let g1 = values(w.grad(&fused.backward()).unwrap());
    let reference = burn::tensor::activation::gelu(x.matmul(w.clone())).sum();
    let g2 = values(w.grad(&reference.backward()).unwrap());
    let diff = g1
        .iter()
        .zip(&g2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "weight gradients differ by {diff}");
}

/// Largest absolute difference between two equally long value lists.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn fused_linear_matches_burn_values_and_gradients() {
    use burn::nn::LinearConfig;
    let device = Device::flex().autodiff();
    let _turn = seeded(&device, 17);
    // Odd sizes (gemm edge tiles); a 3-D input is folded into rows by the wrapper.
    let layer = LinearConfig::new(37, 29).init(&device);
    let x =
        Tensor::<3>::random([3, 11, 37], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let probe = Tensor::<3>::random([3, 11, 29], Distribution::Normal(0.0, 1.0), &device);

    let fused = kernels().linear(&layer, x.clone());
    let reference = layer.forward(x.clone());
    let flat = |t: Tensor<3>| values(t.flatten::<2>(0, 1));
    // Same gemm kernels; only where the bias is added differs (last-bit rounding).
    assert!(max_abs_diff(&flat(fused.clone()), &flat(reference.clone())) < 1e-5);

    let fused_grads = (fused * probe.clone()).sum().backward();
    let reference_grads = (reference * probe).sum().backward();
    // Each parameter's gradient under both graphs, flattened.
    let grads_of = |grads| {
        let bias = layer.bias.as_ref().unwrap().val().grad(grads).unwrap();
        [
            flat(x.grad(grads).unwrap()),
            values(layer.weight.val().grad(grads).unwrap()),
            values(bias.unsqueeze::<2>()),
        ]
    };
    let grad_pairs: Vec<_> = grads_of(&fused_grads)
        .into_iter()
        .zip(grads_of(&reference_grads))
        .collect();
    for (name, (got, want)) in ["input", "weight", "bias"].iter().zip(&grad_pairs) {
        // Sums of up to 33 products of N(0, 1) values: 1e-5 is ~100 ulps at that size.
        assert!(max_abs_diff(got, want) < 1e-5, "{name} gradient differs");
        assert!(
            got.iter().any(|g| g.abs() > 0.1),
            "{name} gradient is trivially small"
        );
    }
}

#[test]
fn fused_linear_on_a_transposed_input_and_without_tracked_weights() {
    use burn::module::Module;
    use burn::nn::LinearConfig;
    let device = Device::flex().autodiff();
    let _turn = seeded(&device, 19);
    // Frozen layer (no weight gradients wanted): only the input's gradient flows.
    let layer = LinearConfig::new(16, 8).init(&device).no_grad();
    let x = Tensor::<2>::random([16, 10], Distribution::Normal(0.0, 1.0), &device).require_grad();
    // A transposed view: the kernel makes it dense first.
    let fused = kernels().linear(&layer, x.clone().transpose());
    let reference = layer.forward(x.clone().transpose());
    assert!(
        max_abs_diff(
            &values(fused.clone().inner()),
            &values(reference.clone().inner())
        ) < 1e-5
    );
    let fused_grads = fused.sum().backward();
    let fused_dx = values(x.grad(&fused_grads).unwrap());
    let reference_dx = values(x.grad(&reference.sum().backward()).unwrap());
    assert!(max_abs_diff(&fused_dx, &reference_dx) < 1e-5);
    assert!(fused_dx.iter().any(|g| g.abs() > 0.1));
    assert!(
        layer.weight.val().grad(&fused_grads).is_none(),
        "frozen weight got a gradient"
    );
}

/// Attention composed from Burn's operations, as `BertSelfAttention` did before the fused
/// kernel (and still does on other backends).
fn composed_attention(
    [q, k, v]: [Tensor<3>; 3],
    mask: Tensor<4>,
    heads: usize,
    scale: f64,
    dropout: &burn::nn::Dropout,
) -> Tensor<3> {
    let [batch, seq, hidden] = q.dims();
    let split = |x: Tensor<3>| {
        x.reshape([batch, seq, heads, hidden / heads])
            .swap_dims(1, 2)
    };
    let scores = split(q).matmul(split(k).transpose());
    let probs = burn::tensor::activation::softmax(scores * scale + mask, 3);
    let probs = kernels().dropout(dropout, probs);
    probs
        .matmul(split(v))
        .swap_dims(1, 2)
        .reshape([batch, seq, hidden])
}

const HEADS: usize = 4;

/// Q, K, V of 3 sequences of 23 tokens, 4 heads of 8; sequence 1 padded after 15 tokens,
/// sequence 2 after 22 (BertModel's mask bias).
fn attention_inputs(device: &Device) -> ([Tensor<3>; 3], Tensor<4>) {
    let (batch, seq, hidden) = (3, 23, 32);
    let x = || Tensor::<3>::random([batch, seq, hidden], Distribution::Normal(0.0, 1.5), device);
    let mut bias = vec![0.0f32; batch * seq];
    bias[seq + 15..2 * seq].fill(f32::MIN);
    bias[3 * seq - 1] = f32::MIN;
    let mask = Tensor::<1>::from_floats(bias.as_slice(), device).reshape([batch, 1, 1, seq]);
    ([x(), x(), x()], mask)
}

fn flat(t: Tensor<3>) -> Vec<f32> {
    let [b, s, h] = t.dims();
    values(t.reshape([b * s, h]))
}

#[test]
fn fused_attention_matches_the_composed_operations() {
    let device = Device::flex();
    let _turn = seeded(&device, 5);
    let ([q, k, v], mask) = attention_inputs(&device);
    assert!(kernels().fused_attention_applies(&q, &mask));
    let scale = 1.0 / 8f64.sqrt();
    let no_dropout = burn::nn::DropoutConfig::new(0.1).init();
    let fused = kernels().fused_attention(
        q.clone(),
        k.clone(),
        v.clone(),
        mask.clone(),
        HEADS,
        scale,
        &no_dropout,
    );
    let want = composed_attention([q, k, v], mask, HEADS, scale, &no_dropout);
    let (got, want) = (flat(fused), flat(want));
    assert!(
        max_abs_diff(&got, &want) < 1e-5,
        "{}",
        max_abs_diff(&got, &want)
    );
}

#[test]
fn fused_attention_gradients_and_dropout_masks_match_the_composed_operations() {
    let device = Device::flex().autodiff();
    let _turn = seeded(&device, 6);
    let (inputs, mask) = attention_inputs(&device);
    let inputs = inputs.map(|x| x.require_grad());
    let weights = Tensor::<3>::random([3, 23, 32], Distribution::Normal(0.0, 1.0), &device);
    let scale = 1.0 / 8f64.sqrt();
    let dropout = burn::nn::DropoutConfig::new(0.2).init();
    // Both paths draw their mask seed from the device generator: seed it the same way.
    device.seed(42);
    let [q, k, v] = inputs.clone();
    let fused = kernels().fused_attention(q, k, v, mask.clone(), HEADS, scale, &dropout);
    device.seed(42);
    let composed = composed_attention(inputs.clone(), mask, HEADS, scale, &dropout);
    let fused_values = flat(fused.clone());
    assert!(max_abs_diff(&fused_values, &flat(composed.clone())) < 1e-5);
    let fused_grads = (fused * weights.clone()).sum().backward();
    let composed_grads = (composed * weights).sum().backward();
    for (i, x) in inputs.iter().enumerate() {
        let a = flat(x.grad(&fused_grads).unwrap());
        let b = flat(x.grad(&composed_grads).unwrap());
        assert!(
            max_abs_diff(&a, &b) < 1e-5,
            "input {i}: {}",
            max_abs_diff(&a, &b)
        );
    }
    // Dropout acted: without it the output differs.
    device.seed(42);
    let [q, k, v] = inputs;
    let undropped = kernels().fused_attention(
        q.inner(),
        k.inner(),
        v.inner(),
        attention_inputs(&Device::flex()).1,
        HEADS,
        scale,
        &dropout,
    );
    assert!(max_abs_diff(&flat(undropped), &fused_values) > 1e-2);
}

//! The fused CPU kernels (encoder::kernels) against Burn's own operations: the same values
//! and the same gradients through autodiff, on contiguous, shared and strided inputs.
//!
//! Tolerance 1e-6 absolute (relative to 1 + |x|): the kernels' stated accuracy is ~2e-7 and
//! both sides are f32.

use burn::tensor::{Device, Distribution, Tensor};

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
    device.seed(7);
    let x = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 3.0), &device);
    let want = values(burn::tensor::activation::gelu(x.clone()));
    // Shared input (the clone keeps a second owner): written into a new buffer.
    let shared = values(encoder::kernels::gelu(x.clone()));
    let xs = values(x.clone());
    assert!(max_scaled_diff(&shared, &want, &xs) < 1e-6);
    // Sole owner: computed in place.
    let owned = values(encoder::kernels::gelu(x.clone() * 1.0));
    assert!(max_scaled_diff(&owned, &want, &xs) < 1e-6);
    // A transposed view takes Burn's path for strided tensors and agrees too.
    let t = encoder::kernels::gelu(x.clone().transpose());
    let want_t = values(burn::tensor::activation::gelu(x.clone().transpose()));
    let xt = values(x.transpose());
    assert!(max_scaled_diff(&values(t), &want_t, &xt) < 1e-6);
}

#[test]
fn gelu_gradient_matches_burn() {
    let device = Device::flex().autodiff();
    device.seed(11);
    let x = Tensor::<2>::random([48, 200], Distribution::Normal(0.0, 3.0), &device).require_grad();
    let w = Tensor::<2>::random([48, 200], Distribution::Normal(0.0, 1.0), &device);

    let fused = encoder::kernels::gelu(x.clone()) * w.clone();
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
    device.seed(3);
    let x = Tensor::<2>::random([16, 32], Distribution::Normal(0.0, 1.0), &device);
    let w = Tensor::<2>::random([32, 64], Distribution::Normal(0.0, 0.5), &device).require_grad();
    let fused = encoder::kernels::gelu(x.clone().matmul(w.clone())).sum();
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

//! Criterion benches of the kernels alone, on MiniLM's shapes at batch 32 x 128 tokens: the
//! linear layers' product (f32 gemm against f16 products, where the CPU has AVX512-FP16) and
//! the fused GELU against Burn's own on the intermediate activation (32x128x1536).
//! Run: `cargo bench -p finetune-kernels --bench kernels`.

use std::time::Duration;

use burn::tensor::{Device, Distribution, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use kernels::Kernels;

const BATCH: usize = 32;
const SEQ: usize = 128;

/// The linear-layer product alone, f32 (gemm) against f16 products, on a feed-forward shape.
fn linear_product(c: &mut Criterion) {
    use kernels::{Precision, fused_linear};
    let (m, k, n) = (BATCH * SEQ, 384, 1536);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729 % 1000) as f32 / 1e4) - 0.05)
        .collect();
    let bias = vec![0.0f32; n];
    for precision in [Precision::F32, Precision::F16] {
        if precision == Precision::F16 && !kernels::gemm_f16::available() {
            continue;
        }
        c.bench_function(&format!("linear 4096x384x1536 {precision:?}"), |b| {
            b.iter(|| fused_linear::forward(&x, &w, &bias, m, k, n, precision))
        });
    }
}

fn gelu(c: &mut Criterion) {
    let device = Device::flex();
    let x = Tensor::<3>::random([BATCH, SEQ, 1536], Distribution::Normal(0.0, 1.0), &device);
    c.bench_function("gelu 32x128x1536 fused", |b| {
        b.iter(|| Kernels::default().gelu(x.clone()).into_data())
    });
    c.bench_function("gelu 32x128x1536 burn", |b| {
        b.iter(|| burn::tensor::activation::gelu(x.clone()).into_data())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    targets = linear_product, gelu
}
criterion_main!(benches);

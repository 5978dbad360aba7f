//! Criterion benches of the encoder alone: an inference forward and a forward + backward at
//! batch 32 x 128 tokens, plus the fused GELU against Burn's own on a 32x128x1536 activation
//! (MiniLM's intermediate layer at that batch).
//!
//! Uses the fetched all-MiniLM-L6-v2 (scripts/fetch-model) and falls back to the tiny test
//! encoder (tests/fixtures/encoder/tiny-bert) when it is missing, saying so.
//! Run: `cargo bench -p finetune-encoder --bench encoder`.

use std::path::PathBuf;
use std::time::Duration;

use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use encoder::{BertModel, EncoderInput, load_pretrained};

const BATCH: usize = 32;
const SEQ: usize = 128;

fn model_dir() -> PathBuf {
    let dir = encoder::default_model_dir();
    if dir.is_dir() {
        return dir;
    }
    eprintln!(
        "{} missing (scripts/fetch-model): benchmarking the tiny test encoder instead",
        dir.display()
    );
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/encoder/tiny-bert")
}

fn input(vocab: usize, device: &Device) -> EncoderInput {
    let ids: Tensor<2, Int> = Tensor::<2>::random(
        [BATCH, SEQ],
        Distribution::Uniform(1000.0f64.min(vocab as f64 / 2.0), vocab as f64 - 1.0),
        device,
    )
    .int();
    EncoderInput {
        token_type_ids: ids.zeros_like(),
        attention_mask: ids.ones_like(),
        input_ids: ids,
    }
}

fn forward(c: &mut Criterion) {
    let device = Device::flex();
    device.seed(0);
    let p = load_pretrained(&model_dir(), &device).expect("model loads");
    let vocab = p.config.vocab_size;
    let model: BertModel = p.model;
    let batch = input(vocab, &device);
    c.bench_function("bert forward 32x128", |b| {
        b.iter(|| {
            let out = model.forward(batch.clone());
            out.last_hidden_state.into_data()
        })
    });

    if encoder::kernels::gemm_f16::available() {
        encoder::kernels::set_inference_precision(encoder::kernels::Precision::F16)
            .expect("f16 available");
        c.bench_function("bert forward 32x128 f16 products", |b| {
            b.iter(|| {
                let out = model.forward(batch.clone());
                out.last_hidden_state.into_data()
            })
        });
        encoder::kernels::set_inference_precision(encoder::kernels::Precision::F32)
            .expect("f32 is always available");
    }

    let train = device.clone().autodiff();
    let p = load_pretrained(&model_dir(), &train).expect("model loads");
    let model = p.model;
    let batch = input(vocab, &train);
    c.bench_function("bert forward+backward 32x128", |b| {
        b.iter(|| {
            let out = model.forward(batch.clone());
            let grads = out.last_hidden_state.mean().backward();
            std::hint::black_box(grads);
        })
    });
}

/// The linear-layer product alone, f32 (gemm) against f16 products, on a feed-forward shape.
fn linear_product(c: &mut Criterion) {
    use encoder::kernels::{Precision, fused_linear};
    let (m, k, n) = (BATCH * SEQ, 384, 1536);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) - 0.5)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729 % 1000) as f32 / 1e4) - 0.05)
        .collect();
    let bias = vec![0.0f32; n];
    for precision in [Precision::F32, Precision::F16] {
        if precision == Precision::F16 && !encoder::kernels::gemm_f16::available() {
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
        b.iter(|| encoder::kernels::gelu(x.clone()).into_data())
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
    targets = forward, linear_product, gelu
}
criterion_main!(benches);

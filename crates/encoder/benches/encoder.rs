//! Criterion benches of the encoder alone: an inference forward (f32, and f16 products where
//! the CPU has AVX512-FP16) and a forward + backward at batch 32 x 128 tokens. The kernels'
//! own benches (linear product, GELU) are in `crates/kernels/benches`.
//!
//! Uses the fetched all-MiniLM-L6-v2 (scripts/fetch-model) and falls back to the tiny test
//! encoder (tests/fixtures/encoder/tiny-bert) when it is missing, saying so.
//! Run: `cargo bench -p finetune-encoder --bench encoder`.

use std::path::PathBuf;
use std::time::Duration;

use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{Criterion, criterion_group, criterion_main};
use encoder::{BertModel, EncoderInput, Kernels, Precision, load_pretrained};

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
    // As a binary would: the kernels from FINETUNE_KERNELS (fused unless `burn`).
    let kernels = Kernels::from_env();
    let p = load_pretrained(&model_dir(), &device).expect("model loads");
    let vocab = p.config.vocab_size;
    let model: BertModel = p.model.with_kernels(kernels);
    let batch = input(vocab, &device);
    c.bench_function("bert forward 32x128", |b| {
        b.iter(|| {
            let out = model.forward(batch.clone());
            out.last_hidden_state.into_data()
        })
    });

    if let Ok(half) = kernels.with_precision(Precision::F16) {
        let model = model.clone().with_kernels(half);
        c.bench_function("bert forward 32x128 f16 products", |b| {
            b.iter(|| {
                let out = model.forward(batch.clone());
                out.last_hidden_state.into_data()
            })
        });
    }

    let train = device.clone().autodiff();
    let p = load_pretrained(&model_dir(), &train).expect("model loads");
    let model = p.model.with_kernels(kernels);
    let batch = input(vocab, &train);
    c.bench_function("bert forward+backward 32x128", |b| {
        b.iter(|| {
            let out = model.forward(batch.clone());
            let grads = out.last_hidden_state.mean().backward();
            std::hint::black_box(grads);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    targets = forward
}
criterion_main!(benches);

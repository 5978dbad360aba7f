//! `step-bench`: times one inference forward or one full training step of sequence
//! classification on random token ids, the finetune half of `scripts/bench/bench-vs-pytorch`.
//!
//! The training step is the trainer's own code ([`tuning::engine::Step`]): forward,
//! cross-entropy, backward, gradient accumulation buffer, global-norm clipping at 1.0, AdamW
//! with decoupled weight decay.
//! Prints one JSON object: the per-iteration seconds, their median, sequences/s, tokens/s
//! and the process's peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use clap::{Parser, ValueEnum};
use encoder::checkpoint::named_params;
use encoder::{DeviceChoice, Kernels, TokenizedWindow, load_pretrained};
use sentiment::data::LabelSet;
use sentiment::head::Pooling;
use sentiment::task::{Feature, SentimentTask};
use serde_json::json;
use tuning::Task;
use tuning::app::cli::PrecisionFlag;
use tuning::engine::Step;
use tuning::engine::optimizer::{AdamW, AdamWConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Forward pass without autodiff (evaluation mode: no dropout).
    Infer,
    /// Forward, loss, backward, clipping and an AdamW update (training mode: dropout on).
    Train,
}

#[derive(Parser, Debug)]
#[command(about = "Time a forward pass or a training step on random token ids")]
struct Args {
    /// Hugging Face model directory (default: the fetched all-MiniLM-L6-v2).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "infer")]
    mode: Mode,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Untimed iterations first (allocator and thread pools warm up).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    #[arg(long, default_value_t = 10)]
    iters: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Inference products in f32 or f16 (AVX512-FP16 CPUs); training steps are always f32.
    #[arg(long, value_enum, default_value = "f32")]
    precision: PrecisionFlag,
    /// Where to compute: cpu, cuda[:N] (`cuda` feature) or wgpu (`wgpu` feature). A GPU's
    /// queue is drained before each iteration's clock stops.
    #[arg(long, env = "FINETUNE_DEVICE", default_value = "cpu")]
    device: DeviceChoice,
}

/// Token ids drawn uniformly from the vocabulary minus the first 1000 entries (BERT's
/// special and unused tokens; the first half for a vocabulary smaller than 2000), with
/// [CLS] first and [SEP] last, every position attended.
fn random_features(args: &Args, vocab_size: usize, cls: u32, sep: u32) -> Vec<Feature> {
    // SplitMix64: a fixed, dependency-free sequence; the Python side draws its own ids, the
    // values do not change the cost of a dense forward.
    let mut state = args.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let skip = 1000.min(vocab_size / 2) as u32;
    (0..args.batch_size)
        .map(|i| {
            let mut ids: Vec<u32> = (0..args.seq_len)
                .map(|_| skip + (next() % (vocab_size as u64 - skip as u64)) as u32)
                .collect();
            ids[0] = cls;
            ids[args.seq_len - 1] = sep;
            Feature {
                window: TokenizedWindow {
                    token_type_ids: vec![0; ids.len()],
                    offsets: vec![(0, 0); ids.len()],
                    word_ids: vec![None; ids.len()],
                    sequence_ids: vec![None; ids.len()],
                    input_ids: ids,
                },
                label: Some(i % 2),
            }
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn run(args: &Args) -> Result<()> {
    if args.seq_len < 2 || args.batch_size == 0 || args.iters == 0 {
        bail!("--seq-len must be at least 2, --batch-size and --iters at least 1");
    }
    // As every binary: the kernels from FINETUNE_KERNELS (fused unless `burn`) on the CPU,
    // Burn's operations on a GPU.
    let kernels = args.device.kernels(Kernels {
        precision: args.precision.into(),
        ..Kernels::from_env()
    })?;
    let model_dir = match &args.model {
        Some(dir) => dir.clone(),
        None => encoder::default_model_dir(),
    };
    let device: Device = match args.mode {
        Mode::Infer => args.device.open()?,
        Mode::Train => args.device.open()?.autodiff(),
    };
    // Work queued on a GPU counts in the iteration that queued it.
    let drain = |device: &Device| device.sync().map_err(|e| anyhow::anyhow!("{e:?}"));
    device.seed(args.seed);
    let pretrained = load_pretrained(&model_dir, &device)?;
    let config = pretrained.config.clone();
    if args.seq_len > config.max_sequence_length() {
        bail!(
            "--seq-len {} is longer than the model's longest input ({} tokens)",
            args.seq_len,
            config.max_sequence_length()
        );
    }
    // The tokens the tokenizer puts around a text ([CLS] .. [SEP], <s> .. </s>), from the
    // empty text.
    let empty = pretrained
        .tokenizer
        .encode("", None, &encoder::EncodeOptions::default())
        .map_err(|e| anyhow::anyhow!("{}: cannot tokenize: {e}", model_dir.display()))?;
    let (cls, sep) = match empty[0].input_ids[..] {
        [first, .., last] => (first, last),
        _ => bail!(
            "{}: the tokenizer adds no tokens around a text",
            model_dir.display()
        ),
    };
    let task = SentimentTask {
        labels: LabelSet::from_names(["0", "1"]),
        pooling: Pooling::Pooler,
    };
    let features = random_features(args, config.vocab_size, cls, sep);
    let batch: Vec<&Feature> = features.iter().collect();
    let num_layers = pretrained.model.num_layers();
    let model = task.build_model(
        pretrained.model.with_kernels(kernels),
        &config,
        config.hidden_dropout_prob,
        &device,
    );

    let mut seconds = Vec::with_capacity(args.iters);
    match args.mode {
        Mode::Infer => {
            let model = model.valid();
            let inference = device.clone().inner();
            for i in 0..args.warmup + args.iters {
                let start = Instant::now();
                let logits = task.predict(&model, &batch, &inference);
                std::hint::black_box(logits);
                drain(&inference)?;
                if i >= args.warmup {
                    seconds.push(start.elapsed().as_secs_f64());
                }
            }
        }
        Mode::Train => {
            let plan = tuning::Strategy::default().plan(&named_params(&model), num_layers, 0);
            let (mut model, groups) = plan.apply(model);
            let mut step = Step {
                optimizer: AdamW::new(
                    AdamWConfig {
                        weight_decay: 0.01,
                        ..AdamWConfig::default()
                    },
                    kernels,
                ),
                max_grad_norm: 1.0,
                seed: args.seed,
            };
            let micro_batches = [batch];
            let mut micro_index = 0;
            for i in 0..args.warmup + args.iters {
                let start = Instant::now();
                let (updated, report) = step.run(
                    &task,
                    model,
                    &micro_batches,
                    2e-5,
                    &groups,
                    &mut micro_index,
                    &device,
                )?;
                model = updated;
                std::hint::black_box(report);
                drain(&device)?;
                if i >= args.warmup {
                    seconds.push(start.elapsed().as_secs_f64());
                }
            }
        }
    }
    let median_s = median(&seconds);
    let report = json!({
        "framework": "finetune",
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "warmup": args.warmup,
        "iters": args.iters,
        "seconds": seconds,
        "median_s": median_s,
        "sequences_per_s": args.batch_size as f64 / median_s,
        "tokens_per_s": (args.batch_size * args.seq_len) as f64 / median_s,
        "peak_rss_bytes": tuning::app::cli::peak_rss_bytes(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "device": args.device.to_string(),
        "kernels": if kernels.fused { "fused" } else { "burn" },
        "precision": kernels.precision,
    });
    println!("{report}");
    Ok(())
}

fn main() {
    tuning::app::cli::keep_freed_memory();
    let args = Args::parse();
    tuning::app::cli::exit_on_error("step-bench", run(&args));
}

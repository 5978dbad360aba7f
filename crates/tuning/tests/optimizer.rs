//! AdamW, clipping, accumulation, freezing and layer-wise learning rates, pinned by hand
//! computations and by invariants that must hold exactly.

mod common;

use std::collections::HashMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use encoder::Kernels;
use encoder::checkpoint::{hf_state_dict, named_params};
use encoder::load_pretrained_with;
use tuning::Task;
use tuning::engine::optimizer::{AdamW, AdamWConfig, GradAccumulator, ParamGroup};
use tuning::strategy::Strategy;

fn device() -> Device {
    Device::flex().autodiff()
}

/// A bias-free linear layer whose loss `sum(x W * c)` has the known gradient W[i][j] = c[j]
/// for x = ones.
fn linear_with_known_gradient() -> (Linear, Tensor<2>, Tensor<2>) {
    let device = device();
    let w = Tensor::<2>::from_data(
        TensorData::new(vec![0.5f32, -0.3, 0.8, 0.1, 0.2, -0.7], [2, 3]),
        &device,
    );
    let layer = Linear {
        weight: Param::from_tensor(w.require_grad()),
        bias: None,
    };
    let x = Tensor::<2>::ones([1, 2], &device);
    let c = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5], [1, 3]), &device);
    (layer, x, c)
}

fn grads_of(layer: &Linear, x: &Tensor<2>, c: &Tensor<2>) -> GradAccumulator {
    let loss = (layer.forward(x.clone()) * c.clone()).sum();
    let mut gradients = loss.backward();
    let mut acc = GradAccumulator::default();
    acc.accumulate(layer, &mut gradients, 1.0);
    acc
}

fn values(layer: &Linear) -> Vec<f32> {
    layer
        .weight
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn adamw_matches_pytorch_step_by_step() {
    let (mut layer, x, c) = linear_with_known_gradient();
    let config = AdamWConfig {
        weight_decay: 0.01,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(config, Kernels::default());
    let groups = HashMap::from([(
        layer.weight.id,
        ParamGroup {
            lr_scale: 1.0,
            weight_decay: true,
        },
    )]);
    let lr = 0.1;
    // PyTorch's AdamW in f64 by hand: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
    let mut p: Vec<f64> = values(&layer).iter().map(|&v| v as f64).collect();
    let g = [1.0, -2.0, 0.5, 1.0, -2.0, 0.5];
    let (mut m, mut v) = (vec![0.0f64; 6], vec![0.0f64; 6]);
    for step in 1..=3 {
        let grads = grads_of(&layer, &x, &c);
        layer = opt.step(layer, grads, lr, &groups);
        let (bc1, bc2) = (1.0 - 0.9f64.powi(step), 1.0 - 0.999f64.powi(step));
        for i in 0..6 {
            p[i] *= 1.0 - lr * 0.01;
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
            p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + 1e-8);
        }
        let got = values(&layer);
        for i in 0..6 {
            assert!(
                (got[i] as f64 - p[i]).abs() < 1e-6,
                "step {step} element {i}: {} vs {}",
                got[i],
                p[i]
            );
        }
    }
    assert_eq!(opt.steps, 3);
}

#[test]
fn no_weight_decay_when_the_group_says_so() {
    let (layer, x, c) = linear_with_known_gradient();
    let before = values(&layer);
    let mut opt = AdamW::new(
        AdamWConfig {
            weight_decay: 0.5,
            ..AdamWConfig::default()
        },
        Kernels::default(),
    );
    let groups = HashMap::from([(
        layer.weight.id,
        ParamGroup {
            lr_scale: 1.0,
            weight_decay: false,
        },
    )]);
    let grads = grads_of(&layer, &x, &c);
    let layer = opt.step(layer, grads, 0.01, &groups);
    // First Adam step moves every element by lr * sign(g) (up to eps): no decay term.
    let g = [1.0f32, -2.0, 0.5, 1.0, -2.0, 0.5];
    for ((after, before), g) in values(&layer).iter().zip(&before).zip(g) {
        assert!((after - (before - 0.01 * g.signum())).abs() < 1e-6);
    }
}

#[test]
fn global_norm_clipping_matches_hand_computation() {
    let (layer, x, c) = linear_with_known_gradient();
    let mut grads = grads_of(&layer, &x, &c);
    let expected = (2.0f64 * (1.0 + 4.0 + 0.25)).sqrt();
    assert!((grads.global_norm(&Kernels::default()) - expected).abs() < 1e-6);
    let before = grads.clip_global_norm(1.0, &Kernels::default());
    assert!((before - expected).abs() < 1e-6);
    let coef = 1.0 / (expected + 1e-6);
    let clipped: Vec<f32> = grads
        .get(&layer.weight.id)
        .unwrap()
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let g = [1.0, -2.0, 0.5, 1.0, -2.0, 0.5];
    for (got, g) in clipped.iter().zip(g) {
        assert!((*got as f64 - g * coef).abs() < 1e-6);
    }
    // Below the threshold nothing changes (torch clamps the coefficient to 1).
    let mut grads = grads_of(&layer, &x, &c);
    grads.clip_global_norm(100.0, &Kernels::default());
    assert!((grads.global_norm(&Kernels::default()) - expected).abs() < 1e-6);
}

/// The tiny encoder with the regression head, dropout off.
fn tiny_regressor(device: &Device) -> (RegressionTask, Regressor, Vec<Feature>) {
    let p = load_pretrained_with(&tiny_model_dir(), device, |c| {
        c.hidden_dropout_prob = 0.0;
        c.attention_probs_dropout_prob = 0.0;
    })
    .unwrap();
    let task = RegressionTask::default();
    let model = task.build_model(p.model, &p.config, 0.0, device);
    let features = task.featurize(&examples(32), &p.tokenizer, 64).unwrap();
    (task, model, features)
}

fn flat_grads(model: &Regressor, acc: &GradAccumulator) -> Vec<(String, Vec<f32>)> {
    named_params(model)
        .into_iter()
        .filter_map(|p| {
            acc.get(&p.id)
                .map(|g| (p.name, g.clone().into_data().try_into_vec::<f32>().unwrap()))
        })
        .collect()
}

#[test]
fn accumulating_four_batches_of_eight_equals_one_batch_of_thirty_two() {
    let device = device();
    let (task, model, features) = tiny_regressor(&device);
    let all: Vec<&Feature> = features.iter().collect();
    let mut one = GradAccumulator::default();
    let mut g = task.loss(&model, &all, &device).backward();
    one.accumulate(&model, &mut g, 1.0);
    let mut four = GradAccumulator::default();
    for chunk in all.chunks(8) {
        let mut g = task.loss(&model, chunk, &device).backward();
        four.accumulate(&model, &mut g, 0.25);
    }
    let (a, b) = (flat_grads(&model, &one), flat_grads(&model, &four));
    assert_eq!(a.len(), b.len());
    assert!(a.len() > 30, "every parameter has a gradient");
    let mut worst = 0.0f32;
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        for (x, y) in x.iter().zip(y) {
            worst = worst.max((x - y).abs());
        }
        assert!(worst <= 1e-5, "{name}: accumulated gradient off by {worst}");
    }
}

#[test]
fn frozen_parameters_stay_bit_identical_and_stay_out_of_the_optimizer() {
    let device = device();
    let (task, model, features) = tiny_regressor(&device);
    let names = named_params(&model);
    let plan = Strategy::preset("freeze-bottom:1")
        .unwrap()
        .plan(&names, 2, 0);
    let (mut model, groups) = plan.apply(model);
    let before = hf_state_dict(&model);
    let mut opt = AdamW::new(
        AdamWConfig {
            weight_decay: 0.01,
            ..AdamWConfig::default()
        },
        Kernels::default(),
    );
    let batch: Vec<&Feature> = features.iter().take(8).collect();
    for _ in 0..3 {
        let mut g = task.loss(&model, &batch, &device).backward();
        let mut acc = GradAccumulator::default();
        acc.accumulate(&model, &mut g, 1.0);
        model = opt.step(model, acc, 1e-3, &groups);
    }
    let after = hf_state_dict(&model);
    let ids: HashMap<String, _> = named_params(&model)
        .into_iter()
        .map(|p| (p.name, p.id))
        .collect();
    let mut frozen = 0;
    for entry in &plan.entries {
        let changed = before[&entry.name].data != after[&entry.name].data;
        if entry.trainable {
            assert!(changed, "{} should have trained", entry.name);
            assert!(opt.moments.contains_key(&ids[&entry.name]));
        } else {
            frozen += 1;
            assert!(!changed, "{} is frozen but changed", entry.name);
            assert!(
                !opt.moments.contains_key(&ids[&entry.name]),
                "{} has optimizer state",
                entry.name
            );
        }
    }
    // Embeddings (5 tensors) and layer 0 (16 tensors) are frozen.
    assert_eq!(frozen, 5 + 16);
}

#[test]
fn layerwise_decay_sets_each_layers_learning_rate() {
    let device = device();
    let (task, model, features) = tiny_regressor(&device);
    let names = named_params(&model);
    let plan = Strategy::preset("llrd:0.5").unwrap().plan(&names, 2, 0);
    let (model, groups) = plan.apply(model);
    let before = hf_state_dict(&model);
    let batch: Vec<&Feature> = features.iter().take(8).collect();
    let mut g = task.loss(&model, &batch, &device).backward();
    let mut acc = GradAccumulator::default();
    acc.accumulate(&model, &mut g, 1.0);
    let lr = 1e-3;
    let model =
        AdamW::new(AdamWConfig::default(), Kernels::default()).step(model, acc, lr, &groups);
    let after = hf_state_dict(&model);
    // Adam's first step moves each element by lr_i * g/|g|: the largest move is lr_i.
    let largest_move = |name: &str| {
        before[name]
            .data
            .iter()
            .zip(&after[name].data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max) as f64
    };
    let cases = [
        ("regressor.weight", lr),
        ("bert.pooler.dense.weight", lr),
        ("bert.encoder.layer.1.output.dense.weight", lr),
        ("bert.encoder.layer.0.output.dense.weight", lr * 0.5),
        ("bert.embeddings.word_embeddings.weight", lr * 0.25),
    ];
    for (name, expected) in cases {
        let got = largest_move(name);
        assert!(
            (got - expected).abs() < expected * 1e-3,
            "{name}: moved {got}, expected {expected}"
        );
    }
}

/// The weights of a model as one flat list per parameter name.
fn weights(model: &Regressor) -> Vec<(String, Vec<f32>)> {
    let state = hf_state_dict(model);
    state.into_iter().map(|(k, v)| (k, v.data)).collect()
}

#[test]
fn one_step_of_two_micro_batches_is_one_step_of_their_union() {
    use tuning::engine::Step;
    let device = device();
    let (task, model, features) = tiny_regressor(&device);
    let groups = HashMap::new();
    let step = || Step {
        optimizer: AdamW::new(AdamWConfig::default(), Kernels::default()),
        max_grad_norm: 1.0,
        seed: 7,
    };
    let all: Vec<&Feature> = features.iter().take(16).collect();
    let (mut whole, mut halves) = (step(), step());
    let mut counter = 0;
    let (a, one) = whole
        .run(
            &task,
            model.clone(),
            std::slice::from_ref(&all),
            1e-3,
            &groups,
            &mut counter,
            &device,
        )
        .unwrap();
    assert_eq!(counter, 1, "one micro-batch counted");
    let split = vec![all[..8].to_vec(), all[8..].to_vec()];
    let (b, two) = halves
        .run(&task, model, &split, 1e-3, &groups, &mut counter, &device)
        .unwrap();
    assert_eq!(counter, 3, "two more");
    assert_eq!((one.samples, two.samples), (16, 16));
    assert_eq!(two.losses.len(), 2);
    // Same-length halves: the mean of their losses is the union's loss, the averaged gradient
    // its gradient, so the clipped norm and the updated weights agree. Attention key biases
    // aside: softmax ignores them, their gradients are rounding noise that Adam's first step
    // normalises to a full step of either sign.
    let mean = (two.losses[0] + two.losses[1]) / 2.0;
    assert!(
        (mean - one.losses[0]).abs() < 1e-5,
        "{mean} vs {}",
        one.losses[0]
    );
    assert!((one.grad_norm - two.grad_norm).abs() < 1e-5);
    let (a, b) = (weights(&a), weights(&b));
    for ((name, x), (_, y)) in a.iter().zip(&b).filter(|(w, _)| !w.0.ends_with("key.bias")) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(
            worst <= 1e-6,
            "{name}: the two steps' weights differ by {worst}"
        );
    }
    assert_eq!((whole.optimizer.steps, halves.optimizer.steps), (1, 1));
}

#[test]
fn a_step_whose_loss_is_not_a_number_is_not_taken() {
    use tuning::engine::Step;
    use tuning::engine::step::NonFiniteLoss;
    let device = device();
    let (_, model, features) = tiny_regressor(&device);
    let task = RegressionTask {
        nan_after: Some(0),
        ..RegressionTask::default()
    };
    let mut step = Step {
        optimizer: AdamW::new(AdamWConfig::default(), Kernels::default()),
        max_grad_norm: 1.0,
        seed: 7,
    };
    let batch: Vec<&Feature> = features.iter().take(4).collect();
    let mut counter = 0;
    let err = step
        .run(
            &task,
            model,
            &[batch],
            1e-3,
            &HashMap::new(),
            &mut counter,
            &device,
        )
        .unwrap_err();
    assert!(err.0.is_nan(), "{err}");
    assert_eq!(err.to_string(), "the training loss became NaN");
    assert_eq!(step.optimizer.steps, 0, "no update");
    let _: NonFiniteLoss = err;
}

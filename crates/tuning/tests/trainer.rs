//! The training loop end to end on the tiny encoder: outputs, reproducibility, guards.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;
use tuning::{IntervalStrategy, Trainer, TrainingArgs};

fn args(out: &Path) -> TrainingArgs {
    TrainingArgs {
        output_dir: out.to_path_buf(),
        learning_rate: 1e-3,
        num_train_epochs: 2.0,
        per_device_train_batch_size: 8,
        per_device_eval_batch_size: 16,
        logging_steps: 2,
        warmup_ratio: 0.1,
        weight_decay: 0.01,
        eval_strategy: IntervalStrategy::Epoch,
        max_seq_length: 64,
        ..TrainingArgs::default()
    }
}

/// Burn's random generator is per device and process-wide: runs in parallel test threads
/// would draw from it in turn. A binary runs one training per process; tests take turns.
static ONE_RUN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(task: &RegressionTask, args: TrainingArgs) -> anyhow::Result<tuning::RunSummary> {
    train(task, args, false)
}

fn resume(task: &RegressionTask, args: TrainingArgs) -> anyhow::Result<tuning::RunSummary> {
    train(task, args, true)
}

fn train(
    task: &RegressionTask,
    args: TrainingArgs,
    resume: bool,
) -> anyhow::Result<tuning::RunSummary> {
    train_with(Trainer {
        resume,
        ..Trainer::new(task, args, tiny_model_dir())
    })
}

fn train_with(trainer: Trainer<'_, RegressionTask>) -> anyhow::Result<tuning::RunSummary> {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let train = examples(40);
    let eval = examples(60)[40..].to_vec();
    trainer.train(&train, Some(&eval))
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// metrics.jsonl without its wall-clock fields.
fn deterministic_log(path: &Path) -> Vec<Value> {
    read_lines(path)
        .into_iter()
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            o.remove("samples_per_second");
            o.remove("train_runtime");
            v
        })
        .collect()
}

#[test]
fn a_run_writes_settings_log_results_and_an_hf_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary = run(&RegressionTask::default(), args(&out)).unwrap();
    // 40 features / 8 = 5 steps per epoch, 2 epochs.
    assert_eq!(summary.global_step, 10);
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("training_args.json")).unwrap())
            .unwrap();
    assert_eq!(settings["learning_rate"], 1e-3);
    assert_eq!(settings["strategy"]["freeze_embeddings"], false);
    let log = read_lines(&out.join("metrics.jsonl"));
    let train_lines: Vec<&Value> = log.iter().filter(|l| l.get("loss").is_some()).collect();
    assert_eq!(train_lines.len(), 5, "logging every 2 of 10 steps");
    assert_eq!(train_lines[0]["step"], 2);
    // Warmup: ceil(0.1 * 10) = 1 step, then linear decay: lr at step index 1 is 1e-3 * 9/9.
    assert!((train_lines[0]["learning_rate"].as_f64().unwrap() - 1e-3).abs() < 1e-12);
    let evals: Vec<&Value> = log.iter().filter(|l| l.get("eval_mse").is_some()).collect();
    assert_eq!(evals.len(), 2, "one evaluation per epoch");
    let first_loss = train_lines[0]["loss"].as_f64().unwrap();
    let last_loss = train_lines[4]["loss"].as_f64().unwrap();
    assert!(
        last_loss < first_loss,
        "training reduces the loss: {first_loss} -> {last_loss}"
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval_results.json")).unwrap())
            .unwrap();
    let best = results["eval_mse"].as_f64().unwrap();
    let seen: Vec<f64> = evals
        .iter()
        .map(|e| e["eval_mse"].as_f64().unwrap())
        .collect();
    assert_eq!(
        best,
        seen.iter().cloned().fold(f64::INFINITY, f64::min),
        "best = lowest mse"
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    let weights = std::fs::read(out.join("model.safetensors")).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&weights).unwrap();
    assert!(
        weights
            .names()
            .contains(&"bert.encoder.layer.1.output.dense.weight")
    );
    assert!(weights.names().contains(&"regressor.weight"));
    assert!(out.join("tokenizer.json").is_file());
    for plot in ["train_loss", "learning_rate", "eval_mse"] {
        let bytes = std::fs::read(out.join(format!("plots/{plot}.png"))).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{plot}.png is a PNG");
    }
}

#[test]
fn the_steps_strategy_also_evaluates_after_the_last_step_as_trainer_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut a = args(&out);
    a.eval_strategy = IntervalStrategy::Steps;
    a.eval_steps = Some(3);
    run(&RegressionTask::default(), a).unwrap();
    let log = read_lines(&out.join("metrics.jsonl"));
    let eval_steps: Vec<u64> = log
        .iter()
        .filter(|l| l.get("eval_mse").is_some())
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    // 10 steps: every 3rd, then the last one (transformers' DefaultFlowCallback).
    assert_eq!(eval_steps, [3, 6, 9, 10]);
}

#[test]
fn a_validation_set_that_is_never_evaluated_is_not_featurized() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&dir.path().join("no-eval"));
    a.eval_strategy = IntervalStrategy::No;
    let task = RegressionTask::default();
    let summary = run(&task, a).unwrap();
    assert!(summary.eval.is_none());
    assert_eq!(task.featurized.get(), 40, "the 40 training examples only");
    let task = RegressionTask::default();
    run(&task, args(&dir.path().join("eval"))).unwrap();
    assert_eq!(
        task.featurized.get(),
        60,
        "training and validation examples"
    );
}

#[test]
fn the_same_seed_reproduces_the_same_metrics_log() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    run(&RegressionTask::default(), args(&a)).unwrap();
    run(&RegressionTask::default(), args(&b)).unwrap();
    assert_eq!(
        deterministic_log(&a.join("metrics.jsonl")),
        deterministic_log(&b.join("metrics.jsonl"))
    );
    let other_seed = TrainingArgs {
        seed: 7,
        ..args(&c)
    };
    run(&RegressionTask::default(), other_seed).unwrap();
    assert_ne!(
        deterministic_log(&a.join("metrics.jsonl")),
        deterministic_log(&c.join("metrics.jsonl"))
    );
}

#[test]
fn an_output_dir_holding_a_run_is_refused_unless_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let short = TrainingArgs {
        max_steps: Some(1),
        eval_strategy: IntervalStrategy::No,
        ..args(&out)
    };
    run(&RegressionTask::default(), short.clone()).unwrap();
    let err = run(&RegressionTask::default(), short.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already holds a run") && err.contains("--overwrite-output-dir"),
        "{err}"
    );
    let again = TrainingArgs {
        overwrite_output_dir: true,
        ..short
    };
    run(&RegressionTask::default(), again).unwrap();
    assert_eq!(
        read_lines(&out.join("metrics.jsonl"))
            .iter()
            .filter(|l| l.get("loss").is_some())
            .count(),
        1
    );
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // 5 micro-batches per epoch: the first epoch ends, is evaluated and exported; then NaN.
    let task = RegressionTask {
        nan_after: Some(6),
        ..RegressionTask::default()
    };
    let err = run(&task, args(&out)).unwrap_err().to_string();
    assert!(err.contains("NaN") && err.contains("step 7"), "{err}");
    assert!(
        out.join("model.safetensors").is_file(),
        "the epoch-1 model is kept"
    );
}

#[test]
fn bad_strategy_for_the_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = args(&dir.path().join("run"));
    bad.strategy = tuning::Strategy::preset("freeze-bottom:5").unwrap();
    let err = run(&RegressionTask::default(), bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("freeze_bottom_layers = 5") && err.contains("2 layers"),
        "{err}"
    );
}

#[test]
fn resuming_after_a_crash_reaches_the_same_weights_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, broken) = (dir.path().join("whole"), dir.path().join("broken"));
    // Checkpoints every 3 steps; 10 steps in all; dropout on, so the seeding must line up too.
    let with_saves = |out: &Path| TrainingArgs {
        save_strategy: IntervalStrategy::Steps,
        save_steps: 3,
        save_total_limit: Some(2),
        ..args(out)
    };
    run(&RegressionTask::default(), with_saves(&whole)).unwrap();
    // The interrupted run dies at step 8 (micro-batch 8 turns NaN); its newest checkpoint is
    // step 6, in the middle of epoch 2, with step 7's log lines written after it.
    let crashing = RegressionTask {
        nan_after: Some(7),
        ..RegressionTask::default()
    };
    assert!(run(&crashing, with_saves(&broken)).is_err());
    let steps: Vec<usize> = tuning::engine::checkpoint::list(&broken)
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, vec![3, 6], "save_total_limit keeps the newest two");
    resume(&RegressionTask::default(), with_saves(&broken)).unwrap();

    let a = std::fs::read(whole.join("model.safetensors")).unwrap();
    let b = std::fs::read(broken.join("model.safetensors")).unwrap();
    assert!(
        a == b,
        "the resumed run's best model differs from the uninterrupted run's"
    );
    let final_a = std::fs::read(whole.join("checkpoints/checkpoint-10/model.safetensors")).unwrap();
    let final_b =
        std::fs::read(broken.join("checkpoints/checkpoint-10/model.safetensors")).unwrap();
    assert!(final_a == final_b, "final weights differ after resuming");
    let opt_a =
        std::fs::read(whole.join("checkpoints/checkpoint-10/optimizer.safetensors")).unwrap();
    let opt_b =
        std::fs::read(broken.join("checkpoints/checkpoint-10/optimizer.safetensors")).unwrap();
    assert!(opt_a == opt_b, "optimizer state differs after resuming");
    assert_eq!(
        deterministic_log(&whole.join("metrics.jsonl")),
        deterministic_log(&broken.join("metrics.jsonl")),
        "the resumed log reads as one run"
    );
    let steps: Vec<usize> = tuning::engine::checkpoint::list(&broken)
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, vec![9, 10]);
}

#[test]
fn resume_without_a_checkpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = resume(&RegressionTask::default(), args(&dir.path().join("none")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no checkpoint"), "{err}");
}

fn tensor(path: &Path, name: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name)
        .unwrap_or_else(|_| panic!("{name} not in {}", path.display()))
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn lora_trains_adapters_only_and_exports_merged_weights_that_compute_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lora");
    let mut lora_args = args(&out);
    lora_args.strategy = tuning::Strategy::preset("lora:4").unwrap();
    lora_args.learning_rate = 5e-3;
    let task = RegressionTask::default();
    let summary = run(&task, lora_args).unwrap();
    // Adapters: 2 layers x (query, value) x (32x4 + 4x32); head: pooler 32x32+32, regressor 33.
    assert_eq!(summary.trainable_params, 2 * 2 * (128 + 128) + 1056 + 33);

    let pretrained = tiny_model_dir().join("model.safetensors");
    let last = out.join("checkpoints/checkpoint-10/model.safetensors");
    let export = out.join("model.safetensors");
    for name in [
        "attention.self.query.weight",
        "attention.self.key.weight",
        "output.dense.weight",
    ] {
        let base = tensor(&pretrained, &format!("encoder.layer.1.{name}"));
        assert!(
            base == tensor(&last, &format!("bert.encoder.layer.1.{name}")),
            "{name}: base weight changed"
        );
    }
    // The export has adapters merged in (query changed, key untouched) and no adapter keys.
    let exported_query = tensor(&export, "bert.encoder.layer.1.attention.self.query.weight");
    assert!(exported_query != tensor(&pretrained, "encoder.layer.1.attention.self.query.weight"));
    assert!(
        tensor(&export, "bert.encoder.layer.1.attention.self.key.weight")
            == tensor(&pretrained, "encoder.layer.1.attention.self.key.weight")
    );
    let bytes = std::fs::read(&export).unwrap();
    let names = safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(!names.iter().any(|n| n.contains("lora")), "{names:?}");

    // Reloaded as a plain model, the export computes what the LoRA model computed at its best
    // evaluation.
    let flags = tuning::app::InferenceFlags {
        batch_size: 16,
        max_seq_length: Some(64),
        precision: tuning::app::cli::PrecisionFlag::F32,
        device: Default::default(),
    };
    let model = tuning::app::Inference::<RegressionTask>::load(&out, &flags, 64).unwrap();
    let eval = examples(60)[40..].to_vec();
    let (features, outputs) = model.run(&eval).unwrap();
    let mse = tuning::Task::evaluate(&task, &eval, &features, &outputs)["mse"];
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval_results.json")).unwrap())
            .unwrap();
    let best = results["eval_mse"].as_f64().unwrap();
    assert!(
        (mse - best).abs() < 1e-5,
        "merged export mse {mse} vs LoRA model's {best}"
    );
}

#[test]
fn reinit_top_layers_draws_fresh_weights_for_the_top_layer_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reinit");
    let mut a = args(&out);
    a.strategy = tuning::Strategy::preset("reinit-top:1").unwrap();
    a.learning_rate = 1e-9; // effectively no training: what we see is the initialisation
    a.max_steps = Some(1);
    a.eval_strategy = IntervalStrategy::No;
    run(&RegressionTask::default(), a).unwrap();
    let pretrained = tiny_model_dir().join("model.safetensors");
    let export = out.join("model.safetensors");
    let name = "encoder.layer.1.intermediate.dense.weight";
    let fresh = tensor(&export, &format!("bert.{name}"));
    let old = tensor(&pretrained, name);
    let std = (fresh.iter().map(|v| v * v).sum::<f32>() / fresh.len() as f32).sqrt();
    assert!(
        (std - 0.02).abs() < 0.005,
        "re-initialised with std {std}, expected 0.02"
    );
    let old_std = (old.iter().map(|v| v * v).sum::<f32>() / old.len() as f32).sqrt();
    assert!(old_std > 0.2, "the fixture's weights are large ({old_std})");
    let below = "encoder.layer.0.intermediate.dense.weight";
    let kept = tensor(&export, &format!("bert.{below}"));
    let diff = kept
        .iter()
        .zip(tensor(&pretrained, below))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-6,
        "layer 0 keeps its pretrained weights (moved {diff})"
    );
}

#[test]
fn gradual_unfreezing_trains_one_more_layer_each_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gradual");
    let mut a = args(&out);
    a.strategy = tuning::Strategy::preset("gradual-unfreezing").unwrap();
    a.num_train_epochs = 3.0;
    a.save_strategy = IntervalStrategy::Epoch;
    run(&RegressionTask::default(), a).unwrap();
    let pretrained = tiny_model_dir().join("model.safetensors");
    let same = |step: usize, name: &str| {
        let ckpt = out.join(format!("checkpoints/checkpoint-{step}/model.safetensors"));
        tensor(&ckpt, &format!("bert.{name}")) == tensor(&pretrained, name)
    };
    let (top, bottom, emb) = (
        "encoder.layer.1.output.dense.weight",
        "encoder.layer.0.output.dense.weight",
        "embeddings.word_embeddings.weight",
    );
    // Epoch 0 (steps 1-5): head + layer 1. Epoch 1: + layer 0. Epoch 2 (= L): + embeddings.
    assert!(!same(5, top) && same(5, bottom) && same(5, emb));
    assert!(!same(10, bottom) && same(10, emb));
    assert!(!same(15, emb));
}

#[test]
fn load_best_model_at_end_false_exports_the_final_model() {
    // The highest mse counts as best here, so the best evaluation is the first epoch's (the
    // loss falls) and the final model is a different one.
    let task = RegressionTask::default();
    let dir = tempfile::tempdir().unwrap();
    let settings = |name: &str, load_best_model_at_end: bool| TrainingArgs {
        greater_is_better: Some(true),
        load_best_model_at_end,
        ..args(&dir.path().join(name))
    };
    run(&task, settings("best", true)).unwrap();
    let summary = run(&task, settings("last", false)).unwrap();
    let (best, last) = (dir.path().join("best"), dir.path().join("last"));
    let evals: Vec<f64> = read_lines(&last.join("metrics.jsonl"))
        .iter()
        .filter_map(|l| l.get("eval_mse").and_then(Value::as_f64))
        .collect();
    assert_eq!(evals.len(), 2);
    assert!(
        evals[0] > evals[1],
        "the first epoch is the best: {evals:?}"
    );
    let result = |run: &Path| -> f64 {
        let text = std::fs::read_to_string(run.join("eval_results.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["eval_mse"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(result(&best), evals[0]);
    assert_eq!(result(&last), evals[1]);
    assert_eq!(summary.eval.unwrap()["mse"], evals[1]);
    // The export is the final model, tensor for tensor the last checkpoint; the default run
    // exported the first epoch's.
    let final_weights = last.join("checkpoints/checkpoint-10/model.safetensors");
    for name in [
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.1.output.dense.weight",
        "regressor.weight",
    ] {
        let exported = tensor(&last.join("model.safetensors"), name);
        assert!(exported == tensor(&final_weights, name), "{name}");
        assert!(
            exported != tensor(&best.join("model.safetensors"), name),
            "{name}"
        );
    }
}

/// Checkpoints every 3 steps of a 10-step run.
fn saving(out: &Path) -> TrainingArgs {
    TrainingArgs {
        save_strategy: IntervalStrategy::Steps,
        save_steps: 3,
        ..args(out)
    }
}

#[test]
fn overwriting_a_run_removes_what_it_owned_so_a_resume_cannot_pick_up_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    run(&RegressionTask::default(), saving(&out)).unwrap();
    assert!(out.join("checkpoints/checkpoint-9").is_dir() && out.join("plots").is_dir());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let replacing = TrainingArgs {
        overwrite_output_dir: true,
        max_steps: Some(2),
        save_strategy: IntervalStrategy::No,
        eval_strategy: IntervalStrategy::No,
        ..args(&out)
    };
    run(&RegressionTask::default(), replacing.clone()).unwrap();
    assert!(
        !out.join("checkpoints").exists(),
        "the old checkpoints are gone"
    );
    assert!(
        !out.join("eval_results.json").exists(),
        "and the old results"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    let err = resume(&RegressionTask::default(), replacing)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no checkpoint"), "{err}");
    let steps: Vec<u64> = read_lines(&out.join("metrics.jsonl"))
        .iter()
        .filter_map(|l| l["step"].as_u64())
        .collect();
    assert!(steps.iter().all(|&s| s <= 2), "one run's log: {steps:?}");
}

#[test]
fn a_run_that_fails_to_start_leaves_no_run_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let missing = dir.path().join("no-model");
    let err = train_with(Trainer::new(
        &RegressionTask::default(),
        args(&out),
        missing,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("no-model"), "{err}");
    for file in ["training_args.json", "run_inputs.json", "metrics.jsonl"] {
        assert!(
            !out.join(file).exists(),
            "{file} written before the model loaded"
        );
    }
    run(&RegressionTask::default(), args(&out)).expect("the retry is not refused");
}

#[test]
fn resume_refuses_changed_settings_lets_the_length_grow_and_records_an_allowed_change() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    run(&RegressionTask::default(), saving(&out)).unwrap();
    let smaller_batch = TrainingArgs {
        per_device_train_batch_size: 4,
        ..saving(&out)
    };
    let err = resume(&RegressionTask::default(), smaller_batch)
        .unwrap_err()
        .to_string();
    assert!(err.contains("per_device_train_batch_size: 8 -> 4"), "{err}");
    assert!(err.contains("--allow-changed-settings"), "{err}");
    assert_eq!(
        tuning::TrainingArgs::default().per_device_train_batch_size,
        8,
        "(the test's batch is the default's)"
    );
    let longer = TrainingArgs {
        num_train_epochs: 3.0,
        ..saving(&out)
    };
    let summary = resume(&RegressionTask::default(), longer.clone()).unwrap();
    assert_eq!(summary.global_step, 15, "one more epoch of 5 steps");
    let faster = TrainingArgs {
        learning_rate: 2e-3,
        num_train_epochs: 4.0,
        ..longer
    };
    train_with(Trainer {
        resume: true,
        allow_changed_settings: true,
        ..Trainer::new(&RegressionTask::default(), faster, tiny_model_dir())
    })
    .unwrap();
    let log = read_lines(&out.join("metrics.jsonl"));
    let event = log
        .iter()
        .find(|l| l.get("event").is_some())
        .expect("the change is recorded");
    assert_eq!(event["step"], 15);
    assert_eq!(event["changes"]["learning_rate"]["was"], "0.001");
    assert_eq!(event["changes"]["learning_rate"]["now"], "0.002");
    let recorded: TrainingArgs =
        serde_json::from_str(&std::fs::read_to_string(out.join("training_args.json")).unwrap())
            .unwrap();
    assert_eq!(recorded.learning_rate, 2e-3);
}

#[test]
fn resume_refuses_other_training_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let data = dir.path().join("train.tsv");
    std::fs::write(&data, "one\n").unwrap();
    let task = RegressionTask::default();
    let with_data = |resume: bool| Trainer {
        resume,
        data_files: vec![("train".into(), data.clone())],
        ..Trainer::new(&task, saving(&out), tiny_model_dir())
    };
    train_with(with_data(false)).unwrap();
    let inputs = json_value(&out.join("run_inputs.json"));
    assert_eq!(inputs["files"]["train"]["bytes"], 4);
    std::fs::write(&data, "two\n").unwrap();
    let err = train_with(with_data(true)).unwrap_err().to_string();
    assert!(err.contains("files.train.fnv1a64"), "{err}");
}

fn json_value(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_second_writer_is_refused_while_a_run_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let held = tuning::engine::run_dir::RunLock::acquire(&out).unwrap();
    let err = run(&RegressionTask::default(), args(&out))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in use") && err.contains(&std::process::id().to_string()),
        "{err}"
    );
    assert!(!out.join("training_args.json").exists());
    drop(held);
    run(&RegressionTask::default(), args(&out)).unwrap();
}

#[test]
fn temporaries_of_an_interrupted_write_are_removed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(out.join("checkpoints/.checkpoint-3.tmp")).unwrap();
    std::fs::write(
        out.join("checkpoints/.checkpoint-3.tmp/model.safetensors"),
        "x",
    )
    .unwrap();
    std::fs::write(out.join(".model.safetensors.4242.tmp"), "half").unwrap();
    run(&RegressionTask::default(), saving(&out)).unwrap();
    assert!(!out.join(".model.safetensors.4242.tmp").exists());
    assert!(!out.join("checkpoints/.checkpoint-3.tmp").exists());
    let steps: Vec<usize> = tuning::engine::checkpoint::list(&out)
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, vec![3, 6, 9, 10], "never picked up as a checkpoint");
}

//! Strategies on every encoder family: which weights a short run changes, read from the
//! export against the pretrained checkpoint, in BERT's (canonical) names whatever names the
//! family's files use (DistilBERT's `transformer.layer.N.attention.q_lin`, ...).
//!
//! Two layers per fixture; two steps at a large learning rate, so a weight that trains moves
//! by far more than the 0 a frozen one keeps.

use std::collections::BTreeMap;
use std::path::Path;

use encoder::key_map::FamilyKeys;
use encoder::{Checkpoint, ModelFamily};
use tuning::test_support::cli::{Binary, fixture, ok, s};

/// The encoder's weights in canonical names without the `bert.` prefix.
fn encoder_weights(dir: &Path, family: ModelFamily) -> BTreeMap<String, Vec<f32>> {
    let keys = FamilyKeys::of(family);
    Checkpoint::read(&dir.join("model.safetensors"))
        .unwrap()
        .floats
        .into_iter()
        .map(|(name, t)| (keys.to_canonical(&name), t.data))
        .filter_map(|(name, data)| {
            let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
            (name.starts_with("embeddings.") || name.starts_with("encoder."))
                .then_some((name, data))
        })
        .collect()
}

#[test]
fn each_strategy_trains_the_same_parts_on_every_family() {
    let dir = tempfile::tempdir().unwrap();
    let families = [
        ("roberta", ModelFamily::Roberta),
        ("xlm-roberta", ModelFamily::XlmRoberta),
        ("distilbert", ModelFamily::DistilBert),
        ("electra", ModelFamily::Electra),
    ];
    // (strategy, whether a weight of this name trains)
    type Rule = fn(&str) -> bool;
    let strategies: [(&str, Rule); 4] = [
        ("freeze-bottom:1", |name| {
            name.starts_with("encoder.layer.1.")
        }),
        ("bitfit", |name| name.ends_with(".bias")),
        ("lora:2", |name| {
            name.contains("attention.self.query.weight")
                || name.contains("attention.self.value.weight")
        }),
        // First epoch: the head and the top layer only.
        ("gradual-unfreezing", |name| {
            name.starts_with("encoder.layer.1.")
        }),
    ];
    for (name, family) in families {
        let model = fixture(&format!("families/{name}"));
        let before = encoder_weights(&model, family);
        assert!(before.len() > 20, "{name}: {} weights", before.len());
        for (strategy, trains) in strategies {
            let run = dir.path().join(format!("{name}-{strategy}"));
            ok(&Binary::new(env!("CARGO_BIN_EXE_sentiment")).run(&[
                "train",
                "--model",
                s(&model),
                "--output-dir",
                s(&run),
                "--strategy",
                strategy,
                "--learning-rate",
                "1e-2",
                "--max-steps",
                "2",
                "--max-train-samples",
                "16",
                "--per-device-train-batch-size",
                "8",
                "--eval-strategy",
                "no",
                "--save-strategy",
                "no",
            ]));
            let after = encoder_weights(&run, family);
            assert_eq!(
                before.keys().collect::<Vec<_>>(),
                after.keys().collect::<Vec<_>>(),
                "{name} {strategy}"
            );
            for (key, old) in &before {
                let moved = old
                    .iter()
                    .zip(&after[key])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                // The attention key's bias gets no gradient but rounding (softmax does not
                // change when every score of a query moves by the same amount): it may stay.
                if trains(key) && key.ends_with("attention.self.key.bias") {
                    continue;
                }
                if trains(key) {
                    assert!(
                        moved > 1e-4,
                        "{name} {strategy}: {key} did not train ({moved})"
                    );
                } else {
                    assert_eq!(moved, 0.0, "{name} {strategy}: {key} moved by {moved}");
                }
            }
        }
    }
}

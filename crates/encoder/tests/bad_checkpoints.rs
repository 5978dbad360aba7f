//! Every broken model directory gives one clear error that names what is wrong.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::*;
use encoder::{LoadError, load_pretrained};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn broken(edit: impl FnOnce(&Path)) -> (tempfile::TempDir, LoadError) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&tiny("tiny-bert"), dir.path());
    edit(dir.path());
    let err = load_pretrained(dir.path(), &Device::flex()).unwrap_err();
    (dir, err)
}

#[test]
fn missing_directory_points_to_fetch_model_for_the_default() {
    let err = load_pretrained(
        Path::new("/nonexistent/data/models/all-MiniLM-L6-v2"),
        &Device::flex(),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not exist") && text.contains("scripts/fetch-model"),
        "{text}"
    );
}

#[test]
fn missing_weights_file() {
    let (_d, err) = broken(|d| std::fs::remove_file(d.join("model.safetensors")).unwrap());
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors or pytorch_model.bin"),
        "{text}"
    );
}

#[test]
fn missing_config() {
    let (_d, err) = broken(|d| std::fs::remove_file(d.join("config.json")).unwrap());
    assert!(err.to_string().contains("config.json"), "{err}");
}

#[test]
fn truncated_safetensors() {
    let (_d, err) = broken(|d| {
        let path = d.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    });
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("truncated"),
        "{text}"
    );
}

#[test]
fn wrong_shapes_name_the_tensor() {
    let (_d, err) = broken(|d| {
        let path = d.join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"intermediate_size\": 37", "\"intermediate_size\": 40"),
        )
        .unwrap();
    });
    match &err {
        LoadError::ShapeMismatch {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "encoder.layer.0.intermediate.dense.weight");
            assert_eq!(expected, &vec![40, 32]);
            assert_eq!(found, &vec![37, 32]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn unsupported_model_type() {
    let (_d, err) = broken(|d| {
        let path = d.join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"model_type\": \"bert\"", "\"model_type\": \"gpt2\""),
        )
        .unwrap();
    });
    let text = err.to_string();
    assert!(
        text.contains("config.json") && text.contains("gpt2") && text.contains("not supported"),
        "{text}"
    );
}

#[test]
fn missing_tokenizer() {
    let (_d, err) = broken(|d| std::fs::remove_file(d.join("tokenizer.json")).unwrap());
    let text = err.to_string();
    assert!(text.contains("tokenizer.json or vocab.txt"), "{text}");
}

#[test]
fn corrupt_tokenizer() {
    let (_d, err) = broken(|d| std::fs::write(d.join("tokenizer.json"), "{\"version\": ").unwrap());
    let text = err.to_string();
    assert!(
        text.contains("tokenizer.json") && text.contains("cannot load tokenizer"),
        "{text}"
    );
}

#[test]
fn missing_encoder_weights_are_listed_by_name() {
    let (_d, err) = broken(|d| {
        let path = d.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let kept: Vec<_> = st
            .tensors()
            .into_iter()
            .filter(|(name, _)| !name.starts_with("encoder.layer.1.output.dense"))
            .collect();
        let out = safetensors::serialize(kept, None).unwrap();
        std::fs::write(&path, out).unwrap();
    });
    let text = err.to_string();
    assert!(
        text.contains("encoder.layer.1.output.dense.weight")
            && text.contains("encoder.layer.1.output.dense.bias"),
        "{text}"
    );
}

#[test]
fn pytorch_bin_that_is_not_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&tiny("tiny-bert-bin"), dir.path());
    std::fs::write(
        dir.path().join("pytorch_model.bin"),
        b"not a zip file at all",
    )
    .unwrap();
    let err = load_pretrained(dir.path(), &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("pytorch_model.bin"), "{err}");
}

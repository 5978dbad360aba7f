//! Label names in an exported model's `config.json` (`id2label`, `label2id`), as
//! transformers writes and reads them.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use encoder::EncoderConfig;
use serde_json::{Value, json};

/// Records the model class and its labels (id = position in `names`).
pub fn write(config: &mut EncoderConfig, architecture: &str, names: &[String]) {
    let id2label: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), json!(n)))
        .collect();
    let label2id: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), json!(i)))
        .collect();
    let extra = &mut config.extra;
    extra.insert("architectures".into(), json!([architecture]));
    extra.insert("id2label".into(), Value::Object(id2label));
    extra.insert("label2id".into(), Value::Object(label2id));
}

/// The label names of a classifier's config by id, as transformers reads them: `id2label`,
/// or when a config has none, `LABEL_0`, `LABEL_1`, ... for its `num_labels` (2 when absent,
/// transformers' default).
pub fn read_or_default(config: &EncoderConfig, path: &Path) -> Result<Vec<String>> {
    if config.extra.contains_key("id2label") {
        return read(config, path);
    }
    let count = match config.extra.get("num_labels") {
        None => 2,
        Some(value) => value.as_u64().ok_or_else(|| {
            anyhow!(
                "{}: num_labels is not a whole number: {value}",
                path.display()
            )
        })? as usize,
    };
    Ok((0..count).map(|i| format!("LABEL_{i}")).collect())
}

/// Refuses a config whose `architectures` names a model class of another kind than
/// `expected` (a suffix such as `ForTokenClassification`): its weights would not fit the
/// task's head. A config without `architectures` passes.
pub fn check_architecture(config: &EncoderConfig, path: &Path, expected: &[&str]) -> Result<()> {
    let Some(names) = config.extra.get("architectures").and_then(|v| v.as_array()) else {
        return Ok(());
    };
    let names: Vec<&str> = names.iter().filter_map(|n| n.as_str()).collect();
    if names.is_empty()
        || names
            .iter()
            .any(|n| expected.iter().any(|e| n.ends_with(e)))
    {
        return Ok(());
    }
    bail!(
        "{}: a {} checkpoint; this task needs a *{} model",
        path.display(),
        names.join(", "),
        expected.join(" or *")
    )
}

/// The label names of an exported model, by id (`path` names the config in errors).
pub fn read(config: &EncoderConfig, path: &Path) -> Result<Vec<String>> {
    let at = path.display();
    let id2label = config
        .extra
        .get("id2label")
        .and_then(|v| v.as_object())
        .ok_or_else(|| anyhow!("{at}: no id2label; is this a fine-tuned run directory?"))?;
    let mut pairs: Vec<(usize, String)> = id2label
        .iter()
        .map(|(k, v)| {
            let id = k
                .parse()
                .map_err(|_| anyhow!("{at}: id2label key `{k}` is not a number"))?;
            let name = v
                .as_str()
                .ok_or_else(|| anyhow!("{at}: id2label[{k}] is not a string"))?;
            Ok((id, name.to_string()))
        })
        .collect::<Result<_>>()?;
    pairs.sort();
    if pairs.iter().enumerate().any(|(i, (id, _))| i != *id) {
        bail!("{at}: id2label ids are not 0..{}", pairs.len());
    }
    Ok(pairs.into_iter().map(|(_, n)| n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_the_config() {
        let mut config: EncoderConfig = serde_json::from_str(r#"{"model_type": "bert"}"#).unwrap();
        let names = vec!["neg".to_string(), "pos".to_string()];
        write(&mut config, "BertForSequenceClassification", &names);
        assert_eq!(config.extra["label2id"]["pos"], 1);
        assert_eq!(read(&config, Path::new("c.json")).unwrap(), names);
        config
            .extra
            .insert("id2label".into(), json!({"0": "a", "2": "b"}));
        let err = read(&config, Path::new("c.json")).unwrap_err();
        assert!(
            err.to_string()
                .contains("c.json: id2label ids are not 0..2")
        );
    }

    #[test]
    fn without_id2label_labels_are_named_as_transformers_names_them() {
        let at = Path::new("c.json");
        let mut config: EncoderConfig = serde_json::from_str(r#"{"model_type": "bert"}"#).unwrap();
        assert_eq!(
            read_or_default(&config, at).unwrap(),
            ["LABEL_0", "LABEL_1"]
        );
        config.extra.insert("num_labels".into(), json!(3));
        assert_eq!(read_or_default(&config, at).unwrap()[2], "LABEL_2");
        write(&mut config, "BertForSequenceClassification", &["a".into()]);
        assert_eq!(read_or_default(&config, at).unwrap(), ["a"]);
    }

    #[test]
    fn a_checkpoint_of_another_class_is_refused() {
        let at = Path::new("c.json");
        let mut config: EncoderConfig = serde_json::from_str(r#"{"model_type": "bert"}"#).unwrap();
        let expected = ["ForSequenceClassification"];
        assert!(check_architecture(&config, at, &expected).is_ok());
        config
            .extra
            .insert("architectures".into(), json!(["BertForQuestionAnswering"]));
        let err = check_architecture(&config, at, &expected)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("BertForQuestionAnswering") && err.contains("*ForSequenceClassification"),
            "{err}"
        );
        config.extra.insert(
            "architectures".into(),
            json!(["RobertaForSequenceClassification"]),
        );
        assert!(check_architecture(&config, at, &expected).is_ok());
    }
}

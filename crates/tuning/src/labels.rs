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
}

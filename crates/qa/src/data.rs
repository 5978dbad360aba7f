//! Loading extractive QA data: SQuAD v1.1 and v2.0 JSON (plain or `.gz`) and JSONL with
//! `id`, `question`, `context`, `answers` (`{"text": [...], "answer_start": [...]}` as in
//! Hugging Face `datasets`, or a list of `{text, answer_start}`), optional `is_impossible`.
//!
//! Answer offsets are character offsets into the context. An answer whose text is not at its
//! offset is kept out of the example's `answers` and listed in the [`LoadReport`] with its id,
//! so the caller can say how many there were and which (training uses the answers that
//! match; scoring only needs the texts, which are kept in `answer_texts`).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

/// An answer span: its text and its first character in the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub start: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub question: String,
    pub context: String,
    /// Answers whose offsets match the context.
    pub answers: Vec<Answer>,
    /// The texts of all gold answers as given (what the official scores compare with).
    pub answer_texts: Vec<String>,
    /// SQuAD v2.0: the question has no answer in the context.
    pub is_impossible: bool,
    /// Where the example is, for messages: `file: data[i].paragraphs[j].qas[k]` or `file:line`.
    pub source: String,
}

/// What loading found besides the examples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// `version` of a SQuAD JSON file ("1.1", "v2.0", ...), if given.
    pub version: Option<String>,
    /// Answers whose text is not at their offset: (question id, answer text, offset).
    pub mismatched: Vec<(String, String, usize)>,
}

impl LoadReport {
    /// Whether the data is SQuAD v2.0-style (has unanswerable questions).
    pub fn is_v2(&self, examples: &[Example]) -> bool {
        self.version.as_deref().is_some_and(|v| v.contains('2'))
            || examples.iter().any(|e| e.is_impossible)
    }
}

/// Reads SQuAD JSON (`.json`, `.json.gz`) or JSONL (`.jsonl`, `.jsonl.gz`); `-` reads stdin.
pub fn load(path: &Path) -> Result<(Vec<Example>, LoadReport)> {
    let name = tuning::app::cli::input_name(path);
    let raw = tuning::app::cli::read_bytes(path)?;
    let gz = name.ends_with(".gz");
    let bytes = if gz {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| anyhow!("{name}: not a readable gzip file: {e}"))?;
        out
    } else {
        raw
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{name}: not valid UTF-8 at byte {}",
            e.utf8_error().valid_up_to()
        )
    })?;
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let shown = if gz {
        format!("{name} (decompressed)")
    } else {
        name.clone()
    };
    // stdin: SQuAD JSON is one object with `data`; anything else is read as JSONL.
    let jsonl = match tuning::app::cli::is_stdin(path) {
        true => serde_json::from_str::<Value>(&text).map_or(true, |v| v.get("data").is_none()),
        false => stem.ends_with(".jsonl"),
    };
    let (examples, report) = if jsonl {
        parse_jsonl(&text, &shown)?
    } else {
        parse_squad(&text, &shown)?
    };
    if examples.is_empty() {
        bail!("{name}: no questions");
    }
    let mut seen = std::collections::HashSet::new();
    for e in &examples {
        if !seen.insert(e.id.as_str()) {
            bail!("{}: question id `{}` appears twice", e.source, e.id);
        }
    }
    Ok((examples, report))
}

fn string(value: &Value, field: &str, at: &str) -> Result<String> {
    match value.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if field == "id" => Ok(n.to_string()),
        Some(_) => bail!("{at}: field `{field}` must be a string"),
        None => bail!("{at}: missing field `{field}`"),
    }
}

fn offset(value: &Value, at: &str) -> Result<usize> {
    value
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| anyhow!("{at}: `answer_start` must be a non-negative integer"))
}

/// Parses the official SQuAD layout.
pub fn parse_squad(text: &str, name: &str) -> Result<(Vec<Example>, LoadReport)> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "{name}: not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let data = root.get("data").and_then(Value::as_array).ok_or_else(|| {
        anyhow!("{name}: missing `data` (a list of articles); is this SQuAD JSON?")
    })?;
    let mut report = LoadReport {
        version: root
            .get("version")
            .and_then(Value::as_str)
            .map(String::from),
        ..LoadReport::default()
    };
    let mut examples = Vec::new();
    for (a, article) in data.iter().enumerate() {
        let paragraphs = article
            .get("paragraphs")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("{name}: data[{a}]: missing `paragraphs`"))?;
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let at = format!("{name}: data[{a}].paragraphs[{p}]");
            let context = string(paragraph, "context", &at)?;
            let qas = paragraph
                .get("qas")
                .and_then(Value::as_array)
                .ok_or_else(|| anyhow!("{at}: missing `qas`"))?;
            for (q, qa) in qas.iter().enumerate() {
                let at = format!("{at}.qas[{q}]");
                let answers = match qa.get("answers") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, answer)| {
                            let at = format!("{at}.answers[{i}]");
                            Ok((
                                string(answer, "text", &at)?,
                                offset(answer.get("answer_start").unwrap_or(&Value::Null), &at)?,
                            ))
                        })
                        .collect::<Result<Vec<_>>>()?,
                    _ => bail!("{at}: missing `answers` (a list)"),
                };
                let is_impossible = qa
                    .get("is_impossible")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                examples.push(build(
                    string(qa, "id", &at)?,
                    string(qa, "question", &at)?,
                    context.clone(),
                    answers,
                    is_impossible,
                    at,
                    &mut report,
                )?);
            }
        }
    }
    Ok((examples, report))
}

/// Parses JSONL, one question per line.
pub fn parse_jsonl(text: &str, name: &str) -> Result<(Vec<Example>, LoadReport)> {
    let mut report = LoadReport::default();
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let value: Value =
            serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
        let answers = match value.get("answers") {
            // datasets' layout: {"text": [...], "answer_start": [...]}
            Some(Value::Object(columns)) => {
                let texts = columns.get("text").and_then(Value::as_array);
                let starts = columns.get("answer_start").and_then(Value::as_array);
                let (Some(texts), Some(starts)) = (texts, starts) else {
                    bail!("{at}: `answers` needs lists `text` and `answer_start`");
                };
                if texts.len() != starts.len() {
                    bail!(
                        "{at}: {} answer texts but {} answer_start",
                        texts.len(),
                        starts.len()
                    );
                }
                texts
                    .iter()
                    .zip(starts)
                    .map(|(t, s)| {
                        let t = t
                            .as_str()
                            .ok_or_else(|| anyhow!("{at}: answer texts must be strings"))?;
                        Ok((t.to_string(), offset(s, &at)?))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| {
                    Ok((
                        string(a, "text", &at)?,
                        offset(a.get("answer_start").unwrap_or(&Value::Null), &at)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
            Some(_) => bail!("{at}: `answers` must be an object of lists or a list"),
        };
        let is_impossible = value
            .get("is_impossible")
            .and_then(Value::as_bool)
            .unwrap_or(answers.is_empty());
        examples.push(build(
            string(&value, "id", &at)?,
            string(&value, "question", &at)?,
            string(&value, "context", &at)?,
            answers,
            is_impossible,
            at,
            &mut report,
        )?);
    }
    Ok((examples, report))
}

fn build(
    id: String,
    question: String,
    context: String,
    given: Vec<(String, usize)>,
    is_impossible: bool,
    source: String,
    report: &mut LoadReport,
) -> Result<Example> {
    if !is_impossible && given.is_empty() {
        bail!("{source}: question `{id}` has no answers and is not marked is_impossible");
    }
    let chars: Vec<char> = context.chars().collect();
    let mut answers = Vec::new();
    for (text, start) in &given {
        let length = text.chars().count();
        let found: String = chars.iter().skip(*start).take(length).collect();
        if *start + length <= chars.len() && found == *text {
            answers.push(Answer {
                text: text.clone(),
                start: *start,
            });
        } else {
            report.mismatched.push((id.clone(), text.clone(), *start));
        }
    }
    Ok(Example {
        answer_texts: given.into_iter().map(|(t, _)| t).collect(),
        id,
        question,
        context,
        answers,
        is_impossible,
        source,
    })
}

/// Loads a dataset and says on stderr what the loader found: answers not at their offsets
/// (left out of training; scores use the texts). Returns the examples and whether the data is
/// SQuAD v2.0-style.
pub fn load_reporting(path: &Path) -> Result<(Vec<Example>, bool)> {
    let (examples, report) = load(path)?;
    if !report.mismatched.is_empty() {
        let ids: Vec<&str> = report
            .mismatched
            .iter()
            .map(|m| m.0.as_str())
            .take(10)
            .collect();
        eprintln!(
            "qa: {} answer(s) in {} are not at their offsets and are not used for training \
             (scores use the texts): {}{}",
            report.mismatched.len(),
            path.display(),
            ids.join(", "),
            if report.mismatched.len() > 10 {
                ", ..."
            } else {
                ""
            }
        );
    }
    let v2 = report.is_v2(&examples);
    Ok((examples, v2))
}

/// A JSON object of `id -> T` from a file (`predictions.json`, a no-answer probabilities
/// file), with the position of a syntax error; `what` says what the values are.
pub fn read_map<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<HashMap<String, T>> {
    let text = tuning::app::cli::read_utf8(path)?;
    parse_map(&text, &tuning::app::cli::input_name(path), what)
}

/// [`read_map`] of a file's text.
pub fn parse_map<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
    what: &str,
) -> Result<HashMap<String, T>> {
    serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "{name}: line {}, column {}: expected a JSON object of {what}: {e}",
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUAD: &str = r#"{"version": "1.1", "data": [{"title": "T", "paragraphs": [
        {"context": "Émile lives in Paris.", "qas": [
            {"id": "q1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 15},
                                                           {"text": "Paris", "answer_start": 3}]}]}]}]}"#;

    #[test]
    fn squad_offsets_are_characters_and_mismatches_are_reported() {
        let (examples, report) = parse_squad(SQUAD, "dev.json").unwrap();
        let e = &examples[0];
        assert_eq!(
            e.answers,
            vec![Answer {
                text: "Paris".into(),
                start: 15
            }]
        );
        assert_eq!(e.answer_texts.len(), 2, "scoring keeps every gold text");
        assert_eq!(report.mismatched, vec![("q1".into(), "Paris".into(), 3)]);
        assert_eq!(e.source, "dev.json: data[0].paragraphs[0].qas[0]");
    }

    #[test]
    fn malformed_json_and_missing_fields_are_located() {
        let err = parse_squad("{\"data\": [}", "f.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.json: not valid JSON at line 1, column 11"),
            "{err}"
        );
        let missing = r#"{"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": []}]}]}]}"#;
        let err = parse_squad(missing, "f.json").unwrap_err().to_string();
        assert!(
            err.contains("f.json: data[0].paragraphs[0].qas[0]: missing field `id`"),
            "{err}"
        );
        let empty = r#"{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "x", "question": "q", "answers": []}]}]}]}"#;
        let err = parse_squad(empty, "f.json").unwrap_err().to_string();
        assert!(
            err.contains("has no answers and is not marked is_impossible"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_in_both_answer_layouts_and_v2() {
        let text = r#"{"id": "a", "question": "q", "context": "red fox", "answers": {"text": ["fox"], "answer_start": [4]}}
{"id": "b", "question": "q", "context": "red fox", "answers": [{"text": "red", "answer_start": 0}]}
{"id": "c", "question": "q", "context": "red fox", "answers": {"text": [], "answer_start": []}}"#;
        let (examples, report) = parse_jsonl(text, "d.jsonl").unwrap();
        assert_eq!(examples[0].answers[0].start, 4);
        assert_eq!(examples[1].answers[0].text, "red");
        assert!(examples[2].is_impossible);
        assert!(report.is_v2(&examples));
        assert!(report.mismatched.is_empty());
    }

    #[test]
    fn id_maps_read_with_the_position_of_an_error() {
        let map: HashMap<String, String> =
            parse_map(r#"{"q1": "Paris"}"#, "p.json", "answers").unwrap();
        assert_eq!(map["q1"], "Paris");
        let err = parse_map::<String>("{\n\"q1\": 3}", "p.json", "answers").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("p.json: line 2, column") && err.contains("answers"),
            "{err}"
        );
    }
}

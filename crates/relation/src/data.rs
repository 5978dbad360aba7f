//! Loading relation data: the SemEval-2010 Task 8 release format, its answer-key files, and
//! JSONL with character spans.
//!
//! SemEval-2010 Task 8 blocks (CRLF or LF line endings):
//! ```text
//! 1<TAB>"The <e1>author</e1> of a keygen uses a <e2>disassembler</e2> to look at ..."
//! Instrument-Agency(e2,e1)
//! Comment: ...
//! <blank>
//! ```
//! The unlabelled test file has only the first line of each block. JSONL lines are
//! `{"id": .., "text": .., "e1": [start, end], "e2": [start, end], "label": ..}` with
//! character offsets (end exclusive), so other relation datasets plug in.
//!
//! Every error names the file, the line and what is wrong.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow, bail};

/// A character span `[start, end)` of [`Example::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One sentence with its two entities (e1 first in the relation label's sense, not
/// necessarily in the text) and, in labelled data, the relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The sentence id (SemEval: the number before the tab); keys and predictions use it.
    pub id: String,
    /// The sentence without markers.
    pub text: String,
    pub e1: Span,
    pub e2: Span,
    pub label: Option<String>,
    /// Where the example came from, for error messages ("TRAIN_FILE.TXT:5").
    pub source: String,
}

impl Example {
    /// The text of an entity span.
    pub fn entity_text(&self, span: Span) -> String {
        self.text
            .chars()
            .skip(span.start)
            .take(span.end - span.start)
            .collect()
    }
}

/// The nine SemEval-2010 Task 8 relations; each appears as `R(e1,e2)` or `R(e2,e1)`.
pub const SEMEVAL_RELATIONS: [&str; 9] = [
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
];

/// The label of unrelated pairs, left out of the official average.
pub const OTHER: &str = "Other";

/// Whether `label` is one of the 19 SemEval-2010 Task 8 labels.
pub fn is_semeval_label(label: &str) -> bool {
    if label == OTHER {
        return true;
    }
    let Some(base) = label
        .strip_suffix("(e1,e2)")
        .or_else(|| label.strip_suffix("(e2,e1)"))
    else {
        return false;
    };
    SEMEVAL_RELATIONS.contains(&base)
}

/// Lines without their `\r\n` / `\n` ending, numbered from 1.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Loads a SemEval-2010 Task 8 file (`.txt`/`.TXT`, detected by content) or JSONL.
/// `require_labels`: every example must carry a label (training and evaluation data).
pub fn load(path: &Path, require_labels: bool) -> Result<Vec<Example>> {
    let text = tuning::app::cli::read_utf8(path)?;
    let name = tuning::app::cli::input_name(path);
    let is_jsonl = tuning::app::cli::is_jsonl(path, &text);
    let examples = if is_jsonl {
        parse_jsonl(&text, &name)?
    } else {
        parse_semeval(&text, &name)?
    };
    if examples.is_empty() {
        bail!("{name}: no examples");
    }
    let mut seen = HashMap::new();
    for example in &examples {
        if let Some(first) = seen.insert(example.id.clone(), example.source.clone()) {
            bail!(
                "{}: id {} already used at {first}",
                example.source,
                example.id
            );
        }
        if require_labels && example.label.is_none() {
            bail!(
                "{}: example {} has no label (labelled data is needed here)",
                example.source,
                example.id
            );
        }
    }
    Ok(examples)
}

/// Parses the SemEval-2010 Task 8 release format.
pub fn parse_semeval(text: &str, name: &str) -> Result<Vec<Example>> {
    let lines: Vec<(usize, &str)> = numbered_lines(text).collect();
    let mut examples = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = lines[i];
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{line_no}");
        let (id, quoted) = line.split_once('\t').ok_or_else(|| {
            anyhow!(
                "{at}: expected `ID<TAB>\"sentence\"`, found `{}`",
                clip(line)
            )
        })?;
        let id = id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            bail!("{at}: the id `{id}` is not a number");
        }
        let quoted = quoted.trim();
        let sentence = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or_else(|| anyhow!("{at}: the sentence is not in double quotes"))?;
        let (plain, e1, e2) = strip_markers(sentence).map_err(|e| anyhow!("{at}: {e}"))?;
        // The label line, when present: anything that is not blank, not a comment and not
        // the next example's first line.
        let mut label = None;
        if let Some(&(label_no, next)) = lines.get(i)
            && !next.trim().is_empty()
            && !next.starts_with("Comment:")
            && !next.contains('\t')
        {
            let value = next.trim();
            if !is_semeval_label(value) {
                bail!(
                    "{name}:{label_no}: unknown relation label `{value}` (expected Other or one \
                     of {} with (e1,e2) or (e2,e1))",
                    SEMEVAL_RELATIONS.join(", ")
                );
            }
            label = Some(value.to_string());
            i += 1;
        }
        if let Some(&(_, next)) = lines.get(i)
            && next.starts_with("Comment:")
        {
            i += 1;
        }
        examples.push(Example {
            id: id.to_string(),
            text: plain,
            e1,
            e2,
            label,
            source: at,
        });
    }
    Ok(examples)
}

/// Removes `<e1>..</e1>` and `<e2>..</e2>` from a sentence and returns the plain text with
/// both spans (in characters of the plain text).
pub fn strip_markers(sentence: &str) -> std::result::Result<(String, Span, Span), String> {
    const TAGS: [&str; 4] = ["<e1>", "</e1>", "<e2>", "</e2>"];
    let mut plain = String::with_capacity(sentence.len());
    let mut chars = 0usize;
    let mut found: [Option<usize>; 4] = [None; 4];
    let mut rest = sentence;
    while !rest.is_empty() {
        if let Some(tag) = TAGS.iter().position(|t| rest.starts_with(t)) {
            if found[tag].is_some() {
                return Err(format!("marker {} appears twice", TAGS[tag]));
            }
            found[tag] = Some(chars);
            rest = &rest[TAGS[tag].len()..];
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        plain.push(c);
        chars += 1;
        rest = &rest[c.len_utf8()..];
    }
    for (tag, position) in TAGS.iter().zip(&found) {
        if position.is_none() {
            return Err(format!("missing marker {tag}"));
        }
    }
    let span = |open: usize, close: usize| -> std::result::Result<Span, String> {
        let (start, end) = (found[open].unwrap(), found[close].unwrap());
        if end < start {
            return Err(format!("{} comes before {}", TAGS[close], TAGS[open]));
        }
        if end == start {
            return Err(format!(
                "the entity {}..{} is empty",
                TAGS[open], TAGS[close]
            ));
        }
        Ok(Span { start, end })
    };
    let e1 = span(0, 1)?;
    let e2 = span(2, 3)?;
    if overlaps(e1, e2) {
        return Err("the entities are nested or overlap (<e1> and <e2> must be disjoint)".into());
    }
    Ok((plain, e1, e2))
}

fn overlaps(a: Span, b: Span) -> bool {
    a.start < b.end && b.start < a.end
}

fn clip(line: &str) -> String {
    let mut s: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        s.push_str("...");
    }
    s
}

/// Parses JSONL: `text`, `e1`/`e2` as `[start, end]` or `{"start", "end"}` character spans,
/// optional `id` (string or number; default: the line number) and `label`.
pub fn parse_jsonl(text: &str, name: &str) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (line_no, line) in numbered_lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{line_no}");
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
        let text = value
            .get("text")
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow!("{at}: missing string field `text`"))?
            .to_string();
        let length = text.chars().count();
        let span = |field: &str| -> Result<Span> {
            let v = value
                .get(field)
                .ok_or_else(|| anyhow!("{at}: missing field `{field}`"))?;
            let pair = match v {
                serde_json::Value::Array(a) if a.len() == 2 => (a[0].as_u64(), a[1].as_u64()),
                serde_json::Value::Object(o) => (
                    o.get("start").and_then(|x| x.as_u64()),
                    o.get("end").and_then(|x| x.as_u64()),
                ),
                _ => (None, None),
            };
            let (Some(start), Some(end)) = pair else {
                bail!("{at}: field `{field}` must be [start, end] or {{\"start\", \"end\"}}");
            };
            let (start, end) = (start as usize, end as usize);
            if start >= end || end > length {
                bail!(
                    "{at}: field `{field}`: span [{start}, {end}) is empty or outside the text \
                     ({length} characters)"
                );
            }
            Ok(Span { start, end })
        };
        let (e1, e2) = (span("e1")?, span("e2")?);
        if overlaps(e1, e2) {
            bail!("{at}: the spans e1 and e2 overlap");
        }
        let id = match value.get("id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            None => line_no.to_string(),
            Some(_) => bail!("{at}: field `id` must be a string or a number"),
        };
        let label = match value.get("label") {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            None | Some(serde_json::Value::Null) => None,
            Some(_) => bail!("{at}: field `label` must be a string"),
        };
        examples.push(Example {
            id,
            text,
            e1,
            e2,
            label,
            source: at,
        });
    }
    Ok(examples)
}

/// An answer key: `ID<TAB>Label` lines (the official format of keys and predictions).
/// Returns (id, label, line) in file order; duplicate ids are errors, as in the scorer.
pub fn read_key(path: &Path) -> Result<Vec<(String, String, usize)>> {
    let text = tuning::app::cli::read_utf8(path)?;
    let name = tuning::app::cli::input_name(path);
    let mut entries = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line_no, line) in numbered_lines(&text) {
        if line.trim().is_empty() {
            continue;
        }
        let (id, label) = line
            .split_once('\t')
            .ok_or_else(|| anyhow!("{name}:{line_no}: expected `ID<TAB>Relation`"))?;
        let (id, label) = (id.trim(), label.trim());
        if id.is_empty() || label.is_empty() {
            bail!("{name}:{line_no}: expected `ID<TAB>Relation`, one of them is empty");
        }
        if let Some(first) = seen.insert(id.to_string(), line_no) {
            bail!("{name}:{line_no}: id {id} already given on line {first}");
        }
        entries.push((id.to_string(), label.to_string(), line_no));
    }
    if entries.is_empty() {
        bail!("{name}: no `ID<TAB>Relation` lines");
    }
    Ok(entries)
}

/// Whether a file looks like a dataset (SemEval blocks or JSONL) rather than an answer key.
pub fn is_dataset(path: &Path) -> Result<bool> {
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "json")
    ) {
        return Ok(true);
    }
    let text = tuning::app::cli::read_utf8(path)?;
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Ok(first
        .split_once('\t')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('"')))
}

/// The label names in a stable order: SemEval's 19 labels in their canonical order when the
/// data uses only those, else the sorted set of labels seen.
pub fn label_names<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<&str> = labels.collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.iter().all(|l| is_semeval_label(l)) {
        let mut names = vec![OTHER.to_string()];
        for relation in SEMEVAL_RELATIONS {
            names.push(format!("{relation}(e1,e2)"));
            names.push(format!("{relation}(e2,e1)"));
        }
        return names;
    }
    seen.into_iter().map(str::to_string).collect()
}

/// Copies of `examples` without their labels (what the model is run on).
pub fn without_labels(examples: &[Example]) -> Vec<Example> {
    examples
        .iter()
        .map(|e| Example {
            label: None,
            ..e.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKS: &str = "1\t\"The <e1>author</e1> of a keygen uses a <e2>disassembler</e2>.\"\r\n\
        Instrument-Agency(e2,e1)\r\nComment:\r\n\r\n\
        2\t\"A <e2>cup</e2> of <e1>tea</e1>.\"\r\nContent-Container(e1,e2)\r\nComment: x\r\n\r\n";

    #[test]
    fn semeval_blocks_with_crlf() {
        let examples = parse_semeval(BLOCKS, "t.txt").unwrap();
        assert_eq!(examples.len(), 2);
        let first = &examples[0];
        assert_eq!(first.id, "1");
        assert_eq!(first.text, "The author of a keygen uses a disassembler.");
        assert_eq!(first.entity_text(first.e1), "author");
        assert_eq!(first.entity_text(first.e2), "disassembler");
        assert_eq!(first.label.as_deref(), Some("Instrument-Agency(e2,e1)"));
        assert_eq!(first.source, "t.txt:1");
        let second = &examples[1];
        assert_eq!(second.entity_text(second.e1), "tea");
        assert_eq!(second.entity_text(second.e2), "cup");
        assert_eq!(second.source, "t.txt:5");
    }

    #[test]
    fn unlabelled_test_file() {
        let text = "8001\t\"The <e1>a</e1> b <e2>c</e2>\"\n8002\t\"<e1>x</e1> <e2>y</e2>\"\n";
        let examples = parse_semeval(text, "t").unwrap();
        assert_eq!(examples.len(), 2);
        assert!(examples.iter().all(|e| e.label.is_none()));
    }

    #[test]
    fn marker_errors_name_the_line_and_the_problem() {
        let bad = |sentence: &str| {
            parse_semeval(&format!("\n7\t\"{sentence}\"\nOther\n"), "f.txt")
                .unwrap_err()
                .to_string()
        };
        assert!(bad("no markers").contains("f.txt:2: missing marker <e1>"));
        assert!(bad("<e1>a</e1> b").contains("missing marker <e2>"));
        assert!(bad("<e1>a <e2>b</e2></e1>").contains("nested"));
        assert!(bad("</e1>a<e1> <e2>b</e2>").contains("</e1> comes before <e1>"));
        assert!(bad("<e1></e1> <e2>b</e2>").contains("empty"));
        assert!(bad("<e1>a</e1> <e1>b</e1>").contains("twice"));
        let label = parse_semeval("3\t\"<e1>a</e1> <e2>b</e2>\"\nFriend-Of(e1,e2)\n", "f.txt")
            .unwrap_err()
            .to_string();
        assert!(label.contains("f.txt:2: unknown relation label `Friend-Of(e1,e2)`"));
        let unquoted = parse_semeval("3\t<e1>a</e1> <e2>b</e2>\n", "f.txt").unwrap_err();
        assert!(unquoted.to_string().contains("double quotes"));
    }

    #[test]
    fn jsonl_spans_and_errors() {
        let ok = r#"{"id": 5, "text": "Tea in a cup.", "e1": [0, 3], "e2": {"start": 9, "end": 12}, "label": "Content-Container(e1,e2)"}"#;
        let examples = parse_jsonl(ok, "d.jsonl").unwrap();
        assert_eq!(examples[0].id, "5");
        assert_eq!(examples[0].entity_text(examples[0].e2), "cup");
        let err = |line: &str| parse_jsonl(line, "d.jsonl").unwrap_err().to_string();
        assert!(err(r#"{"text": "ab", "e1": [0, 1]}"#).contains("d.jsonl:1: missing field `e2`"));
        assert!(err(r#"{"text": "ab", "e1": [0, 1], "e2": [1, 9]}"#).contains("outside"));
        assert!(err(r#"{"text": "abc", "e1": [0, 2], "e2": [1, 3]}"#).contains("overlap"));
        assert!(err("{nope").contains("not valid JSON"));
    }

    #[test]
    fn semeval_label_order_is_canonical() {
        let names = label_names(["Other", "Cause-Effect(e1,e2)"].into_iter());
        assert_eq!(names.len(), 19);
        assert_eq!(names[0], "Other");
        assert_eq!(names[1], "Cause-Effect(e1,e2)");
        let custom = label_names(["b", "a", "b"].into_iter());
        assert_eq!(custom, vec!["a", "b"]);
    }
}

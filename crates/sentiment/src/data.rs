//! Loading sentence-classification data: GLUE SST-2 TSV and generic CSV, TSV, JSONL, Parquet
//! and Arrow IPC files (the columnar ones read by [`crate::columnar`]), text to classify from
//! stdin, and `predict`'s output read back for `score`.
//!
//! The format is chosen by extension (`.tsv`, `.csv`, `.jsonl`/`.json`, `.parquet`,
//! `.arrow`/`.feather`/`.arrows`); columns by name.
//! Labels are kept as the strings in the file ("0", "1", "positive"...) and mapped to ids by a
//! [`LabelSet`]. Every error names the file, the line and the field.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

/// One example: a text (or a pair) and, in labelled data, its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub text_pair: Option<String>,
    pub label: Option<String>,
    /// GLUE's `index` column when present (test files), else the row number from 0.
    pub index: usize,
    /// Where the example came from, for error messages ("train.tsv:12").
    pub source: String,
}

/// Which columns hold what (also the commands' flags). Defaults fit GLUE SST-2 (`sentence`,
/// `label`).
#[derive(Debug, Clone, clap::Args)]
pub struct Columns {
    /// Column holding the text.
    #[arg(long = "text-column", id = "text_column", default_value = "sentence")]
    pub text: String,
    /// Column holding the second text of a pair (sentence-pair classification).
    #[arg(long = "text-pair-column", id = "text_pair_column")]
    pub text_pair: Option<String>,
    /// Column holding the label (strings or integers).
    #[arg(long = "label-column", id = "label_column", default_value = "label")]
    pub label: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            text: "sentence".into(),
            text_pair: None,
            label: "label".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tsv,
    Csv,
    Jsonl,
    Parquet,
    Arrow,
}

fn format_of(path: &Path) -> Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("tsv") => Ok(Format::Tsv),
        Some("csv") => Ok(Format::Csv),
        Some("jsonl" | "json") => Ok(Format::Jsonl),
        Some("parquet") => Ok(Format::Parquet),
        Some("arrow" | "arrows" | "feather" | "ipc") => Ok(Format::Arrow),
        _ => bail!(
            "{}: unknown data format (expected .tsv, .csv, .jsonl, .parquet or .arrow)",
            path.display()
        ),
    }
}

/// The format of text data by its first line: JSON lines start with `{`, TSV has a tab.
fn text_format(text: &str) -> Format {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.trim_start().starts_with('{') {
        Format::Jsonl
    } else if first.contains('\t') {
        Format::Tsv
    } else {
        Format::Csv
    }
}

/// Whether labels must be present (training, evaluation) or may be absent (prediction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    Required,
    Optional,
}

/// Reads a data file (`-`: stdin, JSONL, TSV or CSV by its content). Empty files and files
/// without examples are errors.
pub fn load(path: &Path, columns: &Columns, labels: Labels) -> Result<Vec<Example>> {
    let stdin = tuning::app::cli::is_stdin(path);
    let format = if stdin { Format::Tsv } else { format_of(path)? };
    let examples = match format {
        Format::Parquet | Format::Arrow => load_columnar(path, columns, labels)?,
        Format::Tsv | Format::Csv | Format::Jsonl => {
            let text = tuning::app::cli::read_utf8(path)?;
            let format = if stdin { text_format(&text) } else { format };
            // Messages name stdin as `stdin`.
            let shown = if stdin { Path::new("stdin") } else { path };
            match format {
                Format::Tsv => load_delimited(shown, &text, b'\t', columns, labels)?,
                Format::Csv => load_delimited(shown, &text, b',', columns, labels)?,
                _ => load_jsonl(shown, &text, columns, labels)?,
            }
        }
    };
    if examples.is_empty() {
        bail!("{}: no examples (the file is empty)", path.display());
    }
    Ok(examples)
}

/// A Parquet or Arrow file: text (and pair) required in every row, the label when required,
/// GLUE's `index` (or `idx`) column when there.
fn load_columnar(path: &Path, columns: &Columns, labels: Labels) -> Result<Vec<Example>> {
    let mut wanted = vec![(columns.text.as_str(), true)];
    if let Some(pair) = &columns.text_pair {
        wanted.push((pair.as_str(), true));
    }
    let label = wanted.len();
    wanted.push((columns.label.as_str(), labels == Labels::Required));
    wanted.extend([("index", false), ("idx", false)]);
    let table = crate::columnar::read(path, &wanted)?;
    let index = [label + 1, label + 2].into_iter().find(|&k| table.found[k]);
    let mut examples = Vec::new();
    for (row, cells) in table.rows.into_iter().enumerate() {
        let at = format!("{}:row {}", path.display(), row + 1);
        let required = |k: usize| -> Result<String> {
            cells[k]
                .clone()
                .ok_or_else(|| anyhow!("{at}: column `{}` is null", wanted[k].0))
        };
        let label = match labels {
            Labels::Required => Some(required(label)?),
            Labels::Optional => cells[label].clone(),
        };
        let index = match index {
            Some(k) => required(k)?
                .parse()
                .map_err(|_| anyhow!("{at}: column `index` is not a whole number"))?,
            None => row,
        };
        examples.push(Example {
            text: required(0)?,
            text_pair: match &columns.text_pair {
                Some(_) => Some(required(1)?),
                None => None,
            },
            label,
            index,
            source: at,
        });
    }
    Ok(examples)
}

fn load_delimited(
    path: &Path,
    text: &str,
    delimiter: u8,
    columns: &Columns,
    labels: Labels,
) -> Result<Vec<Example>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        // GLUE's TSVs contain bare quotes inside sentences: read them as text.
        .quoting(delimiter == b',')
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| anyhow!("{}:1: cannot read the header: {e}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let missing = |name: &str| {
        anyhow!(
            "{}:1: no column `{name}` (columns: {})",
            path.display(),
            header.join(", ")
        )
    };
    let text_col = find(&columns.text).ok_or_else(|| missing(&columns.text))?;
    let pair_col = match &columns.text_pair {
        Some(name) => Some(find(name).ok_or_else(|| missing(name))?),
        None => None,
    };
    let label_col = find(&columns.label);
    if labels == Labels::Required && label_col.is_none() {
        return Err(missing(&columns.label));
    }
    let index_col = find("index").or_else(|| find("idx"));

    let mut examples = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = row + 2;
        let record = record.map_err(|e| {
            let at = e.position().map(|p| p.line() as usize).unwrap_or(line);
            anyhow!("{}:{at}: malformed row: {e}", path.display())
        })?;
        let field = |col: usize, name: &str| -> Result<String> {
            record
                .get(col)
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{}:{line}: missing field `{name}`", path.display()))
        };
        let text = field(text_col, &columns.text)?;
        let text_pair = match (pair_col, &columns.text_pair) {
            (Some(col), Some(name)) => Some(field(col, name)?),
            _ => None,
        };
        let label = match label_col {
            Some(col) => {
                let value = field(col, &columns.label)?;
                if value.trim().is_empty() {
                    if labels == Labels::Required {
                        bail!("{}:{line}: empty `{}`", path.display(), columns.label);
                    }
                    None
                } else {
                    Some(value.trim().to_string())
                }
            }
            None => None,
        };
        let index = match index_col {
            Some(col) => field(col, "index")?
                .trim()
                .parse()
                .map_err(|_| anyhow!("{}:{line}: `index` is not a whole number", path.display()))?,
            None => row,
        };
        examples.push(Example {
            text,
            text_pair,
            label,
            index,
            source: format!("{}:{line}", path.display()),
        });
    }
    Ok(examples)
}

fn load_jsonl(path: &Path, text: &str, columns: &Columns, labels: Labels) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (i, line_text) in text.lines().enumerate() {
        let line = i + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line_text)
            .map_err(|e| anyhow!("{}:{line}: not valid JSON: {e}", path.display()))?;
        let string = |name: &str, required: bool| -> Result<Option<String>> {
            match value.get(name) {
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
                Some(serde_json::Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(serde_json::Value::Null) | None if !required => Ok(None),
                Some(other) => bail!(
                    "{}:{line}: field `{name}` must be a string or number, found {other}",
                    path.display()
                ),
                None => bail!("{}:{line}: missing field `{name}`", path.display()),
            }
        };
        let text = string(&columns.text, true)?.expect("required");
        let text_pair = match &columns.text_pair {
            Some(name) => Some(string(name, true)?.expect("required")),
            None => None,
        };
        let label = string(&columns.label, labels == Labels::Required)?;
        let index = match value.get("index").or_else(|| value.get("idx")) {
            Some(v) => v.as_u64().ok_or_else(|| {
                anyhow!("{}:{line}: `index` is not a whole number", path.display())
            })? as usize,
            None => examples.len(),
        };
        examples.push(Example {
            text,
            text_pair,
            label,
            index,
            source: format!("{}:{line}", path.display()),
        });
    }
    Ok(examples)
}

/// Copies of `examples` without their labels (what the model is run on: a label it does not
/// know must not stop `predict`).
pub fn without_labels(examples: &[Example]) -> Vec<Example> {
    examples
        .iter()
        .map(|e| Example {
            label: None,
            ..e.clone()
        })
        .collect()
}

/// What `predict` classifies: a data file, or `-` for stdin (one text per line, or JSONL
/// objects with the text columns).
pub fn read_input(path: &Path, columns: &Columns) -> Result<Vec<Example>> {
    if path != Path::new("-") {
        return load(path, columns, Labels::Optional);
    }
    read_lines(std::io::stdin().lock(), columns)
}

/// Texts to classify, one per line (blank lines skipped) or one JSON object per line.
pub fn read_lines(input: impl BufRead, columns: &Columns) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("stdin:{}: cannot read", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let source = format!("stdin:{}", i + 1);
        let (text, text_pair) = if line.trim_start().starts_with('{') {
            let value: serde_json::Value = serde_json::from_str(&line)
                .map_err(|e| anyhow!("{source}: not valid JSON: {e}"))?;
            let field = |name: &str| -> Result<String> {
                value
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("{source}: missing text field `{name}`"))
            };
            let pair = match &columns.text_pair {
                Some(name) => Some(field(name)?),
                None => None,
            };
            (field(&columns.text)?, pair)
        } else {
            (line, None)
        };
        examples.push(Example {
            text,
            text_pair,
            label: None,
            index: examples.len(),
            source,
        });
    }
    if examples.is_empty() {
        bail!("stdin: no input lines");
    }
    Ok(examples)
}

/// Predicted labels by example index, from `predict`'s JSONL (`label`, and `index` or the
/// line order) or a GLUE submission TSV (a header, then index<TAB>prediction); `-`: stdin.
pub fn read_predictions(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = tuning::app::cli::read_utf8(path)?;
    // By content, whatever the file is called: JSONL lines are objects; GLUE's
    // `index<TAB>prediction` file starts with its header.
    let is_tsv = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|first| !first.trim_start().starts_with('{'));
    parse_predictions(&text, &tuning::app::cli::input_name(path), is_tsv)
}

/// [`read_predictions`] of a file's text (`name` for errors).
pub fn parse_predictions(text: &str, name: &str, is_tsv: bool) -> Result<Vec<(usize, String)>> {
    let mut predictions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let header = is_tsv && predictions.is_empty() && line.starts_with("index\t");
        if line.trim().is_empty() || header {
            continue;
        }
        if is_tsv {
            let (index, label) = line
                .split_once('\t')
                .ok_or_else(|| anyhow!("{at}: expected index<TAB>prediction"))?;
            let index = index
                .trim()
                .parse()
                .map_err(|_| anyhow!("{at}: index is not a number"))?;
            predictions.push((index, label.trim().to_string()));
        } else {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
            let label = match value.get("label") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => bail!("{at}: missing field `label`"),
            };
            let index = value
                .get("index")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .unwrap_or(predictions.len());
            predictions.push((index, label));
        }
    }
    Ok(predictions)
}

/// The label names and their order; id = position. Saved with the model as id2label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    pub names: Vec<String>,
}

impl LabelSet {
    /// The sorted set of labels in the data (numerically when all labels are integers), as
    /// transformers' run_glue orders them.
    pub fn from_examples(examples: &[Example]) -> Result<Self> {
        let Self { names } = Self::from_names(examples.iter().filter_map(|e| e.label.as_deref()));
        if names.len() < 2 {
            bail!(
                "the training data has {} distinct label(s) ({}); classification needs at least 2",
                names.len(),
                names.join(", ")
            );
        }
        Ok(Self { names })
    }

    /// The distinct names, sorted (numerically when all are integers).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let set: BTreeSet<&str> = names.into_iter().collect();
        let mut names: Vec<String> = set.into_iter().map(str::to_string).collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().expect("checked"));
        }
        Self { names }
    }

    pub fn id(&self, label: &str) -> Option<usize> {
        self.names.iter().position(|n| n == label)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The ids of labelled examples; an unknown label is an error naming its line.
    pub fn ids(&self, examples: &[Example]) -> Result<Vec<usize>> {
        examples
            .iter()
            .map(|e| {
                let label = e
                    .label
                    .as_deref()
                    .ok_or_else(|| anyhow!("{}: no label", e.source))?;
                self.id(label).ok_or_else(|| {
                    anyhow!(
                        "{}: unknown label `{label}` (the model knows: {})",
                        e.source,
                        self.names.join(", ")
                    )
                })
            })
            .collect()
    }

    /// The labels of a classifier's config.json: `id2label`, or transformers' `LABEL_0`,
    /// `LABEL_1`, ... when it has none.
    pub fn from_config(config: &encoder::EncoderConfig, path: &Path) -> Result<Self> {
        Ok(Self {
            names: tuning::task::labels::read_or_default(config, path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn glue_tsv_with_quotes_in_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "train.tsv",
            b"sentence\tlabel\nit 's a \"charming\" film \t1\nawful \t0\n",
        );
        let ex = load(&p, &Columns::default(), Labels::Required).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].text, "it 's a \"charming\" film ");
        assert_eq!(ex[1].label.as_deref(), Some("0"));
        assert!(ex[1].source.ends_with("train.tsv:3"));
    }

    #[test]
    fn glue_test_split_has_index_and_no_label() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "test.tsv", b"index\tsentence\n0\tfine\n1\tbad\n");
        let ex = load(&p, &Columns::default(), Labels::Optional).unwrap();
        assert_eq!((ex[1].index, ex[1].label.clone()), (1, None));
        let err = load(&p, &Columns::default(), Labels::Required)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test.tsv:1") && err.contains("no column `label`"),
            "{err}"
        );
    }

    #[test]
    fn csv_and_jsonl_with_named_columns_and_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let columns = Columns {
            text: "premise".into(),
            text_pair: Some("hypothesis".into()),
            label: "gold".into(),
        };
        let p = write(&dir, "d.csv", b"premise,hypothesis,gold\n\"a, b\",c,yes\n");
        let ex = load(&p, &columns, Labels::Required).unwrap();
        assert_eq!(
            (ex[0].text.as_str(), ex[0].text_pair.as_deref()),
            ("a, b", Some("c"))
        );
        let p = write(
            &dir,
            "d.jsonl",
            b"{\"premise\":\"x\",\"hypothesis\":\"y\",\"gold\":2}\n\n",
        );
        let ex = load(&p, &columns, Labels::Required).unwrap();
        assert_eq!(ex[0].label.as_deref(), Some("2"));
    }

    #[test]
    fn bad_input_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let cols = Columns::default();
        let p = write(&dir, "empty.tsv", b"");
        assert!(load(&p, &cols, Labels::Required).is_err());
        let p = write(&dir, "header.tsv", b"sentence\tlabel\n");
        assert!(
            load(&p, &cols, Labels::Required)
                .unwrap_err()
                .to_string()
                .contains("no examples")
        );
        let p = write(&dir, "ragged.tsv", b"sentence\tlabel\ngood\t1\nbad\n");
        let err = load(&p, &cols, Labels::Required).unwrap_err().to_string();
        assert!(
            err.contains("ragged.tsv:3") && err.contains("malformed"),
            "{err}"
        );
        let p = write(
            &dir,
            "latin1.tsv",
            b"sentence\tlabel\ngood\t1\ncaf\xe9\t1\n",
        );
        let err = load(&p, &cols, Labels::Required).unwrap_err().to_string();
        assert!(
            err.contains("latin1.tsv:3") && err.contains("UTF-8"),
            "{err}"
        );
        let p = write(
            &dir,
            "bad.jsonl",
            b"{\"sentence\":\"a\",\"label\":1}\n{\"sentence\":\"b\"\n",
        );
        let err = load(&p, &cols, Labels::Required).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl:2") && err.contains("JSON"), "{err}");
        let p = write(&dir, "nolabel.jsonl", b"{\"sentence\":\"a\"}\n");
        let err = load(&p, &cols, Labels::Required).unwrap_err().to_string();
        assert!(
            err.contains("nolabel.jsonl:1") && err.contains("`label`"),
            "{err}"
        );
        let p = write(&dir, "blank.tsv", b"sentence\tlabel\ngood\t\n");
        let err = load(&p, &cols, Labels::Required).unwrap_err().to_string();
        assert!(
            err.contains("blank.tsv:2") && err.contains("empty `label`"),
            "{err}"
        );
    }

    #[test]
    fn labels_sort_numerically_and_unknown_labels_are_named() {
        let ex = |label: &str, line: usize| Example {
            text: "t".into(),
            text_pair: None,
            label: Some(label.into()),
            index: 0,
            source: format!("f.tsv:{line}"),
        };
        let set = LabelSet::from_examples(&[ex("10", 2), ex("2", 3), ex("2", 4)]).unwrap();
        assert_eq!(set.names, vec!["2", "10"]);
        let err = set.ids(&[ex("3", 7)]).unwrap_err().to_string();
        assert!(
            err.contains("f.tsv:7") && err.contains("unknown label `3`"),
            "{err}"
        );
        assert!(LabelSet::from_examples(&[ex("a", 2)]).is_err());
    }

    #[test]
    fn stdin_lines_are_texts_or_json_objects() {
        let columns = Columns {
            text_pair: Some("hypothesis".into()),
            ..Columns::default()
        };
        let input = "plain text\n\n{\"sentence\": \"a\", \"hypothesis\": \"b\"}\n";
        let ex = read_lines(input.as_bytes(), &columns).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!((ex[0].text.as_str(), ex[0].index), ("plain text", 0));
        assert_eq!(ex[1].text_pair.as_deref(), Some("b"));
        assert_eq!(ex[1].source, "stdin:3");
        let err = read_lines("{\"text\": 1}\n".as_bytes(), &Columns::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("stdin:1: missing text field `sentence`")
        );
        assert!(read_lines("\n".as_bytes(), &Columns::default()).is_err());
    }

    #[test]
    fn predictions_from_jsonl_or_glue_tsv() {
        let jsonl = "{\"index\": 3, \"label\": \"pos\"}\n{\"label\": 1}\n";
        let p = parse_predictions(jsonl, "p.jsonl", false).unwrap();
        assert_eq!(p, [(3, "pos".to_string()), (1, "1".to_string())]);
        let tsv = "index\tprediction\n0\t1\n1\t0\n";
        assert_eq!(
            parse_predictions(tsv, "p.tsv", true).unwrap()[1],
            (1, "0".into())
        );
        let err = parse_predictions("index\tprediction\nx\t1\n", "p.tsv", true).unwrap_err();
        assert!(err.to_string().contains("p.tsv:2: index is not a number"));
        let err = parse_predictions("{\"score\": 1}\n", "p.jsonl", false).unwrap_err();
        assert!(err.to_string().contains("p.jsonl:1: missing field `label`"));
    }

    #[test]
    fn stdin_data_is_read_as_jsonl_tsv_or_csv_by_its_first_line() {
        assert_eq!(text_format("\n{\"sentence\": \"a\"}\n"), Format::Jsonl);
        assert_eq!(text_format("sentence\tlabel\n"), Format::Tsv);
        assert_eq!(text_format("sentence,label\n"), Format::Csv);
    }

    #[test]
    fn a_glue_predictions_file_is_read_by_its_content_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["SST-2.tsv", "SST-2.txt", "predictions"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "index\tprediction\n0\t1\n1\t0\n").unwrap();
            assert_eq!(
                read_predictions(&path).unwrap(),
                [(0, "1".to_string()), (1, "0".to_string())],
                "{name}"
            );
        }
        let path = dir.path().join("p.tsv");
        std::fs::write(&path, "{\"label\": \"pos\"}\n").unwrap();
        assert_eq!(read_predictions(&path).unwrap(), [(0, "pos".to_string())]);
    }
}

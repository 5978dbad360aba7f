//! Loading tagged sentences: CoNLL-style column files (CoNLL-2003's `WORD POS CHUNK NER`,
//! `-DOCSTART-` document breaks in both of their variants, blank-line sentence breaks,
//! trailing blank lines) and JSONL (`tokens`, `tags`, optional `document`); raw text split
//! into words for `predict --text`; and conlleval-format prediction files for `score`.
//!
//! Tags are checked against their scheme (given or detected, see [`crate::scheme`]) and kept
//! both as written and converted to IOB2. Every error names the file, the line and the column.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::scheme::{self, Scheme};

/// One sentence: its words and, in tagged data, one tag per word.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentence {
    pub words: Vec<String>,
    /// The tags as written in the file (`None` for untagged input).
    pub original_tags: Option<Vec<String>>,
    /// The tags in IOB2, what the model learns and predicts.
    pub tags: Option<Vec<String>>,
    /// The line of each word (1-based), for messages.
    pub lines: Vec<usize>,
    /// Index of the document the sentence belongs to (`-DOCSTART-` breaks), from 0.
    pub document: usize,
    /// "file:line" of the first word.
    pub source: String,
}

impl Sentence {
    /// "file:line" of word `i` (the sentence's own place where the line is not known).
    pub fn word_source(&self, i: usize) -> String {
        match (self.source.rsplit_once(':'), self.lines.get(i)) {
            (Some((file, _)), Some(line)) => format!("{file}:{line}"),
            _ => self.source.clone(),
        }
    }
}

/// Which columns of a CoNLL-style file hold the word and the tag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    pub token: usize,
    /// `None`: the last column (CoNLL-2003's NER column).
    pub tag: Option<usize>,
}

/// Loads sentences (`.jsonl`/`.json` as JSONL, anything else as CoNLL columns; `-`: stdin,
/// JSONL when it starts with `{`).
/// `tagged`: whether tags are expected (training, evaluation) or not (prediction input,
/// where a CoNLL file may still carry gold tags).
pub fn load(path: &Path, columns: Columns, tagged: bool) -> Result<Vec<Sentence>> {
    let text = tuning::app::cli::read_utf8(path)?;
    parse(&text, path, columns, tagged)
}

/// [`load`] of an input's text (`path` names it and says its format).
pub fn parse(text: &str, path: &Path, columns: Columns, tagged: bool) -> Result<Vec<Sentence>> {
    let name = tuning::app::cli::input_name(path);
    let jsonl = tuning::app::cli::is_jsonl(path, text);
    let sentences = if jsonl {
        parse_jsonl(text, &name, tagged)?
    } else {
        parse_conll(text, &name, columns, tagged)?
    };
    if sentences.is_empty() {
        bail!("{name}: no sentences");
    }
    Ok(sentences)
}

/// Parses CoNLL-style columns.
pub fn parse_conll(
    text: &str,
    name: &str,
    columns: Columns,
    tagged: bool,
) -> Result<Vec<Sentence>> {
    let mut sentences = Vec::new();
    let mut document = 0usize;
    let mut seen_docstart = false;
    let mut width: Option<(usize, usize)> = None; // (columns, line that set it)
    let mut words = Vec::new();
    let mut tags = Vec::new();
    let mut lines = Vec::new();
    let flush = |words: &mut Vec<String>,
                 tags: &mut Vec<String>,
                 lines: &mut Vec<usize>,
                 sentences: &mut Vec<Sentence>,
                 document: usize| {
        if words.is_empty() {
            return;
        }
        let has_tags = !tags.is_empty();
        sentences.push(Sentence {
            source: format!("{name}:{}", lines[0]),
            words: std::mem::take(words),
            original_tags: has_tags.then(|| std::mem::take(tags)),
            tags: None,
            lines: std::mem::take(lines),
            document,
        });
    };
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            flush(&mut words, &mut tags, &mut lines, &mut sentences, document);
            continue;
        }
        if fields[0] == "-DOCSTART-" {
            flush(&mut words, &mut tags, &mut lines, &mut sentences, document);
            if seen_docstart || !sentences.is_empty() {
                document += 1;
            }
            seen_docstart = true;
            continue;
        }
        match width {
            None => width = Some((fields.len(), line_no)),
            Some((expected, first)) if expected != fields.len() => bail!(
                "{name}:{line_no}: {} columns, but line {first} has {expected} (every token \
                 line needs the same columns)",
                fields.len()
            ),
            Some(_) => {}
        }
        let column = |index: usize, what: &str| -> Result<String> {
            fields.get(index).map(|s| s.to_string()).ok_or_else(|| {
                anyhow!(
                    "{name}:{line_no}: no {what} column {} (the line has {} columns)",
                    index + 1,
                    fields.len()
                )
            })
        };
        words.push(column(columns.token, "token")?);
        if tagged {
            let tag_index = columns.tag.unwrap_or(fields.len() - 1);
            if fields.len() < 2 && columns.tag.is_none() {
                bail!("{name}:{line_no}: expected a token and a tag column, found one column");
            }
            tags.push(column(tag_index, "tag")?);
        }
        lines.push(line_no);
    }
    flush(&mut words, &mut tags, &mut lines, &mut sentences, document);
    Ok(sentences)
}

/// Parses JSONL: `{"tokens": [...], "tags": [...], "document": n}` (tags and document
/// optional).
pub fn parse_jsonl(text: &str, name: &str, tagged: bool) -> Result<Vec<Sentence>> {
    let mut sentences = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{name}:{line_no}");
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| anyhow!("{at}: not valid JSON: {e}"))?;
        let strings = |field: &str| -> Result<Option<Vec<String>>> {
            match value.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            anyhow!("{at}: field `{field}` must be a list of strings")
                        })
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
                Some(_) => bail!("{at}: field `{field}` must be a list of strings"),
            }
        };
        let words = strings("tokens")?.ok_or_else(|| anyhow!("{at}: missing field `tokens`"))?;
        if words.is_empty() {
            bail!("{at}: empty sentence (`tokens` is [])");
        }
        let tags = strings("tags")?;
        match &tags {
            Some(t) if t.len() != words.len() => {
                bail!("{at}: {} tags for {} tokens", t.len(), words.len())
            }
            None if tagged => bail!("{at}: missing field `tags`"),
            _ => {}
        }
        let document = value
            .get("document")
            .and_then(|d| d.as_u64())
            .map_or(sentences.len(), |d| d as usize);
        sentences.push(Sentence {
            lines: vec![line_no; words.len()],
            words,
            original_tags: tags,
            tags: None,
            document,
            source: at,
        });
    }
    Ok(sentences)
}

/// What to do with tags that break their scheme but have one obvious reading (see
/// [`scheme::validate`]): keep them with that reading, reported as warnings, or refuse the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Violations {
    #[default]
    Repair,
    Error,
}

impl std::str::FromStr for Violations {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "repair" => Ok(Self::Repair),
            "error" => Ok(Self::Error),
            _ => Err(format!("`{s}`: expected repair or error")),
        }
    }
}

/// The outcome of [`normalize_tags`]: the scheme read and each repaired violation as
/// `file:line: message`, for the caller to report.
#[derive(Debug)]
pub struct Normalized {
    pub scheme: Scheme,
    pub repaired: Vec<String>,
}

/// Checks every sentence's tags against `scheme` (detected when `None`) and fills
/// [`Sentence::tags`] with their IOB2 form.
pub fn normalize_tags(
    sentences: &mut [Sentence],
    scheme: Option<Scheme>,
    violations: Violations,
    file: &Path,
) -> Result<Normalized> {
    let scheme = scheme.unwrap_or_else(|| {
        scheme::detect(sentences.iter().filter_map(|s| s.original_tags.as_deref()))
    });
    let at = |sentence: &Sentence, v: &scheme::Violation| {
        format!(
            "{}:{}: tag column: {} (scheme {scheme}",
            file.display(),
            sentence.lines[v.index],
            v.message
        )
    };
    let mut repaired = Vec::new();
    for sentence in sentences.iter_mut() {
        let Some(original) = &sentence.original_tags else {
            continue;
        };
        match scheme::validate(original, scheme) {
            Err(fatal) => bail!("{}; choose another with --scheme)", at(sentence, &fatal)),
            Ok(found) if violations == Violations::Error && !found.is_empty() => bail!(
                "{}; choose another with --scheme, or accept conlleval's reading with \
                 --scheme-violations repair)",
                at(sentence, &found[0])
            ),
            Ok(found) => repaired.extend(
                found
                    .iter()
                    .map(|v| format!("{}; read as conlleval does)", at(sentence, v))),
            ),
        }
        sentence.tags = Some(scheme::to_iob2(original, scheme));
    }
    Ok(Normalized { scheme, repaired })
}

/// How tagged files are read: which columns, which tag scheme, and what to do with tags
/// that break it (also `train`'s, `eval`'s and `predict`'s flags).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Reading {
    /// Column of the word in CoNLL-style files (from 1).
    #[arg(long, default_value_t = 1)]
    pub token_column: usize,
    /// Column of the tag (from 1; default: the last column).
    #[arg(long)]
    pub tag_column: Option<usize>,
    /// Tag scheme of the files: iob1, iob2 or bioes (default: detected).
    #[arg(long)]
    pub scheme: Option<Scheme>,
    /// Tags that break the scheme but have one reading (an entity started with IOB1 `B-`
    /// after `O`, IOB2 `I-` after `O`, an unclosed BIOES entity): `repair` reads them as
    /// conlleval does and warns with each line; `error` refuses the file.
    #[arg(long, default_value = "repair")]
    pub scheme_violations: Violations,
}

impl Default for Reading {
    fn default() -> Self {
        Self {
            token_column: 1,
            tag_column: None,
            scheme: None,
            scheme_violations: Violations::Repair,
        }
    }
}

impl Reading {
    /// The columns, from 0.
    pub fn columns(&self) -> Result<Columns> {
        if self.token_column == 0 || self.tag_column == Some(0) {
            bail!("columns are numbered from 1");
        }
        Ok(Columns {
            token: self.token_column - 1,
            tag: self.tag_column.map(|c| c - 1),
        })
    }

    /// Tagged sentences with their tags checked and converted to IOB2; each repaired
    /// violation is a warning on stderr, with its line.
    pub fn load_tagged(&self, path: &Path) -> Result<(Vec<Sentence>, Normalized)> {
        let mut sentences = load(path, self.columns()?, true)?;
        let normalized = self.normalize(&mut sentences, path)?;
        Ok((sentences, normalized))
    }

    /// [`normalize_tags`], its repairs reported on stderr.
    pub fn normalize(&self, sentences: &mut [Sentence], path: &Path) -> Result<Normalized> {
        let normalized = normalize_tags(sentences, self.scheme, self.scheme_violations, path)?;
        for warning in &normalized.repaired {
            eprintln!("ner: warning: {warning}");
        }
        Ok(normalized)
    }

    /// Sentences to tag, and the input's text (read once: `-` is stdin): their gold tags are
    /// read (and checked) when every line has one.
    pub fn load_for_prediction(&self, path: &Path) -> Result<(Vec<Sentence>, String)> {
        let text = tuning::app::cli::read_utf8(path)?;
        let sentences = match parse(&text, path, self.columns()?, true) {
            Ok(mut tagged) if tagged.iter().all(|s| s.original_tags.is_some()) => {
                self.normalize(&mut tagged, path)?;
                tagged
            }
            _ => parse(&text, path, self.columns()?, false)?,
        };
        Ok((sentences, text))
    }
}

/// Copies of `sentences` without their IOB2 tags (what the model is run on; the tags as
/// written stay, for output next to the predictions).
pub fn without_tags(sentences: &[Sentence]) -> Vec<Sentence> {
    sentences
        .iter()
        .map(|s| Sentence {
            tags: None,
            ..s.clone()
        })
        .collect()
}

/// A word of raw text and its character offsets `[start, end)`.
pub type Word = (String, usize, usize);

/// Splits raw text into words (whitespace, and every punctuation character on its own, as
/// BERT's basic tokenizer) with their character offsets.
pub fn split_words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace()
            || c.is_ascii_punctuation()
            || (!c.is_alphanumeric() && !c.is_whitespace())
        {
            if let Some((w, start)) = current.take() {
                let end = start + w.chars().count();
                words.push((w, start, end));
            }
            if !c.is_whitespace() {
                words.push((c.to_string(), i, i + 1));
            }
        } else {
            match &mut current {
                Some((w, _)) => w.push(c),
                None => current = Some((c.to_string(), i)),
            }
        }
    }
    if let Some((w, start)) = current {
        let end = start + w.chars().count();
        words.push((w, start, end));
    }
    words
}

/// Raw text for `predict --text`: one document per line, from a file or `-` (stdin).
pub fn read_text_lines(path: &Path) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if path == Path::new("-") {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            lines.push(line.with_context(|| format!("stdin:{}: cannot read", i + 1))?);
        }
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
        lines.extend(text.lines().map(str::to_string));
    }
    Ok(lines)
}

/// Raw text lines as untagged sentences (blank lines skipped), each with the index of its
/// line and its words' character offsets. `name` is the input's name for messages.
pub fn text_sentences(lines: &[String], name: &str) -> TextInput {
    let mut input = TextInput::default();
    for (i, line) in lines.iter().enumerate() {
        let words = split_words(line);
        if words.is_empty() {
            continue;
        }
        input.sentences.push(Sentence {
            words: words.iter().map(|w| w.0.clone()).collect(),
            original_tags: None,
            tags: None,
            lines: vec![i + 1; words.len()],
            document: input.sentences.len(),
            source: format!("{name}:{}", i + 1),
        });
        input.spans.push((i, words));
    }
    input
}

/// Sentences made from raw text, and where each came from.
#[derive(Debug, Default)]
pub struct TextInput {
    pub sentences: Vec<Sentence>,
    /// Per sentence: its line (0-based) and its words with character offsets.
    pub spans: Vec<(usize, Vec<Word>)>,
}

/// One tag sequence per sentence.
pub type TagSequences = Vec<Vec<String>>;

/// Sentences of (gold, predicted) tags from a conlleval-format file (`token ... gold
/// predicted`), or, with `gold_from`, predictions (`token ... predicted`) matched line by line
/// with a tagged CoNLL file.
pub fn read_conlleval(
    path: &Path,
    gold_from: Option<&Path>,
) -> Result<(TagSequences, TagSequences)> {
    let name = tuning::app::cli::input_name(path);
    let text = tuning::app::cli::read_utf8(path)?;
    let gold_lines: Option<Vec<String>> = match gold_from {
        Some(g) => Some(
            tuning::app::cli::read_utf8(g)?
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        None => None,
    };
    parse_conlleval(&text, &name, gold_lines.as_deref())
}

/// [`read_conlleval`] of a file's text.
pub fn parse_conlleval(
    text: &str,
    name: &str,
    gold_lines: Option<&[String]>,
) -> Result<(TagSequences, TagSequences)> {
    let (mut gold, mut predicted) = (vec![Vec::new()], vec![Vec::new()]);
    let is_token = |fields: &[&str]| !fields.is_empty() && fields[0] != "-DOCSTART-";
    let mut lines_read = 0;
    for (i, line) in text.lines().enumerate() {
        lines_read = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !is_token(&fields) {
            if let Some(token) = gold_lines.and_then(|lines| {
                let other: Vec<&str> = lines.get(i)?.split_whitespace().collect();
                is_token(&other).then(|| other[0].to_string())
            }) {
                bail!(
                    "{name}:{}: the gold file has the token `{token}` on this line but the \
                     predictions have none: the files are not aligned line by line",
                    i + 1
                );
            }
            if !gold.last().unwrap().is_empty() {
                gold.push(Vec::new());
                predicted.push(Vec::new());
            }
            continue;
        }
        let at = format!("{name}:{}", i + 1);
        let (g, p) = match gold_lines {
            Some(lines) => {
                let other = lines
                    .get(i)
                    .map(|l| l.split_whitespace().collect::<Vec<_>>());
                let Some(other) = other.filter(|o| !o.is_empty() && o[0] == fields[0]) else {
                    bail!(
                        "{at}: the gold file has no token `{}` on this line",
                        fields[0]
                    );
                };
                (
                    other[other.len() - 1].to_string(),
                    fields[fields.len() - 1].to_string(),
                )
            }
            None => {
                if fields.len() < 3 {
                    bail!("{at}: expected `token ... gold predicted` (at least 3 columns)");
                }
                (
                    fields[fields.len() - 2].to_string(),
                    fields[fields.len() - 1].to_string(),
                )
            }
        };
        for tag in [&g, &p] {
            if scheme::parse(tag).is_none() {
                bail!("{at}: `{tag}` is not a tag (O, or B-/I-/E-/S- and a type)");
            }
        }
        gold.last_mut().unwrap().push(g);
        predicted.last_mut().unwrap().push(p);
    }
    if gold.last().is_some_and(Vec::is_empty) {
        gold.pop();
        predicted.pop();
    }
    if gold.is_empty() {
        bail!("{name}: no tagged lines");
    }
    if let Some(lines) = gold_lines {
        let left: Vec<usize> = (lines_read..lines.len())
            .filter(|&i| is_token(&lines[i].split_whitespace().collect::<Vec<_>>()))
            .collect();
        if let Some(first) = left.first() {
            let scored: usize = predicted.iter().map(Vec::len).sum();
            bail!(
                "{name} ends at line {lines_read} but the gold file has {} more token lines \
                 (from line {}): the predictions cover {scored} of {} gold tokens",
                left.len(),
                first + 1,
                scored + left.len()
            );
        }
    }
    Ok((gold, predicted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONLL: &str = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n\
        Peter NNP I-NP I-PER\n\n-DOCSTART- -X- -X- O\n\nBonn NNP I-NP I-LOC\n\n\n";

    #[test]
    fn predictions_that_stop_early_or_skip_a_gold_token_are_refused() {
        let gold: Vec<String> = ["EU B-ORG", "rejects O", "", "Peter B-PER", "Bonn B-LOC", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let whole = "EU B-ORG\nrejects O\n\nPeter B-PER\nBonn O\n";
        let (g, p) = parse_conlleval(whole, "p", Some(&gold)).unwrap();
        assert_eq!((g.len(), p[1].len()), (2, 2));
        let half = "EU B-ORG\nrejects O\n";
        let err = parse_conlleval(half, "p", Some(&gold))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 more token lines (from line 4)") && err.contains("2 of 4"),
            "{err}"
        );
        let gap = "EU B-ORG\nrejects O\n\n\nBonn O\n";
        let err = parse_conlleval(gap, "p", Some(&gold))
            .unwrap_err()
            .to_string();
        assert!(err.contains("p:4") && err.contains("`Peter`"), "{err}");
    }

    #[test]
    fn conll_sentences_documents_and_trailing_blank_lines() {
        let s = parse_conll(CONLL, "eng", Columns::default(), true).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].words, vec!["EU", "rejects"]);
        assert_eq!(s[0].original_tags.as_ref().unwrap(), &vec!["I-ORG", "O"]);
        assert_eq!(s[0].lines, vec![3, 4]);
        assert_eq!(s[0].source, "eng:3");
        assert_eq!((s[0].document, s[1].document, s[2].document), (0, 0, 1));
    }

    #[test]
    fn chosen_columns() {
        let s = parse_conll(
            "a X B-PER\nb Y O\n",
            "f",
            Columns {
                token: 0,
                tag: Some(2),
            },
            true,
        )
        .unwrap();
        assert_eq!(s[0].original_tags.as_ref().unwrap()[0], "B-PER");
        let err = parse_conll(
            "a X\n",
            "f",
            Columns {
                token: 0,
                tag: Some(3),
            },
            true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("f:1: no tag column 4"));
    }

    #[test]
    fn column_count_errors_name_both_lines() {
        let err = parse_conll("a X B-PER\nb O\n", "f", Columns::default(), true).unwrap_err();
        assert!(
            err.to_string().contains("f:2: 2 columns, but line 1 has 3"),
            "{err}"
        );
    }

    #[test]
    fn scheme_violations_report_the_line() {
        let mut s =
            parse_conll("a B-PER\nb O\n\nc I-LOC\n", "f", Columns::default(), true).unwrap();
        let err = normalize_tags(
            &mut s,
            Some(Scheme::Iob2),
            Violations::Error,
            Path::new("f"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("f:4: tag column: `I-LOC` in IOB2"),
            "{err}"
        );
        let repaired = normalize_tags(
            &mut s,
            Some(Scheme::Iob2),
            Violations::Repair,
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(repaired.repaired.len(), 1);
        assert!(repaired.repaired[0].starts_with("f:4: tag column: `I-LOC` in IOB2"));
        assert_eq!(s[1].tags.as_ref().unwrap(), &vec!["B-LOC"]);
        let mut iob1 =
            parse_conll("a I-PER\nb O\n\nc I-LOC\n", "f", Columns::default(), true).unwrap();
        let normalized =
            normalize_tags(&mut iob1, None, Violations::Error, Path::new("f")).unwrap();
        assert_eq!(normalized.scheme, Scheme::Iob1);
        assert!(normalized.repaired.is_empty());
        assert_eq!(iob1[1].tags.as_ref().unwrap(), &vec!["B-LOC"]);
        let mut unreadable = parse_conll("a S-PER\n", "f", Columns::default(), true).unwrap();
        let err = normalize_tags(
            &mut unreadable,
            Some(Scheme::Iob2),
            Violations::Repair,
            Path::new("f"),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("f:1: tag column: `S-PER` is a BIOES tag"),
            "{err}"
        );
    }

    #[test]
    fn jsonl_sentences_and_errors() {
        let ok = r#"{"tokens": ["Anna", "sings"], "tags": ["B-PER", "O"]}"#;
        let s = parse_jsonl(ok, "d.jsonl", true).unwrap();
        assert_eq!(s[0].words.len(), 2);
        let err = |line: &str| parse_jsonl(line, "d.jsonl", true).unwrap_err().to_string();
        assert!(err(r#"{"tokens": [], "tags": []}"#).contains("d.jsonl:1: empty sentence"));
        assert!(err(r#"{"tokens": ["a"], "tags": ["O", "O"]}"#).contains("2 tags for 1 tokens"));
        assert!(err(r#"{"tokens": ["a"]}"#).contains("missing field `tags`"));
    }

    #[test]
    fn raw_text_splits_into_words_with_character_offsets() {
        let words = split_words("Anna Berg, née Kühn (PhD)");
        let texts: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(texts, ["Anna", "Berg", ",", "née", "Kühn", "(", "PhD", ")"]);
        assert_eq!(
            (words[3].1, words[3].2),
            (11, 14),
            "offsets count characters"
        );
        let input = text_sentences(&["a b".into(), "".into(), "c".into()], "t.txt");
        assert_eq!(input.sentences.len(), 2);
        assert_eq!(input.sentences[1].source, "t.txt:3");
        assert_eq!(input.spans[1].0, 2);
    }

    #[test]
    fn conlleval_files_split_into_sentences_and_check_their_tags() {
        let text = "-DOCSTART- -X- O O\n\nEU B-ORG B-ORG\nrejects O O\n\nPeter B-PER I-PER\n";
        let (gold, predicted) = parse_conlleval(text, "p.txt", None).unwrap();
        assert_eq!(gold, [vec!["B-ORG", "O"], vec!["B-PER"]]);
        assert_eq!(predicted[1], ["I-PER"]);
        let err = parse_conlleval("EU B-ORG\n", "p.txt", None).unwrap_err();
        assert!(err.to_string().contains("p.txt:1: expected"), "{err}");
        let err = parse_conlleval("EU B-ORG X-Y\n", "p.txt", None).unwrap_err();
        assert!(err.to_string().contains("`X-Y` is not a tag"), "{err}");
        // Predictions beside a gold file: the tokens must line up.
        let gold_lines = vec!["EU NNP B-ORG".to_string(), "rejects VBZ O".to_string()];
        let (gold, predicted) =
            parse_conlleval("EU B-ORG\nrejects O\n", "p", Some(&gold_lines)).unwrap();
        assert_eq!(
            (gold[0].clone(), predicted[0].clone()),
            (
                vec!["B-ORG".to_string(), "O".into()],
                vec!["B-ORG".to_string(), "O".into()]
            )
        );
        let err = parse_conlleval("EU B-ORG\nbans O\n", "p", Some(&gold_lines)).unwrap_err();
        assert!(
            err.to_string()
                .contains("p:2: the gold file has no token `bans`"),
            "{err}"
        );
    }
}

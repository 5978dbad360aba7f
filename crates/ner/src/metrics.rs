//! Entity-level precision, recall and F1 with conlleval semantics (seqeval's default mode)
//! or strict IOB2, plus token accuracy.
//!
//! conlleval / seqeval default: chunks are read the way conlleval reads them, so `I-X` after
//! `O` or after another type starts an entity, and IOB1, IOB2 and BIOES tags can be mixed
//! (gold as shipped in IOB1, predictions in IOB2). Sentence ends close entities.
//! Strict (`--strict`, seqeval `mode="strict", scheme=IOB2`): an entity is `B-X (I-X)*`;
//! an `I-X` that does not continue one is not part of any entity.
//! An entity is right when its type, first and last word all match.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tuning::task::scoring::{f1, ratio};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Conlleval,
    Strict,
}

/// An entity: (type, first word, last word), word indices over the concatenated sentences.
pub type Entity = (String, usize, usize);

fn split(tag: &str) -> (char, &str) {
    if tag == "O" {
        return ('O', "_");
    }
    let letter = tag.chars().next().unwrap_or('O');
    let kind = tag.split_once('-').map_or("_", |(_, k)| k);
    (letter, if kind.is_empty() { "_" } else { kind })
}

fn ends(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(prev, 'E' | 'S')
        || (matches!(prev, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev != 'O' && prev != '.' && prev_kind != kind)
}

fn starts(prev: char, tag: char, prev_kind: &str, kind: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_kind != kind)
}

/// Entities of one tag sequence per sentence, conlleval's way.
pub fn conlleval_entities(sentences: &[Vec<String>]) -> BTreeSet<Entity> {
    let mut entities = BTreeSet::new();
    let mut offset = 0;
    for tags in sentences {
        let (mut prev, mut prev_kind, mut begin) = ('O', "_".to_string(), 0);
        // A trailing O closes an entity at the sentence end.
        for (i, tag) in tags.iter().map(String::as_str).chain(["O"]).enumerate() {
            let (letter, kind) = split(tag);
            if ends(prev, letter, &prev_kind, kind) {
                entities.insert((prev_kind.clone(), offset + begin, offset + i - 1));
            }
            if starts(prev, letter, &prev_kind, kind) {
                begin = i;
            }
            prev = letter;
            prev_kind = kind.to_string();
        }
        offset += tags.len() + 1;
    }
    entities
}

/// Entities of well-formed IOB2 chunks only.
pub fn strict_entities(sentences: &[Vec<String>]) -> BTreeSet<Entity> {
    let mut entities = BTreeSet::new();
    let mut offset = 0;
    for tags in sentences {
        let mut open: Option<(String, usize)> = None;
        for (i, tag) in tags.iter().map(String::as_str).chain(["O"]).enumerate() {
            let (letter, kind) = split(tag);
            let continues = letter == 'I' && open.as_ref().is_some_and(|(k, _)| k == kind);
            if !continues && let Some((k, start)) = open.take() {
                entities.insert((k, offset + start, offset + i - 1));
            }
            if letter == 'B' {
                open = Some((kind.to_string(), i));
            }
        }
        offset += tags.len() + 1;
    }
    entities
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeScore {
    #[serde(rename = "type")]
    pub kind: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold entities of this type.
    pub support: usize,
    pub predicted: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub mode: Mode,
    /// Micro-averaged over all entities.
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Words whose predicted tag equals the gold tag, both re-read as IOB2 (so the same
    /// entities in IOB1 and IOB2 are the same tags).
    pub accuracy: f64,
    pub gold_entities: usize,
    pub predicted_entities: usize,
    pub correct_entities: usize,
    pub per_type: Vec<TypeScore>,
}

impl Report {
    pub fn metrics(&self) -> tuning::Metrics {
        let mut m = tuning::Metrics::new();
        m.insert("precision".into(), self.precision);
        m.insert("recall".into(), self.recall);
        m.insert("f1".into(), self.f1);
        m.insert("accuracy".into(), self.accuracy);
        for t in &self.per_type {
            m.insert(format!("f1_{}", t.kind), t.f1);
        }
        m
    }
}

/// Scores predicted against gold tags, sentence by sentence (same lengths).
pub fn score(gold: &[Vec<String>], predicted: &[Vec<String>], mode: Mode) -> Report {
    assert_eq!(gold.len(), predicted.len(), "one prediction per sentence");
    let extract = match mode {
        Mode::Conlleval => conlleval_entities,
        Mode::Strict => strict_entities,
    };
    let (gold_set, predicted_set) = (extract(gold), extract(predicted));
    let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for (kind, ..) in &gold_set {
        counts.entry(kind).or_default().0 += 1;
    }
    for entity in &predicted_set {
        let entry = counts.entry(&entity.0).or_default();
        entry.1 += 1;
        if gold_set.contains(entity) {
            entry.2 += 1;
        }
    }
    let per_type = counts
        .iter()
        .map(|(kind, &(support, predicted, correct))| {
            let (precision, recall) = (ratio(correct, predicted), ratio(correct, support));
            TypeScore {
                kind: kind.to_string(),
                precision,
                recall,
                f1: f1(precision, recall),
                support,
                predicted,
            }
        })
        .collect();
    let correct = gold_set.intersection(&predicted_set).count();
    let (precision, recall) = (
        ratio(correct, predicted_set.len()),
        ratio(correct, gold_set.len()),
    );
    let (mut right, mut words) = (0, 0);
    for (g, p) in gold.iter().zip(predicted) {
        assert_eq!(g.len(), p.len(), "one predicted tag per word");
        words += g.len();
        let (g, p) = (as_iob2(g, extract), as_iob2(p, extract));
        right += g.iter().zip(&p).filter(|(a, b)| a == b).count();
    }
    Report {
        mode,
        precision,
        recall,
        f1: f1(precision, recall),
        accuracy: ratio(right, words),
        gold_entities: gold_set.len(),
        predicted_entities: predicted_set.len(),
        correct_entities: correct,
        per_type,
    }
}

/// The tags of one sentence rewritten as IOB2 from the entities `extract` reads in them, so
/// that token accuracy compares IOB1 gold with IOB2 predictions word for word.
fn as_iob2(tags: &[String], extract: fn(&[Vec<String>]) -> BTreeSet<Entity>) -> Vec<String> {
    let mut out = vec!["O".to_string(); tags.len()];
    for (kind, first, last) in extract(&[tags.to_vec()]) {
        out[first] = format!("B-{kind}");
        for tag in &mut out[first + 1..=last] {
            *tag = format!("I-{kind}");
        }
    }
    out
}

/// `score`: the entity-level scores of a conlleval-format predictions file (gold and
/// predicted columns, or predictions beside the tagged `gold` file).
pub fn score_file(
    predictions: &std::path::Path,
    gold: Option<&std::path::Path>,
    mode: Mode,
) -> anyhow::Result<Report> {
    let (gold, predicted) = crate::data::read_conlleval(predictions, gold)?;
    Ok(score(&gold, &predicted, mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn entities(s: &str) -> Vec<Entity> {
        conlleval_entities(&[seq(s)]).into_iter().collect()
    }

    #[test]
    fn conlleval_reads_iob1_iob2_and_loose_tags_alike() {
        let e = |k: &str, a, b| (k.to_string(), a, b);
        // I- after O starts an entity; an entity at the sentence end is closed.
        assert_eq!(entities("O I-PER I-PER"), vec![e("PER", 1, 2)]);
        // Adjacent same-type entities separated by B-.
        assert_eq!(
            entities("I-LOC B-LOC I-LOC"),
            vec![e("LOC", 0, 0), e("LOC", 1, 2)]
        );
        // A type change mid-entity splits it.
        assert_eq!(
            entities("B-ORG I-PER"),
            vec![e("ORG", 0, 0), e("PER", 1, 1)]
        );
        // BIOES.
        assert_eq!(
            entities("S-PER B-LOC E-LOC"),
            vec![e("LOC", 1, 2), e("PER", 0, 0)]
        );
    }

    #[test]
    fn strict_drops_entities_that_do_not_start_with_b() {
        let s: Vec<Entity> = strict_entities(&[seq("O I-PER B-LOC I-LOC I-PER")])
            .into_iter()
            .collect();
        assert_eq!(s, vec![("LOC".to_string(), 2, 3)]);
    }

    #[test]
    fn sentence_boundaries_close_entities() {
        let gold = vec![seq("B-PER"), seq("I-PER")];
        let all = conlleval_entities(&gold);
        assert_eq!(all.len(), 2, "one entity per sentence, not one across them");
    }
}

//! The official SQuAD scores, following the published definitions of the v1.1 and v2.0
//! evaluation scripts.
//!
//! Normalisation: lower case, ASCII punctuation removed, the words `a`, `an`, `the` removed,
//! whitespace collapsed. Exact match: equal after normalisation. F1: bag-of-tokens overlap of
//! the normalised texts. Each question takes its best score over its gold answers.
//!
//! The two scripts differ where a text normalises to nothing (three gold answers of SQuAD
//! v1.1's dev set are `"."`), and each file is scored by its own version's rules:
//! - v1.1: every gold answer counts as it is; F1 counts common tokens only, so it is 0 when
//!   either side has no tokens (an empty prediction against such a gold: exact match 1, F1 0);
//! - v2.0: gold answers that normalise to nothing are dropped (a question left without one
//!   is unanswerable: its only gold is the empty answer), and F1 is 1 when both sides have no
//!   tokens, 0 when one side has none.
//!
//! A question without a prediction scores 0 (v1.1 says "Unanswered question will receive
//! score 0"). Figures are percentages, as the official scripts print them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::data::{self, Example};

/// The official normalisation of an answer text.
pub fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punct: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // Articles go only as whole words (`\b(a|an|the)\b`): runs of word characters.
    let mut out = String::with_capacity(no_punct.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !matches!(word.as_str(), "a" | "an" | "the") {
            out.push_str(word);
        } else {
            out.push(' ');
        }
        word.clear();
    };
    for c in no_punct.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn exact_match(prediction: &str, gold: &str) -> f64 {
    f64::from(normalize(prediction) == normalize(gold))
}

/// Token F1 under v2.0's rules (`v2`) or v1.1's: they differ only where a side has no tokens.
pub fn f1(prediction: &str, gold: &str, v2: bool) -> f64 {
    let (p, g) = (normalize(prediction), normalize(gold));
    let p: Vec<&str> = p.split_whitespace().collect();
    let g: Vec<&str> = g.split_whitespace().collect();
    if p.is_empty() || g.is_empty() {
        return f64::from(v2 && p == g);
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0usize;
    for t in &p {
        if let Some(n) = counts.get_mut(t)
            && *n > 0
        {
            *n -= 1;
            common += 1;
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The gold texts a prediction is compared with: all of them (v1.1), or those that normalise
/// to something, else the empty answer (v2.0).
fn golds(example: &Example, v2: bool) -> Vec<&str> {
    let texts: Vec<&str> = example
        .answer_texts
        .iter()
        .map(String::as_str)
        .filter(|t| !v2 || !normalize(t).is_empty())
        .collect();
    if texts.is_empty() { vec![""] } else { texts }
}

/// A question's best exact match and best F1 over its gold answers.
fn best(prediction: &str, example: &Example, v2: bool) -> (f64, f64) {
    golds(example, v2)
        .into_iter()
        .map(|g| (exact_match(prediction, g), f1(prediction, g, v2)))
        .fold((0.0, 0.0), |(e, f), (e2, f2)| (e.max(e2), f.max(f2)))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub exact_match: f64,
    pub f1: f64,
    pub total: usize,
    /// Questions with no entry in the predictions (scored 0).
    pub unanswered: usize,
    /// v2.0 only: the figures on answerable and unanswerable questions, and the best
    /// no-answer thresholds (when no-answer probabilities are given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v2: Option<V2Report>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct V2Report {
    pub has_ans_exact: f64,
    pub has_ans_f1: f64,
    pub has_ans_total: usize,
    pub no_ans_exact: f64,
    pub no_ans_f1: f64,
    pub no_ans_total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_exact: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_exact_thresh: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_f1_thresh: Option<f64>,
}

fn percent(sum: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { 100.0 * sum / n as f64 }
}

/// Scores `predictions` (id -> answer text) on `examples`. For v2.0 data, `na_probs` (id ->
/// probability of no answer) turns predictions with a probability above `na_threshold` into
/// the empty answer and yields the best thresholds.
pub fn score(
    examples: &[Example],
    predictions: &HashMap<String, String>,
    v2: bool,
    na_probs: Option<&HashMap<String, f64>>,
    na_threshold: f64,
) -> Report {
    let mut exact = Vec::with_capacity(examples.len());
    let mut f1s = Vec::with_capacity(examples.len());
    let mut unanswered = 0;
    for e in examples {
        let prediction = match predictions.get(&e.id) {
            Some(p) => p.as_str(),
            None => {
                unanswered += 1;
                exact.push(0.0);
                f1s.push(0.0);
                continue;
            }
        };
        let (e, f) = best(prediction, e, v2);
        exact.push(e);
        f1s.push(f);
    }
    let has_answer: Vec<bool> = examples.iter().map(|e| golds(e, true) != [""]).collect();
    let thresholded = |raw: &[f64]| -> Vec<f64> {
        examples
            .iter()
            .zip(raw)
            .zip(&has_answer)
            .map(
                |((e, &s), &has)| match na_probs.and_then(|p| p.get(&e.id)) {
                    Some(&prob) if prob > na_threshold => f64::from(!has),
                    _ => s,
                },
            )
            .collect()
    };
    let (exact_t, f1_t) = (thresholded(&exact), thresholded(&f1s));
    let total = examples.len();
    let split = |values: &[f64], want: bool| -> (f64, usize) {
        let picked: Vec<f64> = values
            .iter()
            .zip(&has_answer)
            .filter(|(_, h)| **h == want)
            .map(|(v, _)| *v)
            .collect();
        (percent(picked.iter().sum(), picked.len()), picked.len())
    };
    let v2_report = v2.then(|| {
        let (has_ans_exact, has_ans_total) = split(&exact_t, true);
        let (has_ans_f1, _) = split(&f1_t, true);
        let (no_ans_exact, no_ans_total) = split(&exact_t, false);
        let (no_ans_f1, _) = split(&f1_t, false);
        let best_of = |raw: &[f64]| {
            na_probs.map(|probs| best_threshold(examples, predictions, raw, &has_answer, probs))
        };
        let (be, bf) = (best_of(&exact), best_of(&f1s));
        V2Report {
            has_ans_exact,
            has_ans_f1,
            has_ans_total,
            no_ans_exact,
            no_ans_f1,
            no_ans_total,
            best_exact: be.map(|b| b.0),
            best_exact_thresh: be.map(|b| b.1),
            best_f1: bf.map(|b| b.0),
            best_f1_thresh: bf.map(|b| b.1),
        }
    });
    Report {
        exact_match: percent(exact_t.iter().sum(), total),
        f1: percent(f1_t.iter().sum(), total),
        total,
        unanswered,
        v2: v2_report,
    }
}

/// `score` of a predictions file (`{id: answer}`) on a dataset file, with an optional
/// no-answer probabilities file (v2.0). What does not fit is said on stderr: gold answers not
/// at their offsets, predicted ids not in the data, questions without a prediction (they
/// score 0), as the official script counts them.
pub fn score_files(
    gold: &Path,
    predictions: &Path,
    na_probs: Option<&Path>,
    na_threshold: f64,
) -> Result<Report> {
    let (examples, report) = data::load(gold)?;
    if !report.mismatched.is_empty() {
        eprintln!(
            "qa: {} gold answer(s) in {} are not at their offsets (scores use the texts): {}",
            report.mismatched.len(),
            gold.display(),
            report
                .mismatched
                .iter()
                .take(5)
                .map(|(id, _, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let answers: HashMap<String, String> =
        data::read_map(predictions, "question ids to answer strings")?;
    let known: HashSet<&str> = examples.iter().map(|e| e.id.as_str()).collect();
    let unknown = answers
        .keys()
        .filter(|id| !known.contains(id.as_str()))
        .count();
    if unknown > 0 {
        eprintln!(
            "qa: {unknown} prediction id(s) are not in {} and are ignored",
            gold.display()
        );
    }
    let na_probs: Option<HashMap<String, f64>> = match na_probs {
        Some(path) => Some(data::read_map(path, "question ids to probabilities")?),
        None => None,
    };
    let result = score(
        &examples,
        &answers,
        report.is_v2(&examples),
        na_probs.as_ref(),
        na_threshold,
    );
    if result.unanswered > 0 {
        eprintln!(
            "qa: {} of {} questions have no prediction and score 0",
            result.unanswered, result.total
        );
    }
    Ok(result)
}

/// The no-answer threshold that maximises the score: start from answering nothing (every
/// unanswerable question right), then admit predictions in order of rising no-answer
/// probability, keeping the best running total (the v2.0 script's search).
fn best_threshold(
    examples: &[Example],
    predictions: &HashMap<String, String>,
    scores: &[f64],
    has_answer: &[bool],
    na_probs: &HashMap<String, f64>,
) -> (f64, f64) {
    let mut current = has_answer.iter().filter(|h| !**h).count() as f64;
    let (mut best, mut threshold) = (current, 0.0);
    let mut order: Vec<usize> = (0..examples.len())
        .filter(|&i| na_probs.contains_key(&examples[i].id))
        .collect();
    order.sort_by(|&a, &b| na_probs[&examples[a].id].total_cmp(&na_probs[&examples[b].id]));
    for i in order {
        let id = &examples[i].id;
        let delta = if has_answer[i] {
            scores[i]
        } else if predictions.get(id).is_some_and(|p| !p.is_empty()) {
            -1.0
        } else {
            0.0
        };
        current += delta;
        if current > best {
            best = current;
            threshold = na_probs[id];
        }
    }
    (percent(best, examples.len()), threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_drops_case_punctuation_articles_and_spaces() {
        assert_eq!(normalize("The  Eiffel-Tower!"), "eiffeltower");
        assert_eq!(
            normalize("an apple, a pear and THE plum"),
            "apple pear and plum"
        );
        assert_eq!(normalize("theory of another"), "theory of another");
        // Non-ASCII punctuation stays, but separates words: the article still goes.
        assert_eq!(normalize("—the end"), "— end");
    }

    #[test]
    fn f1_is_token_overlap() {
        for v2 in [false, true] {
            assert_eq!(f1("the cat sat", "cat sat down", v2), 0.8);
            assert_eq!(f1("", "cat", v2), 0.0);
            assert_eq!(f1("dog", "cat", v2), 0.0);
            // Repeated tokens count once per occurrence on both sides.
            assert!((f1("cat cat", "cat", v2) - 2.0 / 3.0).abs() < 1e-12);
        }
        // Both sides without tokens: v2.0 counts a match, v1.1 counts common tokens (none).
        assert_eq!(f1("", "", true), 1.0);
        assert_eq!(f1("", "", false), 0.0);
        assert_eq!(f1("The", "a", false), 0.0);
    }

    fn example(id: &str, answers: &[&str]) -> Example {
        Example {
            id: id.into(),
            question: "q".into(),
            context: "The end.".into(),
            answers: Vec::new(),
            answer_texts: answers.iter().map(|a| a.to_string()).collect(),
            is_impossible: false,
            source: "test".into(),
        }
    }

    /// Three SQuAD v1.1 dev questions have a gold answer `"."`, nothing once normalised (e.g.
    /// 5730b7ce069b5314008322c4: "interventionism" four times and "."). The v1.1 script scores
    /// an empty prediction on them exact match 1 and F1 0; a v2.0 file drops that gold and
    /// scores the prediction 0 on both.
    #[test]
    fn a_gold_answer_that_normalises_to_nothing_follows_each_version() {
        let examples = [example(
            "q1",
            &["interventionism", ".", "the Interventionism"],
        )];
        let empty: HashMap<String, String> = [("q1".to_string(), String::new())].into();
        let v1 = score(&examples, &empty, false, None, 1.0);
        assert_eq!((v1.exact_match, v1.f1), (100.0, 0.0));
        let v2 = score(&examples, &empty, true, None, 1.0);
        assert_eq!((v2.exact_match, v2.f1), (0.0, 0.0));
        // A real answer scores the same under both.
        let cat: HashMap<String, String> =
            [("q1".to_string(), "Interventionism.".to_string())].into();
        for v2 in [false, true] {
            let r = score(&examples, &cat, v2, None, 1.0);
            assert_eq!((r.exact_match, r.f1), (100.0, 100.0));
        }
    }
}

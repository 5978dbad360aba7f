//! The official SemEval-2010 Task 8 scores (the definitions of the task's scorer v1.2).
//!
//! Three evaluations, as the scorer prints them:
//! - `fine`: (2*9+1)-way, every directed label its own class;
//! - `undirected`: (9+1)-way, direction ignored;
//! - `directed`: (9+1)-way with direction taken into account — the **official** score.
//!   A prediction with the right relation but the wrong direction is wrong; it still counts
//!   as a prediction of that relation in the precision's denominator (the v1.2 fix).
//!
//! Per relation: P = correct / predicted, R = correct / gold, F1 = 2PR/(P+R) (0 when P or R
//! is undefined). Macro P/R/F1 are the plain means over the relations of the gold key except
//! `Other`; micro figures pool the counts of those relations. Examples without a prediction
//! are "skipped": they lower recall and count as wrong in the accuracy over all examples.
//! Values are fractions (the scorer prints percentages).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;
use tuning::task::scoring::{f1, ratio};

use crate::data;

/// Scores of one relation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationScore {
    pub relation: String,
    pub correct: usize,
    /// Predictions of this relation, including the wrong-direction ones in `directed`.
    pub predicted: usize,
    pub gold: usize,
    /// Right relation, wrong direction (the scorer's xDIRx; `directed` only).
    pub wrong_direction: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One of the scorer's three evaluations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Correct / predicted examples.
    pub accuracy: f64,
    /// Correct / all examples (skipped ones count as wrong).
    pub accuracy_skipped_wrong: f64,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub relations: Vec<RelationScore>,
}

/// Everything the scorer reports, plus the (2*9+1)-way confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The official figure: macro-F1 of the directed (9+1)-way evaluation, Other excluded.
    pub official_macro_f1: f64,
    pub examples: usize,
    pub skipped: usize,
    pub coverage: f64,
    pub directed: Evaluation,
    pub undirected: Evaluation,
    pub fine: Evaluation,
    /// Row = gold label, column = predicted label, over `labels`.
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

impl Report {
    /// The flat metrics the trainer logs and selects on.
    pub fn metrics(&self) -> tuning::Metrics {
        let mut m = tuning::Metrics::new();
        m.insert("macro_f1".into(), self.official_macro_f1);
        m.insert("micro_f1".into(), self.directed.micro_f1);
        m.insert("accuracy".into(), self.fine.accuracy_skipped_wrong);
        m.insert("undirected_macro_f1".into(), self.undirected.macro_f1);
        m.insert("fine_macro_f1".into(), self.fine.macro_f1);
        m
    }
}

/// The relation of a label without its direction: `Cause-Effect(e2,e1)` -> `Cause-Effect`.
pub fn undirected(label: &str) -> &str {
    match label.find('(') {
        Some(at) if label.ends_with(')') => &label[..at],
        _ => label,
    }
}

/// The line the official scorer ends with, for stderr.
pub fn official_line(report: &Report) -> String {
    format!(
        "official score ((9+1)-way, direction taken into account): macro-F1 = {:.2}%",
        100.0 * report.official_macro_f1
    )
}

/// Refuses a relation named without its direction on one side (`Cause-Effect`) and with it
/// on the other (`Cause-Effect(e2,e1)`): every such answer would count as wrong and the
/// official score would read 0% with no hint why. Some SemEval copies ship an undirected
/// TEST_FILE_KEY.TXT; the directed key is in the label lines of TEST_FILE_FULL.TXT. Each side
/// is `(label, where)` pairs.
pub fn check_directions(gold: &[(&str, String)], predicted: &[(&str, String)]) -> Result<()> {
    for (one, other) in [(gold, predicted), (predicted, gold)] {
        // The first directed label of `other` for each relation, by its undirected name.
        let mut directed: HashMap<&str, &(&str, String)> = HashMap::new();
        for entry in other.iter() {
            let relation = undirected(entry.0);
            if relation != entry.0 {
                directed.entry(relation).or_insert(entry);
            }
        }
        if let Some(((label, at), (with, with_at))) = one
            .iter()
            .find_map(|entry| directed.get(entry.0).map(|found| (entry, *found)))
        {
            bail!(
                "{at}: label `{label}` has no direction, but {with_at} has `{with}`: the \
                 official score needs the direction on both sides (a SemEval key without \
                 directions can be rebuilt from the label lines of TEST_FILE_FULL.TXT, or \
                 pass that file as --gold)"
            );
        }
    }
    Ok(())
}

/// The official figures of a predictions key against a gold key or labelled data file, as
/// the scorer computes them: every predicted id must be in the gold key; gold ids without a
/// prediction count as skipped; `other` is left out of the macro average.
pub fn score_files(gold: &Path, predictions: &Path, other: &str) -> Result<Report> {
    let gold_entries: Vec<(String, String, String)> = if data::is_dataset(gold)? {
        data::load(gold, true)?
            .into_iter()
            .map(|e| (e.id, e.label.expect("labels required"), e.source))
            .collect()
    } else {
        let name = gold.display();
        data::read_key(gold)?
            .into_iter()
            .map(|(id, label, line)| (id, label, format!("{name}:{line}")))
            .collect()
    };
    let predicted = data::read_key(predictions)?;
    let name = predictions.display();
    check_directions(
        &gold_entries
            .iter()
            .map(|(_, l, at)| (l.as_str(), at.clone()))
            .collect::<Vec<_>>(),
        &predicted
            .iter()
            .map(|(_, l, line)| (l.as_str(), format!("{name}:{line}")))
            .collect::<Vec<_>>(),
    )?;
    let gold_ids: HashSet<&str> = gold_entries.iter().map(|(id, _, _)| id.as_str()).collect();
    // As the official scorer: a predicted id missing from the key is an error.
    if let Some((id, _, line)) = predicted
        .iter()
        .find(|(id, _, _)| !gold_ids.contains(id.as_str()))
    {
        bail!(
            "{name}:{line}: id {id} is not in the gold key {}",
            gold.display()
        );
    }
    // A label the gold key never uses: the official scorer accepts any of its 19 labels
    // (a held-out key may lack a rare direction such as Entity-Destination(e2,e1)), warns,
    // and scores it as a prediction of that relation; so does this one, and for other data
    // the label's relation must be in the key. Anything else is refused, not scored as a
    // class of its own: it is a mistake in the predictions file (another task's model, a
    // shifted column).
    let gold_label_set: HashSet<&str> = gold_entries.iter().map(|(_, l, _)| l.as_str()).collect();
    let gold_relations: HashSet<&str> = gold_label_set.iter().map(|l| undirected(l)).collect();
    let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, label, line) in &predicted {
        if gold_label_set.contains(label.as_str()) {
            continue;
        }
        if !(data::is_semeval_label(label) || gold_relations.contains(undirected(label))) {
            let mut known: Vec<&str> = gold_label_set.iter().copied().collect();
            known.sort();
            bail!(
                "{name}:{line}: id {id}: `{label}` is not a label of the gold key {} (labels: {})",
                gold.display(),
                known.join(", ")
            );
        }
        *unknown.entry(label.as_str()).or_default() += 1;
    }
    for (label, count) in &unknown {
        eprintln!(
            "relation: warning: {name} has {count} prediction(s) of `{label}`, which is not a \
             label of the gold key {}; scored as the official scorer does (a prediction of \
             that relation, never a class of its own)",
            gold.display()
        );
    }
    let by_id: HashMap<&str, &str> = predicted
        .iter()
        .map(|(id, label, _)| (id.as_str(), label.as_str()))
        .collect();
    let gold_labels: Vec<&str> = gold_entries.iter().map(|(_, l, _)| l.as_str()).collect();
    let predicted_labels: Vec<Option<&str>> = gold_entries
        .iter()
        .map(|(id, _, _)| by_id.get(id.as_str()).copied())
        .collect();
    let report = score(&gold_labels, &predicted_labels, other);
    if report.skipped == report.examples {
        bail!("{name}: no prediction for any id of {}", gold.display());
    }
    if report.skipped > 0 {
        eprintln!(
            "relation: warning: {} of {} gold ids have no prediction in {name}: they count as \
             skipped (wrong in the accuracy, missed in the recall), as the official scorer \
             counts them",
            report.skipped, report.examples
        );
    }
    Ok(report)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fine,
    Undirected,
    Directed,
}

/// Scores predictions (`None` = skipped) against gold labels, pairwise.
pub fn score(gold: &[&str], predicted: &[Option<&str>], other: &str) -> Report {
    assert_eq!(
        gold.len(),
        predicted.len(),
        "one prediction slot per gold label"
    );
    let skipped = predicted.iter().filter(|p| p.is_none()).count();
    let mut labels: Vec<String> = gold
        .iter()
        .copied()
        .chain(predicted.iter().flatten().copied())
        .map(String::from)
        .collect();
    labels.sort();
    labels.dedup();
    let index: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
    for (g, p) in gold.iter().zip(predicted) {
        if let Some(p) = p {
            confusion[index[g]][index[p]] += 1;
        }
    }
    let directed = evaluate(Mode::Directed, gold, predicted, other);
    Report {
        official_macro_f1: directed.macro_f1,
        examples: gold.len(),
        skipped,
        coverage: ratio(gold.len() - skipped, gold.len()),
        directed,
        undirected: evaluate(Mode::Undirected, gold, predicted, other),
        fine: evaluate(Mode::Fine, gold, predicted, other),
        labels,
        confusion,
    }
}

#[derive(Default, Clone, Copy)]
struct Counts {
    correct: usize,
    predicted: usize,
    gold: usize,
    wrong_direction: usize,
}

fn evaluate(mode: Mode, gold: &[&str], predicted: &[Option<&str>], other: &str) -> Evaluation {
    let class = |label: &str| -> String {
        match mode {
            Mode::Fine => label.to_string(),
            Mode::Undirected | Mode::Directed => undirected(label).to_string(),
        }
    };
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let (mut correct_all, mut proposed_all) = (0usize, 0usize);
    for (&g, p) in gold.iter().zip(predicted) {
        counts.entry(class(g)).or_default().gold += 1;
        let Some(p) = *p else { continue };
        proposed_all += 1;
        let (gc, pc) = (class(g), class(p));
        let entry = counts.entry(pc.clone()).or_default();
        entry.predicted += 1;
        let right = match mode {
            Mode::Directed => g == p,
            Mode::Fine | Mode::Undirected => gc == pc,
        };
        if right {
            entry.correct += 1;
            correct_all += 1;
        } else if mode == Mode::Directed && gc == pc {
            entry.wrong_direction += 1;
        }
    }
    let other_class = class(other);
    // The scorer iterates over the relations of the gold key only.
    let relations: Vec<RelationScore> = counts
        .iter()
        .filter(|(_, c)| c.gold > 0)
        .map(|(name, c)| {
            let precision = ratio(c.correct, c.predicted);
            let recall = ratio(c.correct, c.gold);
            RelationScore {
                relation: name.clone(),
                correct: c.correct,
                predicted: c.predicted,
                gold: c.gold,
                wrong_direction: c.wrong_direction,
                precision,
                recall,
                f1: f1(precision, recall),
            }
        })
        .collect();
    let scored: Vec<&RelationScore> = relations
        .iter()
        .filter(|r| r.relation != other_class)
        .collect();
    let n = scored.len().max(1) as f64;
    let (correct, predicted, gold_count) = scored.iter().fold((0, 0, 0), |acc, r| {
        (acc.0 + r.correct, acc.1 + r.predicted, acc.2 + r.gold)
    });
    let micro_precision = ratio(correct, predicted);
    let micro_recall = ratio(correct, gold_count);
    Evaluation {
        accuracy: ratio(correct_all, proposed_all),
        accuracy_skipped_wrong: ratio(correct_all, gold.len()),
        micro_precision,
        micro_recall,
        micro_f1: f1(micro_precision, micro_recall),
        macro_precision: scored.iter().map(|r| r.precision).sum::<f64>() / n,
        macro_recall: scored.iter().map(|r| r.recall).sum::<f64>() / n,
        macro_f1: scored.iter().map(|r| r.f1).sum::<f64>() / n,
        relations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(pairs: &[(&str, Option<&str>)]) -> Report {
        let gold: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let predicted: Vec<Option<&str>> = pairs.iter().map(|p| p.1).collect();
        score(&gold, &predicted, "Other")
    }

    fn relation<'a>(e: &'a Evaluation, name: &str) -> &'a RelationScore {
        e.relations.iter().find(|r| r.relation == name).unwrap()
    }

    const CE12: &str = "Cause-Effect(e1,e2)";
    const CE21: &str = "Cause-Effect(e2,e1)";
    const CW12: &str = "Component-Whole(e1,e2)";

    #[test]
    fn wrong_direction_is_wrong_but_counts_as_a_prediction() {
        // Gold CE(e1,e2) twice: one right, one with the wrong direction; a CW right.
        let r = report(&[(CE12, Some(CE12)), (CE12, Some(CE21)), (CW12, Some(CW12))]);
        let ce = relation(&r.directed, "Cause-Effect");
        assert_eq!(
            (ce.correct, ce.predicted, ce.gold, ce.wrong_direction),
            (1, 2, 2, 1)
        );
        assert_eq!((ce.precision, ce.recall), (0.5, 0.5));
        // Macro over CE (0.5) and CW (1.0).
        assert!((r.official_macro_f1 - 0.75).abs() < 1e-12);
        // Ignoring direction both CE predictions are right.
        assert_eq!(relation(&r.undirected, "Cause-Effect").f1, 1.0);
        assert_eq!(r.undirected.macro_f1, 1.0);
    }

    #[test]
    fn other_predicted_for_a_relation_and_a_relation_predicted_for_other() {
        let r = report(&[
            (CE12, Some("Other")), // a miss: lowers CE recall
            ("Other", Some(CE12)), // a false alarm: lowers CE precision
            (CE12, Some(CE12)),    // right
            ("Other", Some("Other")),
        ]);
        let ce = relation(&r.directed, "Cause-Effect");
        assert_eq!((ce.correct, ce.predicted, ce.gold), (1, 2, 2));
        assert_eq!(ce.f1, 0.5);
        // Other is scored but left out of the average: only CE counts.
        assert_eq!(r.official_macro_f1, 0.5);
        assert_eq!(relation(&r.directed, "Other").f1, 0.5);
        assert_eq!(r.directed.accuracy, 0.5);
        assert_eq!(
            (r.directed.micro_precision, r.directed.micro_recall),
            (0.5, 0.5)
        );
    }

    #[test]
    fn skipped_examples_lower_recall_and_coverage() {
        let r = report(&[(CE12, Some(CE12)), (CE12, None)]);
        assert_eq!(r.skipped, 1);
        assert_eq!(r.coverage, 0.5);
        let ce = relation(&r.directed, "Cause-Effect");
        assert_eq!((ce.precision, ce.recall), (1.0, 0.5));
        assert_eq!(r.directed.accuracy, 1.0);
        assert_eq!(r.directed.accuracy_skipped_wrong, 0.5);
    }

    #[test]
    fn a_relation_never_predicted_scores_zero_and_is_averaged() {
        let r = report(&[(CE12, Some(CE12)), (CW12, Some("Other"))]);
        assert_eq!(relation(&r.directed, "Component-Whole").f1, 0.0);
        assert_eq!(r.official_macro_f1, 0.5);
        // Fine-grained: the CE(e2,e1) class never occurs in gold, so it is not averaged.
        assert_eq!(r.fine.relations.len(), 2);
    }

    #[test]
    fn confusion_matrix_rows_are_gold() {
        let r = report(&[(CE12, Some(CE21)), ("Other", Some("Other"))]);
        assert_eq!(r.labels, vec![CE12, CE21, "Other"]);
        assert_eq!(r.confusion[0], vec![0, 1, 0]);
        assert_eq!(r.confusion[2], vec![0, 0, 1]);
    }

    #[test]
    fn a_direction_on_one_side_only_is_refused_with_both_places() {
        let at = |l: &'static str, w: &str| (l, w.to_string());
        let gold = [at("Other", "g:1"), at("Cause-Effect", "g:2")];
        let predicted = [at("Cause-Effect(e2,e1)", "p:7")];
        let err = check_directions(&gold, &predicted).unwrap_err().to_string();
        assert!(
            err.contains(
                "g:2: label `Cause-Effect` has no direction, but p:7 has `Cause-Effect(e2,e1)`"
            ),
            "{err}"
        );
        let directed = [at("Cause-Effect(e1,e2)", "g:2")];
        assert!(check_directions(&directed, &predicted).is_ok());
        let undirected = [at("Cause-Effect", "p:1")];
        assert!(check_directions(&gold, &undirected).is_ok());
    }

    // The two tests below follow the official scorer v1.2 line by line: its per-relation loop
    // runs over the labels of the answer key only, its macro average divides by their number
    // (Other excluded), and a proposal of a label the key lacks adds to no relation's
    // precision in the 19-way evaluation but counts as a wrong-direction answer of its
    // relation in the official one.
    const ED12: &str = "Entity-Destination(e1,e2)";
    const ED21: &str = "Entity-Destination(e2,e1)";

    #[test]
    fn a_label_missing_from_the_key_is_scored_as_the_official_scorer_does() {
        let r = report(&[
            (ED12, Some(ED21)),
            (ED12, Some(ED12)),
            ("Other", Some("Other")),
        ]);
        // Official (directed): one right, one wrong direction; both are predictions of E-D.
        let ed = relation(&r.directed, "Entity-Destination");
        assert_eq!(
            (ed.correct, ed.predicted, ed.gold, ed.wrong_direction),
            (1, 2, 2, 1)
        );
        assert_eq!(r.official_macro_f1, 0.5);
        // 19-way: Entity-Destination(e2,e1) is not in the key, so it is no class of its own and
        // its proposal is in no precision: E-D(e1,e2) has P = 1/1, R = 1/2.
        assert!(r.fine.relations.iter().all(|x| x.relation != ED21));
        assert_eq!(r.fine.micro_precision, 1.0);
        assert_eq!(r.fine.micro_recall, 0.5);
        assert!((r.fine.macro_f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.fine.accuracy, 2.0 / 3.0);
    }

    #[test]
    fn the_macro_average_is_over_the_relations_of_the_key() {
        // A key with two relations; Member-Collection is proposed but not in the key.
        let r = report(&[(CE12, Some(CE12)), (CW12, Some("Member-Collection(e1,e2)"))]);
        // (F1 1 for Cause-Effect + 0 for Component-Whole) / 2, not / 3 and not / 9.
        assert_eq!(r.directed.macro_f1, 0.5);
        assert_eq!(r.directed.relations.len(), 2);
        // The proposal outside the key counts as Other would: in no micro precision.
        assert_eq!(r.directed.micro_precision, 1.0);
        assert_eq!(r.directed.micro_recall, 0.5);
    }

    #[test]
    fn score_files_accepts_the_official_labels_a_key_lacks_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let gold = dir.path().join("key.txt");
        std::fs::write(&gold, format!("1\t{ED12}\n2\t{ED12}\n3\tOther\n")).unwrap();
        let predictions = dir.path().join("p.txt");
        // In another order than the key, as the official scorer allows.
        std::fs::write(&predictions, format!("3\tOther\n2\t{ED12}\n1\t{ED21}\n")).unwrap();
        let r = score_files(&gold, &predictions, "Other").unwrap();
        assert_eq!(r.official_macro_f1, 0.5);
        assert_eq!(r.skipped, 0);
        std::fs::write(&predictions, "1\tEntity-Destiny(e1,e2)\n").unwrap();
        let err = score_files(&gold, &predictions, "Other")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.txt:1: id 1: `Entity-Destiny(e1,e2)` is not a label of the gold key"),
            "{err}"
        );
    }
}

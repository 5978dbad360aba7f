//! Classification metrics: accuracy, macro-F1, per-class precision/recall/F1 and the confusion
//! matrix, with scikit-learn's definitions (a class never predicted has precision 0); and
//! `score`, the metrics of any predictions file against a gold file.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use tuning::task::scoring::{f1, ratio};

use crate::data::{self, Columns, LabelSet, Labels};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScores {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class: Vec<ClassScores>,
    /// `confusion[gold][predicted]`
    pub confusion: Vec<Vec<usize>>,
    pub labels: Vec<String>,
}

pub fn report(gold: &[usize], predicted: &[usize], labels: &[String]) -> Report {
    assert_eq!(gold.len(), predicted.len(), "one prediction per gold label");
    let n = labels.len();
    let mut confusion = vec![vec![0usize; n]; n];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g][p] += 1;
    }
    let correct: usize = (0..n).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassScores> = (0..n)
        .map(|c| {
            let tp = confusion[c][c];
            let predicted_c: usize = (0..n).map(|g| confusion[g][c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = ratio(tp, predicted_c);
            let recall = ratio(tp, support);
            let f1 = f1(precision, recall);
            ClassScores {
                label: labels[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    Report {
        accuracy: ratio(correct, gold.len()),
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / n.max(1) as f64,
        per_class,
        confusion,
        labels: labels.to_vec(),
    }
}

impl Report {
    /// Flat metrics for logs and best-model selection.
    pub fn metrics(&self) -> tuning::Metrics {
        let mut m = tuning::Metrics::new();
        m.insert("accuracy".into(), self.accuracy);
        m.insert("macro_f1".into(), self.macro_f1);
        for c in &self.per_class {
            m.insert(format!("f1_{}", c.label), c.f1);
        }
        m
    }
}

/// The metrics of `predictions` (`predict`'s JSONL or a GLUE TSV) against the labelled
/// `gold` file, every gold example matched by index. A label seen only in the predictions
/// still counts (as a class no gold example has).
pub fn score_files(gold: &Path, predictions: &Path, columns: &Columns) -> Result<Report> {
    let examples = data::load(gold, columns, Labels::Required)?;
    let predicted = data::read_predictions(predictions)?;
    if predicted.len() != examples.len() {
        bail!(
            "{} has {} predictions for {} gold examples in {}",
            predictions.display(),
            predicted.len(),
            examples.len(),
            gold.display()
        );
    }
    let by_index: HashMap<usize, &String> = predicted.iter().map(|(i, l)| (*i, l)).collect();
    // The classes are the gold data's: a predicted label outside them is a mistake in the
    // predictions file (another task's model, a shifted column), never a class of its own.
    let labels = LabelSet::from_names(examples.iter().filter_map(|e| e.label.as_deref()));
    let gold_ids = labels.ids(&examples)?;
    let predicted_ids = examples
        .iter()
        .map(|e| {
            let label = by_index.get(&e.index).ok_or_else(|| {
                anyhow!(
                    "{}: no prediction for index {}",
                    predictions.display(),
                    e.index
                )
            })?;
            labels.id(label).ok_or_else(|| {
                anyhow!(
                    "{}: index {}: `{label}` is not a label of {} (labels: {})",
                    predictions.display(),
                    e.index,
                    gold.display(),
                    labels.names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(report(&gold_ids, &predicted_ids, &labels.names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_case() {
        // gold:  0 0 0 1 1 2 ; predicted: 0 0 1 1 2 2
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let r = report(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], &labels);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            r.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        // a: P 2/2, R 2/3 -> F1 0.8; b: P 1/2, R 1/2 -> 0.5; c: P 1/2, R 1 -> 2/3
        let f1: Vec<f64> = r.per_class.iter().map(|c| c.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12 && (f1[1] - 0.5).abs() < 1e-12);
        assert!((f1[2] - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.per_class[0].support, 3);
    }

    #[test]
    fn a_class_never_predicted_scores_zero_not_nan() {
        let labels = vec!["neg".to_string(), "pos".to_string()];
        let r = report(&[0, 1, 1], &[1, 1, 1], &labels);
        assert_eq!(r.per_class[0].precision, 0.0);
        assert_eq!(r.per_class[0].f1, 0.0);
        assert!(r.macro_f1.is_finite());
    }
}

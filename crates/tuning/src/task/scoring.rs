//! Small arithmetic every task's metrics share.

/// `a / b`, or 0 when `b` is 0 (a precision with no predictions, as the official scorers and
/// scikit-learn's `zero_division=0` count it).
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The harmonic mean of precision and recall, 0 when both are 0.
pub fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

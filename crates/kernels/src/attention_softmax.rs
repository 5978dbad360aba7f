//! Attention probabilities in one pass per row: `softmax(scores·scale + mask_bias)` over the
//! last axis, and its backward, for `[batch, heads, query, key]` scores.
//!
//! Burn composes this from five tensor operations (scale, mask add, max, exp, sum, divide),
//! each a full pass over `batch·heads·T²` elements with its own allocation, and autodiff
//! records each of them. Here a row of `T` keys is read once into cache and finished there.
//! Same numerics as PyTorch's: the row maximum is subtracted before `exp`, so large scores
//! do not overflow; `exp` is [`super::simd::exp_nonpositive`] (a few ulps).

use rayon::prelude::*;

use super::simd::{exp_nonpositive, lane_max, lane_sum};

/// Rows per parallel task (a row is one query's scores over all keys).
const ROWS_PER_TASK: usize = 64;

/// The shape the kernels need: rows of `keys` elements, and how many consecutive rows share
/// one mask row (`heads · queries`: the mask is `[batch, 1, 1, keys]`).
#[derive(Debug, Clone, Copy)]
pub struct Rows {
    pub keys: usize,
    pub rows_per_mask: usize,
}

#[inline(always)]
fn softmax_row(row: &mut [f32], mask: &[f32], scale: f32) {
    for (v, &m) in row.iter_mut().zip(mask) {
        *v = *v * scale + m;
    }
    let max = lane_max(row);
    for v in row.iter_mut() {
        *v = exp_nonpositive(*v - max);
    }
    let inv = 1.0 / lane_sum(row, |i| row[i]);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `grad ← scale · p ⊙ (grad − Σ grad⊙p)`: the softmax Jacobian-vector product, times the
/// scale the scores were multiplied by.
#[inline(always)]
fn softmax_backward_row(probs: &[f32], grad: &mut [f32], scale: f32) {
    let dot = lane_sum(grad, |i| grad[i] * probs[i]);
    for (g, &p) in grad.iter_mut().zip(probs) {
        *g = scale * p * (*g - dot);
    }
}

#[inline(always)]
fn forward_rows(block: &mut [f32], first_row: usize, mask: &[f32], rows: Rows, scale: f32) {
    for (i, row) in block.chunks_exact_mut(rows.keys).enumerate() {
        let m = (first_row + i) / rows.rows_per_mask;
        softmax_row(row, &mask[m * rows.keys..(m + 1) * rows.keys], scale);
    }
}

#[inline(always)]
fn backward_rows(probs: &[f32], grad: &mut [f32], keys: usize, scale: f32) {
    for (g, p) in grad.chunks_exact_mut(keys).zip(probs.chunks_exact(keys)) {
        softmax_backward_row(p, g, scale);
    }
}

widest_simd!(forward_rows_simd => forward_rows(block: &mut [f32], first_row: usize, mask: &[f32], rows: Rows, scale: f32));
widest_simd!(backward_rows_simd => backward_rows(probs: &[f32], grad: &mut [f32], keys: usize, scale: f32));

/// The softmax of every row of `block` on the calling thread (one task's share of a larger
/// call); row `i` uses mask row `i / rows.rows_per_mask` of `mask`.
pub(crate) fn softmax_rows(block: &mut [f32], mask: &[f32], rows: Rows, scale: f32) {
    forward_rows_simd(block, 0, mask, rows, scale)
}

/// [`backward_in_place`] for one block on the calling thread.
pub(crate) fn softmax_backward_rows(probs: &[f32], grad: &mut [f32], keys: usize, scale: f32) {
    backward_rows_simd(probs, grad, keys, scale)
}

fn check(len: usize, mask_len: usize, rows: Rows) {
    assert!(
        rows.keys > 0 && len.is_multiple_of(rows.keys),
        "attention softmax: ragged rows"
    );
    let mask_rows = len / rows.keys / rows.rows_per_mask.max(1);
    assert_eq!(
        mask_rows * rows.keys,
        mask_len,
        "attention softmax: mask shape"
    );
}

/// Scores in, probabilities out, in place.
pub fn forward_in_place(scores: &mut [f32], mask: &[f32], rows: Rows, scale: f32) {
    check(scores.len(), mask.len(), rows);
    let task = ROWS_PER_TASK * rows.keys;
    scores
        .par_chunks_mut(task)
        .enumerate()
        .for_each(|(t, block)| forward_rows_simd(block, t * ROWS_PER_TASK, mask, rows, scale));
}

/// Gradient of the scores from the gradient of the probabilities, in place.
pub fn backward_in_place(probs: &[f32], grad: &mut [f32], keys: usize, scale: f32) {
    assert_eq!(
        probs.len(),
        grad.len(),
        "attention softmax backward: sizes differ"
    );
    let task = ROWS_PER_TASK * keys;
    grad.par_chunks_mut(task)
        .zip(probs.par_chunks(task))
        .for_each(|(g, p)| backward_rows_simd(p, g, keys, scale));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_row(scores: &[f32], mask: &[f32], scale: f32) -> Vec<f64> {
        let scores: Vec<f64> = scores.iter().map(|&s| s as f64).collect();
        reference_row_f64(&scores, mask, scale)
    }

    fn reference_row_f64(scores: &[f64], mask: &[f32], scale: f32) -> Vec<f64> {
        let v: Vec<f64> = scores
            .iter()
            .zip(mask)
            .map(|(&s, &m)| s * scale as f64 + m as f64)
            .collect();
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = v.iter().map(|x| (x - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.iter().map(|x| x / sum).collect()
    }

    fn sample(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (h % 20_000) as f32 / 1000.0 - 10.0
            })
            .collect()
    }

    #[test]
    fn forward_matches_a_float64_softmax() {
        // 2 batches x 3 heads x 5 queries x 21 keys; batch 1 has its last 6 keys masked.
        let rows = Rows {
            keys: 21,
            rows_per_mask: 15,
        };
        let mut scores = sample(2 * 15 * 21, 1);
        let original = scores.clone();
        let mut mask = vec![0.0f32; 2 * 21];
        for m in &mut mask[21 + 15..] {
            *m = f32::MIN;
        }
        forward_in_place(&mut scores, &mask, rows, 0.125);
        for (r, row) in scores.chunks(21).enumerate() {
            let b = r / 15;
            let want = reference_row(
                &original[r * 21..(r + 1) * 21],
                &mask[b * 21..(b + 1) * 21],
                0.125,
            );
            for (g, w) in row.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-6, "row {r}: {g} vs {w}");
            }
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            if b == 1 {
                // Exactly zero: a subnormal weight would slow every later product 100-fold.
                assert!(
                    row[15..].iter().all(|&p| p == 0.0),
                    "masked keys get no weight"
                );
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let keys = 7;
        let rows = Rows {
            keys,
            rows_per_mask: 1,
        };
        let scores = sample(keys, 9);
        let mask = vec![0.0f32; keys];
        let upstream = sample(keys, 4);
        let scale = 0.5f32;
        // Perturb in f64: a step of 1e-3 on an f32 score near 10 would itself be off by 0.1%.
        let loss = |s: &[f64]| -> f64 {
            let p = reference_row_f64(s, &mask, scale);
            p.iter().zip(&upstream).map(|(p, u)| p * *u as f64).sum()
        };
        let mut probs = scores.clone();
        forward_in_place(&mut probs, &mask, rows, scale);
        let mut grad = upstream.clone();
        backward_in_place(&probs, &mut grad, keys, scale);
        for j in 0..keys {
            let h = 1e-4f64;
            let base: Vec<f64> = scores.iter().map(|&s| s as f64).collect();
            let mut plus = base.clone();
            plus[j] += h;
            let mut minus = base;
            minus[j] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            assert!(
                (grad[j] as f64 - numeric).abs() < 1e-5,
                "key {j}: {} vs {numeric}",
                grad[j]
            );
        }
    }

    #[test]
    fn nan_scores_give_nan_rows() {
        let rows = Rows {
            keys: 4,
            rows_per_mask: 1,
        };
        let mut scores = vec![1.0, f32::NAN, 0.0, 2.0];
        forward_in_place(&mut scores, &[0.0; 4], rows, 1.0);
        assert!(scores.iter().all(|p| p.is_nan()));
    }
}

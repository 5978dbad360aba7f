//! Multi-head scaled dot-product attention for inference in one kernel:
//! `softmax(Q·Kᵀ·scale + mask)·V` for every (sequence, head), reading Q, K and V straight from
//! the `[B·T, H]` outputs of the projections and writing the context in the same layout.
//!
//! The composed version (`split_heads` → `matmul` → softmax → `matmul` → merge heads) copies
//! Q, K, V and the context once each to move the head axis, and allocates the `[B, N, T, T]`
//! score tensor zeroed, writes it, then reads and writes it again for the softmax: about a
//! tenth of a 32x128 MiniLM forward on the benchmark machine. Here each (sequence, head) pair
//! is one task whose `T x T` scores stay in a per-thread buffer in cache: the head is
//! addressed through strides (`gemm` takes any row and column stride), the softmax runs on
//! the rows while they are hot, and the product with V lands in the context's columns for that
//! head. Same arithmetic as the composed path (gemm products, [`super::attention_softmax`]'s
//! row softmax), so results agree with it to rounding.
//!
//! No backward pass: training goes through the composed path, which autodiff records.

use std::cell::RefCell;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::attention_softmax::{Rows, softmax_rows};

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Shape {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// A raw pointer the tasks share; each writes its own (sequence, head) block.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint elements (see `forward`), and the buffer outlives them.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Through a method, so closures capture the whole (Sync) wrapper, not its raw field.
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

thread_local! {
    /// The `T x T` scores of the current task.
    static SCORES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `context[b·T + i, h·D + d] = Σ_j softmax_j(q_i·k_j·scale + mask[b, j]) · v[b·T + j, h·D + d]`
/// for row-major `[B·T, H]` `q`, `k`, `v` (H = heads·D) and a `[B, T]` additive mask.
pub fn forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    shape: Shape,
    scale: f32,
) -> Vec<f32> {
    let Shape {
        batch,
        seq,
        heads,
        head_dim,
    } = shape;
    let hidden = shape.hidden();
    let n = batch * seq * hidden;
    assert!(
        q.len() == n && k.len() == n && v.len() == n,
        "attention: q, k, v must be [B·T, heads·head_dim]"
    );
    assert_eq!(mask.len(), batch * seq, "attention: mask must be [B, T]");
    let mut out = vec![0.0f32; n];
    if n == 0 {
        return out;
    }
    let shared = SharedOut(out.as_mut_ptr());
    (0..batch * heads).into_par_iter().for_each(|task| {
        let (b, h) = (task / heads, task % heads);
        // Row (b·T + i), columns h·D .. (h+1)·D of each operand.
        let first = b * seq * hidden + h * head_dim;
        SCORES.with(|cell| {
            let mut scores = cell.borrow_mut();
            scores.resize(seq * seq, 0.0);
            // SAFETY: every index gemm forms stays inside its operand: rows i < T are
            // `first + i·hidden`, columns d < D are `+ d`, and `first + (T-1)·hidden + D`
            // <= (b+1)·T·hidden <= n. The scores buffer is T x T row-major.
            unsafe {
                // scores[i, j] = Σ_d q[i, d] · k[j, d]: K read transposed through strides.
                gemm(
                    seq,
                    seq,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    seq as isize,
                    false,
                    q.as_ptr().add(first),
                    1,
                    hidden as isize,
                    k.as_ptr().add(first),
                    hidden as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            softmax_rows(
                &mut scores,
                &mask[b * seq..(b + 1) * seq],
                Rows {
                    keys: seq,
                    rows_per_mask: seq,
                },
                scale,
            );
            // SAFETY: as above for v; the destination block (rows of this sequence, columns
            // of this head) is written by this task only, as (b, h) pairs are distinct.
            unsafe {
                gemm(
                    seq,
                    head_dim,
                    seq,
                    shared.at(first),
                    1,
                    hidden as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    seq as isize,
                    v.as_ptr().add(first),
                    1,
                    hidden as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (h % 2_000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Attention computed one element at a time in f64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], mask: &[f32], s: Shape, scale: f32) -> Vec<f64> {
        let hidden = s.hidden();
        let mut out = vec![0.0f64; q.len()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..s.seq {
                    let at = |x: &[f32], t: usize, d: usize| {
                        x[(b * s.seq + t) * hidden + h * s.head_dim + d] as f64
                    };
                    let scores: Vec<f64> = (0..s.seq)
                        .map(|j| {
                            let dot: f64 = (0..s.head_dim).map(|d| at(q, i, d) * at(k, j, d)).sum();
                            dot * scale as f64 + mask[b * s.seq + j] as f64
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for d in 0..s.head_dim {
                        let value: f64 = (0..s.seq).map(|j| e[j] / sum * at(v, j, d)).sum();
                        out[(b * s.seq + i) * hidden + h * s.head_dim + d] = value;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_a_float64_reference_with_padding_masked() {
        let s = Shape {
            batch: 3,
            seq: 19,
            heads: 4,
            head_dim: 8,
        };
        let n = s.batch * s.seq * s.hidden();
        let (q, k, v) = (sample(n, 1), sample(n, 2), sample(n, 3));
        // Sequence 1 has its last 5 positions padded, sequence 2 its last one.
        let mut mask = vec![0.0f32; s.batch * s.seq];
        for j in 14..19 {
            mask[s.seq + j] = -1e4;
        }
        mask[2 * s.seq + 18] = f32::MIN;
        let scale = 1.0 / (s.head_dim as f32).sqrt();
        let got = forward(&q, &k, &v, &mask, s, scale);
        let want = reference(&q, &k, &v, &mask, s, scale);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() < 2e-6, "element {i}: {g} vs {w}");
        }
    }

    #[test]
    fn empty_batch_gives_empty_output() {
        let s = Shape {
            batch: 0,
            seq: 4,
            heads: 2,
            head_dim: 4,
        };
        assert!(forward(&[], &[], &[], &[], s, 0.5).is_empty());
    }
}

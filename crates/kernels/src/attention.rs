//! Multi-head scaled dot-product attention in one kernel, forward and backward:
//! `dropout(softmax(Q·Kᵀ·scale + mask))·V` for every (sequence, head), reading Q, K and V
//! straight from the `[B·T, H]` outputs of the projections and writing the context (and, in
//! the backward pass, dQ, dK and dV) in the same layout.
//!
//! The composed version (`split_heads` → `matmul` → softmax → dropout → `matmul` → merge
//! heads) copies Q, K, V and the context once each to move the head axis, allocates every
//! `[B, N, T, T]` intermediate (scores, probabilities, dropped probabilities, and in the
//! backward their gradients) zeroed, and passes over each of them separately: about a tenth
//! of a 32x128 MiniLM forward on the benchmark machine. Here each (sequence, head) pair is one
//! task whose `T x T` blocks stay in per-thread buffers in cache: the head is addressed
//! through strides (`gemm` takes any row and column stride), the softmax and the dropout run
//! on the rows while they are hot, and products land in the head's columns of the output.
//! Training keeps only the probabilities (before dropout) for the backward pass; the dropout
//! mask is recomputed from its seed. The mask of element `(b, h, i, j)` is the one
//! [`super::dropout`] draws for index `((b·N + h)·T + i)·T + j` of the `[B, N, T, T]`
//! probabilities, as in the composed path, so both paths drop the same elements.

use std::cell::RefCell;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::attention_softmax::{Rows, softmax_backward_rows, softmax_rows};
use super::dropout::{MaskSeed, apply_block_in_place};

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

    fn check(&self, operands: &[&[f32]]) {
        let n = self.batch * self.seq * self.hidden();
        assert!(
            operands.iter().all(|x| x.len() == n),
            "attention: q, k, v (and their gradients) must be [B·T, heads·head_dim]"
        );
    }

    fn check_mask(&self, mask: &[f32]) {
        assert_eq!(
            mask.len(),
            self.batch * self.seq,
            "attention: mask must be [B, T]"
        );
    }

    /// Offset of row `b·T`, column `h·D` in a `[B·T, H]` operand.
    fn head_offset(&self, b: usize, h: usize) -> usize {
        b * self.seq * self.hidden() + h * self.head_dim
    }
}

/// Attention-probability dropout: drop probability and the seed its mask is hashed from.
#[derive(Debug, Clone, Copy)]
pub struct ProbsDropout {
    pub prob: f32,
    pub seed: MaskSeed,
}

/// A raw pointer the tasks share; each writes its own (sequence, head) block.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: tasks write disjoint elements (one (sequence, head) block each), and the buffer
// outlives them.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    fn new(buffer: &mut [f32]) -> Self {
        Self(buffer.as_mut_ptr())
    }

    /// Through a method, so closures capture the whole (Sync) wrapper, not its raw field.
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

thread_local! {
    /// Two `T x T` blocks for the current task.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A matrix operand: a pointer to element (0, 0) and its row and column strides.
#[derive(Clone, Copy)]
struct Operand {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    fn rows(ptr: *const f32, row_stride: usize) -> Self {
        Self {
            ptr,
            row_stride: row_stride as isize,
            col_stride: 1,
        }
    }

    /// The transpose of [`Operand::rows`].
    fn transposed(ptr: *const f32, row_stride: usize) -> Self {
        Self {
            ptr,
            row_stride: 1,
            col_stride: row_stride as isize,
        }
    }
}

/// `dst[m, n] = lhs[m, k] · rhs[k, n]` on the calling thread; `dst` rows `dst_row_stride`
/// apart.
///
/// # Safety
/// Every `(i, j)` element the strides address, for `i`, `j` within the stated sizes, must
/// lie inside a live allocation, and `dst`'s elements must not be written concurrently.
unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: usize,
    lhs: Operand,
    rhs: Operand,
) {
    // SAFETY: forwarded to the caller.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            false,
            lhs.ptr,
            lhs.col_stride,
            lhs.row_stride,
            rhs.ptr,
            rhs.col_stride,
            rhs.row_stride,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Runs `task(b, h, scores, scratch)` for every (sequence, head) pair in parallel, with two
/// `T x T` per-thread buffers.
fn for_each_head(shape: Shape, task: impl Fn(usize, usize, &mut [f32], &mut [f32]) + Sync) {
    if shape.seq == 0 || shape.head_dim == 0 {
        return;
    }
    let blocks = shape.seq * shape.seq;
    (0..shape.batch * shape.heads)
        .into_par_iter()
        .for_each(|pair| {
            SCRATCH.with(|cell| {
                let (scores, scratch) = &mut *cell.borrow_mut();
                scores.resize(blocks, 0.0);
                scratch.resize(blocks, 0.0);
                task(pair / shape.heads, pair % shape.heads, scores, scratch);
            })
        });
}

/// `scores ← softmax(Q_bh·K_bhᵀ·scale + mask_b)` (the probabilities, before dropout).
fn head_probabilities(
    q: &[f32],
    k: &[f32],
    mask: &[f32],
    shape: Shape,
    (b, h): (usize, usize),
    scale: f32,
    scores: &mut [f32],
) {
    let (seq, hidden) = (shape.seq, shape.hidden());
    let first = shape.head_offset(b, h);
    // SAFETY: rows i < T of a head start at `first + i·hidden` and span D columns, so the
    // last element read is below `(b+1)·T·hidden`, the operands' length (checked by the
    // caller through `Shape::check`); scores is T x T.
    unsafe {
        product(
            seq,
            seq,
            shape.head_dim,
            scores.as_mut_ptr(),
            seq,
            Operand::rows(q.as_ptr().add(first), hidden),
            Operand::transposed(k.as_ptr().add(first), hidden),
        );
    }
    let rows = Rows {
        keys: seq,
        rows_per_mask: seq,
    };
    softmax_rows(scores, &mask[b * seq..(b + 1) * seq], rows, scale);
}

/// Index of element `(b, h, 0, 0)` in the `[B, N, T, T]` probabilities.
fn probs_offset(shape: Shape, b: usize, h: usize) -> usize {
    (b * shape.heads + h) * shape.seq * shape.seq
}

/// Inference: `context = softmax(Q·Kᵀ·scale + mask)·V` for row-major `[B·T, H]` `q`, `k`,
/// `v` (H = heads·D) and a `[B, T]` additive mask.
pub fn forward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    shape: Shape,
    scale: f32,
) -> Vec<f32> {
    shape.check(&[q, k, v]);
    shape.check_mask(mask);
    let mut out = vec![0.0f32; q.len()];
    let shared = SharedOut::new(&mut out);
    for_each_head(shape, |b, h, scores, _| {
        head_probabilities(q, k, mask, shape, (b, h), scale, scores);
        context_block(&shared, v, shape, (b, h), scores);
    });
    out
}

/// `out_bh = probs · V_bh` into the head's columns of `out`.
fn context_block(out: &SharedOut, v: &[f32], shape: Shape, (b, h): (usize, usize), probs: &[f32]) {
    let (seq, hidden) = (shape.seq, shape.hidden());
    let first = shape.head_offset(b, h);
    // SAFETY: as in `head_probabilities` for v and the output block, which this task alone
    // writes ((b, h) pairs are distinct).
    unsafe {
        product(
            seq,
            shape.head_dim,
            seq,
            out.at(first),
            hidden,
            Operand::rows(probs.as_ptr(), seq),
            Operand::rows(v.as_ptr().add(first), hidden),
        );
    }
}

/// Training: the context as [`forward`], with dropout on the probabilities, and the
/// probabilities before dropout (`[B, N, T, T]`), the state of [`backward`].
pub fn forward_training(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    mask: &[f32],
    shape: Shape,
    scale: f32,
    dropout: Option<ProbsDropout>,
) -> (Vec<f32>, Vec<f32>) {
    shape.check(&[q, k, v]);
    shape.check_mask(mask);
    let blocks = shape.seq * shape.seq;
    let mut out = vec![0.0f32; q.len()];
    let mut probs = vec![0.0f32; shape.batch * shape.heads * blocks];
    let (shared_out, shared_probs) = (SharedOut::new(&mut out), SharedOut::new(&mut probs));
    for_each_head(shape, |b, h, scores, _| {
        head_probabilities(q, k, mask, shape, (b, h), scale, scores);
        let first = probs_offset(shape, b, h);
        // SAFETY: this task's block of the probabilities, written by no other task.
        let kept = unsafe { std::slice::from_raw_parts_mut(shared_probs.at(first), blocks) };
        kept.copy_from_slice(scores);
        if let Some(d) = dropout {
            apply_block_in_place(scores, first, d.prob, d.seed);
        }
        context_block(&shared_out, v, shape, (b, h), scores);
    });
    (out, probs)
}

/// The gradients `(dq, dk, dv)` of [`forward_training`] from the context's gradient `d_out`,
/// all `[B·T, H]`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    probs: &[f32],
    d_out: &[f32],
    shape: Shape,
    scale: f32,
    dropout: Option<ProbsDropout>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    shape.check(&[q, k, v, d_out]);
    let (seq, hidden, d) = (shape.seq, shape.hidden(), shape.head_dim);
    let blocks = seq * seq;
    assert_eq!(
        probs.len(),
        shape.batch * shape.heads * blocks,
        "attention: probs shape"
    );
    let n = q.len();
    let (mut dq, mut dk, mut dv) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let (sq, sk, sv) = (
        SharedOut::new(&mut dq),
        SharedOut::new(&mut dk),
        SharedOut::new(&mut dv),
    );
    for_each_head(shape, |b, h, dropped, grad| {
        let first = shape.head_offset(b, h);
        let p_first = probs_offset(shape, b, h);
        let p = &probs[p_first..p_first + blocks];
        // The probabilities as the forward pass used them (after dropout).
        dropped.copy_from_slice(p);
        if let Some(drop) = dropout {
            apply_block_in_place(dropped, p_first, drop.prob, drop.seed);
        }
        // SAFETY (all products): head blocks as in `head_probabilities`; the T x T buffers
        // are this thread's; each gradient block belongs to this (b, h) task alone.
        unsafe {
            // dV_bh = dropped_probsᵀ · dO_bh
            product(
                seq,
                d,
                seq,
                sv.at(first),
                hidden,
                Operand::transposed(dropped.as_ptr(), seq),
                Operand::rows(d_out.as_ptr().add(first), hidden),
            );
            // d(dropped probs) = dO_bh · V_bhᵀ
            product(
                seq,
                seq,
                d,
                grad.as_mut_ptr(),
                seq,
                Operand::rows(d_out.as_ptr().add(first), hidden),
                Operand::transposed(v.as_ptr().add(first), hidden),
            );
        }
        if let Some(drop) = dropout {
            // Dropout's Jacobian is the same mask and scale.
            apply_block_in_place(grad, p_first, drop.prob, drop.seed);
        }
        // d(scores before scaling) = scale · softmax'(p)·grad
        softmax_backward_rows(p, grad, seq, scale);
        unsafe {
            // dQ_bh = dS · K_bh
            product(
                seq,
                d,
                seq,
                sq.at(first),
                hidden,
                Operand::rows(grad.as_ptr(), seq),
                Operand::rows(k.as_ptr().add(first), hidden),
            );
            // dK_bh = dSᵀ · Q_bh
            product(
                seq,
                d,
                seq,
                sk.at(first),
                hidden,
                Operand::transposed(grad.as_ptr(), seq),
                Operand::rows(q.as_ptr().add(first), hidden),
            );
        }
    });
    (dq, dk, dv)
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

    /// Attention one element at a time in f64; `keep[(b·N + h)·T² + i·T + j]` multiplies the
    /// probability (the dropout factor: 0 or 1/(1-p); all ones without dropout).
    fn reference(
        [q, k, v]: [&[f64]; 3],
        mask: &[f32],
        keep: &[f32],
        s: Shape,
        scale: f32,
    ) -> Vec<f64> {
        let hidden = s.hidden();
        let mut out = vec![0.0f64; q.len()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                let at = |x: &[f64], t: usize, d: usize| {
                    x[(b * s.seq + t) * hidden + h * s.head_dim + d]
                };
                for i in 0..s.seq {
                    let scores: Vec<f64> = (0..s.seq)
                        .map(|j| {
                            let dot: f64 = (0..s.head_dim).map(|d| at(q, i, d) * at(k, j, d)).sum();
                            dot * scale as f64 + mask[b * s.seq + j] as f64
                        })
                        .collect();
                    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    let row = ((b * s.heads + h) * s.seq + i) * s.seq;
                    for d in 0..s.head_dim {
                        let value: f64 = (0..s.seq)
                            .map(|j| e[j] / sum * keep[row + j] as f64 * at(v, j, d))
                            .sum();
                        out[(b * s.seq + i) * hidden + h * s.head_dim + d] = value;
                    }
                }
            }
        }
        out
    }

    fn widen(x: &[f32]) -> Vec<f64> {
        x.iter().map(|&v| v as f64).collect()
    }

    /// Sequence 1 padded from position `from`; others unpadded.
    fn padding_mask(s: Shape, from: usize) -> Vec<f32> {
        let mut mask = vec![0.0f32; s.batch * s.seq];
        for j in from..s.seq {
            mask[s.seq + j] = f32::MIN;
        }
        mask
    }

    fn keep_factors(s: Shape, dropout: Option<ProbsDropout>) -> Vec<f32> {
        let mut keep = vec![1.0f32; s.batch * s.heads * s.seq * s.seq];
        if let Some(d) = dropout {
            apply_block_in_place(&mut keep, 0, d.prob, d.seed);
        }
        keep
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
        let mask = padding_mask(s, 14);
        let scale = 1.0 / (s.head_dim as f32).sqrt();
        let want = reference(
            [&widen(&q), &widen(&k), &widen(&v)],
            &mask,
            &keep_factors(s, None),
            s,
            scale,
        );
        let got = forward(&q, &k, &v, &mask, s, scale);
        let (trained, _) = forward_training(&q, &k, &v, &mask, s, scale, None);
        for (i, ((g, t), w)) in got.iter().zip(&trained).zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() < 2e-6, "element {i}: {g} vs {w}");
            assert_eq!(g, t, "training and inference forward differ at {i}");
        }
    }

    #[test]
    fn training_forward_drops_the_probabilities_it_keeps_for_backward() {
        let s = Shape {
            batch: 2,
            seq: 9,
            heads: 2,
            head_dim: 4,
        };
        let n = s.batch * s.seq * s.hidden();
        let (q, k, v) = (sample(n, 4), sample(n, 5), sample(n, 6));
        let mask = padding_mask(s, 6);
        let dropout = Some(ProbsDropout {
            prob: 0.3,
            seed: MaskSeed::new(99),
        });
        let keep = keep_factors(s, dropout);
        assert!(keep.contains(&0.0), "the test needs dropped elements");
        let want = reference([&widen(&q), &widen(&k), &widen(&v)], &mask, &keep, s, 0.5);
        let (got, probs) = forward_training(&q, &k, &v, &mask, s, 0.5, dropout);
        for (g, w) in got.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 2e-6, "{g} vs {w}");
        }
        // The kept probabilities are the undropped softmax: rows sum to 1.
        for row in probs.chunks_exact(s.seq) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn gradients_match_finite_differences_with_dropout() {
        let s = Shape {
            batch: 2,
            seq: 5,
            heads: 2,
            head_dim: 3,
        };
        let n = s.batch * s.seq * s.hidden();
        let (q, k, v) = (sample(n, 7), sample(n, 8), sample(n, 9));
        let weights = sample(n, 10);
        let mask = padding_mask(s, 3);
        let dropout = Some(ProbsDropout {
            prob: 0.25,
            seed: MaskSeed::new(3),
        });
        let keep = keep_factors(s, dropout);
        let scale = 0.7;
        let (_, probs) = forward_training(&q, &k, &v, &mask, s, scale, dropout);
        // Loss Σ out ⊙ weights: its gradient with respect to the output is `weights`.
        let (dq, dk, dv) = backward(&q, &k, &v, &probs, &weights, s, scale, dropout);
        let loss = |x: [&[f64]; 3]| -> f64 {
            let out = reference(x, &mask, &keep, s, scale);
            out.iter().zip(&weights).map(|(o, &w)| o * w as f64).sum()
        };
        let base = [widen(&q), widen(&k), widen(&v)];
        for (which, grad) in [&dq, &dk, &dv].into_iter().enumerate() {
            for i in 0..n {
                let h = 1e-6;
                let mut plus = base.clone();
                plus[which][i] += h;
                let mut minus = base.clone();
                minus[which][i] -= h;
                let numeric = (loss([&plus[0], &plus[1], &plus[2]])
                    - loss([&minus[0], &minus[1], &minus[2]]))
                    / (2.0 * h);
                assert!(
                    (grad[i] as f64 - numeric).abs() < 1e-5,
                    "operand {which} element {i}: {} vs {numeric}",
                    grad[i]
                );
            }
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
        let (out, probs) = forward_training(&[], &[], &[], &[], s, 0.5, None);
        assert!(out.is_empty() && probs.is_empty());
    }
}

//! AdamW's three element-wise updates as single passes over f32 slices, for the optimizer in
//! `finetune-tuning` (its `AdamW::update` documents the algorithm; PyTorch's
//! `_single_tensor_adamw` order is kept operation by operation).
//!
//! Why: written with Burn's element-wise operations, one AdamW step over MiniLM's 22.7 M
//! parameters is ~14 passes over 91 MB buffers, each allocating its output; on short
//! sequences (SST-2) that cost as much as the forward and backward together. Here each moment
//! and the parameter are updated in place, in one pass each, split across threads.

use rayon::prelude::*;

/// Elements per task: large enough that thread hand-off is negligible, small enough to keep
/// both cores busy on the smallest parameters that matter (384-wide LayerNorm vectors run on
/// one thread).
const CHUNK: usize = 1 << 15;

/// `exp_avg ← exp_avg + (grad − exp_avg)·weight` with `weight = 1 − β1` (torch's `lerp_`).
/// The weights are computed by the caller in f64 and rounded once, as Burn does for a scalar
/// operand: `1 − 0.9f32` differs from `(1 − 0.9) as f32` in the last bit.
pub fn first_moment(exp_avg: &mut [f32], grad: &[f32], weight: f32) {
    assert_eq!(
        exp_avg.len(),
        grad.len(),
        "adamw: moment and gradient sizes"
    );
    exp_avg
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(m, g)| {
            for (m, g) in m.iter_mut().zip(g) {
                *m += (g - *m) * weight;
            }
        });
}

/// `exp_avg_sq ← exp_avg_sq·β2 + grad·grad·weight` with `weight = 1 − β2`.
pub fn second_moment(exp_avg_sq: &mut [f32], grad: &[f32], beta2: f32, weight: f32) {
    assert_eq!(
        exp_avg_sq.len(),
        grad.len(),
        "adamw: moment and gradient sizes"
    );
    exp_avg_sq
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .for_each(|(v, g)| {
            for (v, g) in v.iter_mut().zip(g) {
                *v = *v * beta2 + g * g * weight;
            }
        });
}

/// The scalars of one parameter update.
#[derive(Debug, Clone, Copy)]
pub struct ApplyStep {
    /// `1 − lr·weight_decay` (1 where the parameter does not decay).
    pub decay: f32,
    /// `lr / (1 − β1^t)`.
    pub step_size: f32,
    /// `√(1 − β2^t)`.
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
}

/// `param ← param·decay − exp_avg / (√exp_avg_sq / √(1 − β2^t) + ε) · step_size`.
pub fn apply(param: &mut [f32], exp_avg: &[f32], exp_avg_sq: &[f32], s: ApplyStep) {
    assert!(
        param.len() == exp_avg.len() && param.len() == exp_avg_sq.len(),
        "adamw: parameter and moment sizes"
    );
    param
        .par_chunks_mut(CHUNK)
        .zip(exp_avg.par_chunks(CHUNK).zip(exp_avg_sq.par_chunks(CHUNK)))
        .for_each(|(p, (m, v))| {
            for ((p, m), v) in p.iter_mut().zip(m).zip(v) {
                let denom = v.sqrt() / s.bias_correction2_sqrt + s.eps;
                *p = *p * s.decay - m / denom * s.step_size;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_matches_the_formulas_in_f64() {
        let n = 3 * CHUNK + 17; // several chunks and a ragged tail
        let grad: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        let mut m: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 - 6.0) / 100.0).collect();
        let mut v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 / 1000.0).collect();
        let mut p: Vec<f32> = (0..n).map(|i| ((i % 29) as f32 - 14.0) / 10.0).collect();
        let (m0, v0, p0) = (m.clone(), v.clone(), p.clone());
        let (b1, b2, lr, wd, eps, t) = (0.9f64, 0.999f64, 1e-3f64, 0.01f64, 1e-8f64, 3);
        first_moment(&mut m, &grad, (1.0 - b1) as f32);
        second_moment(&mut v, &grad, b2 as f32, (1.0 - b2) as f32);
        let step = ApplyStep {
            decay: (1.0 - lr * wd) as f32,
            step_size: (lr / (1.0 - b1.powi(t))) as f32,
            bias_correction2_sqrt: (1.0 - b2.powi(t)).sqrt() as f32,
            eps: eps as f32,
        };
        apply(&mut p, &m, &v, step);
        for i in 0..n {
            let g = grad[i] as f64;
            let em = m0[i] as f64 * b1 + (1.0 - b1) * g;
            let ev = v0[i] as f64 * b2 + (1.0 - b2) * g * g;
            let denom = ev.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            let ep = p0[i] as f64 * (1.0 - lr * wd) - em / denom * lr / (1.0 - b1.powi(t));
            assert!(
                (m[i] as f64 - em).abs() <= 1e-6 * (1.0 + em.abs()),
                "m[{i}]"
            );
            assert!(
                (v[i] as f64 - ev).abs() <= 1e-6 * (1.0 + ev.abs()),
                "v[{i}]"
            );
            // The step divides by √v + ε with v as small as 1e-9: relative f32 error of the
            // ratio, times the step size (~3.3e-3 here).
            assert!(
                (p[i] as f64 - ep).abs() <= 1e-6 * (1.0 + ep.abs()),
                "p[{i}]: {} vs {ep}",
                p[i]
            );
        }
    }
}

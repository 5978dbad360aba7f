//! The sum of squares of a tensor's elements in one parallel pass, for global-norm gradient
//! clipping (`torch.nn.utils.clip_grad_norm_`).
//!
//! Composed from Burn's operations (`(g * g).sum()`) every gradient is squared into a new
//! buffer of its own size before the sum: for the 11.7M-element word-embedding gradient that
//! is a 47 MB allocation and two extra passes per step, a visible share of a step on short
//! batches. Here each task sums its chunk in f64 (so the result does not depend on how many
//! elements there are or how they are split, to f32 precision) and the partial sums are added.

use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 16;

#[inline(always)]
fn chunk_sum(values: &[f32]) -> f64 {
    // Eight f64 lanes: one AVX-512 register, a fixed association order.
    let mut acc = [0.0f64; 8];
    let full = values.len() / 8 * 8;
    for chunk in values[..full].chunks_exact(8) {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            let v = v as f64;
            *a += v * v;
        }
    }
    let mut total: f64 = acc.iter().sum();
    for &v in &values[full..] {
        total += (v as f64) * (v as f64);
    }
    total
}

widest_simd!(chunk_sum_simd => chunk_sum(values: &[f32]) -> f64);

/// Σ vᵢ² accumulated in f64.
pub fn sum_of_squares(values: &[f32]) -> f64 {
    values.par_chunks(CHUNK).map(chunk_sum_simd).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_sequential_f64_sum() {
        let values: Vec<f32> = (0..300_001)
            .map(|i| ((i % 977) as f32 - 488.0) * 1e-3)
            .collect();
        let want: f64 = values.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let got = sum_of_squares(&values);
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
        assert_eq!(sum_of_squares(&[]), 0.0);
        assert_eq!(sum_of_squares(&[3.0, 4.0]), 25.0);
        assert!(sum_of_squares(&[1.0, f32::NAN]).is_nan());
    }
}

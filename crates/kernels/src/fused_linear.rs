//! A linear layer `y = x·W + b` on dense f32 row-major matrices, with its three gradients,
//! calling the `gemm` crate (burn-flex's own matrix kernels) directly.
//!
//! Why not Burn's `matmul` followed by `+ bias`: burn-flex allocates every product's output as
//! zeroed bytes and then copies that buffer once more to realign it (`FlexTensor::empty`), and
//! the bias is a second pass over the output; together ~12% of a 32x128 inference forward on
//! the benchmark machine. Here the output starts as copies of the bias row and the product is
//! accumulated onto it (`dst = dst + x·W`): one write of the output, no copy. The backward
//! products read `x` and `W` transposed through their strides, without materialising a
//! transpose. The arithmetic is gemm's, so results equal Burn's up to the order in which the
//! bias is added (last-bit differences).

use gemm::{Parallelism, gemm};

use super::{Precision, gemm_f16};
use rayon::prelude::*;

/// Products smaller than this many multiply-adds run on the calling thread: splitting them
/// costs more than it saves (burn-flex uses the same order of magnitude).
const PARALLEL_MIN_WORK: usize = 1 << 21;

fn parallelism(m: usize, k: usize, n: usize) -> Parallelism {
    if m.saturating_mul(k).saturating_mul(n) >= PARALLEL_MIN_WORK {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// A dense f32 matrix read through explicit strides (in elements), so a row-major buffer can
/// be read as its own transpose.
#[derive(Clone, Copy)]
struct Strided<'a> {
    data: &'a [f32],
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Strided<'a> {
    /// `data` as a row-major `[rows, cols]` matrix.
    fn row_major(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols as isize,
            col_stride: 1,
        }
    }

    /// The transpose of the row-major `[rows, cols]` matrix in `data`.
    fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols as isize,
        }
    }
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, `dst` row-major; accumulates when `accumulate`.
fn product(
    dst: &mut [f32],
    accumulate: bool,
    lhs: Strided,
    rhs: Strided,
    m: usize,
    k: usize,
    n: usize,
) {
    assert_eq!(dst.len(), m * n, "linear: output size");
    assert!(
        lhs.data.len() >= m * k && rhs.data.len() >= k * n,
        "linear: operand size"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: nothing to add (gemm is not asked to handle k = 0).
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    // SAFETY: the asserts above bound every index gemm forms from these strides: dst is
    // m x n row-major, lhs/rhs are read at (i, j) -> i*row_stride + j*col_stride with
    // i < rows, j < cols of a buffer holding at least rows*cols elements laid out row-major
    // either way round (row_major / transposed above).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride,
            lhs.row_stride,
            rhs.data.as_ptr(),
            rhs.col_stride,
            rhs.row_stride,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism(m, k, n),
        );
    }
}

/// `x[m, k] · w[k, n] + bias[n]`, row-major `[m, n]`; with [`Precision::F16`] the product
/// runs in half precision where the CPU, the shape and the operands' range allow it
/// ([`gemm_f16`]), else in f32.
pub fn forward(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
    precision: Precision,
) -> Vec<f32> {
    assert_eq!(bias.len(), n, "linear: bias size");
    let mut out = Vec::with_capacity(m * n);
    if precision == Precision::F16 && gemm_f16::worthwhile(m, k, n) {
        let f32_rows = |dst: &mut [f32], x: &[f32], rows: usize| {
            product(
                dst,
                true,
                Strided::row_major(x, k),
                Strided::row_major(w, n),
                rows,
                k,
                n,
            )
        };
        let spare = &mut out.spare_capacity_mut()[..m * n];
        if gemm_f16::linear(spare, x, w, bias, m, k, n, &f32_rows) {
            // SAFETY: `linear` returned true: it wrote all m * n elements.
            unsafe { out.set_len(m * n) };
            return out;
        }
    }
    for _ in 0..m {
        out.extend_from_slice(bias);
    }
    product(
        &mut out,
        true,
        Strided::row_major(x, k),
        Strided::row_major(w, n),
        m,
        k,
        n,
    );
    out
}

/// The input's gradient `dy[m, n] · wᵀ`, row-major `[m, k]`.
pub fn grad_input(dy: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; m * k];
    product(
        &mut dx,
        false,
        Strided::row_major(dy, n),
        Strided::transposed(w, n),
        m,
        n,
        k,
    );
    dx
}

/// The weight's gradient `xᵀ · dy[m, n]`, row-major `[k, n]`.
pub fn grad_weight(x: &[f32], dy: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut dw = vec![0.0f32; k * n];
    product(
        &mut dw,
        false,
        Strided::transposed(x, k),
        Strided::row_major(dy, n),
        k,
        m,
        n,
    );
    dw
}

/// The bias's gradient: the column sums of `dy[m, n]`.
pub fn grad_bias(dy: &[f32], m: usize, n: usize) -> Vec<f32> {
    assert_eq!(dy.len(), m * n, "linear: gradient size");
    if n == 0 {
        return Vec::new();
    }
    // Blocks of rows summed on separate threads, then the partial sums added.
    const ROWS_PER_BLOCK: usize = 256;
    dy.par_chunks(ROWS_PER_BLOCK * n)
        .map(|block| {
            let mut acc = vec![0.0f32; n];
            for row in block.chunks_exact(n) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .reduce(
            || vec![0.0f32; n],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    *x += y;
                }
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major `[m, k] · [k, n]` in f64, the reference.
    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum();
            }
        }
        out
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0f32; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    /// Deterministic values in [-1, 1).
    fn values(len: usize, salt: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i.wrapping_mul(2_654_435_761) ^ salt).wrapping_mul(40_503);
                (h >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn assert_close(got: &[f32], want: &[f64], k: usize) {
        assert_eq!(got.len(), want.len());
        // f32 sums of k products of values in [-1, 1): rounding grows with sqrt(k) at worst
        // linearly; 1e-6·k is a loose bound that a wrong index would still break by far.
        let tol = 1e-6 * k.max(1) as f64;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((*g as f64 - w).abs() <= tol, "element {i}: {g} vs {w}");
        }
    }

    #[test]
    fn forward_and_gradients_match_f64_references() {
        // Shapes that exercise gemm's edge tiles (not multiples of its 48 x 6 blocks) and its
        // threaded path (the larger one).
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 3), (53, 37, 29), (300, 96, 130)] {
            let x = values(m * k, 1);
            let w = values(k * n, 2);
            let b = values(n, 3);
            let dy = values(m * n, 4);

            let y = forward(&x, &w, &b, m, k, n, Precision::F32);
            let mut want = reference(&x, &w, m, k, n);
            for (i, v) in want.iter_mut().enumerate() {
                *v += b[i % n] as f64;
            }
            assert_close(&y, &want, k);

            let dx = grad_input(&dy, &w, m, k, n);
            assert_close(&dx, &reference(&dy, &transpose(&w, k, n), m, n, k), n);

            let dw = grad_weight(&x, &dy, m, k, n);
            assert_close(&dw, &reference(&transpose(&x, m, k), &dy, k, m, n), m);

            let db = grad_bias(&dy, m, n);
            let want_db: Vec<f64> = (0..n)
                .map(|j| (0..m).map(|i| dy[i * n + j] as f64).sum())
                .collect();
            assert_close(&db, &want_db, m);
        }
    }

    #[test]
    fn empty_inner_dimension_gives_the_bias_and_zero_gradients() {
        let (m, k, n) = (3, 0, 2);
        let y = forward(&[], &[], &[0.5, -1.0], m, k, n, Precision::F32);
        assert_eq!(y, vec![0.5, -1.0, 0.5, -1.0, 0.5, -1.0]);
        assert_eq!(grad_weight(&[], &[1.0; 6], m, k, n), Vec::<f32>::new());
        assert_eq!(grad_input(&[1.0; 6], &[], m, k, n), Vec::<f32>::new());
    }
}

//! `dst[m, n] += x[m, k] · w[k, n]` with the products in IEEE half precision (AVX512-FP16),
//! for inference only, and only when asked for (`--precision f16`).
//!
//! Why: on the benchmark machine (an AVX-512 Xeon with AVX512-FP16) one core retires two
//! 32-lane `vfmadd231ph` per cycle, twice the f32 rate of `vfmadd231ps`: measured 355 against
//! 170 GFLOP/s on one core. PyTorch's f32 inference already runs at this CPU's f32 peak, so
//! half-precision products are the one lever left past it. (`vdpbf16ps`, the bf16 dot
//! product, measured 84 GFLOP/s here: slower than f32, so bf16 is not used.)
//!
//! Accuracy: operands are rounded to f16 (11 significant bits); each f16 accumulator lane sums
//! [`CHUNK`]` / 2` products before the partial sums are added to the f32 output, so rounding
//! error grows with `CHUNK`, not with `k`. Weights and activations of a BERT encoder are far
//! inside f16's range; an operand whose magnitude exceeds [`SAFE_MAGNITUDE`] sends the product
//! back to f32 ([`product_accumulate`] returns `false`). What this does to a fine-tuned
//! classifier's outputs is measured in BENCHMARKS.md ("f16 inference").
//!
//! Layout, chosen so that the multiply-adds own both FMA ports: a 16-bit broadcast (`{1to32}`)
//! costs a shuffle on port 5, one of the two FMA ports, and halved the kernel's rate. So `x` is
//! read two elements at a time — `(x[i, 2q], x[i, 2q+1])`, broadcast as one 32-bit value by
//! the load unit alone — and `w` is packed to match: panels of [`NR`] columns, and in each,
//! per pair of rows `q`, the 32 columns' `(w[2q, j], w[2q+1, j])` interleaved. An accumulator
//! lane pair then holds column `j`'s even- and odd-`k` partial sums, added when the chunk's
//! sums are moved to f32. The micro-kernel keeps a 12 x 32 tile in 24 zmm registers. The f16
//! intrinsics are not stable in Rust, so the micro-kernel is inline assembly.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Rows of the micro-kernel's output tile.
const MR: usize = 12;
/// Columns of the micro-kernel's output tile (two zmm registers of 16 interleaved pairs).
const NR: usize = 32;
/// Products (`k` values) per chunk accumulated in f16 before the sums move to f32; each f16
/// lane sums half of them (the even or the odd `k`).
pub const CHUNK: usize = 64;
/// Operands larger than this (in magnitude) are not rounded to f16 (max 65504): partial sums
/// of up to [`CHUNK`] products must stay finite too.
pub const SAFE_MAGNITUDE: f32 = 256.0;
/// Row panels per parallel task: a task walks its rows once per panel of `w`, which stays in
/// L2 meanwhile.
const PANELS_PER_TASK: usize = 8;

/// Whether this CPU can run the f16 product.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512fp16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether a product of this shape is worth the f16 path (small ones stay in f32).
pub fn worthwhile(m: usize, k: usize, n: usize) -> bool {
    m >= MR && n >= NR && k >= 16
}

/// Computes rows of `x · w` in f32, accumulating onto `dst` (which holds the bias rows): the
/// fallback for a block of rows with an operand outside f16's safe range. Arguments: the
/// block's output rows, its input rows, its row count.
pub type F32Rows<'a> = &'a (dyn Fn(&mut [f32], &[f32], usize) + Sync);

/// `dst[m, n] = bias[n] + x[m, k] · w[k, n]` (all row-major) with f16 products; writes every
/// element of `dst`. Blocks of rows with an input too large for f16 are computed by
/// `fallback` instead. Returns `false`, with `dst` unwritten, when the CPU lacks
/// AVX512-FP16 or a weight is too large for f16: the caller then computes it all in f32.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    dst: &mut [MaybeUninit<f32>],
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
    fallback: F32Rows,
) -> bool {
    assert_eq!(dst.len(), m * n, "f16 product: output size");
    assert_eq!(bias.len(), n, "f16 product: bias size");
    assert!(
        x.len() >= m * k && w.len() >= k * n,
        "f16 product: operand size"
    );
    if !available() || m == 0 || n == 0 || k == 0 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let Some(b) = pack_weight(w, k, n) else {
            return false;
        };
        multiply(dst, x, &b, bias, k, n, fallback);
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `w[k, n]` as f16 panels of [`NR`] columns: panel `p` holds, for each row pair `q`, the
/// interleaved `(w[2q, j], w[2q+1, j])` of its 32 columns (zero beyond `k` and `n`).
#[cfg(target_arch = "x86_64")]
fn pack_weight(w: &[f32], k: usize, n: usize) -> Option<Vec<u16>> {
    let pairs = k.div_ceil(2);
    let panel_len = pairs * 2 * NR;
    let mut packed = vec![0u16; n.div_ceil(NR) * panel_len];
    let fits = packed
        .par_chunks_mut(panel_len)
        .enumerate()
        .map(|(p, panel)| {
            let cols = NR.min(n - p * NR);
            let mut row = [0u16; NR];
            let mut fits = true;
            for kk in 0..k {
                let src = &w[kk * n + p * NR..][..cols];
                // SAFETY: `available()` checked avx512f before any packing.
                fits &= unsafe { to_half(src, &mut row[..cols]) };
                let out = &mut panel[(kk / 2) * 2 * NR..][..2 * NR];
                for (j, &h) in row[..cols].iter().enumerate() {
                    out[2 * j + kk % 2] = h;
                }
            }
            fits
        })
        .reduce(|| true, |a, b| a && b);
    fits.then_some(packed)
}

/// Rows of `x[.., k]` as row-major f16 in `out`, `k` padded to even (`lda` = even `k`) and
/// the rows to a multiple of [`MR`] with zeros; `false` if a value is too large for f16.
#[cfg(target_arch = "x86_64")]
fn to_half_rows(x: &[f32], k: usize, out: &mut Vec<u16>) -> bool {
    let rows = x.len() / k;
    let lda = k.div_ceil(2) * 2;
    out.clear();
    out.resize(rows.div_ceil(MR) * MR * lda, 0);
    let mut fits = true;
    for (dst, src) in out.chunks_exact_mut(lda).zip(x.chunks_exact(k)) {
        // SAFETY: `available()` checked avx512f before any conversion.
        fits &= unsafe { to_half(src, &mut dst[..k]) };
    }
    fits
}

/// Rounds `src` to f16 into `out` (same length); `false` when a value's magnitude exceeds
/// [`SAFE_MAGNITUDE`] or is not finite.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn to_half(src: &[f32], out: &mut [u16]) -> bool {
    use std::arch::x86_64::*;
    debug_assert_eq!(src.len(), out.len());
    let limit = _mm512_set1_ps(SAFE_MAGNITUDE);
    let mut too_large: __mmask16 = 0;
    let mut chunks = src.chunks_exact(16);
    let mut outs = out.chunks_exact_mut(16);
    for (s, o) in (&mut chunks).zip(&mut outs) {
        // SAFETY: both chunks hold exactly 16 elements.
        unsafe {
            let v = _mm512_loadu_ps(s.as_ptr());
            // `!(|v| <= limit)` is also true for NaN.
            too_large |= _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(_mm512_abs_ps(v), limit);
            let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
            _mm256_storeu_si256(o.as_mut_ptr().cast(), h);
        }
    }
    let mut fits = too_large == 0;
    for (s, o) in chunks.remainder().iter().zip(outs.into_remainder()) {
        fits &= s.abs() <= SAFE_MAGNITUDE;
        *o = half::f16::from_f32(*s).to_bits();
    }
    fits
}

/// The blocked product, in parallel over blocks of rows: each task rounds its rows of `x`
/// to f16 into a buffer that stays in its core's L2 while every panel of `b` passes over it
/// (`pairs` = `k` rounded up to even, halved).
#[cfg(target_arch = "x86_64")]
fn multiply(
    dst: &mut [MaybeUninit<f32>],
    x: &[f32],
    b: &[u16],
    bias: &[f32],
    k: usize,
    n: usize,
    fallback: F32Rows,
) {
    let pairs = k.div_ceil(2);
    let lda = 2 * pairs;
    let panel_len = pairs * 2 * NR;
    let block = PANELS_PER_TASK * MR;
    dst.par_chunks_mut(block * n)
        .zip(x.par_chunks(block * k))
        .for_each_init(Vec::new, |a, (c_block, x_block)| {
            let block_rows = c_block.len() / n;
            if !to_half_rows(x_block, k, a) {
                // Bias rows, then the f32 product onto them.
                for row in c_block.chunks_exact_mut(n) {
                    for (out, &v) in row.iter_mut().zip(bias) {
                        out.write(v);
                    }
                }
                // SAFETY: every element was just written.
                let c_block = unsafe { assume_init(c_block) };
                fallback(c_block, x_block, block_rows);
                return;
            }
            for p in 0..n.div_ceil(NR) {
                let cols = NR.min(n - p * NR);
                let b_panel = &b[p * panel_len..][..panel_len];
                let bias = &bias[p * NR..][..cols];
                for r in (0..block_rows).step_by(MR) {
                    let rows = MR.min(block_rows - r);
                    let a_rows = &a[r * lda..][..MR * lda];
                    let c_tile = &mut c_block[r * n + p * NR..];
                    // SAFETY: `available()` was checked by the caller; `a_rows` holds 12 rows
                    // of `lda` halves, `b_panel` `pairs` rows of 64; `tile` writes only the
                    // leading `rows` x `cols` elements of `c_tile` at stride `n`.
                    unsafe { tile(c_tile, n, rows, bias, a_rows, b_panel, pairs) };
                }
            }
        });
}

/// 64-byte alignment for the accumulator spill buffer.
#[repr(align(64))]
struct Aligned<T>(T);

/// `slice` as initialised.
///
/// # Safety
/// Every element of `slice` must have been written.
unsafe fn assume_init(slice: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller guarantees initialisation.
    unsafe { &mut *(slice as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `c[rows, cols] = bias + a[12, 2·pairs] · b` for one packed panel `b` (the leading `rows` x
/// `cols` of the 12 x 32 result, `cols` = `bias.len()`), `c` at row stride `ldc`, in chunks
/// of [`CHUNK`] products: the first chunk's sums are written with the bias, later ones added.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile(
    c: &mut [MaybeUninit<f32>],
    ldc: usize,
    rows: usize,
    bias: &[f32],
    a: &[u16],
    b: &[u16],
    pairs: usize,
) {
    use std::arch::x86_64::*;
    let cols = bias.len();
    let lda = 2 * pairs;
    // 64-byte aligned, for the full-width stores and loads.
    let mut acc = Aligned([0u16; MR * 2 * NR]);
    let acc = &mut acc.0;
    // Lane pairs (2j, 2j+1) of two converted halves -> even lanes, odd lanes.
    let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut start = 0;
    while start < pairs {
        let len = (CHUNK / 2).min(pairs - start);
        // SAFETY: rows 0..12 of `a` at stride `lda` and pairs `start..start + len` of `b`
        // are in bounds (sizes checked by the caller); `acc` holds 24 zmm registers.
        unsafe {
            kernel(
                a.as_ptr().add(2 * start),
                lda,
                b.as_ptr().add(start * 2 * NR),
                len,
                acc.as_mut_ptr(),
            );
        }
        for (i, partial) in acc.chunks_exact(2 * NR).take(rows).enumerate() {
            let mut sums = [0f32; NR];
            for (half, out) in partial.chunks_exact(NR).zip(sums.chunks_exact_mut(16)) {
                // SAFETY: `half` holds 32 halves (16 interleaved column pairs), `out` 16 f32.
                unsafe {
                    // One full-width load, as the kernel stored it: two half-width loads of a
                    // just-stored register miss store forwarding and stall.
                    // (volatile: the compiler would split a plain load back into two).
                    let v = std::ptr::read_volatile(half.as_ptr().cast::<__m512i>());
                    let lo = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
                    let hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(v));
                    let sum = _mm512_add_ps(
                        _mm512_permutex2var_ps(lo, evens, hi),
                        _mm512_permutex2var_ps(lo, odds, hi),
                    );
                    _mm512_storeu_ps(out.as_mut_ptr(), sum);
                }
            }
            let row = &mut c[i * ldc..][..cols];
            if start == 0 {
                for ((out, s), b) in row.iter_mut().zip(&sums).zip(bias) {
                    out.write(b + s);
                }
            } else {
                // SAFETY: the first chunk wrote every element of the row.
                let row = unsafe { assume_init(row) };
                for (out, s) in row.iter_mut().zip(&sums) {
                    *out += s;
                }
            }
        }
        start += len;
    }
}

/// The 12 x 32 micro-kernel over `len` pairs of `k`: for row `i` and column `j`, lanes
/// `2j, 2j+1` of the accumulator get `Σ_q a[i, 2q]·b[2q, j]` and `Σ_q a[i, 2q+1]·b[2q+1, j]`
/// in f16. `a` is row-major at row stride `lda` halves, `b` holds 64 halves per pair; `acc`
/// receives the 24 accumulator registers (row `i`: columns 0-15, then 16-31).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel(a: *const u16, lda: usize, b: *const u16, len: usize, acc: *mut u16) {
    let lda_bytes = lda * 2;
    // SAFETY: the caller guarantees 12 rows of `a` (stride `lda`) and `len` pairs of `b` are
    // readable from the given pointers and `acc` is writable for 24 x 64 bytes; the registers
    // the assembly writes are declared as clobbered.
    unsafe {
        std::arch::asm!(
            "vpxord zmm0, zmm0, zmm0",
            "vpxord zmm1, zmm1, zmm1",
            "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3",
            "vpxord zmm4, zmm4, zmm4",
            "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6",
            "vpxord zmm7, zmm7, zmm7",
            "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9",
            "vpxord zmm10, zmm10, zmm10",
            "vpxord zmm11, zmm11, zmm11",
            "vpxord zmm12, zmm12, zmm12",
            "vpxord zmm13, zmm13, zmm13",
            "vpxord zmm14, zmm14, zmm14",
            "vpxord zmm15, zmm15, zmm15",
            "vpxord zmm16, zmm16, zmm16",
            "vpxord zmm17, zmm17, zmm17",
            "vpxord zmm18, zmm18, zmm18",
            "vpxord zmm19, zmm19, zmm19",
            "vpxord zmm20, zmm20, zmm20",
            "vpxord zmm21, zmm21, zmm21",
            "vpxord zmm22, zmm22, zmm22",
            "vpxord zmm23, zmm23, zmm23",
            "2:",
            "vmovups zmm28, zmmword ptr [{b}]",
            "vmovups zmm29, zmmword ptr [{b} + 64]",
            "vbroadcastss zmm30, dword ptr [{a0}]",
            "vfmadd231ph zmm0, zmm28, zmm30",
            "vfmadd231ph zmm1, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a0} + {lda}]",
            "vfmadd231ph zmm2, zmm28, zmm31",
            "vfmadd231ph zmm3, zmm29, zmm31",
            "vbroadcastss zmm30, dword ptr [{a0} + {lda}*2]",
            "vfmadd231ph zmm4, zmm28, zmm30",
            "vfmadd231ph zmm5, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a0} + {lda3}]",
            "vfmadd231ph zmm6, zmm28, zmm31",
            "vfmadd231ph zmm7, zmm29, zmm31",
            "vbroadcastss zmm30, dword ptr [{a1}]",
            "vfmadd231ph zmm8, zmm28, zmm30",
            "vfmadd231ph zmm9, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a1} + {lda}]",
            "vfmadd231ph zmm10, zmm28, zmm31",
            "vfmadd231ph zmm11, zmm29, zmm31",
            "vbroadcastss zmm30, dword ptr [{a1} + {lda}*2]",
            "vfmadd231ph zmm12, zmm28, zmm30",
            "vfmadd231ph zmm13, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a1} + {lda3}]",
            "vfmadd231ph zmm14, zmm28, zmm31",
            "vfmadd231ph zmm15, zmm29, zmm31",
            "vbroadcastss zmm30, dword ptr [{a2}]",
            "vfmadd231ph zmm16, zmm28, zmm30",
            "vfmadd231ph zmm17, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a2} + {lda}]",
            "vfmadd231ph zmm18, zmm28, zmm31",
            "vfmadd231ph zmm19, zmm29, zmm31",
            "vbroadcastss zmm30, dword ptr [{a2} + {lda}*2]",
            "vfmadd231ph zmm20, zmm28, zmm30",
            "vfmadd231ph zmm21, zmm29, zmm30",
            "vbroadcastss zmm31, dword ptr [{a2} + {lda3}]",
            "vfmadd231ph zmm22, zmm28, zmm31",
            "vfmadd231ph zmm23, zmm29, zmm31",
            "add {a0}, 4",
            "add {a1}, 4",
            "add {a2}, 4",
            "add {b}, 128",
            "dec {len}",
            "jnz 2b",
            "vmovups zmmword ptr [{acc} + 0], zmm0",
            "vmovups zmmword ptr [{acc} + 64], zmm1",
            "vmovups zmmword ptr [{acc} + 128], zmm2",
            "vmovups zmmword ptr [{acc} + 192], zmm3",
            "vmovups zmmword ptr [{acc} + 256], zmm4",
            "vmovups zmmword ptr [{acc} + 320], zmm5",
            "vmovups zmmword ptr [{acc} + 384], zmm6",
            "vmovups zmmword ptr [{acc} + 448], zmm7",
            "vmovups zmmword ptr [{acc} + 512], zmm8",
            "vmovups zmmword ptr [{acc} + 576], zmm9",
            "vmovups zmmword ptr [{acc} + 640], zmm10",
            "vmovups zmmword ptr [{acc} + 704], zmm11",
            "vmovups zmmword ptr [{acc} + 768], zmm12",
            "vmovups zmmword ptr [{acc} + 832], zmm13",
            "vmovups zmmword ptr [{acc} + 896], zmm14",
            "vmovups zmmword ptr [{acc} + 960], zmm15",
            "vmovups zmmword ptr [{acc} + 1024], zmm16",
            "vmovups zmmword ptr [{acc} + 1088], zmm17",
            "vmovups zmmword ptr [{acc} + 1152], zmm18",
            "vmovups zmmword ptr [{acc} + 1216], zmm19",
            "vmovups zmmword ptr [{acc} + 1280], zmm20",
            "vmovups zmmword ptr [{acc} + 1344], zmm21",
            "vmovups zmmword ptr [{acc} + 1408], zmm22",
            "vmovups zmmword ptr [{acc} + 1472], zmm23",
            a0 = inout(reg) a => _,
            a1 = inout(reg) a.byte_add(4 * lda_bytes) => _,
            a2 = inout(reg) a.byte_add(8 * lda_bytes) => _,
            lda = in(reg) lda_bytes,
            lda3 = in(reg) 3 * lda_bytes,
            b = inout(reg) b => _,
            len = inout(reg) len => _,
            acc = in(reg) acc,
            out("zmm0") _,
            out("zmm1") _,
            out("zmm2") _,
            out("zmm3") _,
            out("zmm4") _,
            out("zmm5") _,
            out("zmm6") _,
            out("zmm7") _,
            out("zmm8") _,
            out("zmm9") _,
            out("zmm10") _,
            out("zmm11") _,
            out("zmm12") _,
            out("zmm13") _,
            out("zmm14") _,
            out("zmm15") _,
            out("zmm16") _,
            out("zmm17") _,
            out("zmm18") _,
            out("zmm19") _,
            out("zmm20") _,
            out("zmm21") _,
            out("zmm22") _,
            out("zmm23") _,
            out("zmm28") _,
            out("zmm29") _,
            out("zmm30") _,
            out("zmm31") _,
            options(nostack),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// `start + x·w` in f64 (the reference) and, per output, a first-order bound on the f16
    /// path's error: each operand rounded to f16 moves a product by at most 2·2^-11 of its
    /// magnitude, and each f16 addition of a chunk's running sum `s` by at most 2^-11·|s|
    /// (half an ulp, 11 significant bits); the final f32 additions are negligible next to these.
    fn reference(
        start: &[f32],
        x: &[f32],
        w: &[f32],
        m: usize,
        k: usize,
        n: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut out = vec![0.0f64; m * n];
        let mut bound = vec![0.0f64; m * n];
        let unit = 2f64.powi(-11);
        for i in 0..m {
            for j in 0..n {
                let (mut total, mut err) = (start[i * n + j] as f64, 0.0);
                for chunk in (0..k).collect::<Vec<_>>().chunks(CHUNK) {
                    // Each f16 lane sums the even or the odd k of the chunk.
                    let mut running = [0.0f64; 2];
                    for &p in chunk {
                        let product = x[i * k + p] as f64 * w[p * n + j] as f64;
                        running[p % 2] += product;
                        err += 2.0 * unit * product.abs() + unit * running[p % 2].abs();
                    }
                    total += running[0] + running[1];
                }
                out[i * n + j] = total;
                // 1.1: room for second-order terms.
                bound[i * n + j] = 1.1 * err;
            }
        }
        (out, bound)
    }

    #[test]
    fn matches_the_f64_product_within_half_precision_rounding() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-FP16");
            return;
        }
        // Edge rows (m % 12), edge columns (n % 32), odd k, a partial chunk and several
        // parallel tasks (m > 96).
        for &(m, k, n) in &[
            (12, 64, 32),
            (13, 100, 70),
            (200, 384, 130),
            (37, 17, 64),
            (24, 301, 33),
        ] {
            let x = values(m * k, 1 + m as u64);
            let w = values(k * n, 2 + n as u64);
            let bias = values(n, 3);
            let start: Vec<f32> = (0..m).flat_map(|_| bias.iter().copied()).collect();
            let dst = f16_linear(&x, &w, &bias, m, k, n);
            let (want, bound) = reference(&start, &x, &w, m, k, n);
            let mut max_err = 0.0f64;
            for (idx, got) in dst.iter().enumerate() {
                let err = (*got as f64 - want[idx]).abs();
                assert!(
                    err <= bound[idx],
                    "{m}x{k}x{n} at {idx}: error {err} > bound {}",
                    bound[idx]
                );
                max_err = max_err.max(err);
            }
            // And the products really were rounded to f16: an f32 product would be ~1e-6 off.
            assert!(
                max_err > 1e-4,
                "{m}x{k}x{n}: max error {max_err} looks like f32 arithmetic"
            );
        }
    }

    /// The f32 fallback the tests give: a plain triple loop onto the bias rows.
    fn naive_rows(w: &[f32], k: usize, n: usize) -> impl Fn(&mut [f32], &[f32], usize) + Sync + '_ {
        move |dst: &mut [f32], x: &[f32], rows: usize| {
            for i in 0..rows {
                for p in 0..k {
                    for j in 0..n {
                        dst[i * n + j] += x[i * k + p] * w[p * n + j];
                    }
                }
            }
        }
    }

    /// `bias + x·w` through [`linear`], which must accept the operands.
    fn f16_linear(x: &[f32], w: &[f32], bias: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(m * n);
        assert!(linear(
            &mut out.spare_capacity_mut()[..m * n],
            x,
            w,
            bias,
            m,
            k,
            n,
            &naive_rows(w, k, n)
        ));
        // SAFETY: `linear` returned true: it wrote all m * n elements.
        unsafe { out.set_len(m * n) };
        out
    }

    #[test]
    fn computes_blocks_with_large_inputs_in_f32_and_refuses_large_weights() {
        if !available() {
            return;
        }
        // 200 rows = blocks of 96, 96 and 8 rows; a large value in row 100 sends the second
        // block to the f32 fallback.
        let (m, k, n) = (200, 40, 64);
        let mut x = values(m * k, 5);
        let w = values(k * n, 6);
        let bias = values(n, 7);
        x[100 * k + 3] = 1000.0;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let fallback = |dst: &mut [f32], xs: &[f32], rows: usize| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            naive_rows(&w, k, n)(dst, xs, rows)
        };
        let mut out = Vec::with_capacity(m * n);
        assert!(linear(
            &mut out.spare_capacity_mut()[..m * n],
            &x,
            &w,
            &bias,
            m,
            k,
            n,
            &fallback
        ));
        // SAFETY: `linear` returned true.
        unsafe { out.set_len(m * n) };
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        let start: Vec<f32> = (0..m).flat_map(|_| bias.iter().copied()).collect();
        let (want, _) = reference(&start, &x, &w, m, k, n);
        let row_error = |i: usize| {
            (0..n)
                .map(|j| (out[i * n + j] as f64 - want[i * n + j]).abs())
                .fold(0.0f64, f64::max)
        };
        let f32_block = (96..192).map(row_error).fold(0.0, f64::max);
        let f16_block = (0..96).map(row_error).fold(0.0, f64::max);
        assert!(
            f32_block < 1e-3,
            "fallback rows off by {f32_block} (|values| ~ 1000)"
        );
        assert!(
            f16_block > 1e-4,
            "f16 rows off by only {f16_block}: not f16 arithmetic"
        );

        let mut bad_w = w.clone();
        bad_w[5] = f32::NAN;
        let mut out = Vec::<f32>::with_capacity(m * n);
        let spare = &mut out.spare_capacity_mut()[..m * n];
        assert!(!linear(spare, &x, &bad_w, &bias, m, k, n, &fallback));
    }
}

//! Building blocks shared by the kernels: an `exp` that vectorizes, and run-time selection
//! of the widest SIMD instruction set the CPU has.

/// `e^v` for `v <= 0`; exactly 0 below -87 (where e^v is under f32's smallest normal
/// number: returning a subnormal there would make every later multiply-add that touches it
/// take the CPU's slow microcode path); NaN stays NaN.
#[inline(always)]
pub fn exp_nonpositive(v: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest (Cody & Waite), so `v - n·ln2` stays
    // accurate when n is large.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2^23 rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // Compare-and-select rather than `max`/`min`, which would turn NaN into a number.
    let underflow = v < -87.0;
    let v = if underflow { -87.0 } else { v };
    let shifted = v * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (v - n * LN2_HI) - n * LN2_LO;
    // Taylor series of e^r to r^7; |r| <= ln2/2 keeps the truncation below 1e-8.
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // 2^n from the exponent bits: n in [-126, 0] here, so n + 127 is a normal exponent.
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    if underflow { 0.0 } else { p * scale }
}

/// Defines `$name`, which runs the `#[inline(always)]` loop `$chunk` compiled for AVX-512 or
/// AVX2+FMA when the CPU has them (checked at run time), so a binary built for the generic
/// x86-64 target still uses the wide registers of the machine it runs on.
macro_rules! widest_simd {
    ($name:ident => $chunk:ident ( $($arg:ident : $ty:ty),* )) => {
        widest_simd!($name => $chunk($($arg: $ty),*) -> ());
    };
    ($name:ident => $chunk:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) -> $ret {
                    $chunk($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $chunk($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $chunk($($arg),*)
        }
    };
}

/// Accumulator lanes for reductions: wide enough for one AVX-512 register, and a fixed
/// association order, so the compiler may vectorize without fast-math.
pub const LANES: usize = 16;

/// Σ `f(x_i)` with [`LANES`] partial sums.
#[inline(always)]
pub fn lane_sum(values: &[f32], f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let full = values.len() / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a += f(base + lane);
        }
    }
    let mut total: f32 = acc.iter().sum();
    for i in full..values.len() {
        total += f(i);
    }
    total
}

/// The largest element with [`LANES`] partial maxima; NaN if any element is NaN.
#[inline(always)]
pub fn lane_max(values: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let full = values.len() / LANES * LANES;
    let mut nan = false;
    for chunk in values[..full].chunks_exact(LANES) {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            nan |= v.is_nan();
            *a = if v > *a { v } else { *a };
        }
    }
    let mut max = acc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in &values[full..] {
        nan |= v.is_nan();
        max = max.max(v);
    }
    if nan { f32::NAN } else { max }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_sequential_ones() {
        let values: Vec<f32> = (0..53).map(|i| ((i * 37) % 11) as f32 - 4.5).collect();
        let seq_sum: f32 = values.iter().sum();
        assert!((lane_sum(&values, |i| values[i]) - seq_sum).abs() < 1e-5);
        assert_eq!(lane_max(&values), 5.5);
        let mut with_nan = values.clone();
        with_nan[20] = f32::NAN;
        assert!(lane_max(&with_nan).is_nan());
        assert!(exp_nonpositive(f32::NAN).is_nan());
        // Underflow is an exact zero, never a subnormal.
        assert_eq!(exp_nonpositive(-87.5), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(f32::MIN), 0.0);
        assert_eq!(lane_max(&[-3.0, -1.0]), -1.0);
    }

    #[test]
    fn exp_matches_std_on_its_domain() {
        // Down to -86.9: below -87 the input is clamped on purpose.
        for i in 0..=86_900 {
            let v = -(i as f32) * 1e-3;
            let got = exp_nonpositive(v) as f64;
            let want = (v as f64).exp();
            assert!(
                (got - want).abs() <= 3e-7 * want,
                "exp({v}) = {got}, want {want}"
            );
        }
    }
}

//! Runtime choice of instruction set (multiversioning): element-wise loops
//! are written once as plain Rust and compiled twice, for the baseline
//! x86-64 target and inside `#[target_feature(enable = "avx2")]`, and the
//! wider build is picked when the CPU has it. Never `-C target-cpu=native`:
//! a binary must run, and give the same numbers, on any x86-64.
//!
//! The two builds give identical bits because the code uses only IEEE
//! operations that are exactly rounded whatever the vector width (+, -, *,
//! /, sqrt, comparisons, bit moves), and Rust never fuses a multiply and an
//! add on its own: AVX2 does not imply FMA, and no path asks for it.
//! Reductions keep their lane structure in the source, so the compiler may
//! not reorder them either.

/// Whether the AVX2 builds may run on this CPU (std caches the detection).
#[inline]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `$name` that runs `$body` (an `#[inline(always)]` fn with the
/// same signature) through its AVX2 build when the CPU has AVX2, else
/// through the portable build. Tests compare `$name` with `$body` called
/// directly (the portable build) on random inputs.
#[macro_export]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$($g:ident : $b:path),*>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$m])*
        $vis fn $name $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn wide $(<$($g: $b),*>)? ($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if $crate::engine::kernels::simd::avx2() {
                    // SAFETY: the CPU reported AVX2 just above.
                    return unsafe { wide($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

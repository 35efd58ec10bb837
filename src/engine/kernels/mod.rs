//! Compute kernels under the layers: the threaded GEMM, the vectorised exp
//! and the runtime choice between a portable and an AVX2 build of the same
//! element-wise code. Everything here gives the same bits for the same input
//! whatever the thread count or instruction set (see each module's tests).

pub mod conv;
pub mod exp;
pub mod gemm;
pub mod im2col;
pub mod pool;
pub mod simd;
pub mod sumsq;
pub mod threads;

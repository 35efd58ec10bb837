//! How many threads the engine's kernels use: the machine's
//! (`std::thread::available_parallelism`) unless set, e.g. by `check
//! --threads N`. One process-wide setting, because the layers that run the
//! kernels are shared by training, evaluation and the probes, and the count
//! changes no result (the GEMM splits by output columns, see `gemm`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// 0 = not set: follow the machine.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the thread count for every later kernel call; 0 restores the
/// machine's default.
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The machine's thread count, asked once per process: on Linux
/// `available_parallelism` reads the cgroup CPU quota from files under /sys
/// on every call, and the kernels ask for every product (`perf` put those
/// file opens at about 3% of a deep-net training step).
fn machine() -> usize {
    static MACHINE: OnceLock<usize> = OnceLock::new();
    *MACHINE.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The thread count kernels use now (at least 1).
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => machine(),
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_follows_the_machine() {
        // Source of truth: the standard library's count. Only reads, so it
        // cannot race with tests that set a count.
        let machine = std::thread::available_parallelism().map_or(1, |n| n.get());
        if THREADS.load(Ordering::Relaxed) == 0 {
            assert_eq!(threads(), machine);
        }
        assert!(threads() >= 1);
    }
}

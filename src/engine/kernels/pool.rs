//! A persistent pool of parked worker threads for the kernels.
//!
//! Spawning scoped threads for every product cost tens of microseconds per
//! call, which is why products of a few million multiply-adds (the deep
//! ReLU net's) did not gain from the second core. The workers here are
//! started once and sleep on a condition variable between jobs (an idle
//! worker uses no CPU); a job wakes them with one notify. A bench can let
//! workers poll for a bounded time before parking ([`set_spin_micros`];
//! the engine's bound [`SPIN_MICROS`] is 0: idle workers never poll). The
//! caller of a job, once its own share is done, polls up to
//! [`CALLER_SPIN_MICROS`] for the workers still inside that job before it
//! parks.
//!
//! A job is a closure every participant runs once; it takes its own work
//! from a shared counter (see `gemm` and `optim`), so a worker that gets a
//! core late finds the work done, and the caller never waits for a worker
//! that has not started: when the caller's own run ends, the job is closed
//! to late joiners and only the workers already inside it are waited for.
//! Which thread computes which piece never changes a result (each piece is
//! computed the same way by whoever takes it), so the thread count stays
//! out of the numbers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, TryLockError};

/// The job being broadcast, with its lifetime erased (see [`broadcast`] for
/// why that is sound).
#[derive(Clone, Copy)]
struct Job(&'static (dyn Fn() + Sync + 'static));

#[derive(Default)]
struct State {
    job: Option<Job>,
    /// Bumped for every job, so a worker joins each job at most once.
    generation: u64,
    /// Workers that may still join the current job.
    wanted: usize,
    /// Workers inside the current job.
    running: usize,
    /// Workers started so far.
    spawned: usize,
}

struct Pool {
    state: Mutex<State>,
    /// Workers wait here for a job.
    wake: Condvar,
    /// The caller waits here for `running` to reach 0.
    done: Condvar,
    /// Held by the one caller broadcasting; others run their job alone.
    caller: Mutex<()>,
    /// Copies of `generation` and `running`, read without the lock while
    /// a thread spins before parking (see [`SPIN`]); written under it.
    posted: AtomicU64,
    busy: AtomicUsize,
}

/// Work (multiply-adds) from which a job on the pool pays for waking a
/// parked worker: below it the wake costs about as much as the work saved
/// by sharing it (`cargo bench --bench gemm_shapes -- --pairs`; figures in
/// bench/RESULTS.md). The paired backward products (`backprop`), the
/// row-split forward (`batch_split`) and the pipelined backward
/// (`pipeline`) all start from it.
pub const MIN_WAKE_MACS: usize = 1 << 21;

/// How long a worker polls for the next job before it parks
/// (microseconds). Waking a parked thread costs a futex wake and a
/// reschedule, comparable to a small product. 0: an idle worker parks at
/// once and uses no CPU, because a worker polling between jobs would poll
/// through a whole training step and take a core another process may need
/// (polling gained on a quiet machine and lost under load: bench/RESULTS.md).
/// A bench can set another bound to measure it.
pub const SPIN_MICROS: u64 = 0;

/// How long the caller of a job, its own share done, polls for the
/// workers still inside the job before it parks (microseconds). Those
/// workers are computing the caller's result, not idling, and without the
/// poll each job ends with one more futex wake of a parked thread (a
/// reschedule, which can mean an interrupt to another CPU). The poll is
/// bounded because it only pays when the workers finish soon after the
/// caller (`peer_worker instrumented caller-spin-us=N`; bench/RESULTS.md).
/// The bound is hard: after it the caller parks on the condition variable.
pub const CALLER_SPIN_MICROS: u64 = 50;

/// The workers' poll bound in use (microseconds): [`SPIN_MICROS`] unless a
/// bench sets another with [`set_spin_micros`] to measure it.
static SPIN: AtomicU64 = AtomicU64::new(SPIN_MICROS);

/// The caller's poll bound in use: [`CALLER_SPIN_MICROS`] unless a bench
/// sets another with [`set_caller_spin_micros`].
static CALLER_SPIN: AtomicU64 = AtomicU64::new(CALLER_SPIN_MICROS);

/// Sets the workers' poll bound before parking (0: park at once), at most
/// 1 ms; for the benches that compare bounds (`gemm_shapes --spin-us`,
/// `peer_worker spin-us=`).
pub fn set_spin_micros(micros: u64) {
    SPIN.store(micros.min(1000), Ordering::Relaxed);
}

/// Sets the caller's poll bound (0: park at once), at most 1 ms; for the
/// benches (`peer_worker caller-spin-us=`).
pub fn set_caller_spin_micros(micros: u64) {
    CALLER_SPIN.store(micros.min(1000), Ordering::Relaxed);
}

/// Polls `ready` until it holds or `bound` microseconds have passed.
fn spin_until(bound: &AtomicU64, ready: impl Fn() -> bool) {
    let bound = std::time::Duration::from_micros(bound.load(Ordering::Relaxed));
    if bound.is_zero() {
        return;
    }
    let started = std::time::Instant::now();
    while !ready() && started.elapsed() < bound {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        wake: Condvar::new(),
        done: Condvar::new(),
        caller: Mutex::new(()),
        posted: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
    })
}

/// The state, even if a panicking thread poisoned the lock (the state is
/// only counters and is consistent between statements).
fn lock(pool: &Pool) -> MutexGuard<'_, State> {
    pool.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn worker(pool: &'static Pool) {
    let mut seen = 0u64;
    let mut state = lock(pool);
    loop {
        match state.job {
            Some(job) if state.wanted > 0 && state.generation != seen => {
                seen = state.generation;
                state.wanted -= 1;
                state.running += 1;
                pool.busy.store(state.running, Ordering::Release);
                drop(state);
                // A panic in a job must still count the worker out, or the
                // caller would wait for ever; kernels do not panic.
                let _ = catch_unwind(AssertUnwindSafe(job.0));
                state = lock(pool);
                state.running -= 1;
                pool.busy.store(state.running, Ordering::Release);
                if state.running == 0 {
                    pool.done.notify_all();
                }
                // Poll for the next job a little before parking (SPIN;
                // 0 in the engine: no polling).
                drop(state);
                spin_until(&SPIN, || pool.posted.load(Ordering::Acquire) != seen);
                state = lock(pool);
            }
            _ => state = pool.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// Closes the current job and waits for the workers inside it, also when
/// the caller's own run of the job unwinds: after this nothing refers to
/// the job any more.
struct Close(&'static Pool);

impl Drop for Close {
    fn drop(&mut self) {
        let mut state = lock(self.0);
        state.job = None;
        state.wanted = 0;
        if state.running > 0 {
            // Poll for the workers inside a little before parking
            // (CALLER_SPIN).
            drop(state);
            spin_until(&CALLER_SPIN, || self.0.busy.load(Ordering::Acquire) == 0);
            state = lock(self.0);
        }
        while state.running > 0 {
            state = self.0.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Runs `job` on the calling thread and on up to `threads - 1` pool
/// workers at the same time, and returns when every run has returned.
/// Workers that wake after the caller's run ended skip the job. When the
/// pool is busy with another caller (tests run in parallel; a job that
/// broadcasts itself), `job` runs on the caller alone.
pub fn broadcast(threads: usize, job: &(dyn Fn() + Sync)) {
    let pool = pool();
    let helpers = threads.saturating_sub(1);
    let _guard = match pool.caller.try_lock() {
        Ok(g) if helpers > 0 => g,
        Err(TryLockError::Poisoned(e)) if helpers > 0 => e.into_inner(),
        _ => return job(),
    };
    // SAFETY: the erased reference is stored in the pool only until
    // `Close` runs (on return and on unwind), which clears it and waits
    // until no worker is inside the job; workers copy it only while it is
    // stored, in the same critical section that counts them in. So it is
    // never used after this call returns, while `job` is still borrowed.
    let erased: &'static (dyn Fn() + Sync + 'static) = unsafe {
        std::mem::transmute::<&(dyn Fn() + Sync), &'static (dyn Fn() + Sync + 'static)>(job)
    };
    {
        let mut state = lock(pool);
        while state.spawned < helpers {
            let started = std::thread::Builder::new()
                .name("nn-doctor-kernel".into())
                .spawn(move || worker(pool));
            if started.is_err() {
                break; // fewer helpers: same results, less speed
            }
            state.spawned += 1;
        }
        state.job = Some(Job(erased));
        state.generation = state.generation.wrapping_add(1);
        pool.posted.store(state.generation, Ordering::Release);
        state.wanted = helpers.min(state.spawned);
        pool.wake.notify_all();
    }
    let _close = Close(pool);
    job();
}

/// Runs `f` once on each of `parts` (disjoint pieces of work, e.g. groups
/// of samples with their slices of the output), the parts taken from a
/// shared counter by up to `threads` participants. Each part is computed
/// the same way whoever takes it, so the thread count changes no result.
pub fn for_each_part<T: Send>(threads: usize, parts: Vec<T>, f: &(dyn Fn(T) + Sync)) {
    if threads <= 1 || parts.len() <= 1 {
        parts.into_iter().for_each(f);
        return;
    }
    let slots: Vec<Mutex<Option<T>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = slots.get(i) else { break };
        let taken = slot.lock().map(|mut p| p.take()).unwrap_or(None);
        if let Some(part) = taken {
            f(part);
        }
    };
    broadcast(threads, &work);
}

/// Runs `a` and `b`, on two threads at once when `threads` > 1 (a worker
/// takes whichever the caller has not started), and returns both results:
/// for two independent pieces of work too small to split each (the two
/// backward products of a dense layer, `backprop`). A late worker finds
/// both taken and the caller runs them in turn, so nothing waits for a
/// thread that has no core. Kernels called inside either run on their
/// thread alone (the pool is busy: see [`broadcast`]).
pub fn join<A, B, RA, RB>(threads: usize, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if threads <= 1 {
        return (a(), b());
    }
    let (ta, tb) = (Mutex::new(Some(a)), Mutex::new(Some(b)));
    let (ra, rb) = (Mutex::new(None), Mutex::new(None));
    let next = AtomicUsize::new(0);
    let work = || loop {
        match next.fetch_add(1, Ordering::Relaxed) {
            0 => {
                if let Some(f) = ta.lock().ok().and_then(|mut t| t.take()) {
                    let r = f();
                    if let Ok(mut slot) = ra.lock() {
                        *slot = Some(r);
                    }
                }
            }
            1 => {
                if let Some(f) = tb.lock().ok().and_then(|mut t| t.take()) {
                    let r = f();
                    if let Ok(mut slot) = rb.lock() {
                        *slot = Some(r);
                    }
                }
            }
            _ => break,
        }
    };
    broadcast(2, &work);
    // Both slots are filled: every task index below 2 is taken by exactly
    // one participant, and broadcast returns after every run returned. A
    // poisoned lock (a panicking task) leaves its slot empty; run the task
    // here then, so the panic surfaces on the caller.
    let ra = ra.into_inner().ok().flatten();
    let rb = rb.into_inner().ok().flatten();
    let ra = match ra {
        Some(r) => r,
        None => match ta.into_inner().ok().flatten() {
            Some(f) => f(),
            None => unreachable_task(),
        },
    };
    let rb = match rb {
        Some(r) => r,
        None => match tb.into_inner().ok().flatten() {
            Some(f) => f(),
            None => unreachable_task(),
        },
    };
    (ra, rb)
}

/// A [`join`] task that panicked on a worker (the worker caught it and
/// lives on) has no result: the panic goes on on the caller.
#[cold]
fn unreachable_task() -> ! {
    panic!("a kernel task panicked on a worker thread")
}

/// Samples per part when a batch of `n` is cut for [`for_each_part`]: a
/// few parts per thread so a late worker still finds some, at least
/// `min` samples each so the hand-off stays small against the work.
pub fn samples_per_part(n: usize, threads: usize, min: usize) -> usize {
    n.div_ceil(threads.max(1) * 4).max(min).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Every piece of work is done exactly once whatever the thread count,
    /// and the caller returns only after all of it (checked right after).
    #[test]
    fn every_piece_is_done_once() {
        for threads in [1, 2, 3, 8] {
            for _ in 0..50 {
                let pieces: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
                let next = AtomicUsize::new(0);
                broadcast(threads, &|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = pieces.get(i) else { break };
                    p.fetch_add(1, Ordering::Relaxed);
                });
                assert!(pieces.iter().all(|p| p.load(Ordering::Relaxed) == 1));
            }
        }
    }

    /// With polling before parking (a bench's setting) every piece is
    /// still done exactly once, also when jobs follow each other within
    /// the bound and when they are further apart. The bound changes only
    /// timing, so other tests running meanwhile are unaffected.
    #[test]
    fn polling_before_parking_keeps_every_piece_once() {
        set_spin_micros(200);
        for round in 0..40 {
            let pieces: Vec<AtomicUsize> = (0..23).map(|_| AtomicUsize::new(0)).collect();
            let next = AtomicUsize::new(0);
            broadcast(2, &|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = pieces.get(i) else { break };
                p.fetch_add(1, Ordering::Relaxed);
            });
            assert!(pieces.iter().all(|p| p.load(Ordering::Relaxed) == 1));
            if round % 4 == 0 {
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        }
        set_spin_micros(SPIN_MICROS);
    }

    /// Both tasks run once and their results come back in order, for
    /// every thread count (1 runs them in turn on the caller).
    #[test]
    fn join_returns_both_results() {
        for threads in [1, 2, 3] {
            for i in 0..50u64 {
                let (a, b) = join(threads, || i * 2, || format!("{i}"));
                assert_eq!((a, b), (i * 2, i.to_string()));
            }
        }
    }

    /// A job that broadcasts again runs the inner job on its own thread
    /// instead of waiting for a pool it holds (no deadlock).
    #[test]
    fn nested_broadcast_runs_inline() {
        let count = AtomicUsize::new(0);
        broadcast(2, &|| {
            broadcast(2, &|| {
                count.fetch_add(1, Ordering::Relaxed);
            });
        });
        // The caller's run nests once; a worker's run may nest once more.
        let n = count.load(Ordering::Relaxed);
        assert!((1..=2).contains(&n), "{n}");
    }
}

//! Every GEMM of the five throughput shapes (seed network 784-1000-10 at f32
//! batch 32/64/256 and f64 batch 64, deep 784-256x4-10 ReLU at f32 batch 64),
//! with the operand layouts the dense layer passes (forward x W: NN; weight
//! gradient x^T delta: TN; input gradient delta W^T: NT), timed on one
//! thread, split over the persistent pool (`kernels::pool`), and split over
//! threads spawned per product (scoped, the previous way). Contenders
//! alternate within each round; the table shows medians over rounds of the
//! time per product and the ratio one-thread / split, from which
//! `gemm::MIN_PARALLEL_MACS` is chosen.
//!
//! A second table times each dense layer's two backward products (weight
//! gradient TN, input gradient NT) in turn, each through `gemm` as the
//! layer calls it, against both at once on two threads
//! (`kernels::pool::join`, each whole), from which
//! `backprop::PAIR_MIN_MACS` is chosen; and the round trip of waking the
//! pool's parked worker for an empty job.
//!
//! Run: `cargo bench --bench gemm_shapes` (options `--rounds N`, default
//! 7; `--threads N`, default the machine's; `--pairs` for the second table
//! only; `--spin-us N`, the pool's poll bound before parking, default the
//! engine's `kernels::pool::SPIN_MICROS`); with `--features gemm` it also
//! times the `gemm` crate on one thread (an optional dependency only this
//! bench uses, so the default build does not compile its 24 crates).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, LinalgScalar};
use nn_doctor::engine::backprop::PAIR_MIN_MACS;
use nn_doctor::engine::kernels::gemm::{gemm, gemm_split, MIN_PARALLEL_MACS};
use nn_doctor::engine::kernels::pool::{broadcast, join, set_spin_micros, SPIN_MICROS};
use nn_doctor::engine::kernels::threads::threads;
use nn_doctor::engine::Float;
use std::time::Instant;

/// One product: C[m, n] = A[m, k] B[k, n], A stored transposed when `ta`,
/// B when `tb`.
struct Product {
    what: &'static str,
    f64: bool,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
}

fn products() -> Vec<Product> {
    let mut out = Vec::new();
    let mut dense = |net: &'static str, f64: bool, batch: usize, widths: &[usize]| {
        for w in widths.windows(2) {
            let (fan_in, units) = (w[0], w[1]);
            let p = |what, m, k, n, ta, tb| Product {
                what,
                f64,
                m,
                k,
                n,
                ta,
                tb,
            };
            out.push((net, p("fwd NN", batch, fan_in, units, false, false)));
            out.push((net, p("wgrad TN", fan_in, batch, units, true, false)));
            if fan_in != 784 {
                out.push((net, p("igrad NT", batch, units, fan_in, false, true)));
            }
        }
    };
    let seed = [784, 1000, 10];
    dense("seed f32 b32", false, 32, &seed);
    dense("seed f32 b64", false, 64, &seed);
    dense("seed f32 b256", false, 256, &seed);
    dense("seed f64 b64", true, 64, &seed);
    dense("deep f32 b64", false, 64, &[784, 256, 256, 256, 256, 10]);
    // The deep net repeats 256x256 three times: measure it once.
    let mut seen = std::collections::HashSet::new();
    out.into_iter()
        .filter(|(net, p)| seen.insert((*net, p.what, p.m, p.k, p.n)))
        .map(|(net, mut p)| {
            p.what = Box::leak(format!("{net} {}", p.what).into_boxed_str());
            p
        })
        .collect()
}

/// The split of the previous version: scoped threads spawned per product.
fn scoped<F: LinalgScalar + Send + Sync>(
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    c: &mut ArrayViewMut2<'_, F>,
    threads: usize,
) {
    let n = b.ncols();
    let blocks = (threads * 2).min(n / 16).max(1);
    let width = n.div_ceil(blocks).div_ceil(16) * 16;
    let mut parts = Vec::new();
    let (mut rc, mut rb) = (c.view_mut(), b.view());
    while rc.ncols() > 0 {
        let w = width.min(rc.ncols());
        let (bc, tc) = rc.split_at(Axis(1), w);
        let (bb, tb) = rb.split_at(Axis(1), w);
        parts.push(std::sync::Mutex::new(Some((bb, bc))));
        (rc, rb) = (tc, tb);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(p) = parts.get(i) else { break };
        if let Some((bb, mut bc)) = p.lock().ok().and_then(|mut p| p.take()) {
            general_mat_mul(F::one(), a, &bb, F::zero(), &mut bc);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
}

/// The `gemm` crate on one thread (its own `Parallelism::None`), C = A B.
#[cfg(feature = "gemm")]
fn gemm_crate<F: Float>(
    a: &ArrayView2<'_, F>,
    b: &ArrayView2<'_, F>,
    c: &mut ArrayViewMut2<'_, F>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (sa, sb) = (a.strides(), b.strides());
    let sc = [c.strides()[0], c.strides()[1]];
    // SAFETY: the pointers and strides are those of live ndarray views of
    // the shapes passed (m x k, k x n, m x n), and C does not alias A or B.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            sc[1],
            sc[0],
            false,
            a.as_ptr(),
            sa[1],
            sa[0],
            b.as_ptr(),
            sb[1],
            sb[0],
            F::zero(),
            F::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The contenders' column titles, in the order [`time`] returns them.
fn contenders(t: usize) -> Vec<String> {
    let mut v = vec![
        "matrixmultiply, 1 thread".to_string(),
        format!("matrixmultiply split on the pool, {t} thr"),
        format!("matrixmultiply split on scoped threads, {t} thr"),
    ];
    if cfg!(feature = "gemm") {
        v.push("gemm crate, 1 thread".to_string());
    }
    v
}

/// Median seconds per product of each contender over `rounds` rounds.
fn time<F: Float>(p: &Product, threads: usize, rounds: usize) -> Vec<f64> {
    let fill =
        |r, c| Array2::from_shape_fn((r, c), |(i, j)| F::of(((i * 7 + j * 3) % 17) as f64 - 8.0));
    let a_store = if p.ta { fill(p.k, p.m) } else { fill(p.m, p.k) };
    let b_store = if p.tb { fill(p.n, p.k) } else { fill(p.k, p.n) };
    let a = if p.ta { a_store.t() } else { a_store.view() };
    let b = if p.tb { b_store.t() } else { b_store.view() };
    let mut c = Array2::<F>::zeros((p.m, p.n));
    // Enough repetitions for about 20 ms per contender and round.
    let macs = p.m * p.k * p.n;
    let reps = (2_000_000_000 / macs.max(1) / 50).clamp(5, 20_000);
    let count = contenders(threads).len();
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); count];
    for round in 0..=rounds {
        for (j, out) in per.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..reps {
                match j {
                    0 => gemm_split(F::one(), &a, &b, F::zero(), &mut c.view_mut(), 1),
                    1 => gemm_split(F::one(), &a, &b, F::zero(), &mut c.view_mut(), threads),
                    2 => scoped(&a, &b, &mut c.view_mut(), threads),
                    #[cfg(feature = "gemm")]
                    _ => gemm_crate(&a, &b, &mut c.view_mut()),
                    #[cfg(not(feature = "gemm"))]
                    _ => {}
                }
            }
            if round > 0 {
                out.push(started.elapsed().as_secs_f64() / reps as f64);
            }
        }
    }
    per.into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

/// Median seconds per call of `f` over `rounds` rounds of `reps` calls.
fn median_time(rounds: usize, reps: usize, f: &mut dyn FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..=rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..reps {
                f();
            }
            started.elapsed().as_secs_f64() / reps as f64
        })
        .skip(1)
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median time from the start of a broadcast until the parked worker runs
/// the job (the caller waits for it, at most 5 ms, which only this bench
/// does).
fn wake_latency(reps: usize) -> f64 {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let arrived = AtomicUsize::new(0);
            let nanos = AtomicU64::new(u64::MAX);
            let started = Instant::now();
            broadcast(2, &|| {
                if arrived.fetch_add(1, Ordering::SeqCst) == 0 {
                    while arrived.load(Ordering::SeqCst) < 2 && started.elapsed().as_millis() < 5 {
                        std::hint::spin_loop();
                    }
                } else {
                    nanos.store(started.elapsed().as_nanos() as u64, Ordering::SeqCst);
                }
            });
            // Let the worker park again before the next call.
            std::thread::sleep(std::time::Duration::from_micros(200));
            nanos.load(Ordering::SeqCst) as f64 * 1e-9
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The pair table: per dense layer with an input gradient, the weight and
/// input gradient products in turn (each through `gemm` with `threads`, as
/// the layer calls it) against both at once (`join`, each on one thread).
fn pairs(threads: usize, rounds: usize) {
    let wake = wake_latency(2_000);
    let empty = median_time(rounds, 20_000, &mut || {
        join(threads, || {}, || {});
    });
    println!(
        "Waking the pool's parked worker: median {:.1} us from the call until the worker runs the job (median of 2000; the caller waits for it here, up to 5 ms); a join of two empty tasks {:.1} us.",
        wake * 1e6,
        empty * 1e6
    );
    println!();
    println!(
        "| layer | batch x fan_in x units | MMACs per product | in turn (us) | at once, {threads} thr (us) | in turn / at once |"
    );
    println!("|---|---|---|---|---|---|");
    let layers = [
        ("seed f32 b32 out", 32, 1000, 10),
        ("seed f32 b64 out", 64, 1000, 10),
        ("seed f32 b256 out", 256, 1000, 10),
        ("deep f32 b64 out", 64, 256, 10),
        ("deep f32 b64 hidden", 64, 256, 256),
        ("deep f32 b256 hidden", 256, 256, 256),
        ("seed-like b64 1000x1000", 64, 1000, 1000),
    ];
    for (what, batch, fan_in, units) in layers {
        let fill =
            |r, c| Array2::from_shape_fn((r, c), |(i, j)| ((i * 7 + j * 3) % 17) as f32 - 8.0);
        let (x, w, d) = (fill(batch, fan_in), fill(fan_in, units), fill(batch, units));
        let mut gw = Array2::<f32>::zeros((fan_in, units));
        let mut gx = Array2::<f32>::zeros((batch, fan_in));
        let macs = batch * fan_in * units;
        let reps = (1_000_000_000 / macs.max(1) / 50).clamp(5, 20_000);
        let mut in_turn = || {
            gemm(1.0, &x.t(), &d.view(), 0.0, &mut gw.view_mut(), threads);
            gemm(1.0, &d.view(), &w.t(), 0.0, &mut gx.view_mut(), threads);
        };
        let seq = median_time(rounds, reps, &mut in_turn);
        let (gw, gx) = (&mut gw, &mut gx);
        let mut at_once = || {
            join(
                threads,
                || gemm(1.0, &x.t(), &d.view(), 0.0, &mut gw.view_mut(), 1),
                || gemm(1.0, &d.view(), &w.t(), 0.0, &mut gx.view_mut(), 1),
            );
        };
        let par = median_time(rounds, reps, &mut at_once);
        println!(
            "| {what} | {batch}x{fan_in}x{units} | {:.2} | {:.1} | {:.1} | {:.2}x |",
            macs as f64 / 1e6,
            seq * 1e6,
            par * 1e6,
            seq / par
        );
    }
    println!();
    println!("PAIR_MIN_MACS now {PAIR_MIN_MACS}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let rounds = opt("--rounds").unwrap_or(7).max(1);
    let t = opt("--threads").unwrap_or_else(threads).max(2);
    let spin = opt("--spin-us").map_or(SPIN_MICROS, |v| v as u64);
    set_spin_micros(spin);
    println!("Threads poll up to {spin} us before parking (--spin-us; the engine's bound is {SPIN_MICROS}).");
    if args.iter().any(|a| a == "--pairs") {
        pairs(t, rounds);
        return;
    }
    println!("{rounds} rounds, split over {t} threads; MIN_PARALLEL_MACS now {MIN_PARALLEL_MACS}");
    println!();
    let names = contenders(t);
    let mut head = "| product | m x k x n | MMACs |".to_string();
    for n in &names {
        head += &format!(" {n} (us) |");
    }
    for n in &names[1..] {
        head += &format!(" 1 thr / {n} |");
    }
    println!("{head}");
    println!("|---|---|---|{}", "---|".repeat(2 * names.len() - 1));
    let mut list = products();
    list.sort_by_key(|p| p.m * p.k * p.n);
    for p in &list {
        let r = if p.f64 {
            time::<f64>(p, t, rounds)
        } else {
            time::<f32>(p, t, rounds)
        };
        let mut line = format!(
            "| {} | {}x{}x{} | {:.2} |",
            p.what,
            p.m,
            p.k,
            p.n,
            (p.m * p.k * p.n) as f64 / 1e6
        );
        for v in &r {
            line += &format!(" {:.1} |", v * 1e6);
        }
        for v in &r[1..] {
            line += &format!(" {:.2}x |", r[0] / v);
        }
        println!("{line}");
    }
    println!();
    pairs(t, rounds);
}

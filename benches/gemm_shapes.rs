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
//! Run: `cargo bench --bench gemm_shapes` (options `--rounds N`, default
//! 7; `--threads N`, default the machine's); with `--features gemm` it also
//! times the `gemm` crate on one thread (an optional dependency only this
//! bench uses, so the default build does not compile its 24 crates).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, LinalgScalar};
use nn_doctor::engine::kernels::gemm::{gemm_split, MIN_PARALLEL_MACS};
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
}

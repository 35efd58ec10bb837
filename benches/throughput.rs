//! Training throughput of nn-doctor on the shapes of issue 15, plain and
//! instrumented (recorder at every step + non-finite tracer), with the
//! engine's thread count and with one thread, interleaved in rounds so the
//! ratios are meaningful on a shared machine.
//!
//! Shapes: the seed network (784-1000-10, sigmoid hidden, softmax output,
//! MSE, plain SGD) in f32 at batch 32, 64 and 256 and in f64 at batch 64,
//! and a deep 784-256x4-10 ReLU net (softmax + cross-entropy, f32, batch
//! 64), and examples/mnist_cnn.toml's CNN (f32, batch 64). Each run trains a fresh network on the MNIST fixture (8,000
//! samples) for 25,600 samples. Every round runs every contender of every
//! shape once, in the same order; the table shows medians over rounds, and
//! the ratios are medians of the per-round ratios, which cancels the slow
//! drifts of a shared VM. The load other processes put on the machine
//! during the run (from /proc/stat, minus this process) is printed too.
//!
//! Run: `cargo bench --bench throughput` with options `--threads N`
//! (default: the machine's), `--rounds N` (default 5), `--only TEXT` (the
//! shapes whose name contains TEXT, e.g. "seed f32 b64"), `--fashion` for
//! Fashion-MNIST from Debian's `dataset-fashion-mnist` (60,000 samples).

#[path = "common/networks.rs"]
mod networks;

use networks::{cnn, deep, seed};
use nn_doctor::config::{self, LayerConfig, LossKind, OptimizerConfig};
use nn_doctor::data::{self, spec::DataSpec};
use nn_doctor::engine::kernels::threads::{set_threads, threads};
use nn_doctor::engine::optim::Optimizer;
use nn_doctor::engine::train::{train, Plan, Split};
use nn_doctor::engine::{Float, Network};
use nn_doctor::monitor::hook::Hook;
use nn_doctor::monitor::nonfinite::NonFiniteTracer;
use nn_doctor::monitor::recorder::Recorder;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Samples trained per measured run.
const SAMPLES: usize = 25_600;

/// One network shape to measure.
struct Shape {
    name: &'static str,
    f64: bool,
    /// Samples are 1 x 28 x 28 images (the CNN), else flat.
    image: bool,
    batch: usize,
    layers: Vec<LayerConfig>,
    loss: LossKind,
}

fn shapes() -> Vec<Shape> {
    let s = |name, f64, batch, layers, loss| Shape {
        name,
        f64,
        image: false,
        batch,
        layers,
        loss,
    };
    vec![
        s("seed f32 b32", false, 32, seed(), LossKind::Mse),
        s("seed f32 b64", false, 64, seed(), LossKind::Mse),
        s("seed f32 b256", false, 256, seed(), LossKind::Mse),
        s("seed f64 b64", true, 64, seed(), LossKind::Mse),
        s(
            "deep relu f32 b64",
            false,
            64,
            deep(),
            LossKind::CrossEntropy,
        ),
        Shape {
            image: true,
            ..s(
                "mnist cnn f32 b64",
                false,
                64,
                cnn(),
                LossKind::CrossEntropy,
            )
        },
    ]
}

/// Trains a fresh network of `shape` for [`SAMPLES`] samples on `threads`
/// threads; returns samples per second.
fn run<F: Float>(split: &Split<F>, shape: &Shape, instrumented: bool, threads: usize) -> f64 {
    set_threads(threads);
    let steps = SAMPLES / shape.batch;
    let plan = Plan {
        steps,
        batch_size: shape.batch,
        loss: shape.loss,
        clip_grad_norm: None,
        eval_every: usize::MAX,
        seed: 1,
        flaw: None,
    };
    let input = if shape.image {
        config::Shape::Image { c: 1, h: 28, w: 28 }
    } else {
        config::Shape::Flat(split.x.ncols())
    };
    let mut net = Network::<F>::init(input, &shape.layers, 42);
    let mut opt = Optimizer::for_layers(OptimizerConfig::Sgd, 0.05, &net.layers);
    let mut recorder = Recorder::new(net.layer_infos(), 1);
    let mut tracer = NonFiniteTracer::new();
    let started = Instant::now();
    let result = {
        let mut all: [&mut dyn Hook<F>; 2] = [&mut tracer, &mut recorder];
        let hooks: &mut [&mut dyn Hook<F>] = if instrumented { &mut all } else { &mut [] };
        train(
            &mut net,
            &mut opt,
            split,
            None,
            &plan,
            hooks,
            &mut |_, _| {},
        )
    };
    let secs = started.elapsed().as_secs_f64();
    assert!(result.is_ok_and(|o| o.steps_run == steps));
    (steps * shape.batch) as f64 / secs
}

/// Busy jiffies of the whole machine and of this process, from /proc.
fn busy_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" that ends the command name; utime and stime are
    // fields 14 and 15 of the line, 12 and 13 after it.
    let rest: Vec<u64> = me
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Some((total - idle, rest.iter().sum()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let rounds = opt("--rounds").unwrap_or(5).max(1);
    let t = opt("--threads").unwrap_or_else(threads).max(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = config::load(&root.join("fixtures/configs/seed.toml"))?;
    cfg.data.train_limit = None;
    if args.iter().any(|a| a == "--fashion") {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        let file = |n: &str| {
            let gz = dir.join(format!("{n}.gz"));
            if gz.exists() {
                gz
            } else {
                dir.join(n)
            }
        };
        cfg.data.spec = DataSpec::Idx {
            train_images: file("train-images-idx3-ubyte"),
            train_labels: file("train-labels-idx1-ubyte"),
            test_images: None,
            test_labels: None,
        };
    }
    let data = data::load(&cfg.data, cfg.seed)?;
    let targets = data::one_hot(&data.train.labels, data.classes);
    let split64 = Split::<f64> {
        x: data.train.features.clone(),
        targets: targets.clone(),
        labels: data.train.labels.clone(),
    };
    let split32 = Split::<f32> {
        x: data.train.features.mapv(|v| v as f32),
        targets: targets.mapv(|v| v as f32),
        labels: data.train.labels.clone(),
    };
    // `--only TEXT`: just the shapes whose name contains TEXT.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let shapes: Vec<Shape> = shapes()
        .into_iter()
        .filter(|s| only.is_none_or(|o| s.name.contains(o.as_str())))
        .collect();
    println!(
        "{} training samples, {SAMPLES} samples per run, {rounds} rounds, {t} threads vs 1; machine has {} CPUs",
        split32.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // contenders per shape: (instrumented, threads)
    let contenders = [(false, t), (true, t), (false, 1), (true, 1)];
    let measure = |s: &Shape, (instr, th): (bool, usize)| {
        if s.f64 {
            run(&split64, s, instr, th)
        } else {
            run(&split32, s, instr, th)
        }
    };
    for s in &shapes {
        measure(s, (false, t)); // warm-up
    }
    let mut results = vec![vec![Vec::new(); contenders.len()]; shapes.len()];
    let started = Instant::now();
    let before = busy_ticks();
    for _ in 0..rounds {
        for (i, s) in shapes.iter().enumerate() {
            for (j, &c) in contenders.iter().enumerate() {
                results[i][j].push(measure(s, c));
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    set_threads(0);
    println!();
    println!(
        "| shape | plain, {t} thr | instrumented, {t} thr | overhead | plain, 1 thr | instrumented, 1 thr | instr. {t} thr / 1 thr |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (s, r) in shapes.iter().zip(&results) {
        let ratio =
            |a: usize, b: usize| median(r[a].iter().zip(&r[b]).map(|(x, y)| x / y).collect());
        println!(
            "| {} | {:.0} | {:.0} | {:.1}% | {:.0} | {:.0} | {:.2}x |",
            s.name,
            median(r[0].clone()),
            median(r[1].clone()),
            100.0 * (1.0 - ratio(1, 0)),
            median(r[2].clone()),
            median(r[3].clone()),
            ratio(1, 3),
        );
    }
    println!();
    println!("samples/s, medians of {rounds} rounds; overhead and speed-up are medians of per-round ratios");
    if let (Some(b), Some(a)) = (before, busy_ticks()) {
        // USER_HZ is 100 on Linux.
        let others = (a.0 - b.0).saturating_sub(a.1 - b.1) as f64 / 100.0 / wall;
        println!(
            "load from other processes during the run: {others:.2} CPUs (this process excluded)"
        );
    }
    Ok(())
}

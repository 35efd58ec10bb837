//! nn-doctor as one persistent contender of `bench/interleave.py`: trains the
//! shapes of `bench/worker.py` (seed network 784-1000-10 at f32 b32/b64/b256
//! and f64 b64, deep 784-256x4-10 ReLU at f32 b64, the MNIST CNN at f32 b64)
//! and answers timing requests on stdin with the protocol of
//! `bench/worker.py` (`SHAPE SAMPLES` -> `SECONDS STEPS`, `quit`).
//!
//! `cargo bench --bench peer_worker -- plain|instrumented [spin-us=N] [caller-spin-us=N]` (the
//! driver starts the built binary itself; see bench/README.md).

#[path = "common/networks.rs"]
mod networks;

use networks::{cnn, deep, seed};
use nn_doctor::config::{self, KindConfig, LayerConfig, LossKind, OptimizerConfig};
use nn_doctor::data;
use nn_doctor::engine::float::Float;
use nn_doctor::engine::optim::Optimizer;
use nn_doctor::engine::train::{train, Plan, Split};
use nn_doctor::engine::Network;
use nn_doctor::monitor::hook::Hook;
use nn_doctor::monitor::nonfinite::NonFiniteTracer;
use nn_doctor::monitor::recorder::Recorder;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Runs `steps` training steps and returns the seconds they took.
type Runner = Box<dyn FnMut(usize) -> anyhow::Result<f64>>;

fn layers(shape: &str) -> Option<(Vec<LayerConfig>, bool, usize)> {
    let (seed, deep, cnn) = (seed(), deep(), cnn());
    Some(match shape {
        "seed-f32-b32" => (seed, false, 32),
        "seed-f32-b64" => (seed, false, 64),
        "seed-f32-b256" => (seed, false, 256),
        "seed-f64-b64" => (seed, true, 64),
        "deep-f32-b64" => (deep, false, 64),
        "cnn-f32-b64" => (cnn, false, 64),
        _ => return None,
    })
}

fn runner<F: Float + 'static>(
    data: &data::Data,
    layers: Vec<LayerConfig>,
    batch: usize,
    instrumented: bool,
) -> Runner {
    let split = Split::<F> {
        x: data.train.features.mapv(F::of),
        targets: data::one_hot(&data.train.labels, data.classes).mapv(F::of),
        labels: data.train.labels.clone(),
    };
    // A network that starts with a convolution reads 1 x 28 x 28 images.
    let image = matches!(layers.first().map(|l| l.kind), Some(KindConfig::Conv2d(_)));
    let input = if image {
        config::Shape::Image { c: 1, h: 28, w: 28 }
    } else {
        config::Shape::Flat(split.x.ncols())
    };
    let mut net = Network::<F>::init(input, &layers, 1);
    let mut opt = Optimizer::for_layers(OptimizerConfig::Sgd, 0.05, &net.layers);
    Box::new(move |steps| {
        let plan = Plan {
            steps,
            batch_size: batch,
            loss: LossKind::Mse,
            clip_grad_norm: None,
            eval_every: usize::MAX,
            seed: 1,
            flaw: None,
        };
        let mut recorder = Recorder::new(net.layer_infos(), 1);
        let mut tracer = NonFiniteTracer::new();
        let started = Instant::now();
        let mut all: [&mut dyn Hook<F>; 2] = [&mut tracer, &mut recorder];
        let hooks: &mut [&mut dyn Hook<F>] = if instrumented { &mut all } else { &mut [] };
        train(
            &mut net,
            &mut opt,
            &split,
            None,
            &plan,
            hooks,
            &mut |_, _| {},
        )?;
        Ok(started.elapsed().as_secs_f64())
    })
}

fn main() -> anyhow::Result<()> {
    let instrumented = std::env::args().any(|a| a == "instrumented");
    // `spin-us=N`: the kernel pool's poll bound before parking, to compare
    // bounds in one interleaved run (default: the engine's).
    if let Some(us) = std::env::args().find_map(|a| a.strip_prefix("spin-us=")?.parse().ok()) {
        nn_doctor::engine::kernels::pool::set_spin_micros(us);
    }
    // `caller-spin-us=N`: the caller's poll bound for the workers inside
    // its job (default: the engine's).
    if let Some(us) = std::env::args().find_map(|a| a.strip_prefix("caller-spin-us=")?.parse().ok())
    {
        nn_doctor::engine::kernels::pool::set_caller_spin_micros(us);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = config::load(&root.join("fixtures/configs/seed.toml"))?;
    cfg.data.train_limit = None;
    let data = data::load(&cfg.data, cfg.seed)?;
    let mut runners: HashMap<String, (Runner, usize)> = HashMap::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(shape), Some(samples)) = (parts.next(), parts.next()) else {
            break;
        };
        let samples: usize = samples.parse()?;
        if !runners.contains_key(shape) {
            let Some((layers, f64_net, batch)) = layers(shape) else {
                anyhow::bail!("unknown shape {shape}");
            };
            let mut run = if f64_net {
                runner::<f64>(&data, layers, batch, instrumented)
            } else {
                runner::<f32>(&data, layers, batch, instrumented)
            };
            run(20)?;
            runners.insert(shape.to_string(), (run, batch));
        }
        if let Some((run, batch)) = runners.get_mut(shape) {
            let steps = samples.div_ceil(*batch);
            let seconds = run(steps)?;
            writeln!(out, "{seconds} {steps}")?;
            out.flush()?;
        }
    }
    Ok(())
}

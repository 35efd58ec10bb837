//! The optimizer update with its three recorded norms, alone: plain SGD and
//! Adam on the seed network's 784x1000 weight (f32 and f64) and the deep
//! net's 784x256 (f32), on one thread and on the machine's threads,
//! interleaved in rounds; medians of microseconds per update.
//!
//! Run: `cargo bench --bench update` (option `--rounds N`, default 7).

use nn_doctor::config::OptimizerConfig;
use nn_doctor::engine::kernels::threads::{set_threads, threads};
use nn_doctor::engine::optim::Optimizer;
use nn_doctor::engine::Float;
use std::time::Instant;

/// Median microseconds per update of `n` elements on each thread count.
fn time<F: Float>(config: OptimizerConfig, n: usize, counts: &[usize], rounds: usize) -> Vec<f64> {
    let mut opt = Optimizer::<F>::new(config, 1e-3, &[vec![n]]);
    let mut w: Vec<F> = (0..n).map(|i| F::of((i as f64 * 0.37).sin())).collect();
    let g: Vec<F> = (0..n).map(|i| F::of((i as f64 * 0.11).cos())).collect();
    let mut u = vec![F::zero(); n];
    let reps = 200;
    let mut per = vec![Vec::new(); counts.len()];
    for round in 0..=rounds {
        for (j, &t) in counts.iter().enumerate() {
            set_threads(t);
            let started = Instant::now();
            for _ in 0..reps {
                opt.begin_step();
                std::hint::black_box(opt.update_param(0, 0, Some(&mut w), Some(&g), Some(&mut u)));
            }
            if round > 0 {
                per[j].push(started.elapsed().as_secs_f64() * 1e6 / reps as f64);
            }
        }
    }
    set_threads(0);
    per.into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(7)
        .max(1);
    let t = threads().max(2);
    let adam = OptimizerConfig::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    println!("| update | elements | 1 thread (us) | {t} threads (us) |");
    println!("|---|---|---|---|");
    let rows: [(&str, OptimizerConfig, usize, bool); 4] = [
        ("sgd f32", OptimizerConfig::Sgd, 784 * 1000, false),
        ("sgd f64", OptimizerConfig::Sgd, 784 * 1000, true),
        ("sgd f32", OptimizerConfig::Sgd, 784 * 256, false),
        ("adam f32", adam, 784 * 1000, false),
    ];
    for (name, config, n, f64) in rows {
        let r = if f64 {
            time::<f64>(config, n, &[1, t], rounds)
        } else {
            time::<f32>(config, n, &[1, t], rounds)
        };
        println!("| {name} | {n} | {:.0} | {:.0} |", r[0], r[1]);
    }
}

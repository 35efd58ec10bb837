//! Seconds per gradient-check point (the default check: batch 16, 8 random
//! and 4 largest elements and 2 directions per tensor, 1 network direction,
//! plus the probe-state re-check of unresolved tensors) on:
//! - the seed network (784-1000-10, U[0,1) weights: saturated, so layer 1
//!   is re-checked at the probe state),
//! - 784-H-10 xavier networks against parameter count,
//! - the 784-4096-4096-10 network,
//! - 784-64x8-10 and 784-64x32-10 sigmoid stacks, whose lower layers only
//!   the layer-local check resolves (column "local": tensors it decided),
//!
//! and, side by side in the same run, the cost of one element check by the
//! column/rank-one update the checker uses against the textbook way (move
//! the parameter, re-run every layer from the perturbed one up).
//!
//! Run: `cargo bench --bench gradcheck`

#[path = "common/checked_networks.rs"]
mod checked_networks;

use checked_networks::{layer, seed_u01, sigmoid_stack};
use ndarray::{Array1, Array2};
use nn_doctor::config::{GradcheckConfig, Init, LossKind};
use nn_doctor::data::one_hot;
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::{Layer, Network};
use nn_doctor::gradcheck::probe::{Param, Probe};
use nn_doctor::gradcheck::types::{State, Status, TensorKind};
use nn_doctor::gradcheck::{check_point, Batch};
use std::time::Instant;

/// CPU seconds of this process (user + system, all threads) from
/// /proc/self/stat: on a machine shared with other jobs, wall time measures
/// the neighbours too. 0 where /proc is not available.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// Mean wall and CPU seconds per check point over `runs` (after one
/// warm-up), and the numbers of parameter tensors the probe state and the
/// layer-local check decided.
fn time_point(
    net: &Network<f64>,
    batch: Batch<'_>,
    s: &GradcheckConfig,
    runs: u64,
) -> (f64, f64, usize, usize) {
    check_point(net, batch, s, "warm-up", None, 1);
    let cpu = cpu_seconds();
    let started = Instant::now();
    let (mut probe, mut local) = (0, 0);
    for k in 0..runs {
        let r = check_point(net, batch, s, "bench", None, k);
        assert!(r.tensors.iter().all(|t| t.status == Status::Pass));
        let count = |state: State| {
            r.tensors
                .iter()
                .filter(|t| t.verified_at == Some(state) && t.tensor != TensorKind::Input)
                .count()
        };
        probe = count(State::Probe);
        local = count(State::Local) + count(State::LocalProbe);
    }
    (
        started.elapsed().as_secs_f64() / runs as f64,
        (cpu_seconds() - cpu) / runs as f64,
        probe,
        local,
    )
}

fn main() {
    let s = GradcheckConfig::default();
    let x = Array2::from_shape_fn((s.batch, 784), |(i, j)| {
        ((i * 31 + j * 7) % 255) as f64 / 255.0
    });
    let labels: Vec<usize> = (0..s.batch).map(|i| i % 10).collect();
    let t = one_hot(&labels, 10);
    let batch = Batch {
        x: &x,
        t: &t,
        loss: LossKind::Mse,
    };
    println!(
        "default gradcheck (batch {}, {} random + 4 largest elements and {} directions per tensor, 1 network direction)",
        s.batch, s.samples_per_tensor, s.directions
    );
    println!(
        "{:<30} {:>11} {:>10} {:>10} {:>13} {:>6} {:>6}",
        "network", "parameters", "wall s/pt", "cpu s/pt", "wall us/param", "probe", "local"
    );
    let row = |name: &str, net: &Network<f64>, runs: u64| {
        let (secs, cpu, probe, local) = time_point(net, batch, &s, runs);
        let p = net.param_count();
        println!(
            "{name:<30} {p:>11} {secs:>10.3} {cpu:>10.3} {:>13.4} {probe:>6} {local:>6}",
            secs * 1e6 / p as f64
        );
    };
    let seed = Network::<f64>::init(784, &seed_u01(), 42);
    row("seed 784-1000-10 (saturated)", &seed, 3);
    for hidden in [10, 100, 300, 1000, 2000] {
        let net = Network::<f64>::init(
            784,
            &[
                layer(hidden, Activation::Sigmoid, Init::XavierUniform),
                layer(10, Activation::Softmax, Init::XavierUniform),
            ],
            1,
        );
        row(&format!("784-{hidden}-10 xavier"), &net, 3);
    }
    for depth in [8, 32] {
        let net = Network::<f64>::init(784, &sigmoid_stack(depth), 1);
        row(&format!("784-64x{depth}-10 sigmoid"), &net, 3);
    }
    let wide = Network::<f64>::init(
        784,
        &[
            layer(4096, Activation::Relu, Init::HeNormal),
            layer(4096, Activation::Relu, Init::HeNormal),
            layer(10, Activation::Softmax, Init::XavierUniform),
        ],
        1,
    );
    row("784-4096-4096-10 relu", &wide, 1);

    // One layer-1 weight element of the 4096-wide network: the checker's
    // column update against moving the parameter and re-running layers 1-3.
    // Median over repetitions: robust to the neighbours' load.
    let mut probe = Probe::new(&wide, &x, &t, LossKind::Mse);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fast = median(
        (0..200)
            .map(|k| {
                let started = Instant::now();
                probe.element(0, Param::Weight, k * 4099, 1e-6);
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let len = wide.layers[0].params()[0].value.len();
    let slow = median(
        (0..15)
            .map(|k| {
                let mut e = Array1::zeros(len);
                e[k * 4099] = 1.0;
                let started = Instant::now();
                probe.direction(&[(0, Param::Weight, e)], 1e-6);
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!(
        "784-4096-4096-10, one layer-1 element (median): column update {:.2} ms, re-run from layer 1 {:.2} ms ({:.0}x)",
        fast * 1e3,
        slow * 1e3,
        slow / fast
    );
}

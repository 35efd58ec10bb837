//! Time of the default gradient check against parameter count, on
//! 784-H-10 sigmoid/softmax networks (H up to the seed network's 1000) and
//! the seed network itself, batch 16, in f64.
//!
//! Run: `cargo bench --bench gradcheck`

use ndarray::Array2;
use nn_doctor::config::{GradcheckConfig, Init, LayerConfig, LossKind};
use nn_doctor::data::one_hot;
use nn_doctor::engine::activation::Activation;
use nn_doctor::engine::Network;
use nn_doctor::gradcheck::{check_point, Batch};
use std::time::Instant;

fn main() {
    let s = GradcheckConfig::default();
    let x = Array2::from_shape_fn((s.batch, 784), |(i, j)| {
        ((i * 31 + j * 7) % 255) as f64 / 255.0
    });
    let labels: Vec<usize> = (0..s.batch).map(|i| i % 10).collect();
    let t = one_hot(&labels, 10);
    println!("default gradcheck (batch {}, {} random + 4 largest elements and {} directions per tensor, 1 network direction)", s.batch, s.samples_per_tensor, s.directions);
    println!(
        "{:>10} {:>12} {:>10} {:>14}",
        "hidden", "parameters", "seconds", "us/parameter"
    );
    for hidden in [10, 100, 300, 1000, 2000] {
        let layers = [
            LayerConfig {
                units: hidden,
                activation: Activation::Sigmoid,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
            LayerConfig {
                units: 10,
                activation: Activation::Softmax,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
        ];
        let net = Network::<f64>::init(784, &layers, 1);
        let batch = Batch {
            x: &x,
            t: &t,
            loss: LossKind::Mse,
        };
        check_point(&net, batch, &s, "warm-up", None, 1);
        let runs = 3;
        let started = Instant::now();
        for k in 0..runs {
            let r = check_point(&net, batch, &s, "bench", None, k);
            assert!(r.tensors.iter().all(|t| t.passed));
        }
        let secs = started.elapsed().as_secs_f64() / runs as f64;
        let p = net.param_count();
        println!(
            "{hidden:>10} {p:>12} {secs:>10.3} {:>14.4}",
            secs * 1e6 / p as f64
        );
    }
}

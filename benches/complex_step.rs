//! Does complex-step differentiation resolve what central differences
//! cannot? Measured on the layer-local function f(W) = <U, sigmoid(x W + b)>
//! of a dense sigmoid layer, the case where a finite difference runs out of
//! resolution: the seed network's saturated first layer (|z| ~ 54, slopes
//! ~1e-23) at its check point, and the first layer of a 784-64x32-10
//! sigmoid stack. Complex step: f(W + i h e_k) = f + i h df/dW_k + O(h^2),
//! so df/dW_k = Im f / h with h = 1e-30 and no subtraction (no
//! cancellation); central difference: (f(W + h e_k) - f(W - h e_k)) / 2h
//! with h = 1e-6, judged by the checker's resolution rule.
//!
//! Run: `cargo bench --bench complex_step`

#[path = "common/checked_networks.rs"]
mod checked_networks;

use checked_networks::{seed_u01, sigmoid_stack};
use ndarray::{Array2, Ix2};
use nn_doctor::config::GradcheckConfig;
use nn_doctor::engine::layers::AnyLayer;
use nn_doctor::engine::Network;
use nn_doctor::gradcheck::complex_step::{dense_derivative, Element};
use nn_doctor::gradcheck::local::{engine_local, Upstream};
use nn_doctor::gradcheck::resolution::Resolution;
use nn_doctor::gradcheck::types::RowStatus;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

fn main() {
    let s = GradcheckConfig::default();
    let seed = Network::<f64>::init(784, &seed_u01(), 42);
    let deep = Network::<f64>::init(784, &sigmoid_stack(32), 1);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = Array2::from_shape_fn((s.batch, 784), |_| rng.random_range(0.0..1.0));
    println!(
        "layer-local check of layer 1's weight, 24 random elements, batch {}",
        s.batch
    );
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>14} {:>14} {:>10} {:>10}",
        "network",
        "|analytic|",
        "CD resolved",
        "CS resolved",
        "CD max rel err",
        "CS max rel err",
        "CD us/el",
        "CS us/el"
    );
    for (name, net) in [
        ("seed 784-1000-10 (saturated)", &seed),
        ("784-64x32-10 sigmoid", &deep),
    ] {
        let AnyLayer::Dense(d) = &net.layers[0] else {
            continue;
        };
        let units = d.weight.ncols();
        let u = Array2::from_shape_fn((s.batch, units), |_| StandardNormal.sample(&mut rng));
        let a = engine_local(net, &x, 0, Upstream::Given(&u), None).expect("dense layer");
        let Ok(ga) = a.params[0].clone().into_dimensionality::<Ix2>() else {
            continue;
        };
        // f and its round-off scale, for the central difference's floor.
        let value = |w: &Array2<f64>| -> (f64, f64) {
            let z = x.dot(w) + &d.bias;
            let a = z.mapv(|v| 1.0 / (1.0 + (-v).exp()));
            let f = (&u * &a).sum();
            (f, (&u * &a).mapv(f64::abs).sum())
        };
        let res = Resolution::new(value(&d.weight).1, &s);
        let (mut cd_ok, mut cs_ok, mut cd_err, mut cs_err, mut mag) =
            (0, 0, 0.0f64, 0.0f64, 0.0f64);
        let (mut cd_t, mut cs_t) = (0.0, 0.0);
        let picks: Vec<(usize, usize)> = (0..24)
            .map(|_| (rng.random_range(0..784), rng.random_range(0..units)))
            .collect();
        for &(r, c) in &picks {
            let analytic = ga[[r, c]];
            mag = mag.max(analytic.abs());
            let t0 = Instant::now();
            let mut w = d.weight.clone();
            w[[r, c]] += s.epsilon;
            let fp = value(&w).0;
            w[[r, c]] -= 2.0 * s.epsilon;
            let fm = value(&w).0;
            let cd = (fp - fm) / (2.0 * s.epsilon);
            cd_t += t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let cs = dense_derivative(d, &x, &u, Element::Weight(r, c)).unwrap_or(f64::NAN);
            cs_t += t1.elapsed().as_secs_f64();
            if matches!(
                res.status(analytic, cd, false),
                RowStatus::Pass | RowStatus::Fail
            ) {
                cd_ok += 1;
                cd_err = cd_err.max((analytic - cd).abs() / analytic.abs().max(cd.abs()));
            }
            // Complex step has no cancellation floor: any nonzero value is
            // resolved to about machine precision.
            if analytic != 0.0 || cs != 0.0 {
                cs_ok += 1;
                cs_err = cs_err.max((analytic - cs).abs() / analytic.abs().max(cs.abs()));
            }
        }
        let n = picks.len() as f64;
        println!(
            "{name:<28} {mag:>10.2e} {:>12} {:>12} {:>14.2e} {:>14.2e} {:>10.1} {:>10.1}",
            format!("{cd_ok}/{}", picks.len()),
            format!("{cs_ok}/{}", picks.len()),
            cd_err,
            cs_err,
            cd_t / n * 1e6,
            cs_t / n * 1e6
        );
    }
}

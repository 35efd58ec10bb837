//! Writes a trace of one step computed by our own engine (f64 `.npy`
//! files, every tensor included). Fixtures come from the independent NumPy
//! exporter; this writer exists for traces too big to commit, such as the
//! seed network's (784-1000-10, batch 20) used by the timing test and bench.

use super::npy::write_f64;
use super::reference::step;
use super::spec::Layout;
use crate::config::LossKind;
use crate::engine::Network;
use ndarray::Array2;
use std::fmt::Write as _;
use std::path::Path;

/// Writes `dir/trace.toml` and the tensors of the step of `net` on (x, t),
/// with weights and weight gradients in `layout`, mean reduction, MSE 1/2.
pub fn write_trace(
    dir: &Path,
    net: &Network<f64>,
    x: &Array2<f64>,
    t: &Array2<f64>,
    loss: LossKind,
    layout: Layout,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let s = step(net, None, x, t, loss, None, &[]);
    let save = |name: &str, m: &Array2<f64>| -> std::io::Result<String> {
        let file = format!("{name}.npy");
        let flat: Vec<f64> = m.iter().copied().collect();
        write_f64(&dir.join(&file), &[m.nrows(), m.ncols()], &flat)?;
        Ok(file)
    };
    let in_layout = |m: &Array2<f64>| match layout {
        Layout::InOut => m.clone(),
        Layout::OutIn => m.t().to_owned(),
    };
    let loss_name = match loss {
        LossKind::Mse => "\"mse\"".to_string(),
        LossKind::CrossEntropy => "\"cross_entropy\"".to_string(),
        LossKind::BinaryCrossEntropy => "\"binary_cross_entropy\"".to_string(),
        LossKind::Mae => "\"mae\"".to_string(),
        LossKind::Huber { delta } => format!("{{ huber = {{ delta = {delta:?} }} }}"),
    };
    let mut toml = format!(
        "loss = {loss_name}\nweight_layout = \"{}\"\ninput = \"{}\"\ntarget = \"{}\"\nloss_value = {:?}\n",
        layout.name(),
        save("x", x)?,
        save("t", t)?,
        s.loss
    );
    let dense = net.layers.iter().enumerate();
    for (i, layer) in dense.filter_map(|(i, l)| Some((i, l.as_dense()?))) {
        let l = i + 1;
        let b = format!("b{l}.npy");
        write_f64(&dir.join(&b), &[layer.bias.len()], &layer.bias.to_vec())?;
        let gb = format!("gb{l}.npy");
        write_f64(&dir.join(&gb), &[s.grad_b[i].len()], &s.grad_b[i].to_vec())?;
        let _ = write!(
            toml,
            "\n[[layers]]\nactivation = \"{}\"\nweight = \"{}\"\nbias = \"{b}\"\npre_activation = \"{}\"\noutput = \"{}\"\ndelta = \"{}\"\ngrad_weight = \"{}\"\ngrad_bias = \"{gb}\"\n",
            layer.activation,
            save(&format!("w{l}"), &in_layout(&layer.weight))?,
            save(&format!("z{l}"), &s.pre[i])?,
            save(&format!("a{l}"), &s.act[i])?,
            save(&format!("d{l}"), &s.delta[i])?,
            save(&format!("gw{l}"), &in_layout(&s.grad_w[i]))?,
        );
    }
    std::fs::write(dir.join("trace.toml"), toml)
}

/// The seed network of the MNIST story (784-1000-10, sigmoid, softmax,
/// every weight uniform in [0, 1), biases 0) on a batch of 20 pixel-like
/// inputs with one-hot targets. Deterministic (a fixed LCG), no data files.
pub fn seed_case() -> (Network<f64>, Array2<f64>, Array2<f64>) {
    use crate::engine::activation::Activation;
    use crate::engine::Dense;
    let mut state: u64 = 0x5EED;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut layer = |fan_in: usize, units: usize, activation| Dense {
        weight: Array2::from_shape_simple_fn((fan_in, units), &mut uniform),
        bias: ndarray::Array1::zeros(units),
        activation,
    };
    let net = Network {
        layers: vec![
            layer(784, 1000, Activation::Sigmoid).into(),
            layer(1000, 10, Activation::Softmax).into(),
        ],
    };
    let x = Array2::from_shape_fn((20, 784), |(i, j)| ((i * 31 + j * 7) % 256) as f64 / 256.0);
    let t = Array2::from_shape_fn((20, 10), |(i, k)| f64::from(u8::from(i % 10 == k)));
    (net, x, t)
}

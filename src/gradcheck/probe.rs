//! Central differences of the training loss. The probe owns an f64 copy of
//! the network, perturbs parameters in place and restores them exactly, and
//! re-runs the forward pass only from the perturbed layer up (the layers
//! below see the same input, so their cached activations are reused). It
//! also reports kinks: a perturbation that flips the sign of any ReLU-family
//! pre-activation, where the loss is not differentiable and a finite
//! difference is not evidence against the analytic gradient.

use crate::config::LossKind;
use crate::engine::loss::batch_loss;
use crate::engine::network::linear;
use crate::engine::Network;
use ndarray::{Array1, Array2};

/// Which parameter tensor of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Weight,
    Bias,
}

/// A loss evaluator with cached base activations.
pub struct Probe<'a> {
    net: Network<f64>,
    x: &'a Array2<f64>,
    t: &'a Array2<f64>,
    loss: LossKind,
    base_pre: Vec<Array2<f64>>,
    base_act: Vec<Array2<f64>>,
}

/// One central difference and whether it straddled a kink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub numeric: f64,
    pub kink: bool,
}

impl<'a> Probe<'a> {
    pub fn new(net: &Network<f64>, x: &'a Array2<f64>, t: &'a Array2<f64>, loss: LossKind) -> Self {
        let mut probe = Probe {
            net: net.clone(),
            x,
            t,
            loss,
            base_pre: Vec::new(),
            base_act: Vec::new(),
        };
        let (pre, act) = probe.forward_from(0);
        probe.base_pre = pre;
        probe.base_act = act;
        probe
    }

    /// The unperturbed loss.
    pub fn base_loss(&self) -> f64 {
        let last = self.net.layers.len() - 1;
        batch_loss(
            self.loss,
            self.net.output_activation(),
            &self.base_pre[last],
            &self.base_act[last],
            self.t,
        )
    }

    /// Pre-activations and activations of layers `from..` (earlier entries
    /// are the cached base ones).
    fn forward_from(&self, from: usize) -> (Vec<Array2<f64>>, Vec<Array2<f64>>) {
        let mut pre: Vec<Array2<f64>> = self.base_pre.iter().take(from).cloned().collect();
        let mut act: Vec<Array2<f64>> = self.base_act.iter().take(from).cloned().collect();
        for (l, layer) in self.net.layers.iter().enumerate().skip(from) {
            let input = if l == 0 {
                self.x.view()
            } else {
                act[l - 1].view()
            };
            let mut z = Array2::zeros((input.nrows(), layer.weight.ncols()));
            linear(input, layer, &mut z);
            let mut a = Array2::zeros(z.raw_dim());
            layer.activation.forward(&z, &mut a);
            pre.push(z);
            act.push(a);
        }
        (pre, act)
    }

    /// Loss evaluated from layer `from` up, and whether any ReLU-family
    /// pre-activation changed sign against the base pass.
    fn eval_from(&self, from: usize) -> (f64, bool) {
        let mut kink = false;
        let mut input = if from == 0 {
            self.x.clone()
        } else {
            self.base_act[from - 1].clone()
        };
        let mut last_pre = Array2::zeros((0, 0));
        for (l, layer) in self.net.layers.iter().enumerate().skip(from) {
            let mut z = Array2::zeros((input.nrows(), layer.weight.ncols()));
            linear(input.view(), layer, &mut z);
            if layer.activation.is_relu_family() {
                kink |= z
                    .iter()
                    .zip(self.base_pre[l].iter())
                    .any(|(&a, &b)| (a > 0.0) != (b > 0.0));
            }
            let mut a = Array2::zeros(z.raw_dim());
            layer.activation.forward(&z, &mut a);
            input = a;
            last_pre = z;
        }
        (
            batch_loss(
                self.loss,
                self.net.output_activation(),
                &last_pre,
                &input,
                self.t,
            ),
            kink,
        )
    }

    fn tensor_mut(&mut self, layer: usize, param: Param) -> Option<&mut [f64]> {
        let l = self.net.layers.get_mut(layer)?;
        match param {
            Param::Weight => l.weight.as_slice_mut(),
            Param::Bias => l.bias.as_slice_mut(),
        }
    }

    /// (L(p + eps e_i) - L(p - eps e_i)) / 2 eps for one element of the
    /// 0-based `layer`'s tensor (flat row-major index).
    pub fn element(&mut self, layer: usize, param: Param, flat: usize, eps: f64) -> Difference {
        let Some(original) = self
            .tensor_mut(layer, param)
            .and_then(|t| t.get(flat).copied())
        else {
            return Difference {
                numeric: f64::NAN,
                kink: false,
            };
        };
        let at = |probe: &mut Self, value: f64| {
            if let Some(v) = probe.tensor_mut(layer, param).and_then(|t| t.get_mut(flat)) {
                *v = value;
            }
            probe.eval_from(layer)
        };
        let (plus, k1) = at(self, original + eps);
        let (minus, k2) = at(self, original - eps);
        at(self, original);
        Difference {
            numeric: (plus - minus) / (2.0 * eps),
            kink: k1 || k2,
        }
    }

    /// The central difference along a direction given per (layer, param)
    /// as flat arrays; layers without an entry are not moved.
    pub fn direction(&mut self, dir: &[(usize, Param, Array1<f64>)], eps: f64) -> Difference {
        let from = dir.iter().map(|d| d.0).min().unwrap_or(0);
        let saved: Vec<Vec<f64>> = dir
            .iter()
            .map(|(l, p, _)| {
                self.tensor_mut(*l, *p)
                    .map(|t| t.to_vec())
                    .unwrap_or_default()
            })
            .collect();
        let shift = |probe: &mut Self, scale: f64| {
            for ((l, p, d), orig) in dir.iter().zip(&saved) {
                if let Some(t) = probe.tensor_mut(*l, *p) {
                    for ((v, &o), &di) in t.iter_mut().zip(orig).zip(d.iter()) {
                        *v = o + scale * di;
                    }
                }
            }
        };
        shift(self, eps);
        let (plus, k1) = self.eval_from(from);
        shift(self, -eps);
        let (minus, k2) = self.eval_from(from);
        for ((l, p, _), orig) in dir.iter().zip(&saved) {
            if let Some(t) = self.tensor_mut(*l, *p) {
                t.copy_from_slice(orig);
            }
        }
        Difference {
            numeric: (plus - minus) / (2.0 * eps),
            kink: k1 || k2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, LayerConfig};
    use crate::engine::activation::Activation;
    use ndarray::array;

    fn net(act: Activation) -> Network<f64> {
        let cfg = [
            LayerConfig {
                units: 3,
                activation: act,
                init: Init::XavierUniform,
                bias_init: 0.1,
            },
            LayerConfig {
                units: 2,
                activation: Activation::Softmax,
                init: Init::XavierUniform,
                bias_init: 0.0,
            },
        ];
        Network::init(2, &cfg, 4)
    }

    #[test]
    fn element_difference_restores_the_parameter_and_matches_the_slope() {
        // Source of truth: the loss is smooth (tanh, softmax, CE); a central
        // difference with eps 1e-6 agrees with one at eps 1e-4 to ~1e-7.
        let (x, t) = (
            array![[0.5, -1.0], [0.2, 0.3]],
            array![[1.0, 0.0], [0.0, 1.0]],
        );
        let n = net(Activation::Tanh);
        let mut p = Probe::new(&n, &x, &t, LossKind::CrossEntropy);
        let a = p.element(0, Param::Weight, 3, 1e-6);
        let b = p.element(0, Param::Weight, 3, 1e-4);
        assert!((a.numeric - b.numeric).abs() < 1e-7, "{a:?} {b:?}");
        assert!(!a.kink);
        assert_eq!(p.net, n, "parameters restored exactly");
    }

    #[test]
    fn a_sign_flip_of_a_relu_input_is_a_kink() {
        // Put one pre-activation at 1e-9 so +-1e-6 on its bias flips it.
        let x = array![[0.0, 0.0]];
        let t = array![[1.0, 0.0]];
        let mut n = net(Activation::Relu);
        n.layers[0].bias[1] = 1e-9;
        let mut p = Probe::new(&n, &x, &t, LossKind::CrossEntropy);
        assert!(p.element(0, Param::Bias, 1, 1e-6).kink);
        assert!(!p.element(0, Param::Bias, 0, 1e-6).kink);
    }
}

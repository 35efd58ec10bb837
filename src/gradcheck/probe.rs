//! Central differences of the training loss. The probe owns an f64 copy of
//! the network and caches the base pass. A perturbation of one tensor
//! changes that layer's pre-activations by an amount computed directly
//! (eps times the input column for a weight element, eps times input D for
//! a direction), and only the layers above are re-run; one element moves
//! one column, which stays a rank-one update of the next layer. It
//! also reports kinks: a perturbation that flips the sign of any ReLU-family
//! pre-activation, where the loss is not differentiable and a finite
//! difference is not evidence against the analytic gradient.

use crate::config::LossKind;
use crate::engine::activation::Activation;
use crate::engine::layers::{AnyLayer, Cache};
use crate::engine::loss::batch_loss;
use crate::engine::Network;
use crate::engine::{Layer, Mode};
use ndarray::{concatenate, s, Array1, Array2, ArrayView2, Axis};
use std::borrow::Cow;

/// Which parameter tensor of a layer: the checker's handle on a layer's
/// named parameters (`Layer::params`). The probe's shortcuts know what each
/// tensor does to the pre-activations, so each name a layer kind uses has a
/// variant here; `every_layer_parameter_has_a_handle` holds that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Weight,
    Bias,
}

impl Param {
    /// The handle of the parameter a layer names `name`.
    pub fn of_name(name: &str) -> Option<Param> {
        match name {
            "weight" => Some(Param::Weight),
            "bias" => Some(Param::Bias),
            _ => None,
        }
    }

    /// The parameter's name in `Layer::params` (and in gradcheck.csv).
    pub fn name(self) -> &'static str {
        match self {
            Param::Weight => "weight",
            Param::Bias => "bias",
        }
    }

    /// The handles of a layer's parameters, in its `params()` order.
    pub fn of_layer<L: Layer<f64>>(layer: &L) -> Vec<Param> {
        layer
            .params()
            .iter()
            .filter_map(|p| Param::of_name(p.name))
            .collect()
    }
}

/// A loss evaluator with cached base activations.
pub struct Probe<'a> {
    /// Borrowed until a whole-network direction moves parameters (then
    /// copied once): a 20-million-parameter network is not cloned per check.
    net: Cow<'a, Network<f64>>,
    x: &'a Array2<f64>,
    t: &'a Array2<f64>,
    loss: LossKind,
    base_pre: Vec<Array2<f64>>,
    base_act: Vec<Array2<f64>>,
    /// Max pooling: which input each output took in the base pass (empty
    /// for other kinds). A perturbation that changes one crossed a tie,
    /// where the loss has a kink.
    base_argmax: Vec<Vec<usize>>,
    /// Dropout masks held fixed (engine scale), per layer; a layer without
    /// one draws from a fresh cache's seed, the same mask every pass.
    masks: Vec<Option<Array2<f64>>>,
}

/// One central difference and whether it straddled a kink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    pub numeric: f64,
    pub kink: bool,
}

impl<'a> Probe<'a> {
    pub fn new(
        net: &'a Network<f64>,
        x: &'a Array2<f64>,
        t: &'a Array2<f64>,
        loss: LossKind,
    ) -> Self {
        Self::with_masks(net, x, t, loss, Vec::new())
    }

    /// A probe whose dropout layers use the given masks (a trace's).
    pub fn with_masks(
        net: &'a Network<f64>,
        x: &'a Array2<f64>,
        t: &'a Array2<f64>,
        loss: LossKind,
        masks: Vec<Option<Array2<f64>>>,
    ) -> Self {
        let mut probe = Probe {
            net: Cow::Borrowed(net),
            x,
            t,
            loss,
            base_pre: Vec::new(),
            base_act: Vec::new(),
            base_argmax: Vec::new(),
            masks,
        };
        let mut input = x.clone();
        for (l, layer) in probe.net.layers.iter().enumerate() {
            let mut z = Array2::zeros((input.nrows(), layer.output_width()));
            let mut cache = probe.cache(l);
            layer.forward_pre(input.view(), Mode::Train, &mut cache, &mut z);
            probe.base_argmax.push(layer.selection(&cache).to_vec());
            let mut a = Array2::zeros(z.raw_dim());
            layer.forward_act(&z, &mut a);
            probe.base_pre.push(z);
            input = a.clone();
            probe.base_act.push(a);
        }
        probe
    }

    /// A fresh cache for layer `l`'s forward pass, with its fixed mask.
    fn cache(&self, l: usize) -> Cache<f64> {
        let mut c = Cache::new();
        if let Some(Some(m)) = self.masks.get(l) {
            c.hold(m.clone());
        }
        c
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

    /// The input of 0-based layer `l` in the base pass.
    fn input_of(&self, l: usize) -> ArrayView2<'_, f64> {
        if l == 0 {
            self.x.view()
        } else {
            self.base_act[l - 1].view()
        }
    }

    /// Whether max-pool layer `l` took another input than in the base pass
    /// for any output, in block `half` of a pass over stacked batches (0
    /// for a single batch): a finite difference across a tie in a pooling
    /// window sees neither side's slope.
    fn selection_changed(&self, l: usize, argmax: &[usize], half: usize) -> bool {
        let Some(base) = self.base_argmax.get(l).filter(|b| !b.is_empty()) else {
            return false;
        };
        let n = base.len();
        argmax
            .get(half * n..(half + 1) * n)
            .is_some_and(|a| a != base.as_slice())
    }

    /// Whether a ReLU-family layer's pre-activations changed sign against
    /// the base pass.
    fn kinked(&self, l: usize, z: ArrayView2<'_, f64>, base: ArrayView2<'_, f64>) -> bool {
        self.net.layers[l].activation().is_relu_family()
            && z.iter()
                .zip(base.iter())
                .any(|(&a, &b)| (a > 0.0) != (b > 0.0))
    }

    /// The loss when layer `l`'s pre-activations are `z` and everything
    /// above follows, and whether any ReLU-family pre-activation from `l`
    /// up changed sign.
    fn eval_pre(&self, from: usize, mut z: Array2<f64>) -> (f64, bool) {
        let mut kink = false;
        let last = self.net.layers.len() - 1;
        for l in from..=last {
            let layer = &self.net.layers[l];
            kink |= self.kinked(l, z.view(), self.base_pre[l].view());
            let mut a = Array2::zeros(z.raw_dim());
            layer.forward_act(&z, &mut a);
            if l == last {
                let loss = batch_loss(self.loss, layer.activation(), &z, &a, self.t);
                return (loss, kink);
            }
            let next = &self.net.layers[l + 1];
            let mut z_next = Array2::zeros((a.nrows(), next.output_width()));
            let mut cache = self.cache(l + 1);
            next.forward_pre(a.view(), Mode::Train, &mut cache, &mut z_next);
            kink |= self.selection_changed(l + 1, next.selection(&cache), 0);
            z = z_next;
        }
        (f64::NAN, kink)
    }

    /// The losses of two perturbations evaluated together: `zp` and `zm`
    /// are layer `from`'s pre-activations under +eps and -eps. Both halves
    /// go through each layer as one stacked batch, so every weight matrix
    /// above is multiplied (and packed) once per pair, not twice.
    fn eval_pair(&self, from: usize, zp: Array2<f64>, zm: Array2<f64>) -> [(f64, bool); 2] {
        // Batch norm's statistics and dropout's mask belong to one batch:
        // stacked halves would share them, so each half runs alone.
        let per_batch = self.net.layers[from..].iter().any(|l| l.per_batch());
        if per_batch {
            return [self.eval_pre(from, zp), self.eval_pre(from, zm)];
        }
        let n = zp.nrows();
        let last = self.net.layers.len() - 1;
        let mut kinks = [false, false];
        let mut z = match concatenate(Axis(0), &[zp.view(), zm.view()]) {
            Ok(z) => z,
            Err(_) => return [(f64::NAN, false); 2],
        };
        for l in from..=last {
            let layer = &self.net.layers[l];
            for (h, kink) in kinks.iter_mut().enumerate() {
                let half = z.slice(s![h * n..(h + 1) * n, ..]);
                *kink |= self.kinked(l, half, self.base_pre[l].view());
            }
            let mut a = Array2::zeros(z.raw_dim());
            layer.forward_act(&z, &mut a);
            if l == last {
                let loss = |h: usize| {
                    let rows = s![h * n..(h + 1) * n, ..];
                    batch_loss(
                        self.loss,
                        layer.activation(),
                        &z.slice(rows).to_owned(),
                        &a.slice(rows).to_owned(),
                        self.t,
                    )
                };
                return [(loss(0), kinks[0]), (loss(1), kinks[1])];
            }
            let next = &self.net.layers[l + 1];
            let mut z_next = Array2::zeros((a.nrows(), next.output_width()));
            let mut cache = self.cache(l + 1);
            next.forward_pre(a.view(), Mode::Train, &mut cache, &mut z_next);
            for (h, kink) in kinks.iter_mut().enumerate() {
                *kink |= self.selection_changed(l + 1, next.selection(&cache), h);
            }
            z = z_next;
        }
        [(f64::NAN, kinks[0]), (f64::NAN, kinks[1])]
    }

    /// Where a change of column `j` of layer `l`'s pre-activations by `dz`
    /// first needs a full layer: below an element-wise hidden activation
    /// it stays a rank-one update of the next layer's pre-activations, so
    /// an element check costs O(batch x width) before the first matrix
    /// product. Returns (layer, its pre-activations, kink in layer l).
    fn column_change(&self, l: usize, j: usize, dz: &Array1<f64>) -> (usize, Array2<f64>, bool) {
        let layer = &self.net.layers[l];
        let last = self.net.layers.len() - 1;
        let mut z = self.base_pre[l].clone();
        let mut col = z.column_mut(j);
        col += dz;
        let next = self.net.layers.get(l + 1).and_then(AnyLayer::as_dense);
        let (Some(next), false) = (next, l == last || layer.activation() == Activation::Softmax)
        else {
            return (l, z, false);
        };
        let kink = self.kinked(
            l,
            z.column(j).insert_axis(Axis(1)),
            self.base_pre[l].column(j).insert_axis(Axis(1)),
        );
        let w_row = next.weight.row(j);
        let mut z_next = self.base_pre[l + 1].clone();
        for ((mut row, &zi), &ai) in z_next
            .rows_mut()
            .into_iter()
            .zip(z.column(j))
            .zip(self.base_act[l].column(j))
        {
            let d = layer.activation().value(zi) - ai;
            if d != 0.0 {
                row.scaled_add(d, &w_row);
            }
        }
        (l + 1, z_next, kink)
    }

    /// (L(p + eps e_i) - L(p - eps e_i)) / 2 eps for one element of the
    /// 0-based `layer`'s tensor (flat row-major index). Only the
    /// pre-activations the element feeds are recomputed.
    pub fn element(&mut self, layer: usize, param: Param, flat: usize, eps: f64) -> Difference {
        let Some(l) = self.net.layers.get(layer).and_then(AnyLayer::as_dense) else {
            return self.element_by_forward(layer, param, flat, eps);
        };
        let units = l.weight.ncols();
        let (j, dz) = match param {
            Param::Weight if flat < l.weight.len() => {
                let (i, j) = (flat / units, flat % units);
                (j, self.input_of(layer).column(i).to_owned())
            }
            Param::Bias if flat < units => (flat, Array1::ones(self.x.nrows())),
            _ => return NAN_DIFFERENCE,
        };
        // The perturbed parameter is exactly p +- eps, so the change of z is
        // exactly +-eps times its multiplier.
        let (from, zp, k1) = self.column_change(layer, j, &(&dz * eps));
        let (_, zm, k2) = self.column_change(layer, j, &(&dz * -eps));
        let [(plus, k3), (minus, k4)] = self.eval_pair(from, zp, zm);
        Difference {
            numeric: (plus - minus) / (2.0 * eps),
            kink: k1 || k2 || k3 || k4,
        }
    }

    /// The central difference along a unit direction within one tensor
    /// (flat, row-major): z moves by +-eps times input D (or the broadcast
    /// d of a bias), computed once.
    pub fn tensor_direction(
        &mut self,
        layer: usize,
        param: Param,
        dir: &Array1<f64>,
        eps: f64,
    ) -> Difference {
        let Some(l) = self.net.layers.get(layer).and_then(AnyLayer::as_dense) else {
            return self.direction(&[(layer, param, dir.clone())], eps);
        };
        let shape = l.weight.raw_dim();
        let dz = match param {
            Param::Weight => match dir.view().into_shape_with_order(shape) {
                Ok(d) => self.input_of(layer).dot(&d),
                Err(_) => return NAN_DIFFERENCE,
            },
            Param::Bias => {
                let mut dz = Array2::zeros(self.base_pre[layer].raw_dim());
                dz += &dir.view().insert_axis(Axis(0));
                dz
            }
        };
        let base = &self.base_pre[layer];
        let [(plus, k1), (minus, k2)] =
            self.eval_pair(layer, base + &(&dz * eps), base - &(&dz * eps));
        Difference {
            numeric: (plus - minus) / (2.0 * eps),
            kink: k1 || k2,
        }
    }

    /// Any layer kind's tensor by name, as one contiguous slice.
    fn tensor_mut(&mut self, layer: usize, param: Param) -> Option<&mut [f64]> {
        let l = self.net.to_mut().layers.get_mut(layer)?;
        l.params_mut()
            .into_iter()
            .find(|p| p.name == param.name())?
            .value
            .into_slice()
    }

    /// The central difference of one element for a layer kind without the
    /// dense shortcut (conv2d, batch norm): the element is moved in the
    /// layer and the pass re-run from that layer, so batch norm's batch
    /// statistics follow the perturbation (their dependence is included)
    /// and dropout keeps its mask.
    fn element_by_forward(
        &mut self,
        layer: usize,
        param: Param,
        flat: usize,
        eps: f64,
    ) -> Difference {
        let Some(orig) = self
            .tensor_mut(layer, param)
            .and_then(|t| t.get(flat).copied())
        else {
            return NAN_DIFFERENCE;
        };
        let set = |probe: &mut Self, v: f64| {
            if let Some(t) = probe.tensor_mut(layer, param) {
                t[flat] = v;
            }
        };
        set(self, orig + eps);
        let (plus, k1) = self.eval_params_from(layer);
        set(self, orig - eps);
        let (minus, k2) = self.eval_params_from(layer);
        set(self, orig);
        Difference {
            numeric: (plus - minus) / (2.0 * eps),
            kink: k1 || k2,
        }
    }

    /// The loss with the current (perturbed) parameters from layer `from`
    /// up.
    fn eval_params_from(&self, from: usize) -> (f64, bool) {
        let layer = &self.net.layers[from];
        let mut z = Array2::zeros(self.base_pre[from].raw_dim());
        layer.forward_pre(
            self.input_of(from),
            Mode::Train,
            &mut self.cache(from),
            &mut z,
        );
        self.eval_pre(from, z)
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
        let (plus, k1) = self.eval_params_from(from);
        shift(self, -eps);
        let (minus, k2) = self.eval_params_from(from);
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

/// What an out-of-range request yields: a NaN fails visibly.
const NAN_DIFFERENCE: Difference = Difference {
    numeric: f64::NAN,
    kink: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, LayerConfig};
    use crate::engine::activation::Activation;
    use crate::engine::layers::dense::DenseConfig;
    use crate::engine::layers::KindConfig;
    use ndarray::array;

    fn net(act: Activation) -> Network<f64> {
        let cfg = [
            LayerConfig {
                kind: KindConfig::Dense(DenseConfig { units: 3 }),
                units: 3,
                activation: act,
                init: Init::XavierUniform,
                bias_init: 0.1,
            },
            LayerConfig {
                kind: KindConfig::Dense(DenseConfig { units: 2 }),
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
        assert_eq!(*p.net, n, "parameters restored exactly");
    }

    /// Truth: the generic path, which moves the parameters themselves and
    /// re-runs every layer from the perturbed one (the textbook central
    /// difference); the column/rank-one shortcuts compute the same function.
    #[test]
    fn shortcuts_agree_with_moving_the_parameters() {
        let x = array![[0.5, -1.0], [0.2, 0.3], [-0.7, 0.9]];
        let t = array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]];
        for act in [Activation::Tanh, Activation::Elu, Activation::Softmax] {
            let mut n = net(act);
            n.layers.push(n.layers[1].clone());
            n.layers[1].as_dense_mut().unwrap().activation = Activation::Sigmoid;
            n.layers[1].as_dense_mut().unwrap().weight = array![[0.3, -0.2], [0.5, 0.1]];
            n.layers[0].as_dense_mut().unwrap().weight = array![[0.3, -0.2, 0.4], [0.5, 0.1, -0.6]];
            n.layers[1].as_dense_mut().unwrap().weight =
                array![[0.3, -0.2], [0.5, 0.1], [-0.4, 0.8]];
            n.layers[1].as_dense_mut().unwrap().bias = array![0.1, -0.1];
            n.layers[2].as_dense_mut().unwrap().weight = array![[0.7, -0.3], [0.2, 0.9]];
            let mut p = Probe::new(&n, &x, &t, LossKind::Mse);
            for l in 0..3 {
                for param in [Param::Weight, Param::Bias] {
                    let len = match param {
                        Param::Weight => n.layers[l].as_dense().unwrap().weight.len(),
                        Param::Bias => n.layers[l].as_dense().unwrap().bias.len(),
                    };
                    for flat in 0..len {
                        let mut e = Array1::zeros(len);
                        e[flat] = 1.0;
                        let fast = p.element(l, param, flat, 1e-5).numeric;
                        let slow = p.direction(&[(l, param, e.clone())], 1e-5).numeric;
                        assert!(
                            (fast - slow).abs() < 1e-8,
                            "{act:?} {l} {param:?} {flat}: {fast} {slow}"
                        );
                        let dir = p.tensor_direction(l, param, &e, 1e-5).numeric;
                        assert!(
                            (dir - slow).abs() < 1e-8,
                            "{act:?} {l} {param:?} {flat}: {dir} {slow}"
                        );
                    }
                }
            }
            assert_eq!(*p.net, n, "parameters restored exactly");
        }
    }

    #[test]
    fn every_layer_parameter_has_a_handle() {
        // A layer kind whose parameter name had no handle would leave that
        // tensor unchecked: every name must map, and back to itself.
        let n = net(Activation::Tanh);
        for layer in &n.layers {
            for p in layer.params() {
                let handle = Param::of_name(p.name);
                assert_eq!(handle.map(Param::name), Some(p.name));
            }
            assert_eq!(Param::of_layer(layer), [Param::Weight, Param::Bias]);
        }
    }

    #[test]
    fn a_sign_flip_of_a_relu_input_is_a_kink() {
        // Put one pre-activation at 1e-9 so +-1e-6 on its bias flips it.
        let x = array![[0.0, 0.0]];
        let t = array![[1.0, 0.0]];
        let mut n = net(Activation::Relu);
        n.layers[0].as_dense_mut().unwrap().bias[1] = 1e-9;
        let mut p = Probe::new(&n, &x, &t, LossKind::CrossEntropy);
        assert!(p.element(0, Param::Bias, 1, 1e-6).kink);
        assert!(!p.element(0, Param::Bias, 0, 1e-6).kink);
    }
}

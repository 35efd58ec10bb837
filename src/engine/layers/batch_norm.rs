//! Batch normalisation (PyTorch's `BatchNorm1d` on flat samples,
//! `BatchNorm2d` per channel over samples and positions on images). In
//! training it normalises with the batch's mean and biased variance and the
//! backward pass includes their dependence on every input; the update phase
//! moves the running statistics (momentum, default 0.1; the running
//! variance takes the unbiased batch variance), which evaluation uses.
//! Parameters "weight" (gamma) and "bias" (beta), as PyTorch names them.
//! Config: `kind = "batch_norm"` with `momentum` (default 0.1) and `eps`
//! (default 1e-5). Its step diagnostic is the running statistics' drift.

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings, Stateful};
use super::{
    weight_and_bias, weight_and_bias_mut, Cache, Layer, Mode, NamedParam, NamedParamMut, Shape,
};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMutD, Ix1};
use rand_chacha::ChaCha8Rng;

/// A batch-norm layer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    pub momentum: f64,
    pub eps: f64,
}

impl Settings for BatchNormConfig {
    const NAMES: &'static [&'static str] = &["batch_norm"];
    const KEYS: &'static [&'static str] = &["momentum", "eps"];
    const PARAMS: bool = true;
    const BATCH_STATISTICS: bool = true;
    const PHASES: (Phase, Phase) = (Phase::ForwardBatchNorm, Phase::BackwardBatchNorm);

    fn parse<E: Entry>(_name: &str, e: &E) -> Result<Self, E::Error> {
        Ok(BatchNormConfig {
            momentum: e
                .number(
                    "momentum",
                    |m| (0.0..=1.0).contains(&m),
                    "a number in [0, 1]",
                )?
                .unwrap_or(0.1),
            eps: e
                .number(
                    "eps",
                    |x| x.is_finite() && x > 0.0,
                    "a positive finite number",
                )?
                .unwrap_or(1e-5),
        })
    }

    fn name(&self) -> &'static str {
        "batch_norm"
    }

    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        Ok(at.input)
    }

    /// gamma and beta per channel.
    fn param_count(&self, input: Shape) -> usize {
        input.channels().saturating_mul(2)
    }
}

/// What a forward pass leaves for backward and the update phase.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormState<F> {
    /// The batch mean and biased variance per channel, and 1/sqrt(var +
    /// eps) of the statistics used for normalising.
    pub mean: Array1<F>,
    pub var: Array1<F>,
    pub inv_std: Array1<F>,
    /// Values per channel the statistics were taken over (batch x
    /// positions).
    pub count: usize,
    /// The normalised input x_hat, [batch, width].
    pub xhat: Array2<F>,
}

impl<F: Float> Default for BatchNormState<F> {
    fn default() -> Self {
        BatchNormState {
            mean: Array1::zeros(0),
            var: Array1::zeros(0),
            inv_std: Array1::zeros(0),
            count: 0,
            xhat: Array2::zeros((0, 0)),
        }
    }
}

/// One batch-norm layer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm<F> {
    pub shape: Shape,
    /// gamma, one per channel.
    pub weight: Array1<F>,
    /// beta, one per channel.
    pub bias: Array1<F>,
    pub running_mean: Array1<F>,
    pub running_var: Array1<F>,
    pub momentum: f64,
    pub eps: f64,
}

impl<F: Float> BatchNorm<F> {
    /// gamma 1, beta 0, running mean 0 and variance 1 (PyTorch's start).
    pub fn new(shape: Shape, momentum: f64, eps: f64) -> Self {
        let c = shape.channels();
        BatchNorm {
            shape,
            weight: Array1::from_elem(c, F::one()),
            bias: Array1::zeros(c),
            running_mean: Array1::zeros(c),
            running_var: Array1::from_elem(c, F::one()),
            momentum,
            eps,
        }
    }

    /// The same layer in another precision (through f64).
    pub fn cast<G: Float>(&self) -> BatchNorm<G> {
        let c = |a: &Array1<F>| a.mapv(|v| G::of(v.f64()));
        BatchNorm {
            shape: self.shape,
            weight: c(&self.weight),
            bias: c(&self.bias),
            running_mean: c(&self.running_mean),
            running_var: c(&self.running_var),
            momentum: self.momentum,
            eps: self.eps,
        }
    }

    /// Calls `f(channel, column)` for every column of a row.
    fn columns(&self, mut f: impl FnMut(usize, usize)) {
        let p = self.shape.positions();
        for ch in 0..self.shape.channels() {
            for j in ch * p..(ch + 1) * p {
                f(ch, j);
            }
        }
    }

    /// Sums over samples and positions per channel of g(row, column).
    fn channel_sums(&self, rows: usize, g: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        let mut sums = vec![0.0; self.shape.channels()];
        for s in 0..rows {
            self.columns(|ch, j| sums[ch] += g(s, j));
        }
        sums
    }

    /// The running-statistics drift of a batch: per channel |running mean
    /// − batch mean| / sqrt(running var + eps), the largest over channels
    /// (how far evaluation's normalisation is from training's).
    pub fn drift(&self, cache: &Cache<F>) -> Option<f64> {
        let st = <Self as Stateful<F>>::state(cache)?;
        if !cache.train || st.mean.len() != self.running_mean.len() {
            return None;
        }
        self.running_mean
            .iter()
            .zip(&self.running_var)
            .zip(&st.mean)
            .map(|((rm, rv), m)| (rm.f64() - m.f64()).abs() / (rv.f64() + self.eps).sqrt())
            .reduce(f64::max)
    }
}

impl<F: Float> Kind<F> for BatchNorm<F> {
    type Config = BatchNormConfig;
    type State = BatchNormState<F>;

    fn build(c: &BatchNormConfig, input: Shape, _: &LayerConfig, _: &mut ChaCha8Rng) -> Self {
        BatchNorm::new(input, c.momentum, c.eps)
    }
}

impl<F: Float> Layer<F> for BatchNorm<F> {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }

    /// The statistics are the batch's.
    fn per_batch(&self) -> bool {
        true
    }

    fn step_drift(&self, cache: &Cache<F>) -> Option<f64> {
        self.drift(cache)
    }

    fn input_shape(&self) -> Shape {
        self.shape
    }

    fn output_shape(&self) -> Shape {
        self.shape
    }

    fn activation(&self) -> Activation {
        Activation::Linear
    }

    /// forward.batch_norm: y = gamma (x − mean) / sqrt(var + eps) + beta,
    /// with the batch's statistics in training and the running ones in
    /// evaluation.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        let n = input.nrows();
        let m = n * self.shape.positions();
        cache.train = mode == Mode::Train;
        let train = cache.train;
        let st = <Self as Stateful<F>>::state_mut(cache);
        st.count = m;
        let (mean, var): (Vec<f64>, Vec<f64>) = if train {
            let mean: Vec<f64> = self
                .channel_sums(n, |s, j| input[[s, j]].f64())
                .into_iter()
                .map(|v| v / m.max(1) as f64)
                .collect();
            let var = self
                .channel_sums(n, |s, j| {
                    let ch = j / self.shape.positions().max(1);
                    (input[[s, j]].f64() - mean[ch]).powi(2)
                })
                .into_iter()
                .map(|v| v / m.max(1) as f64)
                .collect();
            (mean, var)
        } else {
            (
                self.running_mean.iter().map(|v| v.f64()).collect(),
                self.running_var.iter().map(|v| v.f64()).collect(),
            )
        };
        let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        st.mean = mean.iter().map(|&v| F::of(v)).collect();
        st.var = var.iter().map(|&v| F::of(v)).collect();
        st.inv_std = inv_std.iter().map(|&v| F::of(v)).collect();
        if st.xhat.dim() != input.dim() {
            st.xhat = Array2::zeros(input.dim());
        }
        for s in 0..n {
            self.columns(|ch, j| {
                let xhat = F::of((input[[s, j]].f64() - mean[ch]) * inv_std[ch]);
                st.xhat[[s, j]] = xhat;
                pre[[s, j]] = self.weight[ch] * xhat + self.bias[ch];
            });
        }
    }

    /// backward.batch_norm. Training: dx = inv_std / m · (m·dx̂ − Σdx̂ −
    /// x̂·Σ(dx̂·x̂)) with dx̂ = delta·gamma, the mean's and the variance's
    /// dependence on x included; evaluation: dx = delta·gamma·inv_std.
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        let n = delta.nrows();
        let Some(st) = <Self as Stateful<F>>::state(cache)
            .filter(|st| st.xhat.dim() == delta.dim() && st.inv_std.len() == self.shape.channels())
        else {
            grad_in.fill(F::of(f64::NAN));
            return;
        };
        let gamma = |ch: usize| self.weight[ch].f64();
        if !cache.train {
            for s in 0..n {
                self.columns(|ch, j| {
                    grad_in[[s, j]] = F::of(delta[[s, j]].f64() * gamma(ch) * st.inv_std[ch].f64());
                });
            }
            return;
        }
        let m = st.count.max(1) as f64;
        let sum_d = self.channel_sums(n, |s, j| delta[[s, j]].f64());
        let sum_dx = self.channel_sums(n, |s, j| delta[[s, j]].f64() * st.xhat[[s, j]].f64());
        for s in 0..n {
            self.columns(|ch, j| {
                let g = gamma(ch);
                let dxhat = delta[[s, j]].f64() * g;
                let v = st.inv_std[ch].f64() / m
                    * (m * dxhat - g * sum_d[ch] - st.xhat[[s, j]].f64() * g * sum_dx[ch]);
                grad_in[[s, j]] = F::of(v);
            });
        }
    }

    /// dgamma = Σ delta·x̂, dbeta = Σ delta per channel.
    fn backward_params(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grads: &mut [ArrayViewMutD<'_, F>],
    ) {
        if let [gw, gb, ..] = grads {
            let n = delta.nrows();
            let xhat = <Self as Stateful<F>>::state(cache)
                .map(|st| &st.xhat)
                .filter(|x| x.dim() == delta.dim());
            let dgamma = self.channel_sums(n, |s, j| {
                if let Some(xhat) = xhat {
                    delta[[s, j]].f64() * xhat[[s, j]].f64()
                } else {
                    f64::NAN
                }
            });
            let dbeta = self.channel_sums(n, |s, j| delta[[s, j]].f64());
            for (g, values) in [(gw, dgamma), (gb, dbeta)] {
                match g.view_mut().into_dimensionality::<Ix1>() {
                    Ok(mut g) if g.len() == values.len() => {
                        g.iter_mut().zip(values).for_each(|(g, v)| *g = F::of(v));
                    }
                    _ => g.fill(F::of(f64::NAN)),
                }
            }
        }
    }

    fn params(&self) -> Vec<NamedParam<'_, F>> {
        weight_and_bias(&self.weight, &self.bias)
    }

    fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
        weight_and_bias_mut(&mut self.weight, &mut self.bias)
    }

    /// running = (1 − momentum)·running + momentum·batch, with the unbiased
    /// batch variance (biased·m/(m − 1); the biased one when m = 1, where
    /// PyTorch refuses to train and nn-doctor diagnoses instead).
    fn update_state(&mut self, cache: &Cache<F>) {
        let c = self.shape.channels();
        let Some(st) = <Self as Stateful<F>>::state(cache) else {
            return;
        };
        if !cache.train || st.mean.len() != c || st.var.len() != c {
            return;
        }
        let mom = self.momentum;
        let m = st.count as f64;
        let unbias = if m > 1.0 { m / (m - 1.0) } else { 1.0 };
        for ch in 0..c {
            let rm = self.running_mean[ch].f64();
            let rv = self.running_var[ch].f64();
            self.running_mean[ch] = F::of((1.0 - mom) * rm + mom * st.mean[ch].f64());
            self.running_var[ch] = F::of((1.0 - mom) * rv + mom * st.var[ch].f64() * unbias);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::testing::{check_gradients, random};
    use ndarray::array;

    fn layer(shape: Shape, seed: u64) -> BatchNorm<f64> {
        let mut l = BatchNorm::new(shape, 0.1, 1e-5);
        let c = shape.channels();
        l.weight = Array1::from_vec(random(c, seed)) + 1.5;
        l.bias = Array1::from_vec(random(c, seed + 1));
        l.running_mean = Array1::from_vec(random(c, seed + 2));
        l.running_var = Array1::from_vec(random(c, seed + 3)).mapv(|v| v.abs() + 0.5);
        l
    }

    /// Truth: by hand, the batch [1, 3] has mean 2 and biased variance 1,
    /// so x̂ = ±1/sqrt(1 + 1e-5); the running statistics after one step
    /// are 0.9·0 + 0.1·2 = 0.2 and 0.9·1 + 0.1·2 (unbiased: 1·2/1) = 1.1
    /// (PyTorch's update rule).
    #[test]
    fn forward_and_running_statistics_match_hand_computation() {
        let mut l = BatchNorm::<f64>::new(Shape::Flat(1), 0.1, 1e-5);
        let x = array![[1.0], [3.0]];
        let mut cache = Cache::new();
        let mut pre = Array2::zeros((2, 1));
        l.forward_pre(x.view(), Mode::Train, &mut cache, &mut pre);
        let h = 1.0 / (1.0f64 + 1e-5).sqrt();
        assert!((pre[[0, 0]] + h).abs() < 1e-12 && (pre[[1, 0]] - h).abs() < 1e-12);
        l.update_state(&cache);
        assert!((l.running_mean[0] - 0.2).abs() < 1e-12);
        assert!((l.running_var[0] - 1.1).abs() < 1e-12);
        // Evaluation uses the running statistics.
        let (y, _) = l.forward(array![[0.2]].view(), Mode::Eval);
        assert!(y[[0, 0]].abs() < 1e-12);
    }

    /// Truth: central finite differences, in training mode (the batch
    /// statistics' dependence on the input included) and evaluation mode,
    /// flat and per channel of an image.
    #[test]
    fn gradients_match_finite_differences() {
        let image = Shape::Image { c: 2, h: 2, w: 3 };
        for (i, (shape, mode)) in [
            (Shape::Flat(4), Mode::Train),
            (Shape::Flat(4), Mode::Eval),
            (image, Mode::Train),
            (image, Mode::Eval),
        ]
        .into_iter()
        .enumerate()
        {
            let l = layer(shape, 20 + i as u64);
            let x = Array2::from_shape_vec((4, shape.width()), random(4 * shape.width(), i as u64))
                .unwrap();
            check_gradients(&l, &x, mode, Cache::new());
        }
    }
}

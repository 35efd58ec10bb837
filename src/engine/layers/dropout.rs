//! Inverted dropout (PyTorch's `nn.Dropout`): in training each value is
//! kept with probability 1 - rate and scaled by 1/(1 - rate), so evaluation
//! (identity) sees the same expected activation. The mask is drawn from a
//! stream seeded by the cache's seed, which the training loop derives from
//! (seed, step, layer): runs repeat exactly, and a gradient check can hold a
//! mask fixed (`Cache::hold`). No parameters; activation Linear. Config:
//! `kind = "dropout"` with `rate` in [0, 1).

use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings, Stateful};
use super::{Cache, Layer, Mode, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use ndarray::{Array2, ArrayView2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A dropout layer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutConfig {
    pub rate: f64,
}

impl Settings for DropoutConfig {
    const NAMES: &'static [&'static str] = &["dropout"];
    const KEYS: &'static [&'static str] = &["rate"];
    const PHASES: (Phase, Phase) = (Phase::ForwardDropout, Phase::BackwardDropout);

    fn drop_rate(&self) -> Option<f64> {
        Some(self.rate)
    }

    fn parse<E: Entry>(_name: &str, e: &E) -> Result<Self, E::Error> {
        let rate = e.number("rate", |x| (0.0..1.0).contains(&x), "a number in [0, 1)")?;
        Ok(DropoutConfig {
            rate: rate.ok_or_else(|| e.missing("rate"))?,
        })
    }

    fn name(&self) -> &'static str {
        "dropout"
    }

    fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
        Ok(at.input)
    }
}

/// What a training pass leaves: the mask it drew (scaled: 0 or
/// 1/(1 - rate)), unless it used the cache's held one.
#[derive(Debug, Clone, PartialEq)]
pub struct DropoutState<F> {
    pub mask: Array2<F>,
    /// Whether the last training pass applied `Cache::held` instead.
    pub used_held: bool,
}

impl<F: Float> Default for DropoutState<F> {
    fn default() -> Self {
        DropoutState {
            mask: Array2::zeros((0, 0)),
            used_held: false,
        }
    }
}

/// One dropout layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    pub shape: Shape,
    pub rate: f64,
}

impl Dropout {
    /// A mask for a batch of `rows`: 0 with probability `rate`, else
    /// 1/(1 - rate), drawn in row-major order from `seed`.
    pub fn draw_mask<F: Float>(&self, rows: usize, seed: u64) -> Array2<F> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keep = F::of(1.0 / (1.0 - self.rate));
        let width = self.shape.width();
        Array2::from_shape_fn((rows, width), |_| {
            if rng.random::<f64>() < self.rate {
                F::zero()
            } else {
                keep
            }
        })
    }
}

impl Dropout {
    /// The same layer (it holds no numbers) in any precision.
    pub fn cast(&self) -> Self {
        self.clone()
    }
}

impl<F: Float> Kind<F> for Dropout {
    type Config = DropoutConfig;
    type State = DropoutState<F>;

    fn build(c: &DropoutConfig, input: Shape, _: &LayerConfig, _: &mut ChaCha8Rng) -> Self {
        Dropout {
            shape: input,
            rate: c.rate,
        }
    }
}

impl<F: Float> Layer<F> for Dropout {
    fn kind(&self) -> &'static str {
        "dropout"
    }

    /// The mask is one per batch.
    fn per_batch(&self) -> bool {
        true
    }

    fn drop_rate(&self) -> Option<f64> {
        Some(self.rate)
    }

    fn draw<'c>(&self, cache: &'c Cache<F>) -> Option<&'c Array2<F>> {
        let state = <Self as Stateful<F>>::state(cache)?;
        if state.used_held {
            cache.held.as_ref()
        } else {
            Some(&state.mask)
        }
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

    /// forward.dropout: x ⊙ mask in training, x in evaluation.
    fn forward_pre(
        &self,
        input: ArrayView2<'_, F>,
        mode: Mode,
        cache: &mut Cache<F>,
        pre: &mut Array2<F>,
    ) {
        cache.train = mode == Mode::Train;
        if mode == Mode::Eval || self.rate <= 0.0 {
            pre.assign(&input);
            return;
        }
        let seed = cache.seed;
        // Taken out for the pass (a move, no copy) so that the state can
        // be borrowed beside it.
        let held = cache.held.take();
        let held_fits = held.as_ref().filter(|m| m.dim() == input.dim());
        let state = <Self as Stateful<F>>::state_mut(cache);
        state.used_held = held_fits.is_some();
        let mask = match held_fits {
            Some(m) => m,
            None => {
                state.mask = self.draw_mask(input.nrows(), seed);
                &state.mask
            }
        };
        Zip::from(pre)
            .and(&input)
            .and(mask)
            .for_each(|p, &x, &m| *p = x * m);
        cache.held = held;
    }

    /// backward.dropout: the same mask and scale on the gradient.
    fn backward_input(
        &self,
        _input: ArrayView2<'_, F>,
        delta: &Array2<F>,
        cache: &Cache<F>,
        grad_in: &mut Array2<F>,
    ) {
        if !cache.train || self.rate <= 0.0 {
            grad_in.assign(delta);
            return;
        }
        match self.draw(cache) {
            Some(mask) if mask.dim() == delta.dim() => Zip::from(grad_in)
                .and(delta)
                .and(mask)
                .for_each(|g, &d, &m| *g = d * m),
            _ => grad_in.fill(F::of(f64::NAN)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::layers::testing::{check_gradients, random};
    use ndarray::array;

    #[test]
    fn training_masks_and_scales_evaluation_passes_through() {
        let l = Dropout {
            shape: Shape::Flat(4),
            rate: 0.5,
        };
        let x = array![[1.0, 2.0, 3.0, 4.0]];
        let mut cache = Cache::new();
        cache.hold(array![[2.0, 0.0, 2.0, 0.0]]);
        let mut pre = Array2::zeros((1, 4));
        l.forward_pre(x.view(), Mode::Train, &mut cache, &mut pre);
        assert_eq!(pre, array![[2.0, 0.0, 6.0, 0.0]]);
        let (eval, _) = Layer::<f64>::forward(&l, x.view(), Mode::Eval);
        assert_eq!(eval, x);
    }

    /// Truth: over 100k draws the kept share is 1 - rate within 4 standard
    /// errors (sqrt(0.3·0.7/1e5) = 0.0014), and one seed gives one mask.
    #[test]
    fn drawn_masks_keep_one_minus_rate_and_repeat_by_seed() {
        let l = Dropout {
            shape: Shape::Flat(1000),
            rate: 0.3,
        };
        let m: Array2<f64> = l.draw_mask(100, 5);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / 1e5;
        assert!((kept - 0.7).abs() < 4.0 * 0.0015, "{kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-12));
        assert_eq!(m, l.draw_mask::<f64>(100, 5));
        assert_ne!(m, l.draw_mask::<f64>(100, 6));
    }

    /// Truth: central finite differences with the mask held fixed.
    #[test]
    fn gradients_match_finite_differences_with_a_fixed_mask() {
        let l = Dropout {
            shape: Shape::Flat(6),
            rate: 0.4,
        };
        let mut cache = Cache::new();
        cache.hold(l.draw_mask(3, 11));
        let x = Array2::from_shape_vec((3, 6), random(18, 4)).unwrap();
        check_gradients(&l, &x, Mode::Train, cache);
    }
}

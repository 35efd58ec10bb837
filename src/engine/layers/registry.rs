//! The one list of layer kinds. Each line of [`kinds!`]'s invocation names
//! a kind's layer type and its settings type (both in the kind's file);
//! from that list the macro writes everything that must know every kind:
//! [`AnyLayer`] (a network's layers, static dispatch), [`KindConfig`] (a
//! validated config entry), [`KindState`] (the typed per-step state a
//! [`Cache`] holds) and [`KINDS`] (names and keys, for config validation).
//! Nothing else in the crate matches on kinds by name: it asks a layer
//! ([`Layer`]'s methods) or a kind's settings ([`Settings`]).

use super::activation::{ActivationConfig, ActivationLayer};
use super::batch_norm::{BatchNorm, BatchNormConfig};
use super::conv2d::{Conv2d, Conv2dConfig};
use super::dense::{Dense, DenseConfig};
use super::dropout::{Dropout, DropoutConfig};
use super::flatten::{Flatten, FlattenConfig};
use super::kind::{At, Entry, Kind, LayerConfig, PlanError, Settings, Stateful};
use super::pool2d::{Pool2d, Pool2dConfig};
use super::{Cache, Layer, Mode, NamedParam, NamedParamMut, Shape};
use crate::engine::activation::Activation;
use crate::engine::float::Float;
use crate::engine::hook::Phase;
use crate::kinds::LossKind;
use ndarray::{Array2, ArrayView2, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;

/// A kind as config validation sees it.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The names `kind = "..."` takes for it.
    pub names: &'static [&'static str],
    /// Its own keys (besides `kind` and the weight keys).
    pub keys: &'static [&'static str],
    /// Whether it takes the weight keys (`activation`, `init`, ...).
    pub weights: bool,
    /// Whether it has parameters ([`Settings::PARAMS`]).
    pub params: bool,
    /// Whether it normalises by batch statistics.
    pub batch_statistics: bool,
    /// Its forward and backward phases ([`Settings::PHASES`]).
    pub phases: (Phase, Phase),
}

macro_rules! kinds {
    ($($variant:ident($layer:ty, $config:ty)),+ $(,)?) => {
        /// One layer of any kind: a network is a `Vec<AnyLayer<F>>` that
        /// clones, compares, prints and changes precision, and each method
        /// forwards to the kind's own file.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyLayer<F> {
            $($variant($layer),)+
        }

        /// The settings of one layer of any kind, as validated from its
        /// config entry.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum KindConfig {
            $($variant($config),)+
        }

        /// The per-step state of one layer of any kind (see [`Kind::State`]);
        /// `Empty` until the layer's first forward pass.
        pub enum KindState<F: Float> {
            Empty,
            $($variant(<$layer as Kind<F>>::State),)+
        }

        /// Every kind, in registration order (the order messages list them).
        pub const KINDS: &[KindInfo] = &[
            $(KindInfo {
                names: <$config as Settings>::NAMES,
                keys: <$config as Settings>::KEYS,
                weights: <$config as Settings>::WEIGHTS,
                params: <$config as Settings>::PARAMS,
                batch_statistics: <$config as Settings>::BATCH_STATISTICS,
                phases: <$config as Settings>::PHASES,
            },)+
        ];

        /// The settings of an entry of kind `name`; `None` if no kind has
        /// that name.
        pub fn parse<E: Entry>(name: &str, entry: &E) -> Option<Result<KindConfig, E::Error>> {
            $(if <$config as Settings>::NAMES.contains(&name) {
                return Some(<$config as Settings>::parse(name, entry).map(KindConfig::$variant));
            })+
            None
        }

        impl KindConfig {
            /// The name a config uses for this kind.
            pub fn name(&self) -> &'static str {
                match self { $(KindConfig::$variant(c) => c.name(),)+ }
            }
            /// Output units (dense) or filters (conv2d); 0 otherwise.
            pub fn units(&self) -> usize {
                match self { $(KindConfig::$variant(c) => c.units(),)+ }
            }
            /// The output shape for the input `at.input`.
            pub fn output_shape(&self, at: &At) -> Result<Shape, PlanError> {
                match self { $(KindConfig::$variant(c) => c.output_shape(at),)+ }
            }
            /// Scalar parameters on samples of shape `input`.
            pub fn param_count(&self, input: Shape) -> usize {
                match self { $(KindConfig::$variant(c) => c.param_count(input),)+ }
            }
            /// The share of units a training pass drops, for kinds that drop.
            pub fn drop_rate(&self) -> Option<f64> {
                match self { $(KindConfig::$variant(c) => c.drop_rate(),)+ }
            }
            /// Extra values per sample the layer's passes hold at once.
            pub fn scratch_per_sample(&self, input: Shape, output: Shape) -> usize {
                match self { $(KindConfig::$variant(c) => c.scratch_per_sample(input, output),)+ }
            }
        }

        $(impl<F: Float> Stateful<F> for $layer {
            fn state(cache: &Cache<F>) -> Option<&Self::State> {
                match &cache.state {
                    KindState::$variant(s) => Some(s),
                    _ => None,
                }
            }
            fn state_mut(cache: &mut Cache<F>) -> &mut Self::State {
                if !matches!(cache.state, KindState::$variant(_)) {
                    cache.state = KindState::$variant(Default::default());
                }
                match &mut cache.state {
                    KindState::$variant(s) => s,
                    // The lines above made it this kind's state (a plain
                    // `if let` return does not pass today's borrow checker).
                    _ => unreachable!("the state was just made this kind's"),
                }
            }
        })+

        impl<F: Float> Default for KindState<F> {
            fn default() -> Self {
                KindState::Empty
            }
        }

        impl<F: Float> Clone for KindState<F> {
            fn clone(&self) -> Self {
                match self {
                    KindState::Empty => KindState::Empty,
                    $(KindState::$variant(s) => KindState::$variant(s.clone()),)+
                }
            }
        }

        impl<F: Float> PartialEq for KindState<F> {
            fn eq(&self, other: &Self) -> bool {
                match (self, other) {
                    (KindState::Empty, KindState::Empty) => true,
                    $((KindState::$variant(a), KindState::$variant(b)) => a == b,)+
                    _ => false,
                }
            }
        }

        impl<F: Float> std::fmt::Debug for KindState<F> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    KindState::Empty => f.write_str("Empty"),
                    $(KindState::$variant(s) => f.debug_tuple(stringify!($variant)).field(s).finish(),)+
                }
            }
        }

        impl<F: Float> AnyLayer<F> {
            /// The layer `config` describes on samples of shape `input`,
            /// weights drawn from `rng`. Shapes were checked when the
            /// config was loaded (`engine::layers::plan`).
            pub fn init(input: Shape, config: &LayerConfig, rng: &mut ChaCha8Rng) -> Self {
                match &config.kind {
                    $(KindConfig::$variant(c) => AnyLayer::$variant(<$layer as Kind<F>>::build(c, input, config, rng)),)+
                }
            }

            /// The same layer in another precision (through f64).
            pub fn cast<G: Float>(&self) -> AnyLayer<G> {
                match self { $(AnyLayer::$variant(l) => AnyLayer::$variant(l.cast()),)+ }
            }
        }

        impl<F: Float> Layer<F> for AnyLayer<F> {
            fn kind(&self) -> &'static str {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::kind(l),)+ }
            }
            fn input_shape(&self) -> Shape {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::input_shape(l),)+ }
            }
            fn output_shape(&self) -> Shape {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::output_shape(l),)+ }
            }
            fn fan_in(&self) -> usize {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::fan_in(l),)+ }
            }
            fn activation(&self) -> Activation {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::activation(l),)+ }
            }
            fn per_batch(&self) -> bool {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::per_batch(l),)+ }
            }
            fn fused_with_next(&self) -> bool {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::fused_with_next(l),)+ }
            }
            fn forward_pre(
                &self,
                input: ArrayView2<'_, F>,
                mode: Mode,
                cache: &mut Cache<F>,
                pre: &mut Array2<F>,
            ) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::forward_pre(l, input, mode, cache, pre),)+ }
            }
            fn forward_act(&self, pre: &Array2<F>, act: &mut Array2<F>) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::forward_act(l, pre, act),)+ }
            }
            fn backward_act(&self, pre: &Array2<F>, act: &Array2<F>, grad: &mut Array2<F>) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::backward_act(l, pre, act, grad),)+ }
            }
            fn output_delta(
                &self,
                loss: LossKind,
                pre: &Array2<F>,
                act: &Array2<F>,
                targets: &Array2<F>,
                out: &mut Array2<F>,
            ) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::output_delta(l, loss, pre, act, targets, out),)+ }
            }
            fn backward_input(
                &self,
                input: ArrayView2<'_, F>,
                delta: &Array2<F>,
                cache: &Cache<F>,
                grad_in: &mut Array2<F>,
            ) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::backward_input(l, input, delta, cache, grad_in),)+ }
            }
            fn backward_params(
                &self,
                input: ArrayView2<'_, F>,
                delta: &Array2<F>,
                cache: &Cache<F>,
                grads: &mut [ArrayViewMutD<'_, F>],
            ) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::backward_params(l, input, delta, cache, grads),)+ }
            }
            fn params(&self) -> Vec<NamedParam<'_, F>> {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::params(l),)+ }
            }
            fn params_mut(&mut self) -> Vec<NamedParamMut<'_, F>> {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::params_mut(l),)+ }
            }
            fn update_state(&mut self, cache: &Cache<F>) {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::update_state(l, cache),)+ }
            }
            fn step_drift(&self, cache: &Cache<F>) -> Option<f64> {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::step_drift(l, cache),)+ }
            }
            fn selection<'c>(&self, cache: &'c Cache<F>) -> &'c [usize] {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::selection(l, cache),)+ }
            }
            fn draw<'c>(&self, cache: &'c Cache<F>) -> Option<&'c Array2<F>> {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::draw(l, cache),)+ }
            }
            fn drop_rate(&self) -> Option<f64> {
                match self { $(AnyLayer::$variant(l) => Layer::<F>::drop_rate(l),)+ }
            }
        }
    };
}

// The kinds: one line each (layer type, settings type), both defined in the
// kind's own file. The order is the order messages list kinds and keys in.
kinds! {
    Dense(Dense<F>, DenseConfig),
    Conv2d(Conv2d<F>, Conv2dConfig),
    Pool2d(Pool2d, Pool2dConfig),
    Flatten(Flatten, FlattenConfig),
    Dropout(Dropout, DropoutConfig),
    BatchNorm(BatchNorm<F>, BatchNormConfig),
    Activation(ActivationLayer, ActivationConfig),
}

/// Every name `kind = "..."` takes, in registration order.
pub fn names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().flat_map(|k| k.names.iter().copied())
}

/// The kind called `name`.
pub fn info(name: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.names.contains(&name))
}

impl<F: Float> AnyLayer<F> {
    /// The dense layer, if this is one (code that only knows dense layers,
    /// such as the dense gradient-check probe, asks this).
    pub fn as_dense(&self) -> Option<&Dense<F>> {
        match self {
            AnyLayer::Dense(l) => Some(l),
            _ => None,
        }
    }

    /// The dense layer, writable, if this is one.
    pub fn as_dense_mut(&mut self) -> Option<&mut Dense<F>> {
        match self {
            AnyLayer::Dense(l) => Some(l),
            _ => None,
        }
    }
}

impl<F: Float> From<Dense<F>> for AnyLayer<F> {
    fn from(l: Dense<F>) -> Self {
        AnyLayer::Dense(l)
    }
}

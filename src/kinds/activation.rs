//! The activation kinds a layer can have, as plain data: names, the config
//! and summary.json spelling, the order the docs list them. Their maths (f,
//! f', saturation) is in `engine::activation`; keeping the enum here lets the
//! config name an activation without depending on the engine.

use serde::{Deserialize, Serialize};

/// An element-wise (or, for softmax, row-wise) activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu,
    Elu,
    Softplus,
    Linear,
    /// Row-wise over the units of a sample; only valid on the last layer.
    Softmax,
}

impl Activation {
    /// Every activation, in the order the docs list them.
    pub const ALL: [Activation; 8] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Softplus,
        Activation::Linear,
        Activation::Softmax,
    ];

    /// The name used in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Elu => "elu",
            Activation::Softplus => "softplus",
            Activation::Linear => "linear",
            Activation::Softmax => "softmax",
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

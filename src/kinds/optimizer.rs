//! Optimizer kinds and their hyper-parameters; the update rules are in
//! `engine::optim`.

use serde::{Deserialize, Serialize};

/// Optimizer and its hyper-parameters, defined as PyTorch defines them
/// (the update equations are written out in `engine::optim`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    Sgd,
    Momentum {
        momentum: f64,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    /// torch.optim.RMSprop without momentum, not centered.
    Rmsprop {
        alpha: f64,
        eps: f64,
    },
    /// torch.optim.Adagrad with initial_accumulator_value 0.
    Adagrad {
        lr_decay: f64,
        eps: f64,
    },
    /// torch.optim.Adamax.
    Adamax {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
}

impl std::fmt::Display for OptimizerConfig {
    /// "SGD", "momentum 0.9", "Adam (beta1 0.9, beta2 0.999, eps 1e-8)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptimizerConfig::Sgd => f.write_str("SGD"),
            OptimizerConfig::Momentum { momentum } => write!(f, "momentum {momentum}"),
            OptimizerConfig::Adam { beta1, beta2, eps } => {
                write!(f, "Adam (beta1 {beta1}, beta2 {beta2}, eps {eps:e})")
            }
            OptimizerConfig::Rmsprop { alpha, eps } => {
                write!(f, "RMSprop (alpha {alpha}, eps {eps:e})")
            }
            OptimizerConfig::Adagrad { lr_decay, eps } => {
                write!(f, "Adagrad (lr_decay {lr_decay}, eps {eps:e})")
            }
            OptimizerConfig::Adamax { beta1, beta2, eps } => {
                write!(f, "Adamax (beta1 {beta1}, beta2 {beta2}, eps {eps:e})")
            }
        }
    }
}

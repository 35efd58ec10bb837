//! Loss kinds by name, with their config / summary.json / trace.toml
//! spellings; the formulas are in `engine::loss`.

use serde::{Deserialize, Serialize};

/// Training loss. Every loss is summed over the output units of a sample and
/// averaged over the batch (reduction "mean" over samples, not elements:
/// PyTorch's element-mean losses equal ours divided by the output width).
/// Formulas and the handling of outputs that are not probabilities are in
/// `engine::loss`.
/// Serialized (summary.json) as its config name alone, `"huber"` included:
/// the delta is a parameter, not part of the loss's name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossKind {
    /// Mean over the batch of 1/2 * sum_k (y_k - t_k)^2 (halved).
    Mse,
    /// Mean over the batch of -sum_k t_k ln y_k (softmax outputs) or the
    /// binary cross-entropy summed over units (sigmoid outputs).
    CrossEntropy,
    /// Mean over the batch of -sum_k [t_k ln y_k + (1 - t_k) ln(1 - y_k)].
    BinaryCrossEntropy,
    /// Mean over the batch of sum_k |y_k - t_k| (not halved).
    Mae,
    /// Mean over the batch of sum_k huber(y_k - t_k): 1/2 d^2 for
    /// |d| <= delta, delta (|d| - delta / 2) beyond (PyTorch's HuberLoss).
    Huber { delta: f64 },
}

impl LossKind {
    /// The name a config selects this loss by.
    pub fn config_name(self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::CrossEntropy => "cross_entropy",
            LossKind::BinaryCrossEntropy => "binary_cross_entropy",
            LossKind::Mae => "mae",
            LossKind::Huber { .. } => "huber",
        }
    }

    /// Whether the loss reads its targets as probabilities (0/1 or one-hot)
    /// rather than as continuous values.
    pub fn is_cross_entropy(self) -> bool {
        matches!(self, LossKind::CrossEntropy | LossKind::BinaryCrossEntropy)
    }
}

impl Serialize for LossKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.config_name())
    }
}

/// Read back by its config name (summary.json: `"huber"` with the default
/// delta 1.0; readers that have `network.huber_delta` put the recorded delta
/// back with [`LossKind::with_delta`]) or in the tagged form trace.toml
/// uses (`{ huber = { delta = 0.5 } }`).
impl<'de> Deserialize<'de> for LossKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Tagged {
            Mse,
            CrossEntropy,
            BinaryCrossEntropy,
            Mae,
            Huber { delta: f64 },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Tagged(Tagged),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Name(name) => match name.as_str() {
                "mse" => LossKind::Mse,
                "cross_entropy" => LossKind::CrossEntropy,
                "binary_cross_entropy" => LossKind::BinaryCrossEntropy,
                "mae" => LossKind::Mae,
                "huber" => LossKind::Huber { delta: 1.0 },
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown loss {other:?}: expected mse, cross_entropy, binary_cross_entropy, mae or huber"
                    )))
                }
            },
            Repr::Tagged(Tagged::Mse) => LossKind::Mse,
            Repr::Tagged(Tagged::CrossEntropy) => LossKind::CrossEntropy,
            Repr::Tagged(Tagged::BinaryCrossEntropy) => LossKind::BinaryCrossEntropy,
            Repr::Tagged(Tagged::Mae) => LossKind::Mae,
            Repr::Tagged(Tagged::Huber { delta }) => LossKind::Huber { delta },
        })
    }
}

impl LossKind {
    /// This loss with a recorded Huber delta put back (other losses unchanged).
    pub fn with_delta(self, delta: Option<f64>) -> Self {
        match (self, delta) {
            (LossKind::Huber { .. }, Some(delta)) => LossKind::Huber { delta },
            (other, _) => other,
        }
    }
}

impl std::fmt::Display for LossKind {
    /// The name a person reads in a report ("cross-entropy", "MSE").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::Mse => "MSE",
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::BinaryCrossEntropy => "binary cross-entropy",
            LossKind::Mae => "MAE",
            LossKind::Huber { delta } => return write!(f, "Huber (delta {delta})"),
        })
    }
}

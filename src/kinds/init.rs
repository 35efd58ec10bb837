//! Weight initialisation schemes by name and parameters; the draws
//! themselves are in `engine::init`.

use serde::Serialize;

/// Weight initialisation scheme of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
    XavierUniform,
    /// N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// U(-a, a), a = sqrt(6 / fan_in).
    HeUniform,
    /// N(0, 2 / fan_in).
    HeNormal,
    /// N(0, std^2).
    Normal { std: f64 },
    /// U[low, high).
    Uniform { low: f64, high: f64 },
    /// All zeros.
    Zeros,
}

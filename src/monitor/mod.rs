//! Watching training: the hook seam, the recorded series, and the hooks that
//! fill them (layer statistics, the non-finite origin tracer) and the
//! fixed probe batch.

pub mod confusion;
pub mod fit;
pub mod hook;
pub mod nonfinite;
pub mod probe;
pub mod record;
pub mod recorder;
pub mod spill;

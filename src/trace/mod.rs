//! `verify-trace`: checks one training step dumped by someone else's MLP
//! (NumPy, Haskell, C++...). It reads `trace.toml` and the `.npy`/`.csv`
//! tensors it names, recomputes the step in f64 with the engine, confirms
//! that recompute with finite differences, compares every provided tensor
//! in computation order (converted to the trace's declared conventions),
//! and names the catalogue mistake or constant factor a divergence matches.

pub mod advice;
pub mod build;
pub mod cnn_pattern;
pub mod compare;
pub mod confirm;
pub mod convert;
pub mod csvtext;
pub mod error;
pub mod junit;
pub mod load;
pub mod npy;
pub mod pattern;
pub mod reference;
pub mod report;
pub mod spec;
pub mod tensor;
pub mod text;
pub mod tolerance;
pub mod verify;
pub mod writer;

pub use error::TraceError;
pub use junit::junit_xml;
pub use report::{Finding, TraceReport, Verdict};
pub use text::render;
pub use verify::verify;

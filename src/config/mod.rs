//! TEMPORARY stub until the config helper delivers.
pub mod types;
pub use types::*;

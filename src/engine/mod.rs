//! The training engine: a dense network generic over f32/f64, its
//! operations, losses, initialisers, optimizers and the instrumented loop.

pub mod activation;
pub mod backprop;
pub mod eval;
pub mod flaw;
pub mod float;
pub mod init;
pub mod loss;
pub mod network;
pub mod optim;
pub mod train;

pub use float::Float;
pub use network::{Layer, Network};

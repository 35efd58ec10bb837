//! The training engine: a network of layers (one trait, one file per layer
//! kind in `layers`) generic over f32/f64, losses, initialisers, optimizers
//! and the instrumented loop.

pub mod activation;
pub mod backprop;
pub mod batch_split;
pub mod eval;
pub mod flaw;
pub mod float;
pub mod hook;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod loss;
pub mod network;
pub mod optim;
pub mod pipeline;
pub mod train;

pub use float::Float;
pub use layers::{AnyLayer, Dense, Layer, Mode};
pub use network::Network;

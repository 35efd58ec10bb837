//! Plain shared kinds (activation, loss, initialisation, optimizer,
//! precision): enums that several stages name (the config reads
//! them, the engine computes with them, recorders and reports print them).
//! This module depends on nothing else in the crate, so each stage can name a
//! kind without depending on the stage that implements it, and the module
//! graph stays one-way (tests/module_graph.rs).

pub mod activation;
pub mod dtype;
pub mod init;
pub mod layer;
pub mod loss;
pub mod optimizer;

pub use activation::Activation;
pub use dtype::DType;
pub use init::Init;
pub use layer::Shape;
pub use loss::LossKind;
pub use optimizer::OptimizerConfig;

//! Plain shared kinds: enums that several stages name (the config reads
//! them, the engine computes with them, recorders and reports print them).
//! This module depends on nothing else in the crate, so each stage can name a
//! kind without depending on the stage that implements it, and the module
//! graph stays one-way (tests/module_graph.rs).

pub mod activation;

pub use activation::Activation;

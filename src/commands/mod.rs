//! The commands, side by side. Each one reads its inputs, sequences the
//! shared modules (`prepare`, `engine`, `monitor`, `assess`, `report`,
//! `rundir`, `gradcheck`, `trace`) and returns what it made; `main` parses
//! the command line, prints through one buffered writer and maps results to
//! exit codes. No command imports another (tests/module_graph.rs checks it);
//! what two of them share lives in a module below this floor.

pub mod check;
pub mod compare;
pub mod diagnose;
pub mod explain;
pub mod gradcheck;
pub mod init;
pub mod report;
pub mod verify_trace;

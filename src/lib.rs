//! nn-doctor: finds out why a neural network does not train.
//!
//! Data flows one way: config -> data -> engine (emits events) -> monitor
//! (recorders) -> diagnose -> report, with the plain kinds every stage names
//! in `kinds`, upstream of all. A module only depends on modules upstream of
//! it; tests/module_graph.rs fails naming any cycle. Modules, alphabetically:

/// Diagnose, judge and report a recorded run: the half `check` and `diagnose` share.
pub mod assess;
/// The commands, side by side on one floor (check, gradcheck, diagnose, report,
/// compare, verify_trace, explain, init): each sequences the shared modules below
/// it, and none imports another.
pub mod commands;
/// The TOML run configuration, validated, with file:line errors.
pub mod config;
/// Data sets: IDX, CSV, synthetic generators, scaling and seeded batching.
pub mod data;
/// Rules that turn recorded series into diagnoses with evidence and fixes.
pub mod diagnose;
/// The network: layers behind one trait, losses, optimizers, the hook seam and the
/// instrumented training loop.
pub mod engine;
/// Gradient checks against finite differences and the backprop-bug catalogue.
pub mod gradcheck;
/// Resource guards: the memory estimate checked before allocating.
pub mod guard;
/// Opening input files safely: regular files only, bounded reads.
pub mod input;
/// Ctrl-C / SIGTERM: a stop flag polled at step boundaries.
pub mod interrupt;
/// Plain shared kinds (activation, loss, init, optimizer, precision) that every stage
/// names; depends on nothing, so the module graph stays one-way.
pub mod kinds;
/// The process's memory limit (MemAvailable or --max-memory).
pub mod limits;
/// Hooks that watch training: layer statistics and the non-finite tracer.
pub mod monitor;
/// Reading summary.json's `null` numbers back as NaN.
pub mod nullnum;
/// Short human-readable number formatting.
pub mod numfmt;
/// What the commands that train a config share: config and data loaded and checked
/// against each other, steps planned, memory guarded, report directory chosen.
pub mod prepare;
/// The training progress line's text: current loss and time left.
pub mod progress;
/// Report writers: CSV, summary.json, report.md, PNG plots, terminal text.
pub mod report;
/// Run directories (metrics.csv, loss.csv, summary.json) read back, for `diagnose`,
/// `report` and `compare`; reading only.
pub mod rundir;
/// The one rule for a name that becomes a report directory: one safe path component.
pub mod safe_name;
/// Checking a training step dumped by another implementation (`verify-trace`).
pub mod trace;

//! The documented structure fuzz run (docs/architecture.md, Fuzzing): hostile run
//! directories — names, paths, links, FIFOs, devices, planted report
//! directories, mixed recordings — fed to `diagnose`, `report` and
//! `compare`, checking that nothing outside the chosen report directory
//! changes, the input stays intact, and nothing panics or hangs.
//!
//!     cargo run --release --example fuzz_structure -- [CASES] [SEED]
//!
//! Defaults: 100000 cases, seed 1. Prints progress every 1000 cases and a
//! summary line; exits 1 on any escape or crash (each is printed), and
//! aborts naming the case if one hangs for more than 60 s.

#[path = "../fuzz/structure.rs"]
mod structure;

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cases: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    nn_doctor::limits::set_memory_limit(Some(512 << 20));
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let out = structure::run(cases, seed, Duration::from_secs(60), |o| {
        eprintln!(
            "{:>7} cases  {:>6} accepted  {} escapes  {} crashes  {:.0} s",
            o.cases,
            o.accepted,
            o.escapes.len(),
            o.crashes.len(),
            started.elapsed().as_secs_f64()
        );
    });
    for e in out.escapes.iter().chain(&out.crashes) {
        println!("{e}");
    }
    println!(
        "structure fuzz: {} cases (seed {seed}), {} accepted, {} escapes, {} crashes, {:.0} s",
        out.cases,
        out.accepted,
        out.escapes.len(),
        out.crashes.len(),
        started.elapsed().as_secs_f64()
    );
    if !out.escapes.is_empty() || !out.crashes.is_empty() {
        std::process::exit(1);
    }
}

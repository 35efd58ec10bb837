//! The documented fuzz run (not in CI): a seeded mutator over the IDX, NPY,
//! trace CSV, trace.toml, config TOML and data CSV readers.
//!
//!     cargo run --release --example fuzz -- [EXECS_PER_READER] [SEED] [TARGET]
//!
//! Defaults: 100000 executions per reader, seed 1, every reader. Prints one
//! line per reader (executions, accepted inputs, crashes, seconds) and writes
//! each crasher to fuzz/crashes/<reader>-<n>.bin; exits 1 if any were found.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let execs: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let only = args.get(3);
    // Keep what a mutant may allocate small: the readers must refuse big
    // declared sizes against this limit rather than try them.
    nn_doctor::limits::set_memory_limit(Some(512 << 20));
    harness::quiet_panics();
    let scratch = harness::Scratch::new();
    let crash_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashes");
    let mut total_crashes = 0;
    println!("reader       execs  accepted  crashes  seconds  (seed {seed})");
    for t in harness::targets() {
        if only.is_some_and(|o| o != t.name) {
            continue;
        }
        let started = Instant::now();
        let out = harness::run_target(&t, execs, seed, &scratch);
        println!(
            "{:<11} {:>7} {:>9} {:>8} {:>8.1}",
            out.name,
            out.execs,
            out.accepted,
            out.crashes.len(),
            started.elapsed().as_secs_f64()
        );
        for (i, c) in out.crashes.iter().enumerate() {
            let _ = std::fs::create_dir_all(&crash_dir);
            let _ = std::fs::write(crash_dir.join(format!("{}-{i}.bin", out.name)), c);
        }
        total_crashes += out.crashes.len();
    }
    if total_crashes > 0 {
        std::process::exit(1);
    }
}

//! The CI smoke run of the run-directory structure fuzzer (fuzz/structure.rs):
//! hostile names, links, FIFOs, devices, planted report directories and
//! mixed recordings through `diagnose`, `report` and `compare`, in-process.
//! Nothing outside the chosen report directory may change, the input must
//! stay intact, and nothing may panic or hang. The long run is `cargo run
//! --release --example fuzz_structure` (docs/architecture.md, Fuzzing). One test in
//! this binary: the cases change the working directory.

#[path = "../fuzz/structure.rs"]
mod structure;

#[test]
fn hostile_run_directories_never_escape_panic_or_hang() {
    nn_doctor::limits::set_memory_limit(Some(512 << 20));
    let out = structure::run(1500, 11, std::time::Duration::from_secs(120), |_| {});
    assert_eq!(out.cases, 1500);
    // Valid cases are among them: a fuzzer that refuses everything would
    // pass vacuously.
    assert!(out.accepted > 100, "only {} accepted", out.accepted);
    assert!(out.escapes.is_empty(), "{:#?}", out.escapes);
    assert!(out.crashes.is_empty(), "{:#?}", out.crashes);
}

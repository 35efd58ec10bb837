//! The CI fuzz smoke test (issue 11): 20,000 seeded mutants per reader (3,000
//! for the file-backed data CSV), none may panic. The long run is `cargo run --release --example
//! fuzz` (docs/architecture.md, Fuzzing); crashers it finds are kept below.

#[path = "../fuzz/harness.rs"]
#[allow(dead_code)] // the example reads what this test does not
mod harness;

#[test]
fn seeded_mutants_never_panic_any_reader() {
    nn_doctor::limits::set_memory_limit(Some(512 << 20));
    harness::quiet_panics();
    let scratch = harness::Scratch::new();
    for t in harness::targets() {
        assert!(!t.seeds.is_empty(), "{}: no seed inputs", t.name);
        let execs = if t.name == "data-csv" { 3_000 } else { 20_000 };
        let out = harness::run_target(&t, execs, 7, &scratch);
        assert_eq!(out.execs, execs);
        // The seeds themselves are valid inputs: a reader that refuses
        // everything would pass a no-panic test vacuously.
        assert!(out.accepted > 0, "{}: accepted nothing", t.name);
        assert!(
            out.crashes.is_empty(),
            "{}: {} crashers, first {:?}",
            t.name,
            out.crashes.len(),
            out.crashes.first()
        );
    }
}

/// Every crasher the fuzz run found, kept in fuzz/regressions/ as
/// `<reader>-<what>.bin`, replayed through its reader.
#[test]
fn fuzz_regressions_do_not_panic() {
    nn_doctor::limits::set_memory_limit(Some(512 << 20));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let targets = harness::targets();
    let scratch = harness::Scratch::new();
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let t = targets
            .iter()
            .find(|t| name.starts_with(&format!("{}-", t.name)))
            .unwrap_or_else(|| panic!("{name}: no reader of that name"));
        let bytes = std::fs::read(&path).unwrap();
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(&scratch, &bytes)));
        assert_eq!(r.ok(), Some(false), "{name}: must be refused with an error");
        replayed += 1;
    }
    assert!(replayed >= 2, "fuzz/regressions/ holds the npy crashers");
}

/// Crashers from issue 11's report, kept as inputs the readers must refuse.
#[test]
fn known_crashers_are_errors() {
    // .npy whose shape product overflows (was a panic at npy.rs:38 / :146).
    let mut header =
        "{'descr': '<f8', 'fortran_order': True, 'shape': (4294967296, 4294967297), }".to_string();
    header.push('\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    let e = nn_doctor::trace::npy::parse(std::path::Path::new("x.npy"), &npy).unwrap_err();
    assert!(e.to_string().contains("impossibly large"), "{e}");
    // units = u64::MAX (was "capacity overflow" in Network::init).
    let cfg = "[data]\nsource = \"synthetic\"\ngenerator = \"xor\"\nsamples = 10\nclasses = 2\n\
               [model]\n[[model.layers]]\nunits = 18446744073709551615\nactivation = \"softmax\"\n\
               [train]\nloss = \"cross_entropy\"\noptimizer = \"sgd\"\nlearning_rate = 0.1\nbatch_size = 2\nsteps = 1\n";
    let e = nn_doctor::config::parse(std::path::Path::new("c.toml"), cfg).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
}

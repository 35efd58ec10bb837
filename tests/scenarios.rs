//! The labelled scenario corpus (fixtures/scenarios/expected.toml): every
//! config is run through `nn-doctor check --seed S` on several seeds and its
//! diagnoses compared with the codes it must and may produce.
//!
//! Seeds are split in two (issue 9): the CALIBRATION seeds 1..5, on which
//! the rules and scenarios were tuned and on which recall must be 100% and
//! false alarms zero; and the HELD-OUT seeds 101..105, never looked at while
//! calibrating, whose figures are measured (not asserted) by the ignored
//! test `held_out_seeds` and reported in bench/RESULTS.md:
//!
//! ```text
//! cargo test --release --test scenarios -- --ignored --nocapture
//! ```
//!
//! Source of truth: each scenario was built to show one cause (see
//! fixtures/scenarios/make_scenarios.py), and its expectation says so.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Seeds the rules were calibrated on.
const CALIBRATION_SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
/// Seeds never used for calibration.
const HELD_OUT_SEEDS: [u64; 5] = [101, 102, 103, 104, 105];
/// Runs at once (CI machines have 2 cores).
const THREADS: usize = 2;

#[derive(serde::Deserialize)]
struct Expected {
    scenario: Vec<Scenario>,
}

#[derive(serde::Deserialize)]
struct Scenario {
    config: String,
    must: Vec<String>,
    may: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    healthy: bool,
    /// The code that must head the report (the root cause).
    #[serde(default)]
    headline: Option<String>,
    /// Text the headline's first suggestion must contain.
    #[serde(default)]
    first_fix: Option<String>,
}

/// What one run of one scenario gave.
struct RunResult {
    config: String,
    seed: u64,
    musts: usize,
    found: usize,
    false_alarms: usize,
    problems: Vec<String>,
    /// certain_at / steps_run of each error diagnosis that has one.
    detection_shares: Vec<f64>,
}

/// The corpus score over a set of seeds.
struct Score {
    runs: usize,
    musts: usize,
    found: usize,
    false_alarms: usize,
    problems: Vec<String>,
    median_detection_share: Option<f64>,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture("scenarios").join("expected.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn run_one(s: &Scenario, seed: u64) -> RunResult {
    let dir = fixture("scenarios");
    let out = tempfile::tempdir().unwrap();
    let seed_text = seed.to_string();
    let mut extra: Vec<&str> = vec!["--fail-on", "never", "--seed", &seed_text];
    extra.extend(s.args.iter().map(String::as_str));
    let o = check(&dir.join(&s.config), out.path(), &extra);
    let mut r = RunResult {
        config: s.config.clone(),
        seed,
        musts: s.must.len(),
        found: 0,
        false_alarms: 0,
        problems: Vec::new(),
        detection_shares: Vec::new(),
    };
    if code(&o) != 0 {
        r.problems.push(format!(
            "{} seed {seed}: exit {} {}",
            s.config,
            code(&o),
            stderr(&o)
        ));
        return r;
    }
    let summary = summary(out.path());
    let list = summary["diagnoses"].as_array().cloned().unwrap_or_default();
    let got: Vec<(String, String)> = list
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let codes: BTreeSet<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    let tag = format!("{} seed {seed}", s.config);
    for m in &s.must {
        if codes.contains(m.as_str()) {
            r.found += 1;
        } else {
            r.problems
                .push(format!("{tag}: missed {m} (got {codes:?})"));
        }
    }
    for c in &codes {
        if !s.must.iter().any(|m| m == c) && !s.may.iter().any(|m| m == c) {
            r.false_alarms += 1;
            r.problems.push(format!("{tag}: false alarm {c}"));
        }
    }
    if s.healthy {
        for (c, sev) in &got {
            if sev == "error" || sev == "warning" {
                r.problems
                    .push(format!("{tag}: healthy network got {sev} {c}"));
            }
        }
    }
    if let Some(h) = &s.headline {
        let first = got.first().map_or("", |g| g.0.as_str());
        if first != h {
            r.problems.push(format!(
                "{tag}: headline {first}, expected {h} (got {codes:?})"
            ));
        }
    }
    if let Some(fix) = &s.first_fix {
        let first = list
            .first()
            .and_then(|d| d["suggestions"][0].as_str())
            .unwrap_or("");
        if !first.contains(fix.as_str()) {
            r.problems.push(format!(
                "{tag}: first fix {first:?} does not contain {fix:?}"
            ));
        }
    }
    let steps = summary["steps_run"].as_f64().unwrap_or(0.0);
    for d in &list {
        if let (Some("error"), Some(at)) = (d["severity"].as_str(), d["certain_at"].as_f64()) {
            if steps > 0.0 {
                r.detection_shares.push(at / steps);
            }
        }
    }
    r
}

/// Runs every scenario on every seed, `THREADS` at a time.
fn score(seeds: &[u64]) -> Score {
    let e = expected();
    let jobs: Vec<(&Scenario, u64)> = e
        .scenario
        .iter()
        .flat_map(|s| seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((s, seed)) = jobs.get(i) else {
                    break;
                };
                let r = run_one(s, *seed);
                results.lock().unwrap().push(r);
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| (&a.config, a.seed).cmp(&(&b.config, b.seed)));
    let mut shares: Vec<f64> = results
        .iter()
        .flat_map(|r| r.detection_shares.iter().copied())
        .collect();
    shares.sort_by(f64::total_cmp);
    Score {
        runs: results.len(),
        musts: results.iter().map(|r| r.musts).sum(),
        found: results.iter().map(|r| r.found).sum(),
        false_alarms: results.iter().map(|r| r.false_alarms).sum(),
        problems: results.iter().flat_map(|r| r.problems.clone()).collect(),
        median_detection_share: shares.get(shares.len() / 2).copied(),
    }
}

fn report(name: &str, seeds: &[u64], s: &Score) {
    println!(
        "scenario corpus, {name} seeds {seeds:?}: {} runs, recall {}/{} ({:.1}%), false alarms {}, median certain_at {}",
        s.runs,
        s.found,
        s.musts,
        100.0 * s.found as f64 / s.musts.max(1) as f64,
        s.false_alarms,
        s.median_detection_share
            .map_or("n/a".to_string(), |m| format!("{:.1}% of the run", 100.0 * m))
    );
}

#[test]
fn scenario_corpus_has_full_recall_and_no_false_alarms_on_calibration_seeds() {
    let e = expected();
    let healthy = e.scenario.iter().filter(|s| s.healthy).count();
    assert!(e.scenario.len() >= 24 && healthy >= 6);
    // Every diagnosis code is a must of at least two scenarios.
    for code in nn_doctor::diagnose::Code::all().map(|c| c.name()) {
        let n = e
            .scenario
            .iter()
            .filter(|s| s.must.iter().any(|m| m == code))
            .count();
        assert!(n >= 2, "{code} is expected by only {n} scenario(s)");
    }
    // A scenario named for a learning rate that is too high must show it.
    for s in e
        .scenario
        .iter()
        .filter(|s| s.config.starts_with("lr_high"))
    {
        assert!(s.must.iter().any(|m| m == "lr-too-high"), "{}", s.config);
    }
    let s = score(&CALIBRATION_SEEDS);
    report("calibration", &CALIBRATION_SEEDS, &s);
    assert!(s.problems.is_empty(), "{}", s.problems.join("\n"));
}

/// Measures (does not assert) recall and false alarms on seeds never used
/// for calibration; bench/RESULTS.md reports what this prints.
#[test]
#[ignore = "measurement: cargo test --release --test scenarios -- --ignored --nocapture"]
fn held_out_seeds() {
    let s = score(&HELD_OUT_SEEDS);
    report("held-out", &HELD_OUT_SEEDS, &s);
    for p in &s.problems {
        println!("  {p}");
    }
    // Every run completed; the figures themselves are the measurement.
    assert!(!s.problems.iter().any(|p| p.contains(": exit ")));
}

//! The labelled scenario corpus (fixtures/scenarios/expected.toml): every
//! config is run through `nn-doctor check` and its diagnoses compared with
//! the codes it must and may produce. Recall must be 100% and false alarms
//! zero; healthy networks must produce no error and no warning. Source of
//! truth: each scenario was built to show one cause (see
//! fixtures/scenarios/make_scenarios.py), and its expectation says so.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::time::Instant;

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
}

#[test]
fn scenario_corpus_has_full_recall_and_no_false_alarms() {
    let dir = fixture("scenarios");
    let text = std::fs::read_to_string(dir.join("expected.toml")).unwrap();
    let expected: Expected = toml::from_str(&text).unwrap();
    let (mut must_total, mut found, mut false_alarms) = (0, 0, 0);
    let mut problems = Vec::new();
    let mut slowest = (0.0f64, String::new());
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for s in &expected.scenario {
        let out = tempfile::tempdir().unwrap();
        let mut extra: Vec<&str> = vec!["--fail-on", "never"];
        extra.extend(s.args.iter().map(String::as_str));
        let started = Instant::now();
        let o = check(&dir.join(&s.config), out.path(), &extra);
        let secs = started.elapsed().as_secs_f64();
        if secs > slowest.0 {
            slowest = (secs, s.config.clone());
        }
        assert_eq!(code(&o), 0, "{}: {}", s.config, stderr(&o));
        let summary = summary(out.path());
        let got: Vec<(String, String)> = summary["diagnoses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_string(),
                    d["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let codes: BTreeSet<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
        for m in &s.must {
            must_total += 1;
            covered.insert(m.clone());
            if codes.contains(m.as_str()) {
                found += 1;
            } else {
                problems.push(format!("{}: missed {m} (got {codes:?})", s.config));
            }
        }
        for c in &codes {
            if !s.must.iter().any(|m| m == c) && !s.may.iter().any(|m| m == c) {
                false_alarms += 1;
                problems.push(format!("{}: false alarm {c}", s.config));
            }
        }
        if s.healthy {
            for (c, sev) in &got {
                if sev == "error" || sev == "warning" {
                    problems.push(format!("{}: healthy network got {sev} {c}", s.config));
                }
            }
        }
    }
    let healthy = expected.scenario.iter().filter(|s| s.healthy).count();
    println!(
        "scenario corpus: {} scenarios ({healthy} healthy), recall {found}/{must_total}, false alarms {false_alarms}, slowest {} ({:.2} s)",
        expected.scenario.len(),
        slowest.1,
        slowest.0
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(expected.scenario.len() >= 24 && healthy >= 6);
    // Every diagnosis code is a must of at least two scenarios.
    for code in nn_doctor::diagnose::CODES {
        let n = expected
            .scenario
            .iter()
            .filter(|s| s.must.iter().any(|m| m == code))
            .count();
        assert!(n >= 2, "{code} is expected by only {n} scenario(s)");
    }
}

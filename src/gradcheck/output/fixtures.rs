//! Hand-built reports and an XML well-formedness checker shared by the
//! output tests.

use crate::gradcheck::types::{
    CheckKind, CheckRow, Counts, Finding, GradcheckReport, PatternMatch, RowStatus, State, Status,
    TensorKind, TensorResult,
};

pub fn tensor(layer: Option<usize>, tensor: TensorKind, rel: f64, passed: bool) -> TensorResult {
    let element = layer.is_some();
    TensorResult {
        at: "init".into(),
        layer,
        tensor,
        elements_checked: if element { 12 } else { 0 },
        directions_checked: if element { 2 } else { 4 },
        kinks: 0,
        resolved: if element { 14 } else { 4 },
        max_rel_error: rel,
        status: if passed { Status::Pass } else { Status::Fail },
        reason: None,
        verified_at: Some(State::Point),
        passed,
    }
}

pub fn row(layer: usize, tensor: TensorKind, index: Vec<usize>, a: f64, n: f64) -> CheckRow {
    let abs = (a - n).abs();
    let rel = abs / a.abs().max(n.abs());
    CheckRow {
        at: "init".into(),
        layer: Some(layer),
        tensor,
        kind: CheckKind::Element,
        index,
        analytic: a,
        numeric: n,
        abs_error: abs,
        rel_error: rel,
        kink: false,
        passed: rel < 1e-5,
        resolved: true,
        status: if rel < 1e-5 {
            RowStatus::Pass
        } else {
            RowStatus::Fail
        },
        state: State::Point,
    }
}

fn report_of(tensors: Vec<TensorResult>, rows: Vec<CheckRow>) -> GradcheckReport {
    let status = tensors
        .iter()
        .map(|t| t.status)
        .max()
        .unwrap_or(Status::Inconclusive);
    GradcheckReport {
        status,
        counts: Counts::of(&tensors),
        passed: status == Status::Pass,
        max_rel_error: tensors.iter().map(|t| t.max_rel_error).fold(0.0, f64::max),
        tensors,
        rows,
        first_wrong: None,
        parameters: 795_010,
        seconds: 0.414,
        epsilon: 1e-6,
        rtol: 1e-5,
        atol: 1e-8,
    }
}

/// The seed issue's case after the fix: layer 1 weight below resolution at
/// the point and passing at the probe state, layer 1 bias inconclusive
/// everywhere (every check on a kink), layer 2 weight passing at the point.
pub fn undecided() -> GradcheckReport {
    let mut probe_weight = tensor(Some(1), TensorKind::Weight, 2.0e-7, true);
    probe_weight.reason = Some("below-resolution".into());
    probe_weight.verified_at = Some(State::Probe);
    let mut bias = tensor(Some(1), TensorKind::Bias, 0.0, false);
    bias.status = Status::Inconclusive;
    bias.passed = false;
    bias.resolved = 0;
    bias.kinks = 14;
    bias.reason = Some("all-kinks".into());
    bias.verified_at = None;
    let mut below = row(1, TensorKind::Weight, vec![3, 4], 4.5e-22, 0.0);
    below.resolved = false;
    below.passed = false;
    below.status = RowStatus::BelowResolution;
    let mut at_probe = row(1, TensorKind::Weight, vec![3, 4], 0.25, 0.25);
    at_probe.state = State::Probe;
    report_of(
        vec![
            probe_weight,
            bias,
            tensor(Some(2), TensorKind::Weight, 3.0e-8, true),
        ],
        vec![below, at_probe],
    )
}

/// Three passing tensors: layer 1 weight and bias, and the network
/// direction.
pub fn passing() -> GradcheckReport {
    GradcheckReport {
        status: Status::Pass,
        counts: Counts {
            pass: 3,
            ..Counts::default()
        },
        passed: true,
        max_rel_error: 3.2e-9,
        tensors: vec![
            tensor(Some(1), TensorKind::Weight, 3.2e-9, true),
            tensor(Some(1), TensorKind::Bias, 1.5e-10, true),
            tensor(None, TensorKind::Network, 2.0e-9, true),
        ],
        rows: vec![row(1, TensorKind::Weight, vec![0, 0], 0.5, 0.5)],
        first_wrong: None,
        parameters: 795_010,
        seconds: 0.414,
        epsilon: 1e-6,
        rtol: 1e-5,
        atol: 1e-8,
    }
}

/// Layer 2 weight wrong by a factor of 2 (worst at index 12:3), layer 1
/// bias passing with one kink, the network direction failing too.
pub fn failing() -> GradcheckReport {
    let mut bias = tensor(Some(1), TensorKind::Bias, 1e-9, true);
    bias.kinks = 1;
    let mut kink = row(1, TensorKind::Bias, vec![7], 1.0, 0.5);
    kink.kink = true;
    kink.passed = false;
    kink.resolved = false;
    kink.status = RowStatus::Kink;
    GradcheckReport {
        status: Status::Fail,
        counts: Counts {
            pass: 1,
            fail: 2,
            ..Counts::default()
        },
        passed: false,
        max_rel_error: 0.5,
        tensors: vec![
            tensor(Some(2), TensorKind::Weight, 0.5, false),
            bias,
            tensor(None, TensorKind::Network, 0.25, false),
        ],
        rows: vec![
            row(2, TensorKind::Weight, vec![0, 1], 0.3, 0.2),
            row(2, TensorKind::Weight, vec![12, 3], 0.5, 0.25),
            row(2, TensorKind::Weight, vec![1, 1], 0.2, 0.2),
            kink,
        ],
        first_wrong: Some(Finding {
            at: "init".into(),
            layer: Some(2),
            tensor: TensorKind::Weight,
            index: vec![12, 3],
            analytic: 0.5,
            numeric: 0.25,
            rel_error: 0.5,
            pattern: Some(PatternMatch {
                code: "constant-factor".into(),
                explanation: "analytic = factor x numeric".into(),
                factor: Some(2.0),
            }),
            message: "layer 2 weight is wrong at init".into(),
        }),
        parameters: 1_234,
        seconds: 1.5,
        epsilon: 1e-6,
        rtol: 1e-5,
        atol: 1e-8,
    }
}

/// Checks what the JUnit writer must guarantee of XML without an XML
/// crate: one root, balanced open/close tags, quoted attribute values,
/// no raw `<` or stray `&` in text or attributes.
pub fn check_well_formed(xml: &str) -> Result<(), String> {
    let body = match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").ok_or("unclosed prolog")?.1,
        None => xml,
    };
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open])?;
        if stack.is_empty() && !rest[..open].trim().is_empty() {
            return Err("text outside the root".into());
        }
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack.pop().ok_or("close without open")?;
            if top != name.trim() {
                return Err(format!("</{name}> closes <{top}>"));
            }
        } else {
            if stack.is_empty() {
                roots += 1;
            }
            let self_closing = tag.ends_with('/');
            let name = check_tag(tag.trim_end_matches('/'))?;
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    match (stack.is_empty(), roots, rest.trim().is_empty()) {
        (true, 1, true) => Ok(()),
        _ => Err(format!("unbalanced: open {stack:?}, {roots} roots")),
    }
}

/// Returns the tag name after checking every attribute is name="value".
/// Quotes inside values are escaped by the writer, so the first quote
/// after `=` opens and the next one closes.
fn check_tag(tag: &str) -> Result<String, String> {
    let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '-') {
        return Err(format!("bad tag name in <{tag}>"));
    }
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(name.to_string());
        }
        let (key, after) = attrs.split_once('=').ok_or(format!("no = in <{tag}>"))?;
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("bad attribute name {key:?}"));
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        let quote = quote.ok_or(format!("unquoted value of {key}"))?;
        let end = after[1..].find(quote).ok_or("unterminated value")? + 1;
        check_text(&after[1..end])?;
        attrs = &after[end + 1..];
    }
}

/// Every `&` must start one of the five predefined entities or a
/// character reference.
fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = text[i..].split_once(';').map(|(e, _)| e).unwrap_or("");
        let known = ["&amp", "&lt", "&gt", "&quot", "&apos"].contains(&entity)
            || (entity.starts_with("&#") && entity[2..].chars().all(|c| c.is_ascii_digit()));
        if !known {
            return Err(format!("stray & in {text:?}"));
        }
    }
    if text.contains('<') {
        return Err(format!("raw < in {text:?}"));
    }
    Ok(())
}

#[test]
fn checker_rejects_broken_xml() {
    assert!(check_well_formed("<a x=\"1\"><b/></a>").is_ok());
    assert!(check_well_formed("<a><b></a></b>").is_err());
    assert!(check_well_formed("<a x=1></a>").is_err());
    assert!(check_well_formed("<a>&</a>").is_err());
    assert!(check_well_formed("<a></a><a></a>").is_err());
    assert!(check_well_formed("<a>").is_err());
}

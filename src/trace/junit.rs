//! JUnit XML for CI: one test case per compared tensor, a failure for each
//! divergent one carrying its finding.

use super::report::TraceReport;
use super::tensor::tensor_label;
use super::verify::sci;
use crate::gradcheck::output::{esc, esc_text};
use std::fmt::Write;

/// Renders the report as a JUnit `<testsuite>`.
pub fn junit_xml(r: &TraceReport) -> String {
    let failures = r.tensors.iter().filter(|t| !t.passed).count();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let time = if r.info.seconds.is_finite() {
        r.info.seconds
    } else {
        0.0
    };
    let _ = writeln!(
        x,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
        esc(&format!("nn-doctor verify-trace: {}", r.info.dir)),
        r.tensors.len()
    );
    for t in &r.tensors {
        let label = tensor_label(t.layer, t.tensor);
        let _ = write!(
            x,
            "  <testcase classname=\"verify-trace\" name=\"{}\"",
            esc(&format!("{label} ({})", t.file))
        );
        if t.passed {
            x.push_str("/>\n");
            continue;
        }
        let f = r
            .findings
            .iter()
            .find(|f| f.layer == t.layer && f.tensor == t.tensor);
        let message = format!(
            "{label}: {} (max abs error {}, max rel error {})",
            t.pattern.as_deref().unwrap_or("diverges"),
            sci(t.max_abs_error),
            sci(t.max_rel_error)
        );
        let body = f.map_or(String::new(), |f| {
            format!("{}\nfix: {}", f.message, f.suggestion)
        });
        let _ = writeln!(
            x,
            ">\n    <failure message=\"{}\" type=\"trace-mismatch\">{}</failure>\n  </testcase>",
            esc(&message),
            esc_text(&body)
        );
    }
    x.push_str("</testsuite>\n");
    x
}

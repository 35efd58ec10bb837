//! gradcheck.csv: one row per comparison of analytic and numeric
//! derivative, with exact (round-trip) numbers so the file can be
//! re-analysed without loss.

use super::{index_label, num};
use crate::gradcheck::types::{CheckRow, GradcheckReport};
use std::path::Path;

/// Columns of gradcheck.csv, in order. `passed` is true only for a
/// resolved row within tolerance; `resolved`, `status` (pass, fail,
/// below-resolution, kink) and `state` (point, or probe for the
/// well-conditioned re-check) were added at the end.
pub const CSV_HEADER: [&str; 14] = [
    "at",
    "layer",
    "tensor",
    "kind",
    "index",
    "analytic",
    "numeric",
    "abs_error",
    "rel_error",
    "kink",
    "passed",
    "resolved",
    "status",
    "state",
];

/// Writes gradcheck.csv. The layer is empty for the whole-network
/// direction (it has none), so numeric layer columns stay numeric.
pub fn write_csv(report: &GradcheckReport, path: &Path) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(CSV_HEADER)?;
    for r in &report.rows {
        w.write_record(record(r))?;
    }
    w.flush()?;
    Ok(())
}

/// The fields of one row, in `CSV_HEADER` order.
fn record(r: &CheckRow) -> [String; 14] {
    [
        r.at.clone(),
        r.layer.map_or(String::new(), |l| l.to_string()),
        r.tensor.name().to_string(),
        r.kind.name().to_string(),
        index_label(&r.index),
        num(r.analytic),
        num(r.numeric),
        num(r.abs_error),
        num(r.rel_error),
        r.kink.to_string(),
        r.passed.to_string(),
        r.resolved.to_string(),
        r.status.name().to_string(),
        r.state.name().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::types::{CheckKind, RowStatus, State, Status, TensorKind};

    fn row(at: &str, layer: Option<usize>, tensor: TensorKind, index: Vec<usize>) -> CheckRow {
        CheckRow {
            at: at.into(),
            layer,
            tensor,
            kind: CheckKind::Element,
            index,
            analytic: 0.5,
            numeric: 0.5,
            abs_error: 0.0,
            rel_error: 0.0,
            kink: false,
            passed: true,
            resolved: true,
            status: RowStatus::Pass,
            state: State::Point,
        }
    }

    fn report(rows: Vec<CheckRow>) -> GradcheckReport {
        GradcheckReport {
            status: Status::Fail,
            counts: Default::default(),
            passed: false,
            max_rel_error: f64::NAN,
            tensors: vec![],
            rows,
            first_wrong: None,
            parameters: 10,
            seconds: 0.1,
            epsilon: 1e-6,
            rtol: 1e-5,
            atol: 1e-8,
        }
    }

    /// Truth: the header and formats specified for gradcheck.csv, written
    /// out by hand (empty layer for the network direction, ':'-joined
    /// index, NaN spelled out, shortest round-trip numbers, the three
    /// resolution columns at the end).
    #[test]
    fn writes_exact_text() {
        let weight = CheckRow {
            analytic: 0.25,
            numeric: 0.125,
            abs_error: 0.125,
            rel_error: 0.5,
            passed: false,
            status: RowStatus::Fail,
            ..row("init", Some(2), TensorKind::Weight, vec![12, 3])
        };
        let kink = CheckRow {
            analytic: 1.0,
            numeric: 0.5,
            abs_error: 0.5,
            rel_error: 0.5,
            kink: true,
            passed: false,
            resolved: false,
            status: RowStatus::Kink,
            state: State::Probe,
            ..row("step 120", Some(1), TensorKind::Bias, vec![7])
        };
        let direction = CheckRow {
            kind: CheckKind::Direction,
            analytic: 3.2e-9,
            numeric: f64::NAN,
            abs_error: f64::NAN,
            rel_error: f64::NAN,
            passed: false,
            status: RowStatus::Fail,
            ..row("last-finite (step 41)", None, TensorKind::Network, vec![0])
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gradcheck.csv");
        write_csv(&report(vec![weight, kink, direction]), &path).unwrap();
        let expected = "\
at,layer,tensor,kind,index,analytic,numeric,abs_error,rel_error,kink,passed,resolved,status,state
init,2,weight,element,12:3,0.25,0.125,0.125,0.5,false,false,true,fail,point
step 120,1,bias,element,7,1,0.5,0.5,0.5,true,false,false,kink,probe
last-finite (step 41),,network,direction,0,3.2e-9,NaN,NaN,NaN,false,false,true,fail,point
";
        assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    }

    /// Truth: a run with no rows still gives a readable file (header only).
    #[test]
    fn empty_report_writes_header_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gradcheck.csv");
        write_csv(&report(vec![]), &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", CSV_HEADER.join(","))
        );
    }
}

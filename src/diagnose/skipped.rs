//! Rules that could not run because the run did not record their inputs
//! (a run from another trainer may lack pre-flight facts, a gradient check
//! or some columns). They are listed with the reason, never counted as
//! passed: a diagnosis from such a rule is dropped rather than judged on
//! made-up inputs.

use super::types::Diagnosis;
use serde::{Deserialize, Serialize};

/// A rule that did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The diagnosis code the rule produces.
    pub code: String,
    /// What was not recorded.
    pub reason: String,
}

/// Drops every diagnosis whose rule was skipped.
pub fn drop_skipped(diagnoses: &mut Vec<Diagnosis>, skipped: &[Skipped]) {
    diagnoses.retain(|d| !skipped.iter().any(|s| s.code == d.code.name()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Code, Severity};

    #[test]
    fn only_skipped_codes_are_dropped() {
        let mut ds = vec![
            Diagnosis::new(Code::PoorInitialization, Severity::Error, "a"),
            Diagnosis::new(Code::DeadRelus, Severity::Error, "b"),
        ];
        let skipped = [Skipped {
            code: Code::PoorInitialization.name().into(),
            reason: "no initial weights recorded".into(),
        }];
        drop_skipped(&mut ds, &skipped);
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].code, Code::DeadRelus);
    }
}

//! What a diagnosis is: a stable code, a severity, where and when it was
//! first seen, the numbers behind it and what to do about it.

use super::code::Code;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How bad a finding is; ordered so `max()` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Evidence values: numbers stay numbers in summary.json (non-finite ones
/// become null there), text stays text.
pub type Evidence = BTreeMap<String, serde_json::Value>;

/// One finding about a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub code: Code,
    pub severity: Severity,
    /// 1-based layer, or None for the whole network or the data.
    pub layer: Option<usize>,
    /// First step where it was seen (0 = before training).
    pub step: Option<usize>,
    pub message: String,
    pub evidence: Evidence,
    /// Concrete fixes, most promising first.
    pub suggestions: Vec<String>,
    /// For errors: the first step from which the rule fired on the data
    /// seen so far and kept firing to the end (diagnose::certainty).
    pub certain_at: Option<usize>,
}

/// A diagnosis as summary.json stores it, read back by `report` and
/// `compare`; its code must be one of [`Code`]'s names.
#[derive(Deserialize)]
struct StoredDiagnosis {
    code: String,
    severity: Severity,
    layer: Option<usize>,
    step: Option<usize>,
    message: String,
    evidence: Evidence,
    suggestions: Vec<String>,
    #[serde(default)]
    certain_at: Option<usize>,
}

impl<'de> Deserialize<'de> for Diagnosis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Diagnosis::try_from(StoredDiagnosis::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<StoredDiagnosis> for Diagnosis {
    type Error = String;

    fn try_from(d: StoredDiagnosis) -> Result<Self, String> {
        let code = Code::from_name(&d.code)
            .ok_or_else(|| format!("unknown diagnosis code {:?}", d.code))?;
        Ok(Diagnosis {
            code,
            severity: d.severity,
            layer: d.layer,
            step: d.step,
            message: d.message,
            evidence: d.evidence,
            suggestions: d.suggestions,
            certain_at: d.certain_at,
        })
    }
}

impl Diagnosis {
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Diagnosis {
            code,
            severity,
            layer: None,
            step: None,
            message: message.into(),
            evidence: Evidence::new(),
            suggestions: Vec::new(),
            certain_at: None,
        }
    }

    pub fn at(mut self, layer: Option<usize>, step: Option<usize>) -> Self {
        self.layer = layer;
        self.step = step;
        self
    }

    /// Adds a number (or anything JSON) to the evidence.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }

    pub fn suggest(mut self, s: impl Into<String>) -> Self {
        self.suggestions.push(s.into());
        self
    }
}

//! The diagnosis codes, as one enum in causal order: a wrong gradient, then
//! the data, then the configuration (init, architecture, loss, learning
//! rate), then what they do to units and gradients, then the loss curve and
//! accuracy that result. A code's name, explanation, needs, fixes and rule
//! live in its [`Rule`](super::rule::Rule) descriptor, beside the rule
//! function; [`RULES`](super::registry::RULES) lists the descriptors in this
//! same order (a test keeps the two in step).

use super::registry::RULES;
use super::rule::Rule;

/// A diagnosis code. The discriminant is the causal rank: causes sort
/// before the symptoms they produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    GradientMismatch,
    NonFiniteData,
    UnscaledInputs,
    UnscaledTargets,
    ClassImbalance,
    PoorInitialization,
    OneUnitSoftmax,
    OutputUnitsMismatch,
    HiddenSoftmax,
    OutputLossMismatch,
    BatchNormSmallBatch,
    DropoutTooHigh,
    LrTooHigh,
    LrTooLow,
    SaturatedActivations,
    DeadRelus,
    VanishingGradients,
    ExplodingGradients,
    NonFinite,
    LossDiverging,
    LossOscillating,
    Overfitting,
    LossPlateau,
    AccuracyAtChance,
    NoBetterThanMean,
}

impl Code {
    /// The code's descriptor.
    pub fn rule(self) -> &'static Rule {
        RULES[self as usize]
    }

    /// The stable name summary.json, the CLI and the docs use ("dead-relus").
    pub fn name(self) -> &'static str {
        self.rule().name
    }

    /// Causal rank: lower is more fundamental.
    pub fn rank(self) -> usize {
        self as usize
    }

    /// The code with this name, if there is one.
    pub fn from_name(name: &str) -> Option<Code> {
        RULES.iter().map(|r| r.code).find(|c| c.name() == name)
    }

    /// Every code, in causal order.
    pub fn all() -> impl Iterator<Item = Code> {
        RULES.iter().map(|r| r.code)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so width and alignment (`{:<22}`) apply as they do to a str.
        f.pad(self.name())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Code::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown diagnosis code {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Truth: the registry is indexed by discriminant, so descriptor i must
    /// describe code i, and names must be unique.
    #[test]
    fn the_registry_lists_every_code_once_in_causal_order() {
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.code as usize, i, "{}", rule.name);
            assert_eq!(Code::from_name(rule.name), Some(rule.code));
        }
        assert_eq!(RULES.len(), Code::NoBetterThanMean as usize + 1);
    }

    /// Truth: the Thresholds struct itself, serialised. Every threshold a
    /// rule declares exists, and every threshold is some rule's.
    #[test]
    fn every_threshold_belongs_to_a_rule_and_exists() {
        let fields = serde_json::to_value(crate::diagnose::Thresholds::default()).unwrap();
        let fields = fields.as_object().unwrap();
        for r in RULES {
            for t in r.thresholds {
                assert!(fields.contains_key(*t), "{}: no threshold {t}", r.name);
            }
        }
        for f in fields.keys() {
            assert!(
                RULES.iter().any(|r| r.thresholds.contains(&f.as_str())),
                "threshold {f} is no rule's"
            );
        }
    }

    /// Truth: a str formats this way; the terminal table aligns codes with it.
    #[test]
    fn a_code_pads_like_its_name() {
        assert_eq!(format!("{:<12}|", Code::DeadRelus), "dead-relus  |");
    }

    #[test]
    fn names_round_trip_through_json() {
        for c in Code::all() {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), c);
        }
        assert!(serde_json::from_str::<Code>("\"no-such-code\"").is_err());
    }
}

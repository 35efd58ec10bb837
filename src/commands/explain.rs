//! `nn-doctor explain [CODE]`: one code's explanation, the list of codes,
//! or (`--markdown`) the page docs/diagnoses.md, all from the rule
//! registry and the check codes.

use crate::diagnose::explain::{explain, Explained, CHECK_CODES};
use crate::diagnose::RULES;

/// A code `explain` does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown diagnosis code {0:?}; `nn-doctor explain` lists them")]
pub struct UnknownCode(pub String);

/// What `nn-doctor explain` prints.
pub fn run(code: Option<&str>, markdown: bool) -> Result<String, UnknownCode> {
    match code {
        Some(c) => explain(c)
            .map(render)
            .ok_or_else(|| UnknownCode(c.to_string())),
        None if markdown => Ok(self::markdown()),
        None => Ok(list()),
    }
}

/// The text `nn-doctor explain CODE` prints.
pub fn render(e: Explained) -> String {
    let x = e.explanation;
    format!(
        "{}: {}\n\nWhat it means\n  {}\n\nWhy it happens\n  {}\n\nHow to fix it\n  {}\n\nWhere to look\n  {}\n",
        e.code, x.title, x.meaning, x.why, x.fix, x.look
    )
}

/// The list `nn-doctor explain` prints.
pub fn list() -> String {
    let mut s = String::from("Diagnosis codes (nn-doctor explain CODE for details):\n");
    for r in RULES {
        s.push_str(&format!("  {:<22} {}\n", r.name, r.explanation.title));
    }
    s.push_str("\nGradient-check and verify-trace codes:\n");
    for c in &CHECK_CODES {
        s.push_str(&format!("  {:<29} {}\n", c.code, c.explanation.title));
    }
    s
}

/// docs/diagnoses.md, generated from the registry (`nn-doctor explain
/// --markdown`; a test keeps the checked-in page equal to it).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Diagnosis codes\n\n\
         Generated from the rule registry (`src/diagnose/registry.rs`) by \
         `nn-doctor explain --markdown`; do not edit by hand. Codes are listed \
         in causal order: causes before the symptoms they produce, which is \
         also the order reports use for findings of equal severity.\n\n\
         | code | what it says | severity follows the outcome | fixes `--try-fixes` verifies |\n\
         |---|---|---|---|\n",
    );
    for r in RULES {
        let fixes: Vec<String> = r.fixes.iter().map(|f| format!("`{}`", f.name())).collect();
        s.push_str(&format!(
            "| [`{}`](#{}) | {} | {} | {} |\n",
            r.name,
            r.name,
            r.explanation.title,
            if r.outcome_dependent { "yes" } else { "no" },
            if fixes.is_empty() {
                "-".to_string()
            } else {
                fixes.join(", ")
            }
        ));
    }
    for r in RULES {
        let x = &r.explanation;
        s.push_str(&format!(
            "\n## {}\n\n{}.\n\n**What it means.** {}\n\n**Why it happens.** {}\n\n**How to fix it.** {}\n\n**Where to look.** {}\n",
            r.name, capitalised(x.title), x.meaning, x.why, x.fix, x.look
        ));
        if !r.thresholds.is_empty() {
            let defaults =
                serde_json::to_value(crate::diagnose::Thresholds::default()).unwrap_or_default();
            let named: Vec<String> = r
                .thresholds
                .iter()
                .map(|t| format!("`{t}` = {}", defaults[*t]))
                .collect();
            s.push_str(&format!(
                "\n*Thresholds (`[thresholds]` overrides them):* {}.\n",
                named.join(", ")
            ));
        }
        if !r.explains.is_empty() {
            let names: Vec<&str> = r.explains.iter().map(|c| c.name()).collect();
            s.push_str(&format!(
                "\n*Explains, when the run was hurt:* {}.\n",
                names.join(", ")
            ));
        }
        if !r.unless.is_empty() {
            let names: Vec<&str> = r.unless.iter().map(|c| c.name()).collect();
            s.push_str(&format!(
                "\n*Not judged when found:* {}.\n",
                names.join(", ")
            ));
        }
    }
    s.push_str("\n# Gradient-check and verify-trace codes\n");
    for c in &CHECK_CODES {
        let x = &c.explanation;
        s.push_str(&format!(
            "\n## {}\n\n{}.\n\n**What it means.** {}\n\n**Why it happens.** {}\n\n**How to fix it.** {}\n\n**Where to look.** {}\n",
            c.code, capitalised(x.title), x.meaning, x.why, x.fix, x.look
        ));
    }
    s
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_diagnosis_and_check_codes() {
        let l = list();
        assert!(l.contains("bias-gradient-wrong-axis") && l.contains("dead-relus"));
    }

    #[test]
    fn render_has_every_section() {
        let text = render(explain("saturated-activations").unwrap());
        for section in [
            "What it means",
            "Why it happens",
            "How to fix it",
            "Where to look",
        ] {
            assert!(text.contains(section));
        }
    }
}

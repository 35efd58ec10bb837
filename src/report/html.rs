//! index.html: the report as one page a browser opens with no network — the
//! verdict, the headline cause and fix, every diagnosis with its evidence and
//! the plot to look at, the gradient check, the fix table and the files.
//! Inline CSS, no scripts, plots linked as the relative PNG files beside it;
//! a single column that stays legible at phone width.

use super::markdown::{gradcheck_rows, gradcheck_verdict, run_files, where_to_look};
use super::names;
use super::plots::{plot_for, PLOTS};
use super::summary::{Summary, Verdict};
use crate::diagnose::Code;
use crate::diagnose::{Diagnosis, Severity};
use std::fmt::Write;

/// The page's style sheet: system fonts, one readable column, tables that
/// scroll sideways on a phone instead of overflowing the page.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1b1b1b;background:#fafafa}\
main{max-width:64rem;margin:0 auto;padding:1rem}\
h1{font-size:1.6rem;margin:.2rem 0 .6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}\
h3{font-size:1.05rem;margin:0 0 .3rem}\
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:1rem;font-weight:700;color:#fff}\
.unhealthy{background:#b00020}.healthy{background:#1b7f3b}\
.headline{background:#fff;border-left:6px solid #b00020;padding:.8rem 1rem;margin:1rem 0;border-radius:4px}\
.healthy-box{border-left-color:#1b7f3b}\
.diag{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.8rem 1rem;margin:.8rem 0}\
.sev{font-size:.8rem;font-weight:700;text-transform:uppercase;padding:.05rem .45rem;border-radius:.3rem;color:#fff}\
.error{background:#b00020}.warning{background:#b26a00}.info{background:#3a6ea5}\
.meta{color:#555;font-size:.9rem}\
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}\
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f0f0f0;white-space:nowrap;overflow-wrap:normal}td.num{text-align:right;font-variant-numeric:tabular-nums}\
td.num,.w,table.fixes a{white-space:nowrap;overflow-wrap:normal}\
table.fixes td{overflow-wrap:normal}\
img{max-width:100%;height:auto;border:1px solid #e2e2e2;background:#fff}\
figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}\
code{font-size:.9em;background:#f0f0f0;padding:0 .2rem;border-radius:3px;word-break:break-word}\
@media (max-width:600px){body{font-size:15px}main{padding:.6rem}h1{font-size:1.3rem}}";

/// Escapes text for HTML element content and attribute values.
/// A link to a file of the report directory, or the name as plain text
/// when it is not one (see [`super::is_local_link`]).
fn link(target: &str) -> String {
    if super::is_local_link(target) {
        format!("<a href=\"{t}\">{t}</a>", t = esc(target))
    } else {
        format!("<code>{}</code>", esc(target))
    }
}

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders index.html.
pub fn render(s: &Summary) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>nn-doctor report: {}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        esc(&s.name)
    );
    header(&mut h, s);
    headline(&mut h, s);
    facts(&mut h, s);
    if let Some(o) = &s.nan_origin {
        let _ = write!(
            h,
            "<h2>First non-finite value</h2>\n<p>{}</p>\n",
            esc(&o.detail)
        );
    }
    let _ = writeln!(h, "<h2>Diagnoses</h2>");
    if s.diagnoses.is_empty() {
        let _ = writeln!(h, "<p>No problems found.</p>");
    }
    for d in &s.diagnoses {
        diagnosis(&mut h, d);
    }
    gradcheck(&mut h, s);
    fixes(&mut h, s);
    let _ = writeln!(h, "<h2>Plots</h2>");
    for (file, what) in PLOTS {
        let _ = writeln!(
            h,
            "<figure id=\"{f}\"><a href=\"{f}\"><img src=\"{f}\" alt=\"{w}\"></a><figcaption>{w}</figcaption></figure>",
            f = esc(file),
            w = esc(what)
        );
    }
    let _ = writeln!(h, "<h2>Files</h2>\n<ul>");
    for (f, what) in run_files(s) {
        let _ = writeln!(h, "<li>{} — {}</li>", link(&f), esc(&what));
    }
    let _ = writeln!(h, "</ul>\n</main>\n</body>\n</html>");
    h
}

fn header(h: &mut String, s: &Summary) {
    let (class, word) = match s.verdict {
        Verdict::Healthy => ("healthy", "healthy"),
        Verdict::Unhealthy => ("unhealthy", "unhealthy"),
    };
    let _ = write!(
        h,
        "<h1>nn-doctor report: {}</h1>\n<p><span class=\"verdict {class}\">{word}</span> \
         {} error(s), {} warning(s), {} info · config <code>{}</code> · exit code {}</p>\n",
        esc(&s.name),
        s.count(Severity::Error),
        s.count(Severity::Warning),
        s.count(Severity::Info),
        esc(&s.config),
        s.exit_code
    );
}

/// The most important diagnosis and its first suggested fix, up front.
fn headline(h: &mut String, s: &Summary) {
    let Some(d) = s.diagnoses.first() else {
        let _ = writeln!(
            h,
            "<div class=\"headline healthy-box\"><strong>No problems found.</strong></div>"
        );
        return;
    };
    let _ = write!(
        h,
        "<div class=\"headline\"><h3>Cause: <code>{}</code> ({})</h3><p>{}</p>",
        esc(d.code.name()),
        esc(&names::layer_label(d.layer)),
        esc(&d.message)
    );
    if let Some(fix) = names::first_fix(s) {
        let _ = write!(h, "<p><strong>Fix:</strong> {}</p>", esc(fix));
    }
    let _ = writeln!(h, "</div>");
}

fn facts(h: &mut String, s: &Summary) {
    let f = &s.final_;
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), crate::numfmt::short);
    let stop = s
        .stop_reason
        .as_deref()
        .map_or(String::new(), |r| format!(" — stopped early: {r}"));
    let rows = [
        (
            "network",
            format!(
                "{} ({} parameters, {})",
                s.architecture(" → "),
                s.network.parameters,
                s.network.dtype
            ),
        ),
        (
            "training",
            format!(
                "loss {}, optimizer {}, learning rate {}, batch {}",
                s.network.loss, s.network.optimizer, s.network.learning_rate, s.network.batch_size
            ),
        ),
        ("data", s.data.description.clone()),
        (
            "steps",
            format!("{} of {}{stop}", s.steps_run, s.steps_planned),
        ),
        (
            "final",
            format!("loss {}, {}", show(f.loss), super::names::final_metrics(f)),
        ),
        (
            "run",
            format!(
                "seed {}, config digest {}, {} {} (summary schema {})",
                s.seed.map_or("not recorded".to_string(), |v| v.to_string()),
                s.config_digest.as_deref().unwrap_or("unreadable"),
                s.tool,
                s.tool_version,
                s.schema_version
            ),
        ),
    ];
    let _ = writeln!(h, "<div class=\"scroll\"><table>");
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    let _ = writeln!(h, "</table></div>");
}

fn diagnosis(h: &mut String, d: &Diagnosis) {
    let seen = names::first_seen(d.step).map_or(String::new(), |s| format!(" · {s}"));
    let _ = write!(
        h,
        "<section class=\"diag\"><h3><span class=\"sev {sev}\">{sev}</span> <code>{}</code></h3>\
         <p class=\"meta\">{}{}</p><p>{}</p>",
        esc(d.code.name()),
        esc(&names::layer_label(d.layer)),
        esc(&seen),
        esc(&d.message),
        sev = d.severity.name()
    );
    if !d.evidence.is_empty() {
        let _ = write!(
            h,
            "<div class=\"scroll\"><table><tr><th>evidence</th><th>value</th></tr>"
        );
        for (k, v) in &d.evidence {
            // Numbers align right and never break; text (a severity reason)
            // wraps like prose, or it would push the numbers out of view on
            // a phone.
            let class = match v {
                serde_json::Value::Number(_) | serde_json::Value::Null => " class=\"num\"",
                _ => "",
            };
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "non-finite".to_string(),
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(x) if n.is_f64() => crate::numfmt::short(x),
                    _ => n.to_string(),
                },
                other => other.to_string(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td{class}>{}</td></tr>",
                esc(k),
                esc(&value)
            );
        }
        let _ = write!(h, "</table></div>");
    }
    if !d.suggestions.is_empty() {
        let _ = write!(h, "<p><strong>Suggested fixes:</strong></p><ol>");
        for s in &d.suggestions {
            let _ = write!(h, "<li>{}</li>", esc(s));
        }
        let _ = write!(h, "</ol>");
    }
    if d.code == Code::GradientMismatch {
        let _ = write!(
            h,
            "<p class=\"meta\"><a href=\"#gradient-check\">See the gradient-check table</a> and \
             <a href=\"gradcheck.csv\">gradcheck.csv</a>.</p>"
        );
    } else if let (Some(file), Some(look)) = (plot_for(d), where_to_look(d)) {
        let text = look.replace(&format!("[{file}]({file})"), file);
        let _ = write!(
            h,
            "<p class=\"meta\"><a href=\"#{f}\">{}</a></p>",
            esc(&text),
            f = esc(file)
        );
    }
    let _ = writeln!(h, "</section>");
}

fn gradcheck(h: &mut String, s: &Summary) {
    let Some(g) = &s.gradcheck else {
        return;
    };
    let verdict = gradcheck_verdict(g).replace("**", "");
    let _ = writeln!(
        h,
        "<h2 id=\"gradient-check\">Gradient check</h2>\n<p>{}</p>",
        esc(&verdict)
    );
    let rows = gradcheck_rows(g);
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<div class=\"scroll\"><table><tr><th>at</th><th>layer</th><th>tensor</th>\
         <th>status</th><th>max relative error</th><th>kinks</th></tr>"
    );
    for r in rows {
        let _ = write!(h, "<tr>");
        for cell in r {
            let _ = write!(h, "<td>{}</td>", esc(&cell));
        }
        let _ = write!(h, "</tr>");
    }
    let _ = writeln!(
        h,
        "</table></div>\n<p class=\"meta\">Every comparison: <a href=\"gradcheck.csv\">gradcheck.csv</a></p>"
    );
}

/// Escaped text whose words never break inside: a browser breaks lines
/// after a hyphen, so in a narrow table "poor-initialization" or
/// "0.8780" would be torn in two; each word is kept whole in a
/// `<span class="w">` and lines break only at spaces (the table scrolls
/// sideways when it needs the room).
fn words(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.is_empty() {
                String::new()
            } else {
                format!("<span class=\"w\">{}</span>", esc(w))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn fixes(h: &mut String, s: &Summary) {
    if s.fixes.is_empty() {
        return;
    }
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), crate::numfmt::short);
    let _ = writeln!(
        h,
        "<h2>Verified fixes</h2>\n<p>Each candidate was trained for the same {} steps; nothing was \
         applied to your config. Losses are compared only within one loss function.</p>",
        s.fixes[0].steps
    );
    let _ = write!(
        h,
        "<div class=\"scroll\"><table class=\"fixes\"><tr><th>candidate</th><th>changes</th>\
         <th>outcome</th><th>loss</th><th>test accuracy</th><th>config</th></tr>"
    );
    for f in &s.fixes {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{} → {}</td><td>{}</td></tr>",
            words(&f.name),
            words(&f.changes.join("; ")),
            words(&names::fix_outcome(f)),
            esc(&names::fix_loss(f, "→")),
            show(f.test_accuracy_before),
            show(f.test_accuracy_after),
            link(&f.config)
        );
    }
    let _ = writeln!(h, "</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn page_has_no_script_and_no_remote_reference() {
        let page = render(&crate::report::summary::tests::example());
        assert!(!page.contains("<script"), "scripts are not allowed");
        for remote in ["http://", "https://", "//cdn", "@import"] {
            assert!(!page.contains(remote), "{remote} in page");
        }
        assert!(page.contains("name=\"viewport\""));
        for (file, _) in PLOTS {
            assert!(page.contains(&format!("src=\"{file}\"")), "{file}");
        }
    }

    /// Truth: the page's CSS, where `td.num` never wraps. A text value (a
    /// severity reason) in a no-wrap cell widened the evidence table past a
    /// phone's width and pushed every number out of view; text must wrap.
    #[test]
    fn only_numeric_evidence_is_laid_out_as_a_number() {
        let mut s = crate::report::summary::tests::example();
        let d = &mut s.diagnoses[0];
        d.evidence
            .insert("severity_reason".into(), "error: training was hurt".into());
        d.evidence.insert("ratio".into(), 0.25.into());
        let page = render(&s);
        assert!(page.contains("<td>error: training was hurt</td>"), "{page}");
        assert!(page.contains("<td class=\"num\">0.2500</td>"), "{page}");
    }
}

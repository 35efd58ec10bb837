//! The `nn-doctor` binary: parses arguments, runs a command, maps the result
//! to an exit code (0 healthy, 1 a diagnosis reached --fail-on, 2 invalid
//! input or an I/O error, 130 interrupted by SIGINT/SIGTERM), like ripgrep's
//! match / no match / error.
//!
//! Everything a command prints on stdout is collected and written once at the
//! end, so a closed pipe (`| head -1`) or a full disk is one error handled
//! here instead of a panic inside `println!`.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nn_doctor::assess::FailOn;
use nn_doctor::commands::diagnose::DiagnoseOptions;
use nn_doctor::commands::{self, check::CheckOptions, gradcheck::GradcheckOptions};
use nn_doctor::config::CheckPoint;
use nn_doctor::engine::flaw::Flaw;
use nn_doctor::gradcheck::{catalogue, output::text_table};
use nn_doctor::report::text;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Finds out why a neural network does not train.
#[derive(Debug, Parser)]
#[command(name = "nn-doctor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Refuse a run whose estimated memory exceeds this many bytes (suffixes
    /// K, M, G, T; default: the memory the system reports available).
    #[arg(long, global = true, value_parser = parse_bytes)]
    max_memory: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the network a config describes, watch every layer at every step,
    /// and write a diagnosed report (CSV, PNG plots, report.md, summary.json).
    Check {
        /// The TOML config file.
        config: PathBuf,
        /// Report directory (default: [report] dir, else reports/<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Train for this many steps instead of the config's steps/epochs.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        steps: Option<u64>,
        /// Exit 1 when a diagnosis of at least this severity is made.
        #[arg(long, value_enum, default_value = "error")]
        fail_on: FailOnArg,
        #[command(flatten)]
        output: Output,
        /// Test hook: reproduce a catalogue backprop mistake, CODE@LAYER.
        #[arg(long, hide = true, value_parser = parse_flaw)]
        inject_bug: Option<Flaw>,
        /// When unhealthy, derive candidate fixes from the suggestions and
        /// verify each with a short training run (nothing is applied).
        #[arg(long)]
        try_fixes: bool,
        /// Skip the gradient checks (same as `[gradcheck] at = []`).
        #[arg(long)]
        no_gradcheck: bool,
        /// Train with this seed instead of the config's `seed` (data
        /// generation, initialisation and batch order all follow it).
        #[arg(long)]
        seed: Option<u64>,
        /// End training once every error diagnosis is certain (its rule has
        /// fired and held); the full report is still written.
        #[arg(long)]
        stop_when_diagnosed: bool,
        /// Threads for the matrix products (default: the machine's CPUs).
        /// Results are bit-identical for every count.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        threads: Option<u64>,
    },
    /// Check the engine's gradients against finite differences, tensor by
    /// tensor, and name the known backprop mistake a wrong one matches.
    Gradcheck {
        /// The TOML config file.
        config: PathBuf,
        /// Check points (repeatable): init, end, or a step number
        /// (default: [gradcheck] at, else init and end).
        #[arg(long, value_parser = parse_point)]
        at: Vec<CheckPoint>,
        /// Also write a JUnit XML file (one test case per checked tensor).
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Where gradcheck.csv goes (default: [report] dir, else reports/<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
        /// Test hook: reproduce a catalogue backprop mistake, CODE@LAYER.
        #[arg(long, hide = true, value_parser = parse_flaw)]
        inject_bug: Option<Flaw>,
    },
    /// Diagnose a recorded run directory (from `check` or any trainer that
    /// writes the run format, e.g. python/nn_doctor_torch.py) and write the
    /// same report `check` writes.
    Diagnose {
        /// The run directory (summary.json, metrics.csv, loss.csv).
        dir: PathBuf,
        /// Report directory (default: reports/<name>); not the run directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit 1 when a diagnosis of at least this severity is made.
        #[arg(long, value_enum, default_value = "error")]
        fail_on: FailOnArg,
        #[command(flatten)]
        output: Output,
    },
    /// Re-render report.md and the plots of a diagnosed run from its
    /// summary.json and CSVs (nothing is re-run or re-judged).
    Report {
        /// The report directory of a `check` or `diagnose` run.
        dir: PathBuf,
        /// Write report.md and the PNGs here instead of into DIR.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Compare two diagnosed runs (e.g. before and after a fix): final
    /// metrics, diagnoses cleared / still present / introduced, overlay
    /// plots; exit 1 when B is worse (an error A did not have).
    Compare {
        /// The run before (a report directory of `check` or `diagnose`).
        a: PathBuf,
        /// The run after.
        b: PathBuf,
        /// Write overlay plots (loss.png, gradient_norms.png) here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Explain a diagnosis code (or list all codes).
    Explain {
        /// A code such as saturated-activations.
        code: Option<String>,
        /// Print every code as the Markdown page docs/diagnoses.md.
        #[arg(long, conflicts_with = "code")]
        markdown: bool,
    },
    /// Verify one training step dumped by another implementation (a trace
    /// directory with trace.toml) and name the first divergent tensor.
    VerifyTrace {
        /// The trace directory (holding trace.toml).
        dir: PathBuf,
        #[command(flatten)]
        output: Output,
        /// Also write a JUnit XML file (one test case per compared tensor).
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Write a commented starter config.
    Init {
        /// Where to write it.
        #[arg(default_value = "nn-doctor.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FailOnArg {
    Error,
    Warning,
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(f: FailOnArg) -> FailOn {
        match f {
            FailOnArg::Error => FailOn::Error,
            FailOnArg::Warning => FailOn::Warning,
            FailOnArg::Never => FailOn::Never,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// The output flags every command that prints a result takes, with one
/// meaning: `--format json` prints the result as JSON (whatever `--quiet`
/// says: a script asked for it), `--quiet` drops the text result and the
/// terminal progress; the files are written either way.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Output {
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// No text result and no progress on the terminal (files are still written).
    #[arg(long, short)]
    quiet: bool,
}

impl Output {
    /// Appends the result to what main prints: what `json` makes for
    /// `--format json`, else the text `render` makes unless `--quiet`; only
    /// the one asked for is built.
    fn print(
        self,
        printed: &mut String,
        json: impl FnOnce() -> anyhow::Result<String>,
        render: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        match (self.format, self.quiet) {
            (Format::Json, _) => {
                printed.push_str(&json()?);
                printed.push('\n');
            }
            (Format::Text, false) => printed.push_str(&render()),
            (Format::Text, true) => {}
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = nn_doctor::interrupt::install() {
        warn(&format!("cannot install the Ctrl-C handler: {e}"));
    }
    nn_doctor::limits::set_memory_limit(cli.max_memory);
    let mut printed = String::new();
    // `check` says in its own summary whether training was interrupted; a
    // signal that came after the report was complete did not cut it short.
    let says_interrupted = matches!(cli.command, Command::Check { .. });
    let code = match run(cli, &mut printed) {
        Ok(code) => code,
        Err(e) => {
            // Library errors already carry file, line/key and cause in their own
            // message; printing the source chain too would repeat it.
            warn(&format!("error: {e}"));
            2
        }
    };
    // An interrupted command still printed its (partial) result above.
    let code = if nn_doctor::interrupt::requested() && !says_interrupted {
        nn_doctor::interrupt::EXIT_INTERRUPTED
    } else {
        code
    };
    ExitCode::from(write_stdout(&printed, code))
}

/// Writes the collected stdout. A closed pipe (`| head -1`) is not an error:
/// the reader wanted no more, and the report files are already complete, so
/// the command's own code stands. Any other write error (a full disk) is
/// reported on stderr with exit code 2.
fn write_stdout(text: &str, code: u8) -> u8 {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            warn(&format!("error: cannot write to standard output: {e}"));
            2
        }
    }
}

/// A message on stderr; a closed stderr is ignored (nowhere left to report).
fn warn(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "nn-doctor: {message}");
}

fn run(cli: Cli, printed: &mut String) -> anyhow::Result<u8> {
    use std::fmt::Write;
    match cli.command {
        Command::Check {
            config,
            out,
            steps,
            fail_on,
            output,
            inject_bug,
            try_fixes,
            no_gradcheck,
            seed,
            stop_when_diagnosed,
            threads,
        } => {
            if let Some(t) = threads {
                nn_doctor::engine::kernels::threads::set_threads(usize::try_from(t).unwrap_or(1));
            }
            let steps = steps.map(|s| usize::try_from(s).unwrap_or(usize::MAX));
            let terminal = !output.quiet && std::io::stderr().is_terminal();
            let opts = CheckOptions {
                config,
                out,
                steps,
                fail_on: fail_on.into(),
                flaw: inject_bug,
                try_fixes,
                no_gradcheck,
                gradcheck_notify: terminal.then_some(notify as fn(&str)),
                seed,
                stop_when_diagnosed,
            };
            let bar = terminal.then(progress_bar);
            if let Some(b) = &bar {
                let _ = BAR.set(b.clone());
            }
            let started = std::time::Instant::now();
            let mut eta = nn_doctor::progress::Eta::new();
            let mut progress = |step: usize, total: usize, loss: Option<f64>| {
                if let Some(b) = &bar {
                    b.set_length(total as u64);
                    b.set_position(step as u64);
                    b.set_message(nn_doctor::progress::message(
                        &mut eta,
                        step,
                        total,
                        started.elapsed(),
                        loss,
                    ));
                }
            };
            let result = commands::check::run(&opts, &mut progress);
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            let done = result?;
            output.print(
                printed,
                || Ok(done.summary.to_json()?),
                || {
                    text::render(
                        &done.summary,
                        "check",
                        &done.report_dir.display().to_string(),
                    )
                },
            )?;
            if done.summary.interrupted {
                return Ok(nn_doctor::interrupt::EXIT_INTERRUPTED);
            }
            Ok(u8::try_from(done.summary.exit_code).unwrap_or(1))
        }
        Command::Diagnose {
            dir,
            out,
            fail_on,
            output,
        } => {
            let opts = DiagnoseOptions {
                dir,
                out,
                fail_on: fail_on.into(),
            };
            let done = commands::diagnose::run(&opts)?;
            output.print(
                printed,
                || Ok(done.summary.to_json()?),
                || {
                    text::render(
                        &done.summary,
                        "diagnose",
                        &done.report_dir.display().to_string(),
                    )
                },
            )?;
            Ok(u8::try_from(done.summary.exit_code).unwrap_or(1))
        }
        Command::Report { dir, out, output } => {
            let md = commands::report::run(&dir, out.as_deref())?;
            let json = || Ok(serde_json::json!({ "report": md.display().to_string() }).to_string());
            output.print(printed, json, || format!("report: {}\n", md.display()))?;
            Ok(0)
        }
        Command::Compare { a, b, out, output } => {
            let c = commands::compare::compare(&a, &b, out.as_deref())?;
            output.print(
                printed,
                || Ok(serde_json::to_string_pretty(&c)?),
                || commands::compare::render(&c),
            )?;
            Ok(u8::from(c.worse))
        }
        Command::Gradcheck {
            config,
            at,
            junit,
            out,
            output,
            inject_bug,
        } => {
            let opts = GradcheckOptions {
                config,
                at: (!at.is_empty()).then_some(at),
                out,
                junit,
                flaw: inject_bug,
                notify: (!output.quiet && std::io::stderr().is_terminal())
                    .then_some(notify as fn(&str)),
            };
            let done = commands::gradcheck::run(&opts)?;
            output.print(
                printed,
                || Ok(serde_json::to_string_pretty(&done.report)?),
                || format!("{}rows: {}\n", text_table(&done.report), done.csv.display()),
            )?;
            // Only a pass exits 0: an inconclusive check proved nothing.
            Ok(u8::from(!done.report.passed))
        }
        Command::Explain { code, markdown } => {
            printed.push_str(&commands::explain::run(code.as_deref(), markdown)?);
            Ok(0)
        }
        Command::VerifyTrace { dir, output, junit } => {
            let report = commands::verify_trace::run(&dir, junit.as_deref())?;
            output.print(
                printed,
                || Ok(serde_json::to_string_pretty(&report)?),
                || nn_doctor::trace::render(&report),
            )?;
            Ok(u8::from(
                report.verdict == nn_doctor::trace::Verdict::Mismatch,
            ))
        }
        Command::Init { path, force } => {
            write!(printed, "{}", commands::init::run(&path, force)?)?;
            Ok(0)
        }
    }
}

/// The training progress bar, so gradient-check messages print above it.
static BAR: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();

/// Terminal progress of the gradient checks (stderr, above the bar).
fn notify(message: &str) {
    match BAR.get() {
        Some(bar) => bar.println(message),
        None => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{message}");
        }
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        // Time left comes from nn_doctor::progress (a running average),
        // not indicatif's {eta}, which read "5m" on an 11-second run.
        "{spinner} training [{bar:40}] {pos}/{len} steps ({per_sec}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A byte count with an optional K/M/G/T suffix (powers of 1024).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("expected a size such as 2G or 500M, found {s:?}")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("expected a size such as 2G or 500M, found {s:?}"))
}

/// "init", "end" or a step number.
fn parse_point(s: &str) -> Result<CheckPoint, String> {
    match s {
        "init" => Ok(CheckPoint::Init),
        "end" => Ok(CheckPoint::End),
        _ => match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(CheckPoint::Step(n)),
            _ => Err(format!(
                "expected init, end or a step number >= 1, found {s:?}"
            )),
        },
    }
}

/// "CODE@LAYER" with a catalogue code and a 1-based layer.
fn parse_flaw(s: &str) -> Result<Flaw, String> {
    let (code, layer) = s
        .split_once('@')
        .ok_or_else(|| format!("expected CODE@LAYER, found {s:?}"))?;
    let entry = catalogue::entry(code).ok_or_else(|| {
        let codes: Vec<&str> = catalogue::CATALOGUE.iter().map(|e| e.code).collect();
        format!(
            "unknown catalogue code {code:?}; expected one of {}",
            codes.join(", ")
        )
    })?;
    let layer = layer
        .parse::<usize>()
        .ok()
        .filter(|&l| l >= 1)
        .ok_or_else(|| format!("expected a layer number >= 1, found {layer:?}"))?;
    Ok(Flaw {
        kind: entry.kind,
        layer,
    })
}

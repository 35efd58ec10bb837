//! A stable-toolchain fuzz harness: a seeded mutator over a seed corpus per
//! reader, each input run under `catch_unwind`. Shared by the `fuzz` example
//! (the long documented run) and `tests/fuzz_smoke.rs` (a few seconds in CI).
//!
//! A target "crashes" when it panics; returning an error is the expected
//! outcome for most mutated inputs. Crashers are written to `fuzz/crashes/`
//! and each one found so far is kept as a regression test.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// One reader under test.
pub struct Target {
    pub name: &'static str,
    /// Valid (or nearly valid) inputs to mutate.
    pub seeds: Vec<Vec<u8>>,
    /// Words a text format is made of, inserted by the mutator.
    pub tokens: &'static [&'static str],
    /// Runs one input; true when the reader accepted it.
    pub run: fn(&Scratch, &[u8]) -> bool,
}

/// A private directory for targets that read files.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        // Memory-backed when the system has it: one file write per input.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "nn-doctor-fuzz-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::create_dir_all(&dir);
        Scratch { dir }
    }

    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.join(name);
        let _ = std::fs::write(&p, bytes);
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one target's run found.
pub struct Outcome {
    pub name: &'static str,
    pub execs: u64,
    /// Inputs the reader accepted (the rest were refused with an error).
    pub accepted: u64,
    pub crashes: Vec<Vec<u8>>,
}

const TEXT_TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.0",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "99999999999999999999",
    "18446744073709551615",
    "4294967296",
    ",",
    "\n",
    "\r\n",
    "\"",
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ".",
    "..",
    "/",
    " ",
    "\t",
    "\0",
    "\u{feff}",
    "é",
];

const CONFIG_TOKENS: &[&str] = &[
    "units = ",
    "steps = ",
    "epochs = ",
    "batch_size = ",
    "directions = ",
    "every = ",
    "train_limit = ",
    "at = [",
    "\"end\"",
    "\"init\"",
    "name = \"../x\"",
    "[[model.layers]]\n",
    "activation = \"softmax\"\n",
    "[thresholds]\n",
    "[gradcheck]\n",
    "[monitor]\n",
    "0",
    "1",
    "-1",
    "1e20",
    "100000000",
    "18446744073709551615",
    "0.0",
    "nan",
    "inf",
    "\n",
    "=",
    "\"",
];

const TRACE_TOKENS: &[&str] = &[
    "[[layers]]\n",
    "activation = \"softmax\"\n",
    "loss = \"mse\"\n",
    "weight_layout = \"in_out\"\n",
    "mse_half = false\n",
    "weight = \"w.npy\"\n",
    "\"../../etc/passwd\"",
    "\"/dev/zero\"",
    "0",
    "-1",
    "1e308",
    "\n",
    "=",
    "\"",
    "[",
    "]",
];

/// Runs `execs` inputs of one target (the seeds first, then mutants) from
/// `seed`; the same seed gives the same inputs.
pub fn run_target(target: &Target, execs: u64, seed: u64, scratch: &Scratch) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ hash(target.name));
    let mut out = Outcome {
        name: target.name,
        execs: 0,
        accepted: 0,
        crashes: Vec::new(),
    };
    let mut input = Vec::new();
    for i in 0..execs {
        input.clear();
        let base = &target.seeds[rng.random_range(0..target.seeds.len())];
        input.extend_from_slice(base);
        // The first pass over the corpus runs the seeds unchanged.
        if i >= target.seeds.len() as u64 {
            let n = 1 + rng.random_range(0..4);
            for _ in 0..n {
                mutate(&mut rng, &mut input, target);
            }
        }
        let r = catch_unwind(AssertUnwindSafe(|| (target.run)(scratch, &input)));
        out.execs += 1;
        match r {
            Err(_) => out.crashes.push(input.clone()),
            Ok(true) => out.accepted += 1,
            Ok(false) => {}
        }
    }
    out
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One random edit: bit flips, interesting integers, byte runs, splices
/// from other seeds and format tokens.
fn mutate(rng: &mut ChaCha8Rng, v: &mut Vec<u8>, target: &Target) {
    let len = v.len();
    let pos = |rng: &mut ChaCha8Rng, extra: usize| rng.random_range(0..len + extra);
    match rng.random_range(0..10) {
        8 if len > 0 => replace_number(rng, v),
        0 if len > 0 => {
            let i = pos(rng, 0);
            v[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = pos(rng, 0);
            v[i] = rng.random();
        }
        2 => {
            let i = pos(rng, 1);
            let n = rng.random_range(1..16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            v.splice(i..i, bytes);
        }
        3 if len > 0 => {
            let i = pos(rng, 0);
            let n = rng.random_range(1..=(len - i).min(64));
            v.drain(i..i + n);
        }
        4 if len >= 4 => {
            // An interesting big-endian or little-endian u32 (sizes, lengths).
            let i = rng.random_range(0..=len - 4);
            let vals = [
                0u32,
                1,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0x0100_0000,
                60_000,
            ];
            let x = vals[rng.random_range(0..vals.len())];
            let b = if rng.random() {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            };
            v[i..i + 4].copy_from_slice(&b);
        }
        5 if len > 0 => {
            // Duplicate a chunk (grows rows, repeats keys).
            let i = pos(rng, 0);
            let n = rng.random_range(1..=(len - i).min(256));
            let chunk = v[i..i + n].to_vec();
            let j = pos(rng, 1);
            v.splice(j..j, chunk);
        }
        6 => {
            let other = &target.seeds[rng.random_range(0..target.seeds.len())];
            if !other.is_empty() {
                let a = rng.random_range(0..other.len());
                let b = rng.random_range(a..=other.len());
                let i = pos(rng, 1);
                v.splice(i..i, other[a..b].iter().copied());
            }
        }
        7 if len > 0 => {
            v.truncate(pos(rng, 0));
        }
        _ => {
            let tokens = if target.tokens.is_empty() {
                TEXT_TOKENS
            } else {
                target.tokens
            };
            let t = tokens[rng.random_range(0..tokens.len())];
            let i = pos(rng, 1);
            v.splice(i..i, t.bytes());
        }
    }
    v.truncate(1 << 20);
}

/// Sizes that overflow a product, a u32, an i64 or a usize.
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999",
];

/// Replaces one run of ASCII digits (a size, a count, a dimension) with an
/// interesting number: text formats hide their sizes in decimal.
fn replace_number(rng: &mut ChaCha8Rng, v: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..v.len())
        .filter(|&i| v[i].is_ascii_digit() && (i == 0 || !v[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let a = starts[rng.random_range(0..starts.len())];
    let b = (a..v.len())
        .find(|&i| !v[i].is_ascii_digit())
        .unwrap_or(v.len());
    let n = INTERESTING_NUMBERS[rng.random_range(0..INTERESTING_NUMBERS.len())];
    v.splice(a..b, n.bytes());
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let f = if fortran { "True" } else { "False" };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {f}, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

fn repo(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap_or_default()
}

/// The six readers of issue 11, with their seed corpora.
pub fn targets() -> Vec<Target> {
    let images = {
        let mut b = vec![0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2];
        b.extend((0..12).map(|i| (i * 20) as u8));
        b
    };
    let labels = vec![0, 0, 0x08, 1, 0, 0, 0, 3, 0, 1, 2];
    let floats = {
        let mut b = vec![0, 0, 0x0D, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        for x in [1.0f32, -2.5, 0.0, 3.25] {
            b.extend_from_slice(&x.to_be_bytes());
        }
        b
    };
    let f8: Vec<u8> = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f4: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut trace_tomls = Vec::new();
    let mut configs = Vec::new();
    for dir in ["fixtures/traces", "fixtures/configs", "fixtures/scenarios"] {
        let Ok(entries) = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.join("trace.toml").is_file() {
                trace_tomls.push(std::fs::read(p.join("trace.toml")).unwrap_or_default());
            } else if p.extension().is_some_and(|e| e == "toml") {
                configs.push(std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    configs.truncate(12);
    configs.push(repo("src/config/starter.rs"));
    vec![
        Target {
            name: "idx",
            seeds: vec![
                images.clone(),
                gzip(&images),
                labels.clone(),
                gzip(&labels),
                floats,
            ],
            tokens: &[],
            run: |_, b| nn_doctor::data::idx::parse_idx(Path::new("fuzz.idx"), b).is_ok(),
        },
        Target {
            name: "npy",
            seeds: vec![
                npy("<f8", false, "(2, 3)", &f8),
                npy("<f8", true, "(3, 2)", &f8),
                npy("<f4", false, "(2,)", &f4),
                npy("<i8", false, "(6,)", &f8),
            ],
            tokens: &[
                "(",
                ")",
                ",",
                "2",
                "0",
                "18446744073709551615",
                "4294967296",
                "True",
                "'<f8'",
                "'>f8'",
            ],
            run: |_, b| nn_doctor::trace::npy::parse(Path::new("fuzz.npy"), b).is_ok(),
        },
        Target {
            name: "trace-csv",
            seeds: vec![
                b"1,2,3\n4,5,6\n".to_vec(),
                b"0.5\n-1e-3\nnan\ninf\n".to_vec(),
                b"1, 2\r\n3, 4\r\n".to_vec(),
            ],
            tokens: TEXT_TOKENS,
            run: |_, b| nn_doctor::trace::csvtext::parse(Path::new("fuzz.csv"), b).is_ok(),
        },
        Target {
            name: "trace-toml",
            seeds: trace_tomls,
            tokens: TRACE_TOKENS,
            run: |_, b| {
                let text = String::from_utf8_lossy(b);
                nn_doctor::trace::spec::TraceSpec::parse(Path::new("trace.toml"), &text).is_ok()
            },
        },
        Target {
            name: "config-toml",
            seeds: configs,
            tokens: CONFIG_TOKENS,
            run: |_, b| {
                let text = String::from_utf8_lossy(b);
                nn_doctor::config::parse(Path::new("fuzz.toml"), &text).is_ok()
            },
        },
        Target {
            name: "data-csv",
            seeds: vec![
                b"x,y,label\n1,2,0\n3,4,1\n5,6,2\n".to_vec(),
                b"a,b,cls\n0.5,nan,cat\n1,inf,dog\n".to_vec(),
                b"label,f\n1,0.25\n0,-3e2\n".to_vec(),
            ],
            tokens: TEXT_TOKENS,
            run: |s, b| {
                let p = s.file("fuzz.csv", b);
                let cfg = nn_doctor::data::spec::DataConfig {
                    spec: nn_doctor::data::spec::DataSpec::Csv {
                        train: p,
                        test: None,
                        label_column: None,
                        target_columns: None,
                    },
                    scale: nn_doctor::data::spec::Scale::Standardize,
                    train_limit: None,
                    task: nn_doctor::data::spec::Task::Classification,
                    scale_targets: nn_doctor::data::spec::TargetScale::None,
                    input_shape: None,
                };
                nn_doctor::data::load(&cfg, 0).is_ok()
            },
        },
    ]
}

/// Silences the default panic message while fuzzing (a crasher is
/// reported once, with its input, by the caller).
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

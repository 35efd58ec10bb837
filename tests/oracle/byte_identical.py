#!/usr/bin/env python3
"""Byte-identity oracle for refactors that must not change behaviour (issue 13, stage 1).

Runs `nn-doctor check` with a given binary on every fixture config
(fixtures/configs/*.toml, and fixtures/scenarios/*.toml with seeds 1 and 2 and
the scenario's own extra args from expected.toml, as tests/scenarios.rs does),
plus seed.toml with --try-fixes, and keeps every metrics.csv, loss.csv and
gradcheck.csv it wrote (fix runs included) under OUT/.

    # once, with main's binary:
    python3 tests/oracle/byte_identical.py record BINARY /work/wt/baseline13
    # after a change, with this build:
    python3 tests/oracle/byte_identical.py compare target/release/nn-doctor \
        /work/wt/baseline13 /tmp/candidate13

`compare` records into the candidate directory, then compares every file
byte for byte (as `cmp`) and lists each that differs or is missing; exit 1
if any does. Not part of `cargo test` (it needs a second binary and takes a
few minutes).
"""

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEEP = ("metrics.csv", "loss.csv", "gradcheck.csv")
SEEDS = (1, 2)


def runs():
    """(name, config path, extra args) of every run the oracle makes."""
    out = []
    for cfg in sorted((ROOT / "fixtures" / "configs").glob("*.toml")):
        out.append((f"configs/{cfg.stem}", cfg, []))
    out.append(("configs/seed-try-fixes", ROOT / "fixtures/configs/seed.toml", ["--try-fixes"]))
    expected = tomllib.loads((ROOT / "fixtures/scenarios/expected.toml").read_text())
    args = {s["config"]: s.get("args", []) for s in expected["scenario"]}
    for cfg in sorted((ROOT / "fixtures" / "scenarios").glob("*.toml")):
        if cfg.name == "expected.toml":
            continue
        for seed in SEEDS:
            extra = ["--seed", str(seed)] + args.get(cfg.name, [])
            out.append((f"scenarios/{cfg.stem}-seed{seed}", cfg, extra))
    return out


def record(binary, dest):
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    for name, cfg, extra in runs():
        with tempfile.TemporaryDirectory() as tmp:
            rep = Path(tmp) / "rep"
            cmd = [binary, "check", str(cfg), "--out", str(rep), "--quiet", "--fail-on", "never"]
            p = subprocess.run(cmd + extra, cwd=ROOT, capture_output=True, text=True)
            target = dest / name
            target.mkdir(parents=True, exist_ok=True)
            (target / "exit_code").write_text(f"{p.returncode}\n")
            for path in sorted(rep.rglob("*")):
                if path.name in KEEP:
                    rel = path.relative_to(rep)
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target / rel)
            print(f"{name}: exit {p.returncode}", flush=True)


def compare(base, cand):
    base, cand = Path(base), Path(cand)
    bad = 0
    files = 0
    names = {p.relative_to(base) for p in base.rglob("*") if p.is_file()}
    names |= {p.relative_to(cand) for p in cand.rglob("*") if p.is_file()}
    for rel in sorted(names):
        a, b = base / rel, cand / rel
        files += 1
        if not a.exists() or not b.exists():
            print(f"MISSING {rel} (baseline {a.exists()}, candidate {b.exists()})")
            bad += 1
        elif not filecmp.cmp(a, b, shallow=False):
            print(f"DIFFERS {rel}")
            bad += 1
    print(f"{files} files compared, {bad} differ or are missing")
    return 1 if bad else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        record(os.path.abspath(sys.argv[2]), sys.argv[3])
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "compare":
        record(os.path.abspath(sys.argv[2]), sys.argv[4])
        return compare(sys.argv[3], sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

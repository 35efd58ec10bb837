"""Contenders interleaved in rounds, one persistent process each, rounds
disturbed by other processes discarded (quiet.py), median ratios to
PyTorch's plain loop.

    python3 bench/interleave.py                                  # PyTorch plain/hooks/recorder, NumPy
    python3 bench/interleave.py --nn-doctor                      # and nn-doctor plain + instrumented
    python3 bench/interleave.py --contender "nn-doctor=CMD ..."  # add any worker speaking worker.py's protocol
    ROUNDS=5 SAMPLES=25600 MAX_SECONDS=300 python3 bench/interleave.py --shapes seed-f32-b64
    python3 bench/interleave.py --shapes cnn-f32-b64 --only pytorch,pytorch+hooks --nn-doctor   # the MNIST CNN

Every contender trains the same number of samples per round (SAMPLES,
rounded up to whole batches) of each shape in worker.py's SHAPES (the seed
network 784-1000-10 sigmoid/softmax/MSE at f32 b32, b64, b256 and f64 b64,
and the deep 784-256x4-10 ReLU net at f32 b64). The order rotates from round
to round. A round counts only when, during each contender's turn, the
processes other than that contender used at most NN_DOCTOR_BENCH_MAX_LOAD
cores (default 0.1): /proc/stat's busy time minus the contender's own
/proc/PID/stat time. Per shape it prints the median samples/s of each
contender and the median over clean rounds of its rate relative to PyTorch
plain in the same round (and, when NumPy runs, relative to NumPy in the same
round), and how many rounds were discarded. A shape with no
clean round within MAX_SECONDS says so and prints nothing as a result.
"""
import argparse
import os
import shlex
import subprocess
import sys
import time

import quiet
from worker import SHAPES

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = {
    "pytorch": "torch",
    "pytorch+hooks": "torch-hooks",
    "pytorch+nn_doctor_torch": "torch-recorder",
    "numpy": "numpy",
}


class Contender:
    def __init__(self, name, argv):
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)

    def run(self, shape, samples):
        self.proc.stdin.write(f"{shape} {samples}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker ended (exit {self.proc.poll()})")
        seconds, steps = line.split()
        return float(seconds), int(steps)

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)


def peer_worker():
    """The built benches/peer_worker.rs executable (cargo prints its path)."""
    import json
    out = subprocess.run(["cargo", "bench", "--bench", "peer_worker", "--no-run", "--message-format=json"],
                         cwd=os.path.dirname(HERE), capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "peer_worker" \
                and msg.get("executable"):
            return msg["executable"]
    raise SystemExit("interleave.py: cargo did not report the peer_worker executable")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default=",".join(k for k in SHAPES if not k.startswith("cnn")),
                    help="comma-separated, from worker.py's SHAPES (cnn-f32-b64 only on request, "
                         "with --only pytorch,pytorch+hooks)")
    ap.add_argument("--contender", action="append", default=[], metavar="NAME=COMMAND",
                    help="another worker speaking worker.py's protocol (e.g. an nn-doctor bench binary)")
    ap.add_argument("--nn-doctor", action="store_true",
                    help="add nn-doctor plain and instrumented (builds benches/peer_worker.rs with cargo)")
    ap.add_argument("--only", help="comma-separated subset of the default contenders")
    args = ap.parse_args()
    rounds = int(os.environ.get("ROUNDS", "5"))
    samples = int(os.environ.get("SAMPLES", "25600"))
    budget = float(os.environ.get("MAX_SECONDS", "600"))
    chosen = {k: v for k, v in DEFAULT.items() if not args.only or k in args.only.split(",")}
    argvs = {k: [sys.executable, os.path.join(HERE, "worker.py"), v] for k, v in chosen.items()}
    for c in args.contender:
        name, _, cmd = c.partition("=")
        argvs[name] = shlex.split(cmd)
    if args.nn_doctor:
        exe = peer_worker()
        argvs["nn-doctor"] = [exe, "plain"]
        argvs["nn-doctor+recorders"] = [exe, "instrumented"]
    contenders = [Contender(k, v) for k, v in argvs.items()]
    base = "pytorch" if "pytorch" in argvs else contenders[0].name
    print(f"{len(contenders)} contenders, {samples} samples per turn, up to {rounds} clean rounds per shape, "
          f"rounds discarded when other processes used > {quiet.THRESHOLD_CORES} core; ratios to {base}")
    try:
        for shape in args.shapes.split(","):
            for c in contenders:  # build and warm up outside the timed rounds
                c.run(shape, SHAPES[shape][3] * 20)
            by_name = {c.name: c for c in contenders}

            def turn(name):
                seconds, steps = by_name[name].run(shape, samples)
                return steps * SHAPES[shape][3] / seconds

            kept, disturbed = quiet.rounds(list(by_name), turn, rounds, budget,
                                           pid=lambda name: by_name[name].proc.pid)
            clean, loads, discarded = [g for _, g in kept], [w for w, _ in kept], len(disturbed)
            print(f"{shape}: {len(clean)} clean rounds, {discarded} discarded"
                  + (f", other processes <= {max(loads):.2f} core in kept rounds" if loads else ""))
            if not clean:
                print("  no clean round within MAX_SECONDS: no result for this shape (inconclusive)")
                continue
            for c in contenders:
                rate = quiet.median(g[c.name] for g in clean)
                ratio = quiet.median(g[c.name] / g[base] for g in clean)
                line = f"  {c.name:<26} {rate:9.0f} samples/s  {ratio:5.2f}x {base}"
                if "numpy" in by_name and base != "numpy":
                    # The second yardstick, paired within each round
                    # like the first (not a ratio of the two medians above).
                    line += f"  {quiet.median(g[c.name] / g['numpy'] for g in clean):5.2f}x numpy"
                print(line)
    finally:
        for c in contenders:
            c.close()


if __name__ == "__main__":
    main()

"""nn_doctor_gradcheck against torch.autograd.gradcheck (exact and fast
mode) on the same functions: wall time, verdict, and whether the wrong
tensor and element are located. A peer for humans, not a test.

    python3 bench/gradcheck_torch.py                     # everything (exact on the seed: budget)
    python3 bench/gradcheck_torch.py --exact-budget 0    # skip exact mode on the full seed network
    python3 bench/gradcheck_torch.py --only small        # the small custom Functions only

torch.autograd.gradcheck is called as the issue asks: eps=1e-6, atol=1e-5,
rtol=1e-3, fast_mode False (exact) and True. Every contender gets the same
float64 inputs. The small Functions are timed `--repeats` times (median);
the seed network once per contender (ours three times). torch's exact mode
on the full seed network (795,010 parameters, 1,590,020 forward calls) runs
in a child process with a time budget (`--exact-budget` seconds, default
1200): the child counts the forward calls, and when the budget runs out its
time is extrapolated from the measured calls per second (labelled so). The
seed network's bug rows run torch's exact mode on a 784-50-10 network of the
same construction (saturated, uniform [0, 1) weights), labelled so.

The Functions and bug forms are those of python/test_nn_doctor_gradcheck.py.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import test_nn_doctor_gradcheck as T  # noqa: E402
from nn_doctor_gradcheck import _arg_names, gradcheck  # noqa: E402

D = torch.float64
TORCH_KW = dict(eps=1e-6, atol=1e-5, rtol=1e-3)


# ------------------------------------------------------------ seed networks
class LinearSigmoidSignLost(T.LinearSigmoidFunction):
    @staticmethod
    def backward(ctx, grad_output):
        x, W, y = ctx.saved_tensors
        dz = grad_output * y * (y - 1)                 # (1 - y) written as (y - 1)
        return dz @ W, dz.T @ x, dz.sum(0)


class SeedCustom(nn.Module):
    """The seed network built from custom Functions: a fused linear+sigmoid
    hidden layer (the Function under test), a linear output layer, softmax,
    MSE. Weights uniform [0, 1), biases 0, as the seed case."""

    def __init__(self, hidden_fn, width=1000):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.w1 = nn.Parameter(torch.rand(width, 784, generator=g, dtype=D))
        self.b1 = nn.Parameter(torch.zeros(width, dtype=D))
        self.w2 = nn.Parameter(torch.rand(10, width, generator=g, dtype=D))
        self.b2 = nn.Parameter(torch.zeros(10, dtype=D))
        self.hidden_fn = hidden_fn

    def forward(self, x, target):
        a = self.hidden_fn.apply(x, self.w1, self.b1)
        y = torch.softmax(T.LinearFunction.apply(a, self.w2, self.b2), dim=1)
        return F.mse_loss(y, target)


def seed_module():
    torch.manual_seed(0)
    return T.SeedNet(uniform=True).double()


def as_function(module, data):
    """The module as a function of its parameters (what torch's gradcheck
    needs to check parameters), and the parameters."""
    names = [n for n, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())

    def fn(*ps):
        return torch.func.functional_call(module, dict(zip(names, ps)), data)
    return fn, params, names


# ------------------------------------------------------------ contenders
def run_ours(fn, inputs):
    t0, c0 = time.perf_counter(), time.process_time()
    r = gradcheck(fn, inputs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    fw = r.first_wrong
    where = "-"
    if fw is not None:
        where = f"{fw['name']}[{','.join(map(str, fw['index']))}]"
        if fw["state"] == "probe":
            where += " at probe"
        where += f", {fw['pattern']['code']}" if fw["pattern"] else ", unnamed"
    verdict = r.status.upper()
    if r.counts["resolved_at_probe"]:
        verdict += f" ({r.counts['resolved_at_probe']} at probe)"
    return verdict, wall, cpu, where


def run_torch(fn, inputs, fast, names=None):
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        torch.autograd.gradcheck(fn, inputs, fast_mode=fast, **TORCH_KW)
        verdict, where = "PASS", "-"
    except RuntimeError as e:  # GradcheckError is a RuntimeError
        msg = str(e)
        verdict = "FAIL"
        where = "?"
        if "with respect to input" in msg:
            k = int(msg.split("with respect to input", 1)[1].split(",")[0].split()[0])
            where = f"input {k}" + (f" ({names[k]})" if names else "") + \
                (": a scalar, then both exact Jacobians printed, no element" if fast
                 else ": both Jacobians printed, no element")
        elif "Backward is not reentrant" in msg:
            where = "not reentrant"
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return verdict, wall, cpu, where


def timed(runner, repeats):
    """Median wall and CPU time of `repeats` runs; verdict of the first."""
    outs = [runner() for _ in range(repeats)]
    return (outs[0][0], statistics.median(o[1] for o in outs),
            statistics.median(o[2] for o in outs), outs[0][3])


def fmt_time(s):
    if s is None:
        return "-"
    if s >= 100:
        return f"{s:,.0f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.1f} ms"


# ------------------------------------------------------------ cases
SMALL = [
    ("linear", "correct"), ("linear+sigmoid", "correct"), ("softmax", "correct"),
    ("layer norm", "correct"), ("conv2d via unfold", "correct"),
    ("relu (exact zeros)", "correct"), ("max over dim (ties)", "correct"),
    ("transposed weight gradient", "bug"), ("bias summed over the wrong axis", "bug"),
    ("missing sigmoid'(z)", "bug"), ("softmax Jacobian summed over the wrong axis", "bug"),
    ("layer norm mean treated as constant", "bug"), ("conv weight reshaped, not transposed", "bug"),
    ("factor 2 missing in MSE", "bug"), ("leaky relu slope forgotten", "bug"),
]


def small_rows(repeats):
    rows = []
    for name, kind in SMALL:
        if kind == "correct":
            fn, make, _ = T.CORRECT[name]
        else:
            fn, make, _, _ = T.BUGS[name]
        inputs = make()
        names = _arg_names(fn, len(inputs))
        n = sum(x.numel() for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad)
        ours = timed(lambda: run_ours(fn, inputs), repeats)
        exact = timed(lambda: run_torch(fn, inputs, False, names), repeats)
        fast = timed(lambda: run_torch(fn, inputs, True, names), repeats)
        rows.append((f"{name} ({kind})", n, ours, exact, fast))
        print_row(rows[-1])
    return rows


SEED_CASES = {
    # case: (label, network factory taking the width)
    "module": ("seed 784-1000-10 (nn.Module, autograd, correct)", lambda w: seed_module()),
    "custom": ("seed from custom Functions, correct",
               lambda w: SeedCustom(T.LinearSigmoidFunction, w)),
    "sign-lost": ("seed from custom Functions, layer-1 sigmoid' sign lost",
                  lambda w: SeedCustom(LinearSigmoidSignLost, w)),
    "missing": ("seed from custom Functions, layer-1 sigmoid'(z) missing",
                lambda w: SeedCustom(T.LinearSigmoidMissingDerivative, w)),
}
FAST_CALLS = 10   # forward calls of torch's fast mode on four parameter tensors


def params_of(width):
    return 784 * width + width + 10 * width + 10


def seed_rows(budgets, repeats):
    rows = []
    x, t = T.seed_batch()
    for case, (label, make) in SEED_CASES.items():
        m = make(1000)
        ours = timed(lambda: run_ours(m, (x, t)), repeats)
        fast = torch_child(case, 1000, "fast", budgets["fast"])
        if case == "module":
            exact = torch_child(case, 1000, "exact", budgets["exact"])
        else:
            exact = torch_child(case, 50, "exact", budgets["small"])
            exact = (exact[0] + " (784-50-10)",) + exact[1:]
        rows.append((label, params_of(1000), ours, exact, fast))
        print_row(rows[-1])
    return rows


def torch_child(case, width, mode, budget):
    """torch.autograd.gradcheck on a seed network in a child process with a
    time budget; (verdict, wall, cpu, where), extrapolated when cut off."""
    if budget <= 0:
        return ("not run", None, None, "-")
    with tempfile.TemporaryDirectory() as d:
        progress = os.path.join(d, "progress")
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", case,
                                  str(width), mode, progress], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = child.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
        result = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        if result:
            _, verdict, wall, cpu, calls, where = result[-1].split(" ", 5)
            return (verdict, float(wall), float(cpu), where)
        try:
            with open(progress) as f:
                marks = [tuple(map(float, ln.split())) for ln in f if ln.strip()]
        except OSError:
            marks = []
        if not marks:
            return ("error", None, None, out.strip().splitlines()[-1] if out.strip() else "?")
        calls, elapsed = marks[-1]
        total = 2 * params_of(width)
        if mode == "exact":
            return (f"cut off after {elapsed:,.0f} s at {calls:,.0f} of {total:,} calls; "
                    "time extrapolated", elapsed * total / calls, None, "-")
        # fast mode: past its own calls it is recomputing the exact Jacobians
        # for the failure message; the verdict was decided when that began
        at = next((e for c, e in marks if c > FAST_CALLS), None)
        return ("FAIL", at, None,
                f"no element; its message (both exact Jacobians) was cut off after "
                f"{elapsed:,.0f} s at {calls:,.0f} of {total:,} calls: about "
                f"{elapsed * total / calls:,.0f} s extrapolated")


def child(case, width, mode, progress):
    x, t = T.seed_batch()
    fn, params, names = as_function(SEED_CASES[case][1](int(width)), (x, t))
    calls = [0]
    t0 = [None]

    def counted(*ps):
        calls[0] += 1
        c = calls[0]
        if c <= 100 or c % 1000 == 0:
            with open(progress, "a") as f:
                f.write(f"{c} {time.perf_counter() - t0[0]:.3f}\n")
        return fn(*ps)

    c0 = time.process_time()
    t0[0] = time.perf_counter()
    verdict, wall, cpu, where = run_torch(counted, params, mode == "fast", names)
    print(f"RESULT {verdict} {wall:.3f} {time.process_time() - c0:.3f} {calls[0]} {where}",
          flush=True)


# ------------------------------------------------------------ output
HEADER = ("| case | checked elements | nn_doctor_gradcheck | time | located | torch exact | time "
          "| located | torch fast | time | located |")


def print_row(r):
    name, n, ours, exact, fast = r
    cells = [name, f"{n:,}"]
    for verdict, wall, _cpu, where in (ours, exact, fast):
        cells += [verdict, fmt_time(wall), where]
    print("| " + " | ".join(cells) + " |", flush=True)


def load():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exact-budget", type=float, default=1200.0,
                    help="seconds for torch's exact mode on the full seed network (0: skip)")
    ap.add_argument("--fast-budget", type=float, default=120.0,
                    help="seconds for torch's fast mode on a full seed network")
    ap.add_argument("--small-budget", type=float, default=900.0,
                    help="seconds for torch's exact mode on the 784-50-10 network")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["small", "seed"])
    ap.add_argument("--child", nargs=4, metavar=("CASE", "WIDTH", "MODE", "PROGRESS"))
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load()} at start, {time.strftime('%Y-%m-%d %H:%M')}")
    print(HEADER)
    print("|" + "---|" * 11)
    if a.only in (None, "small"):
        small_rows(a.repeats)
    if a.only in (None, "seed"):
        seed_rows({"exact": a.exact_budget, "fast": a.fast_budget,
                   "small": a.small_budget}, 3)
    print(f"load average {load()} at the end")


if __name__ == "__main__":
    main()

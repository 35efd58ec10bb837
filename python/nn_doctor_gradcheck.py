"""nn-doctor's gradient check for PyTorch: custom autograd Functions and
nn.Modules, with the verdicts of `nn-doctor gradcheck` (pass, fail, or
inconclusive with the reason; never a pass without evidence).

    from nn_doctor_gradcheck import gradcheck
    report = gradcheck(MyLinear.apply, (x, w, b))      # or gradcheck(module, (x, t))
    print(report.text())
    report.to_json("gradcheck.json"); report.to_junit("gradcheck.xml")
    assert report.passed, report.first_wrong

What is compared (standard library and torch only; docs/pytorch-gradcheck.md):
- Everything runs in float64 on copies: the module is deep-copied and cast
  with .double(), floating inputs are cast, so the caller's objects (and the
  global RNG state) are left as they were. Checked tensors: the floating
  inputs with requires_grad, and for a module every parameter with
  requires_grad (or the names in `params`).
- The scalar is f = sum_k <U_k, y_k> over the floating outputs y_k, with
  fixed seeded Gaussian U_k (U = 1 for a one-element output such as a loss),
  so any output shape works. Analytic gradients come from ONE autograd
  backward of f (it runs the custom backward under test); numeric ones are
  central differences of f under torch.no_grad(). Every forward call sees
  the same RNG seed, so dropout keeps one mask.
- Per tensor: `samples_per_tensor` seeded random distinct elements plus the
  `largest` elements of largest |analytic|, and `directions` seeded unit
  Gaussian directions (the directional difference against dot(analytic, d));
  with two or more checked tensors, one direction over all of them
  ("network").
- The resolution rule of src/gradcheck/resolution.rs: floor = atol +
  100 eps_machine |L| / h with |L| = sum_k |U_k * y_k|; a row resolves when
  max(|analytic|, |numeric|) > 10 floor and it is not a kink; a resolved
  row passes when |a - n| <= floor + rtol max(|a|, |n|). A tensor fails when
  a resolved row fails, passes when at least one resolved and none failed,
  and is otherwise inconclusive with the reason (below-resolution,
  all-kinks, non-finite).
- Kinks are found numerically: the one-sided differences disagree beyond
  the tolerance. Such a row is perturbed around (base points x +- 7h, each
  with both one-sided pairs). When the one-sided jumps at x +- 7h equal the
  jump at x, the function is smooth and merely curved: the row is judged
  on its central difference. Otherwise it is a kink: it passes at the
  shifted points when both shifted central differences agree with each
  other and with the analytic value, and else stays `kink`, not judged.
- Tensors inconclusive at the given inputs are checked again, with the
  same backward code, at a probe state: floating inputs replaced by seeded
  N(0, 1) values, module parameters rescaled where badly scaled (>= 2-D:
  RMS * sqrt(fan_in) outside [0.25, 4] is rescaled to unit gain; others:
  RMS outside [1e-3, 1e3] to 1). `verified_at` says "point" or "probe".
- The first wrong tensor is the failing tensor with the worst resolved row;
  its worst failing element is named, and when it has at most 20,000
  elements its full numeric gradient is compared with the analytic one to
  count the wrong elements and name the known mistake it matches (only
  when the candidate reproduces every element within the tolerance).
"""

import copy
import inspect
import json
import math
import time

import torch
from torch import nn

ROUNDOFF_ULPS = 100.0
RESOLVE_FACTOR = 10.0
EPS_MACHINE = 2.220446049250313e-16
KINK_SHIFT = 7.0
# Relative change of the one-sided jump between x and x +- 7h that still
# reads as "smooth and curved" (a kink's jump is gone at the shifted points).
CURVATURE_SLACK = 0.25
FULL_NUMERIC_MAX = 20_000
CSV_HEADER = ["at", "layer", "tensor", "kind", "index", "analytic", "numeric", "abs_error",
              "rel_error", "kink", "passed", "resolved", "status", "state", "name"]
STATUS_ORDER = {"pass": 0, "inconclusive": 1, "fail": 2}

# Catalogue codes (src/gradcheck/catalogue.rs) and their explanations; the
# last two are not catalogue entries of the Rust engine.
EXPLAIN = {
    "sign-flipped": "the gradient has the wrong sign (the update climbs the loss)",
    "transposed-weight-gradient":
        "the weight gradient is computed as delta^T x and stored without transposing",
    "bias-gradient-wrong-axis":
        "the bias gradient sums the delta over units instead of over the samples of the batch",
    "missing-activation-derivative": "a layer's delta is not multiplied by f'(z)",
    "derivative-at-wrong-point":
        "f' is evaluated at the activation a = f(z) instead of at the pre-activation z",
    "batch-sum-not-mean":
        "the gradient is summed over the batch although the loss is a mean "
        "(too large by the mean's divisor)",
    "wrong-reduction-axis": "a reduction in the backward pass runs over the wrong axis",
    "constant-factor": "the analytic gradient is the true gradient times a constant",
}


# ----------------------------------------------------------------- formats
def _sci(v):
    """Rust's {:.2e}: 3.20e-9, 5.00e-1 (no exponent padding or plus)."""
    if v is None or not math.isfinite(v):
        return _nonfinite(v)
    m, e = f"{v:.2e}".split("e")
    return f"{m}e{int(e)}"


def _nonfinite(v):
    if v is None or math.isnan(v):
        return "NaN"
    return "inf" if v > 0 else "-inf"


def _short(v):
    """Four significant digits: fixed in [1e-3, 1e5), else 7.100e-23."""
    if v is None or not math.isfinite(v):
        return _nonfinite(v)
    if v == 0:
        return "0"
    m, e = f"{v:.3e}".split("e")
    rounded = float(f"{m}e{e}")
    a = abs(rounded)
    if 1e-3 <= a < 1e5:
        decimals = max(3 - math.floor(math.log10(a)), 0)
        return f"{rounded:.{decimals}f}"
    return f"{m}e{int(e)}"


def _num(v):
    """Exact (round-trip) number for CSV; NaN/inf spelled out."""
    if v is None or not math.isfinite(v):
        return _nonfinite(v)
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(float(v))


def _json_num(v):
    return v if v is None or math.isfinite(v) else None


def _index_label(index):
    return ":".join(str(i) for i in index)


def _label(t):
    """The test-case / table name of a checked tensor."""
    if t["tensor"] == "network":
        return "network direction"
    if t["layer"] is not None:
        return f"layer {t['layer']} {t['tensor']} ({t['name']})"
    return f"{t['tensor']} {t['name']}"


def _esc(s, attribute=True):
    out = []
    for c in s:
        if c == "&":
            out.append("&amp;")
        elif c == "<":
            out.append("&lt;")
        elif c == ">":
            out.append("&gt;")
        elif c == '"':
            out.append("&quot;")
        elif c == "'":
            out.append("&apos;")
        elif c in "\n\r\t":
            out.append(f"&#{ord(c)};" if attribute else c)
        elif ord(c) < 0x20 or c in "\ufffe\uffff":
            out.append("\ufffd")
        else:
            out.append(c)
    return "".join(out)


def _grouped(n):
    return f"{n:,}"


# ------------------------------------------------------------------ report
class Report:
    """What one check produced. `tensors` is serialised as `checks`, with
    the keys of `nn-doctor gradcheck --format json`, plus `name` and
    `shape`; `rows` holds every comparison (the columns of gradcheck.csv)."""

    def __init__(self, tensors, rows, first_wrong, parameters, seconds, eps, rtol, atol):
        self.tensors = tensors
        self.rows = rows
        self.first_wrong = first_wrong
        self.parameters = parameters
        self.seconds = seconds
        self.epsilon = eps
        self.rtol = rtol
        self.atol = atol
        # resolved_locally: the Rust engine's layer-local re-check, which
        # this checker does not have (always 0; kept so both JSONs match).
        self.counts = {"pass": 0, "fail": 0, "inconclusive": 0, "resolved_at_probe": 0,
                       "resolved_locally": 0}
        for t in tensors:
            self.counts[t["status"]] += 1
            if t["verified_at"] == "probe":
                self.counts["resolved_at_probe"] += 1
        worst = max((STATUS_ORDER[t["status"]] for t in tensors), default=1)
        self.status = next(k for k, v in STATUS_ORDER.items() if v == worst)
        self.passed = self.status == "pass"
        self.max_rel_error = max((t["max_rel_error"] for t in tensors), default=0.0)

    def tensor(self, name):
        """The verdict dict of the tensor called `name`."""
        return next(t for t in self.tensors if t["name"] == name)

    def failing(self):
        """Names of the failing tensors (the network direction left out)."""
        return [t["name"] for t in self.tensors if t["status"] == "fail"
                and t["tensor"] != "network"]

    def as_dict(self):
        fw = None
        if self.first_wrong is not None:
            fw = dict(self.first_wrong)
            for k in ("analytic", "numeric", "rel_error"):
                fw[k] = _json_num(fw[k])
        return {
            "status": self.status,
            "counts": dict(self.counts),
            "passed": self.passed,
            "max_rel_error": _json_num(self.max_rel_error),
            "checks": [dict(t, max_rel_error=_json_num(t["max_rel_error"])) for t in self.tensors],
            "first_wrong": fw,
            "parameters": self.parameters,
            "seconds": self.seconds,
            "epsilon": self.epsilon,
            "rtol": self.rtol,
            "atol": self.atol,
            "rows": [dict(r, analytic=_json_num(r["analytic"]), numeric=_json_num(r["numeric"]),
                          abs_error=_json_num(r["abs_error"]),
                          rel_error=_json_num(r["rel_error"])) for r in self.rows],
            "producer": "nn_doctor_gradcheck (PyTorch)",
        }

    def to_json(self, path=None):
        """The JSON of `nn-doctor gradcheck --format json` (non-finite
        numbers are null); written to `path` when given."""
        text = json.dumps(self.as_dict(), indent=2, allow_nan=False) + "\n"
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def to_csv(self, path):
        """gradcheck.csv's columns, plus the tensor's name at the end."""
        import csv
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(CSV_HEADER)
            for r in self.rows:
                w.writerow([r["at"], "" if r["layer"] is None else r["layer"], r["tensor"],
                            r["kind"], _index_label(r["index"]), _num(r["analytic"]),
                            _num(r["numeric"]), _num(r["abs_error"]), _num(r["rel_error"]),
                            str(r["kink"]).lower(), str(r["passed"]).lower(),
                            str(r["resolved"]).lower(), r["status"], r["state"], r["name"]])

    # -- JUnit: the layout of src/gradcheck/output/junit.rs
    def to_junit(self, path=None, suite_name=""):
        failures = sum(t["status"] == "fail" for t in self.tensors)
        skipped = sum(t["status"] == "inconclusive" for t in self.tensors)
        title = "nn-doctor gradcheck" + (f": {suite_name}" if suite_name else "")
        secs = self.seconds if math.isfinite(self.seconds) else 0.0
        x = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<testsuite name="{_esc(title)}" tests="{len(self.tensors)}" '
             f'failures="{failures}" errors="0" skipped="{skipped}" time="{max(secs, 0):.3f}">\n',
             "  <properties>\n"]
        for name, value in [("parameters", str(self.parameters)), ("epsilon", _sci(self.epsilon)),
                            ("rtol", _sci(self.rtol)), ("atol", _sci(self.atol)),
                            ("max_rel_error_resolved", _sci(self.max_rel_error)),
                            ("status", self.status)]:
            x.append(f'    <property name="{name}" value="{_esc(value)}"/>\n')
        x.append("  </properties>\n")
        for t in self.tensors:
            x.append(self._testcase(t))
        x.append("</testsuite>\n")
        text = "".join(x)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def _rows_of(self, t):
        return [r for r in self.rows if r["at"] == t["at"] and r["name"] == t["name"]
                and (t["verified_at"] is None or r["state"] == t["verified_at"])]

    def _testcase(self, t):
        head = (f'  <testcase classname="{_esc("gradcheck." + t["at"])}" '
                f'name="{_esc(_label(t))}"')
        rows = self._rows_of(t)
        notes = []
        if t["verified_at"] == "probe":
            notes.append("verified at the probe state: the check point was inconclusive "
                         f"({t['reason'] or 'below-resolution'})")
        if t["kinks"]:
            kinked = [_index_label(r["index"]) for r in rows if r["kink"]]
            note = (f"{t['kinks']} comparison(s) crossed a kink (the one-sided differences "
                    "disagree) and were not counted unless they agreed at the shifted points")
            if kinked:
                note += ": index " + ", ".join(kinked[:10])
                if len(kinked) > 10:
                    note += f" and {len(kinked) - 10} more"
            notes.append(note)
        if t["status"] == "pass" and not notes:
            return head + "/>\n"
        out = [head + ">\n"]
        if t["status"] == "fail":
            out.append(self._failure(t, rows))
        elif t["status"] == "inconclusive":
            reason = t["reason"] or "below-resolution"
            why = (f"inconclusive ({reason}): no comparison resolved at the check point or "
                   "the probe state")
            out.append(f'    <skipped message="{_esc(why)}"/>\n')
        if notes:
            out.append(f"    <system-out>{_esc(chr(10).join(notes), False)}</system-out>\n")
        out.append("  </testcase>\n")
        return "".join(out)

    def _failure(self, t, rows):
        label = _label(t)
        failing = [r for r in rows if r["status"] == "fail"]
        key = lambda r: math.inf if math.isnan(r["rel_error"]) else r["rel_error"]  # noqa: E731
        worst = max(failing, key=key) if failing else None
        if worst is not None:
            message = (f"{label} at {t['at']}: rel error {_sci(worst['rel_error'])} at index "
                       f"{_index_label(worst['index'])} (analytic {_short(worst['analytic'])}, "
                       f"numeric {_short(worst['numeric'])})")
        else:
            message = f"{label} at {t['at']}: max rel error {_sci(t['max_rel_error'])}"
        text = []
        if worst is not None:
            text.append(f"worst {worst['kind']} {_index_label(worst['index'])}: analytic "
                        f"{_short(worst['analytic'])}, numeric {_short(worst['numeric'])}, "
                        f"abs error {_short(worst['abs_error'])}, rel error "
                        f"{_sci(worst['rel_error'])}")
        text.append(f"tolerance: rtol {_sci(self.rtol)}, atol {_sci(self.atol)}, "
                    f"epsilon {_sci(self.epsilon)}")
        f = self.first_wrong
        if f is not None and f["name"] == t["name"] and f["at"] == t["at"]:
            text.append(f["message"])
            text.append(_matches_line(f["pattern"]))
        return (f'    <failure message="{_esc(message)}" type="gradient-mismatch">'
                f"{_esc(chr(10).join(text), False)}</failure>\n")

    # -- the terminal table of src/gradcheck/output/table.rs
    def text(self):
        aw = max([len(t["at"]) for t in self.tensors] + [2])
        nw = max([len(t["name"]) for t in self.tensors] + [6])
        lines = [f"{'at':<{aw}}  {'layer':>5}  {'tensor':<{nw}}  {'elements':>8}  "
                 f"{'directions':>10}  {'kinks':>5}  {'resolved':>8}  {'max rel error':>13}  "
                 "result"]
        for t in self.tensors:
            rel = _sci(t["max_rel_error"]) if t["resolved"] else "-"
            word = t["status"].upper()
            reason = t["reason"] or "below-resolution"
            if t["status"] == "inconclusive":
                result = f"{word} ({reason})"
            elif t["verified_at"] == "probe":
                result = f"{word} at probe (point: {reason})"
            else:
                result = word
            layer = "-" if t["layer"] is None else str(t["layer"])
            lines.append(f"{t['at']:<{aw}}  {layer:>5}  {t['name']:<{nw}}  "
                         f"{t['elements_checked']:>8}  {t['directions_checked']:>10}  "
                         f"{t['kinks']:>5}  {t['resolved']:>8}  {rel:>13}  {result}")
        n = len(self.tensors)
        word = "tensor" if n == 1 else "tensors"
        c = self.counts
        if self.status == "pass":
            count = f"PASS ({n} {word}"
        elif self.status == "fail":
            count = f"FAIL ({c['fail']} of {n} {word} wrong"
        else:
            count = (f"INCONCLUSIVE ({c['inconclusive']} of {n} {word} unresolved at the point "
                     "and the probe state")
        probe = (f", {c['resolved_at_probe']} decided at the probe state"
                 if c["resolved_at_probe"] else "")
        lines.append(f"gradcheck: {count}{probe}, max rel error {_sci(self.max_rel_error)} over "
                     f"resolved rows, {self.seconds:.2f} s, {_grouped(self.parameters)} "
                     "parameters)")
        f = self.first_wrong
        if f is not None:
            where = f"layer {f['layer']} {f['tensor']} ({f['name']})" if f["layer"] else \
                f"{f['tensor']} {f['name']}"
            lines.append(f"first wrong: {where} at {f['at']}: {f['message']}")
            lines.append(f"  worst index {_index_label(f['index'])}: analytic "
                         f"{_short(f['analytic'])}, numeric {_short(f['numeric'])}, rel error "
                         f"{_sci(f['rel_error'])}")
            lines.append("  " + _matches_line(f["pattern"]))
        return "\n".join(lines) + "\n"

    def __repr__(self):
        return f"<gradcheck report: {self.status}, {len(self.tensors)} tensors>"


def _matches_line(p):
    if p is None:
        return "matches no known backprop mistake"
    factor = "" if p.get("factor") is None else f" (factor {_short(p['factor'])})"
    return f"matches: {p['code']} — {p['explanation']}{factor}"


# ------------------------------------------------------------- the problem
def _is_float(x):
    return isinstance(x, torch.Tensor) and x.is_floating_point()


def _flat_outputs(out):
    """The floating tensors of an output (tensor, or nested tuple/list/dict)."""
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat_outputs(o)]
    if isinstance(out, dict):
        return [t for k in out for t in _flat_outputs(out[k])]
    return []


def _arg_names(fn, n):
    """Names for n positional arguments: the forward's parameter names when
    they can be read (a Function's `apply`, a module's forward, a def)."""
    target = fn
    owner = getattr(fn, "__self__", None)
    skip = 0
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        target, skip = owner.forward, 1
    elif isinstance(fn, nn.Module):
        target = fn.forward
    names = []
    try:
        params = list(inspect.signature(target).parameters.values())[skip:]
        var = None
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                var = p.name
                break
        if var is not None:
            names += [f"{var}[{i}]" for i in range(n - len(names))]
    except (TypeError, ValueError):
        pass
    names = names[:n]
    names += [f"input{i}" for i in range(len(names), n)]
    if len(set(names)) < n:
        names = [f"input{i}" for i in range(n)]
    return names


def _gen(seed, stream):
    g = torch.Generator()
    g.manual_seed((seed * 0x9E3779B1 + stream * 0x85EBCA6B) % (2 ** 63))
    return g


class _Slot:
    """One checked tensor of a state: the leaf it perturbs, its names."""

    def __init__(self, name, tensor, kind, layer, leaf):
        self.name, self.tensor, self.layer, self.leaf = name, tensor, layer, leaf
        self.kind = kind  # "input", or the parameter's own name ("weight", ...)


class _State:
    """A module copy or callable with its float64 arguments: the point (the
    caller's values) or the probe."""

    def __init__(self, call, module, args, slots, weights, forward_seed, eps, rtol, atol):
        self.call, self.module, self.args, self.slots = call, module, args, slots
        self.weights = weights
        self.forward_seed = forward_seed
        self.eps, self.rtol, self.atol = eps, rtol, atol
        self.grads = None
        self.outputs = None

    def run(self):
        torch.default_generator.manual_seed(self.forward_seed)
        return _flat_outputs(self.call(*self.args))

    def f(self):
        """f = sum_k <U_k, y_k> (no grad)."""
        ys = self.run()
        return sum(float((u * y).sum()) for u, y in zip(self.weights, ys))

    def analytic(self):
        """One forward with grad and one backward of f: the code under test."""
        with torch.enable_grad():
            ys = self.run()
            f = sum((u * y).sum() for u, y in zip(self.weights, ys))
            leaves = [s.leaf for s in self.slots]
            grads = torch.autograd.grad(f, leaves, allow_unused=True) if leaves else []
        self.grads = [torch.zeros_like(s.leaf) if g is None else g.detach().clone()
                      for s, g in zip(self.slots, grads)]
        with torch.no_grad():
            self.outputs = [y.detach().clone() for y in self.run()]
            self.f0 = sum(float((u * y).sum()) for u, y in zip(self.weights, self.outputs))
            self.absL = sum(float((u * y).abs().sum()) for u, y in zip(self.weights, self.outputs))
        self.floor = _floor(self.absL, self.eps, self.atol)


def _floor(abs_l, eps, atol):
    roundoff = ROUNDOFF_ULPS * EPS_MACHINE * abs_l / eps
    return atol + (roundoff if math.isfinite(roundoff) else 0.0)


def _row_status(a, n, kink, floor, rtol):
    """src/gradcheck/resolution.rs, plus `non-finite` for a difference that
    is not finite (the function is not finite near the point)."""
    if not math.isfinite(n):
        return "non-finite"
    err = abs(a - n)
    scale = max(abs(a), abs(n))
    if not math.isfinite(err):
        return "fail"
    if kink:
        return "kink"
    if scale <= RESOLVE_FACTOR * floor:
        return "below-resolution"
    return "pass" if err <= floor + rtol * scale else "fail"


def _rel_error(a, n):
    m = max(abs(a), abs(n))
    if m == 0:
        return 0.0
    return abs(a - n) / m


# --------------------------------------------------------------- measuring
class _ElementMove:
    """Sets one element to base + t; the offset actually stored."""

    def __init__(self, tensor, flat):
        self.view = tensor.view(-1)
        self.flat = flat
        self.base = float(self.view[flat])

    def __call__(self, t):
        v = self.base + t
        self.view[self.flat] = v
        return v - self.base


class _DirectionMove:
    """Moves tensors along a unit direction: base + t d."""

    def __init__(self, tensors, dirs):
        self.tensors, self.dirs = tensors, dirs
        self.bases = [t.detach().clone() for t in tensors]

    def __call__(self, t):
        for x, b, d in zip(self.tensors, self.bases, self.dirs):
            if t == 0:
                x.copy_(b)
            else:
                torch.add(b, d, alpha=t, out=x)
        return t


def _measure(st, move, a):
    """(numeric, kink, status, shifted) of one comparison: a central
    difference, its one-sided halves, and the kink re-check."""
    h, floor, rtol = st.eps, st.floor, st.rtol
    f0 = st.f0
    pp = move(h)
    fp = st.f()
    pm = move(-h)
    fm = st.f()
    move(0.0)
    num = (fp - fm) / (pp - pm)
    if not (math.isfinite(fp) and math.isfinite(fm) and math.isfinite(f0)):
        return num if math.isfinite(num) else math.nan, False, "non-finite", False
    if not math.isfinite(a):
        # a non-finite analytic value where the function is finite: a failure
        return num, False, _row_status(a, num, False, floor, rtol), False
    dp, dm = (fp - f0) / pp, (f0 - fm) / (-pm)
    jump = dp - dm
    visible = max(abs(a), abs(num), abs(dp), abs(dm)) > RESOLVE_FACTOR * floor
    if abs(jump) <= floor + rtol * max(abs(dp), abs(dm)) or not visible:
        return num, False, _row_status(a, num, False, floor, rtol), False
    # Perturbed around: the same three-point stencil at x + 7h and x - 7h.
    vals = {}
    for k in (-8, -7, -6, 6, 7, 8):
        p = move(k * h)
        vals[k] = (p, st.f())
    move(0.0)

    def at(c):
        (p1, f1), (p2, f2), (p3, f3) = vals[c - 1], vals[c], vals[c + 1]
        d_hi, d_lo = (f3 - f2) / (p3 - p2), (f2 - f1) / (p2 - p1)
        return (f3 - f1) / (p3 - p1), d_hi - d_lo, max(abs(d_hi), abs(d_lo))

    c_hi, j_hi, s_hi = at(7)
    c_lo, j_lo, s_lo = at(-7)
    if not all(math.isfinite(v) for v in (c_hi, c_lo, j_hi, j_lo)):
        return num, True, "kink", False
    slack = CURVATURE_SLACK * abs(jump) + 2 * floor
    if abs(j_hi - jump) <= slack and abs(j_lo - jump) <= slack:
        # Smooth and curved: the jump is h f'' everywhere, the central
        # difference is accurate to O(h^2).
        return num, False, _row_status(a, num, False, floor, rtol), False
    clean = (abs(j_hi) <= floor + rtol * s_hi) and (abs(j_lo) <= floor + rtol * s_lo)

    def agree(x, y):
        return abs(x - y) <= floor + rtol * max(abs(x), abs(y))

    if clean and agree(c_hi, c_lo) and agree(a, c_hi) and agree(a, c_lo):
        shifted = 0.5 * (c_hi + c_lo)
        return shifted, True, _row_status(a, shifted, False, floor, rtol), True
    return num, True, "kink", False


def _pick_elements(g, random, largest, gen):
    n = g.numel()
    if n <= random + largest:
        return list(range(n))
    if n <= 4_000_000:
        picked = torch.randperm(n, generator=gen)[:random].tolist()
    else:
        seen = []
        while len(seen) < random:
            i = int(torch.randint(n, (1,), generator=gen))
            if i not in seen:
                seen.append(i)
        picked = seen
    mag = g.detach().reshape(-1).abs()
    mag = torch.where(torch.isnan(mag), torch.full_like(mag, math.inf), mag)
    for i in torch.topk(mag, min(largest, n)).indices.tolist():
        if i not in picked:
            picked.append(i)
    return picked


def _unravel(flat, shape):
    index = []
    for s in reversed(shape):
        index.append(flat % s)
        flat //= s
    return list(reversed(index)) if shape else []


def _summarise(at, state, slot, rows):
    resolved = [r for r in rows if r["resolved"]]
    if any(r["status"] == "fail" for r in resolved):
        status = "fail"
    elif not resolved:
        status = "inconclusive"
    else:
        status = "pass"
    reason = None
    if status == "inconclusive":
        if rows and all(r["status"] == "kink" for r in rows):
            reason = "all-kinks"
        elif rows and any(r["status"] == "non-finite" for r in rows):
            reason = "non-finite"
        else:
            reason = "below-resolution"
    return {
        "at": at,
        "layer": slot.layer if slot is not None else None,
        "tensor": slot.kind if slot is not None else "network",
        "name": slot.name if slot is not None else "network",
        "shape": list(slot.tensor.shape) if slot is not None else [],
        "elements_checked": sum(r["kind"] == "element" for r in rows),
        "directions_checked": sum(r["kind"] == "direction" for r in rows),
        "kinks": sum(r["kink"] for r in rows),
        "resolved": len(resolved),
        "max_rel_error": max((r["rel_error"] for r in resolved), default=0.0),
        "status": status,
        "reason": reason,
        "verified_at": state if status != "inconclusive" else None,
        "passed": status == "pass",
    }


def _check_state(st, at, state, opts, gen, only=None):
    """Rows and verdicts of every wanted tensor of one state."""
    rows_all, tensors = [], []

    def row(slot, kind, index, a, move):
        n, kink, status, shifted = _measure(st, move, a)
        r = {"at": at, "layer": slot.layer if slot else None,
             "tensor": slot.kind if slot else "network", "name": slot.name if slot else "network",
             "kind": kind, "index": index, "analytic": a, "numeric": n,
             "abs_error": abs(a - n), "rel_error": _rel_error(a, n), "kink": kink,
             "passed": status == "pass", "resolved": status in ("pass", "fail"),
             "status": status, "state": state}
        if shifted:
            r["shifted"] = True
        return r

    wanted = [i for i, s in enumerate(st.slots) if only is None or s.name in only]
    with torch.no_grad():
        for i in wanted:
            slot, g = st.slots[i], st.grads[i]
            rows = []
            gflat = g.reshape(-1)
            for flat in _pick_elements(g, opts["samples"], opts["largest"], gen):
                rows.append(row(slot, "element", _unravel(flat, list(g.shape)),
                                float(gflat[flat]), _ElementMove(slot.leaf, flat)))
            for k in range(opts["directions"]):
                d = torch.randn(g.shape, generator=gen, dtype=torch.float64).to(g.device)
                d /= d.norm().clamp_min(1e-300)
                rows.append(row(slot, "direction", [k], float((d * g).sum()),
                                _DirectionMove([slot.leaf], [d])))
            rows_all += rows
            tensors.append(_summarise(at, state, slot, rows))
        if len(st.slots) >= 2 and (only is None or "network" in only):
            dirs = [torch.randn(s.leaf.shape, generator=gen, dtype=torch.float64).to(s.leaf.device)
                    for s in st.slots]
            norm = math.sqrt(sum(float((d * d).sum()) for d in dirs)) or 1.0
            dirs = [d / norm for d in dirs]
            a = sum(float((d * g).sum()) for d, g in zip(dirs, st.grads))
            r = row(None, "direction", [0], a, _DirectionMove([s.leaf for s in st.slots], dirs))
            rows_all.append(r)
            tensors.append(_summarise(at, state, None, [r]))
    return rows_all, tensors


# ----------------------------------------------------------------- building
def _make_state(fn_or_module, inputs, params, weights, forward_seed, opts, gen_u):
    """The float64 copy of the callable and its arguments, and the slots."""
    args = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    names = _arg_names(fn_or_module, len(args))
    cargs, slots = [], []
    for name, a in zip(names, args):
        if _is_float(a):
            c = a.detach().to(torch.float64).clone().contiguous()
            if a.requires_grad:
                c.requires_grad_(True)
                slots.append(_Slot(name, c, "input", None, c))
            cargs.append(c)
        elif isinstance(a, torch.Tensor):
            cargs.append(a.detach().clone())
        else:
            cargs.append(a)
    module = None
    if isinstance(fn_or_module, nn.Module):
        module = copy.deepcopy(fn_or_module).double()
        with torch.no_grad():
            for p in module.parameters():
                if not p.is_contiguous():
                    p.data = p.data.contiguous()
        call = module
        wanted = None if params is None else set(params)
        order = _layer_order(module, cargs, forward_seed)
        for pname, p in module.named_parameters():
            if not p.requires_grad or (wanted is not None and pname not in wanted):
                continue
            owner = pname.rsplit(".", 1)[0] if "." in pname else ""
            slots.append(_Slot(pname, p, pname.rsplit(".", 1)[-1], order.get(owner), p))
        if wanted is not None:
            missing = wanted - {s.name for s in slots}
            if missing:
                raise ValueError(f"no parameter with requires_grad named {sorted(missing)}")
    else:
        if params is not None:
            raise ValueError("params names parameters of an nn.Module; a callable's checked "
                             "tensors are its inputs with requires_grad")
        call = fn_or_module
    st = _State(call, module, cargs, slots, None, forward_seed, opts["eps"], opts["rtol"],
                opts["atol"])
    with torch.no_grad():
        ys = st.run()
    if weights is None:
        weights = [torch.ones_like(y) if y.numel() == 1 else
                   torch.randn(y.shape, generator=gen_u, dtype=torch.float64).to(y.device)
                   for y in ys]
    else:
        given = list(weights) if isinstance(weights, (tuple, list)) else [weights]
        if len(given) != len(ys):
            raise ValueError(f"outputs_weight has {len(given)} tensors for {len(ys)} outputs")
        weights = [torch.as_tensor(w, dtype=torch.float64).to(y.device).expand_as(y).clone()
                   for w, y in zip(given, ys)]
    st.weights = weights
    return st


def _layer_order(module, args, seed):
    """1-based layer numbers: modules that own parameters, in the order the
    forward pass first runs them (then the ones it does not run)."""
    owners = [(n, m) for n, m in module.named_modules()
              if any(True for _ in m.parameters(recurse=False))]
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, a, n=n: seen.append(n) if n not in seen
                                         else None) for n, m in owners]
    try:
        with torch.no_grad():
            torch.default_generator.manual_seed(seed)
            module(*args)
    finally:
        for hk in hooks:
            hk.remove()
    for n, _ in owners:
        if n not in seen:
            seen.append(n)
    return {n: i + 1 for i, n in enumerate(seen)}


def _probe_state(point, gen, probe_inputs):
    """The point's twin at well-conditioned values: the same code."""
    with torch.no_grad():
        if probe_inputs is not None:
            given = list(probe_inputs) if isinstance(probe_inputs, (tuple, list)) \
                else [probe_inputs]
            if len(given) != len(point.args):
                raise ValueError("probe_inputs must match inputs")
        args = []
        for i, a in enumerate(point.args):
            if probe_inputs is not None and isinstance(given[i], torch.Tensor):
                src = given[i]
                c = src.detach().to(a.dtype if _is_float(a) else src.dtype).clone().contiguous()
            elif _is_float(a) and a.dim() >= 1:
                c = torch.randn(a.shape, generator=gen, dtype=torch.float64).to(a.device)
            elif isinstance(a, torch.Tensor):
                c = a.detach().clone()
            else:
                c = a
            if _is_float(a) and a.requires_grad:
                c.requires_grad_(True)
            args.append(c)
        module = None
        slots = []
        by_arg = {id(a): i for i, a in enumerate(point.args)}
        if point.module is not None:
            module = copy.deepcopy(point.module)
            for p in module.parameters():
                _condition(p, gen)
            params = dict(module.named_parameters())
        for s in point.slots:
            if s.kind == "input" and s.layer is None and id(s.leaf) in by_arg:
                leaf = args[by_arg[id(s.leaf)]]
            else:
                leaf = params[s.name]
            slots.append(_Slot(s.name, leaf, s.kind, s.layer, leaf))
    st = _State(module if module is not None else point.call, module, args, slots,
                point.weights, point.forward_seed, point.eps, point.rtol, point.atol)
    return st


def _condition(p, gen):
    """Rescales a badly scaled parameter in place (signs and pattern kept)."""
    x = p.data
    if x.numel() == 0:
        return
    if not torch.isfinite(x).all():
        x.copy_(torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
                / math.sqrt(max(x[0].numel(), 1) if x.dim() >= 2 else 1))
        return
    rms = float(x.pow(2).mean().sqrt())
    if x.dim() >= 2:
        fan_in = x[0].numel()
        target = 1.0 / math.sqrt(fan_in)
        if rms == 0:
            x.copy_(torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device) * target)
        elif not 0.25 <= rms / target <= 4.0:
            x.mul_(target / rms)
    elif rms > 0 and not 1e-3 <= rms <= 1e3:
        x.mul_(1.0 / rms)


# ----------------------------------------------------------- naming mistakes
def _close(a, c, floor, rtol):
    """a reproduces c element by element within the row tolerance, and at
    least one element is resolved."""
    if a.shape != c.shape or not bool(torch.isfinite(c).all()) or not bool(torch.isfinite(a).all()):
        return False
    scale = torch.maximum(a.abs(), c.abs())
    ok = bool(((a - c).abs() <= floor + rtol * scale).all())
    return ok and bool((scale > RESOLVE_FACTOR * floor).any())


def _full_numeric(st, slot, extra):
    """Central differences of f (and of the candidate scalars `extra`, each
    a function of the outputs) for every element of `slot`."""
    n = slot.leaf.numel()
    out = torch.empty(n, dtype=torch.float64)
    more = {k: torch.empty(n, dtype=torch.float64) for k in extra}
    with torch.no_grad():
        for i in range(n):
            move = _ElementMove(slot.leaf, i)
            pp = move(st.eps)
            yp = st.run()
            pm = move(-st.eps)
            ym = st.run()
            move(0.0)
            den = pp - pm
            fp = sum(float((u * y).sum()) for u, y in zip(st.weights, yp))
            fm = sum(float((u * y).sum()) for u, y in zip(st.weights, ym))
            out[i] = (fp - fm) / den
            for k, fn in extra.items():
                more[k][i] = (fn(yp) - fn(ym)) / den
    shape = slot.leaf.shape
    return out.reshape(shape), {k: v.reshape(shape) for k, v in more.items()}


def _activation_candidates(st):
    """Scalars whose gradient is what a backward pass computes when it
    treats U as the gradient at the pre-activation z = act^-1(y) (missing
    derivative) or multiplies by f'(y) instead of f'(z) (wrong point), for
    the activations that can be inverted from the outputs."""
    ys, us = st.outputs, st.weights
    cands = {}
    if not ys or any(y.numel() == 1 for y in ys):
        return cands, {}
    scales = {}
    if all(bool(((y > 0) & (y < 1)).all()) for y in ys):
        w_wrong = [u * torch.sigmoid(y) * (1 - torch.sigmoid(y)) for u, y in zip(us, ys)]
        cands["sigmoid-missing"] = lambda yy: sum(
            float((u * torch.logit(y)).sum()) for u, y in zip(us, yy))
        cands["sigmoid-wrong-point"] = lambda yy, w=w_wrong: sum(
            float((wi * torch.logit(y)).sum()) for wi, y in zip(w, yy))
        scales["sigmoid-missing"] = sum(float((u * torch.logit(y)).abs().sum())
                                        for u, y in zip(us, ys))
        scales["sigmoid-wrong-point"] = sum(float((w * torch.logit(y)).abs().sum())
                                            for w, y in zip(w_wrong, ys))
    if all(bool((y.abs() < 1).all()) for y in ys):
        w_wrong = [u * (1 - torch.tanh(y) ** 2) for u, y in zip(us, ys)]
        cands["tanh-missing"] = lambda yy: sum(
            float((u * torch.atanh(y)).sum()) for u, y in zip(us, yy))
        cands["tanh-wrong-point"] = lambda yy, w=w_wrong: sum(
            float((wi * torch.atanh(y)).sum()) for wi, y in zip(w, yy))
        scales["tanh-missing"] = sum(float((u * torch.atanh(y)).abs().sum())
                                     for u, y in zip(us, ys))
        scales["tanh-wrong-point"] = sum(float((w * torch.atanh(y)).abs().sum())
                                         for w, y in zip(w_wrong, ys))
    return cands, scales


def _divisors(st):
    """Sizes a mean could have divided by: every dimension and element
    count of the floating inputs and outputs (at least 3, so that a plain
    factor of 2 is never read as a mean)."""
    sizes = set()
    for t in [a for a in st.args if _is_float(a)] + list(st.outputs):
        sizes.update(int(s) for s in t.shape)
        sizes.add(int(t.numel()))
        for k in range(1, t.dim()):
            sizes.add(int(math.prod(t.shape[k:])))
    return {s for s in sizes if s >= 3}


def _deltas(st, slot):
    """Candidates for the gradient at the sum a bias is added to: the
    output weights U times the derivative of an activation read off the
    outputs (identity, sigmoid, tanh, ReLU), and for a module parameter the
    gradient reaching its module's output. Each is only used after the
    numeric bias gradient is verified to be its sum over the batch."""
    out = []
    for y, u in zip(st.outputs, st.weights):
        out.append(u)
        if bool(((y > 0) & (y < 1)).all()):
            out.append(u * y * (1 - y))
        if bool((y.abs() < 1).all()):
            out.append(u * (1 - y * y))
        if bool((y >= 0).all()):
            out.append(u * (y > 0))
    if st.module is not None and slot.layer is not None:
        owner = dict(st.module.named_modules()).get(slot.name.rsplit(".", 1)[0] if "." in
                                                    slot.name else "")
        captured = []

        def keep(module, args, output):
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(lambda g: captured.append(g.detach().clone()))

        if owner is not None:
            handle = owner.register_forward_hook(keep)
            try:
                with torch.enable_grad():
                    ys = st.run()
                    f = sum((u * y).sum() for u, y in zip(st.weights, ys))
                    torch.autograd.grad(f, [slot.leaf], allow_unused=True)
            except RuntimeError:
                captured = []
            finally:
                handle.remove()
            out += captured
    return out


def _name_mistake(st, slot, A, N, extra, scales):
    """The known mistake that reproduces the whole analytic tensor A from
    the numeric one N (or from the output weights and outputs), or None."""
    floor, rtol = st.floor, st.rtol

    def found(code, factor=None, explanation=None):
        return {"code": code, "explanation": explanation or EXPLAIN[code], "factor": factor}

    if _close(A, -N, floor, rtol):
        return found("sign-flipped", -1.0)
    if A.dim() == 2 and A.shape[0] > 1 and A.shape[1] > 1:
        if _close(A, N.t().reshape(A.shape), floor, rtol):
            return found("transposed-weight-gradient")
    ys, us = st.outputs, st.weights
    if A.dim() == 1 and A.numel() > 1:
        if _close(A, torch.full_like(A, float(N.sum())), floor, rtol):
            return found("bias-gradient-wrong-axis", explanation=EXPLAIN[
                "bias-gradient-wrong-axis"] + " (summed over every axis and broadcast)")
        n = A.numel()
        for g in _deltas(st, slot):
            if g.dim() == 2 and tuple(g.shape) == (n, n) and _close(N, g.sum(0), floor, rtol) \
                    and _close(A, g.sum(1), floor, rtol):
                return found("bias-gradient-wrong-axis")
    for y, u in zip(ys, us):
        if u.shape == A.shape and u.numel() > 1 and _close(A, u, floor, rtol):
            return found("missing-activation-derivative", explanation=(
                "the backward returns the output gradient unchanged: the activation's "
                "derivative (or Jacobian) is missing"))
    for key, c in extra.items():
        fl = _floor(scales[key], st.eps, st.atol)
        if _close(A, c, max(fl, floor), rtol):
            act, what = key.split("-", 1)
            code = "missing-activation-derivative" if what == "missing" else \
                "derivative-at-wrong-point"
            return found(code, explanation=EXPLAIN[code] + f" ({act} output)")
    for y, u in zip(ys, us):
        if y.shape != A.shape or y.dim() < 2 or not bool(((y > 0) & (y < 1)).all()):
            continue
        cands = [y * (u - (u * y).sum(d, keepdim=True)) for d in range(y.dim())]
        for d, cd in enumerate(cands):
            if not _close(N, cd, floor, rtol):
                continue
            for e, ce in enumerate(cands):
                if e != d and _close(A, ce, floor, rtol):
                    return found("wrong-reduction-axis", explanation=(
                        f"the softmax Jacobian's sum over y * grad runs over axis {e} "
                        f"instead of axis {d}"))
    nn_ = float((N * N).sum())
    if nn_ > 0 and math.isfinite(nn_):
        c = float((A * N).sum()) / nn_
        if math.isfinite(c) and abs(c - 1) > 1e-3 and c != 0 and \
                _close(A, c * N, floor * max(1.0, abs(c)), rtol):
            k = round(c)
            if k >= 3 and abs(c - k) <= 1e-6 * k and k in _divisors(st):
                return found("batch-sum-not-mean", float(c), EXPLAIN["batch-sum-not-mean"]
                             + f" ({k})")
            return found("constant-factor", c,
                         f"the analytic gradient is the true gradient times {c:.6f}")
    return None


def _first_wrong(tensors, states, name_patterns):
    """The failing tensor with the worst resolved row, its worst element,
    and (<= 20,000 elements) the full comparison and the mistake named."""
    failing = [t for t in tensors if t["status"] == "fail" and t["tensor"] != "network"]
    if not failing:
        failing = [t for t in tensors if t["status"] == "fail"]
    if not failing:
        return None

    def key(r):
        return math.inf if math.isnan(r["rel_error"]) else r["rel_error"]

    best = None
    for t in failing:
        st, rows = states[t["verified_at"] or "point"]
        bad = [r for r in rows if r["name"] == t["name"] and r["status"] == "fail"]
        elem = [r for r in bad if r["kind"] == "element"]
        cand = max(elem or bad, key=key)
        score = (key(cand), bool(elem))
        if best is None or score > best[0]:
            best = (score, t, cand, st)
    _, t, worst, st = best
    finding = {"at": t["at"], "layer": t["layer"], "tensor": t["tensor"], "name": t["name"],
               "state": t["verified_at"], "kind": worst["kind"], "index": list(worst["index"]),
               "analytic": worst["analytic"], "numeric": worst["numeric"],
               "rel_error": worst["rel_error"], "pattern": None,
               "elements_compared": None, "elements_wrong": None}
    slot = next((s for s in st.slots if s.name == t["name"]), None)
    if slot is not None and name_patterns and slot.leaf.numel() <= FULL_NUMERIC_MAX:
        extra, scales = _activation_candidates(st)
        A = st.grads[st.slots.index(slot)]
        N, more = _full_numeric(st, slot, extra)
        scale = torch.maximum(A.abs(), N.abs())
        err = (A - N).abs()
        wrong = (scale > RESOLVE_FACTOR * st.floor) & (err > st.floor + st.rtol * scale) | \
            ~torch.isfinite(A)
        finding["elements_compared"] = int(A.numel())
        finding["elements_wrong"] = int(wrong.sum())
        if finding["kind"] != "element" and bool(wrong.any()):
            rel = torch.where(wrong, err / scale.clamp_min(1e-300), torch.zeros_like(err))
            rel = torch.nan_to_num(rel, nan=math.inf)
            flat = int(rel.reshape(-1).argmax())
            a, n = float(A.reshape(-1)[flat]), float(N.reshape(-1)[flat])
            finding.update(kind="element", index=_unravel(flat, list(A.shape)), analytic=a,
                           numeric=n, rel_error=_rel_error(a, n))
        finding["pattern"] = _name_mistake(st, slot, A, N, more, scales)
    place = " at the probe state" if t["verified_at"] == "probe" else ""
    finding["message"] = (
        f"analytic and finite-difference gradients disagree{place} (worst {finding['kind']} "
        f"{finding['index']}: analytic {_short(finding['analytic'])}, numeric "
        f"{_short(finding['numeric'])}, rel error {_sci(finding['rel_error'])})")
    if finding["elements_wrong"] is not None:
        finding["message"] += (f"; {finding['elements_wrong']} of {finding['elements_compared']} "
                               "elements wrong in the full comparison")
    return finding


# -------------------------------------------------------------------- entry
def gradcheck(fn_or_module, inputs, params=None, *, eps=1e-6, rtol=1e-4, atol=1e-7,
              samples_per_tensor=8, largest=4, directions=2, seed=0, probe=True,
              outputs_weight=None, probe_inputs=None, at="inputs", name_patterns=True):
    """Checks the gradients of `fn_or_module(*inputs)` (a custom Function's
    `.apply`, any callable, or an nn.Module whose parameters are checked
    too) against central differences; returns a Report.

    params: for a module, the parameter names to check (default: all with
    requires_grad). outputs_weight: the U_k to use instead of seeded
    Gaussians. probe_inputs: the inputs of the probe state instead of N(0, 1)
    draws. at: the check point's label in the report."""
    t0 = time.perf_counter()
    opts = {"eps": float(eps), "rtol": float(rtol), "atol": float(atol),
            "samples": int(samples_per_tensor), "largest": int(largest),
            "directions": int(directions)}
    rng_state = torch.get_rng_state()
    try:
        forward_seed = (int(seed) * 1_000_003 + 0x5EED) % (2 ** 62)
        point = _make_state(fn_or_module, inputs, params, outputs_weight, forward_seed, opts,
                            _gen(seed, 1))
        if not point.slots:
            raise ValueError("nothing to check: no floating input with requires_grad and no "
                             "parameter with requires_grad")
        point.analytic()
        rows, tensors = _check_state(point, at, "point", opts, _gen(seed, 2))
        states = {"point": (point, rows)}
        undecided = {t["name"] for t in tensors if t["status"] == "inconclusive"}
        if probe and undecided:
            pst = _probe_state(point, _gen(seed, 4), probe_inputs)
            pst.analytic()
            prows, ptensors = _check_state(pst, at, "probe", opts, _gen(seed, 3), only=undecided)
            states["probe"] = (pst, prows)
            by_name = {t["name"]: t for t in ptensors}
            for i, t in enumerate(tensors):
                if t["name"] in by_name:
                    tensors[i] = dict(by_name[t["name"]], reason=t["reason"])
            rows = rows + prows
        first = _first_wrong(tensors, states, name_patterns)
    finally:
        torch.set_rng_state(rng_state)
    parameters = sum(s.leaf.numel() for s in point.slots)
    return Report(tensors, rows, first, parameters, time.perf_counter() - t0, opts["eps"],
                  opts["rtol"], opts["atol"])

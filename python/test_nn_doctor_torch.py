"""Live PyTorch tests of nn_doctor_torch (CI does not install torch; run
these where torch is installed):

    cargo build --release && python3 -m pytest python/test_nn_doctor_torch.py
    # or without pytest:
    cargo build --release && python3 python/test_nn_doctor_torch.py

The first tests check the recorder's numbers against values computed by hand
for tiny models; then how the run directory is written (streamed rows, one
run id, the complete flag, crashes, names); the last ones train the fixture
models of record_fixtures.py afresh and check `nn-doctor diagnose` names the
problem each was built to show (skipped when the binary is not built, or
predates the run id lines).
"""
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import warnings

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import record_fixtures  # noqa: E402
from nn_doctor_torch import LOSS_HEADER, METRICS_HEADER, Recorder, norms  # noqa: E402

BIN = os.environ.get("NN_DOCTOR", os.path.join(HERE, "..", "target", "release", "nn-doctor"))

try:
    import pytest

    SkipTest = pytest.skip.Exception

    def skip(reason):
        pytest.skip(reason)
except ImportError:  # run without pytest (__main__ below)
    class SkipTest(Exception):
        pass

    def skip(reason):
        raise SkipTest(reason)


def split_run_id(text):
    """A run CSV's text: (its run id, the text after the run id line)."""
    first, _, rest = text.partition("\n")
    assert first.startswith("# run_id="), first
    return first[len("# run_id="):], rest


def read_csv(path):
    """(run id, rows as dicts by header name) of a run CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        run_id, rest = split_run_id(f.read())
    return run_id, list(csv.DictReader(io.StringIO(rest)))


def read_run(out):
    """summary.json (None when absent) and both CSVs of a run directory."""
    summary = None
    if os.path.exists(os.path.join(out, "summary.json")):
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
    metrics_id, metrics = read_csv(os.path.join(out, "metrics.csv"))
    loss_id, loss = read_csv(os.path.join(out, "loss.csv"))
    return {"summary": summary, "metrics_id": metrics_id, "metrics": metrics, "loss_id": loss_id, "loss": loss}


def one_step(model, x, target, lr=0.1, every=1):
    out = tempfile.mkdtemp()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rec = Recorder(model, opt, out, loss="mse", every=every)
    y = model(x)
    loss = 0.5 * ((y - target) ** 2).sum(dim=1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    rec.step(loss)
    rec.close()
    run = read_run(out)
    return run["metrics"], run["summary"]


def test_dead_units_pre_activations_and_gradient_norms_by_hand():
    # By hand: x = [[1, 2], [3, 4]], W = [[1, 0], [0, -1], [1, 1]], b = [0, 0, -10]
    # z = [[1, -2, -7], [3, -4, -3]]: units 2 and 3 are <= 0 for both samples -> dead 2/3.
    lin = nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.0, 0.0, -10.0]))
    model = nn.Sequential(lin, nn.ReLU(inplace=True))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.zeros(2, 3)
    rows, facts = one_step(model, x, t)
    r = rows[0]
    assert r["activation"] == "relu" and r["module"] == "0"
    assert math.isclose(float(r["dead_frac"]), 2 / 3)
    # The in-place ReLU overwrote z; the recorder read it before.
    assert float(r["pre_min"]) == -7.0 and float(r["pre_max"]) == 3.0
    # f32 arithmetic on the device: 1e-6 relative.
    assert math.isclose(float(r["pre_mean_abs"]), (1 + 2 + 7 + 3 + 4 + 3) / 6, rel_tol=1e-6)
    # dL/dz = a / 2 (mean over 2 samples) on the live unit only: a = [1, 3] on unit 1
    # dL/dW row 1 = (1 * [1, 2] + 3 * [3, 4]) / 2 = [5, 7]; norm sqrt(74).
    assert math.isclose(float(r["grad_w_norm"]), math.sqrt(74), rel_tol=1e-6)
    assert math.isclose(float(r["grad_b_norm"]), 2.0, rel_tol=1e-6)  # (1 + 3) / 2
    # update = lr * grad: ||dW|| / ||W|| = 0.1 sqrt(74) / 2.
    assert math.isclose(float(r["update_ratio"]), 0.1 * math.sqrt(74) / 2, rel_tol=1e-6)
    assert facts["network"]["layers"][0]["units"] == 3 and facts["network"]["layers"][0]["fan_in"] == 2
    assert facts["nan_origin"] is None


def test_sigmoid_saturation_uses_the_engines_bound():
    # z = [-7, -5, 0, 6.5]: |z| > 5.986 for -7 and 6.5 -> 2 of 4 saturated.
    lin = nn.Linear(1, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[-7.0], [-5.0], [0.0], [6.5]]))
        lin.bias.zero_()
    rows, _ = one_step(nn.Sequential(lin, nn.Sigmoid()), torch.ones(1, 1), torch.zeros(1, 4))
    assert float(rows[0]["saturated_frac"]) == 0.5
    assert rows[0]["dead_frac"] == ""


def test_conv_dead_fraction_is_per_channel():
    # Channel 0 has bias +1 (alive somewhere), channel 1 bias -100 (dead everywhere).
    conv = nn.Conv2d(1, 2, 1)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.copy_(torch.tensor([1.0, -100.0]))
    x = torch.rand(2, 1, 3, 3)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten())
    rows, facts = one_step(model, x, torch.zeros(2, 18), lr=0.0)
    assert float(rows[0]["dead_frac"]) == 0.5
    assert facts["network"]["layers"][0]["kind"] == "conv2d"


def test_nonfinite_count_equals_comparisons_on_large_tensors():
    # Source of truth: torch's comparisons. Infinities, NaN and subnormals on
    # a tensor above the SMALL threshold (the float-only pass).
    import nn_doctor_torch as nd
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1000, generator=g) * 6
    x[0, :5] = torch.tensor([float("inf"), float("nan"), 1e-45, 0.0, float("-inf")])
    assert x.numel() >= nd.SMALL
    assert int(nd.count_nonfinite(x)) == int((~torch.isfinite(x)).sum()) == 3


def test_row_sums_equal_float64_definitions_on_large_layers():
    # The rows summed in one reduction (|z|, squared deviations, saturation
    # indicator) against the definitions computed in float64 by torch on the
    # same tensors, read by hooks of the test: mean |z|, population std of
    # the activation, |z| > the engine's bound (values placed at, just above
    # and just below it), softmax a(1 - a) < 0.0025.
    import nn_doctor_torch as nd
    torch.manual_seed(3)
    b32 = torch.tensor(nd.SIGMOID_SATURATION_Z, dtype=torch.float32)
    lin = nn.Linear(4, 3000)
    with torch.no_grad():
        lin.weight.mul_(20.0)
        lin.weight[:3, :] = 0.0
        lin.bias[:3] = torch.stack([b32, torch.nextafter(b32, torch.tensor(99.0)), torch.nextafter(b32, torch.tensor(0.0))])
    model = nn.Sequential(lin, nn.Sigmoid(), nn.Linear(3000, 7), nn.Softmax(dim=1))
    with torch.no_grad():
        model[2].weight.mul_(30.0)  # confident outputs: some saturated, some not
    seen = {}
    model[1].register_forward_hook(lambda m, a, o: seen.update(z1=a[0].detach().clone(), a1=o.detach().clone()))
    model[3].register_forward_hook(lambda m, a, o: seen.update(z2=a[0].detach().clone(), a2=o.detach().clone()))
    rows, _ = one_step(model, torch.randn(16, 4), torch.zeros(16, 7), lr=0.0)
    assert seen["z1"].numel() >= nd.SMALL
    for r, z, a, sat in ((rows[0], seen["z1"], seen["a1"], seen["z1"].abs() > b32),
                         (rows[1], seen["z2"], seen["a2"], seen["a2"] * (1 - seen["a2"]) < 0.0025)):
        z64, a64 = z.double(), a.double()
        assert math.isclose(float(r["pre_mean_abs"]), float(z64.abs().mean()), rel_tol=1e-6)
        assert math.isclose(float(r["act_std"]), float(a64.std(unbiased=False)), rel_tol=1e-6)
        assert math.isclose(float(r["act_mean"]), float(a64.mean()), rel_tol=1e-6)
        assert float(r["saturated_frac"]) == float(sat.double().mean())
    assert 0.0 < float(rows[0]["saturated_frac"]) < 1.0 and float(rows[1]["saturated_frac"]) > 0.0


def test_row_sums_in_float64_and_half_precision_models():
    # float64 rows for float64 models, float32 rows for bfloat16/float16 ones
    # (widened first). Source of truth: the definitions in float64 on the
    # tensors read by hooks of the test.
    for dtype in (torch.float64, torch.bfloat16, torch.float16):
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(5, 300), nn.Tanh(), nn.Linear(300, 4), nn.Softmax(dim=1)).to(dtype)
        with torch.no_grad():
            m[0].weight.mul_(3.0)
            m[2].weight.mul_(10.0)
        seen = {}
        m[1].register_forward_hook(lambda mod, a, o: seen.update(z=a[0].detach().double(), a=o.detach().double()))
        m[3].register_forward_hook(lambda mod, a, o: seen.update(a2=o.detach().double()))
        rows, _ = one_step(m, torch.randn(8, 5).to(dtype), torch.zeros(8, 4).to(dtype))
        z, a, a2 = seen["z"], seen["a"], seen["a2"]
        tol = 1e-12 if dtype == torch.float64 else 1e-6
        assert math.isclose(float(rows[0]["act_std"]), float(a.std(unbiased=False)), rel_tol=tol), dtype
        assert math.isclose(float(rows[0]["pre_mean_abs"]), float(z.abs().mean()), rel_tol=tol), dtype
        assert float(rows[0]["saturated_frac"]) == float((z.abs() > 2.993222846126382).double().mean()) > 0
        assert float(rows[1]["saturated_frac"]) == float((a2 * (1 - a2) < 0.0025).double().mean()) > 0


def run_steps(model, opt, xs, every=1):
    out = tempfile.mkdtemp()
    rec = Recorder(model, opt, out, loss="mse", every=every)
    for i, x in enumerate(xs):
        y = model(x)
        loss = 0.5 * (y ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss)
        if i == 0:
            with torch.no_grad():  # a change between steps: W before step 2 is this
                model[0].weight.mul_(2.0)
    rec.close()
    return [r for r in read_csv(os.path.join(out, "metrics.csv"))[1] if r["layer"] == "1"]


def test_update_ratio_exact_for_plain_sgd_and_other_optimizers():
    # Source of truth: the weights copied around each step by the test.
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(8, 5, generator=g) for _ in range(3)]
    for make in (lambda p: torch.optim.SGD(p, lr=0.3),
                 lambda p: torch.optim.SGD(p, lr=0.3, momentum=0.9),
                 lambda p: torch.optim.Adam(p, lr=0.01)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
        opt = make(model.parameters())
        want, w = [], model[0].weight
        hook_before = opt.register_step_pre_hook(lambda o, a, k: want.append(w.detach().clone()))
        hook_after = opt.register_step_post_hook(lambda o, a, k: want.append((want.pop(), w.detach().clone())))
        # Registered before the recorder's hooks, so they run first: the
        # recorder sees the same weights.
        rows = run_steps(model, opt, xs)
        hook_before.remove()
        hook_after.remove()
        assert len(rows) == 3 and len(want) == 3
        for row, (before, after) in zip(rows, want):
            ratio = float((before.double() - after.double()).norm() / before.double().norm())
            # f32 weights: the applied update differs from -lr grad by the
            # rounding of W (|W| eps / |dW| relative); 1e-4 covers it here.
            assert math.isclose(float(row["update_ratio"]), ratio, rel_tol=1e-4), (row["update_ratio"], ratio)
            assert math.isclose(float(row["weight_norm"]), float(after.double().norm()), rel_tol=1e-6)


def nan_phase(model, lr=0.1):
    _, facts = one_step(model, torch.ones(2, 3), torch.zeros(2, 1), lr=lr)
    o = facts["nan_origin"]
    return o and (o["phase"], o["layer"], o["step"])


class Sqrt(nn.Module):
    def forward(self, x):
        return x.abs().sqrt()


def test_norms_by_dot_product_equal_float64_norms_and_keep_the_flags():
    # Source of truth: the float64 sum of squares of each tensor. The CPU
    # float32/float64 path (a BLAS dot product) and the _foreach_norm path
    # (float16 here) must agree with it, a transposed (non-contiguous)
    # tensor included, and a NaN or infinity must make the norm non-finite.
    gen = torch.Generator().manual_seed(3)
    big = torch.randn(1000, 784, generator=gen)
    tensors = [big, big.double(), big.t(), torch.randn(7, generator=gen).half(), torch.zeros(0)]
    for t, n in zip(tensors, norms(tensors)):
        exact = float((t.double() ** 2).sum().sqrt())
        tol = 1e-12 if t.dtype == torch.float64 else 1e-3 if t.dtype == torch.float16 else 1e-6
        assert math.isclose(float(n), exact, rel_tol=tol, abs_tol=0.0 if exact else 1e-30), (t.dtype, float(n), exact)
    bad = [big.clone(), big.clone(), big.double()]
    bad[0][5, 5] = float("nan")
    bad[1][9, 1] = float("-inf")
    bad[2][0, 0] = float("inf")
    got = [float(n) for n in norms(bad)]
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == math.inf, got


def test_first_non_finite_forward_backward_and_update():
    # Forward: layer 2's weight holds inf, so its output is inf at step 1.
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    with torch.no_grad():
        m[1].weight[0, 0] = float("inf")
    assert nan_phase(m) == ("forward.linear", 2, 1)
    # Backward: sqrt'(0) = inf, so the gradient reaching layer 1's output
    # (all zeros: zero weights and bias) is non-finite; forward is finite.
    m = nn.Sequential(nn.Linear(3, 4), Sqrt(), nn.Linear(4, 1))
    with torch.no_grad():
        m[0].weight.zero_()
        m[0].bias.zero_()
        m[2].bias.fill_(1.0)
    assert nan_phase(m) == ("backward.delta", 1, 1)
    # Optimizer step: a learning rate of inf makes every updated weight non-finite.
    m = nn.Sequential(nn.Linear(3, 1))
    assert nan_phase(m, lr=float("inf")) == ("update", 1, 1)


def test_backward_origin_without_an_optimizer_step_and_its_spelling():
    # The output gradients are reduced with the parameter gradients at the
    # optimizer step; a loop that skips the step (as a GradScaler does on
    # inf) still gets them located by rec.step(). Source of truth for the
    # spelled value: the gradient reaching layer 1's output, read by a hook
    # of the test and spelled as a float64 sum of its elements would be.
    m = nn.Sequential(nn.Linear(3, 4), Sqrt(), nn.Linear(4, 1))
    with torch.no_grad():
        m[0].weight.zero_()
        m[0].bias.zero_()
        m[2].bias.fill_(1.0)
    seen = []

    def keep(mod, args, output):
        output.register_hook(lambda g: seen.append(g.detach().clone()))

    m[0].register_forward_hook(keep)
    out = tempfile.mkdtemp()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    rec = Recorder(m, opt, out, loss="mse")
    loss = 0.5 * (m(torch.ones(2, 3)) ** 2).sum(dim=1).mean()
    loss.backward()
    rec.step(loss)  # no opt.step()
    rec.close()
    with open(os.path.join(out, "summary.json")) as f:
        o = json.load(f)["nan_origin"]
    assert (o["phase"], o["layer"], o["step"]) == ("backward.delta", 1, 1)
    total = float(seen[0].double().sum())
    assert o["value"] == ("NaN" if math.isnan(total) else ("inf" if total > 0 else "-inf"))


def test_gradient_accumulation_holds_one_backward_of_output_gradients():
    # Two forward/backward passes before one optimizer step: the output
    # gradients of the first are reduced when the second forward starts.
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(model, opt, tempfile.mkdtemp(), loss="mse")
    held = []
    for _ in range(2):
        loss = (model(torch.randn(5, 3)) ** 2).mean()
        loss.backward()
        held.append(len(rec.deltas))
    opt.step()
    rec.step(loss)
    rec.close()
    assert held == [2, 2] and rec.deltas == []
    flags = [f for f in rec.flags if f[2] == "backward.delta"]
    assert len(flags) == 4 and rec.nan_origin is None


def record_files(make, transfer_on_cpu, steps=4, every=2):
    """metrics.csv, loss.csv and nan_origin of a short run of make()'s model."""
    torch.manual_seed(5)
    model, lr = make()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    out = tempfile.mkdtemp()
    rec = Recorder(model, opt, out, loss="mse", every=every)
    rec.transfer_on_cpu = transfer_on_cpu
    g = torch.Generator().manual_seed(2)
    for _ in range(steps):
        x = torch.randn(6, 1, 4, 4, generator=g) * 3
        target = torch.nn.functional.one_hot(torch.randint(0, 3, (6,), generator=g), 3).float()
        y = model(x)
        loss = 0.5 * ((y - target) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, y, target)
    rec.close()
    got = []
    for name in ("metrics.csv", "loss.csv"):  # each recording has its own run id
        with open(os.path.join(out, name)) as f:
            got.append(split_run_id(f.read())[1])
    with open(os.path.join(out, "summary.json")) as f:
        return got + [json.load(f)["nan_origin"]]


def test_values_read_in_place_on_the_cpu_equal_the_transferred_ones():
    # Source of truth: the one-transfer path other devices take (_to_host),
    # forced on the CPU; every value of metrics.csv, loss.csv and the NaN
    # origin must be identical, on a conv + ReLU + sigmoid + softmax model
    # and on one whose forward pass overflows at step 3.
    def healthy():
        return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(12, 5),
                             nn.Sigmoid(), nn.Linear(5, 3), nn.Softmax(dim=1)), 0.1

    def overflowing():
        m = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
        with torch.no_grad():
            m[3].weight.mul_(1e37)
        return m, 1e3

    for make in (healthy, overflowing):
        in_place, transferred = record_files(make, False), record_files(make, True)
        assert in_place == transferred, make.__name__
    assert record_files(overflowing, False)[2] is not None
    assert record_files(healthy, False)[2] is None


def test_finite_values_whose_sum_overflows_are_not_an_origin():
    # step()'s all-finite test sums the flags' values; float64 outputs of
    # 1e308 sum to inf although each is finite (and the float64 weight norm
    # overflows). Source of truth: every tensor of the step is finite (the
    # loss scales the outputs down to 2.0), so no origin may be named.
    lin = nn.Linear(1, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.fill_(1e308)
    opt = torch.optim.SGD(lin.parameters(), lr=0.0)
    rec = Recorder(lin, opt, tempfile.mkdtemp(), loss="mse")
    y = lin(torch.ones(1, 1, dtype=torch.float64))
    loss = (y * 1e-308).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    rec.step(loss)
    assert math.isinf(sum(t.item() for t in rec.flag_tensors))
    assert all(bool(torch.isfinite(t).all()) for t in (y, loss, lin.weight, lin.weight.grad))
    assert rec.nan_origin is None


def test_class_counts_over_more_steps_than_one_count_batch():
    # The labels are counted LABEL_BATCHES steps at a time. Source of truth:
    # the test's own count of every label it passed, for class-index targets
    # held in one buffer the loop overwrites in place after each step (the
    # recorder must have copied them) and for one-hot targets.
    import nn_doctor_torch as nd
    steps = nd.LABEL_BATCHES + 7
    for one_hot in (False, True):
        model = nn.Sequential(nn.Linear(3, 4))
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        out = tempfile.mkdtemp()
        rec = Recorder(model, opt, out, loss="cross_entropy", every=5)
        g = torch.Generator().manual_seed(4)
        buf, truth = torch.zeros(5, dtype=torch.long), [0] * 4
        for _ in range(steps):
            buf.copy_(torch.randint(0, 3, (5,), generator=g))  # class 3 never occurs
            for c in buf.tolist():
                truth[c] += 1
            y = model(torch.randn(5, 3, generator=g))
            target = nn.functional.one_hot(buf, 4).float() if one_hot else buf
            loss = nn.functional.cross_entropy(y, buf)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.step(loss, y, target)
            buf.fill_(0)  # the caller reuses its buffer
        rec.close()
        assert rec.class_counts.tolist() == truth, (one_hot, rec.class_counts.tolist(), truth)
        with open(os.path.join(out, "summary.json")) as f:
            pre = json.load(f)["preflight"]
        assert pre["classes"] == 4 and pre["chance_accuracy"] == max(truth) / (5 * steps)


def test_each_module_output_range_is_reduced_once():
    # A module output's (min, max) serves its non-finite flag and, for the
    # pre-activation, its statistics: one aminmax per output tensor.
    # Source of truth: the forward pass has four module outputs.
    import nn_doctor_torch as nd
    calls = []
    real = nd.span
    nd.span = lambda t: calls.append(t.shape) or real(t)
    try:
        model = nn.Sequential(nn.Linear(3, 5), nn.Sigmoid(), nn.Linear(5, 2), nn.Softmax(dim=1))
        one_step(model, torch.randn(4, 3), torch.zeros(4, 2))
    finally:
        nd.span = real
    assert calls == [torch.Size([4, 5])] * 2 + [torch.Size([4, 2])] * 2, calls


# --- the run directory: streamed rows, one run id, the complete flag ------------


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))


def train(rec, model, opt, steps, g, first=1, evaluate=()):
    """`steps` cross-entropy steps of a small classifier on random data;
    a test evaluation after the steps in `evaluate`."""
    for step in range(first, first + steps):
        x = torch.randn(16, 8, generator=g)
        y = torch.randint(0, 3, (16,), generator=g)
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, out, y)
        if step in evaluate:
            rec.evaluation(1.0 + step, step / 100, 50)


def record(out, steps, flush_every=50, every=1, evaluate=(), close=True, seed=0, **kw):
    torch.manual_seed(seed)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(model, opt, out, loss="cross_entropy", every=every, flush_every=flush_every, **kw)
    train(rec, model, opt, steps, torch.Generator().manual_seed(seed + 1), evaluate=evaluate)
    if close:
        rec.close()
    return rec


def steps_of(rows):
    return [int(r["step"]) for r in rows]


def assert_one_run(run, complete):
    """summary.json and both CSVs carry one run id (32 lowercase hex digits)."""
    s = run["summary"]
    assert s is not None, "no summary.json"
    rid = s["run_id"]
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid), rid
    assert run["metrics_id"] == run["loss_id"] == rid, (run["metrics_id"], run["loss_id"], rid)
    assert s["complete"] is complete, s["complete"]
    assert [l["layer"] for l in s["network"]["layers"]] == [1, 2]


def test_cross_entropy_is_recorded_as_a_loss_on_logits():
    # Source of truth: PyTorch's nn.CrossEntropyLoss takes unnormalized
    # logits; the recorder's loss="cross_entropy" names it, mse does not.
    out = tempfile.mkdtemp()
    record(out, 2)
    assert read_run(out)["summary"]["network"]["loss_input"] == "logits"
    out = tempfile.mkdtemp()
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(model, opt, out, loss="mse")
    rec.close()
    assert "loss_input" not in read_run(out)["summary"]["network"]


def test_losses_are_accepted_as_pytorch_names_them():
    # Source of truth: PyTorch's documentation of each loss's input
    # (CrossEntropyLoss and BCEWithLogitsLoss take logits, BCELoss
    # probabilities); an unknown loss warns instead of being dropped.
    from nn_doctor_torch import loss_spec
    assert loss_spec(nn.CrossEntropyLoss()) == ("cross_entropy", "logits")
    assert loss_spec(nn.CrossEntropyLoss) == ("cross_entropy", "logits")
    assert loss_spec("nn.CrossEntropyLoss") == ("cross_entropy", "logits")
    assert loss_spec("cross_entropy") == ("cross_entropy", "logits")
    assert loss_spec(nn.BCEWithLogitsLoss()) == ("binary_cross_entropy", "logits")
    assert loss_spec("BCELoss") == ("binary_cross_entropy", "probabilities")
    assert loss_spec(nn.MSELoss()) == ("mse", None)
    assert loss_spec(None) == (None, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert loss_spec(nn.NLLLoss()) == (None, None)
    assert any("NLLLoss" in str(w.message) for w in caught)
    out = tempfile.mkdtemp()
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Recorder(model, opt, out, loss=nn.BCEWithLogitsLoss()).close()
    net = read_run(out)["summary"]["network"]
    assert (net["loss"], net["loss_input"]) == ("binary_cross_entropy", "logits")


def test_one_unit_binary_accuracy_is_by_threshold():
    # Source of truth: the predictions counted by hand. Logits 2, -1, 0.5,
    # -3 against labels 1, 1, 0, 0: sign > 0 predicts 1, so 2 of 4 are right
    # (argmax over one column said 4 of 4). Probabilities are cut at 0.5.
    cases = [(nn.BCEWithLogitsLoss(), torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])),
             (nn.BCELoss(), torch.tensor([[0.9], [0.2], [0.7], [0.1]]))]
    for loss_fn, fixed in cases:
        out_dir = tempfile.mkdtemp()
        model = nn.Linear(1, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        rec = Recorder(model, opt, out_dir, loss=loss_fn)
        x = torch.zeros(4, 1)
        y = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
        out = model(x) * 0 + fixed  # the model's graph, these values
        loss = loss_fn(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, out, y)
        rec.close()
        run = read_run(out_dir)
        assert float(run["loss"][0]["batch_accuracy"]) == 0.5, (loss_fn, run["loss"][0])
        assert run["summary"]["preflight"]["classes"] == 2
    # Under a regression loss one unit has no accuracy.
    out_dir = tempfile.mkdtemp()
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    rec = Recorder(model, opt, out_dir, loss="mse")
    out = model(torch.zeros(4, 1))
    loss = nn.functional.mse_loss(out, torch.ones(4, 1))
    loss.backward()
    opt.step()
    rec.step(loss, out, torch.ones(4, 1))
    rec.close()
    assert read_run(out_dir)["loss"][0]["batch_accuracy"] == ""


def test_normal_run_carries_one_run_id_and_is_complete():
    # Source of truth: the steps the test ran and evaluated; the headers are
    # the module's constants; flush_every must not change a byte after the
    # run id line (the rows themselves are checked by the tests above).
    texts = []
    for flush_every in (1, 3, 10 ** 6):
        out = tempfile.mkdtemp()
        # Step 3 is a flush boundary: its test columns are filled after step()
        # and before the next step's flush; step 7 is the last, before close().
        rec = record(out, 7, flush_every=flush_every, every=2, evaluate=(3, 6, 7))
        rec._exit_hook()  # the atexit handler, after close(): does nothing
        rec.close()  # a second close() neither
        run = read_run(out)
        assert_one_run(run, complete=True)
        assert run["summary"]["run_id"] == rec.run_id
        assert steps_of(run["loss"]) == list(range(1, 8))
        assert steps_of(run["metrics"]) == [1, 1, 3, 3, 5, 5, 7, 7]
        tests = {int(r["step"]): (float(r["test_loss"]), float(r["test_accuracy"]))
                 for r in run["loss"] if r["test_loss"]}
        assert tests == {s: (1.0 + s, s / 100) for s in (3, 6, 7)}, tests
        assert all(r["test_accuracy"] == "" for r in run["loss"] if int(r["step"]) not in tests)
        parts = []
        for name, header in (("metrics.csv", METRICS_HEADER), ("loss.csv", LOSS_HEADER)):
            with open(os.path.join(out, name), newline="") as f:
                rid, rest = split_run_id(f.read())
            assert rid == rec.run_id
            assert rest.split("\n", 1)[0] == ",".join(header)
            parts.append(rest)
        texts.append(parts)
        assert sorted(os.listdir(out)) == ["loss.csv", "metrics.csv", "summary.json"]  # no temporary file left
    assert texts[0] == texts[1] == texts[2]


def test_rows_are_on_disk_before_close():
    # flush_every 5, 12 steps, no close(): the flushes at the start of steps
    # 2, 6 and 11 wrote the rows of steps 1..10, and a summary with the
    # layers that says the run is not complete.
    out = tempfile.mkdtemp()
    rec = record(out, 12, flush_every=5, close=False)
    run = read_run(out)
    assert_one_run(run, complete=False)
    assert steps_of(run["loss"]) == list(range(1, 11))
    assert steps_of(run["metrics"]) == [s for s in range(1, 11) for _ in (1, 2)]
    assert len(rec.steps) == 2 and len(rec.metric_rows) == 4  # memory: the rows not yet written
    rec.close()
    run = read_run(out)
    assert_one_run(run, complete=True)
    assert steps_of(run["loss"]) == list(range(1, 13))
    assert steps_of(run["metrics"]) == [s for s in range(1, 13) for _ in (1, 2)]


CRASH_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {here!r})
import torch
from torch import nn
from nn_doctor_torch import Recorder
torch.set_num_threads(1)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
rec = Recorder(model, opt, {out!r}, loss="cross_entropy", flush_every={flush_every})
g = torch.Generator().manual_seed(1)
for step in range(1, 301):
    x = torch.randn(16, 8, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    out = model(x)
    loss = nn.functional.cross_entropy(out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    rec.step(loss, out, y)
    if step == {crash_at}:
        {crash}
rec.close()
"""


def crashed_run(crash, crash_at, flush_every):
    """A run whose training script dies after step `crash_at`."""
    out = os.path.join(tempfile.mkdtemp(), "crashed")
    script = CRASH_SCRIPT.format(here=HERE, out=out, flush_every=flush_every, crash_at=crash_at, crash=crash)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    return out, p


def test_crash_by_exception_leaves_an_incomplete_readable_run():
    # The loop raises after step 137 (flush_every 20): the atexit handler
    # writes every recorded row and a summary saying complete: false.
    out, p = crashed_run('raise RuntimeError("boom in the training loop")', 137, 20)
    assert p.returncode == 1 and "boom in the training loop" in p.stderr, p.stderr
    assert "nn_doctor_torch" not in p.stderr, p.stderr  # no recorder warning
    run = read_run(out)
    assert_one_run(run, complete=False)
    assert steps_of(run["loss"]) == list(range(1, 138))
    assert steps_of(run["metrics"]) == [s for s in range(1, 138) for _ in (1, 2)]
    assert all(math.isfinite(float(r["loss"])) for r in run["loss"])
    assert sorted(os.listdir(out)) == ["loss.csv", "metrics.csv", "summary.json"]


def test_crash_by_sigkill_leaves_the_rows_of_the_last_flush():
    # SIGKILL after step 125 (flush_every 20): the last flush ran when step
    # 121 began, so steps 1..120 are on disk, whole lines, and summary.json
    # (written by that flush) says complete: false with the same run id.
    out, p = crashed_run("os.kill(os.getpid(), signal.SIGKILL)", 125, 20)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    run = read_run(out)
    assert_one_run(run, complete=False)
    assert steps_of(run["loss"]) == list(range(1, 121))
    assert steps_of(run["metrics"]) == [s for s in range(1, 121) for _ in (1, 2)]
    for name in ("metrics.csv", "loss.csv"):
        with open(os.path.join(out, name)) as f:
            assert f.read().endswith("\n")


def test_an_interrupted_flush_keeps_its_rows_for_the_exit_handler():
    # Ctrl-C landing while a flush formats the rows (simulated: num() raises
    # KeyboardInterrupt): the rows stay kept, and the atexit handler (called
    # here as the interpreter would) writes them, no step missing.
    import nn_doctor_torch as nd
    out = tempfile.mkdtemp()
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rec = Recorder(model, opt, out, loss="cross_entropy", flush_every=3)
    g = torch.Generator().manual_seed(1)
    train(rec, model, opt, 3, g)  # the flush when step 2 began wrote step 1
    real = nd.num

    def interrupt(v):
        raise KeyboardInterrupt

    nd.num = interrupt
    try:
        train(rec, model, opt, 1, g, first=4)  # step 4 begins: the flush of steps 2..3
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the simulated Ctrl-C did not reach the loop")
    finally:
        nd.num = real
    assert steps_of(read_run(out)["loss"]) == [1]
    rec._exit_hook()
    run = read_run(out)
    assert_one_run(run, complete=False)
    assert steps_of(run["loss"]) == [1, 2, 3]
    assert steps_of(run["metrics"]) == [1, 1, 2, 2, 3, 3]


def test_recording_over_an_older_run_never_mixes_two_runs():
    # Run A complete in the directory; run B starts there. Source of truth:
    # each recorder's run_id and the steps each ran.
    out = tempfile.mkdtemp()
    a = record(out, 9, flush_every=4, seed=0)
    assert read_run(out)["summary"]["run_id"] == a.run_id
    torch.manual_seed(1)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    b = Recorder(model, opt, out, loss="cross_entropy", flush_every=2)
    assert a.run_id != b.run_id
    # Started: no summary claims the directory; both CSVs are B's, empty.
    assert not os.path.exists(os.path.join(out, "summary.json"))
    run = read_run(out)
    assert run["metrics_id"] == run["loss_id"] == b.run_id and run["loss"] == run["metrics"] == []
    g = torch.Generator().manual_seed(2)
    for step in range(1, 6):
        train(b, model, opt, 1, g, first=step)
        run = read_run(out)  # at every step: no summary, or B's with B's rows
        assert run["metrics_id"] == run["loss_id"] == b.run_id
        if step == 1:
            assert run["summary"] is None  # the layers are known, but no flush ran yet
        else:
            assert_one_run(run, complete=False)
            assert run["summary"]["run_id"] == b.run_id
    b.close()
    run = read_run(out)
    assert_one_run(run, complete=True)
    assert run["summary"]["run_id"] == b.run_id
    assert steps_of(run["loss"]) == list(range(1, 6))


def test_a_second_recorder_in_the_same_directory_stops_the_first():
    # A is still recording when B starts in its directory: A must never
    # write a summary over B's CSVs. It warns once and writes nothing more;
    # training goes on.
    out = tempfile.mkdtemp()
    a = record(out, 3, flush_every=1, close=False)
    torch.manual_seed(1)
    model_b = mlp()
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1)
    b = Recorder(model_b, opt_b, out, loss="cross_entropy", flush_every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(a, a.model, a.optimizer, 3, torch.Generator().manual_seed(9), first=4)
        a.close()
    assert len(caught) == 1 and issubclass(caught[0].category, RuntimeWarning), [str(w.message) for w in caught]
    assert "no longer this recorder's file" in str(caught[0].message)
    assert not os.path.exists(os.path.join(out, "summary.json"))
    train(b, model_b, opt_b, 2, torch.Generator().manual_seed(3))
    b.close()
    run = read_run(out)
    assert_one_run(run, complete=True)
    assert run["summary"]["run_id"] == b.run_id and steps_of(run["loss"]) == [1, 2]


def test_io_failures_warn_once_and_never_raise():
    # A run directory that cannot be created (its path is a file), and a
    # summary that cannot be renamed into place mid-run: the training loop
    # and close() go on; one RuntimeWarning each.
    blocker = os.path.join(tempfile.mkdtemp(), "file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = record(os.path.join(blocker, "run"), 6, flush_every=2)
        rec.close()
    assert len(caught) == 1 and issubclass(caught[0].category, RuntimeWarning), [str(w.message) for w in caught]
    assert rec.failed and rec.steps == [] and rec.metric_rows == []

    out = tempfile.mkdtemp()
    real = os.replace

    def refuse(src, dst):
        raise OSError(28, "No space left on device (simulated)")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.replace = refuse
        try:
            rec = record(out, 6, flush_every=2)
        finally:
            os.replace = real
    assert len(caught) == 1 and "simulated" in str(caught[0].message), [str(w.message) for w in caught]
    assert rec.failed and not os.path.exists(os.path.join(out, "summary.json"))
    assert [n for n in os.listdir(out) if n.endswith(".tmp")] == []


def test_unsafe_run_names_are_refused():
    # nn-doctor writes reports/<name>: a given name must be one safe path
    # component. Refused before anything is hooked or written.
    for bad in ("../x", "/abs", "..", ".", ".hidden", "a/b", "a\\b", "a\x00b", "a\nb", "a\x7fb", "",
                "a\u200bb", "x" * 201, "\u00e9" * 101, b"bytes"):
        model = mlp()
        out = os.path.join(tempfile.mkdtemp(), "never")
        try:
            Recorder(model, torch.optim.SGD(model.parameters(), lr=0.1), out, name=bad)
        except ValueError as e:
            assert "run name" in str(e), e
        else:
            raise AssertionError(f"accepted {bad!r}")
        assert not os.path.exists(out), bad
        assert not model._forward_pre_hooks and not any(m._forward_hooks for m in model.modules()), bad
    for good in ("run-1", "mnist lr=0.1", "\u03c1 sweep", "x" * 200, "\u00e9" * 100, "a..b"):
        rec = record(tempfile.mkdtemp(), 1, name=good)
        assert rec.name == good and read_run(rec.out)["summary"]["name"] == good


def test_unsafe_default_names_fall_back_to_run():
    # The default name is the directory's; when that is not a safe name it
    # is "run".
    base = tempfile.mkdtemp()
    cases = {os.path.join(base, "x", "."): "x", os.path.join(base, "y") + os.sep: "y",
             os.path.join(base, ".hidden"): "run", os.path.join(base, "new\nline"): "run",
             os.fsencode(os.path.join(base, "bytes")): "bytes"}
    for out, want in cases.items():
        rec = record(out, 1)
        assert rec.name == want and read_run(os.fsdecode(out))["summary"]["name"] == want, (out, rec.name)
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())
    try:
        rec = record(".", 1)
        assert rec.name == "run" and read_run(".")["summary"]["name"] == "run"
    finally:
        os.chdir(cwd)


# --- nn-doctor itself (skipped without the binary) ------------------------------


def binary_missing():
    """Why the nn-doctor binary cannot be run, or None."""
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        return f"no nn-doctor binary at {BIN} (cargo build --release, or set NN_DOCTOR)"
    return None


def run_binary(run_dir):
    out = tempfile.mkdtemp()
    return subprocess.run([BIN, "diagnose", run_dir, "--out", out, "--format", "json"],
                          capture_output=True, text=True, timeout=600)


def without_run_id(run_dir):
    """A copy of a run directory as the recorder wrote it before run ids:
    no `# run_id=` lines, no run_id or complete key."""
    copy = os.path.join(tempfile.mkdtemp(), os.path.basename(os.path.normpath(run_dir)))
    os.makedirs(copy)
    for name in ("metrics.csv", "loss.csv"):
        with open(os.path.join(run_dir, name), newline="") as f:
            text = split_run_id(f.read())[1]
        with open(os.path.join(copy, name), "w", newline="") as f:
            f.write(text)
    with open(os.path.join(run_dir, "summary.json")) as f:
        facts = json.load(f)
    facts.pop("run_id", None)
    facts.pop("complete", None)
    with open(os.path.join(copy, "summary.json"), "w") as f:
        json.dump(facts, f, indent=2)
    return copy


def diagnosed(run_dir):
    """`nn-doctor diagnose` of a run directory; skips when the binary is
    missing or predates the run id lines (it refuses the run, exit 2, and
    reads the same run without them)."""
    reason = binary_missing()
    if reason:
        skip(reason)
    p = run_binary(run_dir)
    if p.returncode == 2 and run_binary(without_run_id(run_dir)).returncode in (0, 1):
        skip(f"{BIN} predates the run format's run id lines: {p.stderr.strip()[:300]}")
    return p


def test_binary_reads_streamed_and_crashed_runs():
    # Exit 0 (healthy) or 1 (diagnosed), never 2 (refused), for a closed run
    # and for a run whose loop raised (complete: false).
    if binary_missing():
        skip(binary_missing())
    normal = os.path.join(tempfile.mkdtemp(), "normal")
    record(normal, 120, flush_every=20)
    crashed, _ = crashed_run('raise RuntimeError("boom")', 90, 20)
    for run_dir in (normal, crashed):
        p = diagnosed(run_dir)
        assert p.returncode in (0, 1), (run_dir, p.returncode, p.stderr)


def diagnose(run_dir):
    p = diagnosed(run_dir)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def fresh(name):
    if binary_missing():
        skip(binary_missing())
    d = os.path.join(tempfile.mkdtemp(), name)
    truth = record_fixtures.RUNS[name](d)
    return diagnose(d), truth


def codes(s, layer=None):
    return {d["code"] for d in s["diagnoses"] if layer is None or d["layer"] == layer}


def test_live_seed_mlp():
    s, truth = fresh("torch_seed_mlp")
    for c in truth["must"]:
        assert c in codes(s, truth["layers"][c]), (c, s["diagnoses"])


def test_live_dead_relu_cnn():
    s, truth = fresh("torch_dead_relu_cnn")
    layer = next(n["layer"] for n in s["network"]["names"] if n["name"] == truth["module"])
    assert "dead-relus" in codes(s, layer)


def test_live_nan_model():
    s, truth = fresh("torch_nan_overflow")
    t = truth["first_nonfinite"]
    assert t, "the exhaustive check found no non-finite value"
    o = s["nan_origin"]
    assert (o["step"], o["phase"], o["layer"]) == (t["step"], t["phase"], t["layer"])


def test_live_lstm():
    s, _ = fresh("torch_lstm")
    assert s["verdict"] == "healthy", s["diagnoses"]


if __name__ == "__main__":
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok    {name}")
            except SkipTest as e:
                print(f"skip  {name}: {e}")
            except Exception as e:  # report every failure, then exit 1
                failed += 1
                print(f"FAIL  {name}: {e!r}")
    sys.exit(1 if failed else 0)

"""Live PyTorch tests of nn_doctor_torch (CI does not install torch; run
these where torch is installed):

    cargo build --release && python3 -m pytest python/test_nn_doctor_torch.py
    # or without pytest:
    cargo build --release && python3 python/test_nn_doctor_torch.py

The first tests check the recorder's numbers against values computed by hand
for tiny models; the last ones train the fixture models of
record_fixtures.py afresh and check `nn-doctor diagnose` names the problem
each was built to show.
"""
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import record_fixtures  # noqa: E402
from nn_doctor_torch import Recorder, norms  # noqa: E402

BIN = os.environ.get("NN_DOCTOR", os.path.join(HERE, "..", "target", "release", "nn-doctor"))


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
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "summary.json")) as f:
        facts = json.load(f)
    return rows, facts


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
    with open(os.path.join(out, "metrics.csv")) as f:
        return [r for r in csv.DictReader(f) if r["layer"] == "1"]


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
    got = [open(os.path.join(out, f)).read() for f in ("metrics.csv", "loss.csv")]
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


def diagnose(run_dir):
    out = tempfile.mkdtemp()
    p = subprocess.run([BIN, "diagnose", run_dir, "--out", out, "--format", "json"],
                       capture_output=True, text=True)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def fresh(name):
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
            except Exception as e:  # report every failure, then exit 1
                failed += 1
                print(f"FAIL  {name}: {e!r}")
    sys.exit(1 if failed else 0)

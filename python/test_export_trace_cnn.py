"""Checks examples/export_trace_cnn_numpy.py, the independent NumPy CNN
step behind the version 2 trace fixtures, against PyTorch autograd (the
source of truth) on the same weights, batch and dropout mask, in float64.
Needs numpy and torch (CI does not install torch; run it where torch is):

    python3 -m pytest python/test_export_trace_cnn.py
    # or without pytest:
    python3 python/test_export_trace_cnn.py
"""
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
import export_trace_cnn_numpy as ex  # noqa: E402

TOL = 1e-10


def torch_step(spec, x, t, params, masks, loss):
    """The same step in PyTorch: per layer (output, dL/d(output),
    dL/d(input), {param: grad}) and the loss value."""
    tp = [{k: torch.tensor(v, requires_grad=True) for k, v in p.items()} for p in params]
    a = torch.tensor(x, requires_grad=True)
    inputs, outs, pres = [], [], []
    for l, p, m in zip(spec, tp, masks):
        a.retain_grad()
        inputs.append(a)
        k = l["kind"]
        z = None
        if k == "conv2d":
            z = F.conv2d(a, p["weight"], p["bias"], stride=l["stride"], padding=l["padding"])
        elif k == "dense":
            z = F.linear(a, p["weight"], p["bias"])
        elif k == "batch_norm":
            y = F.batch_norm(a, None, None, p["weight"], p["bias"], training=True, eps=l["eps"])
        elif k == "max_pool2d":
            y = F.max_pool2d(a, l["size"], l.get("stride", l["size"]))
        elif k == "avg_pool2d":
            y = F.avg_pool2d(a, l["size"], l.get("stride", l["size"]))
        elif k == "flatten":
            y = torch.flatten(a, 1)
        elif k == "dropout":
            y = a * torch.tensor(m) / (1 - l["rate"])
        if z is not None:
            z.retain_grad()
            name = l.get("activation", "linear")
            y = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                 "linear": lambda v: v, "softmax": lambda v: torch.softmax(v, dim=1)}[name](z)
        y.retain_grad()
        pres.append(z)
        outs.append(y)
        a = y
    tt = torch.tensor(t)
    n = t.shape[0]
    if loss == "cross_entropy":
        lv = -(tt * torch.log_softmax(pres[-1], dim=1)).sum() / n
    else:
        lv = 0.5 * ((outs[-1] - tt) ** 2).sum() / n
    lv.backward()
    res = []
    for i in range(len(spec)):
        delta = pres[i].grad if pres[i] is not None else outs[i].grad
        res.append(dict(
            output=outs[i].detach().numpy(),
            pre=None if pres[i] is None else pres[i].detach().numpy(),
            delta=delta.numpy(),
            grad_input=inputs[i].grad.numpy(),
            grads={k: v.grad.numpy() for k, v in tp[i].items()},
        ))
    return lv.item(), res


def numpy_step(net, loss, seed, bug=None, batch=4):
    spec, x, t, params, masks = ex.make_step(net, batch, loss, seed)
    name, at = ex.parse_bug(spec, bug)
    rec = ex.forward(spec, params, masks, x)
    lv, back = ex.backward(spec, params, masks, rec, t, loss, name, at)
    return spec, x, t, params, masks, rec, lv, back, at


def max_diff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def test_correct_step_matches_pytorch_autograd():
    for net, loss, seed in [("default", "cross_entropy", 0), ("default", "mse", 1),
                            ("small", "cross_entropy", 2), ("small", "mse", 3)]:
        spec, x, t, params, masks, rec, lv, back, _ = numpy_step(net, loss, seed)
        tlv, tres = torch_step(spec, x, t, params, masks, loss)
        assert abs(lv - tlv) <= TOL, (net, loss, lv, tlv)
        worst = 0.0
        for i, (r, b, tr) in enumerate(zip(rec, back, tres)):
            where = f"{net}/{loss} layer {i + 1} {spec[i]['kind']}"
            checks = [("output", r[2], tr["output"]), ("delta", b["delta"], tr["delta"]),
                      ("grad_input", b["grad_input"], tr["grad_input"])]
            if r[1] is not None and tr["pre"] is not None:
                checks.append(("pre", r[1], tr["pre"]))
            checks += [(f"grad {k}", b["grads"][k], tr["grads"][k]) for k in tr["grads"]]
            for what, mine, ref in checks:
                d = max_diff(np.asarray(mine), ref)
                worst = max(worst, d)
                assert d <= TOL, f"{where} {what}: max |numpy - torch| = {d:.3g}"
        print(f"{net}/{loss}: worst |numpy - torch| = {worst:.3g}")


def test_each_bug_changes_the_backward_pass_at_its_layer_only():
    """Every --bug variant leaves the forward pass and the layers above it
    unchanged and changes that layer's input gradient (so it is a
    backprop mistake at one named layer, visible in the trace)."""
    spec, x, t, params, masks, rec, lv, back, _ = numpy_step("default", "cross_entropy", 0)
    for bug in ex.BUGS:
        _, _, _, _, _, brec, blv, bback, at = numpy_step("default", "cross_entropy", 0, bug)
        assert blv == lv
        for i in range(len(spec)):
            for key in ("delta", "grad_input"):
                same = np.array_equal(back[i][key], bback[i][key])
                if i + 1 > at or (i + 1 == at and key == "delta"):
                    assert same, f"{bug}: layer {i + 1} {key} changed above the bug"
        d = max_diff(back[at - 1]["grad_input"], bback[at - 1]["grad_input"])
        assert d > 1e-6, f"{bug}@{at}: input gradient unchanged ({d:.3g})"
        print(f"{bug}@{at} ({spec[at - 1]['kind']}): max change of grad_input {d:.3g}")


def test_written_trace_names_every_tensor_file():
    with tempfile.TemporaryDirectory() as out:
        spec, x, t, params, masks, rec, lv, back, _ = numpy_step("default", "cross_entropy", 0)
        ex.write(out, spec, x, t, params, masks, rec, lv, back, "cross_entropy", "npy")
        text = open(os.path.join(out, "trace.toml")).read()
        assert "version = 2" in text
        for line in text.splitlines():
            for part in line.split('"')[1::2]:
                if part.endswith(".npy"):
                    assert os.path.exists(os.path.join(out, part)), part
        w = np.load(os.path.join(out, "l1_weight.npy"))
        assert w.shape == (3, 2, 3, 3)
        assert np.load(os.path.join(out, "x.npy")).shape == (4, 2, 10, 10)


def read_trace(d):
    """A version 2 trace directory back into the exporter's step inputs."""
    with open(os.path.join(d, "trace.toml"), "rb") as fh:
        toml = tomllib.load(fh)
    load = lambda f: np.load(os.path.join(d, f))
    keys = {"params", "grads", "mask", "pre_activation", "output", "delta", "grad_input"}
    spec = [{k: v for k, v in l.items() if k not in keys} for l in toml["layers"]]
    params = [{k: load(f) for k, f in l.get("params", {}).items()} for l in toml["layers"]]
    masks = [load(l["mask"]) if "mask" in l else None for l in toml["layers"]]
    return toml, spec, load(toml["input"]), load(toml["target"]), params, masks


def test_pytorch_recipe_writes_a_trace_the_numpy_step_reproduces():
    """The CNN recipe of examples/pytorch_trace.md, run as written, dumps a
    version 2 trace whose every tensor the independent NumPy step
    recomputes from its inputs, parameters and mask."""
    md = open(os.path.join(HERE, "..", "examples", "pytorch_trace.md")).read()
    code = re.findall(r"```python\n(.*?)```", md, re.S)[-1]
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "recipe.py"), "w").write(code)
        subprocess.run([sys.executable, "recipe.py"], cwd=d, check=True)
        out = os.path.join(d, "trace-torch-cnn")
        toml, spec, x, t, params, masks = read_trace(out)
        assert toml["version"] == 2
        rec = ex.forward(spec, params, masks, x)
        lv, back = ex.backward(spec, params, masks, rec, t, toml["loss"], None, None)
        assert abs(lv - toml["loss_value"]) <= TOL
        worst = 0.0
        for i, (l, r, b) in enumerate(zip(toml["layers"], rec, back)):
            mine = {"output": r[2], "delta": b["delta"], "grad_input": b["grad_input"]}
            if "pre_activation" in l:
                mine["pre_activation"] = r[1]
            for key, v in mine.items():
                worst = max(worst, max_diff(v, np.load(os.path.join(out, l[key]))))
            for k, f in l.get("grads", {}).items():
                worst = max(worst, max_diff(b["grads"][k], np.load(os.path.join(out, f))))
        assert worst <= TOL, worst
        print(f"pytorch recipe trace: worst |numpy - torch| = {worst:.3g}")


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
            print("ok", name)

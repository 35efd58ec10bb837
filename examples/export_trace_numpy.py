#!/usr/bin/env python3
"""Write a trace of one training step of a plain NumPy MLP, for
`nn-doctor verify-trace`.

This is an independent implementation (it shares no code with nn-doctor's
Rust engine): copy it, replace `forward`/`backward` by your own, and check
them with `nn-doctor verify-trace OUT_DIR`. It also generated the traces in
fixtures/traces/ (see fixtures/traces/README.md for the exact commands).

Usage:
    python3 examples/export_trace_numpy.py OUT_DIR [options]

Options:
    --sizes 4,5,3            input width, then the units of each layer
    --batch 4                samples in the batch
    --hidden sigmoid         hidden activation: sigmoid | tanh | relu
    --output softmax         output activation: softmax | sigmoid | linear
    --loss mse               mse (1/2 sum (y-t)^2 per sample) | cross_entropy
    --reduction mean         over the batch: mean | sum
    --no-mse-half            MSE without the 1/2 (declared mse_half = false)
    --layout out_in          out_in: W[j][i], z = a @ W.T + b (PyTorch)
                             in_out: z = a @ W + b (NumPy x @ W, hmatrix)
    --format npy             npy | csv
    --dtype f64              f64 | f32 (the whole step is computed in it)
    --seed 0                 data and weights seed
    --bug CODE[@LAYER]       reproduce a backprop mistake of nn-doctor's
                             catalogue at a 1-based layer (default layer:
                             the output layer for missing-output-derivative
                             and wrong-layer-input, else layer 1)
    --naive-softmax          softmax without subtracting the max, with the
                             output weights scaled x1000 so exp overflows
    --declare-layout L       write weight_layout = L into trace.toml while
                             saving in --layout (a deliberate mismatch)

Bug codes: missing-output-derivative, missing-activation-derivative,
derivative-at-wrong-point, wrong-weights-in-backprop,
transposed-weight-gradient, wrong-layer-input, bias-gradient-wrong-axis,
sign-flipped, batch-sum-not-mean.

Conventions written to trace.toml: every delta is dL/dz of the declared
loss (so with reduction = "mean" it includes the 1/batch); grad_weight is
stored in the declared layout.
"""

import argparse
import os

import numpy as np

BUGS = [
    "missing-output-derivative",
    "missing-activation-derivative",
    "derivative-at-wrong-point",
    "wrong-weights-in-backprop",
    "transposed-weight-gradient",
    "wrong-layer-input",
    "bias-gradient-wrong-axis",
    "sign-flipped",
    "batch-sum-not-mean",
]


def act(name, z, naive=False):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z) if naive else np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def dact(name, z):
    """f'(z) of an element-wise activation."""
    if name == "sigmoid":
        s = act("sigmoid", z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "linear":
        return np.ones_like(z)
    raise ValueError(name)


def linear(a, W, b, layout):
    return (a @ W if layout == "in_out" else a @ W.T) + b


def forward(x, Ws, bs, acts, layout, naive):
    zs, As = [], []
    a = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = linear(a, W, b, layout)
        a = act(acts[i], z, naive and i == len(Ws) - 1)
        zs.append(z)
        As.append(a)
    return zs, As


def loss_value(zs, As, t, out_act, loss, reduction, mse_half, naive):
    n = t.shape[0]
    y, z = As[-1], zs[-1]
    if loss == "mse":
        per = ((y - t) ** 2).sum(axis=1) * (0.5 if mse_half else 1.0)
    elif out_act == "softmax":
        if naive:
            with np.errstate(all="ignore"):
                per = -(t * np.log(y)).sum(axis=1)
        else:
            m = z.max(axis=1, keepdims=True)
            logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
            per = -(t * logp).sum(axis=1)
    else:  # binary cross-entropy of sigmoid(z), summed over units
        per = (np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))).sum(axis=1)
    return float(per.sum() if reduction == "sum" else per.sum() / n)


def backward(x, t, Ws, zs, As, acts, a):
    """Deltas and gradients, output layer first. `a` holds the options;
    a.bug / a.bug_layer inject one catalogue mistake."""
    L = len(Ws)
    n = x.shape[0]
    r = 1.0 if a.reduction == "sum" else 1.0 / n
    k = 1.0 if (a.loss != "mse" or a.mse_half) else 2.0
    bug, at = a.bug, a.bug_layer
    deltas, gWs, gbs = [None] * L, [None] * L, [None] * L
    y, zL = As[-1], zs[-1]
    if a.loss == "cross_entropy":
        d = (y - t) * r
    else:
        g = (y - t) * (r * k)  # dL/dy
        if bug == "missing-output-derivative" and at == L:
            d = g
        elif acts[-1] == "softmax":
            d = y * (g - (g * y).sum(axis=1, keepdims=True))
        else:
            d = g * dact(acts[-1], zL)
    for l in range(L, 0, -1):  # 1-based layer
        i = l - 1
        if l < L:
            Wn = Ws[l]
            if bug == "wrong-weights-in-backprop" and at == l:
                units_n, fan_in_n = Ws[l].shape if a.layout == "out_in" else Ws[l].shape[::-1]
                if a.layout == "in_out":
                    back = deltas[l] @ Wn.reshape(units_n, fan_in_n)
                else:
                    back = deltas[l] @ Wn.reshape(fan_in_n, units_n).T
            else:
                back = deltas[l] @ (Wn.T if a.layout == "in_out" else Wn)
            if bug == "missing-activation-derivative" and at == l:
                d = back
            elif bug == "derivative-at-wrong-point" and at == l:
                d = back * dact(acts[i], As[i])
            else:
                d = back * dact(acts[i], zs[i])
        deltas[i] = d
        inp = x if l == 1 else As[i - 1]
        if bug == "wrong-layer-input" and at == l:
            inp = zs[i - 1]  # the pre-activations of the layer below
        if bug == "transposed-weight-gradient" and at == l:
            if a.layout == "in_out":
                gW = (d.T @ inp).reshape(inp.shape[1], d.shape[1])
            else:
                gW = (inp.T @ d).reshape(d.shape[1], inp.shape[1])
        else:
            gW = inp.T @ d if a.layout == "in_out" else d.T @ inp
        gb = d.sum(axis=0)
        if bug == "bias-gradient-wrong-axis" and at == l:
            gb = np.resize(d.sum(axis=1), d.shape[1])  # unchecked copy: cyclic
        if bug == "sign-flipped" and at == l:
            gW, gb = -gW, -gb
        if bug == "batch-sum-not-mean" and at == l:
            gW, gb = gW * n, gb * n
        gWs[i], gbs[i] = gW, gb
    return deltas, gWs, gbs


def save(out, name, arr, fmt, dtype):
    arr = np.asarray(arr, dtype=dtype)
    if fmt == "npy":
        path = name + ".npy"
        np.save(os.path.join(out, path), arr)
    else:
        path = name + ".csv"
        digits = "%.17g" if dtype == np.float64 else "%.9g"
        np.savetxt(os.path.join(out, path), np.atleast_2d(arr) if arr.ndim == 1 else arr,
                   fmt=digits, delimiter=",")
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--sizes", default="4,5,3")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--hidden", default="sigmoid")
    p.add_argument("--output", default="softmax")
    p.add_argument("--loss", default="mse")
    p.add_argument("--reduction", default="mean")
    p.add_argument("--no-mse-half", dest="mse_half", action="store_false")
    p.add_argument("--layout", default="out_in", choices=["out_in", "in_out"])
    p.add_argument("--declare-layout", default=None, choices=["out_in", "in_out"])
    p.add_argument("--format", default="npy", choices=["npy", "csv"])
    p.add_argument("--dtype", default="f64", choices=["f64", "f32"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bug", default=None)
    p.add_argument("--naive-softmax", action="store_true")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    L = len(sizes) - 1
    acts = [a.hidden] * (L - 1) + [a.output]
    a.bug_layer = None
    if a.bug:
        code, _, layer = a.bug.partition("@")
        if code not in BUGS:
            p.error(f"unknown bug {code!r}; one of {', '.join(BUGS)}")
        default = L if code in ("missing-output-derivative", "wrong-layer-input") else 1
        a.bug, a.bug_layer = code, int(layer) if layer else default
    dtype = np.float64 if a.dtype == "f64" else np.float32
    rng = np.random.default_rng(a.seed)
    n = a.batch
    x = rng.uniform(0, 1, (n, sizes[0])).astype(dtype)
    if a.output == "softmax":
        t = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    else:
        t = rng.uniform(0, 1, (n, sizes[-1])).astype(dtype)
    Ws, bs = [], []
    for i in range(L):
        fan_in, units = sizes[i], sizes[i + 1]
        W = rng.normal(0, 1 / np.sqrt(fan_in), (units, fan_in))  # out_in
        if a.naive_softmax and i == L - 1:
            W = np.abs(W) * 1000.0
        Ws.append((W if a.layout == "out_in" else W.T).astype(dtype))
        bs.append(rng.normal(0, 0.1, units).astype(dtype))
    with np.errstate(all="ignore"):
        zs, As = forward(x, Ws, bs, acts, a.layout, a.naive_softmax)
        lv = loss_value(zs, As, t, a.output, a.loss, a.reduction, a.mse_half, a.naive_softmax)
        deltas, gWs, gbs = backward(x, t, Ws, zs, As, acts, a)
    os.makedirs(a.out, exist_ok=True)
    f = lambda name, arr: save(a.out, name, arr, a.format, dtype)
    lines = [
        "# Written by examples/export_trace_numpy.py",
        f'loss = "{a.loss}"',
        f'reduction = "{a.reduction}"',
    ]
    if a.loss == "mse":
        lines.append(f"mse_half = {'true' if a.mse_half else 'false'}")
    lines += [
        f'weight_layout = "{a.declare_layout or a.layout}"',
        f'input = "{f("x", x)}"',
        f'target = "{f("t", t)}"',
        f"loss_value = {'nan' if np.isnan(lv) else repr(lv)}",
    ]
    for i in range(L):
        l = i + 1
        lines += [
            "",
            "[[layers]]",
            f'activation = "{acts[i]}"',
            f'weight = "{f(f"w{l}", Ws[i])}"',
            f'bias = "{f(f"b{l}", bs[i])}"',
            f'pre_activation = "{f(f"z{l}", zs[i])}"',
            f'output = "{f(f"a{l}", As[i])}"',
            f'delta = "{f(f"d{l}", deltas[i])}"',
            f'grad_weight = "{f(f"gw{l}", gWs[i])}"',
            f'grad_bias = "{f(f"gb{l}", gbs[i])}"',
        ]
    with open(os.path.join(a.out, "trace.toml"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

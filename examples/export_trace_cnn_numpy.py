#!/usr/bin/env python3
"""Write a version 2 trace of one training step of a plain NumPy CNN, for
`nn-doctor verify-trace`.

An independent implementation (NumPy only; it shares no code with
nn-doctor's Rust engine): conv2d (NCHW, weight [out, in, kh, kw] as in
PyTorch, stride and zero padding), max/avg pooling, batch norm in training
mode, flatten, dropout with a given mask, dense, softmax/cross-entropy or
MSE. python/test_export_trace_cnn.py checks every tensor of the correct step
against PyTorch autograd on the same weights and mask (<= 1e-10 in f64).

Usage:
    python3 examples/export_trace_cnn_numpy.py OUT_DIR [options]

Options:
    --net default            the architecture (see NETS below): default | small | mlp
    --batch 4                samples in the batch
    --loss cross_entropy     cross_entropy (softmax output) | mse (1/2, per sample)
    --format npy             npy (tensors keep their 4-D shape) |
                             csv (every tensor flattened to 2-D [batch, C*H*W])
    --seed 0                 data, weights and dropout mask seed
    --bug NAME[@LAYER]       reproduce one mistake of the convolutional
                             catalogue at a 1-based layer (default: the first
                             layer of the kind the mistake is about that can
                             show it)

Bugs (each changes only the backward pass):
    conv-kernel-not-rotated     conv input gradient correlates dY with the
                                kernel as stored instead of rotated 180 deg
    conv-backward-padding       conv input gradient cropped without the
                                forward padding offset (padding ignored)
    conv-backward-stride        conv input gradient scattered as if stride 1
    maxpool-wrong-element       max-pool gradient sent to the transposed
                                position of the window's maximum
    maxpool-spread              max-pool gradient spread evenly over the window
    batchnorm-stats-constant    batch-norm backward treats the batch mean and
                                variance as constants
    dropout-no-mask             dropout backward without the mask
    dropout-no-scale            dropout backward without the 1/(1-rate) scale
    flatten-order               flatten backward unflattens channels-last
                                (NHWC) while the forward flattened NCHW

Trace format version 2 (see docs/verify-trace.md): per layer a
`kind` and its config keys, `params`/`grads` tables naming one file per
parameter tensor, `output` (after the activation), `pre_activation`
(conv2d/dense), `delta` = dL/d(pre_activation) (= dL/d(output) for kinds
without activation), `grad_input` = dL/d(layer input), and `mask` (dropout).
"""

import argparse
import os

import numpy as np

BUGS = {
    "conv-kernel-not-rotated": "conv2d",
    "conv-backward-padding": "conv2d",
    "conv-backward-stride": "conv2d",
    "maxpool-wrong-element": "max_pool2d",
    "maxpool-spread": "max_pool2d",
    "batchnorm-stats-constant": "batch_norm",
    "dropout-no-mask": "dropout",
    "dropout-no-scale": "dropout",
    "flatten-order": "flatten",
}

# Input shape [C, H, W] and layers (config keys as in nn-doctor's config).
NETS = {
    "default": (
        [2, 10, 10],
        [
            dict(kind="conv2d", filters=3, kernel=3, stride=1, padding=1, activation="relu"),
            dict(kind="batch_norm", eps=1e-5, momentum=0.1),
            dict(kind="max_pool2d", size=2, stride=2),
            dict(kind="conv2d", filters=4, kernel=3, stride=2, padding=1, activation="tanh"),
            dict(kind="avg_pool2d", size=2, stride=1),
            dict(kind="flatten"),
            dict(kind="dropout", rate=0.25),
            dict(kind="dense", units=3, activation="softmax"),
        ],
    ),
    "mlp": (
        [4],
        [
            dict(kind="dense", units=5, activation="tanh"),
            dict(kind="dense", units=3, activation="softmax"),
        ],
    ),
    "small": (
        [1, 6, 6],
        [
            dict(kind="conv2d", filters=2, kernel=3, stride=1, padding=0, activation="sigmoid"),
            dict(kind="max_pool2d", size=2, stride=2),
            dict(kind="flatten"),
            dict(kind="dense", units=3, activation="softmax"),
        ],
    ),
}


def act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
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


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


# ---------------------------------------------------------------- conv2d
def window(xp, u, v, s, ho, wo):
    """xp[:, :, u + s*i, v + s*j] for every output position (i, j)."""
    return xp[:, :, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s]


def conv_forward(x, W, b, s, p):
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    ho, wo = conv_out(h, kh, s, p), conv_out(w, kw, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    z = np.zeros((n, o, ho, wo)) + b[None, :, None, None]
    for u in range(kh):
        for v in range(kw):
            z += np.einsum("nchw,oc->nohw", window(xp, u, v, s, ho, wo), W[:, :, u, v])
    return z


def conv_backward(x, W, s, p, d, bug):
    """(dL/dx, dL/dW, dL/db) from d = dL/dz. The input gradient is the
    transposed convolution written as a scatter: output position (i, j)
    sends d * W[:, :, u, v] back to padded input position (s*i+u, s*j+v),
    which is the full correlation of the stride-dilated d with the kernel
    rotated by 180 degrees."""
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    ho, wo = d.shape[2], d.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    gW = np.zeros_like(W)
    for u in range(kh):
        for v in range(kw):
            gW[:, :, u, v] = np.einsum("nohw,nchw->oc", d, window(xp, u, v, s, ho, wo))
    gb = d.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    for u in range(kh):
        for v in range(kw):
            # The kernel tap position (u, v) pairs with W[:, :, u, v]; the
            # "not rotated" mistake correlates with the stored kernel, which
            # in this form pairs tap (u, v) with W[:, :, kh-1-u, kw-1-v].
            k = W[:, :, kh - 1 - u, kw - 1 - v] if bug == "conv-kernel-not-rotated" else W[:, :, u, v]
            back = np.einsum("nohw,oc->nchw", d, k)
            if bug == "conv-backward-stride":
                dxp[:, :, u : u + ho, v : v + wo] += back
            else:
                dxp[:, :, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s] += back
    off = 0 if bug == "conv-backward-padding" else p
    dx = dxp[:, :, off : off + h, off : off + w]
    return dx, gW, gb


# ---------------------------------------------------------------- pooling
def pool_windows(x, k, s):
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    return ho, wo


def maxpool_forward(x, k, s):
    n, c, h, w = x.shape
    ho, wo = pool_windows(x, k, s)
    y = np.full((n, c, ho, wo), -np.inf)
    for u in range(k):
        for v in range(k):
            y = np.maximum(y, window(x, u, v, s, ho, wo))
    return y


def maxpool_backward(x, k, s, dy, bug):
    n, c, h, w = x.shape
    ho, wo = dy.shape[2], dy.shape[3]
    dx = np.zeros_like(x)
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * s : i * s + k, j * s : j * s + k].reshape(n, c, k * k)
            if bug == "maxpool-spread":
                dx[:, :, i * s : i * s + k, j * s : j * s + k] += dy[:, :, i, j][:, :, None, None] / (k * k)
                continue
            idx = win.argmax(axis=2)
            u, v = idx // k, idx % k
            if bug == "maxpool-wrong-element":
                u, v = v, u
            for a in range(n):
                for ch in range(c):
                    dx[a, ch, i * s + u[a, ch], j * s + v[a, ch]] += dy[a, ch, i, j]
    return dx


def avgpool_forward(x, k, s):
    ho, wo = pool_windows(x, k, s)
    y = 0
    for u in range(k):
        for v in range(k):
            y = y + window(x, u, v, s, ho, wo)
    return y / (k * k)


def avgpool_backward(x, k, s, dy):
    ho, wo = dy.shape[2], dy.shape[3]
    dx = np.zeros_like(x)
    for u in range(k):
        for v in range(k):
            dx[:, :, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s] += dy / (k * k)
    return dx


# ---------------------------------------------------------------- batch norm
def bn_axes(x):
    return (0, 2, 3) if x.ndim == 4 else (0,)


def bn_shape(x, v):
    return v[None, :, None, None] if x.ndim == 4 else v[None, :]


def bn_forward(x, gamma, beta, eps):
    ax = bn_axes(x)
    mu = x.mean(axis=ax)
    var = x.var(axis=ax)  # biased, as in the training-mode normalisation
    xhat = (x - bn_shape(x, mu)) / np.sqrt(bn_shape(x, var) + eps)
    return bn_shape(x, gamma) * xhat + bn_shape(x, beta), xhat, var


def bn_backward(x, gamma, eps, dy, bug):
    ax = bn_axes(x)
    m = x.size // x.shape[1]
    mu = x.mean(axis=ax)
    var = x.var(axis=ax)
    inv = 1.0 / np.sqrt(bn_shape(x, var) + eps)
    xhat = (x - bn_shape(x, mu)) * inv
    dxhat = dy * bn_shape(x, gamma)
    g_gamma = (dy * xhat).sum(axis=ax)
    g_beta = dy.sum(axis=ax)
    if bug == "batchnorm-stats-constant":
        dx = dxhat * inv
    else:
        s1 = bn_shape(x, dxhat.sum(axis=ax))
        s2 = bn_shape(x, (dxhat * xhat).sum(axis=ax))
        dx = inv / m * (m * dxhat - s1 - xhat * s2)
    return dx, g_gamma, g_beta


# ---------------------------------------------------------------- the step
def init(spec, shape, rng):
    """Parameters of each layer (PyTorch layouts) and its output shape."""
    params, shapes = [], []
    for l in spec:
        k = l["kind"]
        p = {}
        if k == "conv2d":
            c, h, w = shape
            kh, kw = pair(l["kernel"])
            fan_in = c * kh * kw
            p["weight"] = rng.normal(0, 1 / np.sqrt(fan_in), (l["filters"], c, kh, kw))
            p["bias"] = rng.normal(0, 0.1, l["filters"])
            shape = [l["filters"], conv_out(h, kh, l["stride"], l["padding"]),
                     conv_out(w, kw, l["stride"], l["padding"])]
        elif k == "batch_norm":
            p["weight"] = rng.uniform(0.5, 1.5, shape[0])
            p["bias"] = rng.normal(0, 0.1, shape[0])
        elif k in ("max_pool2d", "avg_pool2d"):
            c, h, w = shape
            s = l.get("stride", l["size"])
            shape = [c, (h - l["size"]) // s + 1, (w - l["size"]) // s + 1]
        elif k == "flatten":
            shape = [int(np.prod(shape))]
        elif k == "dense":
            fan_in = shape[0]
            p["weight"] = rng.normal(0, 1 / np.sqrt(fan_in), (l["units"], fan_in))
            p["bias"] = rng.normal(0, 0.1, l["units"])
            shape = [l["units"]]
        params.append(p)
        shapes.append(shape)
    return params, shapes


def forward(spec, params, masks, x):
    """Per layer: (input, pre_activation or None, output)."""
    rec = []
    a = x
    for l, p, mask in zip(spec, params, masks):
        k = l["kind"]
        z = None
        if k == "conv2d":
            z = conv_forward(a, p["weight"], p["bias"], l["stride"], l["padding"])
            y = act(l.get("activation", "linear"), z)
        elif k == "dense":
            z = a @ p["weight"].T + p["bias"]
            y = act(l.get("activation", "linear"), z)
        elif k == "batch_norm":
            y = bn_forward(a, p["weight"], p["bias"], l["eps"])[0]
        elif k == "max_pool2d":
            y = maxpool_forward(a, l["size"], l.get("stride", l["size"]))
        elif k == "avg_pool2d":
            y = avgpool_forward(a, l["size"], l.get("stride", l["size"]))
        elif k == "flatten":
            y = a.reshape(a.shape[0], -1)
        elif k == "dropout":
            y = a * mask / (1 - l["rate"])
        elif k == "activation":
            z = a
            y = act(l["activation"], a)
        else:
            raise ValueError(k)
        rec.append((a, z, y))
        a = y
    return rec


def loss_and_grad(y, t, loss):
    """Loss (mean over the batch) and dL/d(output of the last layer's
    pre-activation): softmax + cross-entropy fused, or MSE (1/2 per sample)
    through the softmax / activation Jacobian, handled by the caller."""
    n = t.shape[0]
    if loss == "cross_entropy":
        return float(-(t * np.log(y)).sum() / n), (y - t) / n
    return float(0.5 * ((y - t) ** 2).sum() / n), (y - t) / n


def backward(spec, params, masks, rec, t, loss, bug, bug_layer):
    """Per layer: dict(delta, grad_input, grads), from the loss down."""
    L = len(spec)
    out = [None] * L
    lv, g = loss_and_grad(rec[-1][2], t, loss)
    for i in range(L - 1, -1, -1):
        l, p, mask = spec[i], params[i], masks[i]
        a, z, y = rec[i]
        k = l["kind"]
        b = bug if bug_layer == i + 1 else None
        grads = {}
        activation = l.get("activation", "linear") if k in ("conv2d", "dense", "activation") else None
        if activation is not None:
            if activation == "softmax":
                if loss == "cross_entropy" and i == L - 1:
                    d = g
                else:
                    d = y * (g - (g * y).sum(axis=1, keepdims=True))
            else:
                d = g * dact(activation, z)
        else:
            d = g
        if k == "conv2d":
            gi, grads["weight"], grads["bias"] = conv_backward(a, p["weight"], l["stride"], l["padding"], d, b)
        elif k == "dense":
            grads["weight"], grads["bias"] = d.T @ a, d.sum(axis=0)
            gi = d @ p["weight"]
        elif k == "batch_norm":
            gi, grads["weight"], grads["bias"] = bn_backward(a, p["weight"], l["eps"], d, b)
        elif k == "max_pool2d":
            gi = maxpool_backward(a, l["size"], l.get("stride", l["size"]), d, b)
        elif k == "avg_pool2d":
            gi = avgpool_backward(a, l["size"], l.get("stride", l["size"]), d)
        elif k == "flatten":
            if b == "flatten-order":
                n, c, h, w = a.shape
                gi = d.reshape(n, h, w, c).transpose(0, 3, 1, 2)
            else:
                gi = d.reshape(a.shape)
        elif k == "dropout":
            scale = 1.0 / (1 - l["rate"])
            if b == "dropout-no-mask":
                gi = d * scale
            elif b == "dropout-no-scale":
                gi = d * mask
            else:
                gi = d * mask * scale
        elif k == "activation":
            gi = d
        out[i] = dict(delta=d, grad_input=gi, grads=grads)
        g = gi
    return lv, out


def make_step(net="default", batch=4, loss="cross_entropy", seed=0):
    """The batch, targets, parameters and dropout masks of a step."""
    shape, spec = NETS[net]
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, [batch] + shape)
    params, shapes = init(spec, shape, rng)
    masks = []
    in_shape = shape
    for l, s in zip(spec, shapes):
        masks.append((rng.uniform(0, 1, [batch] + in_shape) >= l["rate"]).astype(np.float64)
                     if l["kind"] == "dropout" else None)
        in_shape = s
    units = shapes[-1][0]
    if loss == "cross_entropy":
        t = np.eye(units)[rng.integers(0, units, batch)]
    else:
        t = rng.uniform(0, 1, (batch, units))
    return spec, x, t, params, masks


def toml_value(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(e) for e in v) + "]"
    return repr(v)


def write(out, spec, x, t, params, masks, rec, lv, back, loss, fmt):
    os.makedirs(out, exist_ok=True)

    def f(name, arr):
        arr = np.asarray(arr, dtype=np.float64)
        if fmt == "npy":
            np.save(os.path.join(out, name + ".npy"), arr)
            return name + ".npy"
        flat = np.atleast_2d(arr) if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)
        np.savetxt(os.path.join(out, name + ".csv"), flat, fmt="%.17g", delimiter=",")
        return name + ".csv"

    lines = [
        "# Written by examples/export_trace_cnn_numpy.py",
        "version = 2",
        f'loss = "{loss}"',
        'reduction = "mean"',
    ]
    if loss == "mse":
        lines.append("mse_half = true")
    lines += [
        'weight_layout = "out_in"',
        f'input = "{f("x", x)}"',
        f"input_shape = {toml_value(list(x.shape[1:]))}",
        f'target = "{f("t", t)}"',
        f"loss_value = {lv!r}",
    ]
    for i, (l, p, mask, (a, z, y), b) in enumerate(zip(spec, params, masks, rec, back)):
        n = i + 1
        lines += ["", "[[layers]]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in l.items()]
        if p:
            lines.append("params = { " + ", ".join(
                f'{k} = "{f(f"l{n}_{k}", v)}"' for k, v in p.items()) + " }")
            lines.append("grads = { " + ", ".join(
                f'{k} = "{f(f"l{n}_grad_{k}", v)}"' for k, v in b["grads"].items()) + " }")
        if mask is not None:
            lines.append(f'mask = "{f(f"l{n}_mask", mask)}"')
        if z is not None and l["kind"] != "activation":
            lines.append(f'pre_activation = "{f(f"l{n}_pre", z)}"')
        lines.append(f'output = "{f(f"l{n}_out", y)}"')
        lines.append(f'delta = "{f(f"l{n}_delta", b["delta"])}"')
        lines.append(f'grad_input = "{f(f"l{n}_grad_input", b["grad_input"])}"')
    with open(os.path.join(out, "trace.toml"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def parse_bug(spec, text):
    """(name, 1-based layer) from NAME[@LAYER]."""
    if not text:
        return None, None
    name, _, layer = text.partition("@")
    if name not in BUGS:
        raise SystemExit(f"unknown bug {name!r}; one of {', '.join(BUGS)}")
    kinds = [l["kind"] for l in spec]
    if layer:
        at = int(layer)
        if not 1 <= at <= len(spec) or kinds[at - 1] != BUGS[name]:
            raise SystemExit(f"--bug {text}: layer {at} is not a {BUGS[name]} layer")
        return name, at
    fits = [i + 1 for i, l in enumerate(spec) if l["kind"] == BUGS[name]
            and (name != "conv-backward-padding" or l["padding"] > 0)
            and (name != "conv-backward-stride" or l["stride"] > 1)]
    if not fits:
        raise SystemExit(f"--bug {name}: this network has no layer that can show it")
    return name, fits[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--net", default="default", choices=sorted(NETS))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "mse"])
    p.add_argument("--format", default="npy", choices=["npy", "csv"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bug", default=None)
    a = p.parse_args()
    spec, x, t, params, masks = make_step(a.net, a.batch, a.loss, a.seed)
    bug, at = parse_bug(spec, a.bug)
    rec = forward(spec, params, masks, x)
    lv, back = backward(spec, params, masks, rec, t, a.loss, bug, at)
    write(a.out, spec, x, t, params, masks, rec, lv, back, a.loss, a.format)


if __name__ == "__main__":
    main()

"""Trains small real PyTorch models through nn_doctor_torch and writes their
run directories to fixtures/runs/ (committed; CI diagnoses them without
torch). Also writes each run's truth.json: what the model was built to show,
and for the NaN model the first non-finite value found by an independent,
exhaustive check (every tensor of every step, in computation order).

    python3 python/record_fixtures.py [OUT_DIR]     # default fixtures/runs
"""
import gzip
import json
import os
import struct
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_doctor_torch import Recorder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "fixtures", "data", "mnist")
torch.set_num_threads(2)


def idx(name):
    with gzip.open(os.path.join(MNIST, name)) as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = struct.unpack(">" + "I" * (magic & 0xFF), data[4:4 + 4 * (magic & 0xFF)])
    return torch.frombuffer(bytearray(data[4 + 4 * len(dims):]), dtype=torch.uint8).reshape(dims)


def mnist(train_limit=2000):
    x = idx("train-images-idx3-ubyte.gz")[:train_limit].float()
    y = idx("train-labels-idx1-ubyte.gz")[:train_limit].long()
    return x, y


def data_facts(x, classes=10):
    return {"description": f"MNIST fixture, first {len(x)} training digits", "train_samples": len(x),
            "test_samples": 0, "features": int(x[0].numel()), "classes": classes}


def batches(n, batch, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield torch.randint(0, n, (batch,), generator=g)


def mse_half(out, onehot):
    """nn-doctor's MSE: 1/2 sum over outputs, mean over the batch."""
    return 0.5 * ((out - onehot) ** 2).sum(dim=1).mean()


def seed_mlp(out):
    """The seed case: uniform [0,1) weights, sigmoid, softmax + MSE, batch 20, lr 0.05."""
    torch.manual_seed(0)
    x, y = mnist()
    x = x.reshape(len(x), -1) / 256.0
    model = nn.Sequential(nn.Linear(784, 1000), nn.Sigmoid(), nn.Linear(1000, 10), nn.Softmax(dim=1))
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.uniform_(0.0, 1.0)
                m.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(model, opt, out, loss="mse", every=5, data=data_facts(x))
    for i in batches(len(x), 20, 300, 1):
        onehot = nn.functional.one_hot(y[i], 10).float()
        output = model(x[i])
        loss = mse_half(output, onehot)
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, output, y[i])
    rec.close()
    return {"must": ["saturated-activations", "vanishing-gradients"], "layers": {"saturated-activations": 1, "vanishing-gradients": 1}}


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = self.relu1(self.conv1(x))
        x = self.pool(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


def dead_relu_cnn(out):
    """A CNN whose conv2 has 12 of 16 channels killed by a bias of -20 (a
    typical result of a too-large step): z <= 0 everywhere, no gradient, dead
    for good. The other 4 start with a small positive bias and learn."""
    torch.manual_seed(0)
    x, y = mnist()
    x = (x / 255.0).reshape(len(x), 1, 28, 28)
    model = SmallCnn()
    with torch.no_grad():
        model.conv2.bias[:4] = 0.1
        model.conv2.bias[4:] = -20.0
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rec = Recorder(model, opt, out, loss="cross_entropy", every=5, data=data_facts(x))
    lossf = nn.CrossEntropyLoss()
    for i in batches(len(x), 32, 200, 2):
        output = model(x[i])
        loss = lossf(output, y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, output, y[i])
    rec.close()
    return {"must": ["dead-relus"], "layers": {"dead-relus": 2}, "module": "conv2"}


def nan_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 64), nn.Linear(64, 10))


def nan_loop(model, opt, x, t, step_fn, steps=60):
    for i in batches(len(x), 32, steps, 3):
        output = model(x[i])
        loss = nn.functional.cross_entropy(output, t[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not step_fn(loss, output, i):
            break


def nan_overflow(out):
    """Unscaled pixels (0..255), two linear layers, cross-entropy and lr 10:
    the two weight matrices grow each other's gradients every step until a
    forward value overflows float32 (the loss itself stays finite: log-sum-exp)."""
    x, y = mnist()
    x = x.reshape(len(x), -1)
    t = y
    model = nan_model()
    opt = torch.optim.SGD(model.parameters(), lr=10.0)
    rec = Recorder(model, opt, out, loss="cross_entropy", every=1, data=data_facts(x))
    nan_loop(model, opt, x, t, lambda loss, o, i: rec.step(loss, o, y[i]))
    rec.close()
    return {"must": ["non-finite"], "first_nonfinite": exhaustive_first_nonfinite(x, t)}


def exhaustive_first_nonfinite(x, t):
    """Independent truth for the NaN model: the same training, with every
    element of every module output, output gradient, parameter gradient and
    parameter checked in computation order (no recorder involved)."""
    model = nan_model()
    opt = torch.optim.SGD(model.parameters(), lr=10.0)
    names = {m: n for n, m in model.named_modules()}
    layer_of = {"0": 1, "1": 2}
    found = {}
    events = []

    def note(phase, name, tensor):
        if not torch.isfinite(tensor).all():
            events.append((phase, name))

    def fwd(m, a, o):
        phase = "forward.activation" if isinstance(m, nn.ReLU) else "forward.linear"
        note(phase, names[m], o)
        if o.requires_grad and not isinstance(m, nn.ReLU):
            o.register_hook(lambda g, n=names[m]: note("backward.delta", n, g))

    for m in model:
        m.register_forward_hook(fwd)
    state = {"step": 0}

    def check(loss, output, i):
        state["step"] += 1
        events_fwd = [e for e in events if e[0].startswith("forward")]
        ordered = events_fwd + ([("loss", None)] if not torch.isfinite(loss) else []) + \
            [e for e in events if e[0] == "backward.delta"]
        for n, m in model.named_modules():
            if isinstance(m, nn.Linear) and any(not torch.isfinite(p.grad).all() for p in m.parameters()):
                ordered.append(("backward.weight_grad", n))
        for n, m in model.named_modules():
            if isinstance(m, nn.Linear) and any(not torch.isfinite(p).all() for p in m.parameters()):
                ordered.append(("update", n))
        events.clear()
        if ordered and not found:
            phase, name = ordered[0]
            found.update({"step": state["step"], "phase": phase, "module": name,
                          "layer": layer_of.get(name) if name else None})
            return False
        return True

    nan_loop(model, opt, x, t, check)
    return found


class ResidualLstm(nn.Module):
    """An LSTM over the 28 rows of a digit and a linear head: recurrent gates
    that nn-doctor's engine cannot express."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.head(seq[:, -1])


def lstm(out):
    torch.manual_seed(0)
    x, y = mnist()
    x = (x / 255.0).reshape(len(x), 28, 28)
    model = ResidualLstm()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rec = Recorder(model, opt, out, loss="cross_entropy", every=5, data=data_facts(x))
    lossf = nn.CrossEntropyLoss()
    for i in batches(len(x), 32, 300, 4):
        output = model(x[i])
        loss = lossf(output, y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, output, y[i])
    rec.close()
    return {"must": [], "healthy": True}


RUNS = {"torch_seed_mlp": seed_mlp, "torch_dead_relu_cnn": dead_relu_cnn,
        "torch_nan_overflow": nan_overflow, "torch_lstm": lstm}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fixtures", "runs")
    only = sys.argv[2:]
    for name, make in RUNS.items():
        if only and name not in only:
            continue
        d = os.path.join(out, name)
        truth = make(d)
        with open(os.path.join(d, "truth.json"), "w") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
        print(f"wrote {d}: {truth}")


if __name__ == "__main__":
    main()

"""One persistent contender process for interleave.py: trains a network
with one implementation and answers timing requests on stdin/stdout.

    python3 bench/worker.py torch|torch-hooks|torch-recorder|numpy

Protocol (one line each): the driver writes `SHAPE SAMPLES`, the worker
trains SAMPLES samples (rounded up to whole batches) of SHAPE and answers
`SECONDS STEPS`. SHAPE is one of SHAPES below; a first request for a shape
builds the network and warms it up. `quit` ends the process.
"""
import os
import sys
import tempfile
import time

import numpy as np

from mnist import load

# name -> (hidden layer widths, activation, dtype, batch)
SHAPES = {
    "seed-f32-b32": ([1000], "sigmoid", "f32", 32),
    "seed-f32-b64": ([1000], "sigmoid", "f32", 64),
    "seed-f32-b256": ([1000], "sigmoid", "f32", 256),
    "seed-f64-b64": ([1000], "sigmoid", "f64", 64),
    "deep-f32-b64": ([256] * 4, "relu", "f32", 64),
    # examples/mnist_cnn.toml: conv 8@5x5 relu, max pool 2, conv 16@5x5 relu,
    # max pool 2, flatten, dense 10 (PyTorch modes only; not in the default
    # --shapes of interleave.py).
    "cnn-f32-b64": ("cnn", "relu", "f32", 64),
}
LR = 0.05


class TorchNet:
    """The seed loop of peer_torch.py for any shape: softmax output, nn-doctor's
    MSE (1/2 sum over outputs, mean over the batch), plain SGD."""

    def __init__(self, shape, x, t, mode):
        import torch

        import peer_torch
        self.torch = torch
        widths, act, dtype, self.batch = SHAPES[shape]
        dt = torch.float64 if dtype == "f64" else torch.float32
        torch.manual_seed(1)
        if widths == "cnn":
            self.net = peer_torch.cnn().to(dt)
        else:
            layers, fan_in = [], x.shape[1]
            for w in widths:
                layers += [torch.nn.Linear(fan_in, w), torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU()]
                fan_in = w
            layers += [torch.nn.Linear(fan_in, t.shape[1]), torch.nn.Softmax(dim=1)]
            self.net = torch.nn.Sequential(*layers).to(dt)
        self.x, self.t = torch.from_numpy(x).to(dt), torch.from_numpy(t).to(dt)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.gen = torch.Generator().manual_seed(1)
        self.hooks = mode == "torch-hooks"
        self.sink = []
        self.rec = None
        if self.hooks:
            peer_torch.stats_hooks(self.net, self.sink)
        if mode == "torch-recorder":
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
            from nn_doctor_torch import Recorder
            self.rec = Recorder(self.net, self.opt, tempfile.mkdtemp(), loss="mse", every=1)

    def steps(self, n):
        torch = self.torch
        params = [p for p in self.net.parameters() if p.dim() >= 2]
        for _ in range(n):
            idx = torch.randint(0, len(self.x), (self.batch,), generator=self.gen)
            tb = self.t[idx]
            y = self.net(self.x[idx])
            loss = 0.5 * ((y - tb) ** 2).sum(dim=1).mean()
            self.opt.zero_grad()
            loss.backward()
            if self.hooks:
                before = [p.detach().norm() for p in params]
                self.sink.append([p.grad.norm() for p in self.net.parameters()])
            self.opt.step()
            if self.hooks:
                after = [p.detach().norm() for p in params]
                self.sink.append([(a - b).abs() / b for a, b in zip(after, before)])
                self.sink.clear()
            if self.rec is not None:
                self.rec.step(loss, y, tb)
                if len(self.rec.metric_rows) > 10000:  # a long benchmark: bounded memory
                    self.rec.metric_rows.clear()
                    self.rec.steps.clear()


class NumpyNet:
    """peer_numpy.py's hand-written loop for any shape."""

    def __init__(self, shape, x, t, mode):
        widths, self.act, dtype, self.batch = SHAPES[shape]
        if widths == "cnn":
            raise SystemExit("worker.py numpy: no CNN loop; run the cnn shape with --only pytorch,pytorch+hooks")
        dt = np.float64 if dtype == "f64" else np.float32
        self.rng = np.random.default_rng(1)
        sizes = [x.shape[1]] + widths + [t.shape[1]]
        self.w = [self.rng.uniform(-1, 1, (a, b)).astype(dt) * dt(np.sqrt(6.0 / (a + b)))
                  for a, b in zip(sizes, sizes[1:])]
        self.b = [np.zeros(b, dt) for b in sizes[1:]]
        self.x, self.t, self.lr = x.astype(dt), t.astype(dt), dt(LR)

    def steps(self, n):
        for _ in range(n):
            idx = self.rng.integers(0, len(self.x), self.batch)
            a, acts = self.x[idx], []
            for w, b in zip(self.w[:-1], self.b[:-1]):
                acts.append(a)
                z = a @ w + b
                a = 1.0 / (1.0 + np.exp(-z)) if self.act == "sigmoid" else np.maximum(z, 0)
            acts.append(a)
            z = a @ self.w[-1] + self.b[-1]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
            g = (y - self.t[idx]) / self.batch
            d = y * (g - (g * y).sum(axis=1, keepdims=True))
            for i in range(len(self.w) - 1, -1, -1):
                gw, gb = acts[i].T @ d, d.sum(axis=0)
                if i:
                    a = acts[i]
                    d = (d @ self.w[i].T) * (a * (1.0 - a) if self.act == "sigmoid" else (a > 0))
                self.w[i] -= self.lr * gw
                self.b[i] -= self.lr * gb


def main():
    mode = sys.argv[1]
    if mode.startswith("torch"):
        import torch
        torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    x, t = load()
    nets = {}
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        shape, samples = parts[0], int(parts[1])
        if shape not in nets:
            nets[shape] = (NumpyNet if mode == "numpy" else TorchNet)(shape, x, t, mode)
            nets[shape].steps(20)
        net = nets[shape]
        steps = -(-samples // net.batch)
        start = time.perf_counter()
        net.steps(steps)
        print(f"{time.perf_counter() - start} {steps}", flush=True)


if __name__ == "__main__":
    main()

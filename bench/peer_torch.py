"""PyTorch peer of `cargo bench --bench throughput`: the seed network (f32,
batch 64, SGD 0.05, sigmoid hidden, softmax output, MSE) trained with the plain
loop, then with forward/backward hooks that compute per-layer statistics
comparable to nn-doctor's recorder (min/max/mean/std of activations, saturated
share, gradient norms, update/weight ratio, non-finite count).

`python3 bench/peer_torch.py cnn` runs examples/mnist_cnn.toml's CNN instead
(conv 8@5x5 relu, max pool 2, conv 16@5x5 relu, max pool 2, flatten, dense 10
softmax), the same loop and hooks."""
import sys
import time

import numpy as np
import torch

from mnist import load

BATCH, STEPS, ROUNDS = 64, 400, 5
torch.set_num_threads(2)


def cnn():
    """examples/mnist_cnn.toml's network on flat 784-pixel rows."""
    nn = torch.nn
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10),
                         nn.Softmax(dim=1))


def model():
    torch.manual_seed(1)
    if sys.argv[1:] == ["cnn"]:
        return cnn()
    return torch.nn.Sequential(torch.nn.Linear(784, 1000), torch.nn.Sigmoid(), torch.nn.Linear(1000, 10), torch.nn.Softmax(dim=1))


def stats_hooks(net, sink):
    def fwd(mod, inp, out):
        o = out.detach()
        sink.append((o.min(), o.max(), o.mean(), o.std(), (o * (1 - o) < 0.0025).float().mean(), (~torch.isfinite(o)).sum()))

    # The CNN's hidden activations are ReLUs (the MLP shapes keep the hooks
    # their published figures were measured with).
    kinds = (torch.nn.Sigmoid, torch.nn.Softmax)
    if any(isinstance(m, torch.nn.Conv2d) for m in net):
        kinds += (torch.nn.ReLU,)
    for m in net:
        if isinstance(m, kinds):
            m.register_forward_hook(fwd)


def run(x, t, hooks):
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    sink = []
    if hooks:
        stats_hooks(net, sink)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for _ in range(STEPS):
        idx = torch.randint(0, len(x), (BATCH,), generator=gen)
        y = net(x[idx])
        loss = 0.5 * ((y - t[idx]) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        if hooks:
            before = [p.detach().norm() for p in net.parameters() if p.dim() >= 2]
            sink.append([p.grad.norm() for p in net.parameters()])
        opt.step()
        if hooks:
            after = [p.detach().norm() for p in net.parameters() if p.dim() >= 2]
            sink.append([(a - b).abs() / b for a, b in zip(after, before)])
        sink.clear()
    return STEPS * BATCH / (time.perf_counter() - start)


def main():
    xn, tn = load()
    x, t = torch.from_numpy(xn), torch.from_numpy(tn)
    run(x, t, False)
    plain = sorted(run(x, t, False) for _ in range(ROUNDS))
    hooked = sorted(run(x, t, True) for _ in range(ROUNDS))
    m = ROUNDS // 2
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads): plain {plain[m]:.0f} samples/s, "
          f"with per-layer stat hooks {hooked[m]:.0f} samples/s (median of {ROUNDS})")


if __name__ == "__main__":
    main()

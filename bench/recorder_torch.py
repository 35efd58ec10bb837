"""Overhead of python/nn_doctor_torch.py on the seed network (784-1000-10,
sigmoid, softmax + MSE, batch 64, f32, 2 threads), side by side with the
plain loop and hand-written per-layer stat hooks from peer_torch.py, in
interleaved rounds. Printed: the median samples/s of each loop and the
median over rounds of each loop's time relative to the plain loop of the
same round (paired, so slow drifts of a shared machine cancel).

    python3 bench/recorder_torch.py
"""
import os
import sys
import tempfile
import time

import torch

import peer_torch
from mnist import load

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from nn_doctor_torch import Recorder  # noqa: E402

BATCH, STEPS, ROUNDS = peer_torch.BATCH, peer_torch.STEPS, 7


def recorded(x, t, every):
    net = peer_torch.model()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    out = tempfile.mkdtemp()
    rec = Recorder(net, opt, out, loss="mse", every=every)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    for _ in range(STEPS):
        idx = torch.randint(0, len(x), (BATCH,), generator=gen)
        y = net(x[idx])
        loss = 0.5 * ((y - t[idx]) ** 2).sum(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(loss, y, t[idx])
    rate = STEPS * BATCH / (time.perf_counter() - start)
    rec.close()
    return rate


def main():
    xn, tn = load()
    x, t = torch.from_numpy(xn), torch.from_numpy(tn)
    peer_torch.run(x, t, False)
    res = {"plain": [], "hand-written stat hooks": [], "recorder every step": [], "recorder every 10 steps": []}
    for _ in range(ROUNDS):
        res["plain"].append(peer_torch.run(x, t, False))
        res["hand-written stat hooks"].append(peer_torch.run(x, t, True))
        res["recorder every step"].append(recorded(x, t, 1))
        res["recorder every 10 steps"].append(recorded(x, t, 10))
    m = ROUNDS // 2
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), seed network, batch {BATCH}, "
          f"{STEPS} steps, median of {ROUNDS} interleaved rounds:")
    for k, v in res.items():
        med = sorted(v)[m]
        paired = sorted(p / r for p, r in zip(res["plain"], v))[m]
        print(f"  {k:<26} {med:8.0f} samples/s  time {paired:.2f}x the plain loop's (paired median)")


if __name__ == "__main__":
    main()

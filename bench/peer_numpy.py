"""Hand-written NumPy training loop of the seed network, the peer of
`cargo bench --bench throughput` (uninstrumented). f32, batch 64, SGD 0.05,
sigmoid hidden layer, softmax output, MSE through the softmax Jacobian."""
import time

import numpy as np

from mnist import load

BATCH, STEPS, ROUNDS = 64, 400, 5


def run(x, t, rng):
    w1 = rng.uniform(-0.077, 0.077, (784, 1000)).astype(np.float32)
    b1 = np.zeros(1000, np.float32)
    w2 = rng.uniform(-0.077, 0.077, (1000, 10)).astype(np.float32)
    b2 = np.zeros(10, np.float32)
    lr = np.float32(0.05)
    start = time.perf_counter()
    for step in range(STEPS):
        idx = rng.integers(0, len(x), BATCH)
        xb, tb = x[idx], t[idx]
        z1 = xb @ w1 + b1
        a1 = 1.0 / (1.0 + np.exp(-z1))
        z2 = a1 @ w2 + b2
        e = np.exp(z2 - z2.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        g = (y - tb) / BATCH
        d2 = y * (g - (g * y).sum(axis=1, keepdims=True))
        d1 = (d2 @ w2.T) * a1 * (1.0 - a1)
        w2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(axis=0)
        w1 -= lr * (xb.T @ d1)
        b1 -= lr * d1.sum(axis=0)
    return STEPS * BATCH / (time.perf_counter() - start)


def main():
    x, t = load()
    rng = np.random.default_rng(1)
    run(x, t, rng)
    rates = sorted(run(x, t, rng) for _ in range(ROUNDS))
    print(f"numpy {np.__version__}: {rates[len(rates) // 2]:.0f} samples/s (median of {ROUNDS})")


if __name__ == "__main__":
    main()

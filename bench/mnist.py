"""Reads the MNIST IDX fixture for the peer benchmarks (numpy only)."""
import gzip
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "data" / "mnist"


def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load():
    """Training images as float32 [n, 784] in [0, 1] and one-hot targets [n, 10]."""
    x = _idx(ROOT / "train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255.0
    y = _idx(ROOT / "train-labels-idx1-ubyte.gz").astype(np.int64)
    t = np.zeros((len(y), 10), dtype=np.float32)
    t[np.arange(len(y)), y] = 1.0
    return x, t

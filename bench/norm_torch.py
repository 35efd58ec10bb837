"""How the PyTorch recorder takes a tensor's L2 norm on the CPU: the times
of linalg.vector_norm, _foreach_norm and the square root of a BLAS dot
product on the seed network's 784x1000 float32 weight (and in float64, and
on a 64x1000 activation), and each one's error against a float64 sum.
python/nn_doctor_torch.py's norms() uses the dot product on the CPU.

    python3 bench/norm_torch.py              # torch's default thread count
    THREADS=1 python3 bench/norm_torch.py
"""
import os
import time

import torch

if "THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["THREADS"]))
REPEAT = int(os.environ.get("REPEAT", "2000"))


def timed(fn):
    for _ in range(50):
        fn()
    start = time.perf_counter()
    for _ in range(REPEAT):
        fn()
    return (time.perf_counter() - start) / REPEAT * 1e6


def main():
    gen = torch.Generator().manual_seed(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {REPEAT} repetitions, microseconds per norm")
    for name, shape, dtype in [("seed weight 784x1000 f32", (1000, 784), torch.float32),
                               ("seed weight 784x1000 f64", (1000, 784), torch.float64),
                               ("activation 64x1000 f32", (64, 1000), torch.float32)]:
        w = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
        flat = w.reshape(-1)
        exact = float((w.double() ** 2).sum().sqrt())
        ways = {
            "linalg.vector_norm": lambda: torch.linalg.vector_norm(w),
            "_foreach_norm": lambda: torch._foreach_norm([w])[0],
            "dot(v, v).sqrt()": lambda: torch.dot(flat, flat).sqrt_(),
        }
        for way, fn in ways.items():
            err = abs(float(fn()) - exact) / exact
            print(f"  {name:<26} {way:<20} {timed(fn):8.1f} us   relative error {err:.1e}")


if __name__ == "__main__":
    main()

"""Times one kernel implementation in a fresh process (for peak memory).

Usage: python _kernel_worker.py {ours,nt} N repeats
Prints one JSON line: {"median_s", "times_s", "first_call_s", "peak_rss_mb"}
(first_call_s: the cold first call of the fresh process, compilation included).
Runs under the current environment (ours) or the legacy one (nt).
"""

import json
import os
import resource
import sys
import time

import numpy as np

D, DEPTH, W_STD, B_STD = 50, 3, 1.5, 0.05


def ours(x):
    from sklearn_ntk import compute_kernels

    def run():
        return compute_kernels(x, depth=DEPTH, weight_std=W_STD, bias_std=B_STD)

    return run


def neural_tangents(x):
    import jax

    jax.config.update("jax_enable_x64", True)  # the oracle's own process only
    from neural_tangents import stax

    layers = []
    for _ in range(DEPTH):
        layers += [stax.Dense(512, W_std=W_STD, b_std=B_STD), stax.Relu()]
    _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=W_STD, b_std=B_STD))
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    x = jax.numpy.asarray(x, dtype=np.float64)

    def run():
        out = kernel_fn(x, None, get=("nngp", "ntk"))
        return jax.block_until_ready(out)

    return run


def main():
    which, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    x = np.random.default_rng(0).standard_normal((n, D))
    run = ours(x) if which == "ours" else neural_tangents(x)
    times = []
    first_call_s = float("nan")
    if repeats > 1 or n < 20000:
        # The first call of a fresh process: XLA compilation of the tiles and
        # page faults on fresh output memory, what a user's first fit feels.
        start = time.perf_counter()
        run()
        first_call_s = time.perf_counter() - start
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"median_s": float(np.median(times)), "times_s": times,
                      "first_call_s": first_call_s,
                      "peak_rss_mb": peak, "pid": os.getpid()}))


if __name__ == "__main__":
    main()

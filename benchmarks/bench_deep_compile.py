"""Benchmark: deep fully-connected networks, compiled as a loop or unrolled.

``compute_kernels(X, depth=D)`` runs its hidden layers after the first as
``layers.repeat`` (one compiled application, a ``lax.scan``, for D > 9);
the anchor is the same network written layer by layer,
``layers.serial(*[Dense, Relu()] * D, Dense(1))``, which the engine
unrolls into one program whose XLA compilation grows faster than linearly
with D. Both give the same kernels (``tests/test_layers.py``, to 1e-12).

Each (variant, depth) runs in a fresh process (no JAX compilation cache, in
memory or on disk): ``cold`` is the first call, compilation included, and
``compile`` the XLA backend compilation inside it (JAX's monitoring
events); ``warm`` is the median of later calls. N rows of 10 standard
normal features, ReLU, ``weight_std=1.4``, ``bias_std=0.1``. The last
column is the ratio of the unrolled anchor's cold time to the loop's.

Usage: python benchmarks/bench_deep_compile.py [--n 2000] [--depths 5 10 20 40 100]
       [--unrolled-max-depth 50] [--repeats 3]
"""

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = """
import json, sys, time
import numpy as np
from jax import monitoring
from sklearn_ntk import compute_kernels, layers
variant, n, depth, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
compiled = [0.0]
def listen(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        compiled[0] += duration
monitoring.register_event_duration_secs_listener(listen)
x = np.random.default_rng(0).standard_normal((n, 10))
if variant == "loop":
    def run():
        return compute_kernels(x, depth=depth, weight_std=1.4, bias_std=0.1)
else:
    net = layers.serial(*[layers.Dense(512, 1.4, 0.1), layers.Relu()] * depth,
                        layers.Dense(1, 1.4, 0.1))
    def run():
        return compute_kernels(x, architecture=net)
start = time.perf_counter(); run(); cold = time.perf_counter() - start
compile_s = compiled[0]
warm = []
for _ in range(repeats):
    start = time.perf_counter(); run(); warm.append(time.perf_counter() - start)
print(json.dumps({"cold": cold, "compile": compile_s, "warm": sorted(warm)[len(warm) // 2]}))
"""


def measure(variant, n, depth, repeats):
    # Cold means compiled: no persistent compilation cache (`make test`'s).
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR="")
    out = subprocess.run([sys.executable, "-c", WORKER, variant, str(n), str(depth),
                          str(repeats)], capture_output=True, text=True, env=env,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--depths", type=int, nargs="+", default=[5, 10, 20, 40, 100])
    parser.add_argument("--unrolled-max-depth", type=int, default=50,
                        help="deepest unrolled anchor timed (its compilation takes "
                             "minutes beyond)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), f"N = {args.n}")
    print(f"{'depth':>5} {'loop cold':>10} {'(compile)':>10} {'loop warm':>10} "
          f"{'unrolled cold':>14} {'(compile)':>10} {'unrolled warm':>14} "
          f"{'cold ratio':>11}", flush=True)
    for depth in args.depths:
        loop = measure("loop", args.n, depth, args.repeats)
        line = (f"{depth:>5} {loop['cold']:>9.2f}s {loop['compile']:>9.2f}s "
                f"{loop['warm']:>9.3f}s")
        if depth <= args.unrolled_max_depth:
            unrolled = measure("unrolled", args.n, depth, args.repeats)
            line += (f" {unrolled['cold']:>13.2f}s {unrolled['compile']:>9.2f}s "
                     f"{unrolled['warm']:>13.3f}s {unrolled['cold'] / loop['cold']:>10.1f}x")
        else:
            line += f" {'-':>14} {'-':>10} {'-':>14} {'-':>11}"
        print(line, flush=True)


if __name__ == "__main__":
    main()

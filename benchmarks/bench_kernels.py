"""Benchmark: compute_kernels against neural-tangents and the arccos floor.

Train-train NNGP + NTK, float64, ReLU, depth 3, d = 50, N in {2000, 4000,
8000}. Each implementation runs in its own fresh process (so that peak RSS
is its own); neural-tangents 0.6.5 runs in the legacy environment
(``.venv-ref``, built by ``make test-reference``). In the same run the
elementwise floor is measured: ``depth * N^2 / 2`` arc-cosines spread over
all cores, with XLA's ``jnp.arccos`` and with our vectorised
``sklearn_ntk._numerics.arccos``. Medians of repeats (warm); "cold" is the
first call of each fresh process (XLA compilation and page faults on fresh
output memory included), what a user's first fit feels. Only the ratios
printed in one run mean anything on a shared machine.

With ``--large`` it also runs N = 30,000 once (NNGP + NTK outputs alone are
13.4 GB) and prints the peak RSS, to show that the blocked computation fits
a 24 GB machine.

Usage: python benchmarks/bench_kernels.py [--quick] [--large] [--repeats R]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "benchmarks" / "_kernel_worker.py"
LEGACY = ROOT / ".venv-ref" / "bin" / "python"
DEPTH = 3


def run_worker(python, which, n, repeats):
    # Cold means compiled: no persistent compilation cache (`make test`'s).
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
               JAX_COMPILATION_CACHE_DIR="")
    out = subprocess.run([str(python), str(WORKER), which, str(n), str(repeats)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def arccos_seconds_per_value(fn, n_values=4_000_000, repeats=5):
    """Per-value time of an arccos over all cores (one chunk per core)."""
    import jax
    import jax.numpy as jnp

    from sklearn_ntk._precision import x64_scope

    cores = os.cpu_count() or 1
    chunks = np.array_split(np.random.default_rng(1).uniform(-1, 1, n_values), cores)

    def work(chunk):
        with x64_scope():
            return jax.block_until_ready(fn(chunk))

    with x64_scope():
        jitted = jax.jit(fn)
        chunks = [jnp.asarray(c) for c in chunks]
        fn = jitted
        for c in chunks:
            jax.block_until_ready(jitted(c))
    times = []
    with ThreadPoolExecutor(cores) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(work, chunks))
            times.append(time.perf_counter() - start)
    return float(np.median(times)) / n_values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N in {1000, 2000}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also N = 30000, once")
    args = parser.parse_args()
    sizes = [1000, 2000] if args.quick else [2000, 4000, 8000]
    if args.large:
        large = run_worker(sys.executable, "ours", 30000, 1)
        print(f"N=30000 (ours, once): {large.get('median_s', float('nan')):.1f} s, "
              f"peak RSS {large.get('peak_rss_mb', float('nan')) / 1024:.1f} GB "
              f"(outputs {2 * 30000**2 * 8 / 1024**3:.1f} GB)", flush=True)

    import jax.numpy as jnp

    from sklearn_ntk._numerics import arccos

    per_value = {
        "jnp.arccos": arccos_seconds_per_value(jnp.arccos),
        "vectorised arccos": arccos_seconds_per_value(arccos),
    }
    print(f"arccos per value over {os.cpu_count()} cores: "
          + ", ".join(f"{k} {v * 1e9:.2f} ns" for k, v in per_value.items()))
    have_legacy = LEGACY.exists()
    if not have_legacy:
        print(f"(no legacy environment at {LEGACY}: run `make test-reference` "
              "to build it; the neural-tangents column is skipped)")
    header = (f"{'N':>6} {'ours s':>8} {'cold s':>8} {'ours MB':>8} {'NT s':>8} "
              f"{'NT cold':>8} {'NT MB':>8} "
              f"{'NT/ours':>8} {'floor(jnp) s':>13} {'ours/floor':>10} "
              f"{'floor(vec) s':>13} {'ours/floor':>10}")
    print(header)
    for n in sizes:
        ours = run_worker(sys.executable, "ours", n, args.repeats)
        nt = (run_worker(LEGACY, "nt", n, args.repeats) if have_legacy
              else {"median_s": float("nan"), "peak_rss_mb": float("nan")})
        if "error" in ours or "error" in nt:
            print(n, "error:", ours.get("error"), nt.get("error"))
            continue
        evaluations = DEPTH * n * n / 2
        floor_jnp = evaluations * per_value["jnp.arccos"]
        floor_vec = evaluations * per_value["vectorised arccos"]
        print(f"{n:>6} {ours['median_s']:>8.3f} "
              f"{ours.get('first_call_s', float('nan')):>8.3f} "
              f"{ours['peak_rss_mb']:>8.0f} {nt['median_s']:>8.3f} "
              f"{nt.get('first_call_s', float('nan')):>8.3f} {nt['peak_rss_mb']:>8.0f} "
              f"{nt['median_s'] / ours['median_s']:>8.2f} {floor_jnp:>13.3f} "
              f"{ours['median_s'] / floor_jnp:>10.2f} {floor_vec:>13.3f} "
              f"{ours['median_s'] / floor_vec:>10.2f}", flush=True)


if __name__ == "__main__":
    main()

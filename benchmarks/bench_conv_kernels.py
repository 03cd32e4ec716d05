"""Benchmark: convolutional NNGP + NTK against neural-tangents' jitted kernel_fn.

Three cases (issue 13), train-train kernels, float64:

(a) 3 x [Conv 3x3 SAME + ReLU] + Flatten, 28x28x1 images, N = 1000
    (diagonal spatial form, O(N^2 HW));
(b) 2 x [Conv 3x3 SAME + ReLU] + GlobalAvgPool, 8x8x1, N = 1000
    (full form, O(N^2 (HW)^2));
(c) Myrtle-style: [Conv 3x3 + ReLU] at 16x16, 8x8 and 4x4 with 2x2 average
    pools between, then GlobalAvgPool, 16x16x1, N = 500.

Each implementation runs in its own fresh process (so that peak RSS is its
own); neural-tangents 0.6.5 runs in the legacy environment (``.venv-ref``,
built by ``make test-reference``) through ``nt.batch`` over a jitted
``kernel_fn``, its recipe for kernels larger than memory. The first rows of
both kernels are compared (largest difference relative to the largest
entry, off the diagonal; the diagonal's is printed apart). Fairness: both sides compute the same NNGP and NTK in float64 from
the same inputs in a fresh process, and each is timed *cold* (its first
call, including its XLA compilation) and *warm* (the median of the later
calls, compiled programs reused); the ratios NT/ours are printed for both.
neural-tangents computes every block of the symmetric kernel (nt.batch has
no symmetric mode); we compute the blocks on and above the diagonal, which
is part of what is measured. Peak memory is each process's peak RSS. Only
the ratios of one run mean anything on a shared machine.

Usage: python benchmarks/bench_conv_kernels.py [--cases abc] [--repeats R]
       [--nt-repeats R] [--fraction F]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "benchmarks" / "_conv_kernel_worker.py"
LEGACY = ROOT / ".venv-ref" / "bin" / "python"


def run_worker(python, which, case, repeats, path, n):
    # Cold means compiled: no persistent compilation cache (`make test`'s).
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
               JAX_COMPILATION_CACHE_DIR="")
    out = subprocess.run([str(python), str(WORKER), which, case, str(repeats), path,
                          str(n)],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-3:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="abc")
    parser.add_argument("--repeats", type=int, default=3, help="ours")
    parser.add_argument("--nt-repeats", type=int, default=2,
                        help="neural-tangents (1: cold only)")
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="run N * fraction rows (rounded to NT's batch size)")
    parser.add_argument("--legacy-python", type=Path, default=LEGACY,
                        help="python of the legacy environment (neural-tangents 0.6.5)")
    args = parser.parse_args()
    legacy = args.legacy_python
    sys.path.insert(0, str(WORKER.parent))
    from _conv_kernel_worker import CASES
    have_legacy = legacy.exists()
    if not have_legacy:
        print(f"(no legacy environment at {legacy}: run `make test-reference`; "
              "the neural-tangents column is skipped)")
    print(f"{'case':>4} {'N':>5} {'ours cold':>9} {'ours warm':>9} {'ours MB':>8} "
          f"{'NT cold':>8} {'NT warm':>8} {'NT MB':>7} {'cold x':>7} {'warm x':>7} "
          f"{'max rel diff':>12} {'diagonal':>9}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            mine_path, theirs_path = f"{tmp}/ours_{case}.npz", f"{tmp}/nt_{case}.npz"
            _, _, n_full, batch_size = CASES[case]
            n = max(batch_size, round(n_full * args.fraction / batch_size) * batch_size)
            ours = run_worker(sys.executable, "ours", case, args.repeats, mine_path, n)
            if "error" in ours:
                print(case, "ours error:", ours["error"], flush=True)
                continue
            if have_legacy:
                nt = run_worker(legacy, "nt", case, args.nt_repeats, theirs_path, n)
            else:
                nt = {"error": "no legacy environment"}
            if "error" in nt:
                print(f"{case:>4} {n:>5} {ours['cold_s']:>9.2f} {_warm(ours):>9} "
                      f"{ours['peak_rss_mb']:>8.0f} NT error: {nt['error']}", flush=True)
                continue
            mine, theirs = np.load(mine_path), np.load(theirs_path)
            diff, diag_diff = _differences(mine, theirs)
            warm_ratio = ("" if ours["warm_s"] is None or nt["warm_s"] is None
                          else f"{nt['warm_s'] / ours['warm_s']:.2f}")
            print(f"{case:>4} {n:>5} {ours['cold_s']:>9.2f} {_warm(ours):>9} "
                  f"{ours['peak_rss_mb']:>8.0f} {nt['cold_s']:>8.2f} {_warm(nt):>8} "
                  f"{nt['peak_rss_mb']:>7.0f} {nt['cold_s'] / ours['cold_s']:>7.2f} "
                  f"{warm_ratio:>7} {diff:>12.1e} {diag_diff:>9.1e}", flush=True)
            print(f"     times (s): ours {' '.join(f'{t:.2f}' for t in ours['times_s'])}"
                  f" | NT {' '.join(f'{t:.2f}' for t in nt['times_s'])}", flush=True)


def _differences(mine, theirs):
    """Largest differences relative to the largest entry, off the diagonal
    and on it. On the diagonal (an image with itself) neural-tangents'
    general arc-cosine formula is off by its own sqrt(eps) (about 1e-9 in
    the NTK), where ours takes the exact rho = 1 formula (issue 13)."""
    off, on = [], []
    for key in ("nngp", "ntk"):
        scale = np.max(np.abs(theirs[key]))
        diff = np.abs(mine[key] - theirs[key]) / scale
        rows = np.arange(diff.shape[0])
        on.append(float(np.max(diff[rows, rows])))
        diff[rows, rows] = 0.0
        off.append(float(np.max(diff)))
    return max(off), max(on)


def _warm(result):
    return "-" if result["warm_s"] is None else f"{result['warm_s']:.2f}"


if __name__ == "__main__":
    main()

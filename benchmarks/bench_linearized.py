"""Benchmark: LinearizedMLP 'exact' and 'gd' against neural-tangents.

Fit + predict of one linearised ReLU network (depth 2, d = 10, float64,
t = 20, learning_rate = 0.1, 200 test points) at N = 2000, width 1024
(``--quick``: N = 500, width 256):

* ours 'exact': empirical NTK from per-layer Jacobian factors, closed-form
  flow (``GradientFlowSolver``), one VJP for the trained parameters, JVP
  predictions;
* ours 'gd': 20 full-batch gradient-descent steps, one JVP + one VJP each;
* neural-tangents 0.6.5 (legacy environment ``.venv-ref``):
  ``nt.batch(empirical_ntk_fn(implementation=JACOBIAN_CONTRACTION))`` on
  100 x 100 tiles (STRUCTURED_DERIVATIVES fails under jax 0.4.26;
  NTK_VECTOR_PRODUCTS was slower) for the train and test-train NTKs, then
  ``predict.gradient_descent_mse`` -- the same network (it loads our initial
  parameters), so its predictions must equal ours.

Each runs in its own fresh process so that peak RSS is its own ("increase"
is the growth after imports and data). Times are medians of repeats after a
first run that includes XLA compilation; on a shared machine only the ratios
printed in one run mean anything.

Usage: python benchmarks/bench_linearized.py [--quick] [--repeats R]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "benchmarks" / "_linearized_worker.py"
LEGACY = ROOT / ".venv-ref" / "bin" / "python"


def run_worker(python, which, n, width, repeats, shared):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [str(python), str(WORKER), which, str(n), str(width), str(repeats), shared],
        capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": " ".join(out.stderr.strip().splitlines()[-1:])}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 500, width 256")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--nt-repeats", type=int, default=None,
                        help="repeats for neural-tangents (default: --repeats "
                             "with --quick, else 0: its full-size run alone "
                             "took over 25 CPU-minutes)")
    parser.add_argument("--skip-nt", action="store_true")
    args = parser.parse_args()
    nt_repeats = args.nt_repeats
    if nt_repeats is None:
        nt_repeats = args.repeats if args.quick else 0
    n, width = (500, 256) if args.quick else (2000, 1024)
    legacy = LEGACY if LEGACY.exists() else None
    if legacy is None:  # the legacy environment lives in the main checkout too
        candidate = ROOT.parent / "main" / ".venv-ref" / "bin" / "python"
        legacy = candidate if candidate.exists() else None

    print(f"LinearizedMLP fit + predict: N={n}, width={width}, depth=2, d=10, "
          f"float64, repeats={args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        shared = str(Path(tmp) / "shared.npz")
        results = {"ours exact": run_worker(sys.executable, "exact", n, width,
                                            args.repeats, shared),
                   "ours gd (20 steps)": run_worker(sys.executable, "gd", n, width,
                                                    args.repeats, shared)}
        if args.skip_nt:
            results["neural-tangents"] = {"error": "--skip-nt"}
        elif legacy is None:
            results["neural-tangents"] = {"error": "no .venv-ref (make test-reference)"}
        else:
            results["neural-tangents"] = run_worker(legacy, "nt", n, width,
                                                    nt_repeats, shared)
    header = (f"{'implementation':<22}{'first (s)':>10}{'median (s)':>11}"
              f"{'peak RSS (MB)':>15}{'increase (MB)':>15}{'max|diff| vs exact':>20}")
    print(header)
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<22}skipped: {r['error']}")
            continue
        diff = r.get("max_abs_diff_vs_exact")
        print(f"{name:<22}{r['first_s']:>10.2f}{r['median_s']:>11.2f}"
              f"{r['peak_rss_mb']:>15.0f}{r['increase_mb']:>15.0f}"
              f"{'' if diff is None else f'{diff:.1e}':>20}")
    anchor = results["ours exact"]
    for name in ("ours gd (20 steps)", "neural-tangents"):
        other = results[name]
        if "error" in other or "error" in anchor:
            continue
        # With 0 repeats the median is NaN: compare first runs then.
        key = "first_s" if other["median_s"] != other["median_s"] else "median_s"
        print(f"{name} / ours exact: time ({key}) x{other[key] / anchor[key]:.2f}, "
              f"memory increase x{other['increase_mb'] / max(anchor['increase_mb'], 1):.2f}")


if __name__ == "__main__":
    main()

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
entry). Each time includes that implementation's compilation on its first
repeat; the median of the repeats is printed. Only the ratios of one run
mean anything on a shared machine.

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
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
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
    parser.add_argument("--nt-repeats", type=int, default=1, help="neural-tangents")
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
    print(f"{'case':>4} {'N':>5} {'ours s':>8} {'ours MB':>8} {'NT s':>8} {'NT MB':>8} "
          f"{'NT/ours':>8} {'max rel diff':>13}  (times: ours | NT)", flush=True)
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
                print(f"{case:>4} {n:>5} {ours['median_s']:>8.2f} {ours['peak_rss_mb']:>8.0f} "
                      f"NT error: {nt['error']}", flush=True)
                continue
            mine, theirs = np.load(mine_path), np.load(theirs_path)
            diff = max(float(np.max(np.abs(mine[k] - theirs[k])) / np.max(np.abs(theirs[k])))
                       for k in ("nngp", "ntk"))
            times = (" ".join(f"{t:.2f}" for t in ours["times_s"]) + " | "
                     + " ".join(f"{t:.2f}" for t in nt["times_s"]))
            print(f"{case:>4} {n:>5} {ours['median_s']:>8.2f} {ours['peak_rss_mb']:>8.0f} "
                  f"{nt['median_s']:>8.2f} {nt['peak_rss_mb']:>8.0f} "
                  f"{nt['median_s'] / ours['median_s']:>8.2f} {diff:>13.1e}  ({times})",
                  flush=True)


if __name__ == "__main__":
    main()

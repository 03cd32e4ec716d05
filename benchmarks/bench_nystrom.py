"""Large-N regression with the Nyström solver, against its anchors.

Set-up (issue 11): a synthetic regression with structure, d = 20 standard
normal features, ``N_TEST = 10,000`` test rows, depth-3 ReLU NTK
(``NTKRegressor(depth=3, t=None, diag_reg=0.1)``), ``m`` Nyström centres by
randomly pivoted Cholesky. The tasks (named in the output):

* ``ridge-sum`` (default): ``y = sin(x.w1) + 0.5 (x.w2)^2 / 2 + x_0 x_1 +
  0.3 tanh(3 x.w3) + 0.1 noise``, with fixed unit directions ``w1, w2, w3``
  (ridge functions, an interaction and a kink-like term: a smooth
  low-dimensional structure in 20 dimensions); R^2 is on noisy test
  targets, so 0.99 is about the ceiling;
* ``friedman1``: scikit-learn's ``make_friedman1`` with 20 features (5
  relevant) and noise 1, features standardised.

Every configuration runs in a fresh subprocess, which reports its phases
(centre selection, kernel evaluation against the centres, Gram
accumulation, the m x m eigendecompositions, prediction), R^2 and its peak
resident memory beyond the data (``getrusage`` maxrss minus the RSS once
``X`` exists). The cross-kernel throughput (entries/s) and the Gram's
GFLOP/s (``N m^2`` flops for the symmetric rank-k update) are set against
the machine's float64 GEMM rate measured at the start of the same run.
Anchors in the same run: scikit-learn's ``Nystroem(kernel="rbf",
n_components=m) + Ridge`` where its N x m feature matrix fits in
``--sklearn-max-gb``, and the exact solver at ``N <= --exact-n``.

Usage::

    python benchmarks/bench_nystrom.py                       # the issue's grid
    python benchmarks/bench_nystrom.py --sizes 20000 50000 --components 512 1024
    python benchmarks/bench_nystrom.py --only-exact          # accuracy vs exact
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D, N_TEST, DEPTH, DIAG_REG = 20, 10_000, 3, 0.1



def make_task(task, n, seed):
    """Rows ``X`` of shape (n, D) and targets ``y`` of one benchmark task.

    ``ridge-sum``: standard Gaussian features; a sine, a square and a tanh of
    three fixed unit projections plus the product of two features, noise
    0.1. ``friedman1``: scikit-learn's, features standardised.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if task == "friedman1":
        from sklearn.datasets import make_friedman1
        X, y = make_friedman1(n, n_features=D, noise=1.0, random_state=seed)
        X = (X - 0.5) * np.sqrt(12.0)  # uniform(0, 1) standardised
        return X, (y - 14.4) / 5.0
    X = rng.standard_normal((n, D))
    w = np.random.default_rng(123).standard_normal((3, D))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    p = X @ w.T
    y = (np.sin(p[:, 0]) + 0.25 * p[:, 1] ** 2 + X[:, 0] * X[:, 1]
         + 0.3 * np.tanh(3 * p[:, 2]) + 0.1 * rng.standard_normal(n))
    return X, y


_PRELUDE = textwrap.dedent(f"""
    import json, resource, sys, time
    import numpy as np
    task, n, m, centers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, {os.path.join(REPO, "benchmarks")!r})
    from bench_nystrom import make_task as make
    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20
    X, y = make(task, n, 0)
    X_test, y_test = make(task, {N_TEST}, 1)
    base_mb = rss_mb()
    def r2(pred):
        return 1.0 - np.mean((pred - y_test) ** 2) / np.var(y_test)
    def report(**extra):
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("RESULT " + json.dumps(dict(peak_beyond_x_mb=peak_mb - base_mb, **extra)),
              flush=True)
""")

CASES = {
    "nystrom": """
        from sklearn_ntk import NTKRegressor
        model = NTKRegressor(depth=DEPTH, diag_reg=DIAG_REG, solver="nystrom",
                             n_components=m, centers=centers, random_state=0,
                             verbose=1)
        start = time.perf_counter()
        model.fit(X, y)
        fitted = time.perf_counter()
        pred = model.predict(X_test)
        done = time.perf_counter()
        timings = {k + "_s": v for k, v in model._state.timings.items()}
        report(seconds=done - start, fit_s=fitted - start, predict_s=done - fitted,
               r2=r2(pred), m_used=int(model.n_components_), **timings)
    """,
    "exact": """
        from sklearn_ntk import NTKRegressor
        model = NTKRegressor(depth=DEPTH, diag_reg=DIAG_REG, solver="exact")
        start = time.perf_counter()
        pred = model.fit(X, y).predict(X_test)
        report(seconds=time.perf_counter() - start, r2=r2(pred))
    """,
    "sklearn": """
        from sklearn.kernel_approximation import Nystroem
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        # gamma = 1 / (2 d): the RBF of unit-variance features at their
        # typical distance; alpha like diag_reg (relative to k(x, x) = 1).
        model = make_pipeline(Nystroem(kernel="rbf", gamma=1.0 / (2 * X.shape[1]),
                                       n_components=m, random_state=0),
                              Ridge(alpha=DIAG_REG))
        start = time.perf_counter()
        pred = model.fit(X, y).predict(X_test)
        report(seconds=time.perf_counter() - start, r2=r2(pred))
    """,
}


def gemm_gflops(size=4096, repeats=3):
    """Float64 GEMM rate of this machine now (median of ``repeats``)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((size, size))
    b = a.T.copy()
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def run_case(case, task, n, m, centers="rpcholesky", timeout=3600):
    code = _PRELUDE + textwrap.dedent(CASES[case]).replace(
        "DEPTH", str(DEPTH)).replace("DIAG_REG", str(DIAG_REG))
    env = dict(os.environ, PYTHONPATH=REPO)
    started = time.time()
    result = subprocess.run([sys.executable, "-c", code, task, str(n), str(m), centers],
                            capture_output=True, text=True, env=env, timeout=timeout)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            row = json.loads(line[7:])
            row.update(case=case, task=task, n=n, m=m, centers=centers,
                       wall_started=started)
            return row
    return {"case": case, "task": task, "n": n, "m": m, "centers": centers,
            "error": (result.stderr or result.stdout)[-2000:]}


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 3e5, 1e6])
    parser.add_argument("--components", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--tasks", nargs="+", default=["ridge-sum"])
    parser.add_argument("--exact-n", type=int, default=20_000,
                        help="exact solver vs Nyström at this N (0: skip)")
    parser.add_argument("--exact-tasks", nargs="+", default=["ridge-sum", "friedman1"])
    parser.add_argument("--uniform", action="store_true",
                        help="also uniform centres at the smallest N and at --exact-n")
    parser.add_argument("--sklearn-max-gb", type=float, default=4.0,
                        help="run Nystroem+Ridge where N*m*8 bytes fit in this")
    parser.add_argument("--only-exact", action="store_true")
    parser.add_argument("--output", default=None, help="JSON lines file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes]

    gemm = gemm_gflops()
    print(f"float64 GEMM: {gemm:.1f} GFLOP/s (4096^3, median of 3); "
          f"load average {_load():.1f}", flush=True)
    rows = []

    def record(row):
        row["load"] = _load()
        rows.append(row)
        if "error" in row:
            print(f"{row['case']} {row['task']} N={row['n']} m={row['m']}: FAILED\n"
                  f"{row['error']}", flush=True)
        else:
            extra = ""
            if row["case"] == "nystrom":
                entries = row["n"] * row["m"] / max(row["kernel_s"], 1e-9)
                gflops = row["n"] * row["m"] ** 2 / max(row["gram_s"], 1e-9) / 1e9
                row.update(entries_per_s=entries, gram_gflops=gflops, gemm_gflops=gemm)
                extra = (f" [centres {row['centers_s']:.1f} s, kernel {row['kernel_s']:.1f} s "
                         f"({entries / 1e6:.0f}M entries/s), Gram {row['gram_s']:.1f} s "
                         f"({gflops:.1f} GFLOP/s = {gflops / gemm:.2f} x GEMM), "
                         f"eigh {row['eigh_s']:.1f} s, predict {row['predict_s']:.1f} s]")
            print(f"{row['case']:8s} {row['task']:9s} {row['centers']:10s} "
                  f"N={row['n']:>8d} m={row['m']:>5d}: {row['seconds']:7.1f} s, "
                  f"R2 {row['r2']:.4f}, peak RSS beyond X "
                  f"{row['peak_beyond_x_mb'] / 1024:.2f} GB, load {row['load']:.1f}{extra}",
                  flush=True)
        if args.output:
            with open(args.output, "a") as handle:
                handle.write(json.dumps(row) + "\n")

    if args.exact_n:
        for task in args.exact_tasks:
            exact = run_case("exact", task, args.exact_n, 0)
            record(exact)
            for m in args.components:
                for centers in ("rpcholesky", "uniform") if args.uniform else ("rpcholesky",):
                    row = run_case("nystrom", task, args.exact_n, m, centers=centers)
                    record(row)
                    if "error" not in row and "error" not in exact:
                        print(f"  {task} N={args.exact_n}: Nyström ({centers}) m={m} R2 / "
                              f"exact R2 = {row['r2'] / exact['r2']:.4f} (time ratio "
                              f"{row['seconds'] / exact['seconds']:.2f})", flush=True)
    if args.only_exact:
        return
    for n in sizes:
        for m in args.components:
            for task in args.tasks:
                record(run_case("nystrom", task, n, m))
                if args.uniform and n == min(sizes):
                    record(run_case("nystrom", task, n, m, centers="uniform"))
                if n * m * 8 <= args.sklearn_max_gb * 1e9:
                    record(run_case("sklearn", task, n, m))
    # Side by side: scaling in N and the ratio to Nystroem + Ridge.
    by_key = {(r["case"], r["task"], r["n"], r["m"], r.get("centers")): r
              for r in rows if "error" not in r}
    for task in args.tasks:
        for m in args.components:
            first, last = min(sizes), max(sizes)
            a = by_key.get(("nystrom", task, first, m, "rpcholesky"))
            b = by_key.get(("nystrom", task, last, m, "rpcholesky"))
            if a and b and last > first:
                print(f"{task} m={m}: time N={first} -> {last} grows "
                      f"{b['seconds'] / a['seconds']:.1f}x (N grows {last / first:.0f}x)")
            for n in sizes:
                ours = by_key.get(("nystrom", task, n, m, "rpcholesky"))
                theirs = by_key.get(("sklearn", task, n, m, "rpcholesky"))
                if ours and theirs:
                    print(f"{task} N={n} m={m}: Nystroem(rbf)+Ridge / ours time = "
                          f"{theirs['seconds'] / ours['seconds']:.2f}, R2 ours "
                          f"{ours['r2']:.4f} vs {theirs['r2']:.4f}")


if __name__ == "__main__":
    main()

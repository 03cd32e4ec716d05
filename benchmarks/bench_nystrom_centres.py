"""Randomly pivoted Cholesky against uniform centres, at equal ``n_components``.

For each data set and m, both centre rules (same seed) give a Nyström
approximation ``K~ = K_nm K_mm^+ K_mn`` of the depth-3 ReLU NTK; the script
prints its relative trace error ``1 - tr(K~) / tr(K)`` (the quantity
randomly pivoted Cholesky bounds, Chen, Epperly, Tropp & Webber 2023) and
the test R^2 of ``NTKRegressor(solver="nystrom", diag_reg=0.1)``, median
over three seeds. The data sets:

* ``gaussian``: the ``ridge-sum`` task of ``bench_nystrom.py``;
* ``clustered``: 20 features in 30 Gaussian clusters of unequal weight
  (weights proportional to 1/k^2) and spread, target a smooth function of
  the features plus a per-cluster offset.

With ``--pools P1 P2 ...`` it runs instead the study behind
``sklearn_ntk._nystrom.POOL_ROWS``: randomly pivoted Cholesky on uniform
pools of each size, its trace error (over a fixed random 20,000 rows) and
its time.

Usage: ``PYTHONPATH=. python benchmarks/bench_nystrom_centres.py [--n 20000]
[--components 256 512 1024] [--pools 16384 32768 100000]``.
"""
import argparse
import time

import numpy as np

from sklearn_ntk import NTKRegressor, compute_kernel_diagonals, compute_kernels
from sklearn_ntk._estimator_params import architecture_kwargs
from sklearn_ntk._nystrom import rpcholesky_centers, whitening
from sklearn_ntk._regressors import _KernelEvaluator

from bench_nystrom import D, make_task

N_TEST = 5000


def make(name, n, seed):
    if name == "gaussian":
        return make_task("ridge-sum", n, seed)
    rng = np.random.default_rng(seed)
    structure = np.random.default_rng(123)
    k = 30
    weights = 1.0 / np.arange(1, k + 1) ** 2
    centres = 3.0 * structure.standard_normal((k, D))
    spreads = structure.uniform(0.1, 1.0, k)
    offsets = structure.standard_normal(k)
    label = rng.choice(k, n, p=weights / weights.sum())
    X = centres[label] + spreads[label, None] * rng.standard_normal((n, D))
    y = np.sin(X[:, 0]) + 0.5 * np.cos(X[:, 1] * X[:, 2] / 3.0) + offsets[label]
    return X, y + 0.1 * rng.standard_normal(n)


def trace_error(X, indices, rows=None):
    """``1 - tr(K~) / tr(K)`` of the NTK's Nyström approximation, over all
    rows or over the given ``rows`` (an unbiased estimate when random)."""
    centres = X[indices]
    X = X if rows is None else X[rows]
    transform = whitening(compute_kernels(centres, depth=3, get="ntk").ntk)
    captured = 0.0
    for start in range(0, X.shape[0], 4096):
        k_nm = compute_kernels(X[start:start + 4096], centres, depth=3, get="ntk").ntk
        captured += float(np.sum((k_nm @ transform) ** 2))
    trace = float(np.sum(compute_kernel_diagonals(X, depth=3).ntk))
    return 1.0 - captured / trace


def pool_study(n, components, pools, seeds):
    """RPCholesky's trace error and time against the size of its pool.

    Trace errors over a fixed random 20,000 of the n rows.
    """
    kernel = _KernelEvaluator(None, architecture_kwargs(NTKRegressor(depth=3)))
    print(f"{'data':10s} {'m':>5s} {'pool':>7s} {'trace err':>9s} {'range':>15s} "
          f"{'seconds':>7s}   (medians of {seeds} seeds, n = {n})")
    for name in ("gaussian", "clustered"):
        X, _ = make(name, n, 0)
        rows = np.random.default_rng(7).choice(n, min(n, 20_000), replace=False)
        for m in components:
            for pool in pools:
                errors, times = [], []
                for seed in range(seeds):
                    began = time.perf_counter()
                    indices = rpcholesky_centers(X, m, kernel, "ntk",
                                                 np.random.RandomState(seed), pool_rows=pool)
                    times.append(time.perf_counter() - began)
                    errors.append(trace_error(X, indices, rows))
                print(f"{name:10s} {m:5d} {min(pool, n):7d} {np.median(errors):9.4f} "
                      f"{min(errors):7.4f}-{max(errors):7.4f} {np.median(times):7.1f}",
                      flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--components", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pools", type=int, nargs="+", default=None,
                        help="instead: RPCholesky's pool study at these pool sizes")
    args = parser.parse_args()
    if args.pools:
        pool_study(args.n, args.components, args.pools, args.seeds)
        return
    print(f"{'data':10s} {'m':>5s} {'centres':10s} {'trace err':>9s} {'test R2':>8s}   (medians of {args.seeds} seeds)")
    for name in ("gaussian", "clustered"):
        X, y = make(name, args.n, 0)
        X_test, y_test = make(name, N_TEST, 1)
        for m in args.components:
            for centres in ("rpcholesky", "uniform"):
                errors, scores = [], []
                for seed in range(args.seeds):
                    model = NTKRegressor(depth=3, solver="nystrom", n_components=m,
                                         centers=centres, random_state=seed).fit(X, y)
                    errors.append(trace_error(X, model._state.center_indices))
                    resid = model.predict(X_test) - y_test
                    scores.append(1.0 - np.mean(resid ** 2) / np.var(y_test))
                print(f"{name:10s} {m:5d} {centres:10s} {np.median(errors):9.4f} "
                      f"{np.median(scores):8.4f}", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: the cross-validated search on the Nyström approximation (large N).

Above 20,000 rows ``NTKRegressorCV()`` searches its default grid (4
architectures x 7 ``diag_reg`` x 4 ``t``) by leave-one-out on one Nyström fit
per architecture. On the "ridge-sum" task of ``bench_nystrom.py`` (20
Gaussian features, N training rows, 10,000 test rows), in the same run:
fit time and test R^2 of

* ``NTKRegressorCV(n_components=m, random_state=0)``;
* the same with ``cv=5``: K-fold on the Nyström fit with its centres held
  fixed (one more pass for the folds' Grams and one over the held-out rows);
* ``NTKRegressor(n_components=m, random_state=0)``, the defaults (its
  ``solver="auto"`` is Nyström there too): the anchor of one fit.

Usage: ``PYTHONPATH=. python benchmarks/bench_cv_nystrom.py [--n 30000]
[--components 2048] [--no-kfold]``.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_nystrom import make_task  # noqa: E402

from sklearn_ntk import NTKRegressor, NTKRegressorCV  # noqa: E402


def r2(y, prediction):
    return 1.0 - np.mean((y - prediction) ** 2) / np.var(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--components", type=int, default=2048)
    parser.add_argument("--no-kfold", action="store_true", help="skip the cv=5 search")
    args = parser.parse_args()
    X, y = make_task("ridge-sum", args.n, 0)
    X_test, y_test = make_task("ridge-sum", 10_000, 1)
    print(f"ridge-sum, N = {args.n}, m = {args.components}, load "
          f"{os.getloadavg()[0]:.1f}")
    models = [
        ("NTKRegressorCV()", NTKRegressorCV(n_components=args.components, random_state=0)),
        ("NTKRegressorCV(cv=5)", NTKRegressorCV(n_components=args.components, cv=5,
                                                random_state=0)),
        ("NTKRegressor()", NTKRegressor(n_components=args.components, random_state=0)),
    ]
    for label, model in models:
        if args.no_kfold and "cv=5" in label:
            continue
        began = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - began
        score = r2(y_test, model.predict(X_test))
        best = getattr(model, "best_params_", None)
        extra = "" if best is None else (
            f", best {best}, held-out R^2 {model.best_score_:.4f}, "
            f"{len(model.cv_results_['params'])} candidates")
        print(f"{label:21s} fit {seconds:7.1f} s, test R^2 {score:.4f}{extra}", flush=True)


if __name__ == "__main__":
    main()

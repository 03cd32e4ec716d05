"""Benchmark: NTK/NNGP classifiers against SVC(RBF) and RandomForest on digits.

digits (1797 x 64, standard-scaled), one stratified 80/20 split
(1437 train / 360 test, random_state=0). For each classifier, the time of
``fit`` + ``predict`` on a fresh estimator, and separately of ``fit`` +
``predict_proba`` (where there is one); medians of repeats. The kernel cache
of the regressors is cleared before every repeat, so each one computes its
kernels from scratch; the first call of each infinite-width estimator
(which compiles the kernel recursion for these shapes) is timed apart and
left out of the medians. Also: test accuracy, test log-loss, and the time of
refitting at another ``t`` (which reuses the cached kernels). Only the
ratios printed in one run mean anything on a shared machine.

BLAS runs single-threaded (``OPENBLAS_NUM_THREADS=1`` unless set): on a
shared, oversubscribed machine OpenBLAS's spinning threads made a 1437 x 1437
Cholesky 50x slower (7 s instead of 0.14 s) and its eigendecomposition 11x
slower; SVC (libsvm) and RandomForest (``n_jobs=None``) are single-threaded
too. The kernels still use JAX's threads.

Usage: python benchmarks/bench_classifiers.py [--repeats R]
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before NumPy loads its BLAS
# The first call is timed apart as the compiling one: no persistent cache.
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sklearn_ntk import NNGPClassifier, NTKClassifier, compute_kernels  # noqa: E402
from sklearn_ntk._classifiers import argmax_probabilities  # noqa: E402
from sklearn_ntk._regressors import KERNEL_CACHE  # noqa: E402


def candidates():
    return {
        "SVC(RBF)": lambda: SVC(),
        "RandomForest(100)": lambda: RandomForestClassifier(random_state=0),
        "NTKClassifier t=None": lambda: NTKClassifier(),
        "NTKClassifier t=1000": lambda: NTKClassifier(t=1000.0),
        "NNGPClassifier t=None": lambda: NNGPClassifier(),
    }


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def fit_then(make, method, X_train, y_train, X_test):
    KERNEL_CACHE.clear()
    model = make().fit(X_train, y_train)
    return model, getattr(model, method)(X_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    print(f"digits: train {X_train.shape}, test {X_test.shape}; "
          f"medians of {args.repeats} repeats\n")

    rows = {}
    for name, make in candidates().items():
        first, _ = timed(lambda: fit_then(make, "predict", X_train, y_train, X_test))
        predict_times, proba_times = [], []
        for _ in range(args.repeats):
            seconds, (_, labels) = timed(
                lambda: fit_then(make, "predict", X_train, y_train, X_test))
            predict_times.append(seconds)
        proba = None
        if not name.startswith("SVC"):
            for _ in range(args.repeats):
                seconds, (_, proba) = timed(
                    lambda: fit_then(make, "predict_proba", X_train, y_train, X_test))
                proba_times.append(seconds)
        rows[name] = {
            "first": first,
            "predict": float(np.median(predict_times)),
            "proba": float(np.median(proba_times)) if proba_times else np.nan,
            "accuracy": accuracy_score(y_test, labels),
            "log_loss": log_loss(y_test, proba) if proba is not None else np.nan,
        }
        print(f"  measured {name}", flush=True)

    svc, forest = rows["SVC(RBF)"]["predict"], rows["RandomForest(100)"]["predict"]
    print(f"\n{'classifier':<24}{'first s':>9}{'fit+pred s':>11}{'/SVC':>7}{'/RF':>7}"
          f"{'fit+proba s':>12}{'accuracy':>10}{'log-loss':>10}")
    for name, row in rows.items():
        print(f"{name:<24}{row['first']:>9.3f}{row['predict']:>11.3f}"
              f"{row['predict'] / svc:>7.2f}{row['predict'] / forest:>7.2f}"
              f"{row['proba']:>12.3f}{row['accuracy']:>10.4f}{row['log_loss']:>10.3f}")

    # Where the NTK time goes (warm: shapes already compiled above).
    stages = {
        "train kernels (nngp+ntk)": lambda: compute_kernels(X_train, get=("nngp", "ntk")),
        "test-train kernels (ntk)": lambda: compute_kernels(X_test, X_train, get="ntk"),
        "argmax quadrature (360 x 10)": lambda: argmax_probabilities(
            proba_mean, np.full(len(X_test), 0.3)),
    }
    proba_mean = np.random.default_rng(0).normal(size=(len(X_test), 10))
    print()
    for stage, function in stages.items():
        seconds = np.median([timed(function)[0] for _ in range(args.repeats)])
        print(f"{stage:<30}{seconds:>8.3f} s")

    # GridSearchCV over time: a refit at another t reuses the cached kernels.
    KERNEL_CACHE.clear()
    NTKClassifier(t=1000.0).fit(X_train, y_train)
    refits = [timed(lambda t=t: NTKClassifier(t=t).fit(X_train, y_train))[0]
              for t in np.geomspace(10.0, 1e5, 2 * args.repeats)]
    print(f"\nNTKClassifier refit at another t (cached kernels and eigenbasis): "
          f"{np.median(refits):.4f} s (x{np.median(refits) / svc:.2f} SVC fit+predict)")


if __name__ == "__main__":
    main()

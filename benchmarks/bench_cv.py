"""Benchmark: NTKClassifierCV (closed-form leave-one-out) for speed and accuracy.

Two parts, both with BLAS single-threaded (``OPENBLAS_NUM_THREADS=1`` unless
set: on the shared machine OpenBLAS's spinning threads made a 1000 x 1000
eigendecomposition 4-15x slower; RandomForest with ``n_jobs=None`` and
libsvm are single-threaded too). On an idle machine, run the timing with
``OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2`` (one thread per core, what a
user gets by default): the eigendecompositions that bound the CV estimators
gain more from the second core than the grid search's Cholesky
factorisations and Python overhead do.

``--part timing``: ``make_classification`` data of N rows (20 features, 10
informative, 2 classes, standard-scaled), N = 200, 500, 1000, 2000, 5000.
In the same run, medians of repeats (3 up to N = 2000, 1 above) of the fit
time of

* ``NTKClassifierCV()`` (default grid, leave-one-out in closed form);
* ``GridSearchCV(NTKClassifier(), <the same candidates>, cv=5)``, the same
  number of candidates (the grid's ``t`` values depend on the architecture,
  so it is a list of one grid per architecture), **timed whole** at every
  N up to ``--grid-max-n`` (default 5000: every default size). Only above
  it is the search extrapolated from a timed slice (every ``t`` of the
  depth-3 architecture at one ``diag_reg``, timed warm, times the number of
  such slices), marked '~'. Its error has no known sign: it overestimated
  the whole search by 17-22 % at N <= 1000 (session 3), while the whole
  search at N = 5000 (658 s, session 4) took more than session 3's
  extrapolation (504 s, another run and load). Quote whole searches;
* ``RandomForestClassifier(n_estimators=500)``.

The first fit of each shape (JAX compilation) is inside the repeats (the
median discounts it; at N = 5000, one repeat, the CV's time includes its
compilation, about 1.6 s). The grid search is timed warm: a search over
two candidates per architecture (``t=None`` and one finite ``t``) on the
same folds compiles its shapes first. The kernel cache is cleared before
every repeat. The column ``eigh`` is the part of the median
``NTKClassifierCV()`` fit spent in the leave-one-out eigendecompositions
(one LAPACK ``syevd`` per architecture, timed inside the fit), and
``grid/eigh`` the ratio the search would reach if everything else in it
were free.

``--part phases`` (not a ratio; run it at nice 19): CPU seconds of one warm
``NTKClassifierCV().fit`` per N, split into the eigendecompositions, the
kernels, the candidates' leave-one-out scores and the rest (refit,
validation), from ``cProfile`` with a CPU-time clock.

``--part accuracy``: stratified 4-fold outer cross-validation (same folds
for every model) on scikit-learn's bundled classification sets and on
generated ones, each standard-scaled inside a pipeline; test accuracy of
``NTKClassifierCV()`` with defaults, ``NTKClassifier()`` with defaults,
``RandomForestClassifier(500)`` and ``SVC(rbf)`` tuned by ``GridSearchCV``
over ``C`` in 10^[-1..3] and ``gamma`` in {0.1, 1, 10} / n_features (5-fold).
``--grids`` adds the grid variants compared when choosing the defaults;
``--remedies`` adds ``OneVsOneClassifier(NTKClassifierCV())`` and an
``SVC`` with ``NTKKernel`` tuned over ``C`` and the default grid's four
architectures (hinge loss, one-vs-one): two ways around one squared-loss
output per class, on nested classes such as ``gaussian_quantiles``.

Usage: python benchmarks/bench_cv.py --part timing [--sizes 200 1000 5000]
       python benchmarks/bench_cv.py --part phases [--sizes 2000 5000]
       python benchmarks/bench_cv.py --part accuracy [--grids] [--remedies]
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before NumPy loads its BLAS

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.multiclass import OneVsOneClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sklearn_ntk import NTKClassifier, NTKClassifierCV, NTKKernel, _cv_estimators  # noqa: E402
from sklearn_ntk._regressors import KERNEL_CACHE  # noqa: E402


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def candidate_grids(search):
    """``GridSearchCV`` grids (one per architecture) of a fitted search's candidates."""
    grids = {}
    for params in search.cv_results_["params"]:
        key = (params["depth"], params["bias_std"])
        grid = grids.setdefault(key, {"depth": [params["depth"]],
                                      "bias_std": [params["bias_std"]],
                                      "diag_reg": [], "t": []})
        for name in ("diag_reg", "t"):
            if params[name] not in grid[name]:
                grid[name].append(params[name])
    return list(grids.values())


def timed_grid_search(X, y, grids, repeats):
    times = []
    for _ in range(repeats):
        KERNEL_CACHE.clear()
        times.append(timed(lambda: GridSearchCV(NTKClassifier(), grids, cv=5).fit(X, y)))
    return float(np.median(times))


class _EighClock:
    """Seconds spent in the CV estimators' eigendecompositions (wraps the call)."""

    def __init__(self):
        self.seconds = 0.0
        self._inner = _cv_estimators.eigensystem

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._inner(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def __enter__(self):
        _cv_estimators.eigensystem = self
        return self

    def __exit__(self, *exc):
        _cv_estimators.eigensystem = self._inner


def timing(sizes, repeats, grid_repeats, grid_max_n, slice_depth):
    """Fit times; the grid search is measured whole up to ``grid_max_n`` rows.

    Above it, it is extrapolated from a measured slice: every ``t`` of one
    architecture (``depth=slice_depth``) at one ``diag_reg``, times the
    number of slices (marked '~'; its error has no known sign, see the
    module notes).
    """
    print(f"{'N':>6} {'cand.':>6} {'NTKClassifierCV':>16} {'(eigh)':>8} "
          f"{'GridSearchCV cv=5':>18} {'RF(500)':>9} {'grid/CV':>8} {'grid/eigh':>9} "
          f"{'CV/RF':>7}")
    for n in sizes:
        X, y = datasets.make_classification(n_samples=n, n_features=20, n_informative=10,
                                            random_state=0)
        X = StandardScaler().fit_transform(X)
        r = repeats if n <= 2000 else 1
        runs, searches = [], []
        for _ in range(r):
            KERNEL_CACHE.clear()
            search = NTKClassifierCV()
            with _EighClock() as clock:
                total = timed(lambda: search.fit(X, y))
            runs.append((total, clock.seconds))
            searches.append(search)
        cv_time, eigh_time = sorted(runs)[len(runs) // 2]  # the median run
        grids = candidate_grids(searches[0])
        n_candidates = len(searches[0].cv_results_["params"])
        rf_times = []
        for _ in range(r):
            rf_times.append(timed(lambda: RandomForestClassifier(500, random_state=0).fit(X, y)))
        rf_time = float(np.median(rf_times))
        # Two candidates per architecture (t=None and a finite t) compile
        # every shape of the folds (train, cross and diagonal kernels), so
        # that the search is timed warm, as the CV's median is.
        timed_grid_search(X, y, [{**g, "diag_reg": g["diag_reg"][:1], "t": g["t"][:2]}
                                 for g in grids], 1)
        if n <= grid_max_n:
            grid_time = timed_grid_search(X, y, grids, grid_repeats)
            grid_text = f"{grid_time:.2f}s"
        else:
            one = next((g for g in grids if g["depth"] == [slice_depth]), grids[-1])
            slice_grid = [{**one, "diag_reg": one["diag_reg"][:1]}]
            grid_time = (timed_grid_search(X, y, slice_grid, 1) * n_candidates
                         / len(one["t"]))
            grid_text = f"~{grid_time:.1f}s"
        print(f"{n:>6} {n_candidates:>6} {cv_time:>15.2f}s {eigh_time:>7.2f}s "
              f"{grid_text:>18} {rf_time:>8.2f}s {grid_time / cv_time:>8.1f} "
              f"{grid_time / eigh_time:>9.1f} {cv_time / rf_time:>7.2f}", flush=True)


def phases(sizes):
    """CPU seconds of one warm ``NTKClassifierCV().fit`` per phase (cProfile)."""
    import cProfile
    import pstats

    parts = {
        "eigh": ("_loo.py", "eigensystem"),
        "kernels": ("_kernels.py", "compute_kernels"),
        "leave-one-out": ("_loo.py", "leave_one_out_batch"),
        "refit": ("_cv_estimators.py", "_refit"),
    }
    print(f"{'N':>6} {'total CPU':>10} " + " ".join(f"{name:>14}" for name in parts)
          + f" {'rest':>8}")
    for n in sizes:
        X, y = datasets.make_classification(n_samples=n, n_features=20, n_informative=10,
                                            random_state=0)
        X = StandardScaler().fit_transform(X)
        NTKClassifierCV().fit(X, y)  # compiles this N's kernel tiles
        KERNEL_CACHE.clear()
        profile = cProfile.Profile(time.process_time)
        profile.runcall(NTKClassifierCV().fit, X, y)
        stats = pstats.Stats(profile).stats
        total = max(entry[3] for entry in stats.values())
        seconds = {name: sum(entry[3] for (path, _, function), entry in stats.items()
                             if path.endswith(file) and function == func)
                   for name, (file, func) in parts.items()}
        rest = total - sum(seconds.values())
        print(f"{n:>6} {total:>9.2f}s " + " ".join(
            f"{s:>7.2f}s ({100 * s / total:>3.0f}%)" for s in seconds.values())
            + f" {rest:>7.2f}s", flush=True)


def classification_sets():
    sets = {
        "iris": datasets.load_iris(return_X_y=True),
        "wine": datasets.load_wine(return_X_y=True),
        "breast_cancer": datasets.load_breast_cancer(return_X_y=True),
        "digits": datasets.load_digits(return_X_y=True),
        "moons(400, noise=0.3)": datasets.make_moons(400, noise=0.3, random_state=0),
        "circles(400, noise=0.2)": datasets.make_circles(400, noise=0.2, factor=0.5,
                                                          random_state=0),
        "classification(600, 20 feat)": datasets.make_classification(
            600, 20, n_informative=8, random_state=0),
        "classification(500, 3 classes, flip 10%)": datasets.make_classification(
            500, 10, n_informative=5, n_classes=3, flip_y=0.1, random_state=1),
        "gaussian_quantiles(500, 3 classes)": datasets.make_gaussian_quantiles(
            n_samples=500, n_features=4, n_classes=3, random_state=0),
        "hastie_10_2(1000)": tuple(a[:1000] for a in datasets.make_hastie_10_2(
            random_state=0)),
    }
    return sets


def tuned_svc(n_features):
    grid = {"C": [0.1, 1.0, 10.0, 100.0, 1000.0],
            "gamma": [g / n_features for g in (0.1, 1.0, 10.0)]}
    return GridSearchCV(SVC(), grid, cv=5)


def tuned_ntk_svc(n_features):
    grid = {"C": [0.1, 1.0, 10.0, 100.0, 1000.0],
            "kernel": [NTKKernel(depth=depth, bias_std=bias_std)
                       for depth in (1, 3) for bias_std in (2.0, 4.0)]}
    return GridSearchCV(SVC(), grid, cv=5)


def accuracy(with_grids, only, with_remedies=False):
    models = {
        "NTKClassifierCV()": lambda d: NTKClassifierCV(),
        "NTKClassifier()": lambda d: NTKClassifier(),
        "RF(500)": lambda d: RandomForestClassifier(500, random_state=0),
        "SVC(rbf) tuned": tuned_svc,
    }
    if with_grids:
        models.update({
            "CV t=None only": lambda d: NTKClassifierCV(times=[None]),
            "CV depths 1-3": lambda d: NTKClassifierCV(depths=(1, 2, 3)),
        })
    if with_remedies:
        models.update({
            "OvO(NTKClassifierCV())": lambda d: OneVsOneClassifier(NTKClassifierCV()),
            "SVC(NTKKernel) tuned": tuned_ntk_svc,
        })
    names = list(models)
    widths = [max(22, len(name) + 2) for name in names]
    print("data set".ljust(42) + "".join(f"{name:>{w}}" for name, w in zip(names, widths)))
    table = []
    for label, (X, y) in classification_sets().items():
        if only and not any(label.startswith(prefix) for prefix in only):
            continue
        folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))
        row = []
        for name in names:
            scores = []
            for train, test in folds:
                KERNEL_CACHE.clear()
                model = make_pipeline(StandardScaler(), models[name](X.shape[1]))
                scores.append(model.fit(X[train], y[train]).score(X[test], y[test]))
            row.append(float(np.mean(scores)))
        table.append(row)
        print(f"{label:<42}" + "".join(f"{s:>{w}.4f}" for s, w in zip(row, widths)),
              flush=True)
    print(f"{'mean':<42}" + "".join(f"{s:>{w}.4f}"
                                    for s, w in zip(np.mean(table, axis=0), widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["timing", "phases", "accuracy"], required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000, 2000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid-repeats", type=int, default=1)
    parser.add_argument("--grid-max-n", type=int, default=5000,
                        help="largest N at which the whole grid search is timed; "
                             "above it, it is extrapolated from a timed slice "
                             "(an estimate whose error has no known sign)")
    parser.add_argument("--slice-depth", type=int, default=3,
                        help="depth of the architecture whose slice is timed")
    parser.add_argument("--sets", nargs="+", default=None,
                        help="only the data sets whose names start with these")
    parser.add_argument("--grids", action="store_true",
                        help="also the grid variants compared for the defaults")
    parser.add_argument("--remedies", action="store_true",
                        help="also one-vs-one NTKClassifierCV() and an SVC with the "
                             "NTK kernel tuned over C x the default architectures: "
                             "where one squared-loss output per class falls short")
    args = parser.parse_args()
    if args.part == "timing":
        timing(args.sizes, args.repeats, args.grid_repeats, args.grid_max_n,
               args.slice_depth)
    elif args.part == "phases":
        phases(args.sizes)
    else:
        accuracy(args.grids, args.sets, args.remedies)


if __name__ == "__main__":
    main()

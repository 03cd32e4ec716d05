"""Study: which default grid should NTKClassifierCV search? (issue 15)

For every data set, outer fold, architecture (activation, depth, bias_std)
and setting (diag_reg, relative time) this records, from one kernel and one
eigendecomposition per fold and architecture:

* the closed-form leave-one-out accuracy and squared error on the fold's
  training rows (what ``NTKClassifierCV`` selects by), and
* the accuracy on the fold's test rows of that candidate refitted on the
  training rows (exact, :func:`sklearn_ntk._loo.holdout_means`).

Any grid that is a subset of the recorded one, and any selection rule, can
then be evaluated without refitting: select by the leave-one-out columns,
read the test column. Data sets come in two collections so that the grid is
not tuned on the test folds it is judged on:

* ``dev``: generated sets with seeds 10 and 11 (the same generators as the
  evaluation sets, other seeds and sizes); the grid is chosen here.
* ``eval``: the bundled sets (iris, wine, breast_cancer, digits) and the
  generated sets of ``bench_cv.py`` (seed 0 / 1); reported, never tuned on.

Usage: python benchmarks/cv_grid_study.py --collection dev --out /tmp/dev.pkl
           [--activations relu erf] [--depths 1 3] [--bias-stds 2 4]
       python benchmarks/cv_grid_study.py --analyse /tmp/dev.pkl [/tmp/eval.pkl]

The activation axis (session 3) is recorded only for the activations given
(default: relu alone, the study of session 2); grids that name other
activations are skipped by the analysis of a record without them. An
activation's parameters follow a colon: ``rbf:gamma=0.1``.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_ntk._classifiers import encode_targets  # noqa: E402
from sklearn_ntk._kernels import compute_kernels  # noqa: E402
from sklearn_ntk._loo import eigensystem, holdout_means, leave_one_out_batch  # noqa: E402

ACTIVATIONS = ("relu",)
DEPTHS = (1, 2, 3, 4, 5, 6)
BIAS_STDS = (0.0, 0.5, 1.0, 2.0, 4.0)
DIAG_REGS = (10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 1e-4, 1e-5)
TIME_SCALES = (None, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)  # tau * mean(diag K)


def generated(seed, scale=1.0):
    n = lambda k: int(k * scale)  # noqa: E731
    return {
        f"moons({n(400)}, noise=0.3, seed={seed})": datasets.make_moons(
            n(400), noise=0.3, random_state=seed),
        f"circles({n(400)}, noise=0.2, seed={seed})": datasets.make_circles(
            n(400), noise=0.2, factor=0.5, random_state=seed),
        f"classification({n(600)}, 20 feat, seed={seed})": datasets.make_classification(
            n(600), 20, n_informative=8, random_state=seed),
        f"classification({n(500)}, 3 classes, flip 10%, seed={seed + 1})":
            datasets.make_classification(n(500), 10, n_informative=5, n_classes=3,
                                         flip_y=0.1, random_state=seed + 1),
        f"gaussian_quantiles({n(500)}, 3 classes, seed={seed})":
            datasets.make_gaussian_quantiles(n_samples=n(500), n_features=4, n_classes=3,
                                             random_state=seed),
        f"hastie_10_2({n(1000)}, seed={seed})": tuple(
            a[:n(1000)] for a in datasets.make_hastie_10_2(random_state=seed)),
    }


def collection(name):
    if name == "dev":
        return {**generated(10, 0.6), **generated(11, 1.0)}
    return {
        "iris": datasets.load_iris(return_X_y=True),
        "wine": datasets.load_wine(return_X_y=True),
        "breast_cancer": datasets.load_breast_cancer(return_X_y=True),
        "digits": datasets.load_digits(return_X_y=True),
        **generated(0),
    }


def study(X, y, activations=ACTIVATIONS, depths=DEPTHS, bias_stds=BIAS_STDS, n_folds=4):
    """Arrays (fold, activation, depth, bias, diag_reg, time) of loo_acc, loo_mse,
    test_acc, and the axes (``"axes"``) they were recorded on."""
    shape = (n_folds, len(activations), len(depths), len(bias_stds), len(DIAG_REGS),
             len(TIME_SCALES))
    out = {k: np.full(shape, np.nan) for k in ("loo_acc", "loo_mse", "test_acc")}
    out["axes"] = {"activations": tuple(activations), "depths": tuple(depths),
                   "biases": tuple(bias_stds)}
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=0).split(X, y)
    for f, (train, test) in enumerate(folds):
        scaler = StandardScaler().fit(X[train])
        Z = scaler.transform(X)
        classes, idx = np.unique(y[train], return_inverse=True)
        targets = encode_targets(idx, len(classes), "centered")
        n, c = targets.shape
        for (a, activation), (d, depth), (b, bias) in itertools.product(
                enumerate(activations), enumerate(depths), enumerate(bias_stds)):
            name, _, params = activation.partition(":")  # e.g. "rbf:gamma=0.1"
            params = {k: float(v) for k, v in (p.split("=") for p in params.split(",") if p)}
            ntk = compute_kernels(Z, depth=depth, bias_std=bias, activation=name,
                                  activation_params=params or None, get=("ntk",)).ntk
            k_tt = ntk[np.ix_(train, train)]
            eig = eigensystem(k_tt)
            proj_y = eig.vectors.T @ targets
            proj_test = eig.vectors.T @ ntk[np.ix_(train, test)]
            diag = np.diag(k_tt)
            settings, taus_test = [], []
            for reg, scale in itertools.product(DIAG_REGS, TIME_SCALES):
                t = None if scale is None else scale * n * c / diag.mean()
                settings.append((reg, None if t is None else t / ((n - 1) * c)))
                taus_test.append(None if t is None else t / (n * c))
            batch = leave_one_out_batch(eig, proj_y, targets, diag, settings)
            for s, (loo, tau) in enumerate(zip(batch, taus_test)):
                r, k = divmod(s, len(TIME_SCALES))
                out["loo_acc"][f, a, d, b, r, k] = np.mean(np.argmax(loo.means, 1) == idx)
                out["loo_mse"][f, a, d, b, r, k] = np.mean((loo.means - targets) ** 2)
                means = holdout_means(eig, proj_test, proj_y, settings[s][0], tau)
                out["test_acc"][f, a, d, b, r, k] = np.mean(
                    classes[np.argmax(means, 1)] == y[test])
    return out


# -- analysis -------------------------------------------------------------------------


def recorded(record, depths, biases, regs, scales, activations=("relu",)):
    """Whether ``record`` holds every value a grid names."""
    axes = record["axes"]
    return (set(activations) <= set(axes["activations"]) and set(depths) <= set(axes["depths"])
            and set(biases) <= set(axes["biases"]))


def select(record, depths, biases, regs, scales, rule, activations=("relu",)):
    """Mean test accuracy over folds of the candidate each fold's rule selects."""
    axes = record["axes"]
    ai = [axes["activations"].index(v) for v in activations]
    di = [axes["depths"].index(v) for v in depths]
    bi = [axes["biases"].index(v) for v in biases]
    ri = [DIAG_REGS.index(v) for v in regs]
    ki = [TIME_SCALES.index(v) for v in scales]
    sub = {k: record[k][:, ai][:, :, di][:, :, :, bi][:, :, :, :, ri][:, :, :, :, :, ki]
           for k in ("loo_acc", "loo_mse", "test_acc")}
    accs = []
    for f in range(sub["test_acc"].shape[0]):
        # CV estimator's order: activation, bias, depth, diag_reg, t (first of
        # ties wins).
        acc = sub["loo_acc"][f].transpose(0, 2, 1, 3, 4).ravel()
        mse = sub["loo_mse"][f].transpose(0, 2, 1, 3, 4).ravel()
        test = sub["test_acc"][f].transpose(0, 2, 1, 3, 4).ravel()
        if rule == "acc":
            i = int(np.argmax(acc))
        elif rule == "mse":
            i = int(np.argmin(mse))
        else:  # accuracy, ties broken by squared error
            best = np.flatnonzero(acc >= acc.max() - 1e-12)
            i = int(best[np.argmin(mse[best])])
        accs.append(test[i])
    return float(np.mean(accs))


GRIDS = {
    "old default": dict(depths=(1, 2, 3, 4), biases=(2.0,),
                        regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                        scales=(None, 1.0, 10.0, 100.0)),
    "old + bias (0.5,1,2,4)": dict(depths=(1, 2, 3, 4), biases=(0.5, 1.0, 2.0, 4.0),
                                   regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                   scales=(None, 1.0, 10.0, 100.0)),
    "old + wide regs": dict(depths=(1, 2, 3, 4), biases=(2.0,), regs=DIAG_REGS,
                            scales=(None, 1.0, 10.0, 100.0)),
    "old + depths 1-6": dict(depths=DEPTHS, biases=(2.0,),
                             regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                             scales=(None, 1.0, 10.0, 100.0)),
    "old + all times": dict(depths=(1, 2, 3, 4), biases=(2.0,),
                            regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                            scales=TIME_SCALES),
    "t=None only": dict(depths=(1, 2, 3, 4), biases=(2.0,),
                        regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001), scales=(None,)),
    "bias (0,1,4) x depth 1-4": dict(depths=(1, 2, 3, 4), biases=(0.0, 1.0, 4.0),
                                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                     scales=(None, 1.0, 10.0, 100.0)),
    "bias (0.5,2) x depth 1-4": dict(depths=(1, 2, 3, 4), biases=(0.5, 2.0),
                                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                     scales=(None, 1.0, 10.0, 100.0)),
    "depth 1-4 x bias (2,4)": dict(depths=(1, 2, 3, 4), biases=(2.0, 4.0),
                                   regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                   scales=(None, 1.0, 10.0, 100.0)),
    "depth (1,3) x bias (2,4)": dict(depths=(1, 3), biases=(2.0, 4.0),
                                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                     scales=(None, 1.0, 10.0, 100.0)),
    "depth (1,2) x bias (2,4)": dict(depths=(1, 2), biases=(2.0, 4.0),
                                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                     scales=(None, 1.0, 10.0, 100.0)),
    "depth (1,2,4) x bias (2,4)": dict(depths=(1, 2, 4), biases=(2.0, 4.0),
                                       regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                       scales=(None, 1.0, 10.0, 100.0)),
    "depth (1,3) x bias (1,2,4)": dict(depths=(1, 3), biases=(1.0, 2.0, 4.0),
                                       regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                       scales=(None, 1.0, 10.0, 100.0)),
    "depth 1-4 x bias (1,2,4)": dict(depths=(1, 2, 3, 4), biases=(1.0, 2.0, 4.0),
                                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                                     scales=(None, 1.0, 10.0, 100.0)),
    "depth 1-4 x bias 4": dict(depths=(1, 2, 3, 4), biases=(4.0,),
                               regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                               scales=(None, 1.0, 10.0, 100.0)),
    "everything": dict(depths=DEPTHS, biases=BIAS_STDS, regs=DIAG_REGS, scales=TIME_SCALES),
}
_DEFAULT_REST = dict(depths=(1, 3), biases=(2.0, 4.0),
                     regs=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                     scales=(None, 1.0, 10.0, 100.0))
# Session 3: the activation as a grid axis next to the default grid.
for _activations in (("erf",), ("gelu",), ("rbf",), ("relu", "erf"), ("relu", "gelu"),
                     ("relu", "rbf"), ("relu", "erf", "rbf")):
    GRIDS[f"{'+'.join(_activations)} x (1,3)x(2,4)"] = dict(_DEFAULT_REST,
                                                           activations=_activations)
for _gamma in ("0.03", "0.1", "0.3"):
    GRIDS[f"relu+rbf(gamma={_gamma}) x (1,3)x(2,4)"] = dict(
        _DEFAULT_REST, activations=("relu", f"rbf:gamma={_gamma}"))
    GRIDS[f"rbf(gamma={_gamma}) x (1,3)x(2,4)"] = dict(
        _DEFAULT_REST, activations=(f"rbf:gamma={_gamma}",))
GRIDS["relu+rbf x (1,3)x(2,)"] = dict(_DEFAULT_REST, biases=(2.0,),
                                     activations=("relu", "rbf"))
GRIDS["relu+rbf x (1,)x(2,4)"] = dict(_DEFAULT_REST, depths=(1,),
                                     activations=("relu", "rbf"))


def analyse(paths):
    for path in paths:
        with open(path, "rb") as fh:
            records = pickle.load(fh)
        names = list(records)
        print(f"\n== {path}: mean test accuracy of the selected candidate "
              f"(4-fold; rules: acc = LOO accuracy, first of ties; acc+mse = ties "
              f"broken by LOO squared error; mse = LOO squared error)")
        header = f"{'grid':<28}{'rule':>8}" + "".join(f"{n[:14]:>15}" for n in names)
        print(header + f"{'mean':>8}")
        for grid, spec in GRIDS.items():
            if not all(recorded(records[n], **spec) for n in names):
                continue
            for rule in ("acc", "acc+mse", "mse"):
                row = [select(records[n], rule=rule, **spec) for n in names]
                print(f"{grid:<28}{rule:>8}" + "".join(f"{v:>15.4f}" for v in row)
                      + f"{np.mean(row):>8.4f}")
        print("oracle (best single candidate per set, on test):")
        print("".join(f"{n[:14]:>15}" for n in names))
        print("".join(f"{np.nanmax(records[n]['test_acc'].mean(0)):>15.4f}" for n in names))
        for activation in records[names[0]]["axes"]["activations"]:
            print(f"oracle, {activation} only:")
            print("".join(
                f"{np.nanmax(records[n]['test_acc'][:, records[n]['axes']['activations'].index(activation)].mean(0)):>15.4f}"
                for n in names))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--collection", choices=["dev", "eval"])
    parser.add_argument("--out")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--activations", nargs="+", default=list(ACTIVATIONS))
    parser.add_argument("--depths", nargs="+", type=int, default=list(DEPTHS))
    parser.add_argument("--bias-stds", nargs="+", type=float, default=list(BIAS_STDS))
    parser.add_argument("--analyse", nargs="*")
    args = parser.parse_args()
    if args.analyse:
        analyse(args.analyse)
        return
    records = {}
    for name, (X, y) in collection(args.collection).items():
        if args.only and not any(name.startswith(p) for p in args.only):
            continue
        start = time.perf_counter()
        records[name] = study(np.asarray(X, float), np.asarray(y), args.activations,
                              args.depths, args.bias_stds)
        print(f"{name}: {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
        with open(args.out, "wb") as fh:
            pickle.dump(records, fh)


if __name__ == "__main__":
    main()

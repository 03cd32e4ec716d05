"""Diagnostic: is the gaussian_quantiles gap the kernel or the loss? (issue 15)

On ``make_gaussian_quantiles`` (3 classes in radial shells, 4 features) a
tuned ``SVC(rbf)`` is far ahead of every NTK candidate, including NTKs of
other activations (``cv_grid_study.py``). This compares, on the same
stratified 4-fold split (standard-scaled in each fold):

* tuned ``SVC(rbf)`` (hinge loss, one-vs-one), the bench's grid;
* kernel ridge regression on the centred one-hot targets (what
  ``NTKClassifier`` at ``t=None`` is) with the *same* RBF kernels,
  ``gamma`` in {0.1, 1, 10} / n_features, and with the depth-1 ReLU NTK
  (``bias_std`` 2, 4) and the rbf-activation NNGP and NTK;
  ``lambda = diag_reg * mean(diag K)``; the best held-out accuracy over the
  grid (an oracle: this favours the regression side).

Usage: python benchmarks/cv_loss_check.py
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.metrics.pairwise import rbf_kernel  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from sklearn_ntk import compute_kernels  # noqa: E402

DIAG_REGS = (1.0, 0.1, 0.01, 0.001)


def ridge_on_one_hot(X, y, folds, kernel):
    """Best mean held-out accuracy over DIAG_REGS of kernel ridge on one-hot targets."""
    best = 0.0
    for diag_reg in DIAG_REGS:
        accuracies = []
        for train, test in folds:
            Z = StandardScaler().fit(X[train]).transform(X)
            K = kernel(Z)
            n_classes = y.max() + 1
            targets = np.eye(n_classes)[y[train]] - 1.0 / n_classes
            k_train = K[np.ix_(train, train)]
            weights = np.linalg.solve(
                k_train + diag_reg * np.mean(np.diag(k_train)) * np.eye(len(train)), targets)
            accuracies.append(np.mean(np.argmax(K[np.ix_(test, train)] @ weights, 1) == y[test]))
        best = max(best, float(np.mean(accuracies)))
    return best


def main():
    for n, seed in ((300, 10), (500, 11), (500, 0)):
        X, y = datasets.make_gaussian_quantiles(n_samples=n, n_features=4, n_classes=3,
                                                random_state=seed)
        folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))
        gammas = [g / X.shape[1] for g in (0.1, 1.0, 10.0)]
        svc = GridSearchCV(SVC(), {"C": [0.1, 1.0, 10.0, 100.0, 1000.0], "gamma": gammas}, cv=5)
        row = {"tuned SVC(rbf)": float(np.mean(cross_val_score(
            make_pipeline(StandardScaler(), svc), X, y, cv=folds)))}
        row["ridge, same RBF kernels (best)"] = max(
            ridge_on_one_hot(X, y, folds, lambda Z, g=g: rbf_kernel(Z, gamma=g)) for g in gammas)
        for bias in (2.0, 4.0):
            row[f"ridge, relu NTK depth 1, bias {bias:g}"] = ridge_on_one_hot(
                X, y, folds, lambda Z, b=bias: compute_kernels(Z, depth=1, bias_std=b).ntk)
        rbf = {"activation": "rbf", "activation_params": {"gamma": 0.1}}
        row["ridge, rbf(0.1) NNGP depth 1"] = ridge_on_one_hot(
            X, y, folds, lambda Z: compute_kernels(Z, depth=1, **rbf).nngp)
        row["ridge, rbf(0.1) NTK depth 1"] = ridge_on_one_hot(
            X, y, folds, lambda Z: compute_kernels(Z, depth=1, **rbf).ntk)
        print(f"gaussian_quantiles({n}, 3 classes, seed={seed})")
        for name, value in row.items():
            print(f"  {name:<40} {value:.4f}", flush=True)


if __name__ == "__main__":
    main()

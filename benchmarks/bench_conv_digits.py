"""Accuracy of convolutional kernels on scikit-learn's digits (8 x 8), 5-fold.

Compares, on the same five stratified folds:

* SVC with the RBF kernel (scikit-learn's defaults, ``gamma="scale"``) on
  standard-scaled pixels and on pixels / 16;
* ``NTKClassifier()``: the MLP NTK with its defaults, on standard-scaled
  pixels;
* ``NTKClassifier(architecture=net, image_shape=(8, 8, 1))`` for the
  convolutional networks of :func:`architectures` (CNN-Flatten, the
  recommended image default; CNN-GAP; a Myrtle-style net), on pixels / 16.

The pixels / 16 scaling does not depend on the fold, so each network's
kernel is computed once on all rows and every fold's NTKClassifier
(``t=None``) is the closed form on its sub-blocks: ``Theta_*X (Theta +
diag_reg mean(diag Theta) I)^-1 Y`` with centred one-hot targets (the
equality of that closed form with the estimator is asserted in
``tests/test_conv_estimators.py``). The table gives mean accuracy, the
per-fold accuracies, and the kernel time per entry of the symmetric
N x N kernel (``seconds / (N (N + 1) / 2)``).

Run::

    python benchmarks/bench_conv_digits.py               # all 1797 digits
    python benchmarks/bench_conv_digits.py --n-samples 400 --nets flatten
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from sklearn_ntk import NTKClassifier, compute_kernels
from sklearn_ntk import layers as stax

#: Relative ridge of the convolutional NTKClassifier (its diag_reg).
CONV_DIAG_REG = 1e-3
W_STD, B_STD = 2.0**0.5, 0.05


def _conv_relu():
    return [stax.Conv(1, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), stax.Relu()]


def architectures():
    """The convolutional networks compared (8 x 8 inputs)."""
    readout = stax.Dense(1, W_std=W_STD, b_std=B_STD)
    pool = stax.AvgPool((2, 2), strides=(2, 2))
    return {
        # The recommended image default: no pooling after the convolutions,
        # so the diagonal spatial form, O(N^2 HW).
        "CNN-Flatten": stax.serial(*_conv_relu() * 3, stax.Flatten(), readout),
        "CNN-GAP": stax.serial(*_conv_relu() * 3, stax.GlobalAvgPool(), readout),
        "Myrtle-style": stax.serial(*_conv_relu() * 2, pool, *_conv_relu(), pool,
                                    *_conv_relu(), stax.GlobalAvgPool(), readout),
    }


def _closed_form_scores(kernel, y, folds, diag_reg):
    classes = np.unique(y)
    scores = []
    for train, test in folds:
        targets = (y[train, None] == classes).astype(float) - 1.0 / len(classes)
        k_train = kernel[np.ix_(train, train)]
        k_train = k_train + diag_reg * np.mean(np.diag(k_train)) * np.eye(len(train))
        mean = kernel[np.ix_(test, train)] @ np.linalg.solve(k_train, targets)
        scores.append(np.mean(classes[mean.argmax(axis=1)] == y[test]))
    return np.array(scores)


def run(n_samples=None, nets=None):
    """Yield rows ``(name, mean accuracy, fold accuracies, seconds per kernel
    entry)`` as they are measured."""
    X, y = load_digits(return_X_y=True)
    if n_samples is not None and n_samples < len(X):
        keep = np.random.default_rng(0).permutation(len(X))[:n_samples]
        X, y = X[keep], y[keep]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    folds = list(cv.split(X, y))
    over_16 = FunctionTransformer(lambda pixels: pixels / 16.0)
    baselines = {
        "SVC-RBF (StandardScaler)": make_pipeline(StandardScaler(), SVC()),
        "SVC-RBF (pixels / 16)": make_pipeline(over_16, SVC()),
        "MLP NTK (StandardScaler)": make_pipeline(StandardScaler(), NTKClassifier()),
    }
    for name, model in baselines.items():
        scores = cross_val_score(model, X, y, cv=folds)
        yield name, scores.mean(), scores, None
    images = (X / 16.0).reshape(-1, 8, 8, 1)
    n_entries = len(X) * (len(X) + 1) / 2
    for name, net in architectures().items():
        if nets is not None and name not in nets:
            continue
        started = time.perf_counter()
        kernel = compute_kernels(images, architecture=net, get="ntk").ntk
        seconds = time.perf_counter() - started
        scores = _closed_form_scores(kernel, y, folds, CONV_DIAG_REG)
        yield f"{name} NTK", scores.mean(), scores, seconds / n_entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=None,
                        help="a random subset of the digits (default: all 1797)")
    parser.add_argument("--nets", nargs="*", default=None,
                        choices=list(architectures()),
                        help="convolutional networks to run (default: all)")
    args = parser.parse_args()
    print(f"digits, 5-fold stratified (shuffle, random_state=0), "
          f"n_samples={args.n_samples or 1797}")
    print(f"{'model':<28} {'accuracy':>8}  {'folds':<36} {'us/entry':>9}")
    for name, mean, scores, per_entry in run(args.n_samples, args.nets):
        folds = " ".join(f"{s:.4f}" for s in scores)
        timing = "" if per_entry is None else f"{per_entry * 1e6:9.2f}"
        print(f"{name:<28} {mean:8.4f}  {folds:<36} {timing:>9}", flush=True)


if __name__ == "__main__":
    main()

"""
Drop-in comparison with scikit-learn's baselines
================================================

The infinite-width estimators are ordinary scikit-learn estimators, so they
go through :func:`~sklearn.model_selection.cross_validate` next to random
forests, RBF support-vector machines, kernel ridge, Gaussian processes and
multi-layer perceptrons. This example scores all of them on five datasets
bundled with scikit-learn, with default hyperparameters throughout (no
tuning for anyone; :ref:`sphx_glr_auto_examples_plot_hyperparameter_search.py`
tunes ours).

* regression (``diabetes``): R^2, with features and target standard-scaled;
* classification (``breast_cancer``, ``wine``, ``iris``, ``digits``):
  accuracy, and the log-loss of the models that have ``predict_proba``.
  :class:`~sklearn_ntk.NTKClassifier` and
  :class:`~sklearn_ntk.NNGPClassifier` train on centred one-hot targets, as
  in Lee et al. (2018) and Arora et al. (2020), predict the class of the
  largest mean output, and give with ``predict_proba`` the probability that
  each class has the largest output of the infinite ensemble; the NTK also
  enters as a kernel of an SVM, ``SVC(kernel=NTKKernel())``.

``make demo`` runs this example.
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits,
                              load_iris, load_wine)
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from sklearn_ntk import (NNGPClassifier, NNGPRegressor, NTKClassifier, NTKKernel,
                         NTKRegressor)

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)
N_SPLITS = 3 if QUICK else 5
warnings.filterwarnings("ignore", category=ConvergenceWarning)  # MLP, GPR

# %%
# Classification by one-hot regression
# ------------------------------------
# Fifteen lines turn any multi-output regressor into a classifier: the
# baseline kernel ridge classifies this way (NTKClassifier and NNGPClassifier
# do the same internally, and add ``predict_proba``).


class OneHotRegressionClassifier(ClassifierMixin, BaseEstimator):
    """Regress on centred one-hot targets; predict the largest output."""

    def __init__(self, regressor):
        self.regressor = regressor

    def fit(self, X, y):
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        targets = np.eye(n_classes)[codes] - 1.0 / n_classes
        self.regressor_ = clone(self.regressor).fit(X, targets)
        return self

    def predict(self, X):
        return self.classes_[np.argmax(self.regressor_.predict(X), axis=1)]


def scaled(model):
    return make_pipeline(StandardScaler(), model)


def scaled_target(model):
    return TransformedTargetRegressor(regressor=scaled(model),
                                      transformer=StandardScaler())


def rbf_gpr():
    return GaussianProcessRegressor(
        ConstantKernel() * RBF(np.ones(1)) + WhiteKernel(), normalize_y=True,
        random_state=0)


def ntk_gpr():
    # Marginal likelihood tunes the amplitude and the noise; the network's
    # weight_std and bias_std stay at their defaults here, as every other
    # model's hyperparameters do (tuning them is the next example's job).
    ntk = NTKKernel(weight_std_bounds="fixed", bias_std_bounds="fixed")
    return GaussianProcessRegressor(
        ConstantKernel() * ntk + WhiteKernel(), normalize_y=True,
        random_state=0)


n_trees = 50 if QUICK else 200
REGRESSORS = {
    "NTKRegressor": scaled_target(NTKRegressor()),
    "NNGPRegressor": scaled_target(NNGPRegressor()),
    "GPR (NTKKernel)": scaled(ntk_gpr()),
    "RandomForest": scaled(RandomForestRegressor(n_estimators=n_trees,
                                                 random_state=0)),
    "SVR (RBF)": scaled_target(SVR()),
    "KernelRidge (RBF)": scaled_target(KernelRidge(kernel="rbf")),
    "GPR (RBF)": scaled(rbf_gpr()),
    "MLP": scaled_target(MLPRegressor(early_stopping=True, max_iter=500,
                                      random_state=0)),
}
CLASSIFIERS = {
    "NTKClassifier": scaled(NTKClassifier()),
    "NNGPClassifier": scaled(NNGPClassifier()),
    "SVC (NTKKernel)": scaled(SVC(kernel=NTKKernel())),
    "RandomForest": scaled(RandomForestClassifier(n_estimators=n_trees,
                                                 random_state=0)),
    "SVC (RBF)": scaled(SVC()),
    "KernelRidge (RBF)": scaled(
        OneHotRegressionClassifier(KernelRidge(kernel="rbf"))),
    "MLP": scaled(MLPClassifier(random_state=0)),
}
DATASETS = {
    "diabetes": load_diabetes,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "iris": load_iris,
    "digits": load_digits,
}

# %%
# Cross-validation
# ----------------
# The same shuffled folds for every model (stratified for classification).

results = []
for dataset, load in DATASETS.items():
    X, y = load(return_X_y=True)
    if QUICK:  # a smoke run: at most 200 rows of each dataset
        keep = np.random.default_rng(0).permutation(len(X))[:200]
        X, y = X[keep], y[keep]
    regression = dataset == "diabetes"
    models = REGRESSORS if regression else CLASSIFIERS
    folds = (KFold(N_SPLITS, shuffle=True, random_state=0) if regression
             else StratifiedKFold(N_SPLITS, shuffle=True, random_state=0))
    for name, model in models.items():
        start = time.perf_counter()
        scoring = {"score": "r2" if regression else "accuracy"}
        if not regression and hasattr(model, "predict_proba"):
            scoring["log_loss"] = "neg_log_loss"
        cv = cross_validate(model, X, y, cv=folds, scoring=scoring)
        results.append({
            "dataset": dataset, "model": name,
            "score": cv["test_score"].mean(), "std": cv["test_score"].std(),
            "log_loss": -cv["test_log_loss"].mean() if "log_loss" in scoring
            else np.nan,
            "seconds": time.perf_counter() - start,
        })
    print(f"{dataset} ({X.shape[0]} x {X.shape[1]}):", ", ".join(
        f"{r['model']} {r['seconds']:.1f} s" for r in results[-len(models):]))
results = pd.DataFrame(results)

# %%
# The table
# ---------
# Mean score over the folds (R^2 for diabetes, accuracy otherwise), and the
# wall-clock seconds of the whole cross-validation of each model on each
# dataset; then the log-loss of the classifiers with ``predict_proba``
# (lower is better; predicting the class frequencies scores about 0.66 on
# breast_cancer, 1.09 on wine and iris, 2.30 on digits).

order = list(dict.fromkeys(list(REGRESSORS) + list(CLASSIFIERS)))
scores = results.pivot(index="model", columns="dataset", values="score")
seconds = results.pivot(index="model", columns="dataset", values="seconds")
scores = scores.reindex(index=order, columns=list(DATASETS))
seconds = seconds.reindex(index=order, columns=list(DATASETS))
table = scores.map(lambda v: "" if np.isnan(v) else f"{v:.3f}")
table["seconds (all)"] = seconds.sum(axis=1).map(lambda v: f"{v:.1f}")
with pd.option_context("display.width", 120):
    print(f"{N_SPLITS}-fold cross-validation, default hyperparameters")
    print(table.to_string())
    log_losses = results.pivot(index="model", columns="dataset", values="log_loss")
    log_losses = log_losses.dropna(how="all").reindex(
        columns=[name for name in DATASETS if name != "diabetes"])
    print("\nlog-loss of the classifiers with predict_proba")
    print(log_losses.map(lambda v: f"{v:.3f}").to_string())

# %%
# The figure
# ----------
fig, axes = plt.subplots(1, len(DATASETS) + 1, figsize=(17, 4.2),
                         sharey=True)
positions = np.arange(len(order))
ours = {"NTKRegressor", "NNGPRegressor", "NTKClassifier", "NNGPClassifier",
        "GPR (NTKKernel)", "SVC (NTKKernel)"}
colours = ["C3" if name in ours else "C0" for name in order]
for ax, dataset in zip(axes, DATASETS):
    column = results[results.dataset == dataset].set_index("model")
    column = column.reindex(order)
    ax.barh(positions, column["score"], xerr=column["std"], color=colours,
            alpha=0.8)
    best = column["score"].max()
    ax.set_xlim(max(0.0, best - 0.4), min(1.0, best + 0.1)
                if dataset != "diabetes" else best + 0.15)
    ax.set_title(dataset)
    ax.set_xlabel("R^2" if dataset == "diabetes" else "accuracy")
ax = axes[-1]
ax.barh(positions, seconds.sum(axis=1).reindex(order), color=colours,
        alpha=0.8)
ax.set_xscale("log")
ax.set_title("time, all datasets")
ax.set_xlabel("seconds")
axes[0].set_yticks(positions, order)
axes[0].invert_yaxis()
fig.suptitle(f"{N_SPLITS}-fold cross-validation (red: sklearn-ntk)")
fig.tight_layout()
figure_path = FIGURES / "baseline_comparison.png"
fig.savefig(figure_path, dpi=90)
print(f"figure saved to {figure_path}")

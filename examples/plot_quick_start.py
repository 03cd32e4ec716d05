"""
Quick start: three infinite-width estimators
=============================================

sklearn-ntk provides three regressors that behave like any scikit-learn
estimator:

* :class:`~sklearn_ntk.NTKRegressor`: an infinite ensemble of infinitely wide
  networks trained by gradient flow on the squared loss (the NTK Gaussian
  process of Lee et al. 2019);
* :class:`~sklearn_ntk.NNGPRegressor`: exact Bayesian inference with the
  NNGP prior of the same networks;
* :class:`~sklearn_ntk.LinearizedMLP`: real, finite networks, linearised
  around their random initialisation and trained in closed form.

We first look at their predictive uncertainty on a 1-D toy problem, then drop
them into a :class:`~sklearn.pipeline.Pipeline` on a bundled dataset.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ntk import LinearizedMLP, NNGPRegressor, NTKRegressor

# SKLEARN_NTK_QUICK=1 shrinks the work for CI; sphinx-gallery runs examples
# from their own folder without ``__file__``, hence the fallback.
QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

# %%
# A 1-D toy problem
# -----------------
# Twelve noisy samples of a sine. With a single input feature a ReLU network
# without a sizeable bias can only bend at ``x = 0`` (its kernel depends on
# the angle between inputs, and in one dimension there are only two angles),
# so we give the biases a standard deviation comparable to the weights'.

rng = np.random.default_rng(0)
x_train = np.sort(rng.uniform(-3, 3, 12))[:, None]
y_train = np.sin(1.5 * x_train[:, 0]) + 0.1 * rng.standard_normal(12)
x_test = np.linspace(-5, 5, 200)[:, None]

architecture = dict(depth=2, activation="relu", weight_std=1.5, bias_std=1.0)
models = {
    "NTKRegressor (t = 10)": NTKRegressor(**architecture, t=10.0),
    "NNGPRegressor (Bayesian posterior)": NNGPRegressor(**architecture, diag_reg=1e-2),
    "LinearizedMLP (width 256, 8 networks)": LinearizedMLP(
        **architecture, width=256, n_ensemble=4 if QUICK else 8, t=10.0,
        random_state=0),
}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    start = time.perf_counter()
    mean, std = model.fit(x_train, y_train).predict(x_test, return_std=True)
    seconds = time.perf_counter() - start
    ax.fill_between(x_test[:, 0], mean - 2 * std, mean + 2 * std,
                    color="C0", alpha=0.25, label="mean ± 2 std")
    ax.plot(x_test[:, 0], mean, color="C0", label="predictive mean")
    ax.plot(x_test[:, 0], np.sin(1.5 * x_test[:, 0]), "k--", lw=1, label="truth")
    ax.plot(x_train[:, 0], y_train, "ko", ms=4, label="training data")
    ax.set_title(f"{name}\n({seconds:.2f} s)", fontsize=10)
    ax.set_xlabel("x")
axes[0].set_ylabel("y")
axes[0].set_ylim(-3, 3)
axes[0].legend(loc="lower left", fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "quick_start_bands.png", dpi=100)

# %%
# The bands mean different things. For the two infinite-width models they
# are the spread of an *infinite* ensemble of networks (closed form); for
# :class:`~sklearn_ntk.LinearizedMLP` they are the spread across the few
# finite networks actually trained. Away from the data the NTK and NNGP
# uncertainties grow, as a Gaussian process's should.
#
# In a Pipeline on a bundled dataset
# ----------------------------------
# The estimators expect standard-scaled inputs (as the networks they model
# do) and a target of order one, so we scale both.

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

estimators = {
    "NTKRegressor": NTKRegressor(),
    "NNGPRegressor": NNGPRegressor(),
    "LinearizedMLP": LinearizedMLP(width=128 if QUICK else 512, t=100.0,
                                   random_state=0),
}
print(f"{'estimator':<16}{'test R^2':>10}{'seconds':>10}")
scores = {}
for name, estimator in estimators.items():
    pipeline = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), estimator),
        transformer=StandardScaler())
    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    scores[name] = pipeline.score(X_test, y_test)
    print(f"{name:<16}{scores[name]:>10.3f}{time.perf_counter() - start:>10.2f}")

# %%
# A :class:`~sklearn.pipeline.Pipeline` passes ``return_std`` through to the
# final step, so the predictive uncertainty survives the preprocessing:

pipeline = make_pipeline(StandardScaler(), NTKRegressor())
pipeline.fit(X_train, (y_train - y_train.mean()) / y_train.std())
mean, std = pipeline.predict(X_test[:5], return_std=True)
print("mean:", np.round(mean, 3))
print("std: ", np.round(std, 3))

fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(scores), list(scores.values()), color=["C0", "C1", "C2"])
ax.set_xlabel("test R^2 on diabetes")
ax.set_xlim(0, max(0.6, max(scores.values()) + 0.05))
fig.tight_layout()
fig.savefig(FIGURES / "quick_start_diabetes.png", dpi=100)

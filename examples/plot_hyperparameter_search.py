"""
Hyperparameter search
=====================

The architecture of the infinitely wide network (``depth``, ``activation``,
``weight_std``, ``bias_std``) and its training time ``t`` are ordinary
constructor arguments, so scikit-learn's tools tune them:

* :class:`~sklearn.model_selection.GridSearchCV` over ``depth``,
  ``activation`` and ``t`` of :class:`~sklearn_ntk.NTKRegressor` (fits that
  differ only in ``t`` share one kernel and one factorisation through a
  bounded cache, so searching ``t`` is almost free);
* maximisation of the marginal likelihood of a
  :class:`~sklearn.gaussian_process.GaussianProcessRegressor` over
  ``weight_std`` and ``bias_std`` of :class:`~sklearn_ntk.NTKKernel`, with
  exact gradients from JAX.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import WhiteKernel
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_ntk import NTKKernel, NTKRegressor

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

X, y = load_diabetes(return_X_y=True)

# %%
# Grid search over depth, activation and training time
# ----------------------------------------------------
# ``t=None`` is infinite training time; small ``t`` is early stopping, which
# regularises as the noisy diabetes target needs. ``diag_reg=0`` leaves all
# of the regularisation to ``t`` here.

model = TransformedTargetRegressor(
    regressor=Pipeline([("scale", StandardScaler()),
                        ("ntk", NTKRegressor(diag_reg=0.0))]),
    transformer=StandardScaler())
depths = [1, 2] if QUICK else [1, 2, 3, 4]
activations = ["relu", "erf"]
times = [1.0, 10.0, None] if QUICK else [
    0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0, None]
grid = {"regressor__ntk__depth": depths,
        "regressor__ntk__activation": activations,
        "regressor__ntk__t": times}
search = GridSearchCV(model, grid, cv=KFold(3 if QUICK else 5, shuffle=True,
                                            random_state=0), scoring="r2")
start = time.perf_counter()
search.fit(X, y)
n_candidates = len(search.cv_results_["params"])
print(f"{n_candidates} candidates x {search.n_splits_} folds "
      f"in {time.perf_counter() - start:.1f} s")
print("best:", {k.split("__")[-1]: v for k, v in search.best_params_.items()},
      f"R^2 = {search.best_score_:.3f}")

# %%
# The score surface: mean cross-validated R^2 for every depth and time, one
# panel per activation. Early stopping helps (R^2 peaks at a finite ``t``)
# and the best training time changes little with depth.

results = pd.DataFrame(search.cv_results_)
time_labels = ["inf" if t is None else f"{t:g}" for t in times]
fig, axes = plt.subplots(1, len(activations), figsize=(11, 3.6),
                         sharey=True)
for ax, activation in zip(axes, activations):
    rows = results[results["param_regressor__ntk__activation"] == activation]
    surface = np.array([
        [rows[(rows["param_regressor__ntk__depth"] == depth)
              & (rows["param_regressor__ntk__t"].map(
                  lambda v, t=t: v is t or v == t))]["mean_test_score"].item()
         for t in times] for depth in depths])
    image = ax.imshow(surface, cmap="viridis", aspect="auto",
                      vmin=max(0.0, results["mean_test_score"].min()),
                      vmax=results["mean_test_score"].max())
    for (i, j), value in np.ndenumerate(surface):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="w" if value < surface.max() - 0.05 else "k")
    ax.set_xticks(range(len(times)), time_labels)
    ax.set_yticks(range(len(depths)), depths)
    ax.set_xlabel("training time t")
    ax.set_title(f"activation = {activation!r}")
axes[0].set_ylabel("depth")
fig.colorbar(image, ax=axes, label="mean CV R^2")
fig.savefig(FIGURES / "hyperparameter_grid.png", dpi=90, bbox_inches="tight")

# %%
# Marginal likelihood over weight_std and bias_std
# ------------------------------------------------
# :class:`~sklearn_ntk.NTKKernel` exposes ``weight_std`` and ``bias_std`` as
# kernel hyperparameters (log scale, with bounds). The GP optimiser follows
# the exact gradient of the log marginal likelihood; ``WhiteKernel`` learns
# the noise. (For a ReLU network, ``weight_std`` sets the kernel's amplitude
# and the ratio ``bias_std / weight_std`` its shape.)

X_train, X_test, y_train, y_test = train_test_split(
    StandardScaler().fit_transform(X), y, train_size=150 if QUICK else 300,
    random_state=0)
kernel = NTKKernel(weight_std=1.0, bias_std=0.1, depth=2) + WhiteKernel()
gpr = GaussianProcessRegressor(kernel, normalize_y=True,
                               n_restarts_optimizer=0 if QUICK else 2,
                               random_state=0)
start = time.perf_counter()
gpr.fit(X_train, y_train)
print(f"GPR fit in {time.perf_counter() - start:.1f} s: {gpr.kernel_}")
print(f"log marginal likelihood {gpr.log_marginal_likelihood_value_:.2f}, "
      f"test R^2 {gpr.score(X_test, y_test):.3f}")

# %%
# The surface of the log marginal likelihood over the two scales (relative
# to its largest value on the grid), with the noise at its fitted value, and
# the optimum the optimiser found. The hyperparameter vector ``theta`` holds
# ``log(bias_std)``, ``log(weight_std)`` and ``log(noise_level)``, in
# scikit-learn's alphabetical order. The likelihood is sharply peaked in
# ``weight_std`` (the amplitude) and nearly flat in small ``bias_std``.

names = [h.name for h in gpr.kernel_.hyperparameters]
i_bias, i_weight = names.index("k1__bias_std"), names.index("k1__weight_std")
n_grid = 6 if QUICK else 15
log_bias = np.linspace(np.log(1e-3), np.log(10.0), n_grid)
log_weight = np.linspace(np.log(0.3), np.log(10.0), n_grid)
surface = np.empty((n_grid, n_grid))
for i, lw in enumerate(log_weight):
    for j, lb in enumerate(log_bias):
        theta = gpr.kernel_.theta.copy()
        theta[i_bias], theta[i_weight] = lb, lw
        surface[i, j] = gpr.log_marginal_likelihood(theta)

fig, ax = plt.subplots(figsize=(5.5, 4.2))
drop = surface - np.nanmax(surface)  # 0 at the best grid point
contour = ax.contourf(np.exp(log_bias), np.exp(log_weight), drop,
                      levels=[-200, -100, -50, -20, -10, -5, -2, -1, 0],
                      cmap="viridis", extend="min")
fitted = gpr.kernel_.k1
ax.plot(fitted.bias_std, fitted.weight_std, "r*", ms=14, label="optimum")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("bias_std")
ax.set_ylabel("weight_std")
ax.legend(loc="lower right")
fig.colorbar(contour, label="log marginal likelihood - its maximum")
fig.tight_layout()
fig.savefig(FIGURES / "hyperparameter_marginal_likelihood.png", dpi=90)

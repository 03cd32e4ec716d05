"""
Leave-one-out error surface in closed form
==========================================

:class:`~sklearn_ntk.NTKRegressorCV` scores every training time ``t`` and
every regulariser ``diag_reg`` by leave-one-out from one eigendecomposition
of the train kernel, as :class:`~sklearn.linear_model.RidgeCV` does for its
alphas. This example draws that error surface for the diabetes data next to
its brute-force twin, in which the estimator is refitted without each row in
turn, and times both.

At ``t=None`` (the right-hand column) the closed form is exact. At finite
``t`` it is the linear-smoother approximation
``[(I - H) y]_i / [I - H]_ii``: close where the regulariser or the time
dominates, and optimistic in the valley of little regularisation and
intermediate time.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

from sklearn_ntk import NTKRegressor, NTKRegressorCV, compute_kernels

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

X, y = load_diabetes(return_X_y=True)
n = 40 if QUICK else 200
X = StandardScaler().fit_transform(X[:n])
y = StandardScaler().fit_transform(y[:n, None])[:, 0]

# %%
# The grid
# --------
# Times relative to the kernel's scale: ``tau * mean(diag K)`` from 0.1 to
# 1e4 (``tau = t / n``), then infinite time.

depth = 2
mean_diag = np.mean(np.diag(compute_kernels(X, depth=depth, get="ntk").ntk))
scales = np.logspace(-1, 4, 4 if QUICK else 11)
times = [float(s * n / mean_diag) for s in scales] + [None]
diag_regs = np.logspace(1, -4, 4 if QUICK else 11)

# %%
# Closed form: one eigendecomposition
# -----------------------------------

start = time.perf_counter()
search = NTKRegressorCV(times=times, diag_regs=diag_regs, depths=[depth],
                        bias_stds=[2.0]).fit(X, y)
closed_form_s = time.perf_counter() - start
closed_form = 1.0 - search.cv_results_["mean_test_score"].reshape(len(diag_regs), len(times))

# %%
# Brute force: n refits per regulariser
# -------------------------------------
# Each refit predicts its left-out row at every time at once
# (``predict_at_times`` shares one factorisation among the times).

start = time.perf_counter()
held_out = np.empty((len(diag_regs), len(times), n))
for a, diag_reg in enumerate(diag_regs):
    for i in range(n):
        keep = np.arange(n) != i
        model = NTKRegressor(depth=depth, diag_reg=diag_reg).fit(X[keep], y[keep])
        held_out[a, :, i] = model.predict_at_times(X[i:i + 1], times)[:, 0]
brute_force_s = time.perf_counter() - start
brute_force = np.mean((held_out - y) ** 2, axis=2) / np.var(y)

print(f"{n} rows, {len(diag_regs) * len(times)} candidates: closed form "
      f"{closed_form_s:.2f} s, brute force {brute_force_s:.1f} s "
      f"({brute_force_s / closed_form_s:.0f}x)")
infinite = np.abs(closed_form[:, -1] / brute_force[:, -1] - 1).max()
finite = np.abs(closed_form[:, :-1] / brute_force[:, :-1] - 1).max()
print(f"largest relative difference: t=None {infinite:.1e}, finite t {finite:.2f}")
print("best (closed form):", search.best_params_)

# %%
# The two surfaces
# ----------------
# ``1 - R^2`` of the leave-one-out predictions, on one colour scale. The
# columns at ``t=None`` agree to rounding; at finite ``t`` the closed form is
# close wherever the error is low, which is where the search looks.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
# A logarithmic scale: the overfitted corner (little regularisation, long
# training) is far above the valley.
norm = LogNorm(min(closed_form.min(), brute_force.min()),
               max(closed_form.max(), brute_force.max()))
labels = [f"{s:.3g}" for s in scales] + ["None"]
for ax, surface, title in zip(axes, (closed_form, brute_force),
                              (f"closed form ({closed_form_s:.2f} s)",
                               f"brute-force refits ({brute_force_s:.0f} s)")):
    image = ax.imshow(surface, origin="lower", aspect="auto", cmap="viridis",
                      norm=norm)
    ax.set_xticks(range(len(times)), labels, rotation=60)
    ax.set_yticks(range(len(diag_regs)), [f"{r:.0e}" for r in diag_regs])
    ax.set_xlabel("training time: tau * mean(diag K)  (None = infinite)")
    ax.set_title(title)
axes[0].set_ylabel("diag_reg")
fig.colorbar(image, ax=axes, label="leave-one-out 1 - R^2")
fig.savefig(FIGURES / "cv_error_surface.png", dpi=110, bbox_inches="tight")

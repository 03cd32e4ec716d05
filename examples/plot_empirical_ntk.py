"""
The empirical NTK converges to the analytic one
================================================

The neural tangent kernel of a *finite* network,
``Theta_hat(x, x') = <df(x)/dtheta, df(x')/dtheta>`` at its random initial
parameters, is itself random. Jacot et al. (2018) proved that as the width
grows it converges to a deterministic limit, the analytic NTK that
:func:`sklearn_ntk.compute_kernels` computes in closed form; the fluctuations
shrink as ``width^(-1/2)``.

:class:`~sklearn_ntk.LinearizedMLP` with ``solver="exact"`` exposes the
empirical NTK of each network of its ensemble on the training set
(``empirical_ntk_``); fitting at ``t=0`` computes it without training.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ntk import LinearizedMLP, compute_kernels

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

WIDTHS = [16, 64, 256, 1024] if QUICK else [16, 64, 256, 1024, 4096]
N_SEEDS = 3 if QUICK else 4
ARCHITECTURE = dict(depth=2, activation="relu", weight_std=1.5, bias_std=0.05)

rng = np.random.default_rng(0)
X = rng.standard_normal((30, 5))
y = np.zeros(len(X))  # unused at t=0
analytic = compute_kernels(X, **ARCHITECTURE, get="ntk").ntk

# %%
# Relative error against width
# ----------------------------
start = time.perf_counter()
empirical = {}
for width in WIDTHS:
    model = LinearizedMLP(**ARCHITECTURE, width=width, n_ensemble=N_SEEDS,
                          t=0.0, solver="exact", random_state=0).fit(X, y)
    empirical[width] = model.empirical_ntk_  # (N_SEEDS, n, n)
print(f"empirical NTKs of {len(WIDTHS) * N_SEEDS} networks "
      f"in {time.perf_counter() - start:.1f} s")

errors = np.array([
    np.linalg.norm(empirical[w] - analytic, axis=(1, 2)) / np.linalg.norm(analytic)
    for w in WIDTHS])  # (n_widths, N_SEEDS)
slope = np.polyfit(np.log(WIDTHS), np.log(errors.mean(axis=1)), 1)[0]
for width, row in zip(WIDTHS, errors):
    print(f"width {width:>5}: relative error {row.mean():.4f} ± {row.std():.4f}")
print(f"log-log slope {slope:.2f} (theory -0.5)")

fig, axes = plt.subplots(1, 4, figsize=(15, 3.6),
                         gridspec_kw={"width_ratios": [1.3, 1, 1, 1]})
ax = axes[0]
for seed in range(N_SEEDS):
    ax.loglog(WIDTHS, errors[:, seed], ".", color="C0", alpha=0.5)
ax.loglog(WIDTHS, errors.mean(axis=1), "o-", color="C0",
          label=f"mean over seeds (slope {slope:.2f})")
ax.loglog(WIDTHS, errors[0].mean() * (np.array(WIDTHS) / WIDTHS[0]) ** -0.5,
          "k:", label="width^(-1/2)")
ax.set_xlabel("width")
ax.set_ylabel("||Theta_hat - Theta||_F / ||Theta||_F")
ax.legend(fontsize=8)

# %%
# What the kernels look like
# --------------------------
# The narrowest network's kernel is visibly noisy; the widest one is hard to
# tell from the analytic kernel.
order = np.argsort(X[:, 0])
vmin, vmax = analytic.min(), analytic.max()
panels = [(f"empirical, width {WIDTHS[0]}", empirical[WIDTHS[0]][0]),
          (f"empirical, width {WIDTHS[-1]}", empirical[WIDTHS[-1]][0]),
          ("analytic (infinite width)", analytic)]
for ax, (title, kernel) in zip(axes[1:], panels):
    image = ax.imshow(kernel[np.ix_(order, order)], vmin=vmin, vmax=vmax,
                      cmap="viridis")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(image, ax=axes[1:], shrink=0.8)
fig.savefig(FIGURES / "empirical_ntk.png", dpi=90, bbox_inches="tight")

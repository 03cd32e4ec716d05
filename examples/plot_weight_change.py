"""
Wide networks barely move their weights
========================================

The NTK description of training rests on one fact: as the width ``n`` grows,
gradient descent reaches the same function while each parameter moves less
(Jacot et al. 2018; Lee et al. 2019). In the ``'ntk'`` parameterization, for
training of a fixed duration:

* the first layer (``d x n``) and the readout (``n x 1``) change by
  ``||W_T - W_0|| / ||W_0|| ~ n^(-1/2)``: their gradients have norm O(1)
  while the weights have norm ``sqrt(n)``;
* a hidden ``n x n`` layer changes by ``~ n^(-1)``: its gradient is an outer
  product of norm O(1) while the weights have norm ``n``;
* the whole parameter vector, dominated in norm by the hidden layers, changes
  by ``~ n^(-1)`` here (Lee et al. bound it by ``n^(-1/2)``, the rate of the
  first and last layers).

We train real (not linearised) networks of increasing width with full-batch
gradient descent using :class:`~sklearn_ntk.LinearizedMLP` with
``linearize=False`` and read its ``weight_change_`` attribute.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ntk import LinearizedMLP

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

WIDTHS = [64, 256, 1024] if QUICK else [64, 128, 256, 512, 1024, 2048]
SEEDS = [0] if QUICK else [0, 1]

rng = np.random.default_rng(0)
X = rng.standard_normal((32, 4))
y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]

# %%
# Training
# --------
# ``learning_rate=0.5`` keeps gradient descent stable
# (``learning_rate * lambda_max(NTK) / n_samples`` is about 1.2 < 2 here) and
# 200 steps bring the training loss down by two orders of magnitude at every
# width.

changes = {}  # width -> (n_seeds, depth + 2): three layers, then the total
start = time.perf_counter()
for width in WIDTHS:
    rows = []
    for seed in SEEDS:
        # bias_std=0.05: a small constant mode keeps learning_rate=0.5 stable.
        network = LinearizedMLP(width=width, depth=2, linearize=False, bias_std=0.05,
                                solver="gd", t=200.0, learning_rate=0.5,
                                random_state=seed).fit(X, y)
        change = network.weight_change_
        rows.append(np.append(change["layers"][0], change["total"][0]))
    changes[width] = np.array(rows)
    loss = network.loss_curve_[0]
    print(f"width {width:>5}: loss {loss[0]:.3f} -> {loss[-1]:.5f}, "
          f"relative change per layer {np.round(rows[-1][:-1], 5)}")
print(f"trained {len(WIDTHS) * len(SEEDS)} networks "
      f"in {time.perf_counter() - start:.1f} s")

# %%
# Log-log slopes
# --------------
# A least-squares line through ``log(change)`` against ``log(width)`` gives
# each layer's measured exponent, printed next to the theory.

names = ["layer 1 (d x n)", "layer 2 (n x n)", "readout (n x 1)", "all parameters"]
theory = [-0.5, -1.0, -0.5, -1.0]
mean_change = np.array([changes[w].mean(axis=0) for w in WIDTHS])
log_widths = np.log(WIDTHS)
slopes = [np.polyfit(log_widths, np.log(mean_change[:, i]), 1)[0]
          for i in range(len(names))]
print(f"{'':<18}{'measured':>10}{'theory':>8}")
for name, slope, expected in zip(names, slopes, theory):
    print(f"{name:<18}{slope:>10.2f}{expected:>8.2f}")

fig, ax = plt.subplots(figsize=(6, 4.2))
for i, (name, slope, expected) in enumerate(zip(names, slopes, theory)):
    ax.loglog(WIDTHS, mean_change[:, i], "o-", color=f"C{i}",
              label=f"{name}: slope {slope:.2f} (theory {expected:g})")
    guide = mean_change[0, i] * (np.array(WIDTHS) / WIDTHS[0]) ** expected
    ax.loglog(WIDTHS, guide, ":", color=f"C{i}")
ax.set_xlabel("width n")
ax.set_ylabel("||theta_T - theta_0|| / ||theta_0||")
ax.set_title("relative weight change after training (dotted: theory)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "weight_change.png", dpi=100)

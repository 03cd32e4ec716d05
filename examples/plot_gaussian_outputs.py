"""
Wide random networks are Gaussian processes
============================================

At initialisation the output of a fully-connected network with i.i.d.
Gaussian weights is a sum of many weakly dependent terms. As the hidden width
grows it becomes a Gaussian random variable, and jointly over inputs a
Gaussian process whose covariance is the NNGP kernel (Neal 1996; Lee et al.
2018; Matthews et al. 2018).

We sample thousands of independently initialised ReLU networks at several
widths, written here in a few lines of NumPy (independently of the library),
and compare the distribution of their outputs with the Gaussian that
:func:`sklearn_ntk.compute_kernels` predicts.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from sklearn_ntk import compute_kernels

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

WEIGHT_STD, BIAS_STD, DEPTH = 1.5, 0.05, 2
WIDTHS = [2, 8, 32, 256] if QUICK else [2, 8, 32, 512]
N_NETWORKS = 1000 if QUICK else 4000

# %%
# Random networks in NumPy
# ------------------------
# neural-tangents' ``'ntk'`` parameterization: every weight and bias is drawn
# from N(0, 1) and a Dense layer computes
# ``weight_std / sqrt(n_in) * x @ W + bias_std * b``.


def random_network_outputs(x, width, n_networks, rng, chunk=50):
    """Outputs of ``n_networks`` random ReLU nets at the rows of ``x``."""
    outputs = []
    for start in range(0, n_networks, chunk):
        m = min(chunk, n_networks - start)
        h = np.broadcast_to(x, (m,) + x.shape)
        for n_out in [width] * DEPTH + [1]:
            n_in = h.shape[-1]
            weights = rng.standard_normal((m, n_in, n_out))
            biases = rng.standard_normal((m, 1, n_out))
            h = WEIGHT_STD / np.sqrt(n_in) * h @ weights + BIAS_STD * biases
            if n_out != 1:
                h = np.maximum(h, 0.0)
        outputs.append(h[..., 0])
    return np.concatenate(outputs)  # (n_networks, n_inputs)


rng = np.random.default_rng(0)
x = rng.standard_normal((2, 5))  # two inputs with 5 features
x[1] = 0.7 * x[0] + 0.3 * x[1]  # correlated, to make the joint law visible
nngp = compute_kernels(x, depth=DEPTH, weight_std=WEIGHT_STD,
                       bias_std=BIAS_STD, get="nngp").nngp
samples = {width: random_network_outputs(x, width, N_NETWORKS, rng)
           for width in WIDTHS}

print("NNGP covariance of the two inputs:\n", np.round(nngp, 4))
print(f"{'width':>6}{'var f(x1)':>12}{'NNGP':>8}{'excess kurtosis':>17}")
for width, f in samples.items():
    print(f"{width:>6}{f[:, 0].var():>12.4f}{nngp[0, 0]:>8.4f}"
          f"{stats.kurtosis(f[:, 0]):>17.3f}")

# %%
# Histograms and QQ plots
# -----------------------
# Top: the distribution of ``f(x1)`` across networks, with the NNGP density
# ``N(0, K(x1, x1))``. Middle: quantiles of ``f(x1) / sqrt(K(x1, x1))``
# against those of a standard normal; the points fall on the diagonal as the
# width grows. Narrow networks are heavy-tailed (positive excess kurtosis,
# shrinking roughly as 1/width). Bottom: the joint law of ``(f(x1), f(x2))``
# with the 1, 2 and 3 standard-deviation ellipses of the NNGP covariance.

fig, axes = plt.subplots(3, len(WIDTHS), figsize=(3.2 * len(WIDTHS), 9.5))
grid = np.linspace(-4, 4, 200) * np.sqrt(nngp[0, 0])
angles = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(angles), np.sin(angles)])
ellipse = np.linalg.cholesky(nngp) @ circle
for column, (width, f) in enumerate(samples.items()):
    ax = axes[0, column]
    ax.hist(f[:, 0], bins=60, range=(grid[0], grid[-1]), density=True,
            color="C0", alpha=0.6)
    ax.plot(grid, stats.norm.pdf(grid, scale=np.sqrt(nngp[0, 0])), "k",
            label="NNGP")
    ax.set_title(f"width {width}")
    ax.set_xlabel("f(x1)")

    ax = axes[1, column]
    theoretical = stats.norm.ppf((np.arange(len(f)) + 0.5) / len(f))
    ax.plot(theoretical, np.sort(f[:, 0]) / np.sqrt(nngp[0, 0]), ".", ms=2)
    ax.plot([-4, 4], [-4, 4], "k", lw=1)
    ax.set_xlim(-4, 4)
    ax.set_ylim(-6, 6)
    ax.set_xlabel("standard normal quantile")

    ax = axes[2, column]
    ax.plot(f[:, 0], f[:, 1], ".", ms=1.5, alpha=0.4)
    for radius in (1, 2, 3):
        ax.plot(radius * ellipse[0], radius * ellipse[1], "k", lw=1)
    limit = 4 * np.sqrt(nngp.diagonal().max())
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_xlabel("f(x1)")
axes[0, 0].legend()
axes[0, 0].set_ylabel("density")
axes[1, 0].set_ylabel("f(x1) / sqrt(K(x1, x1)) quantile")
axes[2, 0].set_ylabel("f(x2)")
fig.tight_layout()
fig.savefig(FIGURES / "gaussian_outputs.png", dpi=90)

# %%
# The covariance itself
# ---------------------
# The sample covariance of the outputs converges to the NNGP kernel. Its
# relative error is the sum of a finite-width bias (order 1/width) and the
# Monte Carlo error of the sample covariance (order ``1/sqrt(N_NETWORKS)``,
# the dashed line), which dominates at large width.

errors = [np.linalg.norm(np.cov(f.T) - nngp) / np.linalg.norm(nngp)
          for f in samples.values()]
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.loglog(WIDTHS, errors, "o-", label="sample vs NNGP covariance")
ax.axhline(np.sqrt(2 / N_NETWORKS), color="k", ls="--",
           label="Monte Carlo floor")
ax.set_xlabel("width")
ax.set_ylabel("relative Frobenius error")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "gaussian_outputs_covariance.png", dpi=90)

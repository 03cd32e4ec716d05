"""
Porting from neural-tangents
============================

The same computation written with neural-tangents 0.6.5 and with
sklearn-ntk: the NTK-GP prediction (mean and standard deviation) of a
depth-3 ReLU network trained by gradient flow, at several training times.

neural-tangents is not installed in this environment (it needs TensorFlow
and does not import on current JAX), so its side is shown as code, and the
numbers it printed when we ran it in its own environment (jax 0.4.26,
``jax_enable_x64`` on) are pasted below. sklearn-ntk reproduces them to
about 1e-9, the accuracy of neural-tangents' own kernel diagonal (see the
user guide).

The neural-tangents side
------------------------

.. code-block:: python

    import jax
    jax.config.update("jax_enable_x64", True)  # global switch, needed for float64
    import neural_tangents as nt
    from neural_tangents import stax

    rng = np.random.default_rng(0)
    x_train = rng.standard_normal((20, 3))
    y_train = np.sin(x_train[:, :1]) + 0.5 * x_train[:, 1:2]
    x_test = rng.standard_normal((4, 3))

    depth, W_std, b_std = 3, 1.5, 0.05
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(512, W_std=W_std, b_std=b_std), stax.Relu()]
    init_fn, apply_fn, kernel_fn = stax.serial(
        *layers, stax.Dense(1, W_std=W_std, b_std=b_std))

    predict_fn = nt.predict.gradient_descent_mse_ensemble(
        kernel_fn, x_train, y_train, learning_rate=1.0, diag_reg=1e-3)
    for t in [1.0, 10.0, 100.0, None]:
        mean, cov = predict_fn(x_test=x_test, get="ntk", t=t, compute_cov=True)
        std = np.sqrt(np.diag(cov))

The widths (512) of the ``stax.Dense`` layers do not enter the infinite-width
kernel in the ``'ntk'`` parameterization; sklearn-ntk has no width argument
for it (``width=`` matters only with ``parameterization="standard"``).

The parameter mapping
---------------------

Architecture: ``stax.serial(*[stax.Dense(n, W_std=w, b_std=b), stax.Relu()]
* depth, stax.Dense(1, W_std=w, b_std=b))`` becomes ``depth=depth,
activation="relu", weight_std=w, bias_std=b``. Dynamics: ``learning_rate``,
``diag_reg`` and ``t`` keep their names and meanings, and ``get="ntk"`` /
``get="nngp"`` become :class:`~sklearn_ntk.NTKRegressor` /
:class:`~sklearn_ntk.NNGPRegressor`. The full table is in the porting guide
of the documentation (``docs/porting.rst``).

``diag_reg`` is relative in both libraries (``diag_reg * mean(diag K)`` is
added to the diagonal) and time is scaled the same way
(``tau = learning_rate * t / y.size``), so the numbers carry over unchanged.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_ntk import NTKRegressor

QUICK = os.environ.get("SKLEARN_NTK_QUICK", "0") == "1"  # nothing to shrink
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

# %%
# What neural-tangents printed: (mean, std) at each time, for the four test
# points (12 significant digits).

NEURAL_TANGENTS = {
    1.0: ([-0.386630671017, -0.128319467406, 1.41093690303, -1.21695904676],
          [1.05212503301, 0.330860558889, 0.469432683906, 0.603244718305]),
    10.0: ([-0.808797777796, -0.0484310707853, 1.58910958802, -1.67468519543],
           [0.681023341581, 0.270917639024, 0.248001836013, 0.255154912926]),
    100.0: ([-0.840052650061, -0.0354246835236, 1.63627446757, -1.65402541436],
            [0.535457308653, 0.261303558125, 0.222966940881, 0.220936920477]),
    None: ([-0.841975951983, -0.0357041411191, 1.63899474251, -1.65603277795],
           [0.534618571339, 0.261261640649, 0.22180267965, 0.220618256614]),
}

# %%
# The sklearn-ntk side
# --------------------
# The same data (NumPy's ``default_rng`` stream is stable across versions),
# the same architecture as constructor arguments, the same ``t``,
# ``learning_rate`` and ``diag_reg``. No global JAX switch: float64 is the
# default.

rng = np.random.default_rng(0)
x_train = rng.standard_normal((20, 3))
y_train = np.sin(x_train[:, :1]) + 0.5 * x_train[:, 1:2]
x_test = rng.standard_normal((4, 3))

model = NTKRegressor(depth=3, activation="relu", weight_std=1.5,
                     bias_std=0.05, learning_rate=1.0, diag_reg=1e-3)
print(f"{'t':>6}{'max |mean difference|':>24}{'max |std difference|':>22}")
for t, (nt_mean, nt_std) in NEURAL_TANGENTS.items():
    model.set_params(t=t).fit(x_train, y_train)
    mean, std = model.predict(x_test, return_std=True)
    mean_error = np.abs(np.ravel(mean) - nt_mean).max()
    std_error = np.abs(np.ravel(std) - nt_std).max()
    print(f"{str(t):>6}{mean_error:>24.2e}{std_error:>22.2e}")
    # neural-tangents evaluates the kernel's diagonal with the general
    # arccos formula at rho = 1 - O(1e-16), which costs it about half the
    # digits there (errors of ~1e-8 relative); the solve passes that on.
    assert mean_error < 1e-7 and std_error < 1e-7, (t, mean_error, std_error)

# %%
# The whole trajectory
# --------------------
# sklearn-ntk's predictions over training time (``predict_at_times``), with
# the values neural-tangents printed as markers (``t=None`` drawn at the
# right edge).

times = np.logspace(-1, 3, 20 if QUICK else 60)
# One Cholesky factor and one Krylov basis serve every time (leading axis:
# the times).
trajectory = model.predict_at_times(x_test, times).reshape(len(times), -1)
fig, ax = plt.subplots(figsize=(6, 3.8))
for i in range(len(x_test)):
    ax.semilogx(times, trajectory[:, i], color=f"C{i}",
                label=f"sklearn-ntk, test point {i}")
    for t, (nt_mean, _) in NEURAL_TANGENTS.items():
        ax.semilogx(times[-1] * 1.6 if t is None else t, nt_mean[i], "o",
                    color=f"C{i}", mfc="none", ms=8)
ax.plot([], [], "ko", mfc="none", label="neural-tangents 0.6.5")
ax.set_xlabel("training time t (t = None at the right edge)")
ax.set_ylabel("NTK-GP mean prediction")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(FIGURES / "porting_from_neural_tangents.png", dpi=100)

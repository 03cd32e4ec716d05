"""
Convolutional kernels on digits
===============================

An MLP sees an image as a vector of pixels; a convolutional network sees
local patches, and with global average pooling it is also invariant to
small translations. Their infinitely wide limits keep these inductive
biases. This example compares, on scikit-learn's 8 x 8 digits, the NTK of

* the default MLP of ``NTKClassifier`` (on standard-scaled pixels),
* CNN-Flatten: three 3 x 3 convolutions with ReLU, then ``Flatten`` (the
  kernel only pairs equal pixels: cost O(N^2 HW)),
* CNN-GAP: the same convolutions, then ``GlobalAvgPool`` (every pair of
  pixels: O(N^2 (HW)^2)),
* a Myrtle-style network: convolutions and 2 x 2 average pools, then
  global pooling,

by cross-validated accuracy and by the time to compute one kernel entry.
The networks are built with :mod:`sklearn_ntk.layers` (neural-tangents'
stax names) and handed to the estimator as ``architecture=``; each row of
``X`` stays a flattened image and ``image_shape=(8, 8, 1)`` reshapes it,
so the usual scikit-learn tools apply unchanged.
"""

# %%
# The data and the networks
# -------------------------
# ``SKLEARN_NTK_QUICK=1`` (as in the test suite and the docs build) uses 90
# digits, 3 folds and two convolutions per network instead of three (XLA
# compiles each network once per tile shape; that dominates at this size).
# Unset, all 1797 digits and 5 folds (the kernels with pooling then take a
# while on a laptop).
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_ntk import NTKClassifier, compute_kernels
from sklearn_ntk import layers as stax

QUICK = os.environ.get("SKLEARN_NTK_QUICK") == "1"
FIGURES = Path(globals().get("__file__", "x")).resolve().parent / "figures"
FIGURES.mkdir(exist_ok=True)

X, y = load_digits(return_X_y=True)
if QUICK:
    keep = np.random.default_rng(0).permutation(len(X))[:90]
    X, y = X[keep], y[keep]
cv = StratifiedKFold(3 if QUICK else 5, shuffle=True, random_state=0)

W_std, b_std = 2**0.5, 0.05


def conv_relu():
    return [stax.Conv(1, (3, 3), padding="SAME", W_std=W_std, b_std=b_std), stax.Relu()]


readout = stax.Dense(1, W_std=W_std, b_std=b_std)
pool = stax.AvgPool((2, 2), strides=(2, 2))
n_conv = 2 if QUICK else 3
myrtle = ([*conv_relu(), pool, *conv_relu()] if QUICK else
          [*conv_relu() * 2, pool, *conv_relu(), pool, *conv_relu()])
networks = {
    "MLP": None,
    "CNN-Flatten": stax.serial(*conv_relu() * n_conv, stax.Flatten(), readout),
    "CNN-GAP": stax.serial(*conv_relu() * n_conv, stax.GlobalAvgPool(), readout),
    "Myrtle-style": stax.serial(*myrtle, stax.GlobalAvgPool(), readout),
}
print(networks["CNN-GAP"])

# %%
# Accuracy and time per kernel entry
# ----------------------------------
# The MLP keeps its defaults on standard-scaled pixels. The convolutional
# networks read pixels / 16 (one scale for every pixel keeps the image's
# spatial structure) with a smaller ridge ``diag_reg=1e-3``. The time per
# entry is that of one symmetric N x N kernel; in quick mode a first call
# compiles and the second is timed (at full size compilation is negligible).
accuracy, per_entry = {}, {}
images = (X / 16.0).reshape(-1, 8, 8, 1)
for name, net in networks.items():
    if net is None:
        model = make_pipeline(StandardScaler(), NTKClassifier())
    else:
        model = make_pipeline(
            FunctionTransformer(lambda pixels: pixels / 16.0),
            NTKClassifier(architecture=net, image_shape=(8, 8, 1), diag_reg=1e-3),
        )
    accuracy[name] = cross_val_score(model, X, y, cv=cv).mean()
    inputs = images if net is not None else X
    if QUICK:
        compute_kernels(inputs, architecture=net, get="ntk")
    started = time.perf_counter()
    compute_kernels(inputs, architecture=net, get="ntk")
    per_entry[name] = (time.perf_counter() - started) / (len(X) * (len(X) + 1) / 2)
    print(f"{name:<13} accuracy {accuracy[name]:.4f}   "
          f"{per_entry[name] * 1e6:8.2f} us per kernel entry")

# %%
# The figure
# ----------
# Left: accuracy by architecture; right: the price of each kernel entry
# (log scale). Pooling makes the kernel pair every pixel with every other,
# which costs (HW)^2 instead of HW per entry.
names = list(networks)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.bar(names, [accuracy[n] for n in names], color="tab:blue")
left.set_ylim(min(accuracy.values()) - 0.02, 1.0)
left.set_ylabel(f"{cv.get_n_splits()}-fold accuracy")
left.set_title(f"digits, N = {len(X)}")
right.bar(names, [per_entry[n] * 1e6 for n in names], color="tab:orange")
right.set_yscale("log")
right.set_ylabel("microseconds per kernel entry")
right.set_title("cost of the NTK")
for axis in (left, right):
    axis.tick_params(axis="x", rotation=20)
fig.tight_layout()
fig.savefig(FIGURES / "convolutional_kernels.png", dpi=100)
plt.show()

"""Identical inputs give identical kernel entries, wherever they sit.

Two equal rows at different positions used to get entries that differed from
the diagonal by ~1e-9 relative: GEMM rounds ``x . x'`` differently from
``|x|^2``, and ``arccos`` near ``rho = 1`` turns that ``eps`` into
``sqrt(eps)``. libsvm then cycled forever on duplicate-heavy data. Now the
rows' identities are computed exactly (``row_identities``) and every layer
takes the exact ``rho = 1`` formulas on pairs of identical rows.

"Identical" is asserted to an ulp (``assert_array_max_ulp(..., maxulp=1)``):
within one compiled tile the copies get the same bits; the O(n) diagonal
program and tiles of another shape are compiled separately, and XLA may
contract a multiply-add into an FMA in one and not the other (1 ulp seen
with erf).
"""

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import SVC

from sklearn_ntk import (
    ACTIVATIONS,
    NNGPKernel,
    NTKKernel,
    compute_kernel_diagonals,
    compute_kernels,
)
from sklearn_ntk._activations import resolve_activation
from sklearn_ntk._kernels import row_identities, tile_size

#: 64-row tiles (see tile_size): the copies below lie in different tiles,
#: so they are computed by different tile calls, diagonal and off-diagonal.
SMALL_TILES = 6 * 8 * 64 * 64
N_ROWS = 200
#: Row 3 is copied to rows 90 and 190, row 5 to row 130; the cross inputs
#: hold copies of rows 3 and 5 at their rows 40 and 7.
COPIES = {3: (90, 190), 5: (130,)}
CROSS_COPIES = {40: 3, 7: 5}


def _inputs(rng, activation):
    x = rng.standard_normal((N_ROWS, 4))
    if activation in ("hermite",):  # defined on inputs of norm sqrt(d)
        x *= 2.0 / np.linalg.norm(x, axis=1, keepdims=True)
    z = x[:60] + 0.5 * rng.standard_normal((60, 4))
    if activation in ("hermite",):
        z *= 2.0 / np.linalg.norm(z, axis=1, keepdims=True)
    for source, copies in COPIES.items():
        x[list(copies)] = x[source]
    for row, source in CROSS_COPIES.items():
        z[row] = x[source]
    return x, z


def _assert_duplicates_identical(train, cross, diagonal=None):
    """Every entry of a pair of identical rows equals the diagonal entry."""
    for source, copies in COPIES.items():
        group = (source, *copies)
        reference = train[source, source]
        values = [train[i, j] for i in group for j in group]
        values += [cross[row, j] for row, s in CROSS_COPIES.items() if s == source
                   for j in group]
        if diagonal is not None:
            values += [diagonal[i] for i in group]
        np.testing.assert_array_max_ulp(np.array(values),
                                        np.full(len(values), reference), maxulp=1)


def test_copies_lie_in_different_tiles():
    side = tile_size(N_ROWS, SMALL_TILES)
    assert side == 64
    assert len({row // side for row in (3, 90, 130, 190)}) == 3


def test_row_identities_are_exact():
    x = np.array([[1.0, 2.0], [0.0, -0.0], [1.0, 2.0 + 1e-16], [-0.0, 0.0]])
    z = np.array([[1.0, 2.0], [1.0, 2.0 + 4e-16]])
    ids1, ids2 = row_identities(x, z)
    # 2 + 1e-16 rounds to 2.0; -0.0 is 0.0; 2 + 4e-16 is the next float.
    assert ids1[0] == ids1[2] == ids2[0]
    assert ids1[1] == ids1[3]
    assert len({ids1[0], ids1[1], ids2[1]}) == 3
    # float32 makes more rows equal: identities follow the computing dtype.
    ids1, ids2 = row_identities(x, z, np.float32)
    assert ids1[0] == ids2[1]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_duplicates_far_apart_are_exact_at_depth_5(rng, activation):
    # Depth 5 runs every layer's masked formulas five times over; the depth
    # sweep below covers depths 0-4 (one compilation per architecture).
    x, z = _inputs(rng, activation)
    kwargs = dict(depth=5, activation=activation, weight_std=1.3, bias_std=0.2,
                  max_block_bytes=SMALL_TILES)
    if activation in ("polynomial", "monomial", "rectified_monomial", "exp"):
        # Keep the deep kernel finite (exp of exp of ... overflows).
        kwargs.update(weight_std=0.3, bias_std=0.1)
    if resolve_activation(activation).family == "quadrature":
        # Exactness does not depend on the rule; few nodes compile faster.
        kwargs["activation_params"] = {"n_points": 8}
    train = compute_kernels(x, **kwargs)
    cross = compute_kernels(z, x, **kwargs)
    for name in ("nngp", "ntk"):
        assert np.all(np.isfinite(getattr(train, name)))
        _assert_duplicates_identical(getattr(train, name), getattr(cross, name))


def _user_activation(x):
    import jax.numpy as jnp

    return jnp.tanh(x) + 0.1 * x


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", _user_activation],
                         ids=["relu", "erf", "tanh", "callable"])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
def test_duplicates_far_apart_are_exact_at_every_depth(rng, activation, depth):
    x, z = _inputs(rng, activation)
    kwargs = dict(depth=depth, activation=activation, max_block_bytes=SMALL_TILES)
    if callable(activation) or activation == "tanh":
        kwargs["activation_params"] = {"n_points": 8}  # exactness needs no nodes
    train = compute_kernels(x, **kwargs)
    cross = compute_kernels(z, x, **kwargs)
    # The O(n) diagonals: the same rho = 1 formulas, so the same bits.
    kwargs.pop("max_block_bytes")
    diagonal = compute_kernel_diagonals(x, **kwargs)
    for name in ("nngp", "ntk"):
        _assert_duplicates_identical(getattr(train, name), getattr(cross, name),
                                     getattr(diagonal, name))


@pytest.mark.parametrize("kernel_class", [NTKKernel, NNGPKernel])
def test_gp_kernel_values_and_gradients_exact_on_duplicates(rng, kernel_class):
    # The GP kernels tile by 192 rows: the copies at 3, 150 (tile 0) and 195
    # (tile 1) meet in diagonal and off-diagonal tiles.
    x = rng.standard_normal((200, 3))
    x[[150, 195]] = x[3]
    kernel = kernel_class(depth=2)
    value, gradient = kernel(x, eval_gradient=True)
    assert np.all(np.isfinite(gradient))
    group = [3, 150, 195]
    for matrix in (value, gradient[..., 0], gradient[..., 1]):
        block = matrix[np.ix_(group, group)].ravel()
        np.testing.assert_array_max_ulp(block, np.full(9, block[0]), maxulp=1)
    # A cross call (the value-only program, whose rounding differs from the
    # forward-mode one by a few ulps): the copies among themselves.
    cross = kernel(x[[150]], x)
    np.testing.assert_array_max_ulp(cross[0, group], np.full(3, cross[0, 3]),
                                    maxulp=1)
    np.testing.assert_allclose(cross[0, group], value[3, 3], rtol=1e-13)


def _one_hot_binary_data(seed=0, n=232, n_prototypes=60, n_features=9):
    """Nine binary categorical features, one-hot encoded (18 columns), drawn
    from 60 prototypes (about 50 distinct rows among 232), with 10% label
    noise: the duplicate-heavy kind of data on which libsvm used to cycle."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 2, size=(n_prototypes, n_features))
    rows = levels[rng.integers(0, n_prototypes, size=n)]
    x = np.concatenate([(rows == value).astype(float) for value in (0, 1)], axis=1)
    y = (rows[:, 0] + rows[:, 1] + rows[:, 2] + (rng.random(n) < 0.1)) % 2
    return x, y


def test_svc_converges_on_duplicate_heavy_one_hot_data():
    x, y = _one_hot_binary_data()
    assert len(np.unique(x, axis=0)) < 0.3 * len(x)
    train = np.random.default_rng(0).permutation(len(x))[:116]
    # max_iter bounds the run (libsvm cycling hit it in 0.5 s before the fix),
    # so this can never hang CI. Converged fits take ~150 iterations.
    max_iter = 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        svc = SVC(kernel=NTKKernel(depth=5), C=100, max_iter=max_iter)
        svc.fit(x[train], y[train])
    assert int(np.max(svc.n_iter_)) < 5_000, svc.n_iter_


def test_near_duplicates_keep_float64_accuracy():
    """Near-duplicates against the closed form with an accurate angle.

    One ReLU layer, weight_std = 1, no bias: ``K = sqrt(q1 q2) (sin t + (pi -
    t) cos t) / (2 pi)`` and ``Theta = K + q12 (pi - t) / (2 pi)``, with the
    angle ``t`` of the two float64 inputs computed to ~1 ulp by ``atan2`` from
    the exact inputs. The kernels take ``t = arccos(rho)`` from the rounded
    ``rho``, the neural-tangents formula: a relative error ``eps`` in ``rho``
    becomes ``eps / t`` in ``t``, at most ``sqrt(2 eps) = 2.1e-8`` once
    ``rho`` rounds to 1. The NNGP only feels it through ``sin t``, whose
    derivative vanishes there, so it stays at float64 accuracy (< 1e-13
    relative, measured <= 4e-14); the NTK's ``E[relu'(u) relu'(v)] = (pi -
    t) / (2 pi)`` takes it linearly: measured <= 3.4e-9 relative for every
    angle from 1e-1 to 1e-15, bounded by 2.1e-8 / (2 pi) / (1/2) = 6.8e-9.
    """
    thetas = [10.0 ** -e for e in range(1, 16)]
    x = np.array([[1.0, 0.0]] + [[math.cos(t), math.sin(t)] for t in thetas])
    kernels = compute_kernels(x, depth=1, weight_std=1.0, bias_std=0.0)
    for i in range(1, len(x)):
        c, s = x[i]
        angle = math.atan2(s, c)
        q1, q2, q12 = 0.5, (c * c + s * s) / 2, c / 2
        nngp = (math.sqrt(q1 * q2) * (math.sin(angle) + (math.pi - angle)
                                      * math.cos(angle)) / (2 * math.pi))
        ntk = nngp + q12 * (math.pi - angle) / (2 * math.pi)
        assert abs(kernels.nngp[0, i] - nngp) <= 1e-13 * nngp
        assert abs(kernels.ntk[0, i] - ntk) <= 6.8e-9 * ntk
    # The exact copy of row 0 is exact (the duplicate-row formulas).
    exact = compute_kernels(np.array([[1.0, 0.0], [1.0, 0.0]]), depth=1,
                            weight_std=1.0, bias_std=0.0)
    # q = 1/2: K = q/2, Theta = K + q/2.
    assert exact.ntk[0, 1] == exact.ntk[0, 0] == 0.5

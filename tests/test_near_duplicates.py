"""Near-duplicate rows keep float64 accuracy in the arc-cosine families.

Two distinct rows at angle ``theta`` used to lose ``eps / theta`` in the NTK
(``arccos`` of a rounded ``rho``; 3.4e-9 relative measured at worst). Tiles
that meet such a pair now carry the pairs' squared distances and take every
arc-cosine activation's angle from them (``carries_distance``).

The reference is independent of the library: the same recursions written
with Python's ``decimal`` at 80 significant digits, on the exact values of
the float64 inputs, with the angle from ``atan2(sqrt(q11 q22 - q12^2), q12)``
(the difference cancels at most ~32 of the 80 digits at ``theta = 1e-15``,
so the reference is good to ~40 digits). mpmath is not a dependency.
"""

import decimal
import functools
import math

import jax
import jax.numpy as jnp

import numpy as np
import pytest

from sklearn_ntk import compute_kernels, layers
from sklearn_ntk._recursion import net_kernels, split_scales
from sklearn_ntk._precision import x64_scope

D = decimal.Decimal
CONTEXT = decimal.Context(prec=80)
ANGLES = [10.0 ** -e for e in range(1, 16)]

# ---------------------------------------------------------------------------
# A high-precision reference (decimal, 80 digits)
# ---------------------------------------------------------------------------


def _atan(x):
    """arctan(x) for |x| <= 1: halve the argument until small, then Taylor."""
    with decimal.localcontext(CONTEXT):
        doublings = 0
        while abs(x) > D("0.01"):
            x = x / (1 + (1 + x * x).sqrt())
            doublings += 1
        term, total, k, x2 = x, x, 1, x * x
        while abs(term) > D(10) ** -85:
            term = -term * x2
            total += term / (2 * k + 1)
            k += 1
        return total * 2**doublings


with decimal.localcontext(CONTEXT):
    PI = 4 * _atan(D(1))


def _atan2(y, x):
    """atan2 for y >= 0 (angles in [0, pi])."""
    with decimal.localcontext(CONTEXT):
        if y == 0:
            return D(0) if x >= 0 else PI
        if x >= y:
            return _atan(y / x)
        if -x >= y:
            return PI - _atan(-y / x)
        return PI / 2 - _atan(x / y)


def _sin_cos(theta):
    """Taylor series of sin and cos (theta in [0, pi]; 80 digits)."""
    with decimal.localcontext(CONTEXT):
        sine, cosine, term, k = D(0), D(1), D(1), 0
        while abs(term) > D(10) ** -85 or k < 2:
            term = term * theta / (k + 1)
            k += 1
            sign = 1 if k % 4 in (0, 1) else -1
            if k % 2:
                sine += sign * term
            else:
                cosine += sign * term
        return sine, cosine


def _reference_dual(family, q11, q12, q22):
    """``(k, k_dot, k11, k22)`` of one activation, from the exact angle."""
    with decimal.localcontext(CONTEXT):
        det = max(q11 * q22 - q12 * q12, D(0))
        theta = _atan2(det.sqrt(), q12)
        sine, cosine = _sin_cos(theta)
        scale = (q11 * q22).sqrt()
        kind = family[0]
        if kind == "ab_relu":
            a, b = (D(repr(v)) for v in family[1:])
            c = (a - b) ** 2 / (2 * PI)
            half = (a * a + b * b) / 2
            k_dot = half - c * theta
            return (scale * (c * sine + k_dot * cosine), k_dot,
                    half * q11, half * q22)
        if kind == "sign":
            return 1 - 2 * theta / PI, D(0), D(1), D(1)
        degree = family[1]  # rectified monomial: Cho & Saul's J_n
        j = [PI - theta, sine + (PI - theta) * cosine]
        for n in range(2, degree + 1):
            j.append((2 * n - 1) * cosine * j[-1] + (n - 1) ** 2 * sine * sine * j[-2])
        double_factorial = math.prod(range(2 * degree - 1, 0, -2))
        k = scale**degree * j[degree] / (2 * PI)
        k_dot = degree**2 * scale ** (degree - 1) * j[degree - 1] / (2 * PI)
        return (k, k_dot, double_factorial * q11**degree / 2,
                double_factorial * q22**degree / 2)


def _reference_mlp(x1, x2, family, depth, w, b):
    """NNGP and NTK of ``[Dense, act] * depth + Dense`` ('ntk' parameterization)."""
    with decimal.localcontext(CONTEXT):
        u = [D(float(v)) for v in x1]
        v = [D(float(t)) for t in x2]
        n = len(u)
        q11 = sum(a * a for a in u) / n
        q22 = sum(a * a for a in v) / n
        q12 = sum(a * c for a, c in zip(u, v)) / n
        w2, b2 = D(repr(w)) ** 2, D(repr(b)) ** 2
        ntk = D(0)
        for _ in range(depth):
            q11, q12, q22 = (w2 * q + b2 for q in (q11, q12, q22))
            ntk = q12 + w2 * ntk
            q12, k_dot, q11, q22 = _reference_dual(family, q11, q12, q22)
            ntk = ntk * k_dot
        q12 = w2 * q12 + b2
        return q12, q12 + w2 * ntk


def _reference_conv(x1, x2, family, w, b):
    """Conv(3x3, SAME) -> act -> Conv(3x3, SAME) -> act -> Flatten -> Dense on
    (H, W, C) images, carried per position (no pooling)."""
    height, width, channels = x1.shape
    with decimal.localcontext(CONTEXT):
        w2, b2 = D(repr(w)) ** 2, D(repr(b)) ** 2

        def dot(a, c):
            return sum(D(float(s)) * D(float(t)) for s, t in zip(a, c)) / channels

        grids = [[[dot(x1[i, j], x1[i, j]), dot(x1[i, j], x2[i, j]),
                   dot(x2[i, j], x2[i, j]), D(0)] for j in range(width)]
                 for i in range(height)]

        def conv(grid):
            out = []
            for i in range(height):
                row = []
                for j in range(width):
                    sums = [D(0)] * 4
                    for di in (-1, 0, 1):
                        for dj in (-1, 0, 1):
                            if 0 <= i + di < height and 0 <= j + dj < width:
                                sums = [s + t for s, t in zip(sums, grid[i + di][j + dj])]
                    q11, q12, q22, ntk = (s / 9 for s in sums)
                    new = [w2 * q11 + b2, w2 * q12 + b2, w2 * q22 + b2]
                    row.append(new + [new[1] + w2 * ntk])
                out.append(row)
            return out

        def act(grid):
            out = []
            for row in grid:
                new_row = []
                for q11, q12, q22, ntk in row:
                    k, k_dot, k11, k22 = _reference_dual(family, q11, q12, q22)
                    new_row.append([k11, k, k22, ntk * k_dot])
                out.append(new_row)
            return out

        grid = act(conv(act(conv(grids))))
        size = height * width
        q12 = sum(cell[1] for row in grid for cell in row) / size
        ntk = sum(cell[3] for row in grid for cell in row) / size
        q12 = w2 * q12 + b2
        return q12, q12 + w2 * ntk


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _near_pairs(rng, shape):
    """Rows ``x`` and ``x'`` at each angle of ANGLES (to float64 rounding)."""
    base = rng.standard_normal((len(ANGLES),) + shape)
    direction = rng.standard_normal((len(ANGLES),) + shape)
    flat_base = base.reshape(len(ANGLES), -1)
    flat_dir = direction.reshape(len(ANGLES), -1)
    # The direction orthogonal to x, scaled to |x| theta.
    flat_dir -= (np.sum(flat_dir * flat_base, 1) / np.sum(flat_base**2, 1))[:, None] * flat_base
    flat_dir *= (np.linalg.norm(flat_base, axis=1) * np.array(ANGLES)
                 / np.linalg.norm(flat_dir, axis=1))[:, None]
    return base, base + direction


FAMILIES = {
    "relu": (layers.Relu(), ("ab_relu", 0.0, 1.0)),
    "leaky_relu": (layers.LeakyRelu(0.2), ("ab_relu", 0.2, 1.0)),
    "abs": (layers.Abs(), ("ab_relu", -1.0, 1.0)),
    "ab_relu": (layers.ABRelu(-0.5, 2.0), ("ab_relu", -0.5, 2.0)),
    "sign": (layers.Sign(), ("sign",)),
    "rectified_monomial_2": (layers.RectifiedMonomial(2), ("rect", 2)),
}

#: Relative error allowed against the 80-digit reference: every layer
#: rounds a handful of operations (a few ulps each, 1.1e-16 per ulp) and the
#: readout sums them. Measured worst over the 15 angles: 3.8e-16 at depth 1,
#: 6.4e-16 for the ReLU family and sign at depth 3, 2.3e-15 for the
#: rectified monomial (powers of the variances), 3.9e-16 for the conv net;
#: the tolerances leave a factor ~10. The arccos formula missed by 2.4e-9
#: (depth 1), 8e-9 (relu, depth 3), 2e-8 (ab_relu), 4.4e-3 (sign, depth 3:
#: its kernel 1 - 2 theta / pi takes theta's error whole) and 3.9e-9 (conv).
TOLERANCE = {1: 4e-15, 3: 2e-14}


def _carried_kernels(net, x1, x2):
    """The distance-carrying recursion alone (what compute_kernels runs on a
    tile with near-duplicates; one compilation instead of two)."""
    skeleton, scales = split_scales(net)
    with x64_scope():
        run = jax.jit(functools.partial(net_kernels, net=skeleton, distances=True))
        return [np.asarray(k) for k in run(jnp.asarray(x1), jnp.asarray(x2),
                                           jnp.asarray(scales))]


# leaky_relu and abs are ab_relu with (a, b) = (alpha, 1) and (-1, 1): the
# same code as ab_relu(-0.5, 2).
@pytest.mark.parametrize("depth, name", [
    (1, "relu"), (3, "relu"), (3, "ab_relu"), (3, "sign"), (3, "rectified_monomial_2"),
])
def test_mlp_near_duplicates_match_high_precision(rng, depth, name):
    act, family = FAMILIES[name]
    # A bias that pulls deeper angles closer to 0 (each Dense shrinks
    # 1 - rho by w^2 q / (w^2 q + b^2)): the hardest case for arccos.
    w, b = (0.7, 0.3) if name == "rectified_monomial_2" else (1.3, 0.8)
    net = layers.serial(*[layers.Dense(8, W_std=w, b_std=b), act] * depth,
                        layers.Dense(1, W_std=w, b_std=b))
    x1, x2 = _near_pairs(rng, (6,))
    kernels = _carried_kernels(net, x1, x2)
    worst = 0.0
    for i in range(len(ANGLES)):
        nngp, ntk = _reference_mlp(x1[i], x2[i], family, depth, w, b)
        for got, want in ((kernels[0][i, i], nngp), (kernels[1][i, i], ntk)):
            error = abs(D(float(got)) - want) / abs(want)
            worst = max(worst, float(error))
    assert worst <= TOLERANCE[depth], worst


def test_conv_near_duplicates_match_high_precision(rng):
    w, b = 1.3, 0.8
    conv = dict(filter_shape=(3, 3), padding="SAME", W_std=w, b_std=b)
    net = layers.serial(layers.Conv(4, **conv), layers.Relu(),
                        layers.Conv(4, **conv), layers.Relu(),
                        layers.Flatten(), layers.Dense(1, W_std=w, b_std=b))
    x1, x2 = _near_pairs(rng, (3, 3, 2))
    kernels = _carried_kernels(net, x1, x2)
    worst = 0.0
    for i in range(len(ANGLES)):
        nngp, ntk = _reference_conv(x1[i], x2[i], ("ab_relu", 0.0, 1.0), w, b)
        for got, want in ((kernels[0][i, i], nngp), (kernels[1][i, i], ntk)):
            worst = max(worst, float(abs(D(float(got)) - want) / abs(want)))
    # Two conv layers of 9-term sums, then a 9-position mean: as depth 3.
    assert worst <= TOLERANCE[3], worst
    # compute_kernels runs image chains layer by layer (staged programs):
    # the near-duplicate tile takes the same distance-carrying formulas.
    staged = compute_kernels(x1, x2, architecture=net)
    for got, want in zip(staged, kernels):
        np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=1e-14, atol=0)


def test_smooth_duals_need_no_distances(rng):
    """erf and gelu take q12 linearly (no arccos): near-duplicates keep
    float64 accuracy without distances. Checked against the exact copy
    (x, x) (the diagonal, from the rho = 1 formulas): at theta <= 1e-13 the
    true kernels differ from it by O(theta) plus the rounding of x' (its
    variance is off by ~eps relative), which the depth-3 kernel amplifies
    by its condition number (measured differences <= 2e-14 relative);
    1e-13 leaves a factor 5, far below the arccos formula's 3e-9."""
    x1, x2 = _near_pairs(rng, (6,))
    rows = np.concatenate([x1[-3:], x2[-3:]])  # theta = 1e-13, 1e-14, 1e-15
    for activation in ("erf", "gelu"):
        kernels = compute_kernels(rows, depth=3, activation=activation)
        for matrix in kernels:
            near, copy = np.diag(matrix[:3, 3:]), np.diag(matrix)[:3]
            np.testing.assert_allclose(near, copy, rtol=1e-13, atol=0)


def test_far_pairs_unchanged_and_duplicates_exact(rng):
    """A tile that holds a near-duplicate pair is recomputed with distances:
    its other entries agree with the plain recursion to 1e-12 relative (the
    requirement; measured below 1e-14), and exact copies stay equal to the
    diagonal to an ulp."""
    x = rng.standard_normal((40, 5))
    x[7] = x[3] + 1e-12 * rng.standard_normal(5)  # a near-duplicate
    x[20] = x[3]  # an exact copy
    kwargs = dict(depth=3, weight_std=1.3, bias_std=0.8)
    kernels = compute_kernels(x, **kwargs)
    np.testing.assert_array_max_ulp(kernels.ntk[[3, 20, 3], [3, 20, 20]],
                                    np.full(3, kernels.ntk[3, 3]), maxulp=1)
    skeleton, scales = split_scales(layers.serial(
        *[layers.Dense(8, W_std=1.3, b_std=0.8), layers.Relu()] * 3,
        layers.Dense(1, W_std=1.3, b_std=0.8)))
    with x64_scope():
        plain = net_kernels(x, x, scales, net=skeleton, symmetric=True)
    far = np.ones_like(kernels.ntk, dtype=bool)
    far[np.ix_([3, 7, 20], [3, 7, 20])] = False
    for got, want in zip(kernels, plain):
        want = np.asarray(want)
        assert np.max(np.abs(got - want)[far] / np.abs(want)[far]) <= 1e-12
    # The near pair itself: now accurate, where arccos lost ~1e-9.
    assert abs(kernels.ntk[3, 7] - kernels.ntk[3, 3]) <= 1e-13 * kernels.ntk[3, 3]

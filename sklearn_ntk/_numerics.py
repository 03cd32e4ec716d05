"""Numerically safe elementwise helpers for the dual activations.

Each helper exists because the naive expression has an infinite or undefined
derivative exactly where kernels are evaluated most often: on the diagonal
(``rho = 1``) and for duplicate rows. A NaN gradient there would poison the
marginal-likelihood optimisation of the GP kernels.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["safe_sqrt", "safe_rsqrt", "correlation", "arccos",
           "angle_from_distance", "arccos_from_half_versine",
           "sine_minus_theta_cosine"]


@jax.custom_jvp
def safe_sqrt(x):
    """``sqrt(max(x, 0))`` with a derivative of 0 (not ``inf``) at ``x <= 0``.

    The naive ``jnp.sqrt`` has derivative ``1 / (2 sqrt(x))``, infinite at 0.
    Terms such as ``sqrt(q11 q22 - q12**2)`` are exactly 0 on the diagonal and
    the chain rule multiplies that infinity by an exact 0, giving NaN. Along
    any path that stays on the diagonal the true derivative of such a term is
    0, which is what this returns.
    """
    return jnp.sqrt(jnp.maximum(x, 0.0))


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    root = safe_sqrt(x)
    positive = x > 0
    safe_root = jnp.where(positive, root, 1.0)
    return root, jnp.where(positive, x_dot / (2.0 * safe_root), 0.0)


def safe_rsqrt(x):
    """``1 / sqrt(x)`` for ``x > 0`` and 0 where ``x <= 0``, with finite gradients.

    A zero input row (with ``bias_std = 0``) has zero variance; its
    correlation with anything is defined here as 0, which every dual
    activation maps to the right limit (the kernel row is multiplied by the
    vanishing standard deviation anyway). The inner ``where`` keeps the
    unselected branch finite so that its gradient is not NaN.
    """
    positive = x > 0
    return jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, x, 1.0)), 0.0)


def correlation(q11, q12, q22):
    """``rho = q12 / sqrt(q11 q22)`` clipped to ``[-1, 1]``.

    Parameters
    ----------
    q11 : ndarray of shape (n1, 1)
    q12 : ndarray of shape (n1, n2)
    q22 : ndarray of shape (1, n2)

    Returns
    -------
    rho : ndarray of shape (n1, n2)
        Rounding can push ``|q12|`` a few ulps above ``sqrt(q11 q22)``; the
        clip keeps ``arccos``/``sqrt(1 - rho**2)`` real there.
    """
    # (r1 * r2) first: multiplication is commutative but not associative, and
    # this order keeps rho exactly symmetric when q11 and q22 are the same.
    rho = q12 * (safe_rsqrt(q11) * safe_rsqrt(q22))
    return jnp.clip(rho, -1.0, 1.0)


# Rational minimax approximation of asin(s)/s - 1 = z R(z), z = s^2, on
# s in [0, 0.5] (the classic fdlibm/Cephes coefficients, a property of the
# function, reproduced here as constants): < 1 ulp in float64.
_ASIN_P = (
    1.66666666666666657415e-01,
    -3.25565818622400915405e-01,
    2.01212532134862925881e-01,
    -4.00555345006794114027e-02,
    7.91534994289814532176e-04,
    3.47933107596021167570e-05,
)
_ASIN_Q = (
    -2.40339491173441421878e00,
    2.02094576023350569471e00,
    -6.88283971605453293030e-01,
    7.70381505559019352791e-02,
)


def _asin_correction(z):
    p0, p1, p2, p3, p4, p5 = _ASIN_P
    q1, q2, q3, q4 = _ASIN_Q
    numerator = z * (p0 + z * (p1 + z * (p2 + z * (p3 + z * (p4 + z * p5)))))
    denominator = 1.0 + z * (q1 + z * (q2 + z * (q3 + z * q4)))
    return numerator / denominator


@jax.custom_jvp
def arccos(x):
    """``arccos(x)`` for ``x`` in ``[-1, 1]``, vectorised and within 1 ulp.

    XLA lowers ``jnp.arccos`` in float64 to a scalar library call (about
    11 ns a value here); this branch-free rational approximation uses only
    multiply, add, divide, sqrt and select, which XLA vectorises (about
    4 ns a value). Arc-cosine is the dominant cost of the ReLU-family
    kernels, so this speeds up ``compute_kernels`` by ~2x.

    For ``|x| <= 1/2``: ``arccos x = pi/2 - asin x``; otherwise
    ``arccos |x| = 2 asin(sqrt((1 - |x|)/2))``, which is accurate near
    ``|x| = 1`` where ``pi/2 - asin x`` would cancel. The derivative is
    ``-1/sqrt(1 - x^2)``, taken as 0 at ``|x| = 1`` (see :func:`safe_sqrt`).
    """
    magnitude = jnp.abs(x)
    small = magnitude <= 0.5
    z = jnp.where(small, x * x, 0.5 * (1.0 - magnitude))
    s = jnp.where(small, magnitude, jnp.sqrt(z))
    asin_s = s + s * _asin_correction(z)
    near_zero = jnp.pi / 2 - jnp.where(x < 0, -asin_s, asin_s)
    near_one = jnp.where(x < 0, jnp.pi - 2.0 * asin_s, 2.0 * asin_s)
    return jnp.where(small, near_zero, near_one)


@arccos.defjvp
def _arccos_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    sine_squared = 1.0 - x * x
    inside = sine_squared > 0
    derivative = jnp.where(
        inside, -jax.lax.rsqrt(jnp.where(inside, sine_squared, 1.0)), 0.0
    )
    return arccos(x), derivative * x_dot


class DistanceAngle(NamedTuple):
    """The angle between two Gaussian pre-activations, from their distance.

    Attributes (all broadcast to the shape of ``q12``): ``scale`` is
    ``sqrt(q11 q22)``, ``gap`` is ``(sqrt(q11) - sqrt(q22))^2``, ``theta``,
    ``sine`` and ``cosine`` are the angle and its sine and cosine, and
    ``versine`` is ``1 - cos(theta)`` without cancellation.
    """

    scale: jnp.ndarray
    gap: jnp.ndarray
    theta: jnp.ndarray
    sine: jnp.ndarray
    cosine: jnp.ndarray
    versine: jnp.ndarray


def arccos_from_half_versine(half_versine):
    """``arccos(1 - 2 h)`` for ``h = sin^2(theta / 2)`` in ``[0, 1]``.

    The branches of :func:`arccos` with ``(1 - x) / 2 = h`` given rather
    than computed: near ``theta = 0``, ``theta = 2 asin(sqrt(h))`` keeps the
    relative accuracy of ``h`` (``arccos`` of a rounded ``x`` near 1 would
    not). Vectorised like :func:`arccos`.
    """
    x = 1.0 - 2.0 * half_versine
    small = jnp.abs(x) <= 0.5
    low = half_versine < 0.25
    z = jnp.where(small, x * x, jnp.where(low, half_versine, 1.0 - half_versine))
    s = jnp.where(small, jnp.abs(x), jnp.sqrt(z))
    asin_s = s + s * _asin_correction(z)
    middle = jnp.pi / 2 - jnp.where(x < 0, -asin_s, asin_s)
    ends = jnp.where(low, 2.0 * asin_s, jnp.pi - 2.0 * asin_s)
    return jnp.where(small, middle, ends)


def angle_from_distance(q11, q22, dist, dvar):
    """The angle of ``(u, v) ~ N(0, [[q11, q12], [q12, q22]])`` from
    ``dist = E[(u - v)^2] = q11 + q22 - 2 q12`` and
    ``dvar = q11 - q22 = E[(u - v)(u + v)]``, both carried without
    cancellation.

    ``theta = arccos(q12 / sqrt(q11 q22))`` loses ``eps / theta`` near
    ``theta = 0``: the rounding of ``q12`` (an absolute ``eps q``) is all
    of ``1 - rho``. Here
    ``dist - gap = 2 (sqrt(q11 q22) - q12) = 4 sqrt(q11 q22) sin^2(theta / 2)``
    with ``gap = (sqrt(q11) - sqrt(q22))^2 = dvar^2 / (sqrt(q11) +
    sqrt(q22))^2`` gives ``sin^2(theta / 2)``, hence ``theta`` (see
    :func:`arccos_from_half_versine`), its sine and cosine, to a few ulps
    relative. (The difference of the rounded variances would leave an
    absolute ``eps q`` in the standard deviations' difference, as large as
    the whole ``dist`` of rows at ``theta = 1e-15``.) A zero variance gives
    ``theta = pi / 2`` (``rho = 0``, as :func:`correlation`).
    """
    root1, root2 = safe_sqrt(q11), safe_sqrt(q22)
    scale = root1 * root2
    positive = scale > 0
    gap = (dvar / jnp.where(positive, root1 + root2, 1.0)) ** 2
    half_versine = (dist - gap) / (4 * jnp.where(positive, scale, 1.0))
    half_versine = jnp.where(positive, jnp.clip(half_versine, 0.0, 1.0), 0.5)
    theta = arccos_from_half_versine(half_versine)
    sine = 2.0 * jnp.sqrt(half_versine * (1.0 - half_versine))
    return DistanceAngle(scale, gap, theta, sine, 1.0 - 2.0 * half_versine,
                         2.0 * half_versine)


def sine_minus_theta_cosine(theta, sine, cosine):
    """``sin(theta) - theta cos(theta)`` (about ``theta^3 / 3``) without
    cancellation: its Taylor series below ``theta = 1/2``, where the direct
    difference would lose ``log2(3 / theta^2)`` bits, the direct form above
    (at most 3.6 bits lost at ``theta = 1/2``, with one more from the terms).

    The series is ``sum_k (-1)^(k+1) 2k theta^(2k+1) / (2k+1)!``; nine terms
    leave a truncation below 1e-17 relative at ``theta = 1/2``.
    """
    small = theta < 0.5
    t = jnp.where(small, theta, 0.0)
    t2 = t * t
    total = jnp.zeros_like(t)
    for k in range(9, 0, -1):  # Horner in theta^2, highest term first
        total = total * t2 + (-1.0) ** (k + 1) * 2 * k / math.factorial(2 * k + 1)
    series = total * t2 * t
    return jnp.where(small, series, sine - theta * cosine)

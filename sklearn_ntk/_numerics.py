"""Numerically safe elementwise helpers for the dual activations.

Each helper exists because the naive expression has an infinite or undefined
derivative exactly where kernels are evaluated most often: on the diagonal
(``rho = 1``) and for duplicate rows. A NaN gradient there would poison the
marginal-likelihood optimisation of the GP kernels.
"""

import jax
import jax.numpy as jnp

__all__ = ["safe_sqrt", "safe_rsqrt", "correlation", "arccos"]


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

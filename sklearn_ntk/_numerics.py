"""Numerically safe elementwise helpers for the dual activations.

Each helper exists because the naive expression has an infinite or undefined
derivative exactly where kernels are evaluated most often: on the diagonal
(``rho = 1``) and for duplicate rows. A NaN gradient there would poison the
marginal-likelihood optimisation of the GP kernels.
"""

import jax
import jax.numpy as jnp

__all__ = ["safe_sqrt", "safe_rsqrt", "correlation"]


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

"""Dual activations of any elementwise function by Gauss-Hermite quadrature.

For an activation ``phi`` with no closed-form kernel (``tanh``, ``softplus``,
``silu``, ``elu``, ... or a user's ``jax.numpy`` function) the 2-D Gaussian
expectations are computed with the tensor-product Gauss-Hermite rule of
``n_points`` nodes per dimension. Writing ``u = sqrt(q11) z1`` and
``v = sqrt(q22) (rho z1 + sqrt(1 - rho^2) z2)`` with independent standard
normals ``z1, z2``,

    E[phi(u) phi(v)] ~= sum_a sum_b w_a w_b phi(sqrt(q11) z_a)
                        phi(sqrt(q22) (rho z_a + sqrt(1 - rho^2) z_b)),

where ``z_a = sqrt(2) x_a`` and ``w_a = W_a / sqrt(pi)`` come from the
physicists' nodes and weights ``(x_a, W_a)``. The NTK factor
``E[phi'(u) phi'(v)]`` uses the same nodes with ``phi'`` from a forward-mode
derivative of ``phi`` (``jax.jvp``, exact for elementwise functions). The
first factor depends only on the row, so each kernel entry costs
``n_points**2`` evaluations of ``phi`` and ``phi'`` at ``v``.

Accuracy
--------
The rule is exact when ``phi(u) phi(v)`` is a polynomial of degree at most
``2 n_points - 1`` in each of ``z1, z2``; for smooth (analytic) activations
the error decays geometrically in ``n_points``, for activations with a kink
(ReLU, ELU, SELU) only algebraically. Measured against the closed forms
(tests/test_activations.py checks these), worst case over input
variances ``q11, q22`` in ``[0.1, 3]`` and ``|rho| <= 0.999``, relative to
the largest entry, NNGP factor / NTK factor:

=================  ===============  ===============  ===============
activation         n_points=25      n_points=32      n_points=64
=================  ===============  ===============  ===============
sin (a=b=1)        1e-15 / 1e-15    1e-15 / 2e-15    1e-15 / 2e-15
gelu               1.4e-5 / 8e-5    8e-7 / 6e-6      2e-12 / 3e-11
erf                6e-4 / 1.1e-3    9e-5 / 2.2e-4    2e-8 / 1.1e-7
tanh               1e-3 / 3e-3      3e-4 / 1e-3      4e-6 / 2e-5
gabor              2e-2 / 2e-2      7e-3 / 7e-3      1.4e-5 / 2e-5
elu (a kink)       1e-3 / 3e-2      5e-4 / 1.1e-2    2e-4 / 5e-3
relu (a kink)      2e-2 / 9e-2      1e-2 / 8e-2      5e-3 / 5e-2
=================  ===============  ===============  ===============

Larger variances make ``phi(sqrt(q) z)`` vary faster on the scale of the
node spacing (about ``pi / sqrt(n_points)``) and need more nodes: for erf
at ``q = 10`` the default rule is only accurate to about 1e-2. Raise
``n_points`` (the cost grows as its square) or prefer a closed-form
activation where one exists.

On the diagonal (``rho = 1``) the 1-D rule ``sum_a w_a phi(sqrt(q) z_a)^2``
is used, which is exactly the ``rho = 1`` value of the 2-D rule (the inner
weights sum to one), so the diagonal and the off-diagonal entries are
consistent to rounding.

Memory
------
The double sum runs as one ``lax.fori_loop`` over the ``n_points**2`` node
pairs, accumulating in place: besides the two accumulators, the loop keeps
two coefficient arrays of the kernel's shape (``sqrt(q22) rho`` and
``sqrt(q22) sqrt(1 - rho^2)``) and one of shape ``(n1, n_points)``, never an
array of shape ``(n1, n2, n_points**2)``. The loop body is rematerialised
under reverse-mode differentiation (``jax.checkpoint``), so gradients do not
store ``n_points**2`` intermediates per entry either.

References
----------
Golub & Welsch, "Calculation of Gauss quadrature rules", Math. Comp. 1969.
Han et al., "Fast Neural Kernel Embeddings for General Activations",
NeurIPS 2022 (neural-tangents' ``stax.ElementwiseNumerical``).
"""

import functools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from ._activations import register_family, register_named
from ._numerics import correlation, safe_sqrt

__all__ = ["DEFAULT_N_POINTS"]

#: Nodes per dimension; the cost per kernel entry is its square.
DEFAULT_N_POINTS = 32
_MAX_N_POINTS = 256


@functools.lru_cache(maxsize=None)
def _nodes(n_points):
    """Standard-normal nodes ``z`` and weights ``w`` (summing to 1)."""
    x, weights = np.polynomial.hermite.hermgauss(n_points)
    return math.sqrt(2.0) * x, weights / math.sqrt(math.pi)


def _value_and_derivative(fn, fn_kwargs, x):
    """``(phi(x), phi'(x))`` elementwise, in one forward-mode pass."""
    kwargs = dict(fn_kwargs)
    return jax.jvp(lambda t: fn(t, **kwargs), (x,), (jnp.ones_like(x),))


def _quadrature_dual(q11, q12, q22, *, fn, n_points, fn_kwargs):
    z_np, w_np = _nodes(n_points)
    z, w = jnp.asarray(z_np, q12.dtype), jnp.asarray(w_np, q12.dtype)
    shape = jnp.broadcast_shapes(q11.shape, q12.shape, q22.shape)
    rho = correlation(q11, q12, q22)
    sine = safe_sqrt(1.0 - rho * rho)
    std2 = safe_sqrt(q22)
    along = jnp.broadcast_to(std2 * rho, shape)
    across = jnp.broadcast_to(std2 * sine, shape)
    # The first variable depends on the row only: (..., n_points), small.
    phi_u, dphi_u = _value_and_derivative(fn, fn_kwargs, safe_sqrt(q11)[..., None] * z)
    phi_u, dphi_u = w * phi_u, w * dphi_u

    @jax.checkpoint
    def body(pair, sums):
        a, b = pair // n_points, pair % n_points
        phi_v, dphi_v = _value_and_derivative(fn, fn_kwargs, along * z[a] + across * z[b])
        k, k_dot = sums
        return (k + (phi_u[..., a] * w[b]) * phi_v,
                k_dot + (dphi_u[..., a] * w[b]) * dphi_v)

    zeros = jnp.zeros(shape, q12.dtype)
    return jax.lax.fori_loop(0, n_points * n_points, body, (zeros, zeros))


def _quadrature_diag(q, *, fn, n_points, fn_kwargs):
    z_np, w_np = _nodes(n_points)
    z, w = jnp.asarray(z_np, q.dtype), jnp.asarray(w_np, q.dtype)
    phi, dphi = _value_and_derivative(fn, fn_kwargs, safe_sqrt(q)[..., None] * z)
    return jnp.sum(w * phi * phi, axis=-1), jnp.sum(w * dphi * dphi, axis=-1)


def _quadrature_forward(x, *, fn, n_points, fn_kwargs):
    return fn(x, **dict(fn_kwargs))


register_family("quadrature", _quadrature_dual, _quadrature_diag, _quadrature_forward)


def _check_n_points(n_points):
    if (isinstance(n_points, (bool, np.bool_))
            or not isinstance(n_points, numbers.Integral)
            or not 1 <= n_points <= _MAX_N_POINTS):
        raise ValueError(
            f"n_points={n_points!r} must be an integer in [1, {_MAX_N_POINTS}] "
            f"(Gauss-Hermite nodes per dimension; default {DEFAULT_N_POINTS}; "
            "the cost per kernel entry grows as n_points**2)."
        )
    return int(n_points)


def _user_function_params(fn=None, n_points=DEFAULT_N_POINTS):
    if fn is None or not callable(fn):
        raise ValueError(
            "the 'quadrature' activation needs the function itself: pass "
            "activation=my_function (an elementwise jax.numpy function), "
            "optionally with activation_params={'n_points': 32}."
        )
    return {"fn": fn, "n_points": _check_n_points(n_points), "fn_kwargs": ()}


# A user's callable is routed by resolve_activation to this entry, with the
# callable under "fn". Define the function once (not a fresh lambda per call):
# it is part of the jit cache key.
register_named("quadrature", "quadrature", {"n_points": DEFAULT_N_POINTS},
               _user_function_params)


def _register_builtin(name, fn, **fn_defaults):
    """A named quadrature activation whose own parameters go to ``fn``."""

    def to_family(n_points, **fn_kwargs):
        return {"fn": fn, "n_points": _check_n_points(n_points),
                "fn_kwargs": tuple(sorted((k, float(v)) for k, v in fn_kwargs.items()))}

    register_named(name, "quadrature",
                   {"n_points": DEFAULT_N_POINTS, **fn_defaults}, to_family)


# Module-level functions (not lambdas) so that the jit cache key is stable.
def _tanh(x):
    return jnp.tanh(x)


def _softplus(x):
    return jax.nn.softplus(x)


def _silu(x):
    return x * jax.nn.sigmoid(x)


def _elu(x, alpha):
    return jax.nn.elu(x, alpha)


def _selu(x):
    return jax.nn.selu(x)


def _sigmoid(x):
    return jax.nn.sigmoid(x)


def _gelu_tanh(x):
    return jax.nn.gelu(x, approximate=True)


_register_builtin("tanh", _tanh)
_register_builtin("softplus", _softplus)
_register_builtin("silu", _silu)
_register_builtin("swish", _silu)
_register_builtin("elu", _elu, alpha=1.0)
_register_builtin("selu", _selu)
_register_builtin("sigmoid", _sigmoid)
_register_builtin("gelu_tanh", _gelu_tanh)

"""Dual activations: the Gaussian expectations that a nonlinearity induces.

For an elementwise activation ``phi`` and a centred Gaussian pair
``(u, v) ~ N(0, [[q11, q12], [q12, q22]])`` every family here provides

* ``dual(q11, q12, q22, **params) -> (k, k_dot)`` with
  ``k = E[phi(u) phi(v)]`` and ``k_dot = E[phi'(u) phi'(v)]``, broadcasting
  ``q11`` of shape ``(n1, 1)`` against ``q22`` of shape ``(1, n2)``;
* ``diag(q, **params) -> (k, k_dot)``, the same at ``u = v`` (``rho = 1``),
  in a form that is exact there (no cancelled square roots);
* ``forward(x, **params)``, ``phi`` itself, for finite networks (``None``
  where neural-tangents defines only a kernel).

Named activations (``"relu"``, ``"leaky_relu"``, ...) map their user-facing
parameters (neural-tangents' argument names) onto a family. The result of
:func:`resolve_activation` is a small hashable :class:`Activation`, suitable
as a static argument of ``jax.jit``.

References
----------
Cho & Saul, "Kernel Methods for Deep Learning", NeurIPS 2009 (arc-cosine
kernels). Williams, "Computing with Infinite Networks", NeurIPS 1997 (erf).
Novak et al., "Neural Tangents", ICLR 2020, ``stax/elementwise.py``.
"""

import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf

from ._numerics import (
    angle_from_distance,
    arccos,
    correlation,
    safe_sqrt,
    sine_minus_theta_cosine,
)

__all__ = [
    "Activation",
    "ActivationFamily",
    "NAMED_ACTIVATIONS",
    "register_family",
    "register_named",
    "resolve_activation",
    "dual",
    "dual_diag",
    "dual_distance",
    "has_distance_form",
    "forward",
]


class ActivationFamily(NamedTuple):
    """The three functions that define an activation family."""

    dual: Callable
    diag: Callable
    forward: Optional[Callable]
    distance: Optional[Callable] = None


class _Named(NamedTuple):
    family: str
    defaults: dict
    to_family: Callable  # user params (as keywords) -> family params dict


class Activation(NamedTuple):
    """A resolved activation: hashable, usable as a static jit argument.

    Attributes
    ----------
    name : str
        The user-facing name (or the callable's ``__name__``).
    family : str
        Key into the family registry.
    params : tuple of (str, object) pairs
        The family's parameters, sorted by name.
    """

    name: str
    family: str
    params: tuple

    @property
    def has_forward(self):
        return _FAMILIES[self.family].forward is not None


_FAMILIES = {}
NAMED_ACTIVATIONS = {}


def register_family(name, dual, diag, forward=None, distance=None):
    """Register an activation family (used by this module and extensions).

    ``distance`` (optional) is the family's form for near-duplicates:
    ``distance(q11, q12, q22, dist, dvar, **params) -> (k, k_dot, dist_out,
    dvar_out)``, where ``dist = q11 + q22 - 2 q12`` is the squared distance
    of the pre-activations and ``dvar = q11 - q22``, both known more
    accurately than ``q12`` and the variances alone, and ``dist_out =
    E[(phi(u) - phi(v))^2]``, ``dvar_out = E[phi(u)^2] - E[phi(v)^2]`` are
    computed without cancellation (see :func:`dual_distance`).
    """
    _FAMILIES[name] = ActivationFamily(dual, diag, forward, distance)


def register_named(name, family, defaults=None, to_family=None):
    """Register a user-facing activation name on top of a family."""
    NAMED_ACTIVATIONS[name] = _Named(
        family, dict(defaults or {}), to_family or (lambda **params: params)
    )


def dual(activation, q11, q12, q22):
    """``(E[phi(u)phi(v)], E[phi'(u)phi'(v)])`` for the resolved activation."""
    return _FAMILIES[activation.family].dual(q11, q12, q22, **dict(activation.params))


def has_distance_form(activation):
    """Whether the activation's family has a near-duplicate form (see
    :func:`dual_distance`): the arc-cosine families, whose kernels take the
    angle ``theta = arccos(rho)``."""
    return _FAMILIES[activation.family].distance is not None


def dual_distance(activation, q11, q12, q22, dist, dvar):
    """``(k, k_dot, dist_out, dvar_out)``: the dual activation with the angle
    taken from the squared distance ``dist = E[(u - v)^2]`` and the variance
    difference ``dvar = q11 - q22``.

    ``arccos(rho)`` turns the rounding of ``q12`` (absolute ``eps q``) into
    an error ``eps / theta`` in ``theta`` near ``rho = 1``; from ``dist``,
    accurate to a relative ``eps``, ``sin(theta / 2)`` and hence ``theta``
    keep full relative accuracy. ``dist_out = E[(phi(u) - phi(v))^2]`` and
    ``dvar_out = E[phi(u)^2] - E[phi(v)^2]`` are the next layer's, from
    cancellation-free closed forms.
    """
    return _FAMILIES[activation.family].distance(
        q11, q12, q22, dist, dvar, **dict(activation.params))


def dual_diag(activation, q):
    """``(E[phi(u)^2], E[phi'(u)^2])`` with ``u ~ N(0, q)``, exact at rho = 1."""
    return _FAMILIES[activation.family].diag(q, **dict(activation.params))


def forward(activation, x):
    """``phi(x)`` for the resolved activation."""
    fn = _FAMILIES[activation.family].forward
    if fn is None:
        raise ValueError(
            f"activation {activation.name!r} has a closed-form kernel but no "
            "elementwise forward pass (as in neural-tangents), so it cannot be "
            "used in a finite network; choose another activation."
        )
    return fn(x, **dict(activation.params))


def resolve_activation(activation, activation_params=None):
    """Validate an activation name (or callable) and its parameters.

    Parameters
    ----------
    activation : str or callable
        One of :data:`NAMED_ACTIVATIONS`, or an elementwise JAX-traceable
        function (evaluated by Gauss-Hermite quadrature).
    activation_params : dict or None
        The activation's own parameters (e.g. ``{"alpha": 0.1}`` for
        ``"leaky_relu"``, ``{"degree": 3}`` for ``"monomial"``). Missing ones
        take their defaults.

    Returns
    -------
    Activation
    """
    params = dict(activation_params or {})
    if callable(activation) and not isinstance(activation, str):
        activation = _jax_traceable(activation)
        named = NAMED_ACTIVATIONS.get("quadrature")
        if named is None:  # pragma: no cover - registered on import
            raise ValueError("quadrature activations are not available")
        params = {"fn": activation, **params}
        name = getattr(activation, "__name__", repr(activation))
    elif isinstance(activation, str) and activation in NAMED_ACTIVATIONS:
        named = NAMED_ACTIVATIONS[activation]
        name = activation
    else:
        valid = ", ".join(sorted(n for n in NAMED_ACTIVATIONS if n != "quadrature"))
        raise ValueError(
            f"activation={activation!r} is not supported. Use one of: {valid}; "
            "or pass an elementwise function of a jax.numpy array "
            "(evaluated by Gauss-Hermite quadrature)."
        )
    unknown = sorted(set(params) - set(named.defaults) - {"fn"})
    if unknown:
        valid = ", ".join(sorted(named.defaults)) or "none"
        raise ValueError(
            f"activation_params={activation_params!r} has parameters {unknown} "
            f"that activation {name!r} does not take; valid parameters: {valid}."
        )
    merged = {**named.defaults, **params}
    family_params = named.to_family(**merged)
    family_params = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in family_params.items()
    }
    return Activation(name, named.family, tuple(sorted(family_params.items())))


def _jax_traceable(fn):
    """``fn``, or its ``jax.numpy`` twin for a NumPy ufunc; checked by tracing.

    The kernels evaluate the activation on traced JAX arrays, where a NumPy
    function fails deep inside JAX (``TracerArrayConversionError``). A ufunc
    such as ``np.tanh`` is replaced by ``jax.numpy.tanh``; any other function
    is traced once on an abstract array so that a NumPy call inside it, or an
    output of another shape, raises here with the fix.
    """
    if isinstance(fn, np.ufunc):
        twin = getattr(jnp, fn.__name__, None)
        if twin is None:
            raise ValueError(
                f"activation=numpy.{fn.__name__} has no jax.numpy twin; pass an "
                "elementwise function written with jax.numpy."
            )
        return twin
    probe = jax.ShapeDtypeStruct((3,), jnp.float32)
    name = getattr(fn, "__name__", repr(fn))
    try:
        out = jax.eval_shape(fn, probe)
    except Exception as error:  # noqa: BLE001 - any failure is reported with the fix
        # TracerArrayConversionError (a NumPy call), ConcretizationTypeError
        # or an ambiguous truth value (a Python branch on the values), ...
        raise ValueError(
            f"activation={name} cannot be traced by JAX ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}): "
            "it must be written with jax.numpy (e.g. jax.numpy.tanh, not "
            "numpy.tanh) and without Python branches on the values (use "
            "jax.numpy.where)."
        ) from error
    if getattr(out, "shape", None) != probe.shape:
        raise ValueError(
            f"activation={name} must be elementwise: it mapped an array of shape "
            f"{probe.shape} to {getattr(out, 'shape', type(out).__name__)}."
        )
    return fn


# ---------------------------------------------------------------------------
# ReLU family: phi(x) = a min(x, 0) + b max(x, 0)  (neural-tangents' ABRelu)
# ---------------------------------------------------------------------------


def _ab_relu_dual(q11, q12, q22, *, a, b):
    # Arc-cosine kernel of degree 1 (Cho & Saul 2009) for the two-slope ReLU:
    # k = sqrt(q11 q22) [(a-b)^2/(2 pi) sin(theta) + k_dot cos(theta)],
    # k_dot = (a^2 + b^2)/2 - (a-b)^2 theta / (2 pi), theta = arccos(rho).
    rho = correlation(q11, q12, q22)
    sine = safe_sqrt(1.0 - rho * rho)
    theta = arccos(rho)
    k_dot = (a * a + b * b) / 2 - (a - b) ** 2 / (2 * math.pi) * theta
    # Square roots of the (n1, 1) and (1, n2) vectors, not of the matrix.
    scale = safe_sqrt(q11) * safe_sqrt(q22)
    k = scale * ((a - b) ** 2 / (2 * math.pi) * sine + k_dot * rho)
    return k, k_dot


def _ab_relu_distance(q11, q12, q22, dist, dvar, *, a, b):
    # The same kernel with theta from the distance (near-duplicates), and
    # E[(phi(u) - phi(v))^2] = h q11 + h q22 - 2 k with h = (a^2 + b^2)/2,
    # rewritten without cancellation:
    # h (s1 - s2)^2 + 2 s1 s2 [h (1 - cos t) - c (sin t - t cos t)].
    angle = angle_from_distance(q11, q22, dist, dvar)
    c = (a - b) ** 2 / (2 * math.pi)
    half = (a * a + b * b) / 2
    k_dot = half - c * angle.theta
    k = angle.scale * (c * angle.sine + k_dot * angle.cosine)
    deficit = sine_minus_theta_cosine(angle.theta, angle.sine, angle.cosine)
    dist_out = half * angle.gap + 2 * angle.scale * (
        half * angle.versine - c * deficit)
    return k, k_dot, dist_out, half * dvar


def _ab_relu_diag(q, *, a, b):
    half = (a * a + b * b) / 2
    return half * q, half * jnp.ones_like(q)


def _ab_relu_forward(x, *, a, b):
    return a * jnp.minimum(x, 0) + b * jnp.maximum(x, 0)


register_family("ab_relu", _ab_relu_dual, _ab_relu_diag, _ab_relu_forward,
                _ab_relu_distance)
register_named("relu", "ab_relu", {}, lambda: {"a": 0.0, "b": 1.0})
register_named(
    "leaky_relu", "ab_relu", {"alpha": 0.01}, lambda alpha: {"a": alpha, "b": 1.0}
)
register_named("abs", "ab_relu", {}, lambda: {"a": -1.0, "b": 1.0})
register_named("ab_relu", "ab_relu", {"a": 0.0, "b": 1.0})


# ---------------------------------------------------------------------------
# Erf family: phi(x) = a erf(b x) + c  (Williams 1997)
# ---------------------------------------------------------------------------


def _erf_dual(q11, q12, q22, *, a, b, c):
    b2 = b * b
    denom = (1 + 2 * b2 * q11) * (1 + 2 * b2 * q22)
    # arcsin(2 b^2 q12 / sqrt(denom)) written as an arctan2 so that it stays
    # finite and differentiable when the argument reaches 1.
    root = safe_sqrt(denom - 4 * (b2 * q12) ** 2)
    k = a * a * (2 / math.pi) * jnp.arctan2(2 * b2 * q12, root) + c * c
    k_dot = a * a * b2 * (4 / math.pi) * jax_safe_reciprocal(root)
    return k, k_dot


def _erf_diag(q, *, a, b, c):
    qb = b * b * q
    k = a * a * (2 / math.pi) * jnp.arctan2(qb, jnp.sqrt(qb + 0.25)) + c * c
    k_dot = a * a * b * b * (4 / math.pi) / jnp.sqrt(1 + 4 * qb)
    return k, k_dot


def _erf_forward(x, *, a, b, c):
    return a * erf(b * x) + c


def jax_safe_reciprocal(x):
    """``1 / x`` for ``x > 0``; 0 elsewhere (with a finite gradient)."""
    positive = x > 0
    return jnp.where(positive, 1.0 / jnp.where(positive, x, 1.0), 0.0)


register_family("erf", _erf_dual, _erf_diag, _erf_forward)
register_named("erf", "erf", {"a": 1.0, "b": 1.0, "c": 0.0})
# neural-tangents' Sigmoid_like: 0.5 erf(x / 2.4020563531719796) + 0.5.
register_named(
    "sigmoid_like", "erf", {}, lambda: {"a": 0.5, "b": 1 / 2.4020563531719796, "c": 0.5}
)


# ---------------------------------------------------------------------------
# Identity: phi(x) = x
# ---------------------------------------------------------------------------


def _identity_dual(q11, q12, q22):
    return q12, jnp.ones_like(q12)


def _identity_diag(q):
    return q, jnp.ones_like(q)


def _identity_forward(x):
    return x


register_family("identity", _identity_dual, _identity_diag, _identity_forward)
register_named("identity", "identity")


# The remaining families register themselves onto this registry on import.
from . import _activations_analytic, _activations_quadrature  # noqa: E402,F401

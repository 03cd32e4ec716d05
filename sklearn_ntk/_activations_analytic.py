"""Closed-form dual activations beyond the ReLU and erf families.

Every activation that neural-tangents 0.6.5 (``stax/elementwise.py``) has an
analytic fully-connected kernel for, with the same mathematics and the same
parameter names, registered onto the registry of :mod:`._activations`:

========================  ==================================  ===============
name (parameters)          phi(x)                              family
========================  ==================================  ===============
``gelu``                   ``x Phi(x)``                         gelu
``sin`` (a, b, c)          ``a sin(b x + c)``                   sin
``cos`` (a, b, c)          ``a cos(b x + c)``                   sin
``rbf`` (gamma)            ``sqrt(2) sin(sqrt(2 gamma) x + pi/4)``  rbf
``exp`` (a, b)             ``a exp(b x)``                       exp
``gaussian`` (a, b)        ``a exp(b x^2)``                     gaussian
``exp_normalized``         kernel only (no forward pass)        exp_normalized
(gamma, shift, do_clip)
``sign``                   ``sign(x)``                          sign
``monomial`` (degree)      ``x^degree``                         polynomial
``polynomial`` (coef)      ``sum_i coef[i] x^i``                polynomial
``rectified_monomial``     ``(x >= 0) x^degree``                rectified_monomial
(degree)
``hermite`` (degree)       ``He_degree(x) / sqrt(degree!)``     hermite
``gabor``                  ``exp(-x^2) sin(x)``                 gabor
========================  ==================================  ===============

Where neural-tangents' formula contains ``sqrt(q11 q22 - q12^2)`` (a
difference that cancels at ``rho = 1``) each family's ``diag`` uses the
``rho = 1`` limit written without that difference, so the diagonal of a
kernel is exact to rounding rather than to ``sqrt(eps) ~ 1e-8``. Polynomial
kernels (``monomial``, ``polynomial``) are written as polynomials in
``q12`` (a Hermite expansion), with no square root at all, so they are exact
at every ``rho`` and their gradients are finite everywhere.

Conventions kept from neural-tangents (not mathematical identities):

* ``sign``: ``E[phi'(u) phi'(v)]`` is taken as 0 (the derivative of ``sign``
  is 0 almost everywhere), so the NTK after a ``sign`` layer is 0.
* ``rectified_monomial`` with ``degree=0``: the NTK factor is 0 likewise.
* ``hermite``: the kernel ``q12^degree`` is exact only for inputs of unit
  variance (``q11 = q22 = 1``), as neural-tangents documents.

References
----------
Hendrycks & Gimpel, "Gaussian Error Linear Units", 2016; Tsuchida et al.,
"Avoiding Kernel Fixed Points: Computing with ELU and GELU Infinite Networks",
AAAI 2021 (gelu). Cho & Saul, "Kernel Methods for Deep Learning", NeurIPS 2009
(rectified monomials, arc-cosine kernels). Shankar et al., "Neural Kernels
Without Tangents", ICML 2020 (exp_normalized). Han et al., "Fast Neural Kernel
Embeddings for General Activations", NeurIPS 2022 (polynomial, hermite, gabor).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from ._activations import register_family, register_named
from ._numerics import (
    angle_from_distance,
    correlation,
    safe_rsqrt,
    safe_sqrt,
    sine_minus_theta_cosine,
)

__all__ = []  # everything is reached through the registry

_TWO_PI = 2 * math.pi


def _check_degree(name, degree):
    if isinstance(degree, (bool, np.bool_)) or not isinstance(
        degree, (int, np.integer)
    ) or degree < 0:
        raise ValueError(
            f"degree={degree!r} is not valid for activation {name!r}: it must "
            "be a non-negative integer, e.g. activation_params={'degree': 2}."
        )
    return int(degree)


# ---------------------------------------------------------------------------
# GELU: phi(x) = x Phi(x) (Tsuchida et al. 2021, neural-tangents' Gelu)
# ---------------------------------------------------------------------------


def _gelu_terms(q12, prod, prod_plus_1, delta_squared):
    # delta^2 = (1 + q11)(1 + q22) - q12^2 >= 1 + q11 + q22: no square root
    # of a vanishing quantity anywhere, so one formula serves every rho.
    delta = jnp.sqrt(delta_squared)
    angle = jnp.arctan2(q12, delta)
    k = (q12 * q12 + prod * delta_squared) / (prod_plus_1 * delta) + q12 * angle
    k = k / _TWO_PI + 0.25 * q12
    first = 1 / delta_squared + (1 - prod) / prod_plus_1 + 1
    k_dot = 0.25 + angle / _TWO_PI + first * q12 / (delta * _TWO_PI)
    return k, k_dot


def _gelu_dual(q11, q12, q22):
    prod_plus_1 = (q11 + 1) * (q22 + 1)
    return _gelu_terms(q12, q11 * q22, prod_plus_1, prod_plus_1 - q12 * q12)


def _gelu_diag(q):
    # At rho = 1: delta^2 = (1 + q)^2 - q^2 = 1 + 2 q, without the cancellation.
    return _gelu_terms(q, q * q, (q + 1) * (q + 1), 1 + 2 * q)


def _gelu_forward(x):
    return jax.nn.gelu(x, approximate=False)


register_family("gelu", _gelu_dual, _gelu_diag, _gelu_forward)
register_named("gelu", "gelu")


# ---------------------------------------------------------------------------
# Sine: phi(x) = a sin(b x + c); cosine is the phase c + pi/2
# ---------------------------------------------------------------------------


def _sin_terms(centred, total, *, a, b, c):
    # E[sin(bu+c) sin(bv+c)] = (e^{-b^2 (q11+q22-2q12)/2} - cos(2c) e^{-b^2 (q11+q22+2q12)/2}) / 2
    s1 = jnp.exp(b * b * centred)
    s2 = jnp.exp(-b * b * total) * math.cos(2 * c)
    half_a2 = a * a / 2
    return half_a2 * (s1 - s2), half_a2 * b * b * (s1 + s2)


def _sin_dual(q11, q12, q22, *, a, b, c):
    half_sum = (q11 + q22) / 2
    return _sin_terms(q12 - half_sum, q12 + half_sum, a=a, b=b, c=c)


def _sin_diag(q, *, a, b, c):
    return _sin_terms(jnp.zeros_like(q), 2 * q, a=a, b=b, c=c)


def _sin_forward(x, *, a, b, c):
    return a * jnp.sin(b * x + c)


register_family("sin", _sin_dual, _sin_diag, _sin_forward)
register_named("sin", "sin", {"a": 1.0, "b": 1.0, "c": 0.0})
# neural-tangents' Cos(a, b, c) is Sin(a, b, c + pi/2); the same here.
register_named(
    "cos", "sin", {"a": 1.0, "b": 1.0, "c": 0.0},
    lambda a, b, c: {"a": a, "b": b, "c": c + math.pi / 2},
)


# ---------------------------------------------------------------------------
# RBF: phi(x) = sqrt(2) sin(sqrt(2 gamma) x + pi/4), K = exp(-gamma |u - v|^2)
# ---------------------------------------------------------------------------


def _rbf_dual(q11, q12, q22, *, gamma):
    k = jnp.exp(gamma * (2 * q12 - q11 - q22))
    return k, 2 * gamma * k


def _rbf_diag(q, *, gamma):
    ones = jnp.ones_like(q)
    return ones, 2 * gamma * ones


def _rbf_forward(x, *, gamma):
    return math.sqrt(2) * jnp.sin(math.sqrt(2 * gamma) * x + math.pi / 4)


register_family("rbf", _rbf_dual, _rbf_diag, _rbf_forward)
register_named("rbf", "rbf", {"gamma": 1.0})


# ---------------------------------------------------------------------------
# Exponential: phi(x) = a exp(b x)
# ---------------------------------------------------------------------------


def _exp_dual(q11, q12, q22, *, a, b):
    k = a * a * jnp.exp(b * b * ((q11 + q22) / 2 + q12))
    return k, b * b * k


def _exp_diag(q, *, a, b):
    k = a * a * jnp.exp(2 * b * b * q)
    return k, b * b * k


def _exp_forward(x, *, a, b):
    return a * jnp.exp(b * x)


register_family("exp", _exp_dual, _exp_diag, _exp_forward)
register_named("exp", "exp", {"a": 1.0, "b": 1.0})


# ---------------------------------------------------------------------------
# Gaussian: phi(x) = a exp(b x^2)
# ---------------------------------------------------------------------------


def _gaussian_terms(q12, det_squared, *, a, b):
    # E = 1 / sqrt(det(I - 2 b Sigma)); infinite (not NaN) when the
    # expectation diverges (b > 0 and 4 b q >= 1).
    det = safe_sqrt(det_squared)
    k = a * a / det
    return k, a * a * 4 * b * b * q12 / (det * det * det)


def _gaussian_dual(q11, q12, q22, *, a, b):
    det_squared = (1 - 2 * b * q11) * (1 - 2 * b * q22) - 4 * b * b * q12 * q12
    return _gaussian_terms(q12, det_squared, a=a, b=b)


def _gaussian_diag(q, *, a, b):
    return _gaussian_terms(q, 1 - 4 * b * q, a=a, b=b)


def _gaussian_forward(x, *, a, b):
    return a * jnp.exp(b * x * x)


register_family("gaussian", _gaussian_dual, _gaussian_diag, _gaussian_forward)
register_named("gaussian", "gaussian", {"a": 1.0, "b": -1.0})


# ---------------------------------------------------------------------------
# Normalised exponential kernel (Shankar et al. 2020): kernel only
# ---------------------------------------------------------------------------


def _exp_normalized_dual(q11, q12, q22, *, gamma, shift, do_clip):
    scale = safe_sqrt(q11 * q22)
    if do_clip:
        rho = correlation(q11, q12, q22)
    else:
        rho = q12 * (safe_rsqrt(q11) * safe_rsqrt(q22))
    factor = jnp.exp(gamma * (rho + shift))
    return scale * factor, gamma * factor


def _exp_normalized_diag(q, *, gamma, shift, do_clip):
    factor = math.exp(gamma * (1 + shift))
    return factor * q, gamma * factor * jnp.ones_like(q)


register_family("exp_normalized", _exp_normalized_dual, _exp_normalized_diag, None)
register_named(
    "exp_normalized", "exp_normalized",
    {"gamma": 1.0, "shift": -1.0, "do_clip": False},
    lambda gamma, shift, do_clip: {
        "gamma": gamma, "shift": shift, "do_clip": bool(do_clip)
    },
)


# ---------------------------------------------------------------------------
# Sign: K = 1 - 2 theta / pi (the arcsine kernel), NTK factor 0
# ---------------------------------------------------------------------------


def _angle(q11, q12, q22):
    """``(rho, sin(theta), theta)`` with finite gradients at ``rho = +-1``."""
    rho = correlation(q11, q12, q22)
    sine = safe_sqrt(1.0 - rho * rho)
    return rho, sine, jnp.arctan2(sine, rho)


def _sign_dual(q11, q12, q22):
    _, _, theta = _angle(q11, q12, q22)
    k = 1 - theta * (2 / math.pi)
    return k, jnp.zeros_like(k)


def _sign_diag(q):
    # A zero-variance input is the constant 0 and sign(0) = 0.
    k = jnp.where(q > 0, 1.0, 0.0).astype(q.dtype)
    return k, jnp.zeros_like(k)


def _sign_distance(q11, q12, q22, dist, dvar):
    # E[(sign u - sign v)^2] = 4 P(sign u != sign v) = 4 theta / pi when
    # both variances are positive; otherwise diag1 + diag2 - 2 k.
    angle = angle_from_distance(q11, q22, dist, dvar)
    k = 1 - angle.theta * (2 / math.pi)
    diag1, _ = _sign_diag(q11)
    diag2, _ = _sign_diag(q22)
    dist_out = jnp.where(angle.scale > 0, angle.theta * (4 / math.pi),
                         diag1 + diag2 - 2 * k)
    return k, jnp.zeros_like(k), dist_out, diag1 - diag2


register_family("sign", _sign_dual, _sign_diag, jnp.sign, _sign_distance)
register_named("sign", "sign")


# ---------------------------------------------------------------------------
# Polynomials (and monomials) by their Hermite expansion
# ---------------------------------------------------------------------------


def _hermite_coefficients(coef):
    """``table[k][m]`` with ``phi(u) = sum_k B_k(q) He_k^q(u)``.

    For ``u ~ N(0, q)``, ``u^n = sum_m n! / (k! 2^m m!) q^m He_k^q(u)`` with
    ``k = n - 2m`` and ``He_k^q(u) = q^{k/2} He_k(u / sqrt(q))``; then
    ``B_k(q) = sum_m coef[k+2m] (k+2m)! / (k! 2^m m!) q^m`` and, by
    orthogonality ``E[He_k^{q11}(u) He_j^{q22}(v)] = delta_kj k! q12^k``,
    ``K = sum_k k! B_k(q11) B_k(q22) q12^k``: a polynomial in ``q11``,
    ``q12``, ``q22`` with no square root (neural-tangents' formula takes
    ``sqrt(q11 q22)`` and divides by it).
    """
    table = []
    for k in range(len(coef)):
        row = []
        for m in range((len(coef) - 1 - k) // 2 + 1):
            n = k + 2 * m
            row.append(coef[n] * math.factorial(n)
                       / (math.factorial(k) * 2**m * math.factorial(m)))
        table.append(row)
    return table


def _polyval(row, q):
    out = jnp.zeros_like(q)
    for value in reversed(row):
        out = out * q + value
    return out


def _polynomial_dual(q11, q12, q22, *, coef):
    k = jnp.zeros(jnp.broadcast_shapes(q11.shape, q12.shape, q22.shape), q12.dtype)
    k_dot = jnp.zeros_like(k)
    for degree, row in enumerate(_hermite_coefficients(coef)):
        weight = math.factorial(degree) * _polyval(row, q11) * _polyval(row, q22)
        k = k + weight * q12**degree
        if degree > 0:
            k_dot = k_dot + degree * weight * q12 ** (degree - 1)
    return k, k_dot


def _polynomial_diag(q, *, coef):
    return _polynomial_dual(q, q, q, coef=coef)


def _polynomial_forward(x, *, coef):
    out = jnp.zeros_like(x)
    for value in reversed(coef):
        out = out * x + value
    return out


def _polynomial_params(coef):
    try:
        values = tuple(float(value) for value in np.ravel(np.asarray(coef)))
    except (TypeError, ValueError):
        values = None
    if values is None or not all(math.isfinite(value) for value in values):
        raise ValueError(
            f"coef={coef!r} must be a sequence of finite numbers "
            "(coef[i] multiplies x**i), e.g. activation_params={'coef': [0, 1, 0.5]}."
        )
    return {"coef": values}


def _monomial_params(degree):
    degree = _check_degree("monomial", degree)
    return {"coef": (0.0,) * degree + (1.0,)}


register_family("polynomial", _polynomial_dual, _polynomial_diag, _polynomial_forward)
register_named("polynomial", "polynomial", {"coef": (0.0, 1.0)}, _polynomial_params)
# neural-tangents restricts Monomial to degrees 0-5; the Hermite expansion
# has no such limit.
register_named("monomial", "polynomial", {"degree": 2}, _monomial_params)


# ---------------------------------------------------------------------------
# Rectified monomials: phi(x) = (x >= 0) x^n (arc-cosine kernel of degree n)
# ---------------------------------------------------------------------------


def _arc_cosine(rho, sine, theta, degree):
    """Cho & Saul's ``J_n(theta)`` by its three-term recurrence in ``n``.

    ``J_0 = pi - theta``, ``J_1 = sin + (pi - theta) cos`` and
    ``J_n = (2n - 1) cos J_{n-1} + (n - 1)^2 sin^2 J_{n-2}``. Unlike the
    definition by repeated differentiation of ``(pi - theta) / sin(theta)``
    (neural-tangents' route, 0 * inf at ``theta = 0``), every term is finite
    at ``rho = 1``, where ``J_n = pi (2n - 1)!!``.
    """
    previous, current = None, math.pi - theta
    if degree >= 1:
        previous, current = current, sine + (math.pi - theta) * rho
    for n in range(2, degree + 1):
        previous, current = current, (
            (2 * n - 1) * rho * current + (n - 1) ** 2 * sine * sine * previous
        )
    return previous, current


def _rectified_monomial_dual(q11, q12, q22, *, degree):
    rho, sine, theta = _angle(q11, q12, q22)
    scale = safe_sqrt(q11 * q22)
    j_lower, j_degree = _arc_cosine(rho, sine, theta, degree)
    k = scale**degree * j_degree / _TWO_PI
    if degree == 0:
        return k, jnp.zeros_like(k)
    # Price's theorem: dK/dq12 = n^2 (q11 q22)^{(n-1)/2} J_{n-1} / (2 pi).
    return k, degree * degree * scale ** (degree - 1) * j_lower / _TWO_PI


def _arc_cosine_deficits(angle, degree):
    """``J_m(0) - J_m(theta)`` for ``m = degree - 1`` and ``degree``, without
    cancellation, with ``J_m(theta)`` for ``m = degree - 2, degree - 1``.

    ``J_0(0) - J_0 = theta``, ``J_1(0) - J_1 = pi (1 - cos) - (sin - theta
    cos)`` and, from the recurrence of :func:`_arc_cosine` with
    ``J_m(0) = pi (2m - 1)!!``, ``J_n(0) - J_n = (2n - 1) [(1 - cos)
    J_{n-1}(0) + cos (J_{n-1}(0) - J_{n-1})] - (n - 1)^2 sin^2 J_{n-2}``
    (the two terms are of the same order, so at most about one bit cancels).
    """
    theta, sine, cosine = angle.theta, angle.sine, angle.cosine
    j_values = [math.pi - theta]
    deficits = [theta]
    if degree >= 1:
        j_values.append(sine + (math.pi - theta) * cosine)
        deficits.append(math.pi * angle.versine
                        - sine_minus_theta_cosine(theta, sine, cosine))
    for n in range(2, degree + 1):
        at_zero = math.pi * _double_factorial(2 * n - 3)
        j_values.append((2 * n - 1) * cosine * j_values[-1]
                        + (n - 1) ** 2 * sine * sine * j_values[-2])
        deficits.append((2 * n - 1) * (angle.versine * at_zero + cosine * deficits[-1])
                        - (n - 1) ** 2 * sine * sine * j_values[-3])
    return j_values, deficits


def _rectified_monomial_distance(q11, q12, q22, dist, dvar, *, degree):
    # E[(phi(u) - phi(v))^2] with E[phi(u)^2] = (2n-1)!! q11^n / 2:
    # (2n-1)!!/2 (s1^n - s2^n)^2 + (s1 s2)^n (J_n(0) - J_n(theta)) / pi,
    # with q11^n - q22^n = dvar sum_k q11^k q22^(n-1-k) (no cancellation).
    angle = angle_from_distance(q11, q22, dist, dvar)
    j_values, deficits = _arc_cosine_deficits(angle, degree)
    scale = angle.scale
    k = scale**degree * j_values[degree] / _TWO_PI
    roots1, roots2 = safe_sqrt(q11), safe_sqrt(q22)
    power_gap = dvar * sum(q11**i * q22 ** (degree - 1 - i) for i in range(degree))
    root_sum = roots1**degree + roots2**degree
    root_gap = power_gap / jnp.where(root_sum > 0, root_sum, 1.0)
    half_factorial = _double_factorial(2 * degree - 1) / 2
    dist_out = (half_factorial * root_gap**2
                + scale**degree * deficits[degree] / math.pi)
    dvar_out = half_factorial * power_gap
    if degree == 0:
        return k, jnp.zeros_like(k), dist_out, jnp.zeros_like(dist_out)
    k_dot = degree * degree * scale ** (degree - 1) * j_values[degree - 1] / _TWO_PI
    return k, k_dot, dist_out, dvar_out


def _double_factorial(n):
    return math.prod(range(n, 0, -2))


def _rectified_monomial_diag(q, *, degree):
    k = _double_factorial(2 * degree - 1) * q**degree / 2
    if degree == 0:
        return k, jnp.zeros_like(q)
    k_dot = degree * degree * _double_factorial(2 * degree - 3) * q ** (degree - 1) / 2
    return k, k_dot


def _rectified_monomial_forward(x, *, degree):
    return jnp.where(x >= 0, x**degree, 0.0).astype(x.dtype)


register_family(
    "rectified_monomial", _rectified_monomial_dual, _rectified_monomial_diag,
    _rectified_monomial_forward, _rectified_monomial_distance,
)
register_named(
    "rectified_monomial", "rectified_monomial", {"degree": 1},
    lambda degree: {"degree": _check_degree("rectified_monomial", degree)},
)


# ---------------------------------------------------------------------------
# Normalised Hermite polynomials (unit-variance inputs, as neural-tangents)
# ---------------------------------------------------------------------------


def _hermite_dual(q11, q12, q22, *, degree):
    if degree == 0:
        ones = jnp.ones(jnp.broadcast_shapes(q11.shape, q12.shape, q22.shape), q12.dtype)
        return ones, jnp.zeros_like(ones)
    return q12**degree + 0 * (q11 + q22), degree * q12 ** (degree - 1) + 0 * (q11 + q22)


def _hermite_diag(q, *, degree):
    return _hermite_dual(q, q, q, degree=degree)


def _hermite_forward(x, *, degree):
    # Probabilists' Hermite polynomial He_n, normalised to unit L2 norm under
    # the standard Gaussian.
    power_coefficients = np.polynomial.hermite_e.herme2poly([0] * degree + [1])
    scale = 1 / math.sqrt(math.factorial(degree))
    return _polynomial_forward(
        x, coef=tuple(float(c) * scale for c in power_coefficients)
    )


register_family("hermite", _hermite_dual, _hermite_diag, _hermite_forward)
register_named(
    "hermite", "hermite", {"degree": 2},
    lambda degree: {"degree": _check_degree("hermite", degree)},
)


# ---------------------------------------------------------------------------
# Gabor: phi(x) = exp(-x^2) sin(x)
# ---------------------------------------------------------------------------


def _gabor_terms(q12, prod, total, diff):
    # diff = 4 (q11 q22 - q12^2) enters only polynomially (no square root), so
    # its cancellation at rho = 1 costs an absolute eps, not sqrt(eps).
    denom = 2 * total + diff + 1
    num = total + diff + 2 * q12
    exp_left = jnp.exp(-num / (2 * denom))
    exp_right = jnp.exp(2 * q12 / denom)
    # exp_left (exp_right - 1) with expm1: exact for small q12.
    k = exp_left * jnp.expm1(2 * q12 / denom) / (2 * jnp.sqrt(denom))
    shared = 1 + 2 * total + 4 * (q12 * q12 + prod)
    diff_term = 4 * q12 * (diff + 3 * total + 2)
    k_dot = exp_left * ((shared - diff_term) + exp_right * (shared + diff_term))
    return k, k_dot / (2 * denom**2.5)


def _gabor_dual(q11, q12, q22):
    prod = q11 * q22
    return _gabor_terms(q12, prod, q11 + q22, 4 * (prod - q12 * q12))


def _gabor_diag(q):
    return _gabor_terms(q, q * q, 2 * q, jnp.zeros_like(q))


def _gabor_forward(x):
    return jnp.exp(-x * x) * jnp.sin(x)


register_family("gabor", _gabor_dual, _gabor_diag, _gabor_forward)
register_named("gabor", "gabor")

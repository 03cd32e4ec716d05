"""The numerically safe helpers: accuracy and finite derivatives."""

import jax
import jax.numpy as jnp
import numpy as np

from sklearn_ntk._numerics import arccos, correlation, safe_sqrt
from sklearn_ntk._precision import x64_scope


def _grid():
    rng = np.random.default_rng(0)
    near_one = 1 - np.logspace(-17, -1, 200)
    return np.concatenate([rng.uniform(-1, 1, 20000), near_one, -near_one,
                           [-1.0, -0.5, 0.0, 0.5, 1.0]])


def test_vectorised_arccos_is_within_one_ulp_of_numpy():
    x = _grid()
    with x64_scope():
        ours = np.asarray(jax.jit(arccos)(jnp.asarray(x)))
    reference = np.arccos(x)
    # The rational approximation is a < 1 ulp minimax fit; the reduction
    # 2 asin(sqrt((1-|x|)/2)) adds at most one more rounding: allow 2 ulp.
    ulps = np.abs(ours - reference) / np.spacing(np.abs(reference) + 1e-300)
    assert ulps.max() <= 2


def test_arccos_derivative_matches_and_is_finite_at_the_ends():
    x = np.array([-1.0, -0.9, -0.3, 0.0, 0.4, 0.99, 1.0])
    with x64_scope():
        grads = np.asarray(jax.vmap(jax.grad(arccos))(jnp.asarray(x)))
    inside = np.abs(x) < 1
    np.testing.assert_allclose(grads[inside], -1 / np.sqrt(1 - x[inside] ** 2),
                               rtol=1e-14)
    # At |x| = 1 the true derivative is infinite; along the diagonal, where
    # rho stays 1, its coefficient is 0, so 0 is the useful (finite) value.
    np.testing.assert_array_equal(grads[~inside], 0.0)


def test_safe_sqrt_has_zero_derivative_at_zero():
    with x64_scope():
        grads = jax.vmap(jax.grad(safe_sqrt))(jnp.array([0.0, -1e-18, 4.0]))
    np.testing.assert_allclose(np.asarray(grads), [0.0, 0.0, 0.25], atol=0)


def test_correlation_is_clipped_and_zero_for_zero_variance():
    q11 = jnp.array([[1.0], [0.0]])
    q22 = jnp.array([[1.0, 4.0]])
    q12 = jnp.array([[1.0 + 1e-15, 2.0], [0.0, 0.0]])
    with x64_scope():
        rho = np.asarray(correlation(q11, q12, q22))
    np.testing.assert_array_equal(rho, [[1.0, 1.0], [0.0, 0.0]])

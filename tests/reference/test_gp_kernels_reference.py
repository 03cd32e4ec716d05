"""NTKKernel / NNGPKernel against neural-tangents 0.6.5 (legacy environment).

Values are compared with ``stax.serial(...)``'s ``kernel_fn``; gradients with
reverse-mode ``jax.jacrev`` of that ``kernel_fn`` with respect to
``log(b_std)`` and ``log(W_std)`` (our gradients are forward-mode autodiff of
our own recursion: independent code and an independent autodiff mode).

Tolerances. Off the diagonal both sides evaluate the same closed forms in
float64: they agree to ~1e-15 relative; 1e-11 of the largest entry allows for
the reordered sums of deeper networks. On the diagonal neural-tangents uses
the general formula at rho = 1, whose sqrt(q11 q22 - q12^2) of a cancelled
difference carries ~sqrt(eps) = 1.5e-8 relative error (we use the exact
rho = 1 form there), so the diagonal is compared to 1e-6.
"""

import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from neural_tangents import stax  # noqa: E402

from sklearn_ntk import NNGPKernel, NTKKernel  # noqa: E402
from sklearn_ntk._precision import x64_scope  # noqa: E402

OFF_DIAGONAL = 1e-11
DIAGONAL = 1e-6
WIDTH = 64

KERNELS = [
    NTKKernel(depth=0, weight_std=0.7, bias_std=0.4),
    NNGPKernel(depth=0, weight_std=1.3, bias_std=0.1),
    NTKKernel(depth=1, activation="relu", weight_std=1.2, bias_std=0.3),
    NNGPKernel(depth=3, activation="relu"),
    NTKKernel(depth=3, activation="relu", bias_std=0.5),
    NTKKernel(depth=2, activation="erf", weight_std=1.3, bias_std=0.2),
    NNGPKernel(depth=2, activation="erf", activation_params={"a": 1.0, "b": 0.5, "c": 0.1}),
    NTKKernel(depth=2, activation="leaky_relu", activation_params={"alpha": 0.2}),
    NTKKernel(depth=3, activation="abs", weight_std=1.1, bias_std=0.7),
    NNGPKernel(depth=1, activation="identity", bias_std=0.5),
    NTKKernel(depth=2, activation="identity", weight_std=0.9, bias_std=1.1),
    NTKKernel(depth=2, parameterization="standard", width=WIDTH, bias_std=0.3),
    NTKKernel(depth=3, activation="erf", parameterization="standard", width=WIDTH),
    NNGPKernel(depth=2, activation="erf", parameterization="standard", width=WIDTH),
    NTKKernel(depth=1, activation="erf", bias_std=None),
    NTKKernel(depth=2, parameterization="standard", width=WIDTH, bias_std=None),
]


def _activation_layer(kernel):
    params = dict(kernel.activation_params or {})
    return {
        "relu": lambda: stax.Relu(),
        "erf": lambda: stax.Erf(**params),
        "leaky_relu": lambda: stax.LeakyRelu(**params),
        "abs": lambda: stax.Abs(),
        "identity": lambda: stax.Identity(),
    }[kernel.activation]()


def _nt_kernel_fn(kernel, weight_std, bias_std):
    """neural-tangents' kernel_fn of the network that ``kernel`` describes."""
    width = kernel.width or 512  # irrelevant for the "ntk" parameterization

    def dense(out_dim):
        return stax.Dense(out_dim, W_std=weight_std, b_std=bias_std,
                          parameterization=kernel.parameterization)

    layers = []
    for _ in range(kernel.depth):
        layers += [dense(width), _activation_layer(kernel)]
    layers.append(dense(1))
    return stax.serial(*layers)[2]


def _nt_kernel(kernel, x1, x2, log_scales):
    """neural-tangents' kernel as a function of theta = (log b, log W)."""
    bias_std = None if kernel.bias_std is None else jnp.exp(log_scales[0])
    weight_std = jnp.exp(log_scales[-1])
    kernel_fn = _nt_kernel_fn(kernel, weight_std, bias_std)
    return kernel_fn(x1, x2, kernel._kernel)


def _theta(kernel):
    scales = [kernel.weight_std] if kernel.bias_std is None else [
        kernel.bias_std, kernel.weight_std]
    return np.log(np.asarray(scales, dtype=np.float64))


def _compare(ours, theirs):
    n = ours.shape[0]
    off = ~np.eye(n, dtype=bool)
    scale = np.max(np.abs(theirs))
    np.testing.assert_allclose(ours[off], theirs[off], rtol=0,
                               atol=OFF_DIAGONAL * scale)
    diagonal = np.arange(n)
    np.testing.assert_allclose(ours[diagonal, diagonal], theirs[diagonal, diagonal],
                               rtol=0, atol=DIAGONAL * scale)


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((9, 4)), rng.standard_normal((5, 4))


@pytest.mark.reference
@pytest.mark.parametrize("kernel", KERNELS, ids=[repr(k) for k in KERNELS])
def test_values_equal_neural_tangents(kernel, inputs):
    x, z = inputs
    theta = _theta(kernel)
    with x64_scope():
        expected = np.asarray(_nt_kernel(kernel, jnp.asarray(x), None, theta))
        expected_cross = np.asarray(
            _nt_kernel(kernel, jnp.asarray(z), jnp.asarray(x), theta))
    _compare(kernel(x), expected)
    np.testing.assert_allclose(kernel(z, x), expected_cross, rtol=0,
                               atol=OFF_DIAGONAL * np.max(np.abs(expected_cross)))
    np.testing.assert_allclose(kernel.diag(x), np.diag(expected),
                               rtol=DIAGONAL)


@pytest.mark.reference
@pytest.mark.parametrize("kernel", KERNELS, ids=[repr(k) for k in KERNELS])
def test_gradients_equal_reverse_mode_of_neural_tangents(kernel, inputs):
    x, _ = inputs
    theta = _theta(kernel)
    with x64_scope():
        jacobian = jax.jacrev(lambda t: _nt_kernel(kernel, jnp.asarray(x), None, t))
        expected = np.asarray(jacobian(jnp.asarray(theta)))
    K, K_gradient = kernel(x, eval_gradient=True)
    assert K_gradient.shape == expected.shape == (9, 9, theta.size)
    np.testing.assert_array_equal(kernel.theta, theta)
    for i in range(theta.size):
        _compare(K_gradient[..., i], expected[..., i])

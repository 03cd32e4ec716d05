"""Finite networks, empirical NTKs and linearised training against
neural-tangents 0.6.5 (``stax``, ``empirical_ntk_fn``, ``linearize``,
``predict.gradient_descent_mse``) for the same parameters.

Our parameters are a list of ``(W, b)`` per Dense layer with ``b`` of shape
``(n_out,)``; ``stax.serial`` holds ``(W, b)`` with ``b`` of shape
``(1, n_out)`` for a Dense layer and ``()`` for an activation layer.
:func:`_to_stax` converts one into the other (the values are not drawn by
neural-tangents' RNG: the comparison is for the same parameters).

Tolerances: every comparison is float64 arithmetic on the same numbers in a
different order, so a few ulps times the size of the sums (1e-12 relative)
for the forward pass and the kernels; the closed-form predictions go
through a solve with the training NTK, whose condition number here is
~1e3-1e4, hence 1e-9.
"""

import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from sklearn_ntk import LinearizedMLP  # noqa: E402
from sklearn_ntk._architecture import make_architecture  # noqa: E402
from sklearn_ntk._finite_network import (  # noqa: E402
    apply_network,
    empirical_kernels,
    empirical_ntk,
    init_params,
)
from sklearn_ntk._precision import x64_scope  # noqa: E402

ARCHITECTURES = [
    dict(depth=2, activation="relu", weight_std=1.5, bias_std=0.05),
    dict(depth=1, activation="erf", weight_std=1.3, bias_std=0.4,
         parameterization="standard"),
    dict(depth=3, activation="leaky_relu", activation_params={"alpha": 0.2},
         weight_std=1.2, bias_std=None),
    dict(depth=2, activation="abs", weight_std=1.1, bias_std=0.3,
         parameterization="standard"),
]

WIDTH = 24


def _stax_network(depth, activation, weight_std, bias_std, n_outputs,
                  activation_params=None, parameterization="ntk"):
    nonlinearity = {
        "relu": lambda: stax.Relu(),
        "erf": lambda: stax.Erf(),
        "abs": lambda: stax.Abs(),
        "leaky_relu": lambda: stax.LeakyRelu((activation_params or {})["alpha"]),
    }[activation]
    dense = dict(W_std=weight_std, b_std=bias_std, parameterization=parameterization)
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(WIDTH, **dense), nonlinearity()]
    _, apply_fn, _ = stax.serial(*layers, stax.Dense(n_outputs, **dense))
    return apply_fn


def _to_stax(params):
    """Our [(W, b)] -> stax.serial's [(W, b[None]), (), ..., (W, b[None])]."""
    layers = []
    for weights, bias in params:
        layers.append((jnp.asarray(weights),
                       None if bias is None else jnp.asarray(bias)[None, :]))
        layers.append(())
    return layers[:-1]


def _relative(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((10, 4)), rng.standard_normal((6, 4))


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_forward_and_empirical_ntk_equal_neural_tangents(arch, n_outputs, data):
    x, x_test = data
    architecture, weight_std, bias_std = make_architecture(width=WIDTH, **arch)
    apply_fn = _stax_network(n_outputs=n_outputs, **arch)
    with x64_scope():
        params = init_params(jax.random.PRNGKey(1), 4, WIDTH, architecture,
                             weight_std, bias_std, n_outputs)
        ours_out = apply_network(params, x, weight_std, bias_std,
                                 architecture=architecture)
        ours_ntk = empirical_ntk(params, x_test, x, weight_std, bias_std,
                                 architecture=architecture)
        theirs_out = apply_fn(_to_stax(params), x)
        ntk_fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0)
        theirs_ntk = ntk_fn(x_test, x, _to_stax(params))
        assert ours_ntk.dtype == theirs_ntk.dtype == jnp.float64
        assert _relative(ours_out, theirs_out) < 1e-12
        assert ours_ntk.shape == theirs_ntk.shape == (6, 10, n_outputs, n_outputs)
        assert _relative(ours_ntk, theirs_ntk) < 1e-12
        # empirical_kernels' NTK is the first output unit's, which is what
        # neural-tangents' traced kernel is for a single output.
        if n_outputs == 1:
            _, ntk = empirical_kernels(params, x_test, x, weight_std, bias_std,
                                       architecture=architecture)
            theirs = nt.empirical_kernel_fn(apply_fn)(x_test, x, "ntk", _to_stax(params))
            assert _relative(ntk, theirs) < 1e-12


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("t", [3.0, None])
def test_exact_predictions_equal_gradient_descent_mse(arch, t, data):
    """Our 'exact' fit against nt.predict.gradient_descent_mse on the
    empirical NTK of the same initial network (two outputs: the full
    (n m) x (n m) kernel, ``trace_axes=()``)."""
    x, x_test = data
    y = np.c_[np.sin(x[:, 0]), np.cos(x[:, 1])]
    learning_rate = 0.7
    # diag_reg=0: gradient_descent_mse here gets no regulariser (our
    # default, 0.1, is NTKRegressor's).
    model = LinearizedMLP(width=WIDTH, solver="exact", t=t, diag_reg=0.0,
                          learning_rate=learning_rate, random_state=0, **arch)
    model.fit(x, y)
    apply_fn = _stax_network(n_outputs=2, **arch)
    with x64_scope():
        params = _to_stax(model.initial_params_[0])
        ntk_fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0)
        predict_fn = nt.predict.gradient_descent_mse(
            ntk_fn(x, None, params), jnp.asarray(y), learning_rate=learning_rate,
            trace_axes=())
        _, theirs = predict_fn(t, apply_fn(params, x), apply_fn(params, x_test),
                               ntk_fn(x_test, x, params))
        assert _relative(model.predict(x_test), theirs) < 1e-9


@pytest.mark.parametrize("arch", ARCHITECTURES[:2])
@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_linearised_model_equals_nt_linearize(arch, solver, data):
    """Our predictions are f_lin(theta_T, x) of nt.linearize at theta_0."""
    x, x_test = data
    y = np.sin(x[:, 0])
    model = LinearizedMLP(width=WIDTH, solver=solver, t=20, learning_rate=0.2,
                          n_ensemble=2, random_state=0, **arch).fit(x, y)
    apply_fn = _stax_network(n_outputs=1, **arch)
    with x64_scope():
        members = [
            nt.linearize(apply_fn, _to_stax(params0))(_to_stax(params), x_test)[:, 0]
            for params0, params in zip(model.initial_params_, model.params_)]
    mean, std = model.predict(x_test, return_std=True)
    assert _relative(mean, np.mean(members, axis=0)) < 1e-12
    assert _relative(std, np.std(members, axis=0)) < 1e-9

"""NTKRegressor / NNGPRegressor against neural-tangents 0.6.5 ``predict``.

Two comparisons:

1. Dynamics only: our estimators with ``kernel_fn=`` the neural-tangents
   ``stax`` kernel_fn (so both sides use identical kernels) against
   ``nt.predict.gradient_descent_mse_ensemble`` and ``nt.predict.gp_inference``.
   Where the train kernel is well conditioned (``diag_reg >= 1e-3``: cond <=
   ~1e5) both are float64 linear algebra on the same matrices, so they agree
   to cond * eps ~ 1e-11; we require 1e-8 relative to the largest entry.
2. End to end: our own kernels (``compute_kernels``) against
   neural-tangents' kernels and predictions. The kernels agree to ~1e-8 on
   the diagonal (neural-tangents takes sqrt of the cancelled q11 q22 - q12^2
   there), which the solve amplifies by at most cond(Theta) / n; with
   ``diag_reg=0.1`` that stays below 1e-8 as well.

Nearly singular kernels (duplicate rows, ``diag_reg=1e-7``): cond ~1e8, so
the solve amplifies rounding (1e-16) and each library's kernel rounding to
~1e-8 of the largest entry; that is the tolerance used there, and ours is the
one that stays finite when ``diag_reg=0``.
"""

import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

import jax.numpy as jnp  # noqa: E402

from sklearn_ntk import NNGPRegressor, NTKRegressor  # noqa: E402
from sklearn_ntk._precision import x64_scope  # noqa: E402

WELL_CONDITIONED = 1e-8

ARCHITECTURES = [
    dict(depth=2, activation="relu", weight_std=1.5, bias_std=0.05),
    dict(depth=1, activation="erf", weight_std=1.3, bias_std=0.4),
    dict(depth=3, activation="relu", weight_std=1.2, bias_std=0.2),
]


def _stax_kernel_fn(depth, activation, weight_std, bias_std):
    layer = {"relu": stax.Relu(), "erf": stax.Erf()}[activation]
    layers = [stax.Dense(512, W_std=weight_std, b_std=bias_std), layer] * depth
    _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=weight_std, b_std=bias_std))
    return kernel_fn


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x_train = rng.standard_normal((24, 5))
    x_test = rng.standard_normal((7, 5))
    y_train = rng.standard_normal((24, 2))
    return x_train, x_test, y_train


def _reference(kernel_fn, x_train, y_train, x_test, t, get, learning_rate, diag_reg):
    with x64_scope():
        predict_fn = nt.predict.gradient_descent_mse_ensemble(
            kernel_fn, jnp.asarray(x_train), jnp.asarray(y_train),
            learning_rate=learning_rate, diag_reg=diag_reg,
        )
        out = predict_fn(t=t, x_test=jnp.asarray(x_test), get=get, compute_cov=True)
        return np.asarray(out.mean, dtype=np.float64), np.asarray(out.covariance, dtype=np.float64)


ESTIMATORS = {"ntk": NTKRegressor, "nngp": NNGPRegressor}


@pytest.mark.parametrize("get", ["ntk", "nngp"])
@pytest.mark.parametrize("arch", ARCHITECTURES[:2])
@pytest.mark.parametrize(
    "t, learning_rate, diag_reg",
    [(None, 1.0, 1e-3), (0.5, 1.0, 1e-3), (5.0, 2.0, 0.1), (1e4, 0.5, 1e-2)],
)
def test_dynamics_with_the_same_kernel_fn(data, get, arch, t, learning_rate, diag_reg):
    x_train, x_test, y_train = data
    kernel_fn = _stax_kernel_fn(**arch)
    mean, cov = _reference(kernel_fn, x_train, y_train, x_test, t, get, learning_rate, diag_reg)
    model = ESTIMATORS[get](kernel_fn=kernel_fn, t=t, learning_rate=learning_rate,
                            diag_reg=diag_reg).fit(x_train, y_train)
    our_mean, our_cov = model.predict(x_test, return_cov=True)
    assert _relative(our_mean, mean) < WELL_CONDITIONED
    # Our covariance is per target (GaussianProcessRegressor's shape); the
    # kernels do not depend on the target, so every slice is the same.
    for j in range(y_train.shape[1]):
        assert _relative(our_cov[..., j], cov) < WELL_CONDITIONED
    # predict_at_times shares the factorisation and must agree too.
    at_times = model.predict_at_times(x_test, [t, 0.0])
    assert _relative(at_times[0], mean) < WELL_CONDITIONED
    np.testing.assert_array_equal(at_times[1], 0.0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("t", [None, 3.0])
def test_end_to_end_with_our_kernels(data, arch, t):
    x_train, x_test, y_train = data
    kernel_fn = _stax_kernel_fn(**arch)
    for get, Estimator in ESTIMATORS.items():
        mean, cov = _reference(kernel_fn, x_train, y_train, x_test, t, get, 1.0, 0.1)
        model = Estimator(t=t, diag_reg=0.1, **arch).fit(x_train, y_train)
        our_mean, our_std = model.predict(x_test, return_std=True)
        assert _relative(our_mean, mean) < WELL_CONDITIONED
        assert _relative(our_std[:, 0], np.sqrt(np.diag(cov))) < WELL_CONDITIONED


@pytest.mark.parametrize("diag_reg", [1e-3, 0.1])
def test_gp_inference(data, diag_reg):
    x_train, x_test, y_train = data
    kernel_fn = _stax_kernel_fn(**ARCHITECTURES[0])
    with x64_scope():
        k_dd = kernel_fn(jnp.asarray(x_train), None, ("nngp", "ntk"))
        k_td = kernel_fn(jnp.asarray(x_test), jnp.asarray(x_train), ("nngp", "ntk"))
        k_tt = kernel_fn(jnp.asarray(x_test), None, "nngp")
        predict_fn = nt.predict.gp_inference(k_dd, jnp.asarray(y_train), diag_reg=diag_reg)
        reference = predict_fn(get=("nngp", "ntk"), k_test_train=k_td, k_test_test=k_tt)
    for get, Estimator in ESTIMATORS.items():
        model = Estimator(kernel_fn=kernel_fn, diag_reg=diag_reg).fit(x_train, y_train)
        our_mean, our_cov = model.predict(x_test, return_cov=True)
        expected = getattr(reference, get)
        assert _relative(our_mean, expected.mean) < WELL_CONDITIONED
        assert _relative(our_cov[..., 0], expected.covariance) < WELL_CONDITIONED


@pytest.mark.parametrize("t", [None, 2.0])
def test_nearly_singular_kernel(data, t):
    x_train, x_test, y_train = data
    x_train = np.concatenate([x_train, x_train[:3]])  # exact duplicate rows
    y_train = np.concatenate([y_train, y_train[:3]])
    kernel_fn = _stax_kernel_fn(**ARCHITECTURES[0])
    mean, cov = _reference(kernel_fn, x_train, y_train, x_test, t, "ntk", 1.0, 1e-7)
    model = NTKRegressor(kernel_fn=kernel_fn, t=t, diag_reg=1e-7).fit(x_train, y_train)
    our_mean, our_cov = model.predict(x_test, return_cov=True)
    # cond ~1e8 (see the module docstring): 1e-6 relative.
    assert _relative(our_mean, mean) < 1e-6
    assert _relative(our_cov[..., 0], cov) < 1e-6
    # Without any regulariser ours stays finite (neural-tangents may divide
    # by an exactly-zero eigenvalue and return NaN).
    with pytest.warns(UserWarning):
        model = NTKRegressor(kernel_fn=kernel_fn, t=t, diag_reg=0.0).fit(x_train, y_train)
        our_mean, our_std = model.predict(x_test, return_std=True)
    assert np.all(np.isfinite(our_mean)) and np.all(np.isfinite(our_std))


def test_kernel_fn_is_called_with_get_and_matches_builtin(data):
    x_train, x_test, y_train = data
    arch = ARCHITECTURES[0]
    kernel_fn = _stax_kernel_fn(**arch)
    ours = NTKRegressor(diag_reg=0.1, **arch).fit(x_train, y_train)
    theirs = NTKRegressor(diag_reg=0.1, kernel_fn=kernel_fn).fit(x_train, y_train)
    assert _relative(ours.predict(x_test), theirs.predict(x_test)) < WELL_CONDITIONED

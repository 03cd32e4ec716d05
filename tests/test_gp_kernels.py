"""NTKKernel / NNGPKernel: the scikit-learn GP kernel contract.

The property tests port scikit-learn's ``gaussian_process/tests/test_kernels.py``
(gradient vs finite differences, theta round trip, fixed bounds, auto vs
cross, diag, clone, set/get params, pairwise, repr) over a parametrized list
of NTK/NNGP kernels; then the estimators that consume them (GPR, GPC, SVC,
KernelRidge, GridSearchCV) and the errors.
"""

import pickle
from inspect import signature

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.gaussian_process import (
    GaussianProcessClassifier,
    GaussianProcessRegressor,
)
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    Exponentiation,
    KernelOperator,
    WhiteKernel,
)
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

import sklearn_ntk._gp_kernels as gp_kernels_module
from sklearn_ntk import NNGPKernel, NTKKernel, compute_kernels
from tests.conftest import make_inputs

# float64 kernels: values O(1)-O(10); different fusions of the same formulas
# differ by a few ulps, so 1e-12 relative to the largest entry means "equal".
EXACT = 1e-12

# Activations x depths 0..3 x both parameterizations x which scales are free.
# Every distinct architecture costs a few JIT compilations (~1 s each), so the
# list is short and the compound kernels below reuse its architectures.
BASE_KERNELS = [
    NTKKernel(depth=0, weight_std=0.7, bias_std=0.4),
    NTKKernel(depth=1, activation="relu", weight_std=1.2, bias_std=0.3),
    NTKKernel(depth=3, activation="relu", bias_std=0.5),
    NNGPKernel(depth=3, activation="relu"),
    NTKKernel(depth=2, activation="erf", weight_std=1.3, bias_std=0.2),
    NNGPKernel(depth=2, activation="erf",
               activation_params={"a": 1.0, "b": 0.5, "c": 0.1}),
    NTKKernel(depth=2, activation="leaky_relu", activation_params={"alpha": 0.2}),
    NNGPKernel(depth=1, activation="identity", bias_std=0.5),
    NTKKernel(depth=2, parameterization="standard", width=64, bias_std=0.3),
    NTKKernel(depth=1, activation="erf", bias_std=None),
    NTKKernel(depth=1, weight_std=0.8, weight_std_bounds="fixed"),
]

# Sums, products and powers with scikit-learn kernels (their gradients are
# assembled by scikit-learn from ours).
COMPOUND_KERNELS = [
    ConstantKernel(2.0) * NTKKernel(depth=3, bias_std=0.5) + WhiteKernel(0.1),
    NTKKernel(depth=1) + NNGPKernel(depth=3, weight_std=1.1),
    NTKKernel(depth=1, weight_std=1.2, bias_std=0.3)
    * NNGPKernel(depth=1, activation="identity", bias_std=0.5),
    Exponentiation(NNGPKernel(depth=3), 2.0) + RBF(1.5),
]

ALL_KERNELS = BASE_KERNELS + COMPOUND_KERNELS


def _ids(kernels):
    return [repr(kernel) for kernel in kernels]


@pytest.fixture
def X(rng):
    # Distinct rows (duplicates have their own test). One shape (8, 3) for
    # every test keeps the number of compilations down.
    return make_inputs(rng, n=8, d=3, duplicates=False)


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def _finite_difference_gradient(kernel, X, step=1e-6):
    """Central differences of K in theta (the log-hyperparameters)."""
    theta = kernel.theta
    columns = []
    for i in range(theta.size):
        shift = np.zeros_like(theta)
        shift[i] = step
        upper = kernel.clone_with_theta(theta + shift)(X)
        lower = kernel.clone_with_theta(theta - shift)(X)
        columns.append((upper - lower) / (2 * step))
    return np.stack(columns, axis=-1)


# ---------------------------------------------------------------------------
# The kernel contract (ported from scikit-learn's test_kernels.py)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_kernel_gradient_matches_finite_differences(kernel, X):
    kernel = clone(kernel)
    K, K_gradient = kernel(X, eval_gradient=True)
    assert K_gradient.shape == (X.shape[0], X.shape[0], kernel.theta.shape[0])
    approx = _finite_difference_gradient(kernel, X)
    # Central differences with step h = 1e-6 in log space: truncation error
    # h^2 |K'''| / 6 with |K'''| <= (2 (depth + 1))^3 |K| is below 1e-9 |K|,
    # rounding error eps |K| / h is about 2e-10 |K|. 1e-7 |K| leaves a margin
    # of 100 yet catches any real error (those are O(|K|)).
    scale = np.max(np.abs(K))
    np.testing.assert_allclose(K_gradient, approx, rtol=0, atol=1e-7 * scale)


def test_gradient_of_a_deep_kernel_through_its_compiled_loop(X):
    # depth 12: the hidden layers after the first run as one lax.scan over a
    # single compiled layer (sklearn_ntk._recursion._repeat), which reverse
    # mode differentiates as a loop. Tolerance as above: (2 * 13)^3 h^2 / 6
    # ~ 3e-9 of truncation.
    kernel = NTKKernel(depth=12, activation="erf", weight_std=1.3, bias_std=0.3)
    K, K_gradient = kernel(X, eval_gradient=True)
    approx = _finite_difference_gradient(kernel, X)
    np.testing.assert_allclose(K_gradient, approx, rtol=0,
                               atol=1e-7 * np.max(np.abs(K)))


@given(
    weight_std=st.floats(0.3, 3.0),
    bias_std=st.floats(0.01, 2.0),
    kernel_class=st.sampled_from([NTKKernel, NNGPKernel]),
    activation=st.sampled_from(["relu", "erf"]),
)
def test_gradient_property_over_hyperparameters(weight_std, bias_std, kernel_class,
                                                activation):
    # Anywhere in a typical range: K is symmetric PSD, its gradient symmetric
    # and equal to central differences (tolerance as above).
    X = make_inputs(np.random.default_rng(1), n=8, d=3, duplicates=False)
    kernel = kernel_class(weight_std, bias_std, depth=2, activation=activation)
    K, K_gradient = kernel(X, eval_gradient=True)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_array_equal(K_gradient, np.swapaxes(K_gradient, 0, 1))
    eigenvalues = np.linalg.eigvalsh(K)
    assert eigenvalues.min() >= -1e-12 * 8 * eigenvalues.max()
    approx = _finite_difference_gradient(kernel, X)
    np.testing.assert_allclose(K_gradient, approx, rtol=0,
                               atol=1e-7 * np.max(np.abs(K)))


@pytest.mark.parametrize(
    "kernel",
    [k for k in BASE_KERNELS if not isinstance(k, (KernelOperator, Exponentiation))],
    ids=_ids(BASE_KERNELS),
)
def test_kernel_theta(kernel, X):
    kernel = clone(kernel)
    theta = kernel.theta

    # The hyperparameters are exactly the arguments with a *_bounds partner.
    args = [p for p in signature(type(kernel).__init__).parameters if p != "self"]
    theta_vars = {a[: -len("_bounds")] for a in args if a.endswith("_bounds")}
    assert {h.name for h in kernel.hyperparameters} == theta_vars
    # scikit-learn's (alphabetical) order.
    assert [h.name for h in kernel.hyperparameters] == ["bias_std", "weight_std"]

    free = [h for h in kernel.hyperparameters if not h.fixed]
    for i, hyperparameter in enumerate(free):
        assert theta[i] == np.log(getattr(kernel, hyperparameter.name))

    # Setting theta sets the hyperparameters (exp) and vice versa (log).
    for i, hyperparameter in enumerate(free):
        theta[i] = np.log(0.42)
        kernel.theta = theta
        np.testing.assert_allclose(getattr(kernel, hyperparameter.name), 0.42)
        setattr(kernel, hyperparameter.name, 0.43)
        np.testing.assert_allclose(kernel.theta[i], np.log(0.43))


# Each fixed scale is another compiled program; three architectures (deep
# ReLU, erf, standard parameterization) suffice.
FIXED_BOUNDS_KERNELS = [BASE_KERNELS[i] for i in (2, 5, 8)]


@pytest.mark.parametrize("kernel", FIXED_BOUNDS_KERNELS,
                         ids=_ids(FIXED_BOUNDS_KERNELS))
def test_fixed_bounds_drop_out_of_theta_and_gradient(kernel, X):
    kernel = clone(kernel)
    theta = kernel.theta
    _, K_gradient = kernel(X, eval_gradient=True)
    free = [h for h in kernel.hyperparameters if not h.fixed]
    assert len(free) == 2
    # Fixing one hyperparameter removes exactly its entry of theta and its
    # slice of the gradient; the other slice is unchanged (to rounding: the
    # forward-mode pass then carries one tangent instead of two).
    for i, hyperparameter in enumerate(free):
        params = kernel.get_params()
        params[hyperparameter.name + "_bounds"] = "fixed"
        new_kernel = type(kernel)(**params)
        _, K_gradient_new = new_kernel(X, eval_gradient=True)
        assert theta.shape[0] == new_kernel.theta.shape[0] + 1
        assert K_gradient.shape[2] == K_gradient_new.shape[2] + 1
        kept = [j for j in range(len(free)) if j != i]
        np.testing.assert_array_equal(theta[kept], new_kernel.theta)
        np.testing.assert_allclose(
            K_gradient[..., kept], K_gradient_new,
            rtol=0, atol=EXACT * np.max(np.abs(K_gradient)),
        )


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_auto_vs_cross(kernel, X):
    kernel = clone(kernel)
    K_auto = kernel(X)
    K_cross = kernel(X, X.copy())  # a copy: ``kernel(X, X)`` is ``kernel(X)``
    if any(isinstance(k, WhiteKernel) for k in _leaves(kernel)):
        # WhiteKernel is k(X) = noise I but k(X, X) = 0 by design.
        K_auto = K_auto - kernel.k2.noise_level * np.eye(len(X))
    off = ~np.eye(len(X), dtype=bool)
    assert _relative(K_auto[off], K_cross[off]) < EXACT
    # On the diagonal the cross kernel uses the general formula at rho = 1,
    # sqrt(q11 q22 - q12^2) of a cancelled difference: ~sqrt(eps) error.
    assert _relative(np.diag(K_auto), np.diag(K_cross)) < 1e-6


def _leaves(kernel):
    if isinstance(kernel, KernelOperator):
        return _leaves(kernel.k1) + _leaves(kernel.k2)
    if isinstance(kernel, Exponentiation):
        return _leaves(kernel.kernel)
    return [kernel]


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_kernel_diag(kernel, X):
    kernel = clone(kernel)
    np.testing.assert_allclose(kernel.diag(X), np.diag(kernel(X)), rtol=EXACT)


def test_diag_does_not_build_the_matrix(monkeypatch, rng):
    # diag must be O(n): it may not go through the tiled full-matrix paths.
    def forbidden(*args, **kwargs):
        raise AssertionError("diag computed a full kernel matrix")

    monkeypatch.setattr(gp_kernels_module, "run_tiles", forbidden)
    monkeypatch.setattr(gp_kernels_module, "compute_kernels", forbidden)
    x = rng.standard_normal((20_000, 3))
    for kernel in (NTKKernel(depth=3), NNGPKernel(depth=3)):
        diag = kernel.diag(x)
        assert diag.shape == (20_000,) and diag.dtype == np.float64
        assert np.all(np.isfinite(diag)) and np.all(diag > 0)


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_kernel_clone(kernel):
    kernel_cloned = clone(kernel)
    assert kernel == kernel_cloned
    assert id(kernel) != id(kernel_cloned)
    assert kernel.get_params() == kernel_cloned.get_params()
    for attr in set(dir(kernel)) | set(dir(kernel_cloned)):
        if attr.startswith("hyperparameter_"):
            assert getattr(kernel, attr) == getattr(kernel_cloned, attr)


@pytest.mark.parametrize("kernel", BASE_KERNELS, ids=_ids(BASE_KERNELS))
def test_kernel_clone_after_set_params(kernel, X):
    kernel = clone(kernel)
    kernel.set_params(depth=3, activation="erf", activation_params=None,
                      weight_std=0.9)
    cloned = clone(kernel)
    assert cloned.get_params() == kernel.get_params()
    assert cloned.depth == 3 and cloned.activation == "erf"
    np.testing.assert_array_equal(cloned(X), kernel(X))
    # The fixed architecture arguments really change the kernel.
    assert _relative(kernel(X), clone(kernel).set_params(depth=1)(X)) > 1e-3


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_set_get_params_consistent_with_theta(kernel):
    kernel = clone(kernel)
    params = kernel.get_params()
    free = [h for h in kernel.hyperparameters if not h.fixed]
    for index, hyperparameter in enumerate(free):
        np.testing.assert_allclose(
            np.exp(kernel.theta[index]), params[hyperparameter.name]
        )
    for index, hyperparameter in enumerate(free):
        kernel.set_params(**{hyperparameter.name: 10.0})
        np.testing.assert_allclose(np.exp(kernel.theta[index]), 10.0)


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_kernel_versus_pairwise(kernel, X, rng):
    kernel = clone(kernel)
    Y = rng.standard_normal(X.shape)  # the shape of X: shares compilations
    if not any(isinstance(k, WhiteKernel) for k in _leaves(kernel)):
            # pairwise_kernels passes X twice: the symmetric path, bit for bit.
        np.testing.assert_array_equal(kernel(X), pairwise_kernels(X, metric=kernel))
    np.testing.assert_allclose(kernel(X, Y), pairwise_kernels(X, Y, metric=kernel),
                               rtol=EXACT)


def test_repr():
    assert repr(NTKKernel()) == (
        "NTKKernel(weight_std=1.5, bias_std=2, depth=2, activation='relu')"
    )
    kernel = NNGPKernel(0.123456, None, depth=1, activation="leaky_relu",
                        activation_params={"alpha": 0.1},
                        parameterization="standard", width=8)
    assert repr(kernel) == (
        "NNGPKernel(weight_std=0.123, bias_std=None, depth=1, "
        "activation='leaky_relu', activation_params={'alpha': 0.1}, "
        "parameterization='standard', width=8)"
    )
    compound = ConstantKernel(2.0) * NTKKernel(depth=1) + WhiteKernel(0.5)
    assert repr(compound) == (
        "1.41**2 * NTKKernel(weight_std=1.5, bias_std=2, depth=1, "
        "activation='relu') + WhiteKernel(noise_level=0.5)"
    )
    # The repr of a base kernel evaluates back to an equal kernel.
    namespace = {"NTKKernel": NTKKernel, "NNGPKernel": NNGPKernel}
    assert eval(repr(NTKKernel(depth=3, weight_std=2.0)), namespace) == NTKKernel(
        depth=3, weight_std=2.0
    )


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=_ids(ALL_KERNELS))
def test_pickle_round_trip(kernel, X):
    restored = pickle.loads(pickle.dumps(kernel))
    assert restored == kernel
    np.testing.assert_array_equal(restored(X), kernel(X))


def test_flags():
    for kernel in (NTKKernel(), NNGPKernel()):
        assert not kernel.is_stationary()
        assert kernel.requires_vector_input
        assert kernel.n_dims == 2
    assert NTKKernel(bias_std=None).n_dims == 1
    assert NTKKernel(weight_std_bounds="fixed", bias_std_bounds="fixed").n_dims == 0


# ---------------------------------------------------------------------------
# Values and gradients of the infinite-width kernels themselves
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", BASE_KERNELS, ids=_ids(BASE_KERNELS))
def test_values_equal_compute_kernels(kernel, rng):
    x = make_inputs(rng, n=8, d=3)
    z = rng.standard_normal((8, 3))
    name = kernel._kernel
    # image_shape only reshapes inputs (None here); compute_kernels takes
    # every other parameter.
    arguments = {k: v for k, v in kernel.get_params().items()
                 if not k.endswith("_bounds") and k != "image_shape"}
    expected = getattr(compute_kernels(x, get=name, **arguments), name)
    np.testing.assert_array_equal(kernel(x), expected)
    # With the gradient the values come from the forward-mode pass (another
    # compiled program), equal to rounding.
    assert _relative(kernel(x, eval_gradient=True)[0], expected) < EXACT
    cross = getattr(compute_kernels(x, z, get=name, **arguments), name)
    np.testing.assert_array_equal(kernel(x, z), cross)


def test_gradient_tiles_equal_one_tile(monkeypatch, rng):
    x = make_inputs(rng, n=20, d=3, duplicates=False)
    kernel = NTKKernel(depth=1)
    K_whole, gradient_whole = kernel(x, eval_gradient=True)
    # 7 x 7 tiles (3 x 3 of them): diagonal, off-diagonal and padded tiles.
    monkeypatch.setattr(gp_kernels_module, "_TILE_SIDE", 7)
    K_tiled, gradient_tiled = kernel(x, eval_gradient=True)
    assert _relative(K_tiled, K_whole) < EXACT
    assert _relative(kernel(x), K_whole) < EXACT
    assert _relative(gradient_tiled, gradient_whole) < EXACT
    np.testing.assert_array_equal(gradient_tiled, np.swapaxes(gradient_tiled, 0, 1))


@pytest.mark.parametrize("kernel", BASE_KERNELS, ids=_ids(BASE_KERNELS))
def test_gradient_finite_with_duplicate_rows(kernel, rng):
    x = make_inputs(rng, n=8, d=3)  # row 7 duplicates row 0
    K, K_gradient = kernel(x, eval_gradient=True)
    assert np.all(np.isfinite(K_gradient))
    if K_gradient.shape[2] == 0:
        return
    # k(x0, x7) is k(x0, x0): the general formula at rho = 1 agrees with the
    # exact diagonal one to ~sqrt(eps) (a cancelled square root), and so must
    # its derivative.
    scale = np.max(np.abs(K_gradient))
    np.testing.assert_allclose(K_gradient[0, 7], K_gradient[0, 0], atol=1e-6 * scale)
    np.testing.assert_allclose(K_gradient[7, 7], K_gradient[0, 0], atol=EXACT * scale)


def test_gradient_by_hand_depth_zero(rng):
    # depth=0: K = w^2 x.x'/d + b^2 and the NTK equals it ("ntk"
    # parameterization), so dK/dlog w = 2 w^2 x.x'/d, dK/dlog b = 2 b^2.
    x = rng.standard_normal((6, 4))
    w, b = 1.7, 0.3
    linear = x @ x.T / 4
    for kernel in (NTKKernel(w, b, depth=0), NNGPKernel(w, b, depth=0)):
        K, gradient = kernel(x, eval_gradient=True)
        np.testing.assert_allclose(K, w**2 * linear + b**2, rtol=EXACT)
        np.testing.assert_allclose(gradient[..., 0], np.full((6, 6), 2 * b**2),
                                   rtol=EXACT)
        np.testing.assert_allclose(gradient[..., 1], 2 * w**2 * linear,
                                   rtol=0, atol=EXACT * np.abs(linear).max())


def test_outputs_are_fresh_writable_float64(rng):
    x = make_inputs(rng, n=8, d=3).astype(np.float32)
    kernel = NTKKernel()
    first = kernel(x)
    first[:] = 0.0  # GaussianProcessRegressor adds alpha in place
    K, gradient = kernel(x, eval_gradient=True)
    for array in (kernel(x), K, gradient, kernel.diag(x)):
        assert array.dtype == np.float64 and array.flags.writeable
    for array in (kernel(x), K, kernel.diag(x), gradient[:, :, 0], gradient[:, :, 1]):
        assert array.flags.c_contiguous
    assert np.all(kernel(x) > 0)
    # The gradient owns its buffer: nothing else shares it.
    assert not np.shares_memory(gradient, K)


def test_global_jax_config_untouched(rng):
    before = jax.config.jax_enable_x64
    NTKKernel()(make_inputs(rng, n=8, d=3), eval_gradient=True)
    assert jax.config.jax_enable_x64 == before


def test_bias_std_none_has_one_hyperparameter(rng):
    x = make_inputs(rng, n=8, d=3)
    kernel = NNGPKernel(depth=2, bias_std=None)
    K, gradient = kernel(x, eval_gradient=True)
    assert gradient.shape == (8, 8, 1)
    np.testing.assert_array_equal(kernel.theta, [np.log(1.5)])
    # Only weight_std is left: it matches the weight_std slice of bias_std=0
    # (same kernel, since with "ntk" no biases and zero biases coincide).
    _, gradient_zero = NNGPKernel(depth=2, bias_std=0.0,
                                  bias_std_bounds="fixed")(x, eval_gradient=True)
    np.testing.assert_allclose(gradient, gradient_zero, rtol=EXACT)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, match",
    [
        (NTKKernel(weight_std=0.0), "weight_std=0.0 must be finite and > 0"),
        (NTKKernel(weight_std=-1.0), "weight_std=-1.0"),
        (NTKKernel(bias_std=-0.1), "bias_std=-0.1"),
        (NTKKernel(weight_std_bounds=(0.0, 10.0)), "0 < low <= high"),
        (NNGPKernel(bias_std_bounds=(-1.0, 10.0)), "bias_std_bounds=\\(-1.0, 10.0\\)"),
        (NNGPKernel(bias_std_bounds=(10.0, 1.0)), "0 < low <= high"),
        (NNGPKernel(bias_std_bounds="fixd"), "'fixed' or a pair"),
        (NNGPKernel(weight_std_bounds=(1.0, 2.0, 3.0)), "'fixed' or a pair"),
        (NTKKernel(bias_std=0.0), "bias_std=0 cannot be tuned"),
        (NTKKernel(depth=-1), "depth=-1"),
        (NTKKernel(activation="nope"), "nope"),
        (NTKKernel(parameterization="standard"), "width"),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(kernel, match, rng):
    x = make_inputs(rng, n=8, d=3)
    for evaluate in (lambda: kernel(x), lambda: kernel(x, eval_gradient=True),
                     lambda: kernel.diag(x)):
        with pytest.raises(ValueError, match=match):
            evaluate()


def test_bad_bounds_raise_before_the_optimiser(rng):
    x = make_inputs(rng, n=8, d=3)
    gpr = GaussianProcessRegressor(kernel=NTKKernel(weight_std_bounds=(-1, 1)))
    with pytest.raises(ValueError, match="weight_std_bounds"):
        gpr.fit(x, x[:, 0])


def test_gradient_with_y_is_an_error(rng):
    x = make_inputs(rng, n=8, d=3)
    with pytest.raises(ValueError, match="only be evaluated when Y is None"):
        NTKKernel()(x, x, eval_gradient=True)


def test_bad_inputs_raise_clear_errors(rng):
    with pytest.raises(ValueError, match="features"):
        NTKKernel()(rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        NTKKernel()(np.full((3, 2), np.nan), eval_gradient=True)
    with pytest.raises(ValueError, match="2-D"):
        NNGPKernel().diag(np.ones(3))


# ---------------------------------------------------------------------------
# The estimators that use the kernels
# ---------------------------------------------------------------------------


# With a ConstantKernel in front, the scale and weight_std are nearly redundant
# (see the NTKKernel Notes) and separable classes push the latent scale up:
# hitting a bound there is expected, and scikit-learn warns about it.
_BOUND_WARNINGS_EXPECTED = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def _regression_data(rng, n=40, noise=0.1):
    # Nonlinear in both features: a linear kernel (depth 0) scores ~0.3 here,
    # a tuned RBF ~0.96 on 40 points.
    x = rng.standard_normal((n, 2))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2 + noise * rng.standard_normal(n)
    return x, y


def test_gpr_posterior_equals_numpy_posterior(rng):
    # The GP side of the NNGPRegressor(t=None) equivalence: mean and
    # covariance are K_*X (K + a I)^-1 y and K_** - K_*X (K + a I)^-1 K_X*.
    x, y = _regression_data(rng, n=25)
    z = rng.standard_normal((6, 2))
    kernel = NNGPKernel(1.3, 0.2, depth=3, activation="erf")
    alpha = 0.05
    gpr = GaussianProcessRegressor(kernel=kernel, alpha=alpha, optimizer=None)
    mean, cov = gpr.fit(x, y).predict(z, return_cov=True)
    k_train_train = kernel(x) + alpha * np.eye(len(x))
    k_test_train = kernel(z, x)
    expected_mean = k_test_train @ np.linalg.solve(k_train_train, y)
    expected_cov = kernel(z) - k_test_train @ np.linalg.solve(
        k_train_train, k_test_train.T
    )
    # Cholesky vs LU solves of a matrix with condition number ~1e3: 1e-10.
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-10, atol=1e-10)


@_BOUND_WARNINGS_EXPECTED
@pytest.mark.parametrize("kernel_class", [NTKKernel, NNGPKernel])
def test_gpr_optimises_marginal_likelihood_with_restarts(kernel_class, rng):
    x, y = _regression_data(rng, n=40)
    x_test, y_test = _regression_data(rng, n=40, noise=0.0)
    kernel = ConstantKernel() * kernel_class(depth=2) + WhiteKernel()
    gpr = GaussianProcessRegressor(kernel=kernel, n_restarts_optimizer=1,
                                   random_state=0)
    gpr.fit(x, y)
    initial = gpr.log_marginal_likelihood(kernel.theta)
    assert gpr.log_marginal_likelihood_value_ > initial + 1.0
    bounds = gpr.kernel_.bounds
    assert np.all(gpr.kernel_.theta >= bounds[:, 0] - 1e-9)
    assert np.all(gpr.kernel_.theta <= bounds[:, 1] + 1e-9)
    # At an interior optimum the exact gradient vanishes (a wrong gradient
    # would stop L-BFGS-B elsewhere).
    _, gradient = gpr.log_marginal_likelihood(gpr.kernel_.theta, eval_gradient=True)
    interior = ((gpr.kernel_.theta > bounds[:, 0] + 1e-3)
                & (gpr.kernel_.theta < bounds[:, 1] - 1e-3))
    assert np.all(np.abs(gradient[interior]) < 1e-2)
    # The tuned kernel generalises (NNGP ~0.98, NTK ~0.91, RBF ~0.96 here).
    assert gpr.score(x_test, y_test) > 0.85


@_BOUND_WARNINGS_EXPECTED
def test_gpc_optimises_with_restarts(rng):
    x = rng.standard_normal((40, 2))
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    x_test = rng.standard_normal((40, 2))
    labels_test = (x_test[:, 0] + 0.5 * x_test[:, 1] > 0).astype(int)
    kernel = ConstantKernel() * NTKKernel(depth=1)
    gpc = GaussianProcessClassifier(kernel=kernel, n_restarts_optimizer=1,
                                    random_state=0).fit(x, labels)
    assert gpc.log_marginal_likelihood_value_ > gpc.log_marginal_likelihood(
        kernel.theta
    )
    assert gpc.score(x_test, labels_test) > 0.9
    probabilities = gpc.predict_proba(x_test)
    assert np.all(np.isfinite(probabilities))


def test_svc_with_kernel_instance_equals_precomputed(rng):
    x = rng.standard_normal((50, 3))
    labels = (np.sin(2 * x[:, 0]) + x[:, 2] > 0).astype(int)
    z = rng.standard_normal((20, 3))
    kernel = NTKKernel(depth=3, activation="erf")
    svc = SVC(kernel=kernel).fit(x, labels)
    precomputed = SVC(kernel="precomputed").fit(kernel(x), labels)
    np.testing.assert_allclose(
        svc.decision_function(z), precomputed.decision_function(kernel(z, x)),
        rtol=1e-10, atol=1e-10,
    )
    assert svc.score(x, labels) > 0.8
    # The SVC (and its kernel) clones and pickles.
    restored = pickle.loads(pickle.dumps(svc))
    np.testing.assert_array_equal(restored.predict(z), svc.predict(z))
    assert clone(svc).get_params()["kernel__depth"] == 3


def test_kernel_ridge_precomputed_and_callable(rng):
    x, y = _regression_data(rng, n=30)
    z = rng.standard_normal((7, 2))
    kernel = NNGPKernel(depth=2)
    ridge = KernelRidge(kernel="precomputed", alpha=0.1).fit(kernel(x), y)
    prediction = ridge.predict(kernel(z, x))
    expected = kernel(z, x) @ np.linalg.solve(kernel(x) + 0.1 * np.eye(30), y)
    np.testing.assert_allclose(prediction, expected, rtol=1e-10, atol=1e-10)
    # pairwise_kernels calls GP kernels on whole matrices, so the instance
    # works as KernelRidge's kernel too.
    by_instance = KernelRidge(kernel=kernel, alpha=0.1).fit(x, y).predict(z)
    np.testing.assert_allclose(by_instance, prediction, rtol=1e-10, atol=1e-10)


def test_grid_search_over_depth(rng):
    x, y = _regression_data(rng, n=40)
    gpr = GaussianProcessRegressor(kernel=NNGPKernel(), alpha=0.01, optimizer=None)
    search = GridSearchCV(gpr, {"kernel__depth": [0, 2]}, cv=2).fit(x, y)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.kernel_.depth == search.best_params_["kernel__depth"]
    # depth 0 is linear in x and cannot fit sin(x0): the search must see it.
    scores = dict(zip([0, 2], search.cv_results_["mean_test_score"]))
    assert scores[0] < scores[2]
    # Nested: the kernel inside a product, searched together with its scale.
    compound = GaussianProcessRegressor(
        kernel=ConstantKernel() * NNGPKernel(), alpha=0.01, optimizer=None
    )
    grid = {"kernel__k2__depth": [0, 2], "kernel__k1__constant_value": [1.0]}
    search = GridSearchCV(compound, grid, cv=2).fit(x, y)
    assert search.best_params_["kernel__k2__depth"] == 2


@_BOUND_WARNINGS_EXPECTED
def test_fitted_gpr_pickles(rng):
    x, y = _regression_data(rng, n=40)
    gpr = GaussianProcessRegressor(kernel=NTKKernel() + WhiteKernel(),
                                   random_state=0).fit(x, y)
    restored = pickle.loads(pickle.dumps(gpr))
    z = rng.standard_normal((5, 2))
    np.testing.assert_array_equal(restored.predict(z), gpr.predict(z))

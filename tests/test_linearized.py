"""LinearizedMLP: the finite-width side of the science, and the sklearn contract.

Widths and seeds are chosen so that the file runs in about two minutes on a
shared 2-core machine; most of that is XLA compilation for each new shape.
"""

import pickle
import warnings

import jax
import numpy as np
import pytest
import scipy.linalg
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ntk import LinearizedMLP, NTKRegressor, compute_kernels
from sklearn_ntk._architecture import make_architecture
from sklearn_ntk._finite_network import apply_network, empirical_kernels, init_params
from sklearn_ntk._precision import x64_scope


def _data(n=16, n_test=10, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x, x_test = rng.standard_normal((n, d)), rng.standard_normal((n_test, d))
    return x, np.sin(x[:, 0]) + 0.5 * x[:, 1], x_test


def _slope(widths, values):
    return np.polyfit(np.log(widths), np.log(values), 1)[0]


# -- scikit-learn contract -------------------------------------------------

# The fixed-step 'gd' tests below were calibrated with bias_std=0.05: the
# default bias_std=2.0 adds a large constant mode to the NTK, whose top
# eigenvalue then bounds the stable step (learning_rate < 2 y.size /
# lambda_max) to ~0.05-0.1 on these data, below the steps used here. They
# also set diag_reg=0 where they compare with the unregularised flow.
_GD_STABLE = dict(bias_std=0.05)

# 'gd' with the defaults (learning_rate="auto", diag_reg=0.1, t=None): the
# step adapts to the checks' unscaled inputs X ~ N(100, 1), whose NTK is ~1e5
# times larger than on standardised data, and trains to a good fit.
_GD_CHECKED = LinearizedMLP(width=16, solver="gd", max_iter=300, tol=1e-3, random_state=0)


@parametrize_with_checks([LinearizedMLP(width=16, random_state=0), _GD_CHECKED])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_gd_fits_standardised_data():
    x, y, _ = _data(n=40)
    for linearize in (True, False):
        model = LinearizedMLP(width=64, solver="gd", t=400, learning_rate=0.2,
                              linearize=linearize, random_state=0,
                              **_GD_STABLE).fit(x, y)
        # 400 steps at learning_rate 0.2 fit the smooth target closely.
        assert model.score(x, y) > 0.95
        assert model.n_iter_[0] == 400 and len(model.loss_curve_[0]) == 401
        # A stable linearised descent never increases the loss.
        if linearize:
            assert np.all(np.diff(model.loss_curve_[0]) <= 1e-15)


@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_same_seed_same_predictions_bit_for_bit(solver):
    x, y, x_test = _data()
    kwargs = dict(width=32, n_ensemble=2, solver=solver, t=30.0, learning_rate=0.2,
                  **_GD_STABLE)
    first = LinearizedMLP(random_state=7, **kwargs).fit(x, y).predict(x_test)
    again = LinearizedMLP(random_state=7, **kwargs).fit(x, y).predict(x_test)
    other = LinearizedMLP(random_state=8, **kwargs).fit(x, y).predict(x_test)
    np.testing.assert_array_equal(first, again)
    assert np.max(np.abs(first - other)) > 1e-3


def test_fitted_state_is_numpy_and_pickles():
    x, y, x_test = _data()
    model = LinearizedMLP(width=16, n_ensemble=3, t=5.0, random_state=0).fit(x, y)
    leaves = [leaf for member in model.params_ + model.initial_params_
              for layer in member for leaf in layer]
    assert all(type(leaf) is np.ndarray and leaf.dtype == np.float64 for leaf in leaves)
    assert model.params_[0][0][0].shape == (3, 16)  # first W: (n_features, width)
    assert model.weight_change_["layers"].shape == (3, 3)
    assert model.weight_change_["total"].shape == (3,)
    assert model.empirical_ntk_.shape == (3, 16, 16)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(x_test), model.predict(x_test))
    unfitted = clone(model)
    assert not hasattr(unfitted, "params_")


def test_return_std_is_the_spread_across_members():
    x, y, x_test = _data()
    model = LinearizedMLP(width=16, n_ensemble=3, t=5.0, random_state=0).fit(x, y)
    mean, std = model.predict(x_test, return_std=True)
    # Each member's linearised output, from its stored parameters.
    outputs = []
    with x64_scope():
        arch, ws, bs = make_architecture(width=16)
        for params0, params in zip(model.initial_params_, model.params_):
            f0 = apply_network(params0, x_test, ws, bs, architecture=arch)
            _, jvp = jax.jvp(
                lambda p: apply_network(p, x_test, ws, bs, architecture=arch),
                (params0,),
                (jax.tree_util.tree_map(np.subtract, params, params0),))
            outputs.append(np.asarray(f0 + jvp)[:, 0])
    # Same arithmetic up to reordering: 1e-12 relative.
    np.testing.assert_allclose(mean, np.mean(outputs, axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, np.std(outputs, axis=0), rtol=1e-9, atol=1e-12)
    single = LinearizedMLP(width=16, t=5.0, random_state=0).fit(x, y)
    np.testing.assert_array_equal(single.predict(x_test, return_std=True)[1], 0.0)


def test_verbose_reports_progress_and_t_none_stops_when_stalled(capsys):
    x, y, _ = _data()
    model = LinearizedMLP(width=16, solver="gd", t=None, learning_rate=0.2,
                          max_iter=5000, tol=1e-3, verbose=1, random_state=0,
                          **_GD_STABLE)
    model.fit(x, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(line.startswith("LinearizedMLP: network 1/1, step") for line in lines)
    # Stopped at a 100-step boundary once the loss (or its decrease over 100
    # steps) fell below tol x the initial loss, well before max_iter.
    curve = model.loss_curve_[0]
    assert model.n_iter_[0] % 100 == 0 and model.n_iter_[0] < 5000
    assert min(curve[-1], curve[-101] - curve[-1]) <= 1e-3 * curve[0]


def test_pipeline_and_grid_search():
    x, y, _ = _data(n=30)
    pipeline = make_pipeline(StandardScaler(), LinearizedMLP(width=16, random_state=0))
    search = GridSearchCV(pipeline, {"linearizedmlp__t": [1.0, 100.0],
                                     "linearizedmlp__depth": [1, 2]}, cv=3)
    search.fit(x * 10 + 3, y)
    assert search.best_score_ > 0.5
    assert set(search.best_params_) == {"linearizedmlp__t", "linearizedmlp__depth"}


def test_multi_output_shapes():
    x, y, x_test = _data()
    targets = np.c_[y, np.cos(x[:, 2])]
    model = LinearizedMLP(width=16, t=5.0, random_state=0).fit(x, targets)
    mean, std = model.predict(x_test, return_std=True)
    assert mean.shape == std.shape == (10, 2)
    assert model.empirical_ntk_.shape == (1, 16, 16, 2, 2)


def test_clear_errors():
    x, y, _ = _data()
    with pytest.raises(ValueError, match="linearize=False use solver='gd'"):
        LinearizedMLP(solver="exact", linearize=False).fit(x, y)
    with pytest.raises(ValueError, match="width"):
        LinearizedMLP(width=0).fit(x, y)
    with pytest.raises(ValueError, match="n_ensemble"):
        LinearizedMLP(n_ensemble=0).fit(x, y)
    with pytest.raises(ValueError, match="activation"):
        LinearizedMLP(activation="no-such-activation").fit(x, y)
    # The divergence message computes the stable bound 2 y.size / lambda_max.
    with pytest.raises(ValueError, match=r"2 \* y.size / lambda_max\(NTK \+ regularizer\) = "):
        LinearizedMLP(width=16, solver="gd", t=200, learning_rate=50.0,
                      random_state=0).fit(x * 100, y)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        LinearizedMLP(width=16, solver="gd", t=30, max_iter=10,
                      learning_rate=0.1, random_state=0).fit(x, y)


# -- the closed form, checked independently ---------------------------------


def test_exact_equals_dense_jacobian_closed_form():
    """f_t = f_0 + J_* J^T (J J^T)^-1 (I - expm(-tau J J^T)) (Y - f_0), built
    here from a dense Jacobian and scipy's expm (independent of the
    estimator's per-layer NTK, eigendecomposition and VJP)."""
    x, y, x_test = _data(n=8)
    targets = np.c_[y, np.cos(x[:, 2])]
    t, learning_rate = 3.0, 0.7
    model = LinearizedMLP(width=12, depth=2, activation="erf", bias_std=0.3,
                          parameterization="standard", t=t, diag_reg=0.0,
                          learning_rate=learning_rate, random_state=0)
    model.fit(x, targets)
    arch, ws, bs = make_architecture(depth=2, activation="erf", bias_std=0.3,
                                     parameterization="standard", width=12)
    with x64_scope():
        params0 = jax.tree_util.tree_map(np.asarray, model.initial_params_[0])

        def jacobian(inputs):
            full = jax.jacobian(
                lambda p: apply_network(p, inputs, ws, bs, architecture=arch))(params0)
            return np.concatenate([np.asarray(leaf).reshape(len(inputs) * 2, -1)
                                   for leaf in jax.tree_util.tree_leaves(full)], axis=1)

        f0 = np.asarray(apply_network(params0, x, ws, bs, architecture=arch))
        f0_test = np.asarray(apply_network(params0, x_test, ws, bs, architecture=arch))
        j_train, j_test = jacobian(x), jacobian(x_test)
    ntk = j_train @ j_train.T
    tau = learning_rate * t / targets.size
    decay = np.eye(len(ntk)) - scipy.linalg.expm(-tau * ntk)
    weights = np.linalg.solve(ntk, decay @ (targets - f0).ravel())
    expected = f0_test + (j_test @ j_train.T @ weights).reshape(f0_test.shape)
    # float64; condition number of this 16 x 16 NTK is ~1e3: 1e-9 relative.
    np.testing.assert_allclose(model.predict(x_test), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        model.empirical_ntk_[0], ntk.reshape(8, 2, 8, 2).transpose(0, 2, 1, 3),
        rtol=1e-10, atol=1e-12)


def test_exact_and_gd_agree_for_small_learning_rates():
    """Per NTK eigenmode with x = learning_rate lambda / N <= x_max < 1 the
    residual factors of k steps and of the flow for the same time differ by
    |exp(-k x) - (1 - x)^k| <= k x^2/2 exp(-(k-1) x) <= x_max e^x_max / (2e),
    so ||f_gd(X) - f_exact(X)|| <= x_max e^x_max / (2e) ||Y - f_0(X)||, and
    the gap is first order in the step (halving it halves the gap)."""
    x, y, _ = _data()
    time_scale = 4.0  # learning_rate * t, the same training time for each step
    gaps = []
    for learning_rate in (0.2, 0.1):
        kwargs = dict(width=64, t=time_scale / learning_rate, diag_reg=0.0,
                      learning_rate=learning_rate, random_state=3, **_GD_STABLE)
        exact = LinearizedMLP(solver="exact", **kwargs).fit(x, y)
        gd = LinearizedMLP(solver="gd", **kwargs).fit(x, y)
        gap = np.linalg.norm(gd.predict(x) - exact.predict(x))
        x_max = learning_rate * np.linalg.eigvalsh(exact.empirical_ntk_[0]).max() / y.size
        initial_residual = np.sqrt(2 * y.size * exact.loss_curve_[0][0])
        assert x_max < 1
        assert gap <= x_max * np.exp(x_max) / (2 * np.e) * initial_residual
        gaps.append(gap)
    # First order: the ratio is 2 up to O(step) corrections.
    assert 1.6 < gaps[0] / gaps[1] < 2.4


def test_t_none_interpolates_and_is_the_long_time_limit():
    x, y, _ = _data()
    infinite = LinearizedMLP(width=64, diag_reg=0.0, random_state=0).fit(x, y)
    # 64-wide net has ~4.5k parameters >> 16 samples: the NTK is full rank.
    np.testing.assert_allclose(infinite.predict(x), y, atol=1e-8)
    late = LinearizedMLP(width=64, t=1e7, diag_reg=0.0, random_state=0).fit(x, y)
    _, _, x_test = _data()
    np.testing.assert_allclose(late.predict(x_test), infinite.predict(x_test),
                               atol=1e-6)


@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_t_inf_is_t_none(solver):
    # The docstring's "None (or inf)": the same fit, bit for bit, for either
    # solver ('gd' then runs until the loss stalls; with the default tol it
    # stops well before max_iter on 16 rows, so no ConvergenceWarning).
    x, y, x_test = _data()
    kwargs = dict(width=16, solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        none = LinearizedMLP(t=None, **kwargs).fit(x, y).predict(x_test)
        inf = LinearizedMLP(t=np.inf, **kwargs).fit(x, y).predict(x_test)
    np.testing.assert_array_equal(inf, none)


# -- the infinite-width limit ------------------------------------------------


@pytest.mark.slow
def test_empirical_ntk_converges_to_compute_kernels():
    """Monte Carlo: entries of the empirical NTK fluctuate by O(width^-1/2)
    around the analytic kernel (plus an O(1/width) bias)."""
    x = np.random.default_rng(0).standard_normal((6, 3))
    arch_kwargs = dict(depth=2, activation="relu", weight_std=1.5, bias_std=0.05)
    analytic = compute_kernels(x, **arch_kwargs).ntk
    arch, ws, bs = make_architecture(**arch_kwargs)
    widths, seeds = [64, 256, 1024, 4096], range(4)
    errors, mean_kernels = [], []
    with x64_scope():
        for width in widths:
            kernels = np.array([
                empirical_kernels(init_params(jax.random.PRNGKey(seed), 3, width,
                                              arch, ws, bs),
                                  x, x, ws, bs, architecture=arch)[1]
                for seed in seeds])
            errors.append(np.mean([np.linalg.norm(k - analytic) for k in kernels])
                          / np.linalg.norm(analytic))
            mean_kernels.append(kernels.mean(axis=0))
    # Measured: relative errors 0.25, 0.20, 0.10, 0.035 (slope -0.47); the
    # CLT slope is -1/2, and 4 seeds x 4 widths pin it to about +-0.2.
    assert -0.75 < _slope(widths, errors) < -0.3
    # At 4096 the seed-averaged kernel is within 3 standard errors
    # (3 x 0.035 / sqrt(4) ~ 0.05) of the analytic one.
    assert np.linalg.norm(mean_kernels[-1] - analytic) < 0.05 * np.linalg.norm(analytic)


@pytest.mark.slow
def test_ensemble_mean_approaches_ntk_gp_mean():
    """The ensemble mean converges to NTKRegressor's mean,
    Theta_*X Theta^-1 (I - e^{-tau Theta}) Y, as width and n_ensemble grow;
    its error is the Monte Carlo error of the NTK-GP, whose variance is
    NTKRegressor's covariance (Lee et al. 2019, eq. 16)."""
    x, y, x_test = _data()
    t, learning_rate = 20.0, 1.0
    mean, covariance = NTKRegressor(t=t, learning_rate=learning_rate, diag_reg=0.0).fit(
        x, y).predict(x_test, return_cov=True)
    variance = np.mean(np.diag(covariance))
    errors, bounds = [], []
    for width, n_ensemble in [(16, 4), (64, 16), (256, 64)]:
        rmse = [np.sqrt(np.mean((LinearizedMLP(
            width=width, n_ensemble=n_ensemble, t=t, learning_rate=learning_rate,
            diag_reg=0.0, random_state=seed).fit(x, y).predict(x_test) - mean) ** 2))
            for seed in range(2)]
        errors.append(np.mean(rmse))
        bounds.append(np.sqrt(variance / n_ensemble))
    # Measured (3 seeds): 0.18, 0.085, 0.061 against Monte Carlo 0.21, 0.11,
    # 0.053: each within a factor 2 of the Monte Carlo error, and decreasing.
    assert errors[0] > errors[1] > errors[2]
    for error, bound in zip(errors, bounds):
        assert error < 2 * bound


@pytest.mark.slow
def test_weight_change_shrinks_with_width():
    """NTK parameterization, depth 2: each layer moves by O(1) in Frobenius
    norm, so relative to its initial norm the first layer (d x n) and the
    readout (n x 1) move as n^-1/2 and the n x n hidden layer as n^-1; the
    whole vector, dominated by the n x n layer, as n^-1 -- faster than the
    O(n^-1/2) bound of Lee et al. (2019, Theorem G.1)."""
    x, y, _ = _data()
    widths = [64, 256, 1024]
    changes = [LinearizedMLP(width=width, n_ensemble=2, random_state=0).fit(x, y)
               .weight_change_ for width in widths]
    layers = np.array([change["layers"].mean(axis=0) for change in changes])
    total = np.array([change["total"].mean() for change in changes])
    # Measured with two seed sets: first layer -0.48 / -0.50, hidden -0.97 /
    # -0.98, readout -0.55 / -0.35 (the readout's O(1) movement fluctuates
    # most between networks), total -0.98 / -0.97. The bands separate the
    # two theoretical rates (-1/2 and -1) with room for that spread.
    assert -0.75 < _slope(widths, layers[:, 0]) < -0.25
    assert -1.2 < _slope(widths, layers[:, 1]) < -0.8
    assert -0.75 < _slope(widths, layers[:, 2]) < -0.25
    assert _slope(widths, total) < -0.75


@pytest.mark.slow
def test_linearised_and_real_training_agree_as_width_grows():
    """Lee et al. (2019), Theorem 2.1: sup_t |f_lin - f| = O(width^-1/2).

    The gap of a single network at a handful of points fluctuates by a
    factor of ~4 between seeds, so it is averaged over 3 seeds and 30 test
    points, and the widths span a factor of 32."""
    x, y, _ = _data()
    x_test = np.random.default_rng(1).standard_normal((30, 3))
    widths, gaps = [32, 256, 1024], []
    for width in widths:
        gap = []
        for seed in range(3):
            kwargs = dict(width=width, solver="gd", t=50, learning_rate=0.4,
                          random_state=seed, **_GD_STABLE)
            linear = LinearizedMLP(**kwargs).fit(x, y).predict(x_test)
            real = LinearizedMLP(linearize=False, **kwargs).fit(x, y).predict(x_test)
            gap.append(np.sqrt(np.mean((linear - real) ** 2)))
        gaps.append(np.mean(gap))
    # Measured slopes with three seed sets: -0.64, -0.70 (widths 32..2048)
    # and -0.41 (32..1024): the -1/2 of the bound up to a seed spread of
    # about +-0.15, hence -0.3 (a gap at least 2.8 times smaller at 1024).
    assert gaps[0] > gaps[1] > gaps[2]
    assert _slope(widths, gaps) < -0.3


# -- defaults: the auto step, diag_reg under 'gd', NTKRegressor's limit -----------


def _empirical_ntk_scale(model, x, y):
    """lambda_max and the absolute regulariser of each member's empirical NTK,
    from an 'exact' fit with the same seeds (eigvalsh of the dense kernel,
    independent of the estimator's power iteration and trace)."""
    exact = clone(model).set_params(solver="exact", linearize=True).fit(x, y)
    ntks = exact.empirical_ntk_
    max_eigenvalues = np.array([np.linalg.eigvalsh(k).max() for k in ntks])
    regularizers = model.diag_reg * np.array([np.mean(np.diag(k)) for k in ntks])
    return max_eigenvalues, regularizers


def _diabetes_like_cases():
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    standardised = StandardScaler().fit_transform(x)
    unscaled = np.random.default_rng(0).normal(100.0, 1.0, (60, 4))  # the checks' X
    return {
        "diabetes, standardised X, raw y": (standardised, y),
        "diabetes, X * 1000": (1000 * x, y),
        "N(100, 1) features": (unscaled, unscaled[:, 0] - 100.0),
    }


@pytest.mark.parametrize("case", list(_diabetes_like_cases()))
def test_auto_step_never_diverges(case):
    """learning_rate='auto' (the default) takes y.size / (lambda_max + r):
    between 1 and 2 times below the divergence threshold
    2 y.size / (lambda_max + r), whatever the scale of X. The old default
    learning_rate=1.0 is beyond the threshold on all three data sets."""
    x, y = _diabetes_like_cases()[case]
    for linearize in (True, False):
        # Defaults except a small width and 100 steps, to keep the test fast.
        model = LinearizedMLP(width=32, solver="gd", max_iter=100, linearize=linearize,
                              random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        curve = model.loss_curve_[0]
        assert np.all(np.isfinite(curve)) and curve[-1] < 0.9 * curve[0]
        if linearize:
            # A step below 2 / L of the quadratic never raises the loss
            # (1e-12 relative: rounding of a loss of ~1e4).
            assert np.all(np.diff(curve) <= 1e-12 * curve[0])
    max_eigenvalue, regularizer = _empirical_ntk_scale(model, x, y)
    threshold = 2 * y.size / (max_eigenvalue + regularizer)
    # Power iteration approaches lambda_max from below: the step is at
    # least half the threshold, and (1e-6 relative) at most the threshold.
    ratio = model.step_size_ / threshold
    assert np.all((0.5 - 1e-6 <= ratio) & (ratio < 1.0))
    assert np.all(threshold < 1.0)


def test_gd_diag_reg_converges_to_the_exact_kernel_ridge():
    """With diag_reg, 'gd' minimises 0.5 mean((f - y)^2) + r / (2 N)
    ||theta - theta_0||^2, r = diag_reg * mean(diag NTK); for the linearised
    network its minimiser is theta_0 + J^T (Theta + r I)^-1 (Y - f_0): the
    'exact' solution at t=None, kernel ridge regression with the NTK."""
    x, y, x_test = _data()
    kwargs = dict(width=32, diag_reg=0.5, random_state=0)
    exact = LinearizedMLP(solver="exact", **kwargs).fit(x, y)
    gd = LinearizedMLP(solver="gd", max_iter=1500, tol=0.0, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: all 1500 steps
        gd.fit(x, y)
    # Condition number (lambda_max + r) / (lambda_min + r) <= 1 + n / 0.5 =
    # 33, so 1500 steps of 1 / L shrink the error by (1 - 1/33)^1500 < 1e-19:
    # what is left is rounding (1e-9 relative allows the float64 solve).
    scale = np.abs(exact.predict(x_test)).max()
    np.testing.assert_allclose(gd.predict(x_test), exact.predict(x_test),
                               rtol=0, atol=1e-9 * scale)
    for gd_layer, exact_layer in zip(gd.params_[0], exact.params_[0]):
        for gd_leaf, exact_leaf in zip(gd_layer, exact_layer):
            np.testing.assert_allclose(gd_leaf, exact_leaf, rtol=0,
                                       atol=1e-9 * np.abs(exact_leaf).max())
    # The penalty does act: the unregularised solution interpolates.
    assert np.abs(exact.predict(x) - y).max() > 0.05
    interpolating = LinearizedMLP(solver="exact", width=32, diag_reg=0.0,
                                  random_state=0).fit(x, y)
    np.testing.assert_allclose(interpolating.predict(x), y, atol=1e-8)


def test_defaults_and_time_units_are_ntk_regressors():
    """LinearizedMLP's defaults are NTKRegressor's, and learning_rate='auto'
    keeps NTKRegressor's time unit (learning_rate=1.0): same tau for the
    same t, whatever step 'gd' takes."""
    ours, theirs = LinearizedMLP().get_params(), NTKRegressor().get_params()
    assert ours["t"] == theirs["t"] and ours["diag_reg"] == theirs["diag_reg"]
    assert ours["learning_rate"] == "auto" and theirs["learning_rate"] == 1.0
    x, y, x_test = _data()
    kwargs = dict(width=32, t=3.0, random_state=0)
    auto = LinearizedMLP(solver="exact", **kwargs).fit(x, y).predict(x_test)
    one = LinearizedMLP(solver="exact", learning_rate=1.0, **kwargs).fit(x, y)
    np.testing.assert_array_equal(auto, one.predict(x_test))
    gd = LinearizedMLP(solver="gd", **kwargs).fit(x, y)
    # k steps of size eta last t = k eta in units of learning_rate=1.
    steps = int(np.ceil(3.0 / gd.step_size_[0]))
    assert gd.n_iter_[0] == steps
    # Per NTK eigenmode with x = eta (lambda + r) / N <= x_max the residual
    # factors of k steps and of the flow differ by at most x_max e^x_max /
    # (2e) (see test_exact_and_gd_agree_for_small_learning_rates).
    max_eigenvalue, regularizer = _empirical_ntk_scale(gd, x, y)
    x_max = gd.step_size_[0] * (max_eigenvalue[0] + regularizer[0]) / y.size
    initial_residual = np.sqrt(2 * y.size * one.loss_curve_[0][0])
    gap = np.linalg.norm(gd.predict(x) - one.predict(x))
    assert gap <= x_max * np.exp(x_max) / (2 * np.e) * initial_residual


@pytest.mark.slow
def test_wide_ensemble_of_defaults_converges_to_ntk_regressor_defaults():
    """LinearizedMLP() (defaults but n_ensemble) against NTKRegressor():
    over random initialisations a wide network's trained output at x is
    Gaussian with NTKRegressor's mean and variance (Lee et al. 2019, eq. 16,
    with the regularised NTK), so the ensemble mean of M networks has
    z = (mean_M - mu) / (sigma / sqrt M) ~ N(0, 1) at each test point.

    Statistics (width 512, M = 48, 5 training and 10 new points):
    max |z| below the Bonferroni bound 3.99 (family-wise level 1e-3 over 15
    points, valid for correlated z), and the Mahalanobis distance
    M d^T Sigma^-1 d of the joint covariance below chi^2_15's 0.999
    quantile, 37.7. Measured here (seed 0): max |z| 1.98, Mahalanobis 14.6
    (15 expected), member spread / sigma 1.03; over 4 other seeds at M = 32:
    max |z| 1.4-2.4, Mahalanobis 9.7-19.4. The previous default, diag_reg=0,
    interpolates the training points and fails both (measured: max |z|
    4.95, Mahalanobis 88)."""
    x, y, x_new = _data()
    x_test = np.vstack([x[:5], x_new])
    mu, covariance = NTKRegressor().fit(x, y).predict(x_test, return_cov=True)
    sigma = np.sqrt(np.diag(covariance))
    n_ensemble = 48

    def statistics(prediction):
        z = (prediction - mu) / (sigma / np.sqrt(n_ensemble))
        difference = prediction - mu
        return (np.abs(z).max(),
                n_ensemble * difference @ np.linalg.solve(covariance, difference))

    model = LinearizedMLP(n_ensemble=n_ensemble, random_state=0).fit(x, y)
    mean, std = model.predict(x_test, return_std=True)
    max_z, mahalanobis = statistics(mean)
    assert max_z < 3.99 and mahalanobis < 37.7
    # The spread across members estimates sigma: with 47 degrees of freedom
    # the sample std is within +-30% of sigma at 3 standard errors
    # (3 / sqrt(2 * 47) = 0.31) on average over the points.
    assert 0.7 < np.mean(std / sigma) < 1.3
    # Power: the previous default (diag_reg=0) predicts y at the training
    # points whatever the seed (asserted above); those z-scores alone fail.
    old_max_z, old_mahalanobis = statistics(np.r_[y[:5], mean[5:]])
    assert old_max_z > 3.99 and old_mahalanobis > 37.7

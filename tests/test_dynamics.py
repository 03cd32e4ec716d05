"""Closed-form gradient-flow dynamics: limits, identities and numerics.

Independent constructions used as expectations:
* ``scipy.linalg.expm`` for ``exp(-tau Theta)`` (Pade, not eigenvalues);
* the linear map ``f_t = f_0 + Theta_*X M (y - f_0(X))`` with
  ``M = Theta^{-1}(I - exp(-tau Theta))``, whose covariance is computed by
  brute-force matrix products from the joint prior covariance;
* ``GaussianProcessRegressor`` with a precomputed NNGP kernel;
* ``numpy.linalg.pinv`` for the minimum-norm solution of a singular kernel.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import Kernel

from sklearn_ntk import NNGPRegressor, NTKRegressor, compute_kernels
from sklearn_ntk._dynamics import (
    GradientFlowSolver,
    IllConditionedKernelWarning,
    nngp_covariance,
    ntk_covariance,
    spectral_filter,
    time_to_tau,
)
from tests.conftest import make_inputs

# float64, kernels of condition number <= ~1e5 (diag_reg >= 1e-3): solutions
# are accurate to ~cond * eps ~ 1e-11 relative; 1e-9 leaves a wide margin.
TOL = 1e-9
ARCH = dict(depth=2, activation="relu", weight_std=1.5, bias_std=0.05)


def _relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.fixture
def problem(rng):
    x_train = make_inputs(rng, n=25, d=4, duplicates=False)
    x_test = rng.standard_normal((7, 4))
    x_all = np.concatenate([x_test, x_train])
    joint = compute_kernels(x_all, **ARCH)
    y = rng.standard_normal((25, 2))
    return joint, y


def _blocks(joint, n_test=7):
    def split(k):
        return k[:n_test, :n_test], k[:n_test, n_test:], k[n_test:, n_test:]
    return split(joint.nngp), split(joint.ntk)


def _regularized(k, diag_reg):
    return k + diag_reg * np.mean(np.diag(k)) * np.eye(len(k))


def _linear_map_prediction(kernel_train, kernel_test_train, joint_prior, y, tau, n_test=7):
    """Mean and covariance of ``f_t = A [f_0(X*); f_0(X)] + B y`` by brute force."""
    n = len(kernel_train)
    m = np.linalg.solve(kernel_train, np.eye(n) - scipy.linalg.expm(-tau * kernel_train))
    a = np.concatenate([np.eye(n_test), -kernel_test_train @ m], axis=1)
    return kernel_test_train @ m @ y, a @ joint_prior @ a.T


@pytest.mark.parametrize("tau", [0.0, 1e-3, 0.1, 3.0])
@pytest.mark.parametrize("diag_reg", [1e-3, 0.1])
def test_ntk_mean_and_covariance_equal_the_linear_map(problem, tau, diag_reg):
    joint, y = problem
    (k_tt, k_td, k_dd), (t_tt, t_td, t_dd) = _blocks(joint)
    theta = _regularized(t_dd, diag_reg)
    solver = GradientFlowSolver(t_dd, diag_reg)
    mean = t_td @ solver.weights(y, tau)
    cov = ntk_covariance(solver, t_td, k_td, k_dd, k_tt, tau)
    expected_mean, expected_cov = _linear_map_prediction(theta, t_td, joint.nngp, y, tau)
    assert _relative(mean, expected_mean) < TOL if tau else np.all(mean == 0)
    assert _relative(cov, expected_cov) < TOL
    variance = ntk_covariance(solver, t_td, k_td, k_dd, np.diag(k_tt), tau, diag_only=True)
    assert _relative(variance, np.diag(expected_cov)) < TOL


@pytest.mark.parametrize("tau", [0.0, 1e-3, 0.1, 3.0])
def test_nngp_mean_and_covariance_equal_the_linear_map(problem, tau):
    # Without regulariser the NNGP formula K** - K*X K^-1 (I - e^{-2 tau K}) KX*
    # is exactly the covariance of the readout-trained linear map.
    joint, y = problem
    (k_tt, k_td, k_dd), _ = _blocks(joint)
    solver = GradientFlowSolver(k_dd, 0.0)
    mean = k_td @ solver.weights(y, tau)
    cov = nngp_covariance(solver, k_td, k_tt, tau)
    expected_mean, expected_cov = _linear_map_prediction(k_dd, k_td, joint.nngp, y, tau)
    # The NNGP train kernel is less well conditioned (cond ~1e6): 1e-8.
    assert _relative(mean, expected_mean) < 1e-8 if tau else np.all(mean == 0)
    assert _relative(cov, expected_cov) < 1e-8


def test_time_zero_is_the_prior(problem):
    joint, y = problem
    (k_tt, k_td, k_dd), (_, t_td, t_dd) = _blocks(joint)
    ntk = GradientFlowSolver(t_dd, 0.1)
    nngp = GradientFlowSolver(k_dd, 0.1)
    np.testing.assert_array_equal(ntk.weights(y, 0.0), 0.0)
    # At t = 0 the ensemble is the network at initialisation: N(0, K**).
    np.testing.assert_allclose(ntk_covariance(ntk, t_td, k_td, k_dd, k_tt, 0.0), k_tt,
                               rtol=0, atol=1e-14 * np.abs(k_tt).max())
    np.testing.assert_allclose(nngp_covariance(nngp, k_td, k_tt, 0.0), k_tt,
                               rtol=0, atol=1e-14 * np.abs(k_tt).max())


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
def test_long_times_converge_to_infinite_time(problem, kind):
    joint, y = problem
    (k_tt, k_td, k_dd), (_, t_td, t_dd) = _blocks(joint)
    train, test_train = (k_dd, k_td) if kind == "nngp" else (t_dd, t_td)
    solver = GradientFlowSolver(train, 1e-2)
    smallest = np.linalg.eigvalsh(_regularized(train, 1e-2)).min()
    # exp(-tau * lambda_min) = e^-60 ~ 1e-26: the finite-time answer must agree
    # with the Cholesky one to rounding.
    tau = 60.0 / smallest
    assert _relative(test_train @ solver.weights(y, tau),
                     test_train @ solver.weights(y, None)) < TOL
    if kind == "ntk":
        a = ntk_covariance(solver, t_td, k_td, k_dd, k_tt, tau)
        b = ntk_covariance(solver, t_td, k_td, k_dd, k_tt, None)
    else:
        a = nngp_covariance(solver, k_td, k_tt, tau)
        b = nngp_covariance(solver, k_td, k_tt, None)
    assert _relative(a, b) < TOL
    # ... and the error decreases monotonically towards it.
    errors = [_relative(test_train @ solver.weights(y, s / smallest),
                        test_train @ solver.weights(y, None)) for s in (1, 4, 16)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("estimator", [NTKRegressor, NNGPRegressor])
def test_interpolates_at_infinite_time_without_regulariser(rng, estimator):
    x = make_inputs(rng, n=30, d=4, duplicates=False)
    y = rng.standard_normal(30)
    model = estimator(diag_reg=0.0, **ARCH).fit(x, y)
    kernels = compute_kernels(x, **ARCH)
    train = kernels.ntk if estimator is NTKRegressor else kernels.nngp
    # With the train kernel itself: residual ~cond(K) * eps, cond ~1e5-1e6.
    np.testing.assert_allclose(train @ model.dual_coef_[:, 0], y, rtol=0, atol=1e-9)
    mean, std = model.predict(x, return_std=True)
    # Through predict the test-train kernel is computed by the general
    # (non-symmetric) formula, whose diagonal differs from the symmetric one by
    # ~sqrt(eps) relative (see test_kernels.py); times |dual_coef| ~1e2: 1e-6.
    np.testing.assert_allclose(mean, y, rtol=0, atol=1e-6)
    # Training outputs are deterministic after infinite training (variance
    # ~1e-10 of rounding => std <= ~1e-5).
    np.testing.assert_allclose(std, 0.0, atol=1e-5)


@pytest.mark.parametrize("tau", [None, 0.05, 2.0])
@pytest.mark.parametrize("kind", ["nngp", "ntk"])
def test_covariance_is_symmetric_positive_semidefinite(problem, tau, kind):
    joint, _ = problem
    (k_tt, k_td, k_dd), (_, t_td, t_dd) = _blocks(joint)
    if kind == "ntk":
        cov = ntk_covariance(GradientFlowSolver(t_dd, 1e-3), t_td, k_td, k_dd, k_tt, tau)
    else:
        cov = nngp_covariance(GradientFlowSolver(k_dd, 1e-3), k_td, k_tt, tau)
    np.testing.assert_array_equal(cov, cov.T)
    eigenvalues = np.linalg.eigvalsh(cov)
    assert eigenvalues.min() >= -1e-10 * np.abs(eigenvalues).max()


class _Precomputed(Kernel):
    """A fixed kernel matrix looked up by integer indices in column 0 of X."""

    def __init__(self, matrix):
        self.matrix = matrix

    def __call__(self, X, Y=None, eval_gradient=False):
        rows = X[:, 0].astype(int)
        cols = rows if Y is None else Y[:, 0].astype(int)
        return self.matrix[np.ix_(rows, cols)]

    def diag(self, X):
        rows = X[:, 0].astype(int)
        return self.matrix[rows, rows]

    def is_stationary(self):
        return False


@pytest.mark.parametrize("diag_reg", [1e-4, 0.3])
def test_nngp_posterior_equals_gaussian_process_regressor(rng, diag_reg):
    x_train = make_inputs(rng, n=30, d=4, duplicates=False)
    x_test = rng.standard_normal((8, 4))
    y = rng.standard_normal(30)
    model = NNGPRegressor(diag_reg=diag_reg, **ARCH).fit(x_train, y)
    joint = compute_kernels(np.concatenate([x_train, x_test]), get="nngp", **ARCH).nngp
    noise = diag_reg * np.mean(np.diag(joint[:30, :30]))
    gpr = GaussianProcessRegressor(_Precomputed(joint), alpha=noise, optimizer=None)
    gpr.fit(np.arange(30.0)[:, None], y)
    index_test = np.arange(30.0, 38.0)[:, None]
    for flag in ("return_std", "return_cov"):
        ours = model.predict(x_test, **{flag: True})
        theirs = gpr.predict(index_test, **{flag: True})
        for a, b in zip(ours, theirs):
            assert _relative(a, b) < TOL


def test_spectral_filter_is_accurate_near_zero():
    tau = 2.0
    eigenvalues = np.array([0.0, 1e-300, 1e-20, 1e-8, 1.0, 1e3])
    phi = spectral_filter(eigenvalues, tau)
    assert np.all(np.isfinite(phi))
    # Limit lambda -> 0 is tau; Taylor: tau - tau^2 lambda / 2 for small lambda.
    np.testing.assert_allclose(phi[:4], tau - tau**2 * eigenvalues[:4] / 2, rtol=1e-15)
    np.testing.assert_allclose(phi[4:], (1 - np.exp(-tau * eigenvalues[4:])) / eigenvalues[4:],
                               rtol=1e-15)
    # Infinite time is 1/lambda.
    np.testing.assert_allclose(spectral_filter(eigenvalues[4:], None), 1 / eigenvalues[4:])


def test_tiny_times_keep_full_precision(problem):
    # f_tau(Theta) = tau (I - tau Theta / 2 + ...): 1 - exp(-x) would lose
    # every digit at tau = 1e-12; expm1 keeps them.
    joint, y = problem
    _, (_, _, t_dd) = _blocks(joint)
    tau = 1e-12
    weights = GradientFlowSolver(t_dd, 1e-3).weights(y, tau)
    np.testing.assert_allclose(weights / tau, y, rtol=1e-9)


def test_singular_kernel_gives_the_minimum_norm_solution(rng):
    # Rank-3 kernel from explicit features with duplicated rows: exactly zero
    # eigenvalues, where neural-tangents divides 0 by 0.
    features = rng.standard_normal((10, 3))
    features[5:] = features[:5]
    features_test = rng.standard_normal((4, 3))
    kernel = features @ features.T
    y = rng.standard_normal((10, 1))
    solver = GradientFlowSolver(kernel, 0.0)
    with pytest.warns(IllConditionedKernelWarning, match="increase diag_reg|Increase diag_reg"):
        weights = solver.weights(y, None)
    expected = features_test @ np.linalg.pinv(features) @ y
    assert _relative(features_test @ features.T @ weights, expected) < 1e-10
    # Finite times: finite, and converging to the same limit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IllConditionedKernelWarning)
        for tau in (1e-3, 1.0, 1e6):
            finite = features_test @ features.T @ solver.weights(y, tau)
            assert np.all(np.isfinite(finite))
        assert _relative(finite, expected) < 1e-10
        variance = nngp_covariance(solver, features_test @ features.T,
                                   np.sum(features_test**2, axis=1), 1.0, diag_only=True)
    assert np.all(np.isfinite(variance)) and np.all(variance >= 0)


def test_duplicate_rows_without_regulariser_warn_and_stay_finite(rng):
    x = make_inputs(rng, n=20, d=3)  # last row duplicates the first
    y = rng.standard_normal(20)
    with pytest.warns(IllConditionedKernelWarning, match="diag_reg"):
        model = NNGPRegressor(diag_reg=0.0, **ARCH).fit(x, y)
    mean, std = model.predict(rng.standard_normal((5, 3)), return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))


def test_time_scaling_matches_neural_tangents_convention():
    # tau = learning_rate * t / y.size (all entries of y).
    assert time_to_tau(10.0, 0.5, 20) == 0.25
    assert time_to_tau(None, 0.5, 20) is None
    assert time_to_tau(np.inf, 0.5, 20) is None


def test_solver_rejects_bad_input():
    with pytest.raises(ValueError, match="square"):
        GradientFlowSolver(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        GradientFlowSolver(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="diag_reg"):
        GradientFlowSolver(np.eye(2), diag_reg=-1.0)
    with pytest.raises(ValueError, match="tau"):
        GradientFlowSolver(np.eye(2)).weights(np.ones(2), -1.0)

"""Iterative gradient-flow weights against dense references.

Two methods replace dense factorisations for the weights of a few target
columns: the extended Krylov basis (finite times) and float32 Cholesky with
float64 iterative refinement (infinite time, large n).

Expectations are computed independently of the Krylov code: ``phi_tau``
applied through ``numpy.linalg.eigh`` (LAPACK ``syevd``, not the ``syevr``
the solver falls back to) and, for infinite time, ``numpy.linalg.solve``.

Tolerances: the basis stops when two successive approximations differ by at
most 1e-11 (relative); the dense reference is itself accurate to about
``cond * eps``. Kernels here have condition numbers up to ~1e6, so the two
agree to ~1e-10; 1e-8 leaves a margin and still catches a wrong basis (a
missing direction gives errors of 1e-3 or more, see the truncated-basis
test).
"""

import pickle

import numpy as np
import pytest
import scipy.linalg

from sklearn_ntk import compute_kernels
from sklearn_ntk import _dynamics
from sklearn_ntk._dynamics import GradientFlowSolver, spectral_filter
from sklearn_ntk._krylov import ExtendedKrylovBasis

TOL = 1e-8


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _kernel(rng, n, d, diag_reg):
    x = rng.standard_normal((n, d))
    k = compute_kernels(x, get="ntk", depth=3).ntk
    return k + diag_reg * np.mean(np.diag(k)) * np.eye(n)


def _dense_phi(k, rhs, tau):
    values, vectors = np.linalg.eigh(k)
    return vectors @ (spectral_filter(values, tau)[:, None] * (vectors.T @ rhs))


def _basis(k, rhs, max_dim=400):
    factor = scipy.linalg.cholesky(k, lower=True)
    return ExtendedKrylovBasis(
        lambda x: k @ x,
        lambda x: scipy.linalg.cho_solve((factor, True), x),
        rhs, max_dim,
    )


# Well conditioned (d=20, diag_reg=0.1, cond ~1e3) and hard (d=2,
# diag_reg=1e-6, cond ~1e6: nearby inputs in two dimensions).
CASES = [(20, 0.1), (2, 1e-6)]


@pytest.mark.parametrize("d, diag_reg", CASES)
@pytest.mark.parametrize("t", [0.1, 1.0, 30.0, 1e3, 1e5, 1e8])
def test_matches_the_dense_spectral_function(rng, d, diag_reg, t):
    n = 400
    k = _kernel(rng, n, d, diag_reg)
    rhs = rng.standard_normal((n, 1))
    tau = t / n
    basis = _basis(k, rhs)
    (approx,) = basis.apply([lambda lam: spectral_filter(lam, tau)])
    assert _relative(approx, _dense_phi(k, rhs, tau)) < TOL
    # The check means something only if the basis did not fill the space.
    assert basis.dim < n // 2


def test_one_basis_serves_every_time(rng):
    n = 400
    k = _kernel(rng, n, 5, 1e-3)
    rhs = rng.standard_normal((n, 3))
    taus = [t / n for t in (0.5, 5.0, 50.0, 500.0, 5e4)]
    basis = _basis(k, rhs)
    results = basis.apply([lambda lam, tau=tau: spectral_filter(lam, tau) for tau in taus])
    dim = basis.dim
    for tau, approx in zip(taus, results):
        assert _relative(approx, _dense_phi(k, rhs, tau)) < TOL
    # Asking again for one of the times adds nothing.
    basis.apply([lambda lam: spectral_filter(lam, taus[2])])
    assert basis.dim <= dim + 2 * rhs.shape[1] * 2


def test_infinite_time_is_exact_after_one_inverse_step(rng):
    n = 300
    k = _kernel(rng, n, 10, 0.01)
    rhs = rng.standard_normal((n, 2))
    basis = _basis(k, rhs)
    (approx,) = basis.apply([lambda lam: 1.0 / lam])
    assert _relative(approx, np.linalg.solve(k, rhs)) < 1e-11
    assert basis.dim <= 4 * rhs.shape[1] * 2


def test_truncated_basis_is_detectably_wrong(rng):
    # Guards the tolerance above: a basis that stops early is far off.
    n = 400
    k = _kernel(rng, n, 20, 0.1)
    rhs = rng.standard_normal((n, 1))
    tau = 30.0 / n
    basis = _basis(k, rhs, max_dim=6)
    assert basis.apply([lambda lam: spectral_filter(lam, tau)]) is None
    (approx,) = basis._ritz([lambda lam: spectral_filter(lam, tau)])
    assert _relative(approx, _dense_phi(k, rhs, tau)) > 1e-4


def test_small_space_is_exhausted_exactly(rng):
    k = _kernel(rng, 6, 3, 0.1)
    rhs = rng.standard_normal((6, 1))
    basis = _basis(k, rhs)
    (approx,) = basis.apply([lambda lam: spectral_filter(lam, 0.7)], tol=0.0)
    assert basis.exhausted and basis.dim == 6
    assert _relative(approx, _dense_phi(k, rhs, 0.7)) < 1e-12


def test_dependent_and_zero_columns(rng):
    n = 200
    k = _kernel(rng, n, 10, 0.1)
    column = rng.standard_normal((n, 1))
    rhs = np.hstack([column, 2.0 * column, np.zeros((n, 1))])
    basis = _basis(k, rhs)
    (approx,) = basis.apply([lambda lam: spectral_filter(lam, 0.05)])
    assert _relative(approx, _dense_phi(k, rhs, 0.05)) < TOL
    np.testing.assert_array_equal(approx[:, 2], 0.0)
    zero = _basis(k, np.zeros((n, 1)))
    (approx,) = zero.apply([lambda lam: spectral_filter(lam, 0.05)])
    np.testing.assert_array_equal(approx, 0.0)


# -- the solver's choice of method --------------------------------------------


def _counting_eigh(monkeypatch):
    calls = {"n": 0}
    original = scipy.linalg.eigh

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(scipy.linalg, "eigh", counting)
    return calls


def test_solver_mean_uses_krylov_and_matches_eigen_path(rng, monkeypatch):
    n = 300
    k = _kernel(rng, n, 5, 0.0)
    y = rng.standard_normal((n, 2))
    calls = _counting_eigh(monkeypatch)
    taus = [None, 0.0, 1e-3, 0.1, 10.0]
    krylov = GradientFlowSolver(k, diag_reg=1e-3).weights_at_times(y, taus)
    assert calls["n"] == 0
    dense = GradientFlowSolver(k, diag_reg=1e-3)
    dense.eigen()  # forces the eigendecomposition path
    for tau, got in zip(taus, krylov):
        expected = dense.weights(y, tau)
        assert _relative(got, expected) < TOL if tau != 0.0 else np.all(got == 0)


def test_solver_falls_back_to_the_eigendecomposition(rng, monkeypatch):
    n = 300
    k = _kernel(rng, n, 5, 0.0)
    y = rng.standard_normal(n)
    monkeypatch.setattr(_dynamics, "KRYLOV_MAX_DIM", 4)
    calls = _counting_eigh(monkeypatch)
    weights = GradientFlowSolver(k, diag_reg=1e-3).weights(y, 0.1)
    assert calls["n"] == 1
    regularized = k + 1e-3 * np.mean(np.diag(k)) * np.eye(n)
    reference = _dense_phi(regularized, y[:, None], 0.1)[:, 0]
    assert _relative(weights, reference) < TOL


def test_many_columns_use_the_eigendecomposition(rng, monkeypatch):
    n = 100
    k = _kernel(rng, n, 5, 0.01)
    rhs = rng.standard_normal((n, _dynamics.ITERATIVE_MAX_COLUMNS + 1))
    calls = _counting_eigh(monkeypatch)
    GradientFlowSolver(k).weights(rhs, 0.1)
    assert calls["n"] == 1


def test_solver_with_a_basis_pickles(rng):
    n = 200
    k = _kernel(rng, n, 5, 0.01)
    y = rng.standard_normal(n)
    solver = GradientFlowSolver(k)
    before = solver.weights(y, 0.1)
    restored = pickle.loads(pickle.dumps(solver))
    np.testing.assert_allclose(restored.weights(y, 0.1), before,
                               rtol=0, atol=1e-12 * np.abs(before).max())


# -- mixed precision at infinite time --------------------------------------------


@pytest.mark.parametrize("d, diag_reg", CASES)
def test_mixed_precision_matches_float64_cholesky(rng, monkeypatch, d, diag_reg):
    # Refinement stops at a float64-level backward error, so both solutions
    # are within cond * eps (<= ~1e-10 here) of the exact one.
    monkeypatch.setattr(_dynamics, "MIXED_PRECISION_MIN_N", 1)
    n = 400
    k = _kernel(rng, n, d, 0.0)
    y = rng.standard_normal((n, 2))
    solver = GradientFlowSolver(k, diag_reg=diag_reg)
    weights = solver.weights(y, None)
    assert solver._factor32 is not None and solver._cholesky is None
    regularized = k + diag_reg * np.mean(np.diag(k)) * np.eye(n)
    expected = scipy.linalg.cho_solve((scipy.linalg.cholesky(regularized, lower=True), True), y)
    assert _relative(weights, expected) < TOL
    # Without the refinement the float32 solution is visibly worse.
    one_pass = _dynamics._float32_solve(solver._factor32, y)
    assert _relative(one_pass, expected) > 1e2 * _relative(weights, expected)


def test_mixed_precision_gives_way_to_float64_when_singular(rng, monkeypatch):
    # Duplicate rows without diag_reg: exactly singular, beyond float32.
    monkeypatch.setattr(_dynamics, "MIXED_PRECISION_MIN_N", 1)
    x = rng.standard_normal((150, 3))
    k = compute_kernels(np.vstack([x, x]), get="ntk", depth=3).ntk
    y = rng.standard_normal(300)
    solver = GradientFlowSolver(k)
    with pytest.warns(_dynamics.IllConditionedKernelWarning, match="diag_reg"):
        weights = solver.weights(y, None)
    assert solver._mixed_failed
    # The float64 path it gave way to, computed without mixed precision.
    monkeypatch.setattr(_dynamics, "MIXED_PRECISION_MIN_N", 10**9)
    with pytest.warns(_dynamics.IllConditionedKernelWarning):
        expected = GradientFlowSolver(k).weights(y, None)
    np.testing.assert_array_equal(weights, expected)


def test_mixed_precision_not_used_for_many_columns(rng, monkeypatch):
    monkeypatch.setattr(_dynamics, "MIXED_PRECISION_MIN_N", 1)
    n = 100
    k = _kernel(rng, n, 5, 0.01)
    solver = GradientFlowSolver(k)
    solver.weights(rng.standard_normal((n, _dynamics.ITERATIVE_MAX_COLUMNS + 1)), None)
    assert solver._factor32 is None and solver._cholesky is not None


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-4)])
def test_one_column_triangular_solves_match_lapack(rng, dtype, rtol):
    # The one-column path (two BLAS trsv calls) against LAPACK potrs.
    k = _kernel(rng, 120, 5, 0.1).astype(dtype)
    factor = scipy.linalg.cholesky(k, lower=True)
    rhs = rng.standard_normal((120, 1)).astype(dtype)
    expected = scipy.linalg.cho_solve((factor, True), rhs)
    got = _dynamics._cho_solve(factor, rhs)
    assert got.shape == (120, 1) and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("t", [None, 3.0])
def test_ill_conditioned_warning_names_the_callers_line(rng, t):
    # Duplicate rows without diag_reg; the warning points at this file, not
    # at the solver, whichever path (Cholesky, Krylov, eigen) raised it.
    from sklearn_ntk import NTKRegressor
    from sklearn_ntk._regressors import KERNEL_CACHE

    KERNEL_CACHE.clear()  # a cached solver warns once, on its first use
    x = rng.standard_normal((20, 2))
    X = np.vstack([x, x])
    with pytest.warns(_dynamics.IllConditionedKernelWarning) as record:
        NTKRegressor(diag_reg=0.0, t=t).fit(X, X[:, 0])
    assert {r.filename for r in record} == {__file__}

"""The Nyström solver: agreement with the exact solver and with brute force,
convergence in ``n_components``, the streaming passes, and the estimator
contract with ``solver="nystrom"``."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_ntk._kernels as kernels_module
import sklearn_ntk._nystrom as nystrom_module
import sklearn_ntk._solvers as solvers_module
from sklearn_ntk import (
    NNGPClassifier,
    NNGPRegressor,
    NTKClassifier,
    NTKRegressor,
    compute_kernels,
)
from sklearn_ntk._nystrom import default_n_components, rpcholesky_centers
from sklearn_ntk._regressors import KERNEL_CACHE

REGRESSORS = [NTKRegressor, NNGPRegressor]
CLASSIFIERS = [NTKClassifier, NNGPClassifier]
ARCH = {"depth": 2}


@pytest.fixture(autouse=True)
def _fresh_cache():
    KERNEL_CACHE.clear()
    yield
    KERNEL_CACHE.clear()


@pytest.fixture
def data(rng):
    X = rng.standard_normal((120, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(120)
    return X, y, rng.standard_normal((9, 4))


def _relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# One regressor and one classifier (the NNGP and NTK dynamics, fewer
# centres than rows and all rows as centres) keep the suite fast; the
# other two share every code path but the kernel.
@parametrize_with_checks(
    [NTKRegressor(depth=1, solver="nystrom", n_components=8, random_state=0)],
)
def test_scikit_learn_estimator_checks_regressors(estimator, check):
    # No expected failures.
    check(estimator)


@parametrize_with_checks(
    [NNGPClassifier(depth=1, solver="nystrom", random_state=0)],
)
def test_scikit_learn_estimator_checks_classifiers(estimator, check):
    # No expected failures.
    check(estimator)


# -- agreement with the exact solver when the centres are every row -------------


@pytest.mark.parametrize("Estimator", REGRESSORS)
@pytest.mark.parametrize("t", [None, 5.0])
def test_all_rows_as_centres_equal_the_exact_solver(data, Estimator, t):
    # With n_components = n the Nyström kernel is the train kernel, so only
    # rounding separates the two: the Gram K^2 squares the condition number
    # (about 1e4 here with diag_reg=0.1), i.e. ~1e-12 of error, far below
    # the 1e-6.
    X, y, X_test = data
    exact = Estimator(t=t, solver="exact", **ARCH).fit(X, y)
    nystrom = Estimator(t=t, solver="nystrom", n_components=len(X), random_state=0,
                        **ARCH).fit(X, y)
    assert (exact.solver_, nystrom.solver_) == ("exact", "nystrom")
    assert nystrom.n_components_ == len(X)
    for kwargs in ({"return_std": True}, {"return_cov": True}):
        for ours, theirs in zip(nystrom.predict(X_test, **kwargs),
                                exact.predict(X_test, **kwargs)):
            assert _relative(ours, theirs) <= 1e-6
    times = [0.0, 1.0, 30.0, None]
    for ours, theirs in zip(nystrom.predict_at_times(X_test, times, return_std=True),
                            exact.predict_at_times(X_test, times, return_std=True)):
        assert _relative(ours, theirs) <= 1e-6


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
@pytest.mark.parametrize("t", [None, 20.0])
def test_classifier_probabilities_equal_the_exact_solver(rng, Classifier, t):
    X = rng.standard_normal((90, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.5, "a", np.where(X[:, 2] > 0, "b", "c"))
    X_test = rng.standard_normal((15, 3))
    exact = Classifier(t=t, solver="exact", **ARCH).fit(X, y)
    nystrom = Classifier(t=t, solver="nystrom", n_components=len(X), random_state=0,
                         **ARCH).fit(X, y)
    # Same bound as the regressors: the probabilities are smooth functions
    # of the means and standard deviations.
    assert _relative(nystrom.predict_proba(X_test), exact.predict_proba(X_test)) <= 1e-6


# -- convergence in n_components ------------------------------------------------------


def _mean_error(Estimator, X, y, X_test, reference, m, centers="rpcholesky", seeds=2,
                method="predict"):
    errors = []
    for seed in range(seeds):
        model = Estimator(solver="nystrom", n_components=m, centers=centers,
                          random_state=seed, **ARCH).fit(X, y)
        errors.append(np.sqrt(np.mean((getattr(model, method)(X_test) - reference) ** 2)))
    return float(np.mean(errors))


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_error_falls_as_n_components_grows(rng, Estimator):
    X = rng.standard_normal((256, 4))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    X_test = rng.standard_normal((64, 4))
    reference = Estimator(solver="exact", **ARCH).fit(X, y).predict(X_test)
    errors = [_mean_error(Estimator, X, y, X_test, reference, m) for m in (10, 40, 150)]
    # Averaged over 2 draws of centres; on 300 rows, 3 draws, measured
    # 0.6 / 0.14 / 0.03 (NTK) and 0.6 / 0.05 / 0.005 (NNGP): each step at
    # least halves the error.
    assert errors[1] < 0.5 * errors[0] and errors[2] < 0.5 * errors[1], errors
    if Estimator is NTKRegressor:
        # Chen et al. (2023): at equal size, RPCholesky centres approximate
        # better than uniform ones. Measured on 400 rows (3 draws, m=100):
        # 0.064 against 0.085; at m=150 here the gap is larger.
        uniform = _mean_error(Estimator, X, y, X_test, reference, 150, centers="uniform")
        assert errors[2] < 0.9 * uniform, (errors[2], uniform)


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_classifier_probability_error_falls_as_n_components_grows(rng, Classifier):
    X = rng.standard_normal((192, 3))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)
    X_test = rng.standard_normal((64, 3))
    reference = Classifier(solver="exact", **ARCH).fit(X, y).predict_proba(X_test)
    errors = [_mean_error(Classifier, X, y, X_test, reference, m, method="predict_proba")
              for m in (8, 30, 120)]
    assert errors[1] < 0.7 * errors[0] and errors[2] < 0.7 * errors[1], errors


# -- the spectral calculus against brute force on the approximated kernel ----------


def _dense_nystrom(x, centers, get):
    k_nm = getattr(compute_kernels(x, centers, get=get, **ARCH), get)
    k_mm = getattr(compute_kernels(centers, get=get, **ARCH), get)
    return k_nm, k_mm


@pytest.mark.parametrize("t", [None, 3.0])
def test_mean_equals_gradient_flow_on_the_dense_approximated_kernel(data, t):
    # Brute force: form K~ = K_nm K_mm^{-1} K_mn (n x n), regularise it with
    # the exact mean diagonal, and solve gradient flow by a dense eigh.
    X, y, X_test = data
    model = NTKRegressor(t=t, solver="nystrom", n_components=30, random_state=1,
                         **ARCH).fit(X, y)
    centers = model.centers_
    k_nm, k_mm = _dense_nystrom(X, centers, "ntk")
    k_tm = compute_kernels(X_test, centers, get="ntk", **ARCH).ntk
    approx = k_nm @ np.linalg.solve(k_mm, k_nm.T)
    regularizer = 0.1 * np.mean(np.diag(compute_kernels(X, get="ntk", **ARCH).ntk))
    values, vectors = np.linalg.eigh(approx + regularizer * np.eye(len(X)))
    tau = None if t is None else t / len(X)
    phi = 1.0 / values if tau is None else -np.expm1(-tau * values) / values
    weights = vectors @ (phi * (vectors.T @ y))
    expected = k_tm @ np.linalg.solve(k_mm, k_nm.T) @ weights
    # Condition number of K_mm ~1e6 for 30 centres: ~1e-10 rounding.
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=1e-7, atol=1e-9)
    if t is None:
        # Falkon's Nyström kernel ridge solution, (K_mn K_nm + lambda K_mm) a = K_mn y.
        alpha = np.linalg.solve(k_nm.T @ k_nm + regularizer * k_mm, k_nm.T @ y)
        np.testing.assert_allclose(model.dual_coef_[:, 0], alpha, rtol=1e-6,
                                   atol=1e-8 * np.abs(alpha).max())


@pytest.mark.parametrize("t", [None, 3.0])
def test_nngp_variance_is_the_dtc_variance(data, t):
    # Deterministic training conditional: exact prior variance minus what
    # the Nyström kernel explains, K~_*X phi_{2 tau}(K~ + lambda) K~_X*.
    X, y, X_test = data
    model = NNGPRegressor(t=t, solver="nystrom", n_components=30, random_state=2,
                          **ARCH).fit(X, y)
    k_nm, k_mm = _dense_nystrom(X, model.centers_, "nngp")
    k_tm = compute_kernels(X_test, model.centers_, get="nngp", **ARCH).nngp
    approx = k_nm @ np.linalg.solve(k_mm, k_nm.T)
    cross = k_tm @ np.linalg.solve(k_mm, k_nm.T)
    regularizer = 0.1 * np.mean(np.diag(compute_kernels(X, get="nngp", **ARCH).nngp))
    values, vectors = np.linalg.eigh(approx + regularizer * np.eye(len(X)))
    tau = None if t is None else 2.0 * t / len(X)
    phi = 1.0 / values if tau is None else -np.expm1(-tau * values) / values
    explained = np.einsum("ij,ij->i", cross @ vectors * phi, cross @ vectors)
    prior = np.diag(compute_kernels(X_test, get="nngp", **ARCH).nngp)
    _, std = model.predict(X_test, return_std=True)
    np.testing.assert_allclose(std**2, prior - explained, rtol=1e-7, atol=1e-10)


def test_ntk_covariance_is_psd_and_the_prior_at_time_zero(data):
    X, y, X_test = data
    model = NTKRegressor(t=10.0, solver="nystrom", n_components=20, random_state=0,
                         **ARCH).fit(X, y)
    _, cov = model.predict(X_test, return_cov=True)
    # PSD by construction (prior - |b|^2 >= 0 plus a Gram); rounding only.
    assert np.linalg.eigvalsh(cov).min() >= -1e-10 * np.abs(cov).max()
    _, std0 = model.predict_at_times(X_test, [0.0], return_std=True)
    prior = np.diag(compute_kernels(X_test, get="nngp", **ARCH).nngp)
    np.testing.assert_allclose(std0[0] ** 2, prior, rtol=1e-12)


# -- the streaming passes --------------------------------------------------------------


def test_blocks_tasks_and_threads_give_the_same_fit(data, monkeypatch):
    X, y, X_test = data
    full = NTKRegressor(solver="nystrom", n_components=40, random_state=0, **ARCH)
    expected_mean, expected_std = full.fit(X, y).predict(X_test, return_std=True)
    shapes = []
    original = nystrom_module.gram_task

    def recording(x_rows, *args):
        shapes.append(x_rows.shape[0])
        return original(x_rows, *args)

    # 16 rows per block (40 centres x 8 bytes x 16 = BLOCK_BYTES): 8 blocks,
    # several tasks, on two joblib threads.
    monkeypatch.setattr(nystrom_module, "BLOCK_BYTES", 40 * 8 * 16)
    monkeypatch.setattr(nystrom_module, "MIN_TASK_SECONDS", 0.0)
    monkeypatch.setattr(nystrom_module, "gram_task", recording)
    KERNEL_CACHE.clear()
    model = NTKRegressor(solver="nystrom", n_components=40, random_state=0, n_jobs=2,
                         **ARCH).fit(X, y)
    assert len(shapes) >= 2 and sum(shapes) == len(X)
    mean, std = model.predict(X_test, return_std=True)
    # Summation order differs: rounding only.
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std, expected_std, rtol=1e-9)


def test_kernel_blocks_never_hold_n_by_m(rng, monkeypatch):
    X = rng.standard_normal((600, 3))
    y = X[:, 0]
    calls = []
    original = compute_kernels

    def recording(x1, x2=None, **kwargs):
        calls.append((len(x1), None if x2 is None else len(x2)))
        return original(x1, x2, **kwargs)

    monkeypatch.setattr(nystrom_module, "BLOCK_BYTES", 50 * 8 * 100)
    monkeypatch.setattr("sklearn_ntk._regressors.compute_kernels", recording)
    NTKRegressor(solver="nystrom", n_components=50, random_state=0, **ARCH).fit(X, y)
    against_centres = [rows for rows, cols in calls if cols == 50]
    # Every kernel against the centres has at most one block of rows.
    assert against_centres and max(against_centres) <= 100


def test_rpcholesky_stops_at_the_numerical_rank(rng):
    # A linear kernel on 3 features has rank 3: later pivots have no
    # residual and are refused (no duplicate or dependent centres).
    class Linear:
        def __call__(self, a, b, get):
            from sklearn_ntk import Kernels
            k = a @ (a if b is None else b).T
            return Kernels(k, k)

        def diagonal(self, a):
            from sklearn_ntk import Kernels
            d = np.einsum("ij,ij->i", a, a)
            return Kernels(d, d)

    X = rng.standard_normal((200, 3))
    X[100:] = X[:100]  # duplicates too
    indices = rpcholesky_centers(X, 20, Linear(), "ntk", np.random.RandomState(0))
    assert len(indices) == 3


def test_default_n_components_rule():
    assert default_n_components(50) == 50
    assert default_n_components(4096) == 4096
    assert default_n_components(25_000) == 4096
    assert default_n_components(10**6) == 4096


# -- solver choice and the memory refusal -------------------------------------------


def test_exact_solver_refuses_before_allocating(rng, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a kernel was computed before the refusal")

    monkeypatch.setattr("sklearn_ntk._regressors.compute_kernels", forbidden)
    monkeypatch.setattr(solvers_module, "available_memory", lambda: 2 * 10**9)
    X = rng.standard_normal((20_000, 1))  # 2 x 3.2 GB needed
    model = NTKRegressor(solver="exact")
    with pytest.raises(MemoryError, match=r"6\.4 GB \(6400000000 bytes.*solver='nystrom'"):
        model.fit(X, X[:, 0])
    assert not hasattr(model, "n_features_in_")


def test_auto_chooses_by_size_and_memory(monkeypatch):
    model = NTKRegressor()
    assert model._resolve_solver(100) == "exact"
    assert model._resolve_solver(20_001) == "nystrom"
    monkeypatch.setattr(solvers_module, "available_memory", lambda: 10**6)
    assert model._resolve_solver(1000) == "nystrom"  # 16 MB do not fit


# -- estimator contract ---------------------------------------------------------------


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_pickle_and_clone(data, Estimator):
    X, y, X_test = data
    model = Estimator(solver="nystrom", n_components=25, random_state=0, **ARCH).fit(X, y)
    mean, std = model.predict(X_test, return_std=True)
    restored = pickle.loads(pickle.dumps(model))
    for a, b in zip(restored.predict(X_test, return_std=True), (mean, std)):
        np.testing.assert_array_equal(a, b)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "dual_coef_")
    np.testing.assert_allclose(twin.fit(X, y).predict(X_test), mean, rtol=1e-12)


def test_failed_calls_leave_the_estimator_as_it_was(data):
    X, y, X_test = data
    broken = {"now": False}

    def flaky(x1, x2):
        if broken["now"]:
            raise RuntimeError("kernel failed")
        k = compute_kernels(x1, x2, **ARCH)
        return k.nngp, k.ntk

    model = NTKRegressor(solver="nystrom", n_components=20, random_state=0,
                         kernel_fn=flaky)
    model.fit(X, y)
    before = {k: v for k, v in model.__dict__.items()}
    mean = model.predict(X_test)
    broken["now"] = True
    with pytest.raises(RuntimeError, match="kernel failed"):
        model.fit(X[:60] + 1.0, y[:60])  # fails inside the new Nyström fit
    with pytest.raises(ValueError):
        model.fit(np.full_like(X, np.nan), y)
    assert model.__dict__.keys() == before.keys()
    assert all(model.__dict__[k] is before[k] for k in before)
    broken["now"] = False
    np.testing.assert_array_equal(model.predict(X_test), mean)


def test_refits_at_other_times_reuse_the_cached_fit(data):
    X, y, _ = data
    search = GridSearchCV(
        NTKRegressor(solver="nystrom", n_components=30, random_state=0, **ARCH),
        {"t": [1.0, 10.0, None]}, cv=3,
    ).fit(X, y)
    # 3 folds + the refit on all rows: 4 Nyström fits for 10 fits in all.
    assert KERNEL_CACHE.misses == 4
    assert search.best_estimator_.solver_ == "nystrom"


def test_sample_y_matches_the_nystrom_covariance(data):
    X, y, X_test = data
    model = NNGPRegressor(t=5.0, solver="nystrom", n_components=30, random_state=0,
                          **ARCH).fit(X, y)
    mean, cov = model.predict(X_test[:4], return_cov=True)
    samples = model.sample_y(X_test[:4], n_samples=4000, random_state=0)
    # 4000 draws: standard error of a mean ~ std / 63.
    std = np.sqrt(np.diag(cov))
    assert np.all(np.abs(samples.mean(axis=1) - mean) < 5 * std / np.sqrt(4000))


# -- progress -------------------------------------------------------------------------


def test_verbose_reports_progress(data, capsys, monkeypatch):
    X, y, X_test = data
    NTKRegressor(solver="nystrom", n_components=20, random_state=0, verbose=2,
                 **ARCH).fit(X, y)
    out = capsys.readouterr().out
    assert "NTKRegressor: Gram pass (n=120, m=20)" in out
    assert "elapsed" in out and "done" in out
    monkeypatch.setattr(kernels_module, "VERBOSE_MIN_ENTRIES", 0)
    compute_kernels(X, verbose=2, max_block_bytes=2**16)
    out = capsys.readouterr().out
    assert "compute_kernels (120 x 120)" in out and "tiles" in out and "left" in out

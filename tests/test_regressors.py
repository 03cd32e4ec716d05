"""NTKRegressor / NNGPRegressor: the scikit-learn contract and the API."""

import gc
import pickle
import warnings
import weakref

import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_ntk._regressors as regressors_module
from sklearn_ntk import NNGPRegressor, NTKRegressor, compute_kernels
from sklearn_ntk._regressors import KERNEL_CACHE

ESTIMATORS = [NTKRegressor, NNGPRegressor]


@parametrize_with_checks([NTKRegressor(depth=1), NNGPRegressor(depth=1)])
def test_scikit_learn_estimator_checks(estimator, check):
    # No expected failures: every check of scikit-learn 1.9 passes.
    check(estimator)


@pytest.fixture
def data(rng):
    X = rng.standard_normal((40, 3)) * [1.0, 10.0, 0.1] + 5.0
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    return X, y


@pytest.fixture(autouse=True)
def _fresh_cache():
    KERNEL_CACHE.clear()
    yield
    KERNEL_CACHE.clear()


# -- shapes and semantics of GaussianProcessRegressor ---------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("y_shape", [(30,), (30, 1), (30, 3)])
def test_output_shapes_match_gaussian_process_regressor(rng, Estimator, y_shape):
    X, X_test = rng.standard_normal((30, 2)), rng.standard_normal((6, 2))
    y = rng.standard_normal(y_shape)
    ours = Estimator(depth=1).fit(X, y)
    gpr = GaussianProcessRegressor(optimizer=None).fit(X, y)
    for kwargs in ({}, {"return_std": True}, {"return_cov": True}):
        a, b = ours.predict(X_test, **kwargs), gpr.predict(X_test, **kwargs)
        a, b = (a, b) if kwargs else ((a,), (b,))
        assert [x.shape for x in a] == [x.shape for x in b]
    assert ours.sample_y(X_test, 4).shape == gpr.sample_y(X_test, 4).shape
    with pytest.raises(RuntimeError, match="At most one"):
        ours.predict(X_test, return_std=True, return_cov=True)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_std_is_the_root_of_the_covariance_diagonal(rng, Estimator):
    X, X_test = rng.standard_normal((30, 2)), rng.standard_normal((6, 2))
    y = rng.standard_normal((30, 2))
    model = Estimator(depth=2, t=5.0).fit(X, y)
    _, std = model.predict(X_test, return_std=True)
    _, cov = model.predict(X_test, return_cov=True)
    np.testing.assert_allclose(std**2, np.diagonal(cov).T, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sample_y_moments(rng, Estimator):
    X, X_test = rng.standard_normal((20, 2)), rng.standard_normal((3, 2))
    model = Estimator(depth=1, t=2.0).fit(X, rng.standard_normal(20))
    mean, cov = model.predict(X_test, return_cov=True)
    samples = model.sample_y(X_test, n_samples=4000, random_state=1)
    # Monte Carlo: the sample mean is within 5 standard errors.
    standard_error = np.sqrt(np.diag(cov) / 4000)
    assert np.all(np.abs(samples.mean(axis=1) - mean) < 5 * standard_error + 1e-12)
    np.testing.assert_array_equal(samples, model.sample_y(X_test, 4000, random_state=1))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_at_times_equals_refits(rng, Estimator):
    X, X_test = rng.standard_normal((25, 2)), rng.standard_normal((5, 2))
    y = rng.standard_normal((25, 2))
    times = [0.0, 0.5, 30.0, None, np.inf]
    model = Estimator(depth=2, t=1.0).fit(X, y)
    for kwargs in ({}, {"return_std": True}, {"return_cov": True}):
        at_times = model.predict_at_times(X_test, times, **kwargs)
        at_times = at_times if kwargs else (at_times,)
        for i, t in enumerate(times):
            single = clone(model).set_params(t=t).fit(X, y).predict(X_test, **kwargs)
            single = single if kwargs else (single,)
            for a, b in zip(at_times, single):
                assert a.shape[0] == len(times)
                np.testing.assert_allclose(a[i], b, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="t=-1"):
        model.predict_at_times(X_test, [1.0, -1.0])


def test_time_zero_predicts_the_prior(rng):
    X, X_test = rng.standard_normal((20, 2)), rng.standard_normal((4, 2))
    model = NTKRegressor(t=0.0).fit(X, rng.standard_normal(20))
    mean, cov = model.predict(X_test, return_cov=True)
    np.testing.assert_array_equal(mean, 0.0)
    prior = compute_kernels(X_test, get="nngp").nngp
    np.testing.assert_allclose(cov, prior, rtol=1e-13)


# -- scikit-learn composition ---------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pipeline_passes_return_std(data, Estimator):
    X, y = data
    pipe = make_pipeline(StandardScaler(), Estimator()).fit(X, y)
    mean, std = pipe.predict(X[:5], return_std=True)
    assert mean.shape == std.shape == (5,)
    assert pipe.score(X, y) > 0.9  # a smooth function of 3 features, 40 points


def test_grid_search_over_architecture_and_time_in_processes(data):
    X, y = data
    grid = {"ntkregressor__depth": [1, 2], "ntkregressor__t": [10.0, None]}
    search = GridSearchCV(make_pipeline(StandardScaler(), NTKRegressor()), grid,
                          cv=2, n_jobs=2).fit(X, y)
    assert set(search.best_params_) == set(grid)
    assert np.isfinite(search.best_score_)


def test_randomized_search_and_cross_val_score(data):
    X, y = data
    search = RandomizedSearchCV(
        NNGPRegressor(), {"diag_reg": [1e-3, 1e-2, 0.1], "weight_std": [1.0, 1.5]},
        n_iter=3, cv=3, random_state=0,
    ).fit(X, y)
    assert np.isfinite(search.best_score_)
    scores = cross_val_score(make_pipeline(StandardScaler(), NNGPRegressor()), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_transformed_target_regressor(data):
    X, y = data
    model = TransformedTargetRegressor(
        regressor=NTKRegressor(), func=np.exp, inverse_func=np.log
    ).fit(X, y)
    # The prediction is the inverse transform of the regressor's prediction.
    inner = model.regressor_.predict(X[:5])
    np.testing.assert_allclose(model.predict(X[:5]), np.log(inner))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickle_and_clone_round_trip(data, Estimator):
    X, y = data
    model = Estimator(t=3.0).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    for kwargs in ({}, {"return_std": True}):
        a, b = model.predict(X[:4], **kwargs), restored.predict(X[:4], **kwargs)
        for x, z in zip(a if kwargs else (a,), b if kwargs else (b,)):
            np.testing.assert_array_equal(x, z)
    cloned = clone(model)
    assert cloned.get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        cloned.predict(X)


def test_kernel_fn_callable_equals_builtin(data):
    X, y = data
    arch = dict(depth=2, weight_std=1.3, bias_std=0.2)
    calls = []

    def kernel_fn(X1, X2):
        calls.append((X1.shape, X2.shape))
        return compute_kernels(X1, X2, **arch)

    ours = NTKRegressor(t=2.0, kernel_fn=kernel_fn).fit(X, y)
    builtin = NTKRegressor(t=2.0, **arch).fit(X, y)
    for kwargs in ({}, {"return_cov": True}):
        a, b = ours.predict(X[:5], **kwargs), builtin.predict(X[:5], **kwargs)
        for x, z in zip(a if kwargs else (a,), b if kwargs else (b,)):
            # The full X-X call recognises X's rows as identical and takes
            # the exact rho = 1 formulas on its diagonal, as the symmetric
            # call does (before, its general formula was ~sqrt(eps) off and
            # the predictions differed by 8e-8, 1.35e-7 on Python 3.13).
            # Measured: equal bits; 1e-9 leaves room for ulp differences of
            # the mirrored off-diagonal entries amplified by the solve.
            np.testing.assert_allclose(x, z, rtol=1e-9, atol=1e-12)
    assert calls[0] == (X.shape, X.shape)  # X2 = X1 for the train kernel
    with pytest.raises(TypeError, match="pair"):
        NTKRegressor(kernel_fn=lambda a, b: a @ b.T).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        NTKRegressor(kernel_fn=lambda a, b: (np.ones((2, 2)),) * 2).fit(X, y)


# -- the cache --------------------------------------------------------------------


def _count_kernel_calls(monkeypatch):
    counter = {"n": 0}
    original = regressors_module.compute_kernels

    def counting(*args, **kwargs):
        counter["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(regressors_module, "compute_kernels", counting)
    return counter


def test_refitting_at_another_time_reuses_kernels(data, monkeypatch):
    X, y = data
    counter = _count_kernel_calls(monkeypatch)
    first = NTKRegressor(t=1.0).fit(X, y)
    first.predict(X[:5])
    assert counter["n"] == 2  # train-train and test-train
    for t in (2.0, 5.0, None):
        other = NTKRegressor(t=t).fit(X, y)
        other.predict(X[:5])
    assert counter["n"] == 2
    # Another diag_reg, architecture or data is another entry.
    NTKRegressor(diag_reg=0.5).fit(X, y)
    NTKRegressor(depth=3).fit(X, y)
    NTKRegressor().fit(X[1:], y[1:])
    assert counter["n"] == 5


def test_cache_is_bounded(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(KERNEL_CACHE, "max_entries", 2)
    for depth in (1, 2, 3):
        NNGPRegressor(depth=depth).fit(X, y)
    assert len(KERNEL_CACHE._entries) == 2
    monkeypatch.setattr(KERNEL_CACHE, "max_bytes", 10)
    NNGPRegressor(depth=4).fit(X, y)
    assert len(KERNEL_CACHE._entries) == 2  # too large: not stored


def test_grid_search_over_ten_times_reuses_kernels_and_factorisations(
        rng, monkeypatch):
    # Deterministic stand-in for "10 times cost at most 2x one fit" (the
    # wall-clock figures are in benchmarks/bench_regressors.py): the same
    # kernels, factorisations and Krylov bases as a one-candidate search.
    from sklearn_ntk import _dynamics

    X = rng.standard_normal((60, 3))
    y = np.sin(X[:, 0])
    kernels = _count_kernel_calls(monkeypatch)
    calls = {"cholesky": 0, "eigh": 0, "basis": 0}

    def counting(name, original):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(scipy.linalg, "cholesky", counting("cholesky", scipy.linalg.cholesky))
    monkeypatch.setattr(scipy.linalg, "eigh", counting("eigh", scipy.linalg.eigh))
    monkeypatch.setattr(_dynamics, "ExtendedKrylovBasis",
                        counting("basis", _dynamics.ExtendedKrylovBasis))
    counts = []
    for times in ([5.0], [1.0, 3.0, 5.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4]):
        KERNEL_CACHE.clear()
        kernels["n"] = 0
        calls.update(cholesky=0, eigh=0, basis=0)
        GridSearchCV(NTKRegressor(), {"t": times}, cv=3).fit(X, y)
        counts.append((kernels["n"], calls["cholesky"], calls["basis"], calls["eigh"]))
    # 3 folds x (train + test-train) + the refit's train kernel; one Cholesky
    # factor and one Krylov basis per fold and for the refit; the mean never
    # needs an eigendecomposition.
    assert counts[0] == counts[1] == (7, 4, 4, 0)


# -- bad input --------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "params, message",
    [
        (dict(t=-1.0), "'t' parameter"),
        (dict(learning_rate=0.0), "'learning_rate' parameter"),
        (dict(learning_rate=-1.0), "'learning_rate' parameter"),
        (dict(diag_reg=-1e-3), "'diag_reg' parameter"),
        (dict(depth=-1), "'depth' parameter"),
        (dict(activation="nope"), "nope"),
        (dict(parameterization="standard"), "width"),
    ],
)
def test_bad_parameters(data, Estimator, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        Estimator(**params).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_bad_inputs(data, Estimator):
    X, y = data
    bad_X = {
        "NaN": np.where(np.eye(40, 3, dtype=bool), np.nan, X),
        "infinity": np.where(np.eye(40, 3, dtype=bool), np.inf, X),
        "Complex": X + 1j,
    }
    for message, bad in bad_X.items():
        with pytest.raises(ValueError, match=message):
            Estimator().fit(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        Estimator().fit(X, np.where(np.arange(40) == 3, np.nan, y))
    with pytest.raises(ValueError, match="0 sample"):
        Estimator().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="1 sample"):
        Estimator().fit(X[:1], y[:1])
    with pytest.raises(ValueError):
        Estimator().fit(np.array([["a", "b"], ["c", "d"]]), [1.0, 2.0])
    with pytest.raises(TypeError, match="dense"):
        Estimator().fit(scipy.sparse.csr_matrix(X), y)
    model = Estimator().fit(X, y)
    with pytest.raises(ValueError, match="3 features"):
        model.predict(X[:, :2])
    with pytest.raises(TypeError, match="dense"):
        model.predict(scipy.sparse.csr_matrix(X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("with_names", [False, True])
def test_failed_calls_leave_a_fitted_estimator_unchanged(data, Estimator, with_names):
    X, y = data
    if with_names:
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame(X, columns=["a", "b", "c"])
        bad_frame = pd.DataFrame(np.full((10, 2), np.nan), columns=["x", "y"])
    else:
        frame, bad_frame = X, np.full((10, 2), np.nan)
    model = Estimator(t=2.0).fit(frame, y)
    expected = model.predict(frame[:5], return_std=True)
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    bad_calls = [
        lambda: model.fit(bad_frame, np.ones(10)),
        lambda: model.fit(X[:1], y[:1]),
        lambda: model.fit(X, y[:-1]),
        lambda: model.predict(X[:, :2]),
        lambda: model.predict_at_times(frame[:5], [-1.0]),
    ]
    for call in bad_calls:
        with pytest.raises(ValueError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(after[key], state[key])
    for a, b in zip(model.predict(frame[:5], return_std=True), expected):
        np.testing.assert_array_equal(a, b)


def test_huge_feature_scale_is_refused_with_the_fix(data):
    X, y = data
    with pytest.raises(ValueError, match="StandardScaler"):
        NTKRegressor().fit(X * 1e200, y)
    # A NumPy ufunc as the activation works (mapped to jax.numpy), and gives
    # what jax.numpy.tanh gives, bit for bit.
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = NTKRegressor(activation=np.tanh, depth=1).fit(X, y)
    reference = NTKRegressor(activation=jax.numpy.tanh, depth=1).fit(X, y)
    np.testing.assert_array_equal(model.predict(X[:3]), reference.predict(X[:3]))


# A fitted estimator's n x n arrays must go when the estimator and its cache
# entry go, by reference counting alone: held in a reference cycle they
# would wait for the cyclic garbage collector, which counts objects, not
# bytes (a grid search at N = 5000 grew past 20 GB that way).
@pytest.mark.parametrize("make, use", [
    (lambda: NTKRegressor(t=10.0), lambda m, X: m.predict(X, return_std=True)),
    (lambda: NTKRegressor(t=None), lambda m, X: m.predict(X, return_cov=True)),
    (lambda: NNGPRegressor(t=10.0), lambda m, X: m.predict(X, return_std=True)),
    (lambda: NTKRegressor(t=10.0, solver="nystrom", n_components=16, random_state=0),
     lambda m, X: m.predict(X, return_std=True)),
], ids=["ntk-krylov", "ntk-cholesky", "nngp-covariances", "nystrom"])
def test_discarded_fits_are_freed_without_the_cycle_collector(make, use, rng):
    X = rng.standard_normal((60, 3))
    y = X[:, 0] + 0.1 * rng.standard_normal(60)
    model = make().fit(X, y)
    use(model, X[:5])
    # The fitted state and the objects it holds (solver, Krylov basis,
    # predictor, arrays).
    held = [model._state] + [value for value in vars(model._state).values()
                             if (hasattr(value, "__weakref__") or isinstance(value, np.ndarray))
                             and value is not X]
    refs = [weakref.ref(obj) for obj in held]
    del held
    gc.collect()
    gc.disable()
    try:
        del model
        KERNEL_CACHE.clear()
        alive = [type(ref()).__name__ for ref in refs if ref() is not None]
        assert not alive, alive
    finally:
        gc.enable()

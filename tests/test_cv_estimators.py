"""NTKRegressorCV and friends: closed-form cross-validation against brute force.

Leave-one-out at ``t=None`` must equal refitting the base estimator on the
other rows (exact up to rounding); at finite ``t`` it is the linear-smoother
approximation, held to a tolerance measured here. K-fold must equal
``GridSearchCV`` exactly at every ``t``.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.metrics import log_loss, make_scorer, mean_absolute_error
from sklearn.model_selection import GridSearchCV, KFold, LeaveOneOut, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ntk import (
    NNGPClassifier,
    NNGPClassifierCV,
    NNGPRegressor,
    NNGPRegressorCV,
    NTKClassifier,
    NTKClassifierCV,
    NTKRegressor,
    NTKRegressorCV,
    compute_kernels,
)
from sklearn_ntk._cv_estimators import AUTO_TIME_SCALES
from sklearn_ntk._regressors import KERNEL_CACHE

REGRESSORS = {NTKRegressorCV: NTKRegressor, NNGPRegressorCV: NNGPRegressor}
CLASSIFIERS = {NTKClassifierCV: NTKClassifier, NNGPClassifierCV: NNGPClassifier}
BASE = {**REGRESSORS, **CLASSIFIERS}
SMALL_GRID = {"depths": (1,), "bias_stds": (2.0,), "diag_regs": (0.1, 0.01),
              "times": (None, 10.0)}

# Rounding of the two routes (one eigendecomposition against a Cholesky
# refit per row) on kernels with condition numbers <= 1e5: measured <= 1e-12
# relative; 1e-9 leaves room for other BLAS builds.
EXACT_RTOL = 1e-9


@parametrize_with_checks([Estimator(**SMALL_GRID) for Estimator in BASE])
def test_scikit_learn_estimator_checks(estimator, check):
    # No expected failures.
    check(estimator)


@pytest.fixture(autouse=True)
def _fresh_cache():
    KERNEL_CACHE.clear()
    yield
    KERNEL_CACHE.clear()


@pytest.fixture
def regression_data(rng):
    X = rng.standard_normal((24, 3))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(24)
    return X, y


@pytest.fixture
def classification_data():
    X, y = make_classification(n_samples=21, n_features=4, n_informative=3,
                               n_redundant=0, n_classes=3, n_clusters_per_class=1,
                               class_sep=0.8, random_state=0)
    return StandardScaler().fit_transform(X), y


def brute_force_loo(base, X, y, times, return_std=False):
    """Refit ``base`` without each row; its prediction (and std) at that row."""
    means, stds = [], []
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        model = clone(base).fit(X[keep], y[keep])
        out = model.predict_at_times(X[i:i + 1], times, return_std=return_std)
        means.append(out[0] if return_std else out)
        if return_std:
            stds.append(out[1])
    means = np.concatenate(means, axis=1)  # (n_times, n, ...)
    return (means, np.concatenate(stds, axis=1)) if return_std else means


def assert_same_predictions(fitted, reference, X, Search):
    """Probabilities (classifiers) or means and stds (regressors) equal to
    1e-10 relative: two routes to the same model, up to rounding."""
    method = "predict_proba" if Search in CLASSIFIERS else "predict"
    kwargs = {} if Search in CLASSIFIERS else {"return_std": True}
    for got, expected in zip(np.atleast_1d(getattr(fitted, method)(X, **kwargs)),
                             np.atleast_1d(getattr(reference, method)(X, **kwargs))):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def r2(y, prediction):
    return 1.0 - np.sum((y - prediction) ** 2) / np.sum((y - y.mean()) ** 2)


def scores_of(search):
    """Mean test score per candidate, keyed by (depth, diag_reg, t)."""
    results = search.cv_results_
    return {(p["depth"], p["diag_reg"], p["t"]): s
            for p, s in zip(results["params"], results["mean_test_score"])}


# -- leave-one-out in closed form against refits --------------------------------


@pytest.mark.parametrize("Search", list(REGRESSORS))
@pytest.mark.parametrize("diag_reg", [0.1, 1e-3])
def test_loo_at_infinite_time_equals_refits(regression_data, Search, diag_reg):
    X, y = regression_data
    search = Search(times=[None], diag_regs=[diag_reg], depths=[2],
                    bias_stds=[2.0]).fit(X, y)
    loo = brute_force_loo(REGRESSORS[Search](depth=2, diag_reg=diag_reg), X, y, [None])[0]
    np.testing.assert_allclose(search.best_score_, r2(y, loo), rtol=EXACT_RTOL)


@pytest.mark.parametrize("Search", list(CLASSIFIERS))
def test_loo_probabilities_at_infinite_time_equal_refits(classification_data, Search):
    # The held-out probabilities go through the same Gaussian predictive as
    # predict_proba: mean and std of the refit at the left-out row.
    X, y = classification_data
    search = Search(times=[None], diag_regs=[0.05], depths=[2], bias_stds=[2.0],
                    scoring="neg_log_loss").fit(X, y)
    base = CLASSIFIERS[Search](depth=2, diag_reg=0.05)
    proba = np.concatenate([
        clone(base).fit(X[np.arange(len(X)) != i], y[np.arange(len(X)) != i])
        .predict_proba(X[i:i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(search.best_score_, -log_loss(y, proba), rtol=EXACT_RTOL)


@pytest.mark.parametrize("Search", list(CLASSIFIERS))
def test_loo_probabilities_in_row_blocks_equal_one_block(classification_data, Search,
                                                         monkeypatch):
    # The held-out variances go through the rows in blocks (no n x n array
    # per candidate); 4 rows per block must give the one-block values up to
    # the order of summation (1e-12 relative).
    import sklearn_ntk._loo as loo_module
    X, y = classification_data
    params = dict(times=[None, 10.0], diag_regs=[0.05], depths=[2], bias_stds=[2.0],
                  scoring="neg_log_loss")
    whole = Search(**params).fit(X, y).cv_results_["mean_test_score"]
    monkeypatch.setattr(loo_module, "COEFFICIENT_BLOCK_BYTES", 8 * len(X) * 4)
    blocked = Search(**params).fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_allclose(blocked, whole, rtol=1e-12)


@pytest.mark.parametrize("Search", list(REGRESSORS))
def test_loo_at_finite_time_approximates_refits(regression_data, Search):
    # The linear-smoother identity is exact only at t=None. On these 24 rows,
    # over the "auto" times (tau * mean(diag K) = 1, 10, 100) and the default
    # diag_regs, the measured relative error of the leave-one-out mean
    # squared error is (NTK) <= 1% at diag_reg=1, 4% at 0.1, 15% at 0.01 and
    # 25% at 0.001; (NNGP) <= 4% everywhere. It is an underestimate where it
    # is large (intermediate t, little regularisation): the refit on n - 1
    # rows trains longer per row. Stated tolerance: 30%. Exactness as
    # t -> infinity is checked too (1e-6 at the largest time).
    X, y = regression_data
    kernel = getattr(compute_kernels(X, depth=2), REGRESSORS[Search]._dynamics_kernel)
    scale = len(y) / np.mean(np.diag(kernel))
    times = [s * scale for s in AUTO_TIME_SCALES] + [1e6 * scale]
    for diag_reg in (1.0, 0.1, 0.01, 0.001):
        search = Search(times=times, diag_regs=[diag_reg], depths=[2],
                    bias_stds=[2.0]).fit(X, y)
        base = REGRESSORS[Search](depth=2, diag_reg=diag_reg)
        loo = brute_force_loo(base, X, y, times)
        for t, approx, exact in zip(times, search.cv_results_["mean_test_score"], loo):
            mse_exact = np.mean((y - exact) ** 2)
            mse_approx = (1.0 - approx) * np.var(y)
            tolerance = 1e-6 if t == times[-1] else 0.30
            assert abs(mse_approx / mse_exact - 1.0) <= tolerance, (diag_reg, t)


@pytest.mark.parametrize("Search", list(CLASSIFIERS))
def test_selection_equals_grid_search_leave_one_out(classification_data, Search):
    X, y = classification_data
    grid = {"depth": [1, 3], "diag_reg": [1.0, 1e-3], "t": [None]}
    search = Search(times=grid["t"], diag_regs=grid["diag_reg"],
                    depths=grid["depth"], bias_stds=[2.0]).fit(X, y)
    reference = GridSearchCV(CLASSIFIERS[Search](), grid, cv=LeaveOneOut(),
                             scoring="accuracy").fit(X, y)
    # Accuracies are counts / n: equal as floats when the predictions agree.
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    assert search.best_params_ == {"bias_std": 2.0, **reference.best_params_}
    np.testing.assert_array_equal(search.predict_proba(X),
                                  reference.best_estimator_.predict_proba(X))


def test_regressor_selection_equals_grid_search_leave_one_out(regression_data):
    # R^2 of all held-out predictions is a decreasing function of their mean
    # squared error, which GridSearchCV averages over one-row folds.
    X, y = regression_data
    grid = {"depth": [1, 2], "diag_reg": [0.1, 1e-3], "t": [None]}
    search = NTKRegressorCV(times=[None], diag_regs=grid["diag_reg"],
                            depths=grid["depth"], bias_stds=[2.0]).fit(X, y)
    reference = GridSearchCV(NTKRegressor(), grid, cv=LeaveOneOut(),
                             scoring="neg_mean_squared_error").fit(X, y)
    expected = 1.0 + reference.cv_results_["mean_test_score"] / np.var(y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], expected,
                               rtol=EXACT_RTOL)
    assert search.best_params_ == {"bias_std": 2.0, **reference.best_params_}


# -- K-fold: exact at every t ---------------------------------------------------------


@pytest.mark.parametrize("Search", list(BASE))
def test_kfold_equals_grid_search(regression_data, classification_data, Search):
    classifier = Search in CLASSIFIERS
    X, y = classification_data if classifier else regression_data
    cv = StratifiedKFold(3) if classifier else KFold(3)
    scoring = "neg_log_loss" if classifier else "r2"  # log-loss: the variances too
    grid = {"depth": [1, 2], "diag_reg": [0.1, 0.01], "t": [None, 5.0, 50.0]}
    search = Search(times=grid["t"], diag_regs=grid["diag_reg"], depths=grid["depth"],
                    bias_stds=[2.0], cv=cv, scoring=scoring).fit(X, y)
    reference = GridSearchCV(BASE[Search](), grid, cv=cv, scoring=scoring).fit(X, y)
    for k in range(3):
        np.testing.assert_allclose(search.cv_results_[f"split{k}_test_score"],
                                   reference.cv_results_[f"split{k}_test_score"],
                                   rtol=1e-8)
    assert search.best_params_ == {"bias_std": 2.0, **reference.best_params_}
    assert search.n_splits_ == 3


# -- the API -------------------------------------------------------------------------


def test_auto_times_are_relative_to_the_kernel_scale(regression_data):
    # t = scale * y.size / (learning_rate * mean(diag K)) for each depth.
    X, y = regression_data
    search = NTKRegressorCV(depths=[1, 3], bias_stds=[2.0], diag_regs=[0.1],
                            learning_rate=2.0).fit(X, y)
    for depth in (1, 3):
        mean_diag = np.mean(np.diag(compute_kernels(X, depth=depth).ntk))
        times = [p["t"] for p in search.cv_results_["params"] if p["depth"] == depth]
        expected = [None] + [s * y.size / (2.0 * mean_diag) for s in AUTO_TIME_SCALES]
        assert times[0] is None
        np.testing.assert_allclose(times[1:], expected[1:], rtol=1e-12)


@pytest.mark.parametrize("Search", list(BASE))
def test_refit_is_the_base_estimator_with_best_params(regression_data,
                                                      classification_data, Search):
    X, y = classification_data if Search in CLASSIFIERS else regression_data
    search = Search(depths=[1, 2], bias_stds=[2.0, 4.0], diag_regs=[0.1, 0.01]).fit(X, y)
    KERNEL_CACHE.clear()  # the reference computes its own kernels
    reference = BASE[Search](**search.best_params_).fit(X, y)
    method = "predict_proba" if Search in CLASSIFIERS else "predict"
    np.testing.assert_allclose(getattr(search, method)(X), getattr(reference, method)(X),
                               rtol=1e-10, atol=1e-12)
    assert search.best_score_ == search.cv_results_["mean_test_score"][search.best_index_]
    assert search.cv_results_["rank_test_score"][search.best_index_] == 1


@pytest.mark.parametrize("Search", [NTKRegressorCV, NTKClassifierCV, NNGPClassifierCV])
def test_refit_at_finite_time_reuses_the_eigensystem(regression_data, classification_data,
                                                     Search):
    # At a finite best t the refit adopts the leave-one-out eigendecomposition
    # instead of building a Krylov basis (weights) and decomposing again
    # (covariances). Both routes are exact up to rounding on kernels with
    # condition numbers <= 1e5 here (diag_reg >= 0.01): 1e-10 relative.
    X, y = classification_data if Search in CLASSIFIERS else regression_data
    search = Search(depths=[2], bias_stds=[2.0], diag_regs=[0.1, 0.01],
                    times=[3.0, 30.0]).fit(X, y)
    fitted = search.best_estimator_
    regressor = fitted.regressor_ if Search in CLASSIFIERS else fitted
    assert regressor._state.solver._eigen is not None
    KERNEL_CACHE.clear()
    reference = BASE[Search](**search.best_params_).fit(X, y)
    assert_same_predictions(fitted, reference, X, Search)


def test_scorer_objects_are_accepted(regression_data):
    X, y = regression_data
    scorer = make_scorer(mean_absolute_error, greater_is_better=False)
    search = NNGPRegressorCV(times=[None], diag_regs=[0.1], depths=[1], bias_stds=[2.0],
                             scoring=scorer).fit(X, y)
    loo = brute_force_loo(NNGPRegressor(depth=1, diag_reg=0.1), X, y, [None])[0]
    np.testing.assert_allclose(search.best_score_, -np.mean(np.abs(y - loo)),
                               rtol=EXACT_RTOL)


def test_pickle_clone_and_pipeline():
    X, y = load_iris(return_X_y=True)
    model = make_pipeline(StandardScaler(), NTKClassifierCV(depths=(1,))).fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    cloned = clone(model)
    assert cloned[-1].get_params() == model[-1].get_params()
    assert not hasattr(cloned[-1], "best_params_")
    assert model.score(X, y) > 0.95


@pytest.mark.parametrize("params, message", [
    ({"depths": []}, "depths is empty"),
    ({"depths": [1.5]}, "depths contains 1.5"),
    ({"diag_regs": [-1.0]}, "diag_regs contains -1.0"),
    ({"times": [None, -2.0]}, "times contains -2.0"),
    ({"bias_stds": [np.nan]}, "bias_stds contains nan"),
])
def test_bad_grids_are_named_and_leave_the_estimator_unchanged(regression_data,
                                                               params, message):
    X, y = regression_data
    model = NTKRegressorCV(**SMALL_GRID).fit(X, y)
    before = model.best_params_
    with pytest.raises(ValueError, match=message):
        model.set_params(**params).fit(X[:, :2], y)
    assert model.best_params_ is before and model.n_features_in_ == 3


@pytest.mark.parametrize("scale", [None, 0.1, 100.0])
def test_interpolated_sums_equal_row_by_row_sums(rng, scale):
    # The leave-one-out sums are interpolated in lambda_i between Chebyshev
    # nodes (see _loo._interpolated_sums); the row-by-row n x n form is the
    # reference. Interpolation error is driven below 1e-16 and the rest is
    # rounding of sums of n terms: 1e-12 relative to the largest residual.
    from sklearn_ntk._loo import (_exact_sums, _interpolated_sums, eigensystem,
                                  leave_one_out_regularizers)
    X = rng.standard_normal((80, 4)) * rng.uniform(0.3, 2.0, (80, 1))
    kernel = compute_kernels(X, depth=2).ntk
    eig = eigensystem(kernel)
    projected = eig.vectors.T @ rng.standard_normal((80, 2))
    tau = None if scale is None else scale / eig.diagonal_mean
    for diag_reg in (1.0, 1e-2, 1e-4):
        regularizers = leave_one_out_regularizers(np.diag(kernel), diag_reg)
        assert np.ptp(regularizers) > 0  # the rows' lambda_i differ
        interpolated = _interpolated_sums(eig.values, eig.vectors, eig.vectors ** 2,
                                          projected, regularizers, tau)
        exact = _exact_sums(eig.values, eig.vectors, projected, regularizers, tau)
        fast, slow = (s[0] / s[1][:, None] for s in (interpolated, exact))
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12 * np.abs(slow).max())


# -- the base estimators' kernel and execution parameters ----------------------------


def _linear_kernel_fn(x1, x2):
    """A user kernel_fn (not an MLP): NNGP x . x' / d + 1, NTK twice it."""
    x2 = x1 if x2 is None else x2
    nngp = x1 @ x2.T / x1.shape[1] + 1.0
    return nngp, 2.0 * nngp


@pytest.mark.parametrize("Search", list(CLASSIFIERS))
def test_user_kernel_fn_searches_diag_reg_and_t(classification_data, Search):
    # With a kernel_fn the kernel is fixed: the search is over (diag_reg, t)
    # only, and still equals GridSearchCV(LeaveOneOut()) of the base
    # estimator with the same kernel_fn (accuracies are counts / n: equal).
    X, y = classification_data
    grid = {"diag_reg": [1.0, 1e-3], "t": [None]}
    search = Search(kernel_fn=_linear_kernel_fn, times=grid["t"],
                    diag_regs=grid["diag_reg"]).fit(X, y)
    reference = GridSearchCV(CLASSIFIERS[Search](kernel_fn=_linear_kernel_fn), grid,
                             cv=LeaveOneOut(), scoring="accuracy").fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  reference.cv_results_["mean_test_score"])
    assert search.best_params_ == reference.best_params_
    assert search.best_estimator_.kernel_fn is _linear_kernel_fn


def test_architecture_equals_the_same_mlp(classification_data):
    # A one-hidden-layer network from sklearn_ntk.layers is the depth-1 MLP:
    # same kernels, so the same scores (up to rounding of the two kernel
    # routes, 1e-12) and the same refit.
    from sklearn_ntk import layers
    X, y = classification_data
    net = layers.serial(layers.Dense(1, W_std=1.5, b_std=2.0), layers.Relu(),
                        layers.Dense(1, W_std=1.5, b_std=2.0))
    grid = {"times": [None, 10.0], "diag_regs": [0.1, 0.01]}
    search = NTKClassifierCV(architecture=net, n_jobs=1, verbose=0, **grid).fit(X, y)
    mlp = NTKClassifierCV(depths=[1], bias_stds=[2.0], **grid).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               mlp.cv_results_["mean_test_score"], rtol=1e-12)
    assert set(search.best_params_) == {"diag_reg", "t"}
    assert search.best_estimator_.architecture is net
    assert search.best_estimator_.n_jobs == 1


def test_too_large_a_search_is_refused_before_allocating(regression_data, monkeypatch):
    # 10^6 rows would need 32 TB of n x n arrays: a MemoryError that names
    # the remedy, raised before any kernel is computed.
    import sklearn_ntk._cv_estimators as module
    import sklearn_ntk._solvers as solvers_module
    X, y = regression_data
    monkeypatch.setattr(solvers_module, "available_memory", lambda: 10**9)
    monkeypatch.setattr(module, "CV_ARRAYS", 10**8)  # 24 rows now "need" 460 GB
    model = NTKRegressorCV(**SMALL_GRID, solver="exact")
    with pytest.raises(MemoryError, match="solver='nystrom'"):
        model.fit(X, y)
    assert not hasattr(model, "best_params_")
    # solver="auto" takes the Nyström search instead.
    fitted = NTKRegressorCV(**SMALL_GRID, n_components=8, random_state=0).fit(X, y)
    assert fitted.best_estimator_.solver_ == "nystrom"


# -- Nyström: leave-one-out in the m x m space ----------------------------------------


def _amplitude(x):
    """A row-dependent scale: the toy kernels' diagonals vary from row to
    row (0.25 to 2.25), as a ReLU kernel's do with ``|x|``, so that every
    leave-one-out model and every fold has its own regulariser."""
    return 1.0 + 0.5 * np.tanh(x[:, 0])


class _RbfKernel:
    """A toy smooth kernel with the evaluator's contract (NNGP = NTK)."""

    def __call__(self, x1, x2, get, verbose=0):
        from sklearn_ntk import Kernels
        x2 = x1 if x2 is None else x2
        k = (np.outer(_amplitude(x1), _amplitude(x2))
             * np.exp(-0.5 * ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)))
        return Kernels(k, k)

    def diagonal(self, x):
        from sklearn_ntk import Kernels
        return Kernels(_amplitude(x) ** 2, _amplitude(x) ** 2)


@pytest.fixture(params=["interpolated", "row by row"])
def lambda_i_route(request, monkeypatch):
    """Both routes to each row's filter at its own lambda_i: Chebyshev
    interpolation in lambda, and (when the interval would need too many
    nodes, forced here) each row's filter directly."""
    if request.param == "row by row":
        from sklearn_ntk import _loo
        monkeypatch.setattr(_loo, "MAX_INTERPOLATION_NODES", 1)
    return request.param


def _leave_one_out_regularizer(kernel, name, X, diag_reg, i):
    """``diag_reg * mean(diag K)`` over the rows other than ``i``, as a refit uses."""
    diagonal = getattr(kernel.diagonal(X), name)
    return diag_reg * (diagonal.sum() - diagonal[i]) / (len(X) - 1)


@pytest.mark.parametrize("n_components", [12, 40])
def test_nystrom_leave_one_out_equals_refits_with_fixed_centres(rng, n_components,
                                                                lambda_i_route):
    # At t=None the one-pass formula is the exact leave-one-out of Nyström
    # kernel ridge regression with the centres held fixed: each refit solves
    # ridge regression on the features B = K_nm T without row i, with its
    # own lambda_i = diag_reg * mean(diag K) of the other rows. Rounding of
    # the two routes (m <= 40, condition numbers <= 1e6 after lambda): 1e-8
    # relative. n_components = n is the exact kernel.
    from sklearn_ntk._nystrom import NystromDynamics, whitening
    from sklearn_ntk._nystrom_cv import nystrom_leave_one_out
    X = rng.standard_normal((40, 2))
    y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1]]) + 0.1 * rng.standard_normal((40, 2))
    kernel = _RbfKernel()
    dynamics = NystromDynamics(X, y, kernel, "ntk", 0.1, n_components,
                               rng=np.random.RandomState(0))
    settings = [(1.0, None), (0.01, None), (0.01, 1e6)]
    loo = nystrom_leave_one_out(dynamics, y, settings, rows_per_block=16)
    features = kernel(X, dynamics.centers, ("ntk",)).ntk @ whitening(
        kernel(dynamics.centers, None, ("ntk",)).ntk)
    for (diag_reg, _), means in zip(settings[:2], loo):
        for i in range(len(X)):
            lam = _leave_one_out_regularizer(kernel, "ntk", X, diag_reg, i)
            keep = np.arange(len(X)) != i
            b = features[keep]
            w = np.linalg.solve(b.T @ b + lam * np.eye(b.shape[1]), b.T @ y[keep])
            np.testing.assert_allclose(means[i], features[i] @ w, rtol=1e-8, atol=1e-10)
    # Long training tends to infinite time (the filter converges).
    np.testing.assert_allclose(loo[2], loo[1], rtol=1e-6, atol=1e-8)


class _TwoRbfKernels:
    """A toy with NNGP != NTK: the NNGP an RBF, the NTK the NNGP plus a narrower RBF."""

    def __call__(self, x1, x2, get, verbose=0):
        from sklearn_ntk import Kernels
        x2 = x1 if x2 is None else x2
        squared = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
        scale = np.outer(_amplitude(x1), _amplitude(x2))
        nngp = scale * np.exp(-0.5 * squared)
        return Kernels(nngp, nngp + 0.5 * scale * np.exp(-2.0 * squared))

    def diagonal(self, x):
        from sklearn_ntk import Kernels
        return Kernels(_amplitude(x) ** 2, 1.5 * _amplitude(x) ** 2)


def _whitened_features(kernel, name, X, centers):
    """``B = K_nm T``, ``T = V D^{-1/2}`` from K_mm's eigendecomposition
    (another whitening than the library's Cholesky one: the Nyström model
    does not depend on the choice)."""
    values, vectors = np.linalg.eigh(getattr(kernel(centers, None, (name,)), name))
    return getattr(kernel(X, centers, (name,)), name) @ (vectors / np.sqrt(values))


@pytest.mark.parametrize("name", ["ntk", "nngp"])
def test_nystrom_leave_one_out_variances_equal_refits_with_fixed_centres(rng, name,
                                                                        lambda_i_route):
    # At t=None the one-pass variances are those of the Nyström model
    # refitted without row i (centres fixed, its own lambda_i), at x_i:
    # weights w = B_(-i) A^{-1} b_i on the other rows
    # (A = B_(-i)^T B_(-i) + lambda_i)
    # and the variance of f_0(x_i) - w . f_0(X_(-i)) (plus noise lambda_i on
    # the targets for the NNGP dynamics) under the Nyström NNGP prior, with
    # the exact prior variance k_ii. NNGP != NTK here. Rounding (m = 12,
    # condition numbers <= 1e7): 1e-7 relative. Long training tends to
    # infinite time.
    from sklearn_ntk._nystrom import NystromDynamics
    from sklearn_ntk._nystrom_cv import nystrom_leave_one_out_variances
    X = rng.standard_normal((30, 2))
    y = np.sin(2 * X[:, :1])
    kernel = _TwoRbfKernels()
    dynamics = NystromDynamics(X, y, kernel, name, 0.1, 12, rng=np.random.RandomState(0))
    settings = [(1.0, None), (0.01, None), (0.01, 1e7)]
    variances = nystrom_leave_one_out_variances(dynamics, settings, rows_per_block=7)
    b = _whitened_features(kernel, name, X, dynamics.centers)
    prior_features = _whitened_features(kernel, "nngp", X, dynamics.centers)
    prior = kernel.diagonal(X).nngp
    for (diag_reg, _), computed in zip(settings[:2], variances):
        for i in range(len(X)):
            lam = _leave_one_out_regularizer(kernel, name, X, diag_reg, i)
            keep = np.arange(len(X)) != i
            w = b[keep] @ np.linalg.solve(b[keep].T @ b[keep] + lam * np.eye(b.shape[1]), b[i])
            cross = prior_features[keep] @ prior_features[i]
            covariance = prior_features[keep] @ prior_features[keep].T
            if name == "nngp":
                covariance = covariance + lam * np.eye(len(w))
            expected = prior[i] - 2.0 * w @ cross + w @ covariance @ w
            np.testing.assert_allclose(computed[i], expected, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(variances[2], variances[1], rtol=1e-5, atol=1e-8)


def _count_nystrom_fits(monkeypatch):
    from sklearn_ntk import _nystrom
    fits = []
    init = _nystrom.NystromDynamics.__init__

    def counted(self, *args, **kwargs):
        fits.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(_nystrom.NystromDynamics, "__init__", counted)
    return fits


@pytest.mark.parametrize("Search", [NTKRegressorCV, NNGPClassifierCV])
def test_nystrom_search_scores_its_closed_form_and_refits_from_it(
        regression_data, classification_data, monkeypatch, Search):
    # solver="nystrom": one Nyström fit per architecture scores every
    # (diag_reg, t) by nystrom_leave_one_out (tested against refits above),
    # and the refit reuses the best architecture's fit at its diag_reg. The
    # refit must predict as a fresh base estimator with the best parameters
    # and the same seed (the same centres): equal up to rounding, 1e-10.
    from sklearn_ntk._dynamics import time_to_tau
    from sklearn_ntk._nystrom_cv import nystrom_leave_one_out
    X, y = classification_data if Search in CLASSIFIERS else regression_data
    fits = _count_nystrom_fits(monkeypatch)
    search = Search(solver="nystrom", n_components=10, depths=[1, 2], bias_stds=[2.0],
                    diag_regs=[0.1, 0.01], times=[None, 10.0], random_state=3).fit(X, y)
    assert len(fits) == 2  # two architectures; the refit fitted nothing new
    best = search.best_estimator_
    regressor = best.regressor_ if Search in CLASSIFIERS else best
    assert regressor.solver_ == "nystrom"
    # best_score_ is the closed form's score of the best candidate.
    targets = search._encode(y)[0] if Search in CLASSIFIERS else y[:, None]
    params = search.best_params_
    tau = time_to_tau(params["t"], 1.0, (len(X) - 1) * targets.shape[1])
    means = nystrom_leave_one_out(regressor._state, targets, [(params["diag_reg"], tau)])[0]
    expected = (np.mean(search.classes_[np.argmax(means, axis=1)] == y)
                if Search in CLASSIFIERS else r2(y, means[:, 0]))
    assert search.best_score_ == pytest.approx(expected, rel=1e-12)
    KERNEL_CACHE.clear()
    reference = BASE[Search](**params, solver="nystrom", n_components=10,
                             random_state=best.random_state).fit(X, y)
    assert len(fits) == 3
    reference_regressor = reference.regressor_ if Search in CLASSIFIERS else reference
    np.testing.assert_array_equal(regressor._state.center_indices,
                                  reference_regressor._state.center_indices)
    assert_same_predictions(best, reference, X, Search)


def test_nystrom_search_scores_probabilities_from_its_closed_forms(classification_data):
    # Probability scorers on the Nyström leave-one-out search see the
    # closed-form means and variances (each tested against refits above)
    # through the Gaussian predictive of predict_proba, candidate by candidate.
    from sklearn_ntk._classifiers import argmax_probabilities
    from sklearn_ntk._dynamics import time_to_tau
    from sklearn_ntk._nystrom_cv import nystrom_leave_one_out, nystrom_leave_one_out_variances
    X, y = classification_data
    search = NTKClassifierCV(solver="nystrom", n_components=8, scoring="neg_log_loss",
                             random_state=0, **SMALL_GRID).fit(X, y)
    targets = search._encode(y)[0]
    state = search.best_estimator_.regressor_._state
    settings = [(p["diag_reg"], time_to_tau(p["t"], 1.0, (len(X) - 1) * targets.shape[1]))
                for p in search.cv_results_["params"]]
    means = nystrom_leave_one_out(state, targets, settings)
    variances = nystrom_leave_one_out_variances(state, settings)
    expected = [-log_loss(y, argmax_probabilities(m, np.sqrt(v))[0], labels=search.classes_)
                for m, v in zip(means, variances)]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], expected, rtol=1e-12)


# -- Nyström: K-fold with the centres held fixed ----------------------------------------


def test_nystrom_folds_are_the_fold_fits_with_fixed_centres(rng):
    # NystromFolds scores each fold with the Nyström model fitted on the
    # fold's rows and the given centres, for any splitter (ShuffleSplit
    # leaves rows in neither set). Independent route per fold, on features
    # B (eigen-whitened, as above): the gradient flow of the weights,
    # w(tau) = A^{-1} (I - expm(-tau A)) B_R^T y_R with A = B_R^T B_R + lambda,
    # by scipy's expm (tau=None: a linear solve), and the NNGP posterior
    # variance k(x, x) - b (B_R^T B_R) (B_R^T B_R + lambda)^{-1} b^T.
    # lambda = diag_reg * mean(diag K_RR), the fold's own. Rounding of the
    # two routes (m = 12, condition numbers <= 1e7): 1e-7 relative.
    from scipy.linalg import expm
    from sklearn.model_selection import ShuffleSplit

    from sklearn_ntk._nystrom import NystromDynamics
    from sklearn_ntk._nystrom_cv import NystromFolds
    X = rng.standard_normal((40, 2))
    y = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1]]) + 0.1 * rng.standard_normal((40, 2))
    kernel = _RbfKernel()
    for name in ("ntk", "nngp"):
        dynamics = NystromDynamics(X, y, kernel, name, 0.1, 12, rng=np.random.RandomState(0))
        features = _whitened_features(kernel, name, X, dynamics.centers)
        settings = [(1.0, None), (0.01, None), (0.01, 3.0)]
        for splitter in (KFold(4, shuffle=True, random_state=0),
                         ShuffleSplit(3, train_size=0.5, test_size=0.3, random_state=0)):
            splits = list(splitter.split(X))
            folds = NystromFolds(dynamics, splits, [y[train] * (1 + f)
                                                    for f, (train, _) in enumerate(splits)],
                                 rows_per_block=7)
            for f, (train, test) in enumerate(splits):
                means = folds.means(f, settings)
                variances = folds.variances(f, settings) if name == "nngp" else None
                b, targets = features[train], y[train] * (1 + f)
                gram = b.T @ b
                diagonal = getattr(kernel.diagonal(X), name)
                for c, (diag_reg, tau) in enumerate(settings):
                    lam = diag_reg * diagonal[train].mean()
                    a = gram + lam * np.eye(gram.shape[0])
                    rhs = b.T @ targets
                    weights = np.linalg.solve(a, rhs if tau is None
                                              else rhs - expm(-tau * a) @ rhs)
                    np.testing.assert_allclose(means[c], features[test] @ weights,
                                               rtol=1e-7, atol=1e-9)
                    if variances is not None and tau is None:
                        explained = features[test] @ np.linalg.solve(a, gram)
                        np.testing.assert_allclose(
                            variances[c],
                            kernel.diagonal(X[test]).nngp
                            - np.sum(explained * features[test], axis=1),
                            rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("Search", [NTKClassifierCV, NNGPRegressorCV])
@pytest.mark.parametrize("folds", ["k-fold", "leave-one-out"])
def test_nystrom_search_with_every_row_a_centre_is_the_exact_search(
        regression_data, classification_data, monkeypatch, Search, folds):
    # With every row a centre the Nyström kernels are the exact ones, so the
    # search on the Nyström fit (centres held fixed) must give the exact
    # solver's scores (tested against GridSearchCV and refits above), means
    # and variances alike (neg_log_loss: the NTK ensemble's variances), at
    # every (diag_reg, t): K-fold split by split, and leave-one-out with
    # each left-out model's own lambda_i (the same linear smoother at finite
    # t). One Nyström fit per architecture and nothing per fold. Rounding:
    # the whitening of K_mm (condition numbers <= 1e8 here) against
    # eigendecompositions of the train kernels: 1e-6 relative.
    X, y = classification_data if Search in CLASSIFIERS else regression_data
    scoring = "neg_log_loss" if Search in CLASSIFIERS else "r2"
    grid = {**SMALL_GRID, "depths": (1, 2), "diag_regs": (1.0, 0.1, 0.01)}
    fits = _count_nystrom_fits(monkeypatch)
    cv = None
    if folds == "k-fold":
        cv = StratifiedKFold(3) if Search in CLASSIFIERS else KFold(3)
    nystrom = Search(solver="nystrom", n_components=len(X), centers="uniform", cv=cv,
                     scoring=scoring, random_state=0, **grid).fit(X, y)
    assert len(fits) == 2  # one per architecture; the refit reuses the best
    exact = Search(solver="exact", cv=cv, scoring=scoring, **grid).fit(X, y)
    columns = ["mean_test_score"]
    if folds == "k-fold":
        assert nystrom.n_splits_ == exact.n_splits_ == 3
        columns += [f"split{k}_test_score" for k in range(3)]
    for column in columns:
        np.testing.assert_allclose(nystrom.cv_results_[column], exact.cv_results_[column],
                                   rtol=1e-6)
    assert nystrom.best_params_ == exact.best_params_
    regressor = (nystrom.best_estimator_.regressor_ if Search in CLASSIFIERS
                 else nystrom.best_estimator_)
    assert regressor.solver_ == "nystrom"


def test_nystrom_cv_passes_in_parallel_equal_the_serial_ones(rng):
    # Every pass of the Nyström search runs in row tasks through joblib: two
    # threads must give what one gives. Per-row results are the same float64
    # code on the same blocks; the folds' Grams are sums reduced in another
    # grouping: 1e-12 relative to the largest value compared.
    from sklearn_ntk._nystrom import NystromDynamics
    from sklearn_ntk._nystrom_cv import (
        NystromFolds,
        nystrom_leave_one_out,
        nystrom_leave_one_out_variances,
    )
    X = rng.standard_normal((90, 2))
    y = np.sin(2 * X[:, :1])
    settings = [(0.1, None), (0.01, 3.0)]
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    results = []
    for n_jobs in (None, 2):
        dynamics = NystromDynamics(X, y, _TwoRbfKernels(), "ntk", 0.1, 15,
                                   rng=np.random.RandomState(0), n_jobs=n_jobs)
        folds = NystromFolds(dynamics, splits, [y[train] for train, _ in splits],
                             rows_per_block=8)
        results.append([nystrom_leave_one_out(dynamics, y, settings, rows_per_block=8),
                        nystrom_leave_one_out_variances(dynamics, settings, rows_per_block=8),
                        folds.means(1, settings), folds.variances(1, settings)])
    for serial, parallel in zip(*results):
        np.testing.assert_allclose(parallel, serial, rtol=1e-12,
                                   atol=1e-12 * np.max(np.abs(serial)))

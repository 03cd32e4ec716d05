"""Estimators that choose ``t``, ``diag_reg`` and ``depth`` by cross-validation.

``NTKRegressorCV``, ``NNGPRegressorCV``, ``NTKClassifierCV`` and
``NNGPClassifierCV`` search a grid of training times (including None),
relative regularisers, depths and bias standard deviations, then refit the
best candidate on all the data, as scikit-learn's ``RidgeCV`` and
``LogisticRegressionCV`` do. The default ``cv=None`` is leave-one-out in
closed form (:mod:`._loo`): one eigendecomposition of each architecture's
train kernel serves every ``diag_reg`` and every ``t``. An integer or a
splitter runs K-fold with one kernel per architecture on all rows, sliced
for every fold, and one eigendecomposition per fold and architecture. On
the Nyström approximation (large N) both work in the ``m x m`` space of one
Nyström fit per architecture, its centres held fixed
(:mod:`._nystrom_cv`).

The estimators stay thin: ``fit`` reads as validate -> kernels per
architecture -> score every candidate -> refit the best.
"""

import functools
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import check_scoring, get_scorer_names, r2_score
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._architecture import DEFAULTS, make_architecture
from ._classifiers import NNGPClassifier, NTKClassifier, argmax_probabilities, encode_targets
from ._dynamics import time_to_tau
from ._estimator_params import (
    ARCHITECTURE_CONSTRAINTS,
    DYNAMICS_CONSTRAINTS,
    SOLVER_CONSTRAINTS,
    validate_rows,
)
from ._kernels import Kernels
from ._loo import (
    eigensystem,
    holdout_means,
    holdout_nngp_variances,
    holdout_ntk_variances,
    leave_one_out_batch,
)
from ._nystrom_cv import NystromFolds, nystrom_leave_one_out, nystrom_leave_one_out_variances
from ._regressors import KERNEL_CACHE, NNGPRegressor, NTKRegressor
from ._solvers import AUTO_EXACT_MAX_N, ExactDynamics, fits_in_memory, refuse_beyond_memory

__all__ = ["NTKRegressorCV", "NNGPRegressorCV", "NTKClassifierCV", "NNGPClassifierCV"]

_VALIDATION_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

#: Relative training times of ``times="auto"``: each architecture gets
#: ``t = scale * y.size / (learning_rate * mean(diag K))``, i.e.
#: ``tau * mean(diag K) = scale``, so that the same scales mean the same
#: amount of early stopping for any data size, depth or number of classes.
#: ``None`` (infinite time) comes first. Chosen by measurement (see the
#: user guide, "Choosing t, diag_reg and depth by cross-validation").
AUTO_TIME_SCALES = (1.0, 10.0, 100.0)

#: Default ``diag_regs``, most regularised first (ties go to the first):
#: half-decades, because in closed form a finer grid costs almost nothing
#: (a few matrix products per value, against a factorisation per value and
#: fold for GridSearchCV).
DEFAULT_DIAG_REGS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)

#: Default ``depths`` and ``bias_stds``: four architectures, the cost of the
#: previous default (depths 1-4 at bias_std 2). Chosen by measurement on
#: generated development sets whose seeds differ from the reported ones
#: (``benchmarks/cv_grid_study.py``; user guide, "Default grid"): among
#: the four-architecture grids compared this one had the best mean held-out accuracy
#: (0.8520 against 0.8506), and no grid studied, up to 6 depths x 5
#: bias_stds x 11 diag_regs x 8 times, was more than 0.001 better.
#: ``bias_std=4`` (equivalently inputs scaled by 1/2, for ReLU) helps on
#: radially symmetric data.
DEFAULT_DEPTHS = (1, 3)
DEFAULT_BIAS_STDS = (2.0, 4.0)

_GRID_CONSTRAINTS = {
    "times": [StrOptions({"auto"}), "array-like"],
    "diag_regs": ["array-like"],
    "depths": ["array-like"],
    "bias_stds": ["array-like"],
    "cv": ["cv_object"],
    "scoring": [StrOptions(set(get_scorer_names())), callable, None],
}
_FIXED_ARCHITECTURE = ("activation", "activation_params", "weight_std",
                       "parameterization", "width")
#: Passed to every candidate as they are (the base estimators' meaning).
_PASSED_THROUGH = ("kernel_fn", "architecture", "image_shape", "n_components", "centers",
                   "n_jobs", "verbose")
#: The solver's parameters (``random_state`` is resolved once per fit).
_SOLVER_NAMES = ("solver", "n_components", "centers", "random_state")


# -- the grid -------------------------------------------------------------------


#: Peak n x n float64 arrays of the closed-form search, during an
#: eigendecomposition: the NNGP and NTK train kernels of the architecture in
#: work and of the best one so far, the matrix LAPACK overwrites with the
#: eigenvectors, and the two of divide and conquer's workspace
#: (``_loo.EIGH_DRIVER``). Afterwards the workspace holds the eigenvectors'
#: squares instead.
CV_ARRAYS = 7


def _search_bytes(n_samples):
    return CV_ARRAYS * 8 * int(n_samples) ** 2


def _check_fits_in_memory(n_samples):
    """Refuse, before allocating, a search whose n x n arrays cannot fit."""
    refuse_beyond_memory(
        _search_bytes(n_samples),
        f"The cross-validated search on n_samples={n_samples}",
        "n x n train kernels and their eigenvectors",
        "Use solver='nystrom' (leave-one-out on the Nyström approximation), "
        "or search a subsample.")


def _check_values(name, values, check):
    values = list(np.atleast_1d(np.asarray(values, dtype=object)))
    if not values:
        raise ValueError(f"{name} is empty; give at least one value.")
    return [check(name, value) for value in values]


def _real(name, value, allow_none):
    if value is None and allow_none:
        return None
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) and not (allow_none and np.isposinf(value))
            or value < 0):
        raise ValueError(
            f"{name} contains {value!r}; every value must be a finite real >= 0"
            + (" or None." if allow_none else ".")
        )
    return None if np.isposinf(value) else float(value)


def _depth(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 0:
        raise ValueError(f"{name} contains {value!r}; depths are integers >= 0.")
    return int(value)


class _Architecture:
    """Kernels of one architecture on all rows, computed once, sliced per fold.

    ``depth`` and ``bias_std`` are None when the estimator has its own
    ``kernel_fn`` or ``architecture`` (one fixed kernel: only ``diag_reg``
    and ``t`` are searched).
    """

    def __init__(self, estimator, X, depth, bias_std):
        self.params = {} if depth is None else {"bias_std": bias_std, "depth": depth}
        self.X = X
        self.dynamics = estimator._dynamics_kernel
        base = estimator._estimator_class(**estimator._base_params(self.params))
        regressor = base._make_regressor() if hasattr(base, "_make_regressor") else base
        self._evaluator = regressor._evaluator()
        self._verbose = estimator.verbose
        self.kernels = {}
        self._eig = None
        self._folds = {}
        self._prior_variance = None
        self._nngp_in_eigenbasis = None
        if estimator.kernel_fn is None and estimator.architecture is None:
            # A bad value fails before any work.
            make_architecture(**{name: getattr(estimator, name)
                                 for name in _FIXED_ARCHITECTURE}, **self.params)

    def kernel(self, name):
        if name not in self.kernels:
            # The NTK recursion computes the NNGP on the way: get both at once.
            get = ("nngp", "ntk") if name == "ntk" else ("nngp",)
            computed = self._evaluator(self.X, None, get, verbose=self._verbose)
            self.kernels.update({g: np.asarray(getattr(computed, g), dtype=np.float64)
                                 for g in get if getattr(computed, g) is not None})
        return self.kernels[name]

    def mean_diagonal(self):
        """``mean(diag K)`` of the dynamics kernel (the time scale of ``"auto"``)."""
        return float(np.mean(np.diag(self.kernel(self.dynamics))))

    def prior_variance(self):
        if self._prior_variance is None:
            self._prior_variance = self._evaluator.diagonal(self.X).nngp
        return self._prior_variance

    @property
    def computed_eigensystem(self):
        """The eigensystem on all rows if leave-one-out computed it, else None."""
        return self._eig

    def eigensystem(self):
        """Of the dynamics kernel on all rows (leave-one-out)."""
        if self._eig is None:
            self._eig = eigensystem(self.kernel(self.dynamics))
        return self._eig

    def fold(self, train, test, fold_targets):
        """Eigensystem and projections of one fold, shared by its candidates."""
        key = train.tobytes()
        if key not in self._folds:
            kernel = self.kernel(self.dynamics)
            eig = eigensystem(kernel[np.ix_(train, train)], overwrite=True)
            self._folds[key] = (eig, eig.vectors.T @ kernel[np.ix_(train, test)],
                                eig.vectors.T @ fold_targets)
        return self._folds[key]

    def nngp_in_eigenbasis(self):
        """``U^T K_nngp U`` of the full NTK eigenbasis (NTK variances)."""
        if self._nngp_in_eigenbasis is None:
            vectors = self.eigensystem().vectors
            self._nngp_in_eigenbasis = vectors.T @ self.kernel("nngp") @ vectors
        return self._nngp_in_eigenbasis


class _NystromArchitecture:
    """One architecture's Nyström fit on all rows (``solver="nystrom"``).

    Its centres, streaming passes and m x m eigendecomposition serve every
    ``diag_reg`` and ``t`` (:mod:`._nystrom_cv`) and the
    refit of the best candidate.
    """

    def __init__(self, estimator, X, depth, bias_std, targets, seed):
        self.params = {} if depth is None else {"bias_std": bias_std, "depth": depth}
        base = estimator._estimator_class(**estimator._base_params(self.params, seed))
        self.regressor = (base._make_regressor() if hasattr(base, "_make_regressor")
                          else base)
        self.state = self.regressor._fit_state(X, targets)

    def mean_diagonal(self):
        return self.state.diagonal_mean


# -- predictions as estimators, for scikit-learn scorers ---------------------------


class _SharedVariances:
    """Every candidate's held-out variances, computed together (one pass over
    the rows) at the first request of a scorer that needs them."""

    def __init__(self, compute):
        self._compute = compute
        self._all = None

    def of(self, index):
        """The lazy ``variances()`` of candidate ``index``."""
        return functools.partial(self._get, index)

    def _get(self, index):
        if self._all is None:
            self._all = self._compute()
        return self._all[index]


class _FixedRegressor(RegressorMixin, BaseEstimator):
    """Returns held-out predictions computed elsewhere (for ``scoring``)."""

    def __init__(self, predictions=None):
        self.predictions = predictions

    def fit(self, X, y):
        return self

    def predict(self, X):
        return self.predictions


class _FixedClassifier(ClassifierMixin, BaseEstimator):
    """Held-out labels and (lazily) probabilities, for ``scoring``.

    No ``decision_function``: scorers that accept either use
    ``predict_proba``, which is what the classifiers' probabilities are.
    """

    def __init__(self, classes=None, means=None, variances=None):
        self.classes = classes
        self.means = means
        self.variances = variances

    @property
    def classes_(self):
        return self.classes

    def fit(self, X, y):
        return self

    def predict(self, X):
        return self.classes[np.argmax(self.means, axis=1)]

    def _proba(self):
        return argmax_probabilities(self.means, np.sqrt(self.variances()))

    def predict_proba(self, X):
        return self._proba()[0]

    def predict_log_proba(self, X):
        return self._proba()[1]


# -- the estimators ----------------------------------------------------------------


class _InfiniteWidthCV(BaseEstimator):
    """Shared machinery of the four cross-validated estimators."""

    _estimator_class = None
    _dynamics_kernel = None
    _is_classifier = False

    _parameter_constraints = {
        **_GRID_CONSTRAINTS,
        **{name: ARCHITECTURE_CONSTRAINTS[name] for name in _FIXED_ARCHITECTURE},
        "learning_rate": DYNAMICS_CONSTRAINTS["learning_rate"],
        **{name: NTKClassifier._parameter_constraints[name] for name in _PASSED_THROUGH},
        **{name: SOLVER_CONSTRAINTS[name] for name in _SOLVER_NAMES},
    }

    def __init__(
        self,
        *,
        times="auto",
        diag_regs=DEFAULT_DIAG_REGS,
        depths=DEFAULT_DEPTHS,
        bias_stds=DEFAULT_BIAS_STDS,
        activation=DEFAULTS["activation"],
        activation_params=None,
        weight_std=DEFAULTS["weight_std"],
        parameterization=DEFAULTS["parameterization"],
        width=None,
        learning_rate=1.0,
        kernel_fn=None,
        architecture=None,
        image_shape=None,
        cv=None,
        scoring=None,
        solver="auto",
        n_components="auto",
        centers="rpcholesky",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.times = times
        self.diag_regs = diag_regs
        self.depths = depths
        self.bias_stds = bias_stds
        self.activation = activation
        self.activation_params = activation_params
        self.weight_std = weight_std
        self.parameterization = parameterization
        self.width = width
        self.learning_rate = learning_rate
        self.kernel_fn = kernel_fn
        self.architecture = architecture
        self.image_shape = image_shape
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.n_components = n_components
        self.centers = centers
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    # -- fit -------------------------------------------------------------------

    def fit(self, X, y):
        """Score every candidate by cross-validation and refit the best one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; standard-scale them).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets (regressors) or class labels (classifiers).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        grid = self._check_grid()
        saved = {name: self.__dict__[name] for name in _VALIDATION_ATTRIBUTES
                 if name in self.__dict__}
        try:
            return self._fit(X, y, grid)
        except BaseException:
            # validate_data sets n_features_in_ before it can fail: a failed
            # fit leaves the estimator as it was.
            for name in _VALIDATION_ATTRIBUTES:
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise

    def _check_grid(self):
        times = self.times
        if not (isinstance(times, str) and times == "auto"):
            times = _check_values("times", times, lambda n, v: _real(n, v, True))
        return {
            "times": times,
            "diag_regs": _check_values("diag_regs", self.diag_regs,
                                       lambda n, v: _real(n, v, False)),
            "depths": _check_values("depths", self.depths, _depth),
            "bias_stds": _check_values("bias_stds", self.bias_stds,
                                       lambda n, v: _real(n, v, True)),
        }

    def _fit(self, X, y, grid):
        X, y, targets, extra = self._validate_training_data(X, y)
        nystrom = self._resolve_solver(X.shape[0]) == "nystrom"
        if not nystrom:
            _check_fits_in_memory(X.shape[0])
        # One seed for every architecture's centres and the refit (which
        # then reuses the best architecture's Nyström fit).
        seed = (check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
                if nystrom else None)
        scorer = None if self.scoring is None else check_scoring(
            self._estimator_class(), scoring=self.scoring)
        splits = None
        if self.cv is not None:
            splits = list(check_cv(self.cv, y, classifier=self._is_classifier).split(X, y))
        candidates, scores, best_kernels, best_eig = [], [], None, None
        best_score, best_architecture = -np.inf, None
        if self.kernel_fn is None and self.architecture is None:
            networks = [(depth, bias_std) for bias_std in grid["bias_stds"]
                        for depth in grid["depths"]]
        else:
            networks = [(None, None)]  # one fixed kernel: depths, bias_stds unused
        for depth, bias_std in networks:
            architecture = (_NystromArchitecture(self, X, depth, bias_std, targets, seed)
                            if nystrom else _Architecture(self, X, depth, bias_std))
            times = self._times(grid["times"], architecture, targets)
            settings = [(diag_reg, t) for diag_reg in grid["diag_regs"] for t in times]
            if splits is None:
                # Every candidate of this architecture at once.
                arch_scores = [[score] for score in self._loo_scores(
                    architecture, targets, y, extra, settings, scorer)]
            elif nystrom:
                arch_scores = self._nystrom_holdout_scores(
                    architecture, targets, y, extra, splits, settings, scorer)
            else:
                arch_scores = [[self._holdout_score(architecture, targets, y, extra,
                                                    train, test, diag_reg, t, scorer)
                                for train, test in splits]
                               for diag_reg, t in settings]
            for (diag_reg, t), score in zip(settings, arch_scores):
                candidates.append({**architecture.params, "diag_reg": diag_reg, "t": t})
                scores.append(score)
                mean = float(np.mean(score))
                if mean > best_score:
                    best_score, best_architecture = mean, architecture
                    if not nystrom:
                        best_kernels = architecture.kernels
                        # Finite times reuse the leave-one-out eigendecomposition
                        # in the refit (weights and covariances in O(n^2));
                        # infinite time needs only a Cholesky factor.
                        best_eig = None if t is None else architecture.computed_eigensystem
        scores = np.asarray(scores, dtype=np.float64)
        mean_scores = scores.mean(axis=1)
        if not np.any(np.isfinite(mean_scores)):
            raise ValueError(
                "Every candidate's cross-validation score is NaN or infinite; "
                "check the scoring and the data, or give diag_regs > 0."
            )
        ranked = np.where(np.isfinite(mean_scores), mean_scores, -np.inf)
        best_index = int(np.argmax(ranked))  # the first of equal scores, as GridSearchCV
        best_params = candidates[best_index]
        if nystrom:
            best_estimator = self._refit_nystrom(X, y, best_params, best_architecture, seed)
        else:
            best_estimator = self._refit(X, y, best_params, best_kernels, best_eig)
        # Attributes only once everything succeeded.
        self.cv_results_ = self._cv_results(candidates, scores, ranked)
        self.best_index_ = best_index
        self.best_params_ = dict(best_params)
        self.best_score_ = float(mean_scores[best_index])
        self.best_estimator_ = best_estimator
        self.n_splits_ = 1 if splits is None else len(splits)
        for name, value in extra.items():
            setattr(self, name, value)
        return self

    def _times(self, times, architecture, targets):
        if not isinstance(times, str):
            return times
        scale = targets.size / (self.learning_rate * architecture.mean_diagonal())
        return [None] + [float(s * scale) for s in AUTO_TIME_SCALES]

    def _cv_results(self, candidates, scores, ranked):
        order = np.argsort(-ranked, kind="stable")
        rank = np.empty(len(candidates), dtype=np.int32)
        # Equal scores share the smallest rank (scipy's "min"), as GridSearchCV.
        rank[order] = 1 + np.searchsorted(-ranked[order], -ranked[order], side="left")
        results = {"params": [dict(c) for c in candidates]}
        for name in candidates[0]:
            results[f"param_{name}"] = np.array([c[name] for c in candidates], dtype=object)
        if scores.shape[1] > 1:
            for k in range(scores.shape[1]):
                results[f"split{k}_test_score"] = scores[:, k]
            results["std_test_score"] = scores.std(axis=1)
        results["mean_test_score"] = scores.mean(axis=1)
        results["rank_test_score"] = rank
        return results

    def _base_params(self, params, seed=None):
        """The base estimator's parameters; ``seed`` (the Nyström centres')
        is None for the exact search."""
        fixed = {name: getattr(self, name) for name in _FIXED_ARCHITECTURE + _PASSED_THROUGH}
        solver = ({"solver": "exact"} if seed is None
                  else {"solver": "nystrom", "random_state": seed})
        return {**fixed, **params, "learning_rate": self.learning_rate, **solver,
                **self._extra_base_params()}

    def _resolve_solver(self, n_samples):
        """``solver="auto"``: exact up to ``AUTO_EXACT_MAX_N`` rows when the
        search's n x n arrays fit, as the base estimators decide."""
        if self.solver != "auto":
            return self.solver
        if n_samples <= AUTO_EXACT_MAX_N and fits_in_memory(_search_bytes(n_samples)):
            return "exact"
        return "nystrom"

    def _refit_nystrom(self, X, y, params, architecture, seed):
        """Refit the best candidate on the Nyström fit of its architecture
        (the fit does not depend on ``diag_reg``), through the cache."""
        estimator = self._estimator_class(**self._base_params(params, seed))
        regressor = architecture.regressor
        KERNEL_CACHE.put(regressor.set_params(diag_reg=params["diag_reg"])
                         ._cache_key(X, "nystrom"),
                         architecture.state.with_diag_reg(params["diag_reg"]),
                         owner=regressor._cache_owner())
        return estimator.fit(X, y)

    def _extra_base_params(self):
        return {}

    def _refit(self, X, y, params, kernels, eig):
        estimator = self._estimator_class(**self._base_params(params))
        _seed_kernel_cache(estimator, X, kernels, params["diag_reg"], eig)
        return estimator.fit(X, y)

    # -- scores ------------------------------------------------------------------

    def _loo_scores(self, architecture, targets, y, extra, settings, scorer):
        if isinstance(architecture, _NystromArchitecture):
            return self._nystrom_loo_scores(architecture, targets, y, extra, settings,
                                            scorer)
        eig = architecture.eigensystem()
        projected_targets = eig.vectors.T @ targets
        n, n_targets = targets.shape
        taus = [time_to_tau(t, self.learning_rate, (n - 1) * n_targets) for _, t in settings]
        batch = leave_one_out_batch(
            eig, projected_targets, targets,
            np.diag(architecture.kernel(self._dynamics_kernel)),
            [(diag_reg, tau) for (diag_reg, _), tau in zip(settings, taus)])
        return [self._score(scorer, y, loo.means, self._variances(architecture, eig, loo),
                            extra) for loo in batch]

    def _nystrom_loo_scores(self, architecture, targets, y, extra, settings, scorer):
        n, n_targets = targets.shape
        nystrom_settings = [(diag_reg, time_to_tau(t, self.learning_rate, (n - 1) * n_targets))
                            for diag_reg, t in settings]
        means = nystrom_leave_one_out(architecture.state, targets, nystrom_settings)
        variances = _SharedVariances(functools.partial(
            nystrom_leave_one_out_variances, architecture.state, nystrom_settings))
        return [self._score(scorer, y, m, variances.of(index), extra)
                for index, m in enumerate(means)]

    def _variances(self, architecture, eig, loo):
        """Held-out variances of one candidate, computed only if a scorer asks."""
        def variances():
            if self._dynamics_kernel == "nngp":
                return loo.nngp_variances(eig)
            return loo.ntk_variances(architecture.nngp_in_eigenbasis())
        return variances

    def _fold_targets(self, targets, y, train):
        if self._is_classifier:
            # The estimator fitted on the fold encodes its own classes.
            return self._encode(y[train])[0]
        return targets[train]

    def _fold_extra(self, extra, y, train):
        fold_extra = dict(extra)
        if self._is_classifier:
            fold_extra["classes_"] = np.unique(y[train])
        return fold_extra

    def _nystrom_holdout_scores(self, architecture, targets, y, extra, splits, settings,
                                scorer):
        """Every candidate's score on every fold (``[candidate][fold]``), from
        the folds' Nyström fits with the architecture's centres held fixed."""
        fold_targets = [self._fold_targets(targets, y, train) for train, _ in splits]
        folds = NystromFolds(architecture.state, splits, fold_targets)
        scores = np.empty((len(settings), len(splits)))
        for fold, ((train, test), targets_f) in enumerate(zip(splits, fold_targets)):
            fold_settings = [(diag_reg, time_to_tau(t, self.learning_rate, targets_f.size))
                             for diag_reg, t in settings]
            variances = _SharedVariances(functools.partial(folds.variances, fold,
                                                           fold_settings))
            fold_extra = self._fold_extra(extra, y, train)
            for index, means in enumerate(folds.means(fold, fold_settings)):
                scores[index, fold] = self._score(scorer, y[test], means,
                                                  variances.of(index), fold_extra)
        return scores.tolist()

    def _holdout_score(self, architecture, targets, y, extra, train, test,
                       diag_reg, t, scorer):
        fold_targets = self._fold_targets(targets, y, train)
        eig, projected_test, projected_targets = architecture.fold(train, test, fold_targets)
        tau = time_to_tau(t, self.learning_rate, fold_targets.size)
        means = holdout_means(eig, projected_test, projected_targets, diag_reg, tau)

        def variances():
            prior = architecture.prior_variance()[test]
            if self._dynamics_kernel == "nngp":
                return holdout_nngp_variances(eig, projected_test, prior, diag_reg, tau)
            nngp = architecture.kernel("nngp")
            return holdout_ntk_variances(eig, projected_test, nngp[np.ix_(train, train)],
                                         nngp[np.ix_(test, train)], prior, diag_reg, tau)

        return self._score(scorer, y[test], means, variances,
                           self._fold_extra(extra, y, train))


def _seed_kernel_cache(estimator, X, kernels, diag_reg, eig=None):
    """Hand the train kernel already computed to the refit, through the cache.

    The refit then skips the kernel computation (the regressors' module
    cache is keyed on the data, the architecture, ``diag_reg`` and the
    solver). Only the exact solver uses the full train kernel. ``eig``, the
    eigendecomposition of the dynamics kernel on all rows, if given, is
    adopted by the refit's solver.
    """
    regressor = (estimator._make_regressor() if hasattr(estimator, "_make_regressor")
                 else estimator)
    dynamics = kernels.get(regressor._dynamics_kernel)
    if dynamics is None or regressor._resolve_solver(X.shape[0]) != "exact":
        return
    state = ExactDynamics(
        X, regressor._evaluator(), regressor._dynamics_kernel, diag_reg,
        n_jobs=regressor.n_jobs,
        kernels=Kernels(kernels.get("nngp"), kernels.get("ntk")))
    if eig is not None:
        state.solver.adopt_eigensystem(eig.values, eig.vectors)
    KERNEL_CACHE.put(regressor._cache_key(X, "exact"), state,
                     owner=regressor._cache_owner())


class _RegressorCV(RegressorMixin, _InfiniteWidthCV):
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _validate_training_data(self, X, y):
        X, y = validate_rows(self, X, y, multi_output=True, y_numeric=True,
                             dtype=np.float64, ensure_min_samples=2, accept_sparse=False)
        y = np.asarray(y, dtype=np.float64)
        return X, y, (y[:, None] if y.ndim == 1 else y), {}

    def _score(self, scorer, y, means, variances, extra):
        predictions = means[:, 0] if y.ndim == 1 else means
        if scorer is None:
            return r2_score(y, predictions)
        return scorer(_FixedRegressor(predictions), np.zeros((len(y), 1)), y)

    def predict(self, X, return_std=False, return_cov=False):
        """Predict with the refitted best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std, return_cov : bool, default=False
            As in :meth:`NTKRegressor.predict`.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std or y_cov : ndarray, optional
        """
        check_is_fitted(self)
        X = validate_rows(self, X, reset=False, dtype=np.float64, accept_sparse=False)
        return self.best_estimator_.predict(X, return_std=return_std,
                                            return_cov=return_cov)


class _ClassifierCV(ClassifierMixin, _InfiniteWidthCV):
    _parameter_constraints = {
        **_InfiniteWidthCV._parameter_constraints,
        "target_encoding": NTKClassifier._parameter_constraints["target_encoding"],
    }
    _is_classifier = True

    def __init__(
        self,
        *,
        times="auto",
        diag_regs=DEFAULT_DIAG_REGS,
        depths=DEFAULT_DEPTHS,
        bias_stds=DEFAULT_BIAS_STDS,
        activation=DEFAULTS["activation"],
        activation_params=None,
        weight_std=DEFAULTS["weight_std"],
        parameterization=DEFAULTS["parameterization"],
        width=None,
        learning_rate=1.0,
        kernel_fn=None,
        architecture=None,
        image_shape=None,
        cv=None,
        scoring=None,
        solver="auto",
        n_components="auto",
        centers="rpcholesky",
        random_state=None,
        n_jobs=None,
        verbose=0,
        target_encoding="centered",
    ):
        super().__init__(
            times=times, diag_regs=diag_regs, depths=depths, bias_stds=bias_stds,
            activation=activation, activation_params=activation_params,
            weight_std=weight_std, parameterization=parameterization, width=width,
            learning_rate=learning_rate, kernel_fn=kernel_fn, architecture=architecture,
            image_shape=image_shape, cv=cv, scoring=scoring, solver=solver,
            n_components=n_components, centers=centers, random_state=random_state,
            n_jobs=n_jobs, verbose=verbose,
        )
        self.target_encoding = target_encoding

    def _extra_base_params(self):
        return {"target_encoding": self.target_encoding}

    def _encode(self, y):
        classes, indices = np.unique(y, return_inverse=True)
        return encode_targets(indices, len(classes), self.target_encoding), classes

    def _validate_training_data(self, X, y):
        X, y = validate_rows(self, X, y, dtype=np.float64, accept_sparse=False,
                             ensure_min_samples=2)
        check_classification_targets(y)
        targets, classes = self._encode(y)
        if len(classes) < 2:
            raise ValueError(
                f"The classifier needs samples of at least 2 classes; y has only "
                f"one class: {classes[0]!r}. Check the labels (or use a regressor)."
            )
        return X, y, targets, {"classes_": classes}

    def _score(self, scorer, y, means, variances, extra):
        classes = extra["classes_"]
        if scorer is None:
            # accuracy_score's validation costs more than this at small n.
            return float(np.mean(y == classes[np.argmax(means, axis=1)]))
        return scorer(_FixedClassifier(classes, means, variances),
                      np.zeros((len(y), 1)), y)

    def _validated(self, X):
        check_is_fitted(self)
        return validate_rows(self, X, reset=False, dtype=np.float64, accept_sparse=False)

    def predict(self, X):
        """Class of the largest mean output of the refitted best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._validated(X)  # first: it raises NotFittedError
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the refitted best estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)  # first: it raises NotFittedError
        return self.best_estimator_.predict_proba(X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)  # first: it raises NotFittedError
        return self.best_estimator_.predict_log_proba(X)

    def decision_function(self, X):
        """Decision function of the refitted best estimator.

        The logarithm of :meth:`predict_proba` (the log-odds for two
        classes), so that it ranks test points as :meth:`predict_proba`
        does and :meth:`predict` is its argmax.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        X = self._validated(X)  # first: it raises NotFittedError
        return self.best_estimator_.decision_function(X)


_GRID_DOC = """
    Parameters
    ----------
    times : "auto" or array-like of (float or None), default="auto"
        Training times ``t`` to try (None is infinite time). ``"auto"``
        tries None and, for each architecture, ``t = scale * y.size /
        (learning_rate * mean(diag K))`` for ``scale`` in
        ``AUTO_TIME_SCALES = (1, 10, 100)`` (``K``: the train kernel of the
        dynamics), i.e. ``tau * mean(diag K) = scale``: the same amount of
        early stopping whatever the data size, depth or number of outputs.
    diag_regs : array-like of float, default=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
        Relative diagonal regularisers to try (``diag_reg`` of the base
        estimator).
    depths : array-like of int, default=(1, 3)
        Numbers of hidden layers to try.
    bias_stds : array-like of (float or None), default=(2.0, 4.0)
        Bias standard deviations to try (one kernel per depth and value).
        For ReLU, ``bias_std / c`` is the same network as inputs scaled by
        ``c``: this is also the grid of input scales. The default depths
        and bias_stds (four architectures) were chosen by measurement on
        development data sets, kept apart from the reported ones; the user
        guide ("Default grid") gives the rule and every number.
    activation : str or callable, default="relu"
        Fixed activation of every candidate, as in the base estimator.
    activation_params : dict or None, default=None
        The activation's parameters, named as in neural-tangents.
    weight_std : float, default=1.5
        Fixed weight standard deviation (neural-tangents' ``W_std``).
    parameterization : {"ntk", "standard"}, default="ntk"
    width : int or None, default=None
        Hidden width, needed only by the "standard" NTK.
    learning_rate : float, default=1.0
        Gradient-flow learning rate (only ``learning_rate * t`` matters).
    kernel_fn : callable, default=None
        As in the base estimator: the user's ``kernel_fn(X1, X2) -> (nngp,
        ntk)`` or a neural-tangents ``stax`` kernel_fn replaces the
        fully-connected kernels. The search is then over ``diag_regs`` and
        ``times`` only (``depths``, ``bias_stds`` and the architecture
        parameters are unused, and ``best_params_`` has no ``depth`` or
        ``bias_std``).
    architecture : network from :mod:`sklearn_ntk.layers`, default=None
        As in the base estimator (a convolutional network, for example);
        like ``kernel_fn``, it fixes the kernel and the search is over
        ``diag_regs`` and ``times`` only.
    image_shape : tuple of 3 ints, default=None
        As in the base estimator: ``(H, W, C)`` when each row of ``X`` is a
        flattened image for ``architecture`` or ``kernel_fn``.
    cv : int, cross-validation generator, iterable or None, default=None
        None: leave-one-out in closed form from one eigendecomposition per
        architecture (exact at ``t=None`` for every ``diag_reg``; the
        linear-smoother approximation at finite ``t``, see Notes). An
        integer or a splitter: K-fold (``SCHEME``), exact for every
        candidate, with one kernel per architecture on all rows, sliced for
        every fold, and one eigendecomposition per fold (on the Nyström
        approximation, one ``m x m`` eigendecomposition per fold; see
        ``solver``).
    scoring : str, callable or None, default=None
        A scikit-learn scorer name or callable ``scorer(estimator, X, y)``;
        None means DEFAULT_SCORING. With ``cv=None`` the scorer sees all
        leave-one-out predictions at once (as ``RidgeCV``); with K-fold,
        each fold's, and ``mean_test_score`` averages the folds (as
        ``GridSearchCV``).
    solver : {"auto", "exact", "nystrom"}, default="auto"
        ``"exact"``: the closed forms on each architecture's n x n train
        kernel (refused before allocating when its arrays do not fit).
        ``"nystrom"``: one Nyström fit per architecture (the base
        estimator's ``solver="nystrom"``, ``O(n_components**2)`` memory
        beyond ``X``) gives every ``diag_reg`` and ``t`` its leave-one-out
        predictions in one more pass over the rows (exact at ``t=None`` for
        the Nyström model refitted on the other rows with its centres held
        fixed, each with its own ``lambda_i``; the linear-smoother
        approximation at finite ``t``), and the refit reuses the best
        architecture's fit. Probability scorers get the leave-one-out
        predictive variances in the same closed form, in one more pass
        (exact at ``t=None``). K-fold (``cv=5``) fits each fold exactly in
        the ``m x m`` space with the centres held fixed. ``"auto"``:
        ``"exact"`` up to 20,000 rows when its arrays fit, ``"nystrom"``
        otherwise.
    n_components : int or "auto", default="auto"
        Nyström centres, as in the base estimator.
    centers : {"rpcholesky", "uniform"}, default="rpcholesky"
        How the Nyström centres are chosen, as in the base estimator.
    random_state : int, RandomState instance or None, default=None
        Randomness of the Nyström centres: one seed drawn from it serves
        every architecture and the refit (``best_estimator_.random_state``).
    n_jobs : int, default=None
        joblib workers of the kernel computations on large inputs, passed
        to the refitted estimator (None: one, unless inside a
        ``joblib.parallel_backend`` context).
    verbose : int, default=0
        With 1 or more, long kernel computations print their progress;
        passed to the refitted estimator.EXTRA_PARAMETERS

    Attributes
    ----------
    best_params_ : dict
        ``{"bias_std", "depth", "diag_reg", "t"}`` of the best candidate;
        ``BASE(**best_params_)`` with the fixed parameters is the refit.
    best_score_ : float
        Its cross-validation score.
    best_index_ : int
        Its index in ``cv_results_``.
    best_estimator_ : BASE
        The best candidate refitted on all the data.
    cv_results_ : dict of ndarray
        ``GridSearchCV``'s layout: ``params``, ``param_<name>``,
        ``mean_test_score`` and ``rank_test_score`` (equal scores share a
        rank; the first of them is chosen), plus ``split<k>_test_score``
        and ``std_test_score`` with K-fold. Candidates are ordered as
        ``ParameterGrid`` orders ``{"bias_std", "depth", "diag_reg", "t"}``
        (``t`` varies fastest).
    n_splits_ : int
        Number of folds (1 for leave-one-out in closed form).EXTRA_ATTRIBUTES
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has feature names that are all strings.
"""

_NOTES = """
    Notes
    -----
    With ``cv=None`` one eigendecomposition ``K = U diag(s) U^T`` of each
    architecture's train kernel gives every candidate's leave-one-out
    predictions in ``O(n^2)`` each. The model without row ``i`` is the
    estimator's own: its regulariser ``diag_reg * mean(diag K)`` and its
    time scaling use the ``n - 1`` remaining rows. At ``t=None`` the
    leave-one-out residual ``[A^{-1} y]_i / [A^{-1}]_ii`` (``A`` the
    regularised kernel) is exact, as in ``RidgeCV``. At finite ``t`` the
    model is the linear smoother ``H = K phi_t(A)`` and the residual is
    taken as ``[(I - H) y]_i / [I - H]_ii``, which is exact only at
    ``t=None``: the refit applies ``phi_t`` to a principal submatrix of
    ``A``, which has no rank-one update formula. Measured against
    brute-force refits on 24 rows (``tests/test_cv_estimators.py``), the
    leave-one-out squared error is within 1-4% for ``diag_reg >= 0.1`` and
    underestimated by up to 25% at ``diag_reg = 0.001`` and intermediate
    ``t``; it becomes exact as ``t`` grows. K-fold (an integer ``cv``) is
    exact at every ``t``.
"""


def _doc(base, scheme, default_scoring, extra_parameters="", extra_attributes=""):
    return (_GRID_DOC.replace("BASE", base).replace("SCHEME", scheme)
            .replace("DEFAULT_SCORING", default_scoring)
            .replace("EXTRA_PARAMETERS", extra_parameters)
            .replace("EXTRA_ATTRIBUTES", extra_attributes))


_CLASSIFIER_PARAMETERS = """
    target_encoding : {"centered", "lee2018", "onehot"}, default="centered"
        As in the base classifier."""

_CLASSIFIER_ATTRIBUTES = """
    classes_ : ndarray of shape (n_classes,)
        The sorted labels."""

_CLASSIFIER_SCORING = (
    "accuracy of the held-out predictions (the argmax of the mean outputs: "
    "cheap, exact at ``t=None``, and what a classifier is judged by); "
    "probability scorers such as ``'neg_log_loss'`` get held-out "
    "probabilities through the same Gaussian predictive as ``predict_proba``"
)

_REFERENCES = """
    References
    ----------
    Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT
    Press 2006, eq. 5.12 (leave-one-out in closed form).
    Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
    Under Gradient Descent", NeurIPS 2019, eq. 16.
    Arora et al., "Harnessing the Power of Infinitely Wide Deep Nets on
    Small-data Tasks", ICLR 2020.
"""


class NTKRegressorCV(_RegressorCV):
    __doc__ = """:class:`NTKRegressor` with ``t``, ``diag_reg`` and ``depth`` chosen by cross-validation.

    Scores every candidate of the grid (leave-one-out in closed form by
    default), then refits the best one on all the data, as ``RidgeCV``.
""" + _doc("NTKRegressor", "``KFold``", "R^2 of the held-out predictions") + """
    See Also
    --------
    NTKRegressor : the estimator refitted with the best parameters.
    NNGPRegressorCV : the same search for the NNGP.
""" + _NOTES + _REFERENCES + """
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ntk import NTKRegressorCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NTKRegressorCV(depths=(1, 2), bias_stds=(2.0,)))
    >>> search = model.fit(X, y)[-1]
    >>> sorted(search.best_params_)
    ['bias_std', 'depth', 'diag_reg', 't']
    >>> len(search.cv_results_["mean_test_score"])  # 2 depths x 7 diag_regs x 4 times
    56
    >>> bool(search.best_score_ > 0.45)
    True
    """
    _estimator_class = NTKRegressor
    _dynamics_kernel = "ntk"


class NNGPRegressorCV(_RegressorCV):
    __doc__ = """:class:`NNGPRegressor` with ``t``, ``diag_reg`` and ``depth`` chosen by cross-validation.

    Scores every candidate of the grid (leave-one-out in closed form by
    default), then refits the best one on all the data, as ``RidgeCV``.
""" + _doc("NNGPRegressor", "``KFold``", "R^2 of the held-out predictions") + """
    See Also
    --------
    NNGPRegressor : the estimator refitted with the best parameters.
    NTKRegressorCV : the same search for the NTK.
""" + _NOTES + _REFERENCES + """
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import NNGPRegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 3))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(60)
    >>> model = NNGPRegressorCV(times=[None], depths=[1, 3]).fit(X, y)
    >>> model.best_params_["t"] is None
    True
    >>> model.predict(X[:2], return_std=True)[1].shape
    (2,)
    """
    _estimator_class = NNGPRegressor
    _dynamics_kernel = "nngp"


class NTKClassifierCV(_ClassifierCV):
    __doc__ = """:class:`NTKClassifier` with ``t``, ``diag_reg`` and ``depth`` chosen by cross-validation.

    Scores every candidate of the grid (leave-one-out in closed form by
    default), then refits the best one on all the data, as
    ``LogisticRegressionCV``. The defaults are meant to be used as they are.
""" + _doc("NTKClassifier", "``StratifiedKFold``", _CLASSIFIER_SCORING,
           _CLASSIFIER_PARAMETERS, _CLASSIFIER_ATTRIBUTES) + """
    See Also
    --------
    NTKClassifier : the estimator refitted with the best parameters.
    NNGPClassifierCV : the same search for the NNGP.
""" + _NOTES + _REFERENCES + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ntk import NTKClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), NTKClassifierCV()).fit(X, y)
    >>> bool(model[-1].best_score_ > 0.9)
    True
    >>> model.predict_proba(X[:2]).shape
    (2, 3)
    """
    _estimator_class = NTKClassifier
    _dynamics_kernel = "ntk"


class NNGPClassifierCV(_ClassifierCV):
    __doc__ = """:class:`NNGPClassifier` with ``t``, ``diag_reg`` and ``depth`` chosen by cross-validation.

    Scores every candidate of the grid (leave-one-out in closed form by
    default), then refits the best one on all the data, as
    ``LogisticRegressionCV``.
""" + _doc("NNGPClassifier", "``StratifiedKFold``", _CLASSIFIER_SCORING,
           _CLASSIFIER_PARAMETERS, _CLASSIFIER_ATTRIBUTES) + """
    See Also
    --------
    NNGPClassifier : the estimator refitted with the best parameters.
    NTKClassifierCV : the same search for the NTK.
""" + _NOTES + _REFERENCES + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ntk import NNGPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = NNGPClassifierCV(depths=(1,), bias_stds=(2.0,), cv=5,
    ...                          scoring="neg_log_loss").fit(X, y)
    >>> len(model.cv_results_["split4_test_score"])  # 1 architecture x 7 x 4
    28
    """
    _estimator_class = NNGPClassifier
    _dynamics_kernel = "nngp"

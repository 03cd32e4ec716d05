"""``NTKRegressor`` and ``NNGPRegressor``: infinite-width networks trained for time t.

Thin scikit-learn estimators over :func:`sklearn_ntk.compute_kernels` and the
closed-form dynamics of :mod:`sklearn_ntk._dynamics`. ``fit`` reads as
validate -> kernels -> factorise -> weights; ``predict`` multiplies the
test-train kernel by the weights and, on request, adds the covariance of
Lee et al. (2019), eq. 16, with ``GaussianProcessRegressor``'s semantics.

A small module-level cache (:class:`_KernelCache`) keyed on the training
data, the architecture and ``diag_reg`` keeps the kernels and their
factorisations, so that refitting with another ``t`` or ``learning_rate``
(``GridSearchCV`` over time) costs one matrix product instead of a fit.
It holds at most 8 training sets and a quarter of the physical memory (at
most 4 GiB): the folds of a cross-validation at N = 8000 and the refit.
"""

import collections
import hashlib
import inspect
import numbers
import os
import threading

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Options
from sklearn.utils.validation import check_is_fitted, validate_data

from ._architecture import DEFAULTS, make_architecture
from ._dynamics import (
    GradientFlowSolver,
    nngp_covariance,
    ntk_covariance,
    spectral_filter,
    time_to_tau,
)
from ._estimator_params import (
    ARCHITECTURE_CONSTRAINTS,
    DYNAMICS_CONSTRAINTS,
    IMAGE_CONSTRAINTS,
    architecture_kwargs,
)
from ._images import architecture_key, as_images, check_image_shape, check_kernel_source
from ._kernels import Kernels, compute_kernel_diagonals, compute_kernels
from ._precision import x64_scope

__all__ = ["NTKRegressor", "NNGPRegressor"]

_VALIDATION_ATTRIBUTES = ("n_features_in_", "feature_names_in_")

#: Default relative diagonal regulariser (observation noise relative to the
#: mean prior variance); chosen on standard-scaled scikit-learn datasets.
DEFAULT_DIAG_REG = 0.1


# -- user-supplied kernel functions -------------------------------------------


def _takes_get(kernel_fn):
    """True for neural-tangents-style ``kernel_fn(x1, x2, get)`` functions."""
    try:
        return "get" in inspect.signature(kernel_fn).parameters
    except (TypeError, ValueError):
        return False


def _as_kernel_matrix(value, name, shape):
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.shape != shape:
        raise ValueError(
            f"kernel_fn returned {name} of shape {matrix.shape}; expected {shape} "
            "(n_samples_X1, n_samples_X2)."
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"kernel_fn returned non-finite values in {name}.")
    return matrix


def _call_kernel_fn(kernel_fn, x1, x2):
    """Evaluate a user kernel function as float64 ``Kernels``.

    A neural-tangents ``stax`` kernel_fn (detected by its ``get`` argument)
    is called as ``kernel_fn(x1, x2, get=("nngp", "ntk"))`` inside the x64
    scope; any other callable as ``kernel_fn(x1, x2) -> (nngp, ntk)``, with
    ``x2 = x1`` explicitly for the train kernel.
    """
    shape = (x1.shape[0], (x1 if x2 is None else x2).shape[0])
    with x64_scope():
        if _takes_get(kernel_fn):
            out = kernel_fn(x1, x2, get=("nngp", "ntk"))
            nngp, ntk = out.nngp, out.ntk
        else:
            out = kernel_fn(x1, x1 if x2 is None else x2)
            try:
                nngp, ntk = out
            except (TypeError, ValueError) as error:
                raise TypeError(
                    "kernel_fn(X1, X2) must return a pair (nngp, ntk) of arrays "
                    f"of shape (n1, n2); got {type(out).__name__}."
                ) from error
        nngp = _as_kernel_matrix(nngp, "nngp", shape)
        ntk = _as_kernel_matrix(ntk, "ntk", shape)
    if x2 is None:
        # The solvers read one triangle; make both agree.
        nngp = 0.5 * (nngp + nngp.T)
        ntk = 0.5 * (ntk + ntk.T)
    return Kernels(nngp, ntk)


# -- the cache of train kernels and factorisations ----------------------------


class _FitState:
    """Train kernels, the solver of the dynamics and recent test-train kernels."""

    def __init__(self, kernels, solver):
        self.kernels = kernels
        self.solver = solver
        self.test_train = collections.OrderedDict()  # digest -> Kernels
        self.lock = threading.Lock()

    def nbytes(self):
        """Bytes held now, but at least those of the usual fit.

        Factorisations happen after the state enters the cache, so the
        estimate counts the dynamics kernel and both Cholesky factors
        (float64 and float32) from the start; the NNGP train kernel and
        eigenvectors of the covariances count once they exist.
        """
        n = self.solver.n_samples
        held = sum(k.nbytes for k in self.kernels if k is not None)
        held += self.solver.factor_nbytes()
        return max(held, int(2.5 * n * n * 8))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["test_train"] = collections.OrderedDict()
        del state["lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()


def _default_cache_bytes():
    """A quarter of the physical memory, at most 4 GiB (1 GiB if unknown).

    Enough for the three folds of a cross-validation at N = 8000 (about
    0.6 GB each) plus the refit, so that a search over ``t`` reuses every
    kernel and factorisation.
    """
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2**30
    return int(min(4 * 2**30, total // 4))


class _KernelCache:
    """Bounded LRU cache of :class:`_FitState` (entries and bytes).

    The byte bound is checked when an entry is added, against each entry's
    :meth:`_FitState.nbytes`.
    """

    def __init__(self, max_entries=8, max_bytes=None):
        self.max_entries = max_entries
        self.max_bytes = _default_cache_bytes() if max_bytes is None else max_bytes
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            state = self._entries.get(key)
            if state is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return state[1]

    def put(self, key, state, owner=None):
        # ``owner`` (a user kernel_fn, an architecture) is kept alive with the entry so that
        # its id() in the key cannot be reused by another object.
        if self.max_entries < 1 or state.nbytes() > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (owner, state)
            self._entries.move_to_end(key)
            while (len(self._entries) > self.max_entries
                   or sum(s.nbytes() for _, s in self._entries.values()) > self.max_bytes):
                self._entries.popitem(last=False)

    def clear(self):
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


#: Module-level cache shared by every estimator of this process.
KERNEL_CACHE = _KernelCache()


def _digest(array):
    array = np.ascontiguousarray(array)
    return (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest())


# -- the estimators ------------------------------------------------------------


class _InfiniteWidthRegressor(RegressorMixin, BaseEstimator):
    """Shared machinery of :class:`NTKRegressor` and :class:`NNGPRegressor`."""

    _parameter_constraints = {
        **ARCHITECTURE_CONSTRAINTS,
        **DYNAMICS_CONSTRAINTS,
        # The shared Interval excludes +inf, which means infinite time here.
        "t": [*DYNAMICS_CONSTRAINTS["t"], Options(numbers.Real, {np.inf})],
        "kernel_fn": [callable, None],
        **IMAGE_CONSTRAINTS,
    }
    # Which train kernel drives the dynamics: "ntk" or "nngp".
    _dynamics_kernel = None

    def __init__(
        self,
        *,
        depth=DEFAULTS["depth"],
        activation=DEFAULTS["activation"],
        activation_params=None,
        weight_std=DEFAULTS["weight_std"],
        bias_std=DEFAULTS["bias_std"],
        parameterization=DEFAULTS["parameterization"],
        width=None,
        t=None,
        learning_rate=1.0,
        diag_reg=DEFAULT_DIAG_REG,
        kernel_fn=None,
        architecture=None,
        image_shape=None,
    ):
        self.depth = depth
        self.activation = activation
        self.activation_params = activation_params
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.parameterization = parameterization
        self.width = width
        self.t = t
        self.learning_rate = learning_rate
        self.diag_reg = diag_reg
        self.kernel_fn = kernel_fn
        self.architecture = architecture
        self.image_shape = image_shape

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = False
        return tags

    # -- kernels ----------------------------------------------------------

    def _needs(self, covariance):
        """Kernels needed by the mean (and the covariance)."""
        if self._dynamics_kernel == "nngp":
            return ("nngp",)
        return ("nngp", "ntk") if covariance else ("ntk",)

    def _kernel_arguments(self):
        """Keyword arguments of ``compute_kernels`` for this architecture:
        ``architecture=`` when one is set (it replaces the fully-connected
        hyperparameters), else the MLP's hyperparameters."""
        if self.architecture is not None:
            return {"architecture": self.architecture}
        return architecture_kwargs(self)

    def _inputs(self, X):
        """``X`` as the kernels read it: NHWC images for an architecture or
        a ``kernel_fn`` when ``image_shape`` is set, else the 2-D rows (the
        built-in MLP reads flattened images)."""
        if self.architecture is None and self.kernel_fn is None:
            return X
        return as_images(X, self.image_shape)

    def _kernels(self, x1, x2, get):
        x1 = self._inputs(x1)
        x2 = None if x2 is None else self._inputs(x2)
        if self.kernel_fn is not None:
            return _call_kernel_fn(self.kernel_fn, x1, x2)
        return compute_kernels(x1, x2, get=get, **self._kernel_arguments())

    def _prior_variance(self, X):
        """``diag K(X, X)`` of the NNGP (the prior variance at t=0)."""
        if self.kernel_fn is not None:
            return np.diag(_call_kernel_fn(self.kernel_fn, self._inputs(X), None).nngp).copy()
        return compute_kernel_diagonals(self._inputs(X), **self._kernel_arguments()).nngp

    def _prior_covariance(self, X):
        return self._kernels(X, None, ("nngp",)).nngp

    def _kernel_identity(self):
        """What determines the kernels besides the data (part of the cache key)."""
        image_shape = check_image_shape(self.image_shape)
        if self.kernel_fn is not None:
            return ("kernel_fn", id(self.kernel_fn), image_shape)
        if self.architecture is not None:
            return (architecture_key(self.architecture), image_shape)
        kwargs = architecture_kwargs(self)
        params = kwargs.pop("activation_params")
        identity = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
        return identity + (repr(sorted((params or {}).items())),)

    def _cache_owner(self):
        """Objects whose ``id`` may be in the cache key: kept alive with it."""
        return (self.kernel_fn, self.architecture)

    def _cache_key(self, X):
        return (type(self).__name__, _digest(X), self._kernel_identity(),
                float(self.diag_reg))

    def _train_kernels(self, X):
        # Only the kernel of the dynamics: the NTK's covariance also needs
        # the train NNGP, computed on first demand (_train_nngp).
        try:
            return self._kernels(X, None, (self._dynamics_kernel,))
        except ValueError as error:
            if self.architecture is None or self.image_shape is not None:
                raise
            raise ValueError(
                f"{error}\nThe estimators take 2-D X: if the architecture "
                "expects images, pass image_shape=(H, W, C) so that each row "
                "of X is reshaped to one image."
            ) from error

    def _fit_state(self, X):
        key = self._cache_key(X)
        state = KERNEL_CACHE.get(key)
        if state is None:
            kernels = self._train_kernels(X)
            solver = GradientFlowSolver(
                getattr(kernels, self._dynamics_kernel), self.diag_reg
            )
            state = _FitState(kernels, solver)
            KERNEL_CACHE.put(key, state, owner=self._cache_owner())
        return state

    def _train_nngp(self):
        state = self._state
        with state.lock:
            if state.kernels.nngp is None:
                nngp = self._kernels(self.X_fit_, None, ("nngp",)).nngp
                state.kernels = state.kernels._replace(nngp=nngp)
            return state.kernels.nngp

    def _test_train(self, X, covariance):
        """Test-train kernels, memoised per fitted state (last two test sets)."""
        state = self._state
        get = self._needs(covariance)
        key = _digest(X)
        with state.lock:
            cached = state.test_train.get(key)
        if cached is not None and all(getattr(cached, g) is not None for g in get):
            return cached
        kernels = self._kernels(X, self.X_fit_, get)
        with state.lock:
            state.test_train[key] = kernels
            while len(state.test_train) > 2:
                state.test_train.popitem(last=False)
        return kernels

    # -- fit / predict -----------------------------------------------------

    def fit(self, X, y):
        """Compute the train kernels and the weights at time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; standard-scale them, e.g. with
            ``StandardScaler``, for the default architecture).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        check_kernel_source(self.architecture, self.kernel_fn)
        check_image_shape(self.image_shape)
        if self.kernel_fn is None and self.architecture is None:
            # Unknown activations, missing width...: fail before touching self.
            make_architecture(**architecture_kwargs(self))
        saved = {name: self.__dict__[name] for name in _VALIDATION_ATTRIBUTES
                 if name in self.__dict__}
        try:
            return self._fit(X, y)
        except BaseException:
            # validate_data sets n_features_in_ / feature_names_in_ before it
            # can fail: restore them so a failed fit changes nothing.
            for name in _VALIDATION_ATTRIBUTES:
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise

    def _fit(self, X, y):
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float64,
            ensure_min_samples=2, accept_sparse=False,
        )
        check_image_shape(self.image_shape, n_features=X.shape[1])
        y = np.asarray(y, dtype=np.float64)
        targets = y[:, None] if y.ndim == 1 else y
        state = self._fit_state(X)
        tau = time_to_tau(self.t, self.learning_rate, targets.size)
        dual_coef = state.solver.weights(targets, tau)
        # Attributes only once everything succeeded: a failed fit leaves a
        # previously fitted estimator as it was.
        self.X_fit_ = X
        self.y_train_ = targets
        self.dual_coef_ = dual_coef
        self._y_is_column = y.ndim == 1 or y.shape[1] == 1
        self._state = state
        return self

    def _validate_predict(self, X, return_std, return_cov):
        check_is_fitted(self)
        if return_std and return_cov:
            raise RuntimeError(
                "At most one of return_std or return_cov can be requested."
            )
        return validate_data(self, X, reset=False, dtype=np.float64,
                             accept_sparse=False)

    def _shape_outputs(self, mean, spread, return_std, return_cov):
        """``GaussianProcessRegressor``'s output shapes.

        ``mean`` is ``(..., n_test, n_targets)`` and ``spread`` the variance
        ``(..., n_test)`` or covariance ``(..., n_test, n_test)``, shared by all
        targets (the kernels do not depend on the target).
        """
        n_targets = self.y_train_.shape[1]
        if self._y_is_column:
            mean = mean[..., 0]
        if not (return_std or return_cov):
            return mean
        if return_std:
            spread = np.sqrt(spread)
        if not self._y_is_column:
            spread = np.repeat(spread[..., None], n_targets, axis=-1)
        return mean, spread

    def _tau(self, t):
        return time_to_tau(t, self.learning_rate, self.y_train_.size)

    def predict(self, X, return_std=False, return_cov=False):
        """Mean (and std or covariance) of the trained ensemble at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the predictive standard deviation.
        return_cov : bool, default=False
            Also return the predictive covariance. At most one of
            ``return_std`` and ``return_cov`` may be True.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_targets)
        y_std : ndarray of shape (n_samples,) or (n_samples, n_targets), optional
        y_cov : ndarray of shape (n_samples, n_samples) or \
(n_samples, n_samples, n_targets), optional
        """
        X = self._validate_predict(X, return_std, return_cov)
        covariance = return_std or return_cov
        k_test_train = self._test_train(X, covariance)
        mean = getattr(k_test_train, self._dynamics_kernel) @ self.dual_coef_
        if not covariance:
            return self._shape_outputs(mean, None, False, False)
        prior = self._prior_variance(X) if return_std else self._prior_covariance(X)
        spread = self._covariance(k_test_train, prior, self._tau(self.t),
                                  diag_only=return_std)
        return self._shape_outputs(mean, spread, return_std, return_cov)

    def _covariance(self, k_test_train, prior, tau, diag_only, weights=None):
        raise NotImplementedError

    def predict_at_times(self, X, times, return_std=False, return_cov=False):
        """Predictions at several training times, sharing every factorisation.

        The test-train kernel is computed once, and so is every
        factorisation of the train kernel: the means at all times come from
        its Cholesky factor and one extended Krylov basis, extended until
        every time has converged; the covariances at finite times from one
        eigendecomposition. Each extra time costs a few matrix products.
        ``self.t`` is ignored.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        times : array-like of shape (n_times,)
            Training times ``t`` (>= 0; ``None`` or ``np.inf`` for infinite
            time), in the units of the ``t`` parameter.
        return_std, return_cov : bool, default=False
            As in :meth:`predict`.

        Returns
        -------
        y_mean : ndarray of shape (n_times, n_samples) or (n_times, n_samples, n_targets)
        y_std : ndarray of shape (n_times, ...) like ``y_mean``, optional
        y_cov : ndarray of shape (n_times, n_samples, n_samples[, n_targets]), optional
        """
        X = self._validate_predict(X, return_std, return_cov)
        times = self._check_times(times)
        covariance = return_std or return_cov
        k_test_train = self._test_train(X, covariance)
        k_mean = getattr(k_test_train, self._dynamics_kernel)
        solver = self._state.solver
        taus = [self._tau(t) for t in times]
        if not covariance:
            # One Cholesky factor and one Krylov basis serve every time.
            means = [k_mean @ w for w in solver.weights_at_times(self.y_train_, taus)]
            return self._shape_outputs(np.stack(means), None, False, False)
        if any(tau is not None for tau in taus):
            # Projections onto the eigenbasis, shared by all finite times.
            projected_targets = solver.project(self.y_train_)
            projected_test = solver.project(k_mean.T)
        prior = self._prior_variance(X) if return_std else self._prior_covariance(X)
        means, spreads = [], []
        for tau in taus:
            if tau is None:
                weights = (self.dual_coef_ if self._tau(self.t) is None
                           else solver.weights(self.y_train_, None))
                means.append(k_mean @ weights)
                test_weights = None
            else:
                filtered = spectral_filter(solver.eigen()[0], tau)[:, None]
                means.append(projected_test.T @ (filtered * projected_targets))
                test_weights = projected_test
            spreads.append(self._covariance(
                k_test_train, prior, tau, diag_only=return_std,
                projected=test_weights,
            ))
        return self._shape_outputs(np.stack(means), np.stack(spreads),
                                   return_std, return_cov)

    @staticmethod
    def _check_times(times):
        times = list(np.atleast_1d(np.asarray(times, dtype=object)))
        if not times:
            raise ValueError("times is empty; pass at least one training time.")
        checked = []
        for t in times:
            if t is None:
                checked.append(None)
                continue
            if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real):
                raise ValueError(f"times contains {t!r}; each time must be a real >= 0 or None.")
            t = float(t)
            if np.isnan(t) or t < 0:
                raise ValueError(
                    f"times contains t={t!r}; training times must be >= 0 "
                    "(None or np.inf for infinite time)."
                )
            checked.append(None if np.isposinf(t) else t)
        return checked

    def sample_y(self, X, n_samples=1, random_state=0):
        """Draw functions from the predictive distribution at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=0
            As in ``GaussianProcessRegressor.sample_y`` (0: reproducible).

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or \
(n_samples_X, n_targets, n_samples)
        """
        rng = check_random_state(random_state)
        y_mean, y_cov = self.predict(X, return_cov=True)
        if y_mean.ndim == 1:
            return rng.multivariate_normal(y_mean, y_cov, n_samples).T
        return np.stack(
            [rng.multivariate_normal(y_mean[:, j], y_cov[..., j], n_samples).T
             for j in range(y_mean.shape[1])],
            axis=1,
        )


_PARAMETERS_DOC = """
    Parameters
    ----------
    depth : int, default=2
        Number of hidden layers (each Dense then ``activation``); a readout
        Dense follows. 0 is a linear model of the inputs.
    activation : str or callable, default="relu"
        A name from ``sklearn_ntk.ACTIVATIONS`` or an elementwise
        ``jax.numpy`` function.
    activation_params : dict, default=None
        The activation's parameters, named as in neural-tangents.
    weight_std : float, default=1.5
        Weight standard deviation (neural-tangents' ``W_std``).
    bias_std : float or None, default=2.0
        Bias standard deviation (``b_std``); None means no biases.
    parameterization : {"ntk", "standard"}, default="ntk"
    width : int, default=None
        Hidden width, needed only by the "standard" NTK.
    t : float or None, default=None
        Training time; None (or ``np.inf``) is infinite time.
    learning_rate : float, default=1.0
        Gradient-flow learning rate; only ``learning_rate * t`` matters.
        Time is scaled as in neural-tangents: ``tau = learning_rate * t /
        y.size`` (gradient flow on ``0.5 * mean((f - y) ** 2)``).
    diag_reg : float, default=0.1
        Relative diagonal regulariser: ``diag_reg * mean(diag K)`` is added
        to the diagonal of the train kernel (neural-tangents' ``diag_reg``).
        It plays the role of observation noise; 0 interpolates the training
        targets at infinite time.
    kernel_fn : callable, default=None
        Replaces the built-in fully-connected kernels: either
        ``kernel_fn(X1, X2) -> (nngp, ntk)`` (arrays of shape (n1, n2)) or a
        neural-tangents ``stax`` kernel_fn, called with
        ``get=("nngp", "ntk")``. The architecture parameters are then
        ignored; with ``image_shape`` it receives NHWC images. Cannot be
        combined with ``architecture``.
    architecture : network from :mod:`sklearn_ntk.layers`, default=None
        A network built with :func:`sklearn_ntk.layers.serial` (Conv,
        AvgPool, GlobalAvgPool, Flatten, Dense, activations, residual
        blocks), whose NNGP and NTK replace those of the fully-connected
        network: ``depth``, ``activation``, ``activation_params``,
        ``weight_std``, ``bias_std``, ``parameterization`` and ``width`` are
        then ignored (each layer carries its own). None is the MLP of those
        parameters. Searchable with ``GridSearchCV`` (``param_grid=
        {"architecture": [net1, net2]}``).
    image_shape : tuple of 3 ints, default=None
        ``(H, W, C)`` of one image when each row of ``X`` is a flattened
        image (``images.reshape(n_samples, -1)``, C order): the rows are
        reshaped to ``(n_samples, H, W, C)`` for ``architecture`` (or
        ``kernel_fn``), so that scalers, ``Pipeline`` and ``GridSearchCV``
        see ordinary 2-D data. One entry may be -1 (taken from
        ``n_features``). ``H * W * C`` must equal ``n_features``. With
        ``architecture=None`` it is only checked: the MLP reads the
        flattened rows.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (flattened images when ``image_shape`` is set).
    y_train_ : ndarray of shape (n_samples, n_targets)
        Training targets (2-D).
    dual_coef_ : ndarray of shape (n_samples, n_targets)
        Weights at time ``t``: the prediction mean is ``k(X, X_fit_) @ dual_coef_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has feature names that are all strings.
"""


class NTKRegressor(_InfiniteWidthRegressor):
    __doc__ = """Infinite ensemble of infinitely wide MLPs trained by gradient flow.

    The output distribution, over random initialisations, of a
    fully-connected network of infinite width trained by gradient flow on the
    mean squared error for time ``t``: a Gaussian process with the
    neural tangent kernel mean and covariance of Lee et al. (2019), eq. 16
    (identical to neural-tangents' ``gradient_descent_mse_ensemble`` with
    ``get="ntk"``).
""" + _PARAMETERS_DOC + """
    See Also
    --------
    NNGPRegressor : Bayesian inference with the NNGP kernel.

    Notes
    -----
    ``t=None`` uses a Cholesky factorisation of the regularised train NTK;
    the mean at a finite ``t`` adds an extended Krylov basis built from that
    factor (no dense eigendecomposition), and only the covariance at a
    finite ``t`` needs one eigendecomposition. All are shared with
    :meth:`predict_at_times` and with later fits at other times (a
    module-level cache keyed on the training data, the architecture and
    ``diag_reg``). Where the train
    kernel is singular (duplicate rows with ``diag_reg=0``) its numerical
    null space is dropped with a warning instead of returning NaN as
    neural-tangents does.

    References
    ----------
    Jacot, Gabriel & Hongler, "Neural Tangent Kernel: Convergence and
    Generalization in Neural Networks", NeurIPS 2018.
    Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
    Under Gradient Descent", NeurIPS 2019, eq. 16.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import NTKRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3))
    >>> y = np.sin(X[:, 0])
    >>> model = NTKRegressor(depth=2, diag_reg=1e-3).fit(X, y)
    >>> mean, std = model.predict(X[:5], return_std=True)
    >>> mean.shape, std.shape
    ((5,), (5,))
    >>> bool(np.allclose(mean, y[:5], atol=0.05))
    True
    """
    _dynamics_kernel = "ntk"

    def _covariance(self, k_test_train, prior, tau, diag_only, projected=None):
        state = self._state
        weights = None
        if projected is not None:
            weights = state.solver.weights_from_projection(projected, tau)
        return ntk_covariance(
            state.solver, k_test_train.ntk, k_test_train.nngp, self._train_nngp(),
            prior, tau, diag_only=diag_only, ntk_weights=weights,
        )


class NNGPRegressor(_InfiniteWidthRegressor):
    __doc__ = """Gaussian-process regression with the NNGP kernel of an infinitely wide MLP.

    At ``t=None`` the exact Bayesian posterior of an infinitely wide network
    with observation noise ``diag_reg * mean(diag K)`` (neural-tangents'
    ``gp_inference`` with ``get="nngp"``; ``GaussianProcessRegressor`` with
    this kernel). At finite ``t`` the ensemble in which only the readout
    layer is trained by gradient flow for time ``t`` (neural-tangents'
    ``gradient_descent_mse_ensemble`` with ``get="nngp"``).
""" + _PARAMETERS_DOC + """
    See Also
    --------
    NTKRegressor : all layers trained by gradient flow.

    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
    Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
    Under Gradient Descent", NeurIPS 2019, eq. 16.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import NNGPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3))
    >>> y = np.sin(X[:, 0])
    >>> model = NNGPRegressor(depth=2, diag_reg=1e-3).fit(X, y)
    >>> model.predict(X[:5], return_cov=True)[1].shape
    (5, 5)
    >>> model.predict_at_times(X[:5], [0.0, 10.0, None]).shape
    (3, 5)
    """
    _dynamics_kernel = "nngp"

    def _covariance(self, k_test_train, prior, tau, diag_only, projected=None):
        solver = self._state.solver
        if projected is None:
            return nngp_covariance(solver, k_test_train.nngp, prior, tau,
                                   diag_only=diag_only)
        # Whitened form from the shared projection: sqrt(phi_{2 tau}) V^T K_X*.
        whitened = np.sqrt(spectral_filter(solver.eigen()[0], 2.0 * tau))[:, None] * projected
        if diag_only:
            return np.maximum(prior - np.einsum("ij,ij->j", whitened, whitened), 0.0)
        cov = prior - whitened.T @ whitened
        return 0.5 * (cov + cov.T)

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
import inspect
import numbers
import os
import threading

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._architecture import DEFAULTS, make_architecture
from ._dynamics import time_to_tau
from ._estimator_params import (
    ARCHITECTURE_CONSTRAINTS,
    DYNAMICS_CONSTRAINTS,
    IMAGE_CONSTRAINTS,
    SOLVER_CONSTRAINTS,
    architecture_kwargs,
    validate_rows,
)
from ._images import architecture_key, as_images, check_image_shape, check_kernel_source
from ._kernels import Kernels, compute_kernel_diagonals, compute_kernels
from ._nystrom import NystromDynamics, default_n_components
from ._precision import x64_scope
from ._solvers import (
    AUTO_EXACT_MAX_N,
    ExactDynamics,
    check_exact_fits,
    digest,
    exact_fits,
)

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


class _KernelEvaluator:
    """An estimator's kernel as a picklable callable ``(x1, x2, get) -> Kernels``.

    Holds the architecture (a dict: the MLP's hyperparameters or
    ``{"architecture": net}``) or the user's ``kernel_fn``, and the
    ``image_shape`` that turns flattened rows into NHWC images; never a
    jitted function, so that it travels to joblib workers with a task.
    """

    #: Rows per call when a user kernel_fn gives only full matrices.
    DIAGONAL_BLOCK = 256

    def __init__(self, kernel_fn, architecture, image_shape=None):
        self.kernel_fn = kernel_fn
        self.architecture = architecture
        self.image_shape = image_shape

    def _inputs(self, x):
        """Rows as the kernels read them: NHWC images for a network or a
        ``kernel_fn`` when ``image_shape`` is set; the built-in MLP reads
        the flattened rows."""
        if self.kernel_fn is None and "architecture" not in self.architecture:
            return x
        return as_images(x, self.image_shape)

    def __call__(self, x1, x2, get, verbose=0):
        x1, x2 = self._inputs(x1), (None if x2 is None else self._inputs(x2))
        if self.kernel_fn is not None:
            return _call_kernel_fn(self.kernel_fn, x1, x2)
        try:
            return compute_kernels(x1, x2, get=get, verbose=verbose,
                                   **self.architecture)
        except ValueError as error:
            if "architecture" not in self.architecture or self.image_shape is not None:
                raise
            raise ValueError(
                f"{error}\nThe estimators take 2-D X: if the architecture "
                "expects images, pass image_shape=(H, W, C) so that each row "
                "of X is reshaped to one image."
            ) from error

    #: Rows per compiled diagonal call (see ``diagonal``).
    DIAGONAL_CHUNK = 8192

    def diagonal(self, x):
        """``diag k(x, x)`` of both kernels (shape (n,) each), in O(n) memory.

        Rows go in chunks of ``DIAGONAL_CHUNK``, the last padded to a power
        of two: a handful of compiled shapes serve every n (the training
        rows, the RPCholesky pool, each block of test rows) instead of one
        XLA compilation (~1 s) per distinct n.
        """
        if self.kernel_fn is None:
            n = x.shape[0]
            size = min(self.DIAGONAL_CHUNK, 1 << max(n - 1, 0).bit_length())
            parts = []
            for start in range(0, n, size):
                chunk = x[start:start + size]
                if chunk.shape[0] < size:
                    chunk = np.concatenate(
                        [chunk, np.repeat(chunk[:1], size - chunk.shape[0], axis=0)])
                parts.append(compute_kernel_diagonals(self._inputs(chunk),
                                                      **self.architecture))
            return Kernels(*(np.concatenate([getattr(p, name) for p in parts])[:n]
                             for name in ("nngp", "ntk")))
        blocks = [_call_kernel_fn(self.kernel_fn,
                                  self._inputs(x[start:start + self.DIAGONAL_BLOCK]), None)
                  for start in range(0, x.shape[0], self.DIAGONAL_BLOCK)]
        return Kernels(np.concatenate([np.diag(b.nngp) for b in blocks]),
                       np.concatenate([np.diag(b.ntk) for b in blocks]))


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
    """Bounded LRU cache of fitted dynamics (entries and bytes).

    The byte bound is checked when an entry is added, against each entry's
    ``nbytes()``.
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



# -- the estimators ------------------------------------------------------------


class _InfiniteWidthRegressor(RegressorMixin, BaseEstimator):
    """Shared machinery of :class:`NTKRegressor` and :class:`NNGPRegressor`."""

    _parameter_constraints = {
        **ARCHITECTURE_CONSTRAINTS,
        **DYNAMICS_CONSTRAINTS,
        "kernel_fn": [callable, None],
        **IMAGE_CONSTRAINTS,
        **SOLVER_CONSTRAINTS,
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
        solver="auto",
        n_components="auto",
        centers="rpcholesky",
        random_state=None,
        n_jobs=None,
        verbose=0,
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
        self.solver = solver
        self.n_components = n_components
        self.centers = centers
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = False
        return tags

    # -- the fitted dynamics (cached) --------------------------------------

    def _evaluator(self):
        return _KernelEvaluator(self.kernel_fn, self._kernel_arguments(),
                                self.image_shape)

    def _kernel_arguments(self):
        """Keyword arguments of ``compute_kernels`` for this architecture:
        ``architecture=`` when one is set (it replaces the fully-connected
        hyperparameters), else the MLP's hyperparameters."""
        if self.architecture is not None:
            return {"architecture": self.architecture}
        return architecture_kwargs(self)

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

    def _resolve_solver(self, n_samples):
        """``solver="auto"``: exact up to AUTO_EXACT_MAX_N rows when it fits."""
        if self.solver == "exact":
            check_exact_fits(n_samples)  # refuse before allocating
            return "exact"
        if self.solver == "nystrom":
            return "nystrom"
        if n_samples <= AUTO_EXACT_MAX_N and exact_fits(n_samples):
            return "exact"
        return "nystrom"

    def _n_components(self, n_samples):
        if self.n_components == "auto":
            return default_n_components(n_samples)
        return min(int(self.n_components), n_samples)

    def _cache_key(self, X, solver):
        key = (type(self).__name__, digest(X), self._kernel_identity(),
               float(self.diag_reg), solver)
        if solver == "nystrom":
            if not isinstance(self.random_state, numbers.Integral):
                return None  # fresh random centres on every fit: nothing to reuse
            key += (self._n_components(X.shape[0]), self.centers, int(self.random_state))
        return key

    def _fit_state(self, X, targets):
        solver = self._resolve_solver(X.shape[0])
        key = self._cache_key(X, solver)
        state = None if key is None else KERNEL_CACHE.get(key)
        if state is None:
            evaluator = self._evaluator()
            if solver == "exact":
                state = ExactDynamics(X, evaluator, self._dynamics_kernel,
                                      self.diag_reg, verbose=self.verbose,
                                      n_jobs=self.n_jobs)
            else:
                state = NystromDynamics(
                    X, targets, evaluator, self._dynamics_kernel, self.diag_reg,
                    self._n_components(X.shape[0]), centers=self.centers,
                    rng=check_random_state(self.random_state), n_jobs=self.n_jobs,
                    verbose=self.verbose, description=type(self).__name__,
                )
            if key is not None:
                KERNEL_CACHE.put(key, state, owner=self._cache_owner())
        return state

    # -- fit / predict -----------------------------------------------------

    def fit(self, X, y):
        """Fit the dynamics (train kernels or Nyström passes) and the weights at ``t``.

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
        X, y = validate_rows(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float64,
            ensure_min_samples=2, accept_sparse=False,
        )
        check_image_shape(self.image_shape, n_features=X.shape[1])
        y = np.asarray(y, dtype=np.float64)
        targets = y[:, None] if y.ndim == 1 else y
        state = self._fit_state(X, targets)
        tau = time_to_tau(self.t, self.learning_rate, targets.size)
        dual_coef = state.weights_at_times(targets, [tau])[0]
        # Attributes only once everything succeeded: a failed fit leaves a
        # previously fitted estimator as it was.
        self.X_fit_ = X
        self.y_train_ = targets
        self.dual_coef_ = dual_coef
        self.solver_ = state.name
        self.centers_ = state.basis
        self.n_components_ = state.basis.shape[0]
        self._y_is_column = y.ndim == 1 or y.shape[1] == 1
        self._state = state
        return self

    def _validate_predict(self, X, return_std, return_cov):
        check_is_fitted(self)
        if return_std and return_cov:
            raise RuntimeError(
                "At most one of return_std or return_cov can be requested."
            )
        return validate_rows(self, X, reset=False, dtype=np.float64,
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

    @staticmethod
    def _spread(return_std, return_cov):
        return "std" if return_std else ("cov" if return_cov else None)

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
        spread = self._spread(return_std, return_cov)
        means, spreads = self._state.predict(X, [self.dual_coef_],
                                             [self._tau(self.t)], spread)
        return self._shape_outputs(means[0], None if spread is None else spreads[0],
                                   return_std, return_cov)

    def predict_at_times(self, X, times, return_std=False, return_cov=False):
        """Predictions at several training times, sharing every factorisation.

        The test kernel is computed once, and so is every factorisation:
        with the exact solver, the means at all times come from the train
        kernel's Cholesky factor and one extended Krylov basis, and the
        covariances at finite times from one eigendecomposition; with the
        Nyström solver, everything comes from its one m x m
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
        spread = self._spread(return_std, return_cov)
        taus = [self._tau(t) for t in times]
        weights = self._state.weights_at_times(self.y_train_, taus)
        means, spreads = self._state.predict(X, weights, taus, spread)
        return self._shape_outputs(np.stack(means),
                                   None if spread is None else np.stack(spreads),
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


_SOLVER_PARAMETERS_DOC = """
    solver : {"auto", "exact", "nystrom"}, default="auto"
        How the dynamics are solved. ``"exact"``: with the full n x n train
        kernel (Cholesky, an extended Krylov basis, an eigendecomposition);
        data whose kernel and factor (``16 * n_samples**2`` bytes) exceed
        the available memory are refused before anything is allocated.
        ``"nystrom"``: with the Nyström approximation of the kernel on
        ``n_components`` centres, fitted by streaming passes over row blocks
        (memory ``O(n_components**2)`` beyond ``X``) and solved exactly in
        ``t`` for that kernel from one m x m eigendecomposition (see the
        user guide for the approximation of ``return_std``/``return_cov``).
        ``"auto"``: ``"exact"`` when ``n_samples <= 20000`` and its memory
        is available, ``"nystrom"`` otherwise.
    n_components : int or "auto", default="auto"
        Number of Nyström centres ``m`` (at most ``n_samples``; fewer if the
        data have lower numerical rank). ``"auto"`` is
        ``min(n_samples, 4096)`` (chosen by measurement, see the user guide).
        Ignored by the exact solver.
    centers : {"rpcholesky", "uniform"}, default="rpcholesky"
        How the centres are chosen: randomly pivoted Cholesky (Chen,
        Epperly, Tropp & Webber 2023) or uniformly at random.
    random_state : int, RandomState instance or None, default=None
        Randomness of the Nyström centres. An int makes them reproducible
        and lets refits at other ``t`` reuse the cached Nyström fit.
    n_jobs : int, default=None
        joblib workers of the Nyström passes over row blocks (None: one,
        unless inside a ``joblib.parallel_backend`` context, e.g. dask).
        The kernel evaluation of each block uses every core anyway.
    verbose : int, default=0
        With 1 or more, long computations (Nyström passes, large kernels)
        print their progress: blocks done, elapsed time, time left.
"""

_SOLVER_ATTRIBUTES_DOC = """
    solver_ : {"exact", "nystrom"}
        The solver used.
    centers_ : ndarray of shape (m, n_features)
        The ``m`` rows the test kernel is taken against: the Nyström
        centres, or ``X_fit_`` itself for the exact solver.
    n_components_ : int
        ``m``, the number of rows of ``centers_``.
"""


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
""" + _SOLVER_PARAMETERS_DOC + """
    Attributes
    ----------
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (flattened images when ``image_shape`` is set).
    y_train_ : ndarray of shape (n_samples, n_targets)
        Training targets (2-D).
    dual_coef_ : ndarray of shape (m, n_targets)
        Weights at time ``t``: the prediction mean is
        ``k(X, centers_) @ dual_coef_``.""" + _SOLVER_ATTRIBUTES_DOC + """    n_features_in_ : int
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

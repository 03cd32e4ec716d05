"""Closed-form gradient-flow dynamics of kernel regression (NumPy/SciPy only).

Gradient flow on ``0.5 * mean((f - y)^2)`` of a model linear in its
parameters, with tangent kernel ``Theta``, moves the training outputs along
``df/dt = -(learning_rate / N) Theta (f - y)`` (``N = y.size``). With
``tau = learning_rate * t / N`` and ``f_0 = 0`` its solution is

    f_t(x) = Theta(x, X) Theta^{-1} (I - exp(-tau Theta)) y,

so every prediction is ``k_test_train @ weights`` with
``weights = phi_tau(Theta) y`` and the spectral function
``phi_tau(lambda) = (1 - exp(-tau lambda)) / lambda`` (``1 / lambda`` at
``tau = inf``). This module computes those weights and the covariance pieces
of Lee et al. (2019), eq. 16, from one factorisation of the (regularised)
train kernel:

* ``tau = None`` (infinite time): a Cholesky factorisation (LAPACK
  ``potrf``), the cheapest factorisation there is. From
  ``MIXED_PRECISION_MIN_N`` rows on, the weights come from a float32
  factorisation refined to float64 accuracy by iterative refinement with
  float64 residuals (the strategy of LAPACK's ``dsposv``): the float32
  ``potrf`` costs about half the float64 one and each refinement step one
  matrix-vector product; it stops when the backward error is at the
  float64 level (``||r|| <= ||x|| ||Theta|| eps sqrt(n)``) and falls back
  to float64 when the kernel is too ill-conditioned for float32;
* finite ``tau``, weights of a few target columns (the mean): the
  extended Krylov space of :mod:`._krylov`, built from the same Cholesky
  factor plus matrix-vector products, and shared by every finite time (a
  grid of times extends one basis until each has converged);
* finite ``tau``, many right-hand sides (the covariance needs one per test
  point), or a kernel whose Cholesky factorisation failed: one symmetric
  eigendecomposition (LAPACK ``syevr``), shared by every finite time.

Measured on this project's 2-core machine: at n = 4000 ``syevr`` took 20 s,
``syevd`` 31 s and ``potrf`` 0.3-0.5 s, while the Krylov weights of the
depth-3 ReLU NTK (``diag_reg = 0.1``) converged to 1e-12 with about 30 basis
vectors, i.e. 15 triangular-solve pairs and 15 matrix-vector products on top
of the Cholesky factor (see benchmarks/bench_regressors.py for fit + predict
figures). The eigendecomposition remains the fallback when the basis does
not converge within ``max_dim`` vectors.

Numerics (where neural-tangents 0.6.5 returns NaN or garbage):

* ``phi_tau`` is evaluated as ``-expm1(-tau lambda) / lambda``, accurate for
  tiny ``tau lambda``, with its limit ``tau`` at ``lambda = 0``;
* eigenvalues below ``rcond * lambda_max`` (exact zeros from duplicate rows,
  rounding noise, slightly negative values of a kernel that is PSD in exact
  arithmetic) form the numerical null space. For a PSD kernel a null vector
  ``v`` of the train kernel has ``k(x, X) v = 0`` at every ``x``, so those
  components contribute nothing to any prediction at any time and are
  dropped (a minimum-norm solution) instead of being divided by ~0;
* a Cholesky factorisation that fails, or whose reciprocal condition number
  (LAPACK ``pocon``) is below ``rcond``, falls back to that eigen-solution,
  with a warning naming the remedy (increase ``diag_reg``).
"""

import functools
import os
import sys
import threading
import warnings

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from ._krylov import ExtendedKrylovBasis

__all__ = [
    "GradientFlowSolver",
    "IllConditionedKernelWarning",
    "spectral_filter",
    "nngp_covariance",
    "ntk_covariance",
    "time_to_tau",
]


#: Weights of at most this many target columns use the iterative methods
#: (mixed-precision refinement at infinite time, the extended Krylov basis at
#: finite times), whose cost grows with the columns; wider blocks (the
#: covariance's one column per test point) use the float64 Cholesky factor
#: or the eigendecomposition.
ITERATIVE_MAX_COLUMNS = 16

#: Largest Krylov basis (vectors per target column, and in all) before the
#: eigendecomposition takes over. At n = 8000 a basis vector costs about
#: 0.1 s (two triangular solves or one product with the kernel, memory
#: bound) against minutes for the eigendecomposition; at n = 1000 the
#: difficult kernels measured (condition number 1e6) needed about 100.
KRYLOV_MAX_DIM_PER_COLUMN = 200
KRYLOV_MAX_DIM = 600

#: From this many training rows on, infinite-time weights use the float32
#: Cholesky factor with float64 iterative refinement (see the module notes).
MIXED_PRECISION_MIN_N = 2048

#: Refinement steps before mixed precision gives way to float64. Each step
#: gains about -log10(cond * 6e-8) digits; needing more than this many means
#: a condition number near 1e7, where float64 is the better tool.
MAX_REFINEMENT_STEPS = 10

#: Below this reciprocal condition number the Cholesky solution is still used
#: but a warning says how many digits it loses.
WARN_RCOND = 1e-10


class IllConditionedKernelWarning(UserWarning):
    """The train kernel is (numerically) singular; a remedy is suggested."""


def time_to_tau(t, learning_rate, n_outputs):
    """neural-tangents' time scaling ``tau = learning_rate * t / y.size``.

    Parameters
    ----------
    t : float or None
        Training time; None or ``inf`` means infinite time.
    learning_rate : float
    n_outputs : int
        ``y.size`` (all entries of the training targets).

    Returns
    -------
    float or None
        None for infinite time.
    """
    if t is None or np.isposinf(t):
        return None
    return float(learning_rate) * float(t) / float(n_outputs)


def spectral_filter(eigenvalues, tau):
    """``phi_tau(lambda) = (1 - exp(-tau lambda)) / lambda``, safely.

    The naive form loses every digit when ``tau * lambda`` is tiny
    (``1 - exp(-x)`` cancels) and divides 0 by 0 at ``lambda = 0``;
    ``-expm1(-x)`` keeps full relative precision and the exact limit
    ``phi_tau(0) = tau`` is used at ``lambda <= 0``.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
    tau : float or None
        None means infinite time: ``1 / lambda`` (callers pass positive
        eigenvalues only).

    Returns
    -------
    ndarray of shape (n,)
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if tau is None or np.isposinf(tau):
        return 1.0 / eigenvalues
    positive = eigenvalues > 0
    safe = np.where(positive, eigenvalues, 1.0)
    return np.where(positive, -np.expm1(-tau * safe) / safe, float(tau))


def _one_norm(matrix, block_rows=1024):
    """Largest absolute column sum, in row blocks (no n x n temporary)."""
    sums = np.zeros(matrix.shape[1])
    for start in range(0, matrix.shape[0], block_rows):
        sums += np.abs(matrix[start:start + block_rows]).sum(axis=0)
    return float(sums.max())


class GradientFlowSolver:
    """Closed-form gradient flow with a (regularised) train kernel.

    Parameters
    ----------
    k_train_train : ndarray of shape (n, n)
        Symmetric positive semi-definite train kernel (the NTK for gradient
        flow of all parameters, the NNGP for readout-only training). It is
        not copied and must not be modified afterwards.
    diag_reg : float, default=0.0
        Relative diagonal regulariser: the solver works with
        ``Theta = k_train_train + diag_reg * mean(diag(k_train_train)) * I``
        (neural-tangents' ``diag_reg`` with ``diag_reg_absolute_scale=False``).
    rcond : float, default=None
        Eigenvalues below ``rcond * lambda_max`` are treated as zero (see the
        module docstring); None means ``n * eps``.

    Attributes
    ----------
    regularizer : float
        The absolute value added to the diagonal.

    Notes
    -----
    Factorisations are lazy and cached on the instance: a float64 Cholesky
    factor (infinite time, the Krylov basis, covariances at infinite time),
    a float32 one (infinite-time weights from ``MIXED_PRECISION_MIN_N``
    rows), an extended Krylov basis for the last targets (finite-time
    weights), and an eigendecomposition only when it is needed (finite-time
    covariances, or a fallback).

    References
    ----------
    Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
    Under Gradient Descent", NeurIPS 2019, eq. 16.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._dynamics import GradientFlowSolver
    >>> theta = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> y = np.array([[1.0], [-1.0]])
    >>> solver = GradientFlowSolver(theta)
    >>> np.allclose(theta @ solver.weights(y, None), y)  # interpolates
    True
    >>> float(np.abs(solver.weights(y, 0.0)).max())  # nothing learnt at t=0
    0.0
    """

    def __init__(self, k_train_train, diag_reg=0.0, rcond=None):
        k = np.asarray(k_train_train, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
            raise ValueError(
                f"k_train_train must be a non-empty square matrix; got shape {k.shape}."
            )
        if not np.all(np.isfinite(k)):
            raise ValueError(
                "k_train_train contains NaN or infinity: the kernel overflowed "
                "float64, most often because the features are on a huge scale "
                "(the input layer's covariance is x . x' / n_features, and deep "
                "or exponential activations grow it further). Standardise the "
                "features first, e.g. make_pipeline(StandardScaler(), "
                "NTKRegressor()); a custom kernel_fn may also return non-finite "
                "values."
            )
        if not np.isfinite(diag_reg) or diag_reg < 0:
            raise ValueError(f"diag_reg={diag_reg!r} must be finite and >= 0.")
        self.k_train_train = k
        self.diag_reg = float(diag_reg)
        self.regularizer = self.diag_reg * float(np.mean(np.diag(k)))
        n = k.shape[0]
        self.rcond = float(n * np.finfo(np.float64).eps if rcond is None else rcond)
        self._cholesky = None
        self._eigen = None
        self._cholesky_failed = False
        self._warned_cholesky = False
        self._krylov = None
        self._factor32 = None
        self._mixed_failed = False
        self._norm = None
        self._lock = threading.Lock()
        self._krylov_lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"], state["_krylov_lock"]
        state["_krylov"] = None  # holds closures over the factor; rebuilt on demand
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._krylov_lock = threading.Lock()

    def factor_nbytes(self):
        """Bytes of the factorisations and Krylov basis held (not the kernel)."""
        arrays = [self._cholesky, self._factor32]
        if self._eigen is not None:
            arrays += list(self._eigen)
        if self._krylov is not None:
            arrays.append(self._krylov.rhs)
            total = self._krylov.nbytes
        else:
            total = 0
        return total + sum(a.nbytes for a in arrays if a is not None)

    @property
    def n_samples(self):
        return self.k_train_train.shape[0]

    def _regularized(self):
        # A fresh copy: LAPACK then overwrites it in place.
        matrix = self.k_train_train.copy()
        matrix[np.diag_indices_from(matrix)] += self.regularizer
        return matrix

    def _warn(self, what, dropped=True):
        consequence = (
            "its numerical null space is dropped (minimum-norm solution). "
            if dropped else ""
        )
        warnings.warn(
            f"The train kernel (n={self.n_samples}, diag_reg={self.diag_reg!r}) "
            f"is {what}, e.g. because of duplicate rows with diag_reg=0; "
            f"{consequence}Increase "
            "diag_reg (e.g. diag_reg=1e-6, or larger for noisy targets) for a "
            "well-conditioned fit.",
            IllConditionedKernelWarning,
            stacklevel=_stacklevel_outside_package(),
        )

    # -- factorisations ---------------------------------------------------

    def _cholesky_factor(self):
        """Lower Cholesky factor, or None when the kernel is ill-conditioned."""
        with self._lock:
            if self._cholesky is None and not self._cholesky_failed:
                matrix = self._regularized()
                anorm = self._regularized_norm()
                try:
                    factor = scipy.linalg.cholesky(
                        matrix, lower=True, overwrite_a=True, check_finite=False
                    )
                except np.linalg.LinAlgError:
                    factor = None
                if factor is not None:
                    rcond, info = lapack.dpocon(factor, anorm, uplo="L")
                    if info != 0 or not rcond > self.rcond:
                        factor = None
                    elif rcond < WARN_RCOND:
                        self._warn(
                            f"ill-conditioned (reciprocal condition number "
                            f"{rcond:.1e}: the infinite-time solution loses about "
                            f"{-np.log10(rcond):.0f} digits)", dropped=False,
                        )
                if factor is None:
                    self._cholesky_failed = True
                else:
                    self._cholesky = factor
            return self._cholesky

    def eigen(self):
        """Eigendecomposition of the regularised kernel, numerical null space removed.

        Returns
        -------
        eigenvalues : ndarray of shape (r,)
            The ``r`` eigenvalues above ``rcond * lambda_max``.
        eigenvectors : ndarray of shape (n, r)
        """
        with self._lock:
            if self._eigen is None:
                values, vectors = scipy.linalg.eigh(
                    self._regularized(), overwrite_a=True, check_finite=False,
                    driver="evr",
                )
                self._eigen = self._without_null_space(values, vectors)
            return self._eigen

    def adopt_eigensystem(self, kernel_values, kernel_vectors):
        """Use an eigendecomposition of ``k_train_train`` computed elsewhere.

        A cross-validated search has already decomposed the train kernel
        (:mod:`._loo`); the regularised kernel has the same eigenvectors and
        the eigenvalues shifted by ``regularizer``, so finite-time weights
        and covariances then cost ``O(n^2)`` instead of a Krylov basis or a
        second eigendecomposition. Infinite time keeps its Cholesky route.

        Parameters
        ----------
        kernel_values : ndarray of shape (n,)
            Eigenvalues of ``k_train_train``, ascending.
        kernel_vectors : ndarray of shape (n, n)
            Its orthonormal eigenvectors (not copied).
        """
        values = np.asarray(kernel_values, dtype=np.float64) + self.regularizer
        with self._lock:
            self._eigen = self._without_null_space(values, kernel_vectors)

    def _without_null_space(self, values, vectors):
        """Drop the eigenpairs at or below ``rcond`` times the largest, warning."""
        largest = max(float(np.abs(values).max()), np.finfo(np.float64).tiny)
        keep = values > self.rcond * largest
        if np.all(keep):
            return values, vectors
        self._warn(
            f"singular or slightly indefinite ({np.count_nonzero(~keep)} "
            f"of {values.size} eigenvalues <= {self.rcond:.1e} x the "
            f"largest; smallest {values.min():.3e})"
        )
        # Eigenvalues come sorted: the null space is a leading block.
        first = int(np.argmax(keep)) if np.any(keep) else values.size
        return values[first:], vectors[:, first:]

    # -- solutions --------------------------------------------------------

    def _infinite_time_factor(self):
        factor = self._cholesky_factor()
        if factor is None and not self._warned_cholesky:
            self._warned_cholesky = True
            self._warn("ill-conditioned (Cholesky failed or its reciprocal "
                       f"condition number is <= {self.rcond:.1e})")
        return factor

    def project(self, rhs):
        """``V^T rhs`` in the eigenbasis (for many times at once)."""
        _, vectors = self.eigen()
        return vectors.T @ rhs

    def weights_from_projection(self, projection, tau):
        """``V phi_tau(Lambda) projection`` given ``projection = V^T rhs``."""
        values, vectors = self.eigen()
        return vectors @ (spectral_filter(values, tau)[:, None] * projection)

    def weights(self, targets, tau):
        """``Theta^{-1} (I - exp(-tau Theta)) targets``.

        Parameters
        ----------
        targets : ndarray of shape (n, m) or (n,)
        tau : float or None
            Scaled time ``learning_rate * t / y.size``; None (or ``inf``)
            means infinite time, ``Theta^{-1} targets``.

        Returns
        -------
        ndarray of the shape of ``targets``
        """
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape[0] != self.n_samples:
            raise ValueError(
                f"targets has {targets.shape[0]} rows; the kernel has {self.n_samples}."
            )
        if tau is not None and (np.isnan(tau) or tau < 0):
            raise ValueError(f"tau={tau!r} must be >= 0 or None (infinite time).")
        column = targets.ndim == 1
        rhs = targets[:, None] if column else targets
        out = self.weights_at_times(rhs, [tau])[0]
        return out[:, 0] if column else out

    def weights_at_times(self, targets, taus):
        """:meth:`weights` at several times, sharing every factorisation.

        Parameters
        ----------
        targets : ndarray of shape (n, m)
        taus : sequence of (float or None)

        Returns
        -------
        list of ndarray of shape (n, m), one per ``tau``
        """
        targets = np.asarray(targets, dtype=np.float64)
        finite = sorted({float(tau) for tau in taus
                         if tau is not None and not np.isposinf(tau) and tau > 0})
        finite_weights = dict(zip(finite, self._finite_time_weights(targets, finite)))
        out = []
        for tau in taus:
            if tau is None or np.isposinf(tau):
                out.append(self._infinite_time_weights(targets))
            elif tau == 0:
                out.append(np.zeros_like(targets))
            else:
                out.append(finite_weights[float(tau)])
        return out

    def _infinite_time_weights(self, rhs):
        if (self._cholesky is None and self.n_samples >= MIXED_PRECISION_MIN_N
                and rhs.shape[1] <= ITERATIVE_MAX_COLUMNS):
            weights = self._mixed_precision_solve(rhs)
            if weights is not None:
                return weights
        factor = self._infinite_time_factor()
        if factor is not None:
            return _cho_solve(factor, rhs)
        return self.weights_from_projection(self.project(rhs), None)

    def _regularized_norm(self):
        """1-norm (= infinity norm, symmetric) of the regularised kernel, once.

        The diagonal of a PSD kernel is >= 0, so adding the regulariser adds
        exactly ``regularizer`` to every absolute column sum.
        """
        if self._norm is None:
            self._norm = _one_norm(self.k_train_train) + self.regularizer
        return self._norm

    def _float32_factor(self):
        """Lower Cholesky factor of the regularised kernel in float32, or None."""
        with self._lock:
            if self._factor32 is None and not self._mixed_failed:
                matrix = self.k_train_train.astype(np.float32)
                matrix[np.diag_indices_from(matrix)] += np.float32(self.regularizer)
                try:
                    self._factor32 = scipy.linalg.cholesky(
                        matrix, lower=True, overwrite_a=True, check_finite=False
                    )
                except np.linalg.LinAlgError:
                    self._mixed_failed = True
            return self._factor32

    def _mixed_precision_solve(self, rhs):
        """``Theta^{-1} rhs`` to float64 accuracy from the float32 factor.

        Iterative refinement: ``x += Theta_32^{-1} (rhs - Theta x)`` with the
        residual in float64, until the backward error is at the float64
        level (LAPACK ``dsposv``'s test). Returns None, and stops trying
        mixed precision for this kernel, if the float32 factorisation fails
        or the refinement does not converge.
        """
        factor = self._float32_factor()
        if factor is None:
            return None
        threshold = (np.finfo(np.float64).eps * np.sqrt(self.n_samples)
                     * self._regularized_norm())
        solution = np.zeros_like(rhs)
        residual = rhs
        for _ in range(MAX_REFINEMENT_STEPS + 1):
            solution = solution + _float32_solve(factor, residual)
            residual = rhs - self._matvec(solution)
            size = np.abs(solution).max(axis=0)
            if not np.all(np.isfinite(size)):
                break
            if np.all(np.abs(residual).max(axis=0) <= threshold * size):
                return solution
        self._mixed_failed = True
        return None

    def _finite_time_weights(self, rhs, taus):
        """``phi_tau(Theta) rhs`` for positive finite ``taus`` (see the module notes)."""
        if not taus:
            return []
        functions = [functools.partial(spectral_filter, tau=tau) for tau in taus]
        if self._eigen is None and rhs.shape[1] <= ITERATIVE_MAX_COLUMNS:
            basis = self._krylov_basis(rhs)
            if basis is not None:
                with self._krylov_lock:
                    result = basis.apply(functions)
                if result is not None:
                    return result
        projection = self.project(rhs)
        return [self.weights_from_projection(projection, tau) for tau in taus]

    def _krylov_basis(self, rhs):
        """The extended Krylov basis of ``(Theta, rhs)``, kept for the last ``rhs``."""
        factor = self._cholesky_factor()
        if factor is None:
            return None
        with self._krylov_lock:
            if self._krylov is None or not np.array_equal(self._krylov.rhs, rhs):
                max_dim = min(KRYLOV_MAX_DIM, KRYLOV_MAX_DIM_PER_COLUMN * rhs.shape[1])
                # Functions of arrays, not bound methods: a basis that
                # referred back to this solver would make a reference
                # cycle, and every discarded solver (n x n kernel and
                # factors) would then wait for the cyclic garbage collector
                # (a grid search at N = 5000 grew past 20 GB that way).
                self._krylov = ExtendedKrylovBasis(
                    functools.partial(_regularized_matvec, self.k_train_train,
                                      self.regularizer),
                    functools.partial(_cho_solve, factor),
                    rhs.copy(),
                    max_dim,
                )
            return self._krylov

    def _matvec(self, block):
        """``Theta @ block`` without forming the regularised kernel."""
        return _regularized_matvec(self.k_train_train, self.regularizer, block)

    def whiten(self, rhs, tau):
        """``A`` with ``A^T A = rhs^T Theta^{-1} (I - exp(-tau Theta)) rhs``.

        The symmetric square-root form keeps covariances exactly symmetric
        and their subtracted term PSD.

        Parameters
        ----------
        rhs : ndarray of shape (n, k)
        tau : float or None

        Returns
        -------
        ndarray of shape (r, k)
        """
        if tau is None or np.isposinf(tau):
            factor = self._infinite_time_factor()
            if factor is not None:
                return scipy.linalg.solve_triangular(
                    factor, rhs, lower=True, check_finite=False
                )
        values, _ = self.eigen()
        return np.sqrt(spectral_filter(values, tau))[:, None] * self.project(rhs)


def _stacklevel_outside_package():
    """``stacklevel`` for a warning raised here that names the user's line.

    The first frame outside ``sklearn_ntk`` (the user's ``fit``, or the
    scikit-learn tool that called it), however deep the solver was entered.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    depth = 1  # frame 0 is this function; frame 1 the function that warns
    frame = sys._getframe(depth)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        depth += 1
    # warnings.warn(stacklevel=1) names the warning function (our frame 1).
    return depth


def _float32_solve(factor, rhs):
    """``L^{-T} L^{-1} rhs`` with a float32 factor, scaled against under/overflow."""
    scale = np.abs(rhs).max(axis=0)
    scale[scale == 0] = 1.0
    solved = _cho_solve(factor, (rhs / scale).astype(np.float32))
    return solved.astype(np.float64) * scale


def _regularized_matvec(kernel, regularizer, block):
    """``(K + regularizer I) @ block`` without forming the regularised kernel."""
    return kernel @ block + regularizer * block


def _cho_solve(factor, rhs):
    """``L^{-T} L^{-1} rhs`` for a lower Cholesky factor of ``rhs``'s dtype.

    One column goes through two BLAS ``trsv`` calls: 0.022 s against 0.050 s
    for LAPACK ``potrs`` (``trsm`` with one column) at n = 8000, and the
    Krylov basis and the refinement solve one column at a time.
    """
    if rhs.shape[1] == 1 and factor.flags.f_contiguous:
        trsv = scipy.linalg.get_blas_funcs("trsv", (factor,))
        half = trsv(factor, rhs[:, 0], lower=1, trans=0)
        return trsv(factor, half, lower=1, trans=1, overwrite_x=1)[:, None]
    return scipy.linalg.cho_solve((factor, True), rhs, check_finite=False)


def _finish_covariance(cov_or_var, diag_only):
    if diag_only:
        # Rounding can make a zero variance (a training point) slightly negative.
        return np.maximum(cov_or_var, 0.0)
    cov = 0.5 * (cov_or_var + cov_or_var.T)
    return cov


def nngp_covariance(solver, k_test_train, k_test_test, tau, diag_only=False):
    """Predictive covariance of readout-only gradient flow (NNGP dynamics).

    ``K_** - K_*X K^{-1} (I - exp(-2 tau K)) K_X*`` (``tau=None``: the exact
    GP posterior covariance with noise ``solver.regularizer``).

    Parameters
    ----------
    solver : GradientFlowSolver
        Built on the NNGP train kernel.
    k_test_train : ndarray of shape (n_test, n)
    k_test_test : ndarray of shape (n_test, n_test), or (n_test,) if diag_only
    tau : float or None
    diag_only : bool, default=False
        Return only the variances.

    Returns
    -------
    ndarray of shape (n_test, n_test) or (n_test,)
    """
    doubled = None if tau is None else 2.0 * tau
    whitened = solver.whiten(k_test_train.T, doubled)
    if diag_only:
        return _finish_covariance(k_test_test - np.einsum("ij,ij->j", whitened, whitened), True)
    return _finish_covariance(k_test_test - whitened.T @ whitened, False)


def ntk_covariance(solver, ntk_test_train, nngp_test_train, nngp_train_train,
                   nngp_test_test, tau, diag_only=False, ntk_weights=None):
    """Predictive covariance of the NTK ensemble (Lee et al. 2019, eq. 16).

    ``K_** + G^T K G - (K_*X G + G^T K_X*)`` with
    ``G = Theta^{-1} (I - exp(-tau Theta)) Theta_X*``.

    Parameters
    ----------
    solver : GradientFlowSolver
        Built on the NTK train kernel.
    ntk_test_train, nngp_test_train : ndarray of shape (n_test, n)
    nngp_train_train : ndarray of shape (n, n)
    nngp_test_test : ndarray of shape (n_test, n_test), or (n_test,) if diag_only
    tau : float or None
    diag_only : bool, default=False
    ntk_weights : ndarray of shape (n, n_test), default=None
        ``G`` if already computed (e.g. from an eigenbasis projection).

    Returns
    -------
    ndarray of shape (n_test, n_test) or (n_test,)
    """
    g = solver.weights(ntk_test_train.T, tau) if ntk_weights is None else ntk_weights
    k_g = nngp_train_train @ g
    if diag_only:
        variance = (nngp_test_test + np.einsum("ij,ij->j", g, k_g)
                    - 2.0 * np.einsum("ji,ij->j", nngp_test_train, g))
        return _finish_covariance(variance, True)
    cross = nngp_test_train @ g
    return _finish_covariance(nngp_test_test + g.T @ k_g - cross - cross.T, False)

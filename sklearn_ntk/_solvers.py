"""One interface to the fitted dynamics, whatever the solver.

The estimators talk to a *fitted dynamics* object and never ask which
solver made it. It offers:

* ``basis``: the rows that test kernels are taken against (the training
  rows for the exact solver, the centres for Nyström);
* ``weights_at_times(targets, taus)``: weights on ``basis`` such that the
  mean at time ``tau`` is ``k(X_test, basis) @ weights``;
* ``predict(X_test, weights, taus, spread)``: means and, with
  ``spread="std"`` or ``"cov"``, variances or covariances at every ``tau``,
  sharing every factorisation across times;
* ``nbytes()`` for the kernel cache, and ``name`` ("exact" or "nystrom").

:class:`ExactDynamics` (this module) wraps the closed forms of
:mod:`._dynamics` on the full train kernel; :class:`._nystrom.NystromDynamics`
solves the same dynamics for the Nyström approximation of the kernel.
:func:`check_exact_fits` refuses an exact fit whose train kernel cannot fit
in memory before anything is allocated.

This module imports no scikit-learn.
"""

import collections
import hashlib
import math
import threading

import numpy as np

from ._dynamics import (
    GradientFlowSolver,
    nngp_covariance,
    ntk_covariance,
    spectral_filter,
)
from ._parallel import map_reduce, row_tasks

__all__ = ["ExactDynamics", "available_memory", "check_exact_fits", "refuse_beyond_memory",
           "exact_fit_bytes", "exact_fits", "fits_in_memory", "AUTO_EXACT_MAX_N"]

#: ``solver="auto"`` uses the exact solver up to this many training rows
#: (when it fits in memory): at 20,000 rows it holds 6.4 GB (the kernel and
#: its Cholesky factor) and the factorisation alone is n^3 / 3 = 2.7e12
#: flops, about 40 s at the 65-70 GFLOP/s of a quiet 2-core machine; above
#: it the Nyström solver's n m^2 Gram is the cheaper path.
AUTO_EXACT_MAX_N = 20_000

#: Above this many bytes of test-train kernel, the exact means are computed
#: in row blocks of about this size, as joblib tasks (one block per task
#: at most a few seconds of work; a dask cluster inside
#: ``joblib.parallel_backend("dask")``). Each task gets its test rows, the
#: training rows (shipped once per call) and the weights, and returns only
#: its means.
PREDICT_BLOCK_BYTES = 2**27
#: Rough kernel speed (entries/s) used to give each task >= ~1 s of work.
_ENTRIES_PER_S = 5e7


def exact_mean_task(x_rows, basis, weights, kernel, dynamics_kernel, rows_per_block):
    """Means at some test rows: ``k(x_rows, basis) @ weights``, block by block.

    Module-level so that any joblib backend can run it elsewhere; holds one
    ``rows_per_block x n`` kernel block at a time.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    basis : ndarray of shape (n, d)
        The training rows.
    weights : ndarray of shape (n, c)
        The weights of every time and target side by side.
    kernel : callable
    dynamics_kernel : {"ntk", "nngp"}
    rows_per_block : int

    Returns
    -------
    ndarray of shape (rows, c)
    """
    out = np.empty((x_rows.shape[0], weights.shape[1]))
    for start in range(0, x_rows.shape[0], rows_per_block):
        stop = start + rows_per_block
        block = getattr(kernel(x_rows[start:stop], basis, (dynamics_kernel,)),
                        dynamics_kernel)
        out[start:stop] = block @ weights
    return out


#: n x n float64 arrays an exact fit holds at its peak: the train kernel
#: and its Cholesky factor (the float32 factor and refinement add half one).
EXACT_ARRAYS = 2


def exact_fit_bytes(n_samples):
    """Bytes an exact fit needs at its peak: ``EXACT_ARRAYS * 8 * n^2``."""
    return EXACT_ARRAYS * 8 * int(n_samples) ** 2


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _fits(needed, available):
    return available is None or needed <= available


def fits_in_memory(nbytes):
    """Whether ``nbytes`` fit in the memory available now (True if unknown)."""
    return _fits(nbytes, available_memory())


def exact_fits(n_samples):
    """Whether an exact fit of ``n_samples`` rows fits in available memory."""
    return fits_in_memory(exact_fit_bytes(n_samples))


def refuse_beyond_memory(needed, request, contents, remedy):
    """Raise ``MemoryError`` before allocating ``needed`` bytes that do not fit.

    The message reads "<request> needs about X GB (<contents>), but only Y
    GB are available. <remedy>".
    """
    available = available_memory()
    if not _fits(needed, available):
        raise MemoryError(
            f"{request} needs about {needed / 1e9:.1f} GB ({contents}), but only "
            f"{available / 1e9:.1f} GB are available. {remedy}"
        )


def check_exact_fits(n_samples):
    """Raise ``MemoryError`` before allocating if an exact fit cannot fit.

    Parameters
    ----------
    n_samples : int

    Raises
    ------
    MemoryError
        Naming the bytes needed and available, and ``solver="nystrom"``.
    """
    needed = exact_fit_bytes(n_samples)
    refuse_beyond_memory(
        needed, f"solver='exact' with n_samples={n_samples}",
        f"{needed} bytes: the {n_samples} x {n_samples} float64 train kernel "
        "and its Cholesky factor",
        "Use solver='nystrom' (or solver='auto'), whose memory grows with "
        "n_components**2, not n_samples**2.")


class FittedState:
    """What every fitted dynamics shares: a test-kernel memo and a lock."""

    name = None

    def _init_shared(self):
        self.test_train = collections.OrderedDict()  # digest -> Kernels
        self.lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["test_train"] = collections.OrderedDict()
        del state["lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.Lock()


def digest(array):
    """``(shape, blake2b hash of the bytes)``: a cache key for an array."""
    array = np.ascontiguousarray(array)
    return (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest())


class ExactDynamics(FittedState):
    """The exact solver behind the fitted-dynamics interface.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    kernel : callable
        ``kernel(x1, x2, get, verbose=0) -> Kernels`` with a ``diagonal``
        method.
    dynamics_kernel : {"ntk", "nngp"}
    diag_reg : float
    verbose : int, default=0
    n_jobs : int or None, default=None
        joblib workers for the means at many test rows (see
        ``PREDICT_BLOCK_BYTES``).
    kernels : Kernels, default=None
        Train kernels already computed for ``X`` with this ``kernel`` (e.g.
        by a cross-validated search); None computes them.

    Attributes
    ----------
    kernels : Kernels
        Train kernels (the NNGP of an NTK fit is computed on first demand).
    solver : GradientFlowSolver
    """

    name = "exact"

    def __init__(self, X, kernel, dynamics_kernel, diag_reg, verbose=0, n_jobs=None,
                 kernels=None):
        self._init_shared()
        self.X = X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.kernel = kernel
        self.dynamics_kernel = dynamics_kernel
        if kernels is None or getattr(kernels, dynamics_kernel) is None:
            # Only the kernel of the dynamics: the NTK's covariance also needs
            # the train NNGP, computed on first demand (_train_nngp).
            kernels = kernel(X, None, (dynamics_kernel,), verbose=verbose)
        self.kernels = kernels
        self.solver = GradientFlowSolver(getattr(self.kernels, dynamics_kernel),
                                         diag_reg)

    @property
    def basis(self):
        return self.X

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

    def weights_at_times(self, targets, taus):
        return self.solver.weights_at_times(targets, taus)

    def _train_nngp(self):
        with self.lock:
            if self.kernels.nngp is None:
                nngp = self.kernel(self.X, None, ("nngp",)).nngp
                self.kernels = self.kernels._replace(nngp=nngp)
            return self.kernels.nngp

    def _test_train(self, X, covariance):
        """Test-train kernels, memoised (last two test sets)."""
        get = ((self.dynamics_kernel,) if self.dynamics_kernel == "nngp" or not covariance
               else ("nngp", "ntk"))
        key = digest(X)
        with self.lock:
            cached = self.test_train.get(key)
        if cached is not None and all(getattr(cached, g) is not None for g in get):
            return cached
        kernels = self.kernel(X, self.X, get)
        with self.lock:
            self.test_train[key] = kernels
            while len(self.test_train) > 2:
                self.test_train.popitem(last=False)
        return kernels

    def _covariance(self, k_test_train, prior, tau, diag_only, projected=None):
        solver = self.solver
        if self.dynamics_kernel == "ntk":
            weights = None
            if projected is not None:
                weights = solver.weights_from_projection(projected, tau)
            return ntk_covariance(
                solver, k_test_train.ntk, k_test_train.nngp, self._train_nngp(),
                prior, tau, diag_only=diag_only, ntk_weights=weights,
            )
        if projected is None:
            return nngp_covariance(solver, k_test_train.nngp, prior, tau,
                                   diag_only=diag_only)
        # Whitened form from the shared projection: sqrt(phi_{2 tau}) V^T K_X*.
        whitened = np.sqrt(spectral_filter(solver.eigen()[0], 2.0 * tau))[:, None] * projected
        if diag_only:
            return np.maximum(prior - np.einsum("ij,ij->j", whitened, whitened), 0.0)
        cov = prior - whitened.T @ whitened
        return 0.5 * (cov + cov.T)

    def predict(self, X, weights, taus, spread):
        """Means and spreads at ``X`` for each ``tau`` (see the module docstring).

        The test-train kernel is computed once; the covariances at finite
        times share the projections on one eigendecomposition.

        Parameters
        ----------
        X : ndarray of shape (n_test, d)
        weights : list of ndarray of shape (n, k)
        taus : list of (float or None)
        spread : {None, "std", "cov"}

        Returns
        -------
        means : list of ndarray of shape (n_test, k)
        spreads : list of ndarray, or None
        """
        if spread is None and X.shape[0] * self.X.shape[0] * 8 > PREDICT_BLOCK_BYTES:
            return self._blocked_means(X, weights), None
        k_test_train = self._test_train(X, spread is not None)
        k_mean = getattr(k_test_train, self.dynamics_kernel)
        means = [k_mean @ w for w in weights]
        if spread is None:
            return means, None
        diag_only = spread == "std"
        prior = (self.kernel.diagonal(X).nngp if diag_only
                 else self.kernel(X, None, ("nngp",)).nngp)
        projected = None
        if any(tau is not None for tau in taus) and len(taus) > 1:
            # Projections onto the eigenbasis, shared by all finite times.
            projected = self.solver.project(k_mean.T)
        spreads = [self._covariance(k_test_train, prior, tau, diag_only,
                                    projected=None if tau is None else projected)
                   for tau in taus]
        return means, spreads

    def _blocked_means(self, X, weights):
        """Means at many test rows, in row tasks run by joblib.

        The test-train kernel is never held whole: each task computes its
        blocks against the training rows and returns its means only.
        """
        n = self.X.shape[0]
        rows_per_block = max(1, PREDICT_BLOCK_BYTES // (8 * n))
        seconds_per_block = rows_per_block * n / _ENTRIES_PER_S
        ranges = row_tasks(X.shape[0], rows_per_block, n_jobs=self.n_jobs,
                           min_blocks=math.ceil(1.0 / seconds_per_block))
        stacked = np.concatenate(weights, axis=1)
        results = map_reduce(
            exact_mean_task,
            [(X[a:b], self.X, stacked, self.kernel, self.dynamics_kernel,
              rows_per_block) for a, b in ranges],
            n_jobs=self.n_jobs, verbose=self.verbose if len(ranges) > 1 else 0,
            units=[math.ceil((b - a) / rows_per_block) for a, b in ranges],
            description=f"exact predict (n_test={X.shape[0]}, n={n})")
        means = np.concatenate(results, axis=0)
        widths = np.cumsum([w.shape[1] for w in weights])[:-1]
        return np.split(means, widths, axis=1)

"""Nyström solver: gradient-flow dynamics of a low-rank kernel, streamed over rows.

With ``m`` centres ``Z`` (rows of ``X``) the train kernel is replaced by
its Nyström approximation ``K~ = K_nm K_mm^+ K_mn`` (``K_nm = k(X, Z)``),
whose dynamics are then solved *exactly*, at every time, from m x m
matrices only:

1. centres by randomly pivoted Cholesky (:func:`rpcholesky_centers`, Chen,
   Epperly, Tropp & Webber 2023) or uniformly;
2. one streaming pass over row blocks of ``X`` accumulates the Gram
   ``G = K_mn K_nm`` (a symmetric rank-k update, BLAS ``dsyrk``) and the
   right-hand sides ``K_mn y`` in float64; the n x m matrix is never held
   (peak memory ``O(m^2 + block * m)`` beyond ``X``);
3. with ``T`` (m x r) such that ``T^T K_mm T = I`` (``T = L^{-T}`` from a
   Cholesky factor, or the pseudo-inverse square root when ``K_mm`` is
   singular), ``B = K_nm T`` satisfies ``K~ = B B^T``. One eigendecomposition
   ``T^T G T = B^T B = U S U^T`` gives the spectral calculus of ``K~``: by
   the push-through identity ``B^T f(B B^T) = f(B^T B) B^T``, the
   gradient-flow prediction at time ``tau`` is

       f_tau(x) = k(x, Z) W phi_tau(S + lambda) W^T K_mn y,   W = T U,

   for every ``tau`` (``phi_tau`` of :func:`._dynamics.spectral_filter`,
   ``lambda`` the absolute ``diag_reg``). At ``tau = None`` this is
   ``(K_mn K_nm + lambda K_mm)^{-1} K_mn y``: Nyström kernel ridge
   regression as solved by Falkon (Rudi, Carratino & Rosasco 2017).

Covariances (``return_std``/``return_cov``) are those of the ensemble whose
prior covariances are the Nyström approximations of the NNGP and the NTK
with the same centres, except that the prior variance at the test points is
the exact one (the deterministic-training-conditional correction, Seeger et
al. 2003; Quiñonero-Candela & Rasmussen 2005). They are exact when the
centres span the data (``n_components = n``) and never negative:

* NNGP dynamics: ``var = k(x, x) - sum_i phi_{2 tau}(s_i + lambda) s_i p_i^2``
  with ``p = W^T k(Z, x)``;
* NTK dynamics (Lee et al. 2019, eq. 16, with ``K~`` and ``Theta~``):
  ``var = K(x, x) - |b|^2 + |g - b|^2`` with ``b = T_K^T K(Z, x)`` and
  ``g = T_K^T C^T W_Theta phi_tau(S + lambda) W_Theta^T Theta(Z, x)``, where
  ``C = Theta_mn K_nm`` is one more m x m accumulation (a second pass over
  the rows, made on first demand).

This module uses NumPy, SciPy and joblib (through :mod:`._parallel`); the
kernel is any callable ``kernel(x1, x2, get) -> Kernels`` with a
``diagonal(x) -> Kernels`` method.

References
----------
Williams & Seeger, "Using the Nyström Method to Speed Up Kernel Machines",
NeurIPS 2000.
Rudi, Carratino & Rosasco, "FALKON: An Optimal Large Scale Kernel Method",
NeurIPS 2017.
Chen, Epperly, Tropp & Webber, "Randomly pivoted Cholesky: Practical
approximation of a kernel matrix with few entry evaluations", Comm. Pure
Appl. Math., 2025 (arXiv:2207.06503, 2023), Algorithm 2 (block version).
"""

import collections
import copy
import threading
import time

import numpy as np
import scipy.linalg
from scipy.linalg import blas, lapack

from ._dynamics import spectral_filter
from ._parallel import map_reduce, row_tasks
from ._solvers import digest

__all__ = ["NystromDynamics", "rpcholesky_centers", "uniform_centers",
           "default_n_components"]

#: Bytes of one kernel block (rows x m float64) in the streaming passes:
#: 2048 rows at m = 4096. Large enough for BLAS efficiency, small against m^2.
BLOCK_BYTES = 2**26
#: Test rows per prediction task (their kernel against the centres).
PREDICT_BLOCK_BYTES = 2**27
#: Rows of the uniform pool among which randomly pivoted Cholesky picks
#: the centres (at least 2 m): its factor is pool x m float64, and its cost
#: pool x m^2 flops plus pool x m kernel entries. At n = 1e5 a pool of all
#: rows (m = 512) or of 32,768 (m = 2048) left the relative trace error
#: unchanged (0.1234 and 0.0978 on Gaussian features, 0.0496 and 0.0384 vs
#: 0.0385 on 30 unequal clusters, medians of 3 seeds) at 2 to 5 times the
#: time (`benchmarks/bench_nystrom_centres.py --n 100000 --pools ...`).
POOL_ROWS = 2**14
#: Pivots sampled per round of block RPCholesky: at most this many, and
#: at most 1/RPC_MIN_ROUNDS of the centres, so that later pivots see the
#: residual of earlier ones (one round of m pivots would be plain
#: diagonal-weighted sampling).
RPC_BLOCK = 128
RPC_MIN_ROUNDS = 32
#: Pivots whose residual variance is below this fraction of the largest
#: prior variance are rejected (they add nothing a float64 factor can hold).
RPC_TOL = 1e-12
#: Below this reciprocal condition number of K_mm, the whitening uses the
#: pseudo-inverse square root (eigendecomposition) instead of Cholesky.
WHITEN_MIN_RCOND = 1e-10
#: joblib tasks per worker in a pass (progress granularity and balance).
TASKS_PER_WORKER = 8
#: Smallest work per task (seconds, estimated from the speeds below).
MIN_TASK_SECONDS = 1.0
#: Rough speeds to size tasks to >= ~1 s (kernel entries/s, Gram flop/s).
_ENTRIES_PER_S = 5e7
_FLOPS = 5e10


def default_n_components(n_samples):
    """Number of centres used by ``n_components="auto"``: ``min(n_samples, 4096)``.

    Accuracy rises with m at every n measured, and m = 4096 is the largest
    power of two whose fit meets the time target at n = 1e6 on 2 cores
    (345 s; the Gram pass costs ``n m^2`` flops and the m x m work
    ``O(m^3)``, so m = 8192 would take about four times as long), at
    134 MB per m x m matrix. Measured with ``benchmarks/bench_nystrom.py``
    (task ``ridge-sum``, d = 20, depth-3 ReLU NTK, ``diag_reg=0.1``),
    test R^2 against the exact solver's 0.9689 at n = 20,000: 0.9427 at
    m = 2048 and 0.9546 at m = 4096; at n = 1e5, 0.9596 at m = 2048 and
    0.9713 at m = 4096. A rule growing like ``sqrt(n)`` (the rate at which
    Nyström kernel ridge regression keeps the statistical accuracy of the
    exact solution, Rudi, Camoriano & Rosasco 2015) would give 1131
    centres just above the exact solver's range, where the fit at
    m = 4096 costs about as much as the exact one.

    Parameters
    ----------
    n_samples : int

    Returns
    -------
    int

    Examples
    --------
    >>> from sklearn_ntk._nystrom import default_n_components
    >>> default_n_components(100), default_n_components(100_000)
    (100, 4096)
    """
    return int(min(n_samples, 4096))


# -- centres -----------------------------------------------------------------


def uniform_centers(n_samples, n_components, rng):
    """``n_components`` distinct row indices drawn uniformly, sorted."""
    if n_components >= n_samples:
        return np.arange(n_samples)
    return np.sort(rng.choice(n_samples, n_components, replace=False))


def rpcholesky_centers(X, n_components, kernel, dynamics_kernel, rng,
                       pool_rows=POOL_ROWS, block=RPC_BLOCK):
    """Centres by block randomly pivoted Cholesky (Chen et al. 2023, Alg. 2).

    Each round samples ``block`` pivots with probability proportional to
    the residual diagonal ``d`` (the variance the current centres leave
    unexplained), evaluates their kernel columns, factors their residual
    block with LAPACK's pivoted Cholesky ``dpstrf`` (which drops pivots
    whose residual is below ``RPC_TOL`` of the largest variance: duplicates
    and near-duplicates), and updates ``d``. It needs the kernel diagonal
    plus one kernel column per centre, and stops early if the residual
    vanishes (the data have lower numerical rank than ``n_components``).

    When ``n`` exceeds ``max(pool_rows, 2 m)``, the pivots are chosen
    among a uniform random pool of that many rows (see ``POOL_ROWS``): the
    factor is pool x m float64, 268 MB at m = 2048.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    n_components : int
    kernel : callable
        ``kernel(x1, x2, get) -> Kernels`` with a ``diagonal`` method.
    dynamics_kernel : {"ntk", "nngp"}
    rng : numpy.random.RandomState
    pool_rows : int, default=POOL_ROWS
    block : int, default=RPC_BLOCK

    Returns
    -------
    ndarray of int
        Row indices of ``X``, sorted; at most ``n_components`` of them.
    """
    n = X.shape[0]
    if n_components >= n:
        return np.arange(n)
    pool_rows = max(2 * n_components, pool_rows)
    pool = (np.arange(n) if pool_rows >= n
            else np.sort(rng.choice(n, pool_rows, replace=False)))
    x_pool = X[pool]
    residual = np.array(getattr(kernel.diagonal(x_pool), dynamics_kernel), dtype=np.float64)
    tolerance = RPC_TOL * max(float(residual.max()), np.finfo(np.float64).tiny)
    # Row j of ``factor`` is the j-th centre's column of the pool's factor
    # F (K_pool ~ F F^T): each round appends rows, contiguous, and its
    # update reads the rows so far as one (k, pool) operand.
    factor = np.zeros((n_components, pool.size))
    chosen = []
    while len(chosen) < n_components:
        total = residual.sum()
        if not total > tolerance:
            break
        wanted = min(block, max(1, n_components // RPC_MIN_ROUNDS),
                     n_components - len(chosen))
        sample = np.unique(rng.choice(pool.size, wanted, p=residual / total))
        sample = sample[residual[sample] > tolerance]
        if sample.size == 0:
            continue
        k = len(chosen)
        # The sampled rows' residual kernel against the pool, (b, pool).
        rows = getattr(kernel(x_pool[sample], x_pool, (dynamics_kernel,)),
                       dynamics_kernel)
        rows -= factor[:k, sample].T @ factor[:k]
        # Pivoted Cholesky of the residual block: a rank-revealing order
        # and the accepted pivots (residual above tolerance).
        block_factor, order, rank, _ = lapack.dpstrf(rows[:, sample], tol=tolerance,
                                                     lower=1)
        keep = order[:rank] - 1
        if rank == 0:
            residual[sample] = 0.0
            continue
        # New factor rows L^-1 R[keep]: the rank x rank triangular inverse
        # and one GEMM (several times faster here than a triangular solve
        # with pool right-hand sides). The factor only weighs the sampling
        # of later pivots; the fit whitens K_mm of the chosen centres itself.
        inverse, _ = lapack.dtrtri(np.tril(block_factor[:rank, :rank]), lower=1)
        new = np.tril(inverse) @ rows[keep]
        factor[k:k + rank] = new
        residual -= np.einsum("ij,ij->j", new, new)
        np.maximum(residual, 0.0, out=residual)
        residual[sample[keep]] = 0.0
        chosen.extend(pool[sample[keep]].tolist())
    return np.sort(np.asarray(chosen, dtype=np.intp))


# -- m x m linear algebra ------------------------------------------------------


def _symmetric_from_upper(matrix):
    return np.triu(matrix) + np.triu(matrix, 1).T


def whitening(k_mm):
    """``T`` of shape (m, r) with ``T^T K_mm T = I_r`` on K_mm's numerical range.

    ``T = L^{-T}`` from the Cholesky factor when K_mm is well conditioned
    (reciprocal condition number above ``WHITEN_MIN_RCOND``); otherwise
    ``Q_r D_r^{-1/2}`` from its eigendecomposition, dropping eigenvalues
    below ``m * eps`` times the largest (duplicate or nearly dependent
    centres), so that ``K_nm T T^T K_mn`` is the pseudo-inverse Nyström
    approximation.

    Parameters
    ----------
    k_mm : ndarray of shape (m, m)

    Returns
    -------
    ndarray of shape (m, r)
    """
    m = k_mm.shape[0]
    try:
        lower = scipy.linalg.cholesky(k_mm, lower=True, check_finite=False)
        norm = float(np.abs(k_mm).sum(axis=0).max())
        rcond, info = lapack.dpocon(lower, norm, uplo="L")
        if info == 0 and rcond > WHITEN_MIN_RCOND:
            inverse = scipy.linalg.solve_triangular(lower, np.eye(m), lower=True,
                                                    check_finite=False)
            return np.ascontiguousarray(inverse.T)
    except np.linalg.LinAlgError:
        pass
    values, vectors = scipy.linalg.eigh(k_mm, check_finite=False)
    keep = values > m * np.finfo(np.float64).eps * max(float(values.max()), 0.0)
    return vectors[:, keep] / np.sqrt(values[keep])


def whitened_spectrum(transform, gram):
    """``S`` and ``W = T U`` from ``T^T G T = U S U^T`` (the whitened Gram).

    Parameters
    ----------
    transform : ndarray of shape (m, r)
        ``T`` of :func:`whitening`.
    gram : ndarray of shape (m, m)
        ``G = K_mn K_nm`` (symmetric).

    Returns
    -------
    eigenvalues : ndarray of shape (r,)
        Ascending, rounding negatives clipped to 0.
    weights_basis : ndarray of shape (m, r)
    """
    reduced = transform.T @ gram @ transform
    eigenvalues, eigenvectors = scipy.linalg.eigh(
        0.5 * (reduced + reduced.T), overwrite_a=True, check_finite=False)
    return np.maximum(eigenvalues, 0.0), transform @ eigenvectors


def _filter(eigenvalues, regularizer, tau, rcond):
    """``phi_tau(s + lambda)``, with ``1 / x`` dropped where ``x`` is ~0 at ``tau = None``.

    ``regularizer`` may be a column of shape (b, 1): one filter per row.
    """
    shifted = eigenvalues + regularizer
    if tau is None:
        largest = np.maximum(shifted.max(axis=-1, keepdims=True), np.finfo(np.float64).tiny)
        keep = shifted > rcond * largest
        return np.where(keep, 1.0 / np.where(keep, shifted, 1.0), 0.0)
    return spectral_filter(shifted, tau)


def _explained(eigenvalues, regularizer, tau, rcond):
    """``phi_tau(s + lambda) * s`` (the NNGP posterior's explained fraction)."""
    return _filter(eigenvalues, regularizer, tau, rcond) * np.maximum(eigenvalues, 0.0)


# -- streaming passes ------------------------------------------------------------


def _rows_per_block(m, block_bytes=None):
    block_bytes = BLOCK_BYTES if block_bytes is None else block_bytes
    return int(np.clip(block_bytes // (8 * m), 8, 65536))


def gram_task(x_rows, y_rows, centers, kernel, dynamics_kernel, rows_per_block,
              want_gram):
    """One task of the fit pass: ``(K_bm^T K_bm, K_bm^T y_b, seconds)`` summed over blocks.

    Module-level and given only its own rows, so that joblib can ship it
    to another process or machine; returns m x m and m x k arrays.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    y_rows : ndarray of shape (rows, k)
    centers : ndarray of shape (m, d)
    kernel : callable
    dynamics_kernel : {"ntk", "nngp"}
    rows_per_block : int
    want_gram : bool
        False accumulates only the right-hand sides.

    Returns
    -------
    dict
        ``gram`` (m, m) upper triangle (or None), ``rhs`` (m, k),
        ``kernel_s`` and ``gram_s`` (seconds).
    """
    m = centers.shape[0]
    gram = np.zeros((m, m), order="F") if want_gram else None
    rhs = np.zeros((m, y_rows.shape[1]))
    kernel_s = gram_s = 0.0
    for start in range(0, x_rows.shape[0], rows_per_block):
        stop = start + rows_per_block
        began = time.perf_counter()
        block = getattr(kernel(x_rows[start:stop], centers, (dynamics_kernel,)),
                        dynamics_kernel)
        computed = time.perf_counter()
        if want_gram:
            # G += K_bm^T K_bm: a symmetric rank-k update into the
            # (Fortran-ordered) accumulator, half the flops of a GEMM and
            # no temporary; block.T is the Fortran view of the C-ordered block.
            blas.dsyrk(1.0, block.T, beta=1.0, c=gram, trans=0, lower=0,
                       overwrite_c=1)
        rhs += block.T @ y_rows[start:stop]
        kernel_s += computed - began
        gram_s += time.perf_counter() - computed
    return {"gram": gram, "rhs": rhs, "kernel_s": kernel_s, "gram_s": gram_s}


def cross_gram_task(x_rows, centers, kernel, rows_per_block):
    """One task of the covariance pass: ``Theta_bm^T K_bm`` summed over blocks.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    centers : ndarray of shape (m, d)
    kernel : callable
    rows_per_block : int

    Returns
    -------
    dict
        ``cross`` (m, m), ``kernel_s`` and ``gram_s`` (seconds).
    """
    m = centers.shape[0]
    cross = np.zeros((m, m), order="F")
    kernel_s = gram_s = 0.0
    for start in range(0, x_rows.shape[0], rows_per_block):
        began = time.perf_counter()
        both = kernel(x_rows[start:start + rows_per_block], centers, ("nngp", "ntk"))
        computed = time.perf_counter()
        # C += Theta_bm^T K_bm, accumulated in place (transposed views are
        # Fortran-ordered: no copies).
        blas.dgemm(1.0, both.ntk.T, both.nngp.T, beta=1.0, c=cross, trans_b=1,
                   overwrite_c=1)
        kernel_s += computed - began
        gram_s += time.perf_counter() - computed
    return {"cross": cross, "kernel_s": kernel_s, "gram_s": gram_s}


def _add_into(accumulated, result):
    for name, value in result.items():
        if value is not None:
            accumulated[name] += value
    return accumulated


def predict_task(predictor, x_rows, weights, taus, want_variance):
    """Means (and variances) at some test rows; see :meth:`NystromPredictor.block`."""
    return predictor.block(x_rows, weights, taus, want_variance)


class NystromPredictor:
    """The m x m state that predictions need (centres, spectra, transforms).

    Separate from :class:`NystromDynamics` (which also refers to the
    training rows) so that prediction tasks ship only m x m arrays.
    """

    def __init__(self, centers, kernel, dynamics_kernel, regularizer, rcond,
                 eigenvalues, weights_basis):
        self.centers = centers
        self.kernel = kernel
        self.dynamics_kernel = dynamics_kernel
        self.regularizer = regularizer
        self.rcond = rcond
        self.eigenvalues = eigenvalues        # S, shape (r,)
        self.weights_basis = weights_basis    # W = T U, shape (m, r)
        self.nngp_whitening = None            # T_K (m, r_K), NTK covariances
        self.cross = None                     # E = T_K^T C^T W, (r_K, r)

    def nbytes(self):
        arrays = (self.centers, self.eigenvalues, self.weights_basis,
                  self.nngp_whitening, self.cross)
        return sum(a.nbytes for a in arrays if a is not None)

    def test_kernels(self, x_rows, want_variance):
        get = ((self.dynamics_kernel,) if not want_variance or self.dynamics_kernel == "nngp"
               else ("nngp", "ntk"))
        return self.kernel(x_rows, self.centers, get)

    def spread(self, test_centers, prior, taus, diag_only):
        """Variances (``diag_only``) or covariances at each ``tau``.

        Parameters
        ----------
        test_centers : Kernels
            Kernels of the test rows against the centres.
        prior : ndarray of shape (n_test,) or (n_test, n_test)
            Exact prior variances (or covariance) of the NNGP at the test rows.
        taus : list of (float or None)
        diag_only : bool

        Returns
        -------
        list of ndarray
        """
        def gram(a, b):
            return np.einsum("ij,ij->j", a, b) if diag_only else a.T @ b

        projected = self.weights_basis.T @ getattr(test_centers, self.dynamics_kernel).T
        out = []
        if self.dynamics_kernel == "nngp":
            for tau in taus:
                doubled = None if tau is None else 2.0 * tau
                scale = np.sqrt(_explained(self.eigenvalues, self.regularizer, doubled,
                                           self.rcond))[:, None]
                whitened = scale * projected
                out.append(prior - gram(whitened, whitened))
        else:
            nngp_part = self.nngp_whitening.T @ test_centers.nngp.T  # b, (r_K, n_test)
            corrected = prior - gram(nngp_part, nngp_part)
            for tau in taus:
                phi = _filter(self.eigenvalues, self.regularizer, tau, self.rcond)
                difference = self.cross @ (phi[:, None] * projected) - nngp_part
                out.append(corrected + gram(difference, difference))
        if diag_only:
            return [np.maximum(s, 0.0) for s in out]
        return [0.5 * (s + s.T) for s in out]

    def block(self, x_rows, weights, taus, want_variance):
        """Means at each time and, if asked, variances, at ``x_rows``.

        Returns
        -------
        means : ndarray of shape (n_times, rows, k)
        variances : ndarray of shape (n_times, rows) or None
        """
        test_centers = self.test_kernels(x_rows, want_variance)
        k_mean = getattr(test_centers, self.dynamics_kernel)
        means = np.stack([k_mean @ w for w in weights])
        if not want_variance:
            return means, None
        prior = self.kernel.diagonal(x_rows).nngp
        return means, np.stack(self.spread(test_centers, prior, taus, True))


class NystromDynamics:
    """Gradient flow with the Nyström approximation of the train kernel.

    Implements the fitted-dynamics interface of :mod:`._solvers`
    (``basis``, ``weights_at_times``, ``predict``), as the exact solver
    does. Building it selects the centres, makes the streaming pass and
    the eigendecomposition; ``targets`` seen later cost one more pass for
    their right-hand sides (no Gram).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Training rows (kept by reference, for later passes).
    targets : ndarray of shape (n, k)
    kernel : callable
        ``kernel(x1, x2, get) -> Kernels`` with a ``diagonal`` method.
    dynamics_kernel : {"ntk", "nngp"}
    diag_reg : float
        Relative regulariser: ``lambda = diag_reg * mean(diag k(X, X))``
        (the exact diagonal).
    n_components : int
    centers : {"rpcholesky", "uniform"}, default="rpcholesky"
    rng : numpy.random.RandomState, default=None
    n_jobs : int, default=None
    verbose : int, default=0
    description : str, default="Nystrom"

    Attributes
    ----------
    center_indices : ndarray of int
    timings : dict
        Seconds spent in ``centers``, ``kernel`` (kernel blocks against
        the centres), ``gram`` (their accumulation) and ``eigh`` (the m x m
        factorisations); for benchmarks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._nystrom import NystromDynamics
    >>> class Linear:  # a toy kernel x . z (NNGP = NTK)
    ...     def __call__(self, a, b, get):
    ...         from sklearn_ntk import Kernels
    ...         k = a @ (a if b is None else b).T
    ...         return Kernels(k, k)
    ...     def diagonal(self, a):
    ...         from sklearn_ntk import Kernels
    ...         d = (a * a).sum(1)
    ...         return Kernels(d, d)
    >>> X = np.random.default_rng(0).standard_normal((50, 3))
    >>> y = X @ [[1.0], [2.0], [3.0]]
    >>> dynamics = NystromDynamics(X, y, Linear(), "ntk", 0.0, n_components=10,
    ...                            rng=np.random.RandomState(0))
    >>> weights = dynamics.weights_at_times(y, [None])[0]
    >>> means, _ = dynamics.predict(X[:2], [weights], [None], None)
    >>> bool(np.allclose(means[0], y[:2]))  # rank 3: three centres suffice
    True
    """

    name = "nystrom"

    def __init__(self, X, targets, kernel, dynamics_kernel, diag_reg, n_components,
                 centers="rpcholesky", rng=None, n_jobs=None, verbose=0,
                 description="Nystrom"):
        rng = np.random.RandomState(0) if rng is None else rng
        self.X = X
        self.kernel = kernel
        self.dynamics_kernel = dynamics_kernel
        self.diag_reg = float(diag_reg)
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.description = description
        self.timings = collections.defaultdict(float)
        self.test_train = collections.OrderedDict()  # unused: blocks are streamed
        self.lock = threading.Lock()

        began = time.perf_counter()
        if centers == "uniform":
            indices = uniform_centers(X.shape[0], n_components, rng)
        else:
            indices = rpcholesky_centers(X, n_components, kernel, dynamics_kernel, rng)
        self.center_indices = indices
        center_rows = np.ascontiguousarray(X[indices])
        self.centers = center_rows
        diagonal = getattr(kernel.diagonal(X), dynamics_kernel)
        self.diagonal_mean = float(np.mean(diagonal))
        # The leave-one-out models' regularisers lie between the values of
        # lambda_i = diag_reg * (n mean - K_ii) / (n - 1) at these two.
        self.diagonal_range = (float(np.min(diagonal)), float(np.max(diagonal)))
        self.regularizer = self.diag_reg * self.diagonal_mean
        k_mm = getattr(kernel(center_rows, None, (dynamics_kernel,)), dynamics_kernel)
        self.timings["centers"] += time.perf_counter() - began

        passed = self._pass(gram_task, targets, want_gram=True,
                            what="Gram pass")
        gram = _symmetric_from_upper(passed["gram"])
        began = time.perf_counter()
        transform = whitening(k_mm)
        eigenvalues, weights_basis = whitened_spectrum(transform, gram)
        del gram
        self.timings["eigh"] += time.perf_counter() - began
        rcond = transform.shape[1] * np.finfo(np.float64).eps
        self.predictor = NystromPredictor(
            center_rows, kernel, dynamics_kernel, self.regularizer, rcond,
            eigenvalues, weights_basis,
        )
        self._rhs = {_targets_key(targets): passed["rhs"]}

    # -- the fitted-dynamics interface --------------------------------------

    @property
    def basis(self):
        """Rows that test kernels are taken against (the centres)."""
        return self.centers

    def nbytes(self):
        return self.predictor.nbytes() + sum(r.nbytes for r in self._rhs.values())

    def task_ranges(self, n_rows):
        """Rows per kernel block and the ``(start, stop)`` row ranges of the
        parallel tasks of a pass over ``n_rows`` rows (about a second of
        work or more per task: kernel entries plus Gram flops).

        Returns
        -------
        rows_per_block : int
        ranges : list of (int, int)
        """
        m = self.centers.shape[0]
        rows_per_block = _rows_per_block(m)
        seconds_per_block = (rows_per_block * m / _ENTRIES_PER_S
                             + rows_per_block * m * m / _FLOPS)
        ranges = row_tasks(n_rows, rows_per_block, n_jobs=self.n_jobs,
                           min_blocks=max(1, int(np.ceil(MIN_TASK_SECONDS
                                                         / seconds_per_block))),
                           tasks_per_worker=TASKS_PER_WORKER)
        return rows_per_block, ranges

    def _pass(self, task, targets=None, want_gram=True, what="pass"):
        centers = self.centers
        m = centers.shape[0]
        rows_per_block, ranges = self.task_ranges(self.X.shape[0])
        if task is cross_gram_task:
            tasks = [(self.X[a:b], centers, self.kernel, rows_per_block)
                     for a, b in ranges]
        else:
            tasks = [(self.X[a:b], targets[a:b], centers, self.kernel,
                      self.dynamics_kernel, rows_per_block, want_gram)
                     for a, b in ranges]
        units = [int(np.ceil((b - a) / rows_per_block)) for a, b in ranges]
        result = map_reduce(task, tasks, n_jobs=self.n_jobs, reduce=_add_into,
                            verbose=self.verbose, units=units,
                            description=f"{self.description}: {what} "
                                        f"(n={self.X.shape[0]}, m={m})")
        self.timings["kernel"] += result.pop("kernel_s")
        self.timings["gram"] += result.pop("gram_s")
        return result

    def _weights_rhs(self, targets):
        key = _targets_key(targets)
        with self.lock:
            rhs = self._rhs.get(key)
        if rhs is None:
            rhs = self._pass(gram_task, targets, want_gram=False,
                             what="right-hand-side pass")["rhs"]
            with self.lock:
                self._rhs = {key: rhs}
        return rhs

    def weights_at_times(self, targets, taus):
        """Weights on the centres, ``W phi_tau(S + lambda) W^T K_mn targets``.

        Parameters
        ----------
        targets : ndarray of shape (n, k)
        taus : list of (float or None)

        Returns
        -------
        list of ndarray of shape (m, k)
        """
        predictor = self.predictor
        projected = predictor.weights_basis.T @ self._weights_rhs(targets)
        return [predictor.weights_basis @ (
                    _filter(predictor.eigenvalues, self.regularizer, tau,
                            predictor.rcond)[:, None] * projected)
                for tau in taus]

    def with_diag_reg(self, diag_reg):
        """This fit with another relative regulariser ``diag_reg``.

        The centres, the passes and the m x m spectrum do not depend on it
        (it enters only the spectral filter): a cross-validated search
        scores every ``diag_reg`` on one fit and refits the best from it.

        Parameters
        ----------
        diag_reg : float

        Returns
        -------
        NystromDynamics
            Sharing this one's arrays.
        """
        other = copy.copy(self)
        other.diag_reg = float(diag_reg)
        other.regularizer = other.diag_reg * self.diagonal_mean
        other.predictor = copy.copy(self.predictor)
        other.predictor.regularizer = other.regularizer
        other.timings = collections.defaultdict(float, self.timings)
        other.lock = threading.Lock()
        return other

    def _ensure_covariance_terms(self):
        """The NNGP whitening and the cross Gram pass (NTK covariances only)."""
        predictor = self.predictor
        if self.dynamics_kernel != "ntk" or predictor.cross is not None:
            return
        with self.lock:
            if predictor.cross is not None:
                return
            cross = self._pass(cross_gram_task, what="covariance pass")["cross"]
            began = time.perf_counter()
            nngp_mm = self.kernel(predictor.centers, None, ("nngp",)).nngp
            nngp_whitening = whitening(nngp_mm)
            predictor.cross = nngp_whitening.T @ (cross.T @ predictor.weights_basis)
            predictor.nngp_whitening = nngp_whitening
            self.timings["eigh"] += time.perf_counter() - began

    def predict(self, X, weights, taus, spread):
        """Means and spreads at ``X``, for each ``tau``.

        Parameters
        ----------
        X : ndarray of shape (n_test, d)
        weights : list of ndarray of shape (m, k)
            Weights of the mean at each ``tau`` (``weights_at_times``).
        taus : list of (float or None)
        spread : {None, "std", "cov"}
            Nothing, variances (computed in row blocks, in parallel), or
            full covariances.

        Returns
        -------
        means : list of ndarray of shape (n_test, k)
        spreads : list of ndarray of shape (n_test,) or (n_test, n_test), or None
        """
        if spread is not None:
            self._ensure_covariance_terms()
        predictor = self.predictor
        if spread == "cov":
            test_centers = predictor.test_kernels(X, True)
            k_mean = getattr(test_centers, self.dynamics_kernel)
            prior = self.kernel(X, None, ("nngp",)).nngp
            return ([k_mean @ w for w in weights],
                    predictor.spread(test_centers, prior, taus, False))
        m = predictor.centers.shape[0]
        rows = _rows_per_block(m, PREDICT_BLOCK_BYTES)
        ranges = row_tasks(X.shape[0], rows, n_jobs=self.n_jobs, min_blocks=1,
                           max_rows_per_task=rows)
        results = map_reduce(
            predict_task,
            [(predictor, X[a:b], weights, taus, spread == "std") for a, b in ranges],
            n_jobs=self.n_jobs, verbose=self.verbose if len(ranges) > 1 else 0,
            description=f"{self.description}: predict (n={X.shape[0]}, m={m})",
        )
        means = np.concatenate([r[0] for r in results], axis=1)
        spreads = (None if spread is None
                   else list(np.concatenate([r[1] for r in results], axis=1)))
        return list(means), spreads

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["lock"]
        state["timings"] = dict(self.timings)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.timings = collections.defaultdict(float, state["timings"])
        self.lock = threading.Lock()


def _targets_key(targets):
    return digest(np.asarray(targets, dtype=np.float64))

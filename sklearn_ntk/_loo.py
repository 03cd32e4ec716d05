"""Closed-form cross-validation of gradient-flow kernel regression (NumPy only).

Leave-one-out from one eigendecomposition ``K = U diag(s) U^T`` of the train
kernel that drives the dynamics (the NTK, or the NNGP for readout-only
training), shared by every regulariser and every training time, as
scikit-learn's ``RidgeCV`` shares one decomposition among its alphas.

Conventions are those of :mod:`._dynamics` and of the estimators: the model
fitted on ``n`` rows uses ``Theta = K + lambda I`` with
``lambda = diag_reg * mean(diag K)`` and ``tau = learning_rate * t / y.size``.
The model that leaves row ``i`` out therefore has its own regulariser
``lambda_i = diag_reg * (sum(diag K) - K_ii) / (n - 1)`` and time
``tau' = learning_rate * t / ((n - 1) n_targets)``; both are used here, so
that the exact formulas equal a refit of the estimator on the other rows.

In-sample, the model of ``lambda_i`` and ``tau'`` is the linear smoother
``y_hat = H y``, ``H = K phi_tau'(K + lambda_i I)`` with
``phi_tau(x) = (1 - exp(-tau x)) / x``. In the eigenbasis
``I - H = U diag(rho_i) U^T`` with

    rho_i(s) = (lambda_i + s exp(-tau' (s + lambda_i))) / (s + lambda_i)

(``lambda_i / (s + lambda_i)`` at infinite time). The leave-one-out
residual of row ``i`` is then taken as

    y_i - y_hat_(-i) = [(I - H) y]_i / [I - H]_ii
                     = sum_k U_ik rho_ik (U^T y)_k / sum_k U_ik^2 rho_ik.

* **Infinite time (t=None): exact** for every ``diag_reg``. Then
  ``I - H = lambda_i (K + lambda_i I)^{-1}`` and the ratio is the classical
  identity ``[A^{-1} y]_i / [A^{-1}]_ii`` of kernel ridge regression and
  Gaussian processes (Rasmussen & Williams 2006, eq. 5.12), which follows
  from the block inverse of ``A = K + lambda_i I``.
* **Finite time: approximate** (the linear-smoother leave-one-out identity,
  exact only for smoothers of the resolvent form). The refit on ``n - 1``
  rows applies ``phi_tau'`` to a principal submatrix, which has no
  rank-one update formula. ``tests/test_cv_estimators.py`` measures the
  error against brute-force refits.

Predictive variances of the left-out point (for class probabilities) follow
from the same identity. The network trained on the other rows predicts
``f_0(x_i) + w^T (y - f_0(X))`` with leave-one-out weights ``w`` (``w_i = 0``),
and the identity gives ``e_i - w = (I - H) e_i / [I - H]_ii``, i.e. the
coefficients ``c_ik = rho_ik U_ik / d_i`` in the eigenbasis
(``d_i = [I - H]_ii``). Hence

* NNGP (noise ``lambda_i``): ``var_i = sum_k c_ik^2 (s_k + lambda_i) - lambda_i``
  (``1 / [A^{-1}]_ii - lambda_i`` at infinite time: exact);
* NTK: ``var_i = c_i^T (U^T K_nngp U) c_i`` (Lee et al. 2019, eq. 16, with
  the NNGP as the prior covariance of ``f_0``), exact at infinite time and
  approximate at finite time like the mean.

The NTK variance costs ``O(n^3)`` per candidate (a quadratic form in the
NNGP in the eigenbasis for every row; only probability scorers ask for it);
everything else ``O(n^2)`` per candidate. No candidate allocates an
``n x n`` array: row-by-row sums go in blocks of ``COEFFICIENT_BLOCK_BYTES``.

K-fold cross-validation (:func:`holdout_means` and friends) is exact for
every candidate: one eigendecomposition of each fold's train kernel serves
every ``diag_reg`` and ``t``.

References
----------
Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT Press
2006, section 5.4.2, eq. 5.12.
Golub, Heath & Wahba, "Generalized Cross-Validation as a Method for Choosing
a Good Ridge Parameter", Technometrics 1979.
Lee et al., "Wide Neural Networks of Any Depth Evolve as Linear Models
Under Gradient Descent", NeurIPS 2019, eq. 16.
"""

import math
from typing import NamedTuple

import numpy as np
import scipy.linalg

from ._dynamics import spectral_filter

__all__ = [
    "Eigensystem",
    "LeaveOneOut",
    "eigensystem",
    "holdout_means",
    "holdout_nngp_variances",
    "holdout_ntk_variances",
    "leave_one_out",
    "leave_one_out_batch",
    "leave_one_out_regularizers",
]


class Eigensystem(NamedTuple):
    """``K = vectors @ diag(values) @ vectors.T`` of a train kernel.

    Attributes
    ----------
    values : ndarray of shape (n,)
        Eigenvalues, ascending, rounding negatives clipped to 0 (the kernel
        is PSD in exact arithmetic).
    vectors : ndarray of shape (n, n)
        Orthonormal eigenvectors (all of them: the identities need
        ``sum_k U_ik^2 = 1``).
    diagonal_mean : float
        ``mean(diag K)``, the scale of the relative regulariser.
    """

    values: np.ndarray
    vectors: np.ndarray
    diagonal_mean: float


#: LAPACK driver of :func:`eigensystem`: divide and conquer (``syevd``).
#: Measured on the 2-core development machine (single-threaded OpenBLAS,
#: arc-cosine kernels, whose many tiny eigenvalues deflate well), against
#: the default ``syevr``: 1.1-1.4x faster at n = 2000 (3 pairs of runs under
#: other users' load), and most of either is the tridiagonal reduction they
#: share. Its workspace is
#: two more n x n arrays during the call (see ``CV_ARRAYS`` in the estimators).
EIGH_DRIVER = "evd"


def eigensystem(kernel, overwrite=False):
    """One symmetric eigendecomposition (LAPACK ``syevd``) of a train kernel.

    Parameters
    ----------
    kernel : ndarray of shape (n, n)
        Symmetric (only one triangle is read).
    overwrite : bool, default=False
        Whether ``kernel`` may be destroyed; a C-ordered float64 kernel is
        then decomposed in place, without LAPACK's copy.

    Returns
    -------
    Eigensystem
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    diagonal_mean = float(np.mean(np.diag(kernel)))
    # The transpose of a C-ordered symmetric matrix is the same matrix in
    # Fortran order: LAPACK copies it (or, with overwrite, uses it) as it
    # is, instead of transposing it first.
    values, vectors = scipy.linalg.eigh(kernel.T, overwrite_a=overwrite,
                                        check_finite=False, driver=EIGH_DRIVER)
    return Eigensystem(np.maximum(values, 0.0), vectors, diagonal_mean)


def leave_one_out_regularizers(diagonal, diag_reg):
    """``lambda_i = diag_reg * mean(diag K without row i)``, one per row.

    Parameters
    ----------
    diagonal : ndarray of shape (n,)
        ``diag K`` of the full train kernel.
    diag_reg : float
        The estimators' relative regulariser.

    Returns
    -------
    ndarray of shape (n,)
    """
    diagonal = np.asarray(diagonal, dtype=np.float64)
    n = diagonal.size
    return diag_reg * (diagonal.sum() - diagonal) / (n - 1)


def _residual_filter(values, regularizers, tau):
    """``rho_ik`` up to a positive factor per row (ratios do not see it).

    Infinite time uses ``1 / (s_k + lambda_i)`` (``rho / lambda_i``), which
    stays finite as ``lambda_i -> 0``; components whose regularised
    eigenvalue is below ``n eps`` times the largest are dropped, as the
    solver drops its numerical null space.
    """
    shifted = values[None, :] + regularizers[:, None]
    if tau is None:
        cutoff = values.size * np.finfo(np.float64).eps * shifted.max()
        if shifted.min() > cutoff:  # the usual case: one pass
            return np.reciprocal(shifted, out=shifted)
        with np.errstate(divide="ignore"):
            return np.where(shifted > cutoff, 1.0 / shifted, 0.0)
    # (lambda + s exp(-tau (s + lambda))) / (s + lambda); exp(-tau s) *
    # exp(-tau lambda) keeps the n x n work to products.
    rho = np.multiply.outer(np.exp(-tau * regularizers), values * np.exp(-tau * values))
    rho += regularizers[:, None]
    if shifted.min() > 0:
        return np.divide(rho, shifted, out=rho)
    # At s + lambda = 0 (lambda = 0, s = 0) the limit of rho is 1.
    return np.where(shifted > 0, rho / np.where(shifted > 0, shifted, 1.0), 1.0)


#: Largest number of Chebyshev nodes in ``lambda`` for the interpolated sums
#: (see :func:`_interpolated_sums`); beyond it the sums are taken row by row.
MAX_INTERPOLATION_NODES = 16

#: Relative accuracy required of the interpolated leave-one-out residuals,
#: checked a posteriori on the rows of extreme ``lambda_i``.
INTERPOLATION_RTOL = 1e-12


def _chebyshev_nodes(low, high, tau):
    """Nodes on ``[low, high]`` for interpolating ``rho(lambda)``, or None.

    ``1 / (s + lambda)`` has its pole at ``-s <= 0``, so Chebyshev
    interpolation on ``[low, high]`` converges like ``r^-J`` with
    ``r = a + sqrt(a^2 - 1)``, ``a = (high + low) / (high - low)``; the factor
    ``exp(-tau lambda)`` of finite times adds an error of order
    ``(tau (high - low) / 4)^J / J!``. Both are driven below 1e-16.
    """
    if high - low <= 1e-15 * high:
        return np.array([0.5 * (low + high)])
    a = (high + low) / (high - low)
    rate = np.log(a + np.sqrt(a * a - 1.0))
    half_width = 0.5 * (high - low) * (0.0 if tau is None else tau)
    for count in range(2, MAX_INTERPOLATION_NODES + 1):
        log_error = -count * rate  # log(1e-16) ~ -37
        if half_width > 0:
            log_error = max(log_error, count * np.log(half_width / 2.0)
                            - math.lgamma(count + 1))
        if log_error < -37.0:
            angles = np.pi * np.arange(count) / (count - 1)
            return 0.5 * (low + high) + 0.5 * (high - low) * np.cos(angles)
    return None


def _barycentric_weights(nodes, points):
    """Lagrange basis ``L_j(points)`` of Chebyshev extreme points, shape (n, J)."""
    count = nodes.size
    if count == 1:
        return np.ones((points.size, 1))
    weights = (-1.0) ** np.arange(count)
    weights[[0, -1]] *= 0.5
    difference = points[:, None] - nodes[None, :]
    hit = difference == 0
    difference[hit] = 1.0
    terms = weights / difference
    basis = terms / terms.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    basis[rows] = hit[rows]
    return basis


def _exact_sums(values, vectors, projected_targets, regularizers, tau, rows=slice(None)):
    """Numerators ``(U rho) U^T y`` and denominators ``(U^2 rho) 1``, row by row."""
    weighted = _residual_filter(values, regularizers[rows], tau)
    weighted *= vectors[rows]
    denominators = np.einsum("ik,ik->i", weighted, vectors[rows])
    return weighted @ projected_targets, denominators, weighted


def _exact_sums_in_blocks(values, vectors, projected_targets, regularizers, tau):
    """:func:`_exact_sums` for every row, in blocks of ``COEFFICIENT_BLOCK_BYTES``."""
    n = values.size
    numerators = np.empty((n, projected_targets.shape[1]))
    denominators = np.empty(n)
    step = max(1, COEFFICIENT_BLOCK_BYTES // (8 * n))
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        numerators[rows], denominators[rows], _ = _exact_sums(
            values, vectors, projected_targets, regularizers, tau, rows)
    return numerators, denominators


def _interpolated_sums(values, vectors, squared, projected_targets, regularizers, tau):
    """The sums of :func:`_exact_sums` in ``O(n r J)`` BLAS-3 work.

    ``lambda_i`` differs from row to row only through ``K_ii`` and by
    ``O(1 / n)`` relatively, so ``rho_ik`` is a smooth function of
    ``lambda`` on a short interval: the sums are evaluated at ``J``
    Chebyshev nodes (two matrix products) and interpolated to each
    ``lambda_i``, instead of forming the ``n x n`` matrix ``rho``. Returns
    None where the interval is too wide for ``MAX_INTERPOLATION_NODES``.
    """
    nodes = _chebyshev_nodes(regularizers.min(), regularizers.max(), tau)
    if nodes is None:
        return None
    basis = _barycentric_weights(nodes, regularizers)             # (n, J)
    filters = _residual_filter(values, nodes, tau)                 # (J, r)
    denominators = np.einsum("ij,ij->i", basis, squared @ filters.T)
    n_targets = projected_targets.shape[1]
    stacked = (filters[:, :, None] * projected_targets[None]).transpose(1, 0, 2)
    at_nodes = (vectors @ stacked.reshape(values.size, -1)).reshape(-1, nodes.size, n_targets)
    numerators = np.einsum("ij,ijc->ic", basis, at_nodes)
    return numerators, denominators


class LeaveOneOut:
    """Leave-one-out predictions of one candidate (``diag_reg``, ``t``).

    Attributes
    ----------
    means : ndarray of shape (n, n_targets)
        Prediction at each row of the model fitted on the other rows.
    regularizers : ndarray of shape (n,)
        ``lambda_i`` of each leave-one-out model.
    """

    def __init__(self, means, eig, regularizers, tau):
        self.means = means
        self.regularizers = regularizers
        self._eig = eig
        self._tau = tau

    def _coefficient_blocks(self):
        """``e_i - w`` in the eigenbasis for blocks of left-out rows.

        ``w`` are the leave-one-out weights; the variances are quadratic
        forms in these rows. Yields ``(rows, c)`` with ``c`` of shape
        ``(len(rows), n)``: blocks of ``COEFFICIENT_BLOCK_BYTES``, so that
        a candidate never holds an ``n x n`` array of its own.
        """
        n = self._eig.values.size
        empty = np.zeros((n, 0))
        step = max(1, COEFFICIENT_BLOCK_BYTES // (8 * n))
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            _, denominators, weighted = _exact_sums(
                self._eig.values, self._eig.vectors, empty, self.regularizers,
                self._tau, rows)
            weighted /= denominators[:, None]
            yield rows, weighted

    def nngp_variances(self, eig):
        """Predictive variance of readout-only training (the NNGP dynamics).

        ``O(n^2)``, in row blocks.

        Parameters
        ----------
        eig : Eigensystem
            Of the NNGP train kernel (the one the means came from).

        Returns
        -------
        ndarray of shape (n,)
        """
        variance = np.empty(eig.values.size)
        for rows, c in self._coefficient_blocks():
            shifted = eig.values[None, :] + self.regularizers[rows, None]
            variance[rows] = np.einsum("ik,ik,ik->i", c, c, shifted)
        return np.maximum(variance - self.regularizers, 0.0)

    def ntk_variances(self, nngp_in_eigenbasis):
        """Predictive variance of the NTK ensemble (Lee et al. 2019, eq. 16).

        ``O(n^3)``: one quadratic form in an ``n x n`` matrix per row, in row
        blocks.

        Parameters
        ----------
        nngp_in_eigenbasis : ndarray of shape (n, n)
            ``U^T K_nngp U`` with ``U`` the NTK's eigenvectors.

        Returns
        -------
        ndarray of shape (n,)
        """
        variance = np.empty(nngp_in_eigenbasis.shape[0])
        for rows, c in self._coefficient_blocks():
            variance[rows] = np.einsum("ik,ik->i", c @ nngp_in_eigenbasis, c)
        return np.maximum(variance, 0.0)


#: Bytes of one block of leave-one-out coefficients (see
#: ``LeaveOneOut._coefficient_blocks``).
COEFFICIENT_BLOCK_BYTES = 8 * 2**20


def leave_one_out(eig, projected_targets, targets, diagonal, diag_reg, tau,
                  squared_vectors=None):
    """Leave-one-out predictions of every row from one eigendecomposition.

    Parameters
    ----------
    eig : Eigensystem
        Of the full train kernel ``K`` that drives the dynamics.
    projected_targets : ndarray of shape (n, n_targets)
        ``U^T y`` (shared by every candidate).
    targets : ndarray of shape (n, n_targets)
    diagonal : ndarray of shape (n,)
        ``diag K``.
    diag_reg : float
    tau : float or None
        Scaled time of the leave-one-out models,
        ``learning_rate * t / ((n - 1) n_targets)``; None is infinite time
        (exact; finite times use the linear-smoother identity, see the
        module notes).
    squared_vectors : ndarray of shape (n, n), default=None
        ``eig.vectors ** 2``, if already computed (shared by candidates).

    Returns
    -------
    LeaveOneOut

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk._loo import eigensystem, leave_one_out
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((6, 2)); y = rng.standard_normal((6, 1))
    >>> k = x @ x.T + 1.0
    >>> eig = eigensystem(k)
    >>> loo = leave_one_out(eig, eig.vectors.T @ y, y, np.diag(k), 0.1, None)
    >>> lam = 0.1 * np.mean(np.diag(k)[1:])  # the model without row 0
    >>> refit = k[0, 1:] @ np.linalg.solve(k[1:, 1:] + lam * np.eye(5), y[1:])
    >>> bool(np.allclose(loo.means[0], refit))
    True
    """
    return leave_one_out_batch(eig, projected_targets, targets, diagonal,
                               [(diag_reg, tau)], squared_vectors)[0]


def leave_one_out_batch(eig, projected_targets, targets, diagonal, settings,
                        squared_vectors=None):
    """:func:`leave_one_out` for many ``(diag_reg, tau)`` at once.

    The interpolated sums of every setting come from two matrix products in
    all (the eigenvectors are read once, not once per setting).

    Parameters
    ----------
    eig, projected_targets, targets, diagonal, squared_vectors
        As in :func:`leave_one_out`.
    settings : list of (float, float or None)
        ``(diag_reg, tau)`` pairs.

    Returns
    -------
    list of LeaveOneOut
    """
    values, vectors = eig.values, eig.vectors
    if squared_vectors is None:
        squared_vectors = vectors * vectors
    plans = []
    for diag_reg, tau in settings:
        regularizers = leave_one_out_regularizers(diagonal, diag_reg)
        nodes = _chebyshev_nodes(regularizers.min(), regularizers.max(), tau)
        plans.append((regularizers, tau, nodes))
    batched = [plan for plan in plans if plan[2] is not None]
    if batched:
        filters = np.concatenate([_residual_filter(values, nodes, tau)
                                  for _, tau, nodes in batched])        # (sum J, r)
        n_targets = projected_targets.shape[1]
        denominators_at_nodes = squared_vectors @ filters.T
        stacked = (filters[:, :, None] * projected_targets[None]).transpose(1, 0, 2)
        numerators_at_nodes = (vectors @ stacked.reshape(values.size, -1)).reshape(
            -1, filters.shape[0], n_targets)
    results, column = [], 0
    for regularizers, tau, nodes in plans:
        sums = None
        if nodes is not None:
            columns = slice(column, column + nodes.size)
            column += nodes.size
            basis = _barycentric_weights(nodes, regularizers)
            sums = (np.einsum("ij,ijc->ic", basis, numerators_at_nodes[:, columns]),
                    np.einsum("ij,ij->i", basis, denominators_at_nodes[:, columns]))
            if not _interpolation_is_accurate(sums, values, vectors, projected_targets,
                                              regularizers, tau):
                sums = None
        if sums is None:
            sums = _exact_sums_in_blocks(values, vectors, projected_targets, regularizers, tau)
        residuals = sums[0] / sums[1][:, None]
        results.append(LeaveOneOut(targets - residuals, eig, regularizers, tau))
    return results


def _interpolation_is_accurate(sums, values, vectors, projected_targets, regularizers, tau):
    """A posteriori check on the rows of extreme and median ``lambda_i``."""
    order = np.argsort(regularizers)
    rows = order[[0, order.size // 2, -1]]
    numerators, denominators, _ = _exact_sums(values, vectors, projected_targets,
                                              regularizers, tau, rows)
    exact = numerators / denominators[:, None]
    error = np.abs(sums[0][rows] / sums[1][rows, None] - exact).max()
    return bool(error <= INTERPOLATION_RTOL * max(np.abs(exact).max(), np.finfo(float).tiny))


# -- K-fold: held-out predictions from each fold's eigendecomposition ----------


def _filter(eig, diag_reg, tau, doubled=False):
    """``phi_tau(s + lambda)`` on the non-null components, 0 on the null space."""
    shifted = eig.values + diag_reg * eig.diagonal_mean
    keep = shifted > eig.values.size * np.finfo(np.float64).eps * shifted.max()
    time = None if tau is None else (2.0 * tau if doubled else tau)
    safe = np.where(keep, shifted, 1.0)
    return np.where(keep, spectral_filter(safe, time), 0.0)


def holdout_means(eig, projected_test, projected_targets, diag_reg, tau):
    """Prediction means of held-out rows, as the estimator fitted on a fold.

    Parameters
    ----------
    eig : Eigensystem
        Of the fold's train kernel.
    projected_test : ndarray of shape (n_train, n_test)
        ``U^T K(X_train, X_test)`` of the dynamics kernel.
    projected_targets : ndarray of shape (n_train, n_targets)
        ``U^T y_train``.
    diag_reg : float
    tau : float or None

    Returns
    -------
    ndarray of shape (n_test, n_targets)
    """
    return projected_test.T @ (_filter(eig, diag_reg, tau)[:, None] * projected_targets)


def holdout_nngp_variances(eig, projected_test, prior_variance, diag_reg, tau):
    """``K_** - K_*X K^-1 (I - exp(-2 tau K)) K_X*`` on the diagonal.

    Parameters
    ----------
    eig : Eigensystem
        Of the fold's NNGP train kernel.
    projected_test : ndarray of shape (n_train, n_test)
    prior_variance : ndarray of shape (n_test,)
    diag_reg : float
    tau : float or None

    Returns
    -------
    ndarray of shape (n_test,)
    """
    filtered = _filter(eig, diag_reg, tau, doubled=True)
    return np.maximum(prior_variance - filtered @ projected_test ** 2, 0.0)


def holdout_ntk_variances(eig, projected_test, nngp_train_train, nngp_test_train,
                          prior_variance, diag_reg, tau):
    """NTK ensemble variance of held-out rows (Lee et al. 2019, eq. 16).

    Parameters
    ----------
    eig : Eigensystem
        Of the fold's NTK train kernel.
    projected_test : ndarray of shape (n_train, n_test)
        ``U^T Theta(X_train, X_test)``.
    nngp_train_train : ndarray of shape (n_train, n_train)
    nngp_test_train : ndarray of shape (n_test, n_train)
    prior_variance : ndarray of shape (n_test,)
    diag_reg : float
    tau : float or None

    Returns
    -------
    ndarray of shape (n_test,)
    """
    g = eig.vectors @ (_filter(eig, diag_reg, tau)[:, None] * projected_test)
    variance = (prior_variance + np.einsum("ij,ij->j", g, nngp_train_train @ g)
                - 2.0 * np.einsum("ji,ij->j", nngp_test_train, g))
    return np.maximum(variance, 0.0)

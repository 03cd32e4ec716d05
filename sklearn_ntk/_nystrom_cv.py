"""Cross-validation on a fitted Nyström solver, its centres held fixed.

The cross-validated estimators search every ``(diag_reg, t)`` of one
architecture on one :class:`._nystrom.NystromDynamics` fitted on all ``n``
rows (``m`` centres ``Z``, whitening ``T`` with ``T^T K_mm T = I``,
``B = K_nm T``, ``B^T B = U S U^T``, ``W = T U``), in its ``m x m`` space:

* **leave-one-out** (:func:`nystrom_leave_one_out`, and
  :func:`nystrom_leave_one_out_variances` for probability scorers): the
  model on the training rows is the smoother ``H = B U phi(S) U^T B^T``
  (``phi = phi_tau(s + lambda_i)``, each left-out model with its own
  regulariser ``lambda_i``, see :class:`RowRegularizers`), and the
  identities of :mod:`._loo` apply to it row by row, in one pass over row
  blocks that forms ``Q = K_nm W`` block by block (never the ``n x r``
  matrix);
* **K-fold** (:class:`NystromFolds`): the fold that trains on rows ``R``
  has the features ``B_R = K_Rm T``. Its Gram ``G_R = K_mR K_Rm`` is the
  total minus the rows the fold leaves out (one pass for every fold
  together), its right-hand side ``K_mR y_R`` uses the fold's own targets
  (a classifier encodes each fold's classes), and its regulariser and time
  are the fold's (``diag_reg * mean(diag K_RR)``, ``tau_f``), as a refit
  on the fold would use. One ``r x r`` eigendecomposition per fold
  ``T^T G_R T = U_f S_f U_f^T`` (``W_f = T U_f``) serves every
  candidate: ``f(x) = k(x, Z) W_f phi_tau(S_f + lambda_f) W_f^T K_mR y_R``,
  and the variances of :meth:`._nystrom.NystromPredictor.spread`.

What is exact: K-fold is the Nyström estimator fitted on each fold with
the given centres (at ``n_components = n``, every row a centre, it is the
exact solver's K-fold); leave-one-out at ``t=None`` is exact for the model
refitted on the other rows with the centres held fixed (at
``n_components = n`` it is the exact solver's leave-one-out), and the
linear-smoother approximation at finite ``t`` (as :mod:`._loo`). A refit of
the estimator would draw its own centres from the rows it sees, which no
closed form reproduces.

Every pass runs through :func:`._parallel.map_reduce` in row tasks sized as
the solver's own passes (its ``n_jobs`` and joblib backend: threads, or
dask workers inside ``joblib.parallel_backend("dask")``); the tasks are
module-level functions of their rows and ``m x m`` arrays.

References
----------
Rasmussen & Williams 2006, eq. 5.12; Rudi, Carratino & Rosasco, "FALKON",
NeurIPS 2017 (the Nyström ridge solution); Lee et al. 2019, eq. 16.
"""

import numpy as np
from scipy.linalg import blas

from ._loo import _barycentric_weights, _chebyshev_nodes
from ._nystrom import (
    NystromPredictor,
    _filter,
    _symmetric_from_upper,
    whitened_spectrum,
    whitening,
)
from ._parallel import map_reduce, row_tasks

__all__ = ["NystromFolds", "nystrom_leave_one_out", "nystrom_leave_one_out_variances"]


# -- passes ------------------------------------------------------------------------


def _run(dynamics, n_rows, rows_per_block, make_task, function, what, reduce=None):
    """``map_reduce`` of ``function`` over row tasks of ``n_rows`` rows.

    ``make_task(start, stop, rows_per_block)`` gives a task's arguments.
    """
    if rows_per_block is None:
        rows_per_block, ranges = dynamics.task_ranges(n_rows)
    else:
        ranges = row_tasks(n_rows, rows_per_block, n_jobs=dynamics.n_jobs)
    return map_reduce(
        function, [make_task(a, b, rows_per_block) for a, b in ranges],
        n_jobs=dynamics.n_jobs, reduce=reduce, verbose=dynamics.verbose,
        units=[int(np.ceil((b - a) / rows_per_block)) for a, b in ranges],
        description=f"{dynamics.description}: {what} "
                    f"(n={n_rows}, m={dynamics.centers.shape[0]})")


def _blocks(x_rows, rows_per_block):
    for start in range(0, x_rows.shape[0], rows_per_block):
        yield slice(start, start + rows_per_block)


def projection_task(x_rows, centers, kernel, name, basis, products, rows_per_block):
    """``Q P`` with ``Q = k(x_rows, Z) W``, block by block.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    centers : ndarray of shape (m, d)
    kernel : callable
    name : {"ntk", "nngp"}
    basis : ndarray of shape (m, r)
        ``W``.
    products : ndarray of shape (r, p)
    rows_per_block : int

    Returns
    -------
    ndarray of shape (rows, p)
    """
    return np.concatenate([
        getattr(kernel(x_rows[block], centers, (name,)), name) @ basis @ products
        for block in _blocks(x_rows, rows_per_block)])


# -- leave-one-out ---------------------------------------------------------------


def _filters(values, mean_diagonal, settings, rcond):
    """``phi_tau(S + diag_reg * mean_diagonal)`` of every setting, shape (r, C)."""
    return np.stack([_filter(values, diag_reg * mean_diagonal, tau, rcond)
                     for diag_reg, tau in settings], axis=1)


def _coefficients(filters, projected):
    """``phi_c * (W^T K_mn y)`` of every candidate ``c``, shape (r, C * k)."""
    return (filters[:, :, None] * projected[:, None, :]).reshape(filters.shape[0], -1)


class RowRegularizers:
    """Each leave-one-out model's own regulariser, and its filters.

    The model fitted without row ``i`` regularises with
    ``lambda_i = diag_reg * (n mean(diag K) - K_ii) / (n - 1)``, the mean
    prior variance of the rows it sees, as a refit would. ``lambda_i``
    differs from row to row only by ``O(1 / n)`` relatively, and
    ``phi_tau(s + lambda)`` is smooth in ``lambda`` there: as in
    :func:`._loo._interpolated_sums`, each candidate's filter is taken at a
    few Chebyshev nodes spanning every row's ``lambda_i`` (chosen for 1e-16
    accuracy by :func:`._loo._chebyshev_nodes`) and interpolated to each
    row. A candidate whose interval would need more than
    ``_loo.MAX_INTERPOLATION_NODES`` nodes (few rows, an extreme ``K_ii``)
    takes each row's filter directly.

    Parameters
    ----------
    values : ndarray of shape (r,)
        The solver's eigenvalues ``S``.
    dynamics : NystromDynamics
        Gives ``n``, ``mean(diag K)`` and the range of ``diag K``.
    settings : list of (float, float or None)
        ``(diag_reg, tau)`` pairs.
    rcond : float
        The solver's cut-off at ``tau=None`` (see ``_nystrom._filter``).

    Attributes
    ----------
    node_filters : ndarray of shape (r, J)
        The filters at every candidate's nodes, side by side.
    """

    def __init__(self, values, dynamics, settings, rcond):
        n = dynamics.X.shape[0]
        self.values, self.rcond = values, rcond
        self.total = n * dynamics.diagonal_mean
        self.scales = [diag_reg / (n - 1) for diag_reg, _ in settings]
        self.taus = [tau for _, tau in settings]
        smallest, largest = dynamics.diagonal_range
        self.nodes, self.slices, columns = [], [], []
        for scale, tau in zip(self.scales, self.taus):
            nodes = _chebyshev_nodes(scale * (self.total - largest),
                                     scale * (self.total - smallest), tau)
            self.nodes.append(nodes)
            count = 0 if nodes is None else nodes.size
            self.slices.append(slice(len(columns), len(columns) + count))
            if nodes is not None:
                columns.extend(_filter(values, node, tau, rcond) for node in nodes)
        self.node_filters = (np.stack(columns, axis=1) if columns
                             else np.zeros((values.size, 0)))

    def regularizers(self, index, diagonal):
        """``lambda_i`` of candidate ``index`` for rows of prior variances ``diagonal``."""
        return self.scales[index] * (self.total - diagonal)

    def row_filters(self, index, diagonal):
        """``phi_tau(S + lambda_i)`` of each row, shape (rows, r)."""
        regularizers = self.regularizers(index, diagonal)
        if self.nodes[index] is None:
            return _filter(self.values, regularizers[:, None], self.taus[index], self.rcond)
        return (_barycentric_weights(self.nodes[index], regularizers)
                @ self.node_filters[:, self.slices[index]].T)

    def smoother(self, q, diagonal, projected, coefficients):
        """``(H y)_i`` and ``H_ii`` of each row under its own ``lambda_i``.

        Parameters
        ----------
        q : ndarray of shape (rows, r)
            ``Q = k(rows, Z) W``.
        diagonal : ndarray of shape (rows,)
            ``K_ii`` of the rows.
        projected : ndarray of shape (r, k)
            ``W^T K_mn y``.
        coefficients : ndarray of shape (r, J * k)
            ``_coefficients(node_filters, projected)``.

        Returns
        -------
        (ndarray of shape (rows, C, k), ndarray of shape (rows, C))
        """
        rows, k = q.shape[0], projected.shape[1]
        at_nodes = (q @ coefficients).reshape(rows, -1, k)
        leverage_at_nodes = (q * q) @ self.node_filters
        fitted = np.empty((rows, len(self.scales), k))
        leverage = np.empty((rows, len(self.scales)))
        for index, nodes in enumerate(self.nodes):
            if nodes is None:
                weighted = q * self.row_filters(index, diagonal)
                fitted[:, index] = weighted @ projected
                leverage[:, index] = np.einsum("ij,ij->i", weighted, q)
                continue
            basis = _barycentric_weights(nodes, self.regularizers(index, diagonal))
            columns = self.slices[index]
            fitted[:, index] = np.einsum("ij,ijk->ik", basis, at_nodes[:, columns])
            leverage[:, index] = np.einsum("ij,ij->i", basis, leverage_at_nodes[:, columns])
        return fitted, leverage


def loo_mean_task(x_rows, centers, kernel, name, basis, regularizers, projected,
                  coefficients, rows_per_block):
    """``(H y)_i`` and ``H_ii`` of some rows, every candidate (see
    :meth:`RowRegularizers.smoother`), block by block."""
    fitted, leverage = [], []
    for block in _blocks(x_rows, rows_per_block):
        q = getattr(kernel(x_rows[block], centers, (name,)), name) @ basis
        diagonal = getattr(kernel.diagonal(x_rows[block]), name)
        block_fitted, block_leverage = regularizers.smoother(q, diagonal, projected,
                                                             coefficients)
        fitted.append(block_fitted)
        leverage.append(block_leverage)
    return np.concatenate(fitted), np.concatenate(leverage)


def nystrom_leave_one_out(dynamics, targets, settings, rows_per_block=None):
    """Leave-one-out means of a fitted Nyström solver, for many candidates.

    Writing ``Q = K_nm W`` (one row per training row) and ``phi_i =
    phi_tau(S + lambda_i)`` with the left-out model's own ``lambda_i`` (see
    :class:`RowRegularizers`):

        (H y)_i = Q_i (phi_i * W^T K_mn y),    H_ii = sum_k Q_ik^2 phi_ik,

    and the leave-one-out residual is taken as ``(y_i - (H y)_i) / (1 - H_ii)``.
    One pass over row blocks multiplies each block of ``Q`` by the filters
    of every candidate at a few nodes in ``lambda``, so every
    ``(diag_reg, tau)`` costs ``O(n r J (1 + n_targets))`` with ``J`` nodes
    (4-5 at ``n = 30,000`` for diagonals within a factor of 200).

    * ``tau=None``: **exact** leave-one-out of Nyström kernel ridge
      regression (ridge regression on the features ``B``) with the centres
      held fixed: each row's value is that of the model fitted on the other
      ``n - 1`` rows with their own ``lambda_i``. A refit of the estimator
      would also draw its centres again.
    * finite ``tau``: the linear-smoother approximation, as
      :func:`._loo.leave_one_out` at finite time.

    Parameters
    ----------
    dynamics : NystromDynamics
        A fitted Nyström solver (its centres, spectrum and training rows).
    targets : ndarray of shape (n, n_targets)
    settings : list of (float, float or None)
        ``(diag_reg, tau)`` pairs; ``diag_reg`` relative, as the solver's,
        ``tau`` that of the model on ``n - 1`` rows.
    rows_per_block : int, default=None
        Rows per kernel block (None: as the solver's passes).

    Returns
    -------
    ndarray of shape (n_settings, n, n_targets)
        The prediction at each row of the model fitted without it. Rows
        that the model interpolates exactly (``H_ii = 1``: ``diag_reg=0`` at
        infinite time) have no leave-one-out value: NaN.
    """
    predictor = dynamics.predictor
    basis = predictor.weights_basis
    targets = np.asarray(targets, dtype=np.float64)
    n = targets.shape[0]
    projected = basis.T @ dynamics._weights_rhs(targets)                 # (r, k)
    regularizers = RowRegularizers(predictor.eigenvalues, dynamics, settings,
                                   predictor.rcond)
    coefficients = _coefficients(regularizers.node_filters, projected)
    results = _run(
        dynamics, n, rows_per_block,
        lambda a, b, rows: (dynamics.X[a:b], dynamics.centers, dynamics.kernel,
                            dynamics.dynamics_kernel, basis, regularizers, projected,
                            coefficients, rows),
        loo_mean_task, "leave-one-out pass")
    fitted = np.concatenate([r[0] for r in results])
    complement = 1.0 - np.concatenate([r[1] for r in results])
    with np.errstate(divide="ignore", invalid="ignore"):
        residuals = (targets[:, None, :] - fitted) / complement[:, :, None]
    residuals[complement <= n * np.finfo(np.float64).eps] = np.nan
    return (targets[:, None, :] - residuals).transpose(1, 0, 2)


def loo_variance_task(x_rows, centers, kernel, name, basis, regularizers, nngp_whitening,
                      cross, rows_per_block):
    """Leave-one-out variances and ``1 - H_ii`` of some rows, every candidate.

    See :func:`nystrom_leave_one_out_variances`; ``nngp_whitening`` (``T_K``)
    and ``cross`` (``E``) are used by the NTK only.

    Returns
    -------
    (ndarray of shape (rows, C), ndarray of shape (rows, C))
    """
    get = ("nngp",) if name == "nngp" else ("nngp", "ntk")
    values = regularizers.values
    n_settings = len(regularizers.scales)
    variances, complements = [], []
    for block in _blocks(x_rows, rows_per_block):
        kernels = kernel(x_rows[block], centers, get)
        diagonal = kernel.diagonal(x_rows[block])
        q = getattr(kernels, name) @ basis                                 # (b, r)
        squared = q * q
        prior = diagonal.nngp
        if name == "nngp":
            base = prior - squared.sum(axis=1)
        else:
            beta = kernels.nngp @ nngp_whitening                           # (b, r_K)
            base = prior - np.einsum("ij,ij->i", beta, beta)
        variance = np.empty((q.shape[0], n_settings))
        complement = np.empty_like(variance)
        for index in range(n_settings):
            filters = regularizers.row_filters(index, getattr(diagonal, name))  # (b, r)
            complement[:, index] = 1.0 - np.einsum("ij,ij->i", squared, filters)
            with np.errstate(divide="ignore", invalid="ignore"):
                inverse_square = 1.0 / complement[:, index] ** 2
            if name == "nngp":
                smoothed = np.einsum("ij,ij->i", squared, (1.0 - values * filters) ** 2)
                spread = np.einsum("ij,ij->i", squared, values * filters ** 2)
                norm = (1.0 - 2.0 * (1.0 - complement[:, index]) + spread) * inverse_square
                lam = regularizers.regularizers(index, diagonal.nngp)  # name == "nngp"
                variance[:, index] = base + smoothed * inverse_square + lam * (norm - 1.0)
            else:
                difference = beta - (q * filters) @ cross.T
                variance[:, index] = (base + np.einsum("ij,ij->i", difference, difference)
                                      * inverse_square)
        variances.append(variance)
        complements.append(complement)
    return np.concatenate(variances), np.concatenate(complements)


def nystrom_leave_one_out_variances(dynamics, settings, rows_per_block=None):
    """Leave-one-out predictive variances of a fitted Nyström solver.

    The same identity as the means: the model without row ``i`` has weights
    ``w`` on the other rows with ``c = e_i - w = (I - H) e_i / d_i``
    (``d_i = 1 - H_ii``), and its variance at ``x_i`` is that of
    :meth:`._nystrom.NystromDynamics.predict` for a point outside the
    training set: the Nyström prior covariances, with the exact prior
    variance ``k_ii`` at the left-out row. In the solver's eigenbasis, with
    ``q_i = W^T k(Z, x_i)`` and ``phi = phi_tau(S + lambda_i)`` (each row
    its own ``lambda_i``, see :class:`RowRegularizers`):

    * NNGP dynamics (noise ``lambda_i``):
      ``var_i = k_ii - |q_i|^2 + sum_k q_ik^2 (1 - s_k phi_k)^2 / d_i^2
      + lambda_i (|c|^2 - 1)`` with
      ``|c|^2 = (1 - 2 H_ii + sum_k s_k phi_k^2 q_ik^2) / d_i^2``; at
      ``tau=None`` this is ``k_ii - |q_i|^2 + lambda_i H_ii / d_i``, the GP
      posterior variance of the fit without row ``i`` (Sherman-Morrison);
    * NTK dynamics (Lee et al. 2019, eq. 16):
      ``var_i = k_ii - |beta_i|^2 + |beta_i - E phi q_i|^2 / d_i^2`` with
      ``beta_i = T_K^T K(Z, x_i)`` and ``E = T_K^T C^T W`` (the solver's
      covariance terms, one more pass over the rows on first use).

    **Exact** at ``tau=None`` for the Nyström model refitted on the other
    rows with its centres held fixed (as the means); the linear-smoother
    approximation at finite ``tau``. ``O(n r)`` per candidate for the NNGP
    and ``O(n r r_K)`` for the NTK, in one pass over row blocks.

    Parameters
    ----------
    dynamics : NystromDynamics
    settings : list of (float, float or None)
        ``(diag_reg, tau)`` pairs, as :func:`nystrom_leave_one_out`.
    rows_per_block : int, default=None

    Returns
    -------
    ndarray of shape (n_settings, n)
        NaN where the model interpolates the row (``H_ii = 1``).
    """
    dynamics._ensure_covariance_terms()
    predictor = dynamics.predictor
    regularizers = RowRegularizers(predictor.eigenvalues, dynamics, settings,
                                   predictor.rcond)
    n = dynamics.X.shape[0]
    results = _run(
        dynamics, n, rows_per_block,
        lambda a, b, rows: (dynamics.X[a:b], dynamics.centers, dynamics.kernel,
                            dynamics.dynamics_kernel, predictor.weights_basis,
                            regularizers, predictor.nngp_whitening, predictor.cross, rows),
        loo_variance_task, "leave-one-out variance pass")
    variances = np.concatenate([r[0] for r in results])
    complements = np.concatenate([r[1] for r in results])
    variances[complements <= n * np.finfo(np.float64).eps] = np.nan
    return np.maximum(variances, 0.0).T


# -- K-fold ----------------------------------------------------------------------


def _accumulate(into, a, b):
    """``into += a^T b`` in place (Fortran-ordered ``into``; upper triangle if ``a is b``)."""
    if a is b:
        blas.dsyrk(1.0, a.T, beta=1.0, c=into, trans=0, lower=0, overwrite_c=1)
    else:
        blas.dgemm(1.0, a.T, b.T, beta=1.0, c=into, trans_b=1, overwrite_c=1)


def fold_gram_task(x_rows, left_out, scattered, centers, kernel, names, rows_per_block):
    """One task of a folds' pass: ``A^T B`` over its rows, in total and over
    each fold's left-out rows, and each fold's ``K^T y``.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    left_out : ndarray of bool, shape (n_folds, rows)
        Whether each fold leaves each row out of its training set.
    scattered : list of ndarray of shape (rows, k_f)
        Each fold's targets, zero outside its training rows (may be empty).
    centers : ndarray of shape (m, d)
    kernel : callable
    names : (str, str)
        The kernels ``A`` and ``B`` against the centres; ``A = B``
        accumulates upper triangles by ``dsyrk``.
    rows_per_block : int

    Returns
    -------
    dict
        ``total`` (m, m), ``left_out`` and ``rhs`` (lists, one per fold).
    """
    m = centers.shape[0]
    first, second = names
    get = tuple(dict.fromkeys(names))
    total = np.zeros((m, m), order="F")
    outs = [np.zeros((m, m), order="F") for _ in left_out]
    rhs = [np.zeros((m, s.shape[1])) for s in scattered]
    for block in _blocks(x_rows, rows_per_block):
        kernels = kernel(x_rows[block], centers, get)
        a, b = getattr(kernels, first), getattr(kernels, second)
        _accumulate(total, a, b)
        for mask, out in zip(left_out, outs):
            keep = mask[block]
            if keep.all():
                _accumulate(out, a, b)
            elif keep.any():
                kept = a[keep]
                _accumulate(out, kept, kept if a is b else b[keep])
        for fold_rhs, targets in zip(rhs, scattered):
            fold_rhs += b.T @ targets[block]
    return {"total": total, "left_out": outs, "rhs": rhs}


def _add_fold_sums(accumulated, result):
    accumulated["total"] += result["total"]
    for name in ("left_out", "rhs"):
        for into, value in zip(accumulated[name], result[name]):
            into += value
    return accumulated


def fold_variance_task(x_rows, predictors, groups, n_settings, rows_per_block):
    """Held-out variances of some rows of one fold, every candidate.

    Parameters
    ----------
    x_rows : ndarray of shape (rows, d)
    predictors : dict
        ``diag_reg -> NystromPredictor`` of the fold.
    groups : dict
        ``diag_reg -> [(candidate index, tau), ...]``.
    n_settings : int
    rows_per_block : int

    Returns
    -------
    ndarray of shape (n_settings, rows)
    """
    any_predictor = next(iter(predictors.values()))
    variances = np.empty((n_settings, x_rows.shape[0]))
    for block in _blocks(x_rows, rows_per_block):
        kernels = any_predictor.test_kernels(x_rows[block], True)
        prior = any_predictor.kernel.diagonal(x_rows[block]).nngp
        for diag_reg, members in groups.items():
            spreads = predictors[diag_reg].spread(kernels, prior, [t for _, t in members],
                                                  True)
            for (index, _), spread in zip(members, spreads):
                variances[index, block] = spread
    return variances


class NystromFolds:
    """The Nyström fits of the folds of one split, sharing one fit's centres.

    Cost: one pass over all ``n`` rows (kernel blocks against the centres
    and their Gram, ``n m^2`` flops) for every fold's left-out Gram, one
    ``r^3`` eigendecomposition per fold, and one pass over each fold's
    held-out rows for the means of every candidate; memory
    ``O(n_folds m^2)`` beyond ``X``. Variances (NTK dynamics) need one more
    pass for the cross Grams, made on first use.

    Parameters
    ----------
    dynamics : NystromDynamics
        A fit on all rows: its rows ``X``, centres, kernel, dynamics kernel
        and parallel settings are used (not its spectrum).
    splits : list of (ndarray of int, ndarray of int)
        ``(train, test)`` row indices per fold, as scikit-learn's splitters
        give them (test sets may overlap; rows may belong to neither).
    fold_targets : list of ndarray of shape (len(train), k_f)
        Each fold's training targets, in the order of its ``train``.
    rows_per_block : int, default=None
        Rows per kernel block in the passes (None: as the solver's).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import KFold
    >>> from sklearn_ntk import Kernels
    >>> from sklearn_ntk._nystrom import NystromDynamics
    >>> from sklearn_ntk._nystrom_cv import NystromFolds
    >>> class Linear:  # a toy kernel x . z (NNGP = NTK)
    ...     def __call__(self, a, b, get):
    ...         k = a @ (a if b is None else b).T
    ...         return Kernels(k, k)
    ...     def diagonal(self, a):
    ...         d = (a * a).sum(1)
    ...         return Kernels(d, d)
    >>> X = np.random.default_rng(0).standard_normal((30, 3))
    >>> y = X @ [[1.0], [2.0], [3.0]]
    >>> dynamics = NystromDynamics(X, y, Linear(), "ntk", 0.0, n_components=5,
    ...                            rng=np.random.RandomState(0))
    >>> splits = list(KFold(3).split(X))
    >>> folds = NystromFolds(dynamics, splits, [y[train] for train, _ in splits])
    >>> means = folds.means(0, [(1e-12, None)])  # (candidates, held-out rows, k)
    >>> bool(np.allclose(means[0], y[splits[0][1]], atol=1e-6))  # linear: exact
    True
    """

    def __init__(self, dynamics, splits, fold_targets, rows_per_block=None):
        self.dynamics = dynamics
        self.name = dynamics.dynamics_kernel
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]
        self.rows_per_block = rows_per_block
        self.transform = whitening(self._center_kernel(self.name))
        self.rcond = self.transform.shape[1] * np.finfo(np.float64).eps
        diagonal = getattr(dynamics.kernel.diagonal(dynamics.X), self.name)
        self.diagonal_means = [float(np.mean(diagonal[train])) for train, _ in self.splits]
        self.eigenvalues, self.weights_bases, self.projected = [], [], []
        self._fit(fold_targets)
        self._cross = None    # NTK variances: T_K and each fold's cross term

    def _center_kernel(self, name):
        dynamics = self.dynamics
        return getattr(dynamics.kernel(dynamics.centers, None, (name,)), name)

    def _fit(self, fold_targets):
        """Each fold's spectrum ``S_f``, basis ``W_f`` and ``W_f^T K_mR y_R``."""
        n = self.dynamics.X.shape[0]
        scattered = []  # zero outside the fold's training rows
        for (train, _), targets in zip(self.splits, fold_targets):
            full = np.zeros((n, targets.shape[1]))
            full[train] = targets
            scattered.append(full)
        sums = self._pass((self.name, self.name), scattered, "folds' Gram pass")
        for out, fold_rhs in zip(sums["left_out"], sums["rhs"]):
            values, basis = whitened_spectrum(self.transform,
                                              _symmetric_from_upper(sums["total"] - out))
            self.eigenvalues.append(values)
            self.weights_bases.append(basis)
            self.projected.append(basis.T @ fold_rhs)

    def _pass(self, names, scattered, what):
        dynamics = self.dynamics
        n = dynamics.X.shape[0]
        left_out = np.ones((len(self.splits), n), dtype=bool)
        for mask, (train, _) in zip(left_out, self.splits):
            mask[train] = False
        return _run(
            dynamics, n, self.rows_per_block,
            lambda a, b, rows: (dynamics.X[a:b], left_out[:, a:b],
                                [s[a:b] for s in scattered], dynamics.centers,
                                dynamics.kernel, names, rows),
            fold_gram_task, what, reduce=_add_fold_sums)

    # -- held-out predictions ----------------------------------------------------

    def means(self, fold, settings):
        """Held-out means of fold ``fold`` for every ``(diag_reg, tau)``.

        Parameters
        ----------
        fold : int
        settings : list of (float, float or None)
            ``diag_reg`` relative (to the fold's mean prior variance) and
            ``tau`` as :func:`._dynamics.time_to_tau` gives it for the fold.

        Returns
        -------
        ndarray of shape (n_settings, n_test, k_f)
        """
        dynamics = self.dynamics
        filters = _filters(self.eigenvalues[fold], self.diagonal_means[fold], settings,
                           self.rcond)
        projected, basis = self.projected[fold], self.weights_bases[fold]
        coefficients = _coefficients(filters, projected)
        held_out = dynamics.X[self.splits[fold][1]]
        results = _run(
            dynamics, held_out.shape[0], self.rows_per_block,
            lambda a, b, rows: (held_out[a:b], dynamics.centers, dynamics.kernel,
                                self.name, basis, coefficients, rows),
            projection_task, f"fold {fold}: held-out means")
        means = np.concatenate(results)
        return means.reshape(-1, len(settings), projected.shape[1]).transpose(1, 0, 2)

    def variances(self, fold, settings):
        """Held-out predictive variances of fold ``fold`` (as ``return_std``).

        Those of :meth:`._nystrom.NystromDynamics.predict` for the fold's
        Nyström fit: the NNGP posterior (NNGP dynamics) or the NTK
        ensemble's variance (Lee et al. 2019, eq. 16), with the exact prior
        variance at the held-out rows.

        Parameters
        ----------
        fold : int
        settings : list of (float, float or None)

        Returns
        -------
        ndarray of shape (n_settings, n_test)
        """
        groups = {}
        for index, (diag_reg, tau) in enumerate(settings):
            groups.setdefault(diag_reg, []).append((index, tau))
        predictors = {diag_reg: self._predictor(fold, diag_reg) for diag_reg in groups}
        held_out = self.dynamics.X[self.splits[fold][1]]
        results = _run(
            self.dynamics, held_out.shape[0], self.rows_per_block,
            lambda a, b, rows: (held_out[a:b], predictors, groups, len(settings), rows),
            fold_variance_task, f"fold {fold}: held-out variances")
        return np.concatenate(results, axis=1)

    def _predictor(self, fold, diag_reg):
        dynamics = self.dynamics
        predictor = NystromPredictor(
            dynamics.centers, dynamics.kernel, self.name, diag_reg * self.diagonal_means[fold],
            self.rcond, self.eigenvalues[fold], self.weights_bases[fold])
        if self.name == "ntk":
            predictor.nngp_whitening, predictor.cross = self._cross_terms(fold)
        return predictor

    def _cross_terms(self, fold):
        """``T_K`` and the fold's ``T_K^T C_R^T W_f`` with ``C_R = Theta_mR K_Rm``.

        The left-out cross Grams of every fold come from one pass, made on
        first use (NTK variances only).
        """
        if self._cross is None:
            sums = self._pass(("ntk", "nngp"), [], "folds' covariance pass")
            self._cross = (whitening(self._center_kernel("nngp")),
                           [sums["total"] - out for out in sums["left_out"]], {})
        nngp_whitening, crosses, projected = self._cross
        if fold not in projected:
            projected[fold] = nngp_whitening.T @ (crosses[fold].T @ self.weights_bases[fold])
        return nngp_whitening, projected[fold]

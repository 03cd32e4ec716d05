"""K-fold cross-validation on a fitted Nyström solver, its centres held fixed.

A fitted :class:`._nystrom.NystromDynamics` holds ``m`` centres ``Z``
drawn from all ``n`` rows and the whitening ``T`` of ``K_mm``. The model
that fold ``f`` trains on its rows ``R`` (with the same centres) has the
features ``B_R = K_Rm T`` and needs only

* the Gram ``T^T G_R T`` with ``G_R = K_mR K_Rm``, obtained as the total
  ``G`` minus the rows that the fold leaves out (``G_R = G - G_out``: a
  K-fold costs one Gram pass over the rows for every fold together);
* the right-hand side ``K_mR y_R`` of the fold's own targets (a classifier
  encodes each fold's classes);
* its regulariser ``lambda_f = diag_reg * mean(diag K_RR)`` and time
  ``tau_f``, as a refit of the estimator on the fold would use.

One ``r x r`` eigendecomposition ``T^T G_R T = U_f S_f U_f^T`` per fold
then gives, with ``W_f = T U_f``, the held-out means of every
``(diag_reg, tau)`` at once,

    f(x) = k(x, Z) W_f phi_tau(S_f + lambda_f) W_f^T K_mR y_R,

and their variances through :meth:`._nystrom.NystromPredictor.spread` (the
NTK's cross Gram ``Theta_mR K_Rm`` likewise as a total minus the left-out
rows, in one more pass made only when a scorer asks for variances).

This is **exactly** the Nyström estimator fitted on the fold, given the
centres: at ``n_components = n`` (every row a centre) it is the exact
solver's K-fold. A refit of the estimator on the fold would draw its own
centres from the fold's rows, which no closed form reproduces; holding
them fixed is what makes the folds comparable and cheap, as in
:func:`._loo.nystrom_leave_one_out`.

Cost: one pass over all ``n`` rows (kernel blocks against the centres and
their Gram, ``n m^2`` flops) for the left-out Grams, one ``r^3``
eigendecomposition per fold, and one pass over the held-out rows for the
means of every candidate; memory ``O(n_folds m^2)`` beyond ``X``. NumPy
and SciPy only.
"""

import numpy as np
import scipy.linalg
from scipy.linalg import blas

from ._nystrom import NystromPredictor, _filter, _rows_per_block, _symmetric_from_upper, whitening

__all__ = ["NystromFolds"]


class NystromFolds:
    """The Nyström fits of the folds of one split, sharing one fit's centres.

    Parameters
    ----------
    dynamics : NystromDynamics
        A fit on all rows: its rows ``X``, centres, kernel and dynamics
        kernel are used (not its spectrum).
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
    >>> from sklearn_ntk._nystrom_folds import NystromFolds
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
        self.X = dynamics.X
        self.centers = dynamics.centers
        self.kernel = dynamics.kernel
        self.name = dynamics.dynamics_kernel
        self.splits = [(np.asarray(train), np.asarray(test)) for train, test in splits]
        m = self.centers.shape[0]
        self.rows_per_block = (_rows_per_block(m) if rows_per_block is None
                               else int(rows_per_block))
        self.transform = whitening(self._center_kernel(self.name))
        self.rcond = self.transform.shape[1] * np.finfo(np.float64).eps
        diagonal = getattr(self.kernel.diagonal(self.X), self.name)
        self.diagonal_means = [float(np.mean(diagonal[train])) for train, _ in self.splits]

        n = self.X.shape[0]
        scattered = []
        for (train, _), targets in zip(self.splits, fold_targets):
            full = np.zeros((n, targets.shape[1]))
            full[train] = targets
            scattered.append(full)
        total, left_out, rhs = self._pass((self.name, self.name), scattered)
        self.eigenvalues, self.weights_bases, self.projected = [], [], []
        for out, fold_rhs in zip(left_out, rhs):
            values, vectors = self._spectrum(_symmetric_from_upper(total - out))
            basis = self.transform @ vectors
            self.eigenvalues.append(values)
            self.weights_bases.append(basis)
            self.projected.append(basis.T @ fold_rhs)
        self._cross = None    # NTK variances: T_K and each fold's cross term

    # -- passes ------------------------------------------------------------------

    def _center_kernel(self, name):
        return getattr(self.kernel(self.centers, None, (name,)), name)

    def _left_out_masks(self):
        n = self.X.shape[0]
        masks = []
        for train, _ in self.splits:
            mask = np.ones(n, dtype=bool)
            mask[train] = False
            masks.append(mask)
        return masks

    def _pass(self, names, scattered=None):
        """One pass over all rows: ``A^T B`` in total and over each fold's
        left-out rows (``A``, ``B`` the kernels ``names`` against the
        centres), and each fold's ``K^T y`` from its scattered targets.

        ``A = B`` accumulates upper triangles by ``dsyrk``.
        """
        first, second = names
        m = self.centers.shape[0]
        masks = self._left_out_masks()
        total = np.zeros((m, m), order="F")
        left_out = [np.zeros((m, m), order="F") for _ in masks]
        rhs = [np.zeros((m, s.shape[1])) for s in (scattered or [])]
        get = tuple(dict.fromkeys(names))
        for start in range(0, self.X.shape[0], self.rows_per_block):
            rows = slice(start, start + self.rows_per_block)
            kernels = self.kernel(self.X[rows], self.centers, get)
            a, b = getattr(kernels, first), getattr(kernels, second)
            _accumulate(total, a, b)
            for mask, out in zip(masks, left_out):
                keep = mask[rows]
                if keep.all():
                    _accumulate(out, a, b)
                elif keep.any():
                    kept = a[keep]
                    _accumulate(out, kept, kept if a is b else b[keep])
            for fold_rhs, targets in zip(rhs, scattered or []):
                fold_rhs += b.T @ targets[rows]
        return total, left_out, rhs

    def _spectrum(self, gram):
        reduced = self.transform.T @ gram @ self.transform
        values, vectors = scipy.linalg.eigh(0.5 * (reduced + reduced.T), overwrite_a=True,
                                            check_finite=False)
        return np.maximum(values, 0.0), vectors

    def _held_out_blocks(self, fold, get):
        test = self.splits[fold][1]
        for start in range(0, test.size, self.rows_per_block):
            x_rows = self.X[test[start:start + self.rows_per_block]]
            yield x_rows, self.kernel(x_rows, self.centers, get)

    # -- held-out predictions ----------------------------------------------------

    def _filters(self, fold, settings):
        values, mean = self.eigenvalues[fold], self.diagonal_means[fold]
        return np.stack([_filter(values, diag_reg * mean, tau, self.rcond)
                         for diag_reg, tau in settings], axis=1)          # (r, C)

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
        filters = self._filters(fold, settings)
        projected = self.projected[fold]
        coefficients = (filters[:, :, None] * projected[:, None, :]).reshape(
            filters.shape[0], -1)
        basis = self.weights_bases[fold]
        blocks = [(getattr(kernels, self.name) @ basis) @ coefficients
                  for _, kernels in self._held_out_blocks(fold, (self.name,))]
        means = np.concatenate(blocks, axis=0).reshape(-1, len(settings), projected.shape[1])
        return means.transpose(1, 0, 2)

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
        by_diag_reg = {}
        for index, (diag_reg, tau) in enumerate(settings):
            by_diag_reg.setdefault(diag_reg, []).append((index, tau))
        predictors = {diag_reg: self._predictor(fold, diag_reg) for diag_reg in by_diag_reg}
        get = ("nngp",) if self.name == "nngp" else ("nngp", "ntk")
        blocks = []
        for x_rows, kernels in self._held_out_blocks(fold, get):
            prior = self.kernel.diagonal(x_rows).nngp
            block = [None] * len(settings)
            for diag_reg, members in by_diag_reg.items():
                spreads = predictors[diag_reg].spread(kernels, prior,
                                                      [tau for _, tau in members], True)
                for (index, _), spread in zip(members, spreads):
                    block[index] = spread
            blocks.append(block)
        return np.stack([np.concatenate(column) for column in zip(*blocks)])

    def _predictor(self, fold, diag_reg):
        predictor = NystromPredictor(
            self.centers, self.kernel, self.name, diag_reg * self.diagonal_means[fold],
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
            total, left_out, _ = self._pass(("ntk", "nngp"))
            self._cross = (whitening(self._center_kernel("nngp")),
                           [total - out for out in left_out], {})
        nngp_whitening, crosses, projected = self._cross
        if fold not in projected:
            projected[fold] = nngp_whitening.T @ (crosses[fold].T @ self.weights_bases[fold])
        return nngp_whitening, projected[fold]


def _accumulate(into, a, b):
    """``into += a^T b`` in place (Fortran-ordered ``into``; upper triangle if ``a is b``)."""
    if a is b:
        blas.dsyrk(1.0, a.T, beta=1.0, c=into, trans=0, lower=0, overwrite_c=1)
    else:
        blas.dgemm(1.0, a.T, b.T, beta=1.0, c=into, trans_b=1, overwrite_c=1)

"""The layer-by-layer recursion of the NNGP and NTK over depth.

Pure JAX, no scikit-learn. Conventions are neural-tangents 0.6.5's
(``stax.Dense`` and the elementwise layers):

* input: ``K0(x, x') = x . x' / d``, ``Theta0 = 0``;
* Dense, "ntk": ``K <- w^2 K + b^2``, ``Theta <- K_new + w^2 Theta``;
* Dense, "standard": ``Theta <- n_in K_old + w^2 Theta (+ 1 with a bias)``,
  same ``K``; ``n_in`` is the input's finite width (``d`` for the first
  layer);
* activation: ``K <- E[phi(u) phi(v)]``, ``Theta <- Theta E[phi'(u) phi'(v)]``.

References
----------
Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
Jacot et al., "Neural Tangent Kernel", NeurIPS 2018.
Sohl-Dickstein et al., "On the infinite width limit of neural networks with a
standard parameterization", 2020.
"""

import jax.numpy as jnp

from ._activations import dual, dual_diag

__all__ = ["kernel_recursion", "diagonal_recursion", "same_input_mask"]


def _dense(cov1, nngp, cov2, ntk, weight_std, bias_std, architecture, n_in):
    """One Dense layer on the (cov1, nngp, cov2, ntk) state.

    ``ntk`` is None when the NTK is not wanted, and the scalar 0 before the
    first layer (``Theta0 = 0``).
    """
    w2 = weight_std * weight_std
    b2 = bias_std * bias_std if architecture.has_bias else 0.0
    new_nngp = w2 * nngp + b2
    if ntk is not None:
        if architecture.parameterization == "ntk":
            ntk = new_nngp + w2 * ntk
        else:
            ntk = n_in * nngp + w2 * ntk + (1.0 if architecture.has_bias else 0.0)
    return w2 * cov1 + b2, new_nngp, w2 * cov2 + b2, ntk


def _input_kernel(x1, x2):
    d = x1.shape[1]
    nngp = x1 @ x2.T / d
    cov1 = jnp.sum(x1 * x1, axis=1, keepdims=True) / d
    cov2 = jnp.sum(x2 * x2, axis=1, keepdims=True).T / d
    return cov1, nngp, cov2


def same_input_mask(ids1, ids2):
    """``(n1, n2)`` boolean mask of the pairs of identical input rows.

    ``ids1`` and ``ids2`` are integer row identities from one numbering
    (equal ids if and only if the rows are equal, computed exactly, e.g. by
    ``np.unique(..., return_inverse=True)``); see ``kernel_recursion``.
    """
    return ids1[:, None] == ids2[None, :]


def _activation(cov1, nngp, cov2, ntk, activation, same_input):
    """Apply the dual activation; exact on ``same_input`` entries (rho = 1)."""
    if same_input is None:
        k, k_dot = dual(activation, cov1, nngp, cov2)
    else:
        # Entries known to pair a point with itself take the rho = 1 formula,
        # which has no cancellation; the general formula is fed a harmless
        # rho = 0 there so that neither its value nor its gradient is NaN.
        k, k_dot = dual(activation, cov1, jnp.where(same_input, 0.0, nngp), cov2)
        k_diag, k_dot_diag = dual_diag(activation, cov1[:, 0])
        k = jnp.where(same_input, k_diag[:, None], k)
        k_dot = jnp.where(same_input, k_dot_diag[:, None], k_dot)
    new_cov1, _ = dual_diag(activation, cov1)
    new_cov2, _ = dual_diag(activation, cov2)
    ntk = None if ntk is None else ntk * k_dot
    return new_cov1, k, new_cov2, ntk


def kernel_recursion(
    x1, x2, weight_std, bias_std, *, architecture, compute_ntk=True, symmetric=False,
    same_input=None,
):
    """NNGP and NTK between the rows of ``x1`` and ``x2``.

    Parameters
    ----------
    x1 : jax array of shape (n1, d)
    x2 : jax array of shape (n2, d)
    weight_std, bias_std : float or traced scalar
    architecture : Architecture
    compute_ntk : bool
        Skip the NTK (and its cost) when False; then the NTK output is None.
    symmetric : bool
        ``x1`` and ``x2`` are the same rows in the same order: the diagonal
        is computed with the exact rho = 1 formulas (``same_input`` defaults
        to the identity) and the input covariance is made exactly symmetric.
    same_input : jax bool array of shape (n1, n2), default=None
        True where row ``i`` of ``x1`` equals row ``j`` of ``x2`` (see
        :func:`same_input_mask`). Those entries take the exact rho = 1
        formulas at every layer, so they equal the diagonal entries of
        either row bit for bit (to an ulp across differently compiled
        tiles). The general formulas would lose half the digits there: GEMM
        rounds ``x . x'`` differently from ``|x|^2``, and ``arccos`` near
        ``rho = 1`` turns a relative error ``eps`` into ``sqrt(eps)`` in the
        NTK (1e-8 at depth 5), enough to make libsvm cycle.

    Returns
    -------
    nngp : jax array of shape (n1, n2)
    ntk : jax array of shape (n1, n2) or None
    """
    cov1, nngp, cov2 = _input_kernel(x1, x2)
    mask = same_input
    if symmetric:
        if mask is None:
            mask = jnp.eye(x1.shape[0], dtype=bool)
        # BLAS does not promise x1 @ x1.T == (x1 @ x1.T).T to the last bit;
        # averaging makes every later (elementwise) layer exactly symmetric.
        nngp = 0.5 * (nngp + nngp.T)
    if mask is not None:
        # Identical rows: exactly the row's own variance, as on the diagonal.
        nngp = jnp.where(mask, cov1, nngp)
    ntk = 0.0 if compute_ntk else None
    n_in = x1.shape[1]
    for _ in range(architecture.depth):
        cov1, nngp, cov2, ntk = _dense(
            cov1, nngp, cov2, ntk, weight_std, bias_std, architecture, n_in
        )
        cov1, nngp, cov2, ntk = _activation(
            cov1, nngp, cov2, ntk, architecture.activation, mask
        )
        n_in = architecture.width
    cov1, nngp, cov2, ntk = _dense(
        cov1, nngp, cov2, ntk, weight_std, bias_std, architecture, n_in
    )
    return nngp, ntk


def diagonal_recursion(x, weight_std, bias_std, *, architecture):
    """``diag(NNGP(x, x))`` and ``diag(NTK(x, x))`` in O(n) time and memory.

    Parameters
    ----------
    x : jax array of shape (n, d)

    Returns
    -------
    nngp_diag, ntk_diag : jax arrays of shape (n,)
    """
    q = jnp.sum(x * x, axis=1) / x.shape[1]
    ntk = 0.0
    n_in = x.shape[1]
    for _ in range(architecture.depth):
        _, q, _, ntk = _dense(q, q, q, ntk, weight_std, bias_std, architecture, n_in)
        q, k_dot = dual_diag(architecture.activation, q)
        ntk = ntk * k_dot
        n_in = architecture.width
    _, q, _, ntk = _dense(q, q, q, ntk, weight_std, bias_std, architecture, n_in)
    return q, ntk

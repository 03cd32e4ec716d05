"""Linearised finite networks and their training on the squared loss.

Pure JAX/NumPy (no scikit-learn). A network ``f(theta, x)`` from
:mod:`sklearn_ntk._finite_network` is replaced by its first-order Taylor
expansion around the initial parameters,

    f_lin(theta, x) = f(theta_0, x) + J(theta_0, x) (theta - theta_0),

evaluated with one JVP (a dense Jacobian is never formed). Training minimises
neural-tangents' loss ``0.5 * mean((f(X) - Y)^2)`` over all ``N = Y.size``
entries, on its time scale:

* ``gd``: discrete full-batch gradient descent, one step of size
  ``learning_rate`` per unit of time (one JVP and one VJP per step, memory
  ``O(n_parameters + n_samples * width * depth)``), for either the linearised
  or the real network, optionally with the penalty
  ``regularizer / (2 N) * ||theta - theta_0||^2`` that makes its dynamics
  those of ``exact`` with the regularised NTK ``Theta + regularizer * I``
  (see :func:`gd_steps`);
* ``exact``: gradient flow of the linearised network in closed form through
  the empirical NTK ``Theta = J J^T`` of the training set, with
  ``tau = learning_rate * t / N``::

      f_t(x) = f_0(x) + Theta(x, X) w,   theta_t = theta_0 + J(X)^T w,
      w = Theta^-1 (I - exp(-tau Theta)) (Y - f_0(X)).

References
----------
Lee, J. et al. (2019). Wide neural networks of any depth evolve as linear
models under gradient descent. NeurIPS. Eqs. (4)-(9).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._finite_network import (
    _dense_coefficients,
    apply_network,
    layer_features,
    ntk_from_features,
)

__all__ = [
    "GD_CHUNK",
    "network_output",
    "squared_loss",
    "gd_steps",
    "exact_flow",
    "ntk_scale",
    "stable_step_size",
]

#: Gradient-descent steps per compiled call (the loop runs on device between
#: two Python-side progress reports).
GD_CHUNK = 100


def _tree_sub(a, b):
    return jax.tree_util.tree_map(jnp.subtract, a, b)


def _linearized(params, params0, x, weight_std, bias_std, architecture):
    def apply(p):
        return apply_network(p, x, weight_std, bias_std, architecture=architecture)

    f0, df = jax.jvp(apply, (params0,), (_tree_sub(params, params0),))
    return f0 + df


def _output(params, params0, x, weight_std, bias_std, architecture, linearize):
    if linearize:
        return _linearized(params, params0, x, weight_std, bias_std, architecture)
    return apply_network(params, x, weight_std, bias_std, architecture=architecture)


@functools.partial(jax.jit, static_argnames=("architecture", "linearize"))
def network_output(params, params0, x, weight_std, bias_std, *, architecture,
                   linearize=True):
    """Outputs of the linearised (or real) network at ``params``.

    Parameters
    ----------
    params, params0 : list of (W, b)
        Current and initial parameters (``params0`` is ignored when
        ``linearize=False``).
    x : jax array of shape (n_samples, n_features)

    Returns
    -------
    jax array of shape (n_samples, n_outputs)
    """
    return _output(params, params0, x, weight_std, bias_std, architecture, linearize)


def squared_loss(outputs, targets):
    """neural-tangents' training loss ``0.5 * mean((outputs - targets)^2)``."""
    return 0.5 * jnp.mean((outputs - targets) ** 2)


@functools.partial(jax.jit, static_argnames=("architecture", "linearize"))
def gd_steps(params, params0, x, y, step_size, n_steps, weight_std, bias_std,
             regularizer=0.0, *, architecture, linearize=True):
    """Run ``n_steps <= GD_CHUNK`` full-batch gradient-descent steps.

    ``theta <- theta - step_size * grad L(theta)`` on

        L(theta) = 0.5 mean((f(theta, X) - Y)^2)
                   + regularizer / (2 N) ||theta - theta_0||^2,   N = Y.size,

    with ``f`` the linearised network (``linearize=True``: the JVP at
    ``theta_0`` and its transpose, linearised once per call) or the network
    itself. For the linearised network, with ``delta = theta - theta_0``,
    ``J = J(X)`` and ``r_0 = Y - f_0(X)``, the gradient flow of ``L`` for
    time ``tau = step_size * n_steps / N`` is

        delta_tau = (J^T J + regularizer I)^-1 (I - exp(-tau (J^T J + regularizer I))) J^T r_0
                  = J^T (Theta + regularizer I)^-1 (I - exp(-tau (Theta + regularizer I))) r_0

    (push-through identity, ``Theta = J J^T``): the closed form of
    :func:`exact_flow` with the NTK regularised as
    ``Theta + regularizer * I``, at every time, hence also its limit
    ``tau -> infinity``, kernel ridge regression with the NTK.

    Parameters
    ----------
    params, params0 : list of (W, b)
    x : jax array of shape (n_samples, n_features)
    y : jax array of shape (n_samples, n_outputs)
    step_size : float
    n_steps : int (traced; at most :data:`GD_CHUNK`)
    regularizer : float, default=0.0
        Absolute strength of the pull toward ``theta_0`` (the value added to
        the NTK's diagonal).

    Returns
    -------
    params : list of (W, b)
        After the steps.
    losses : jax array of shape (GD_CHUNK,)
        The data loss ``0.5 mean((f - Y)^2)`` (without the penalty) before each step (entries past ``n_steps`` are NaN).
    final_loss : jax scalar
        The data loss after the last step.
    """
    scale = step_size / y.size  # d/df of 0.5 * mean(...) is (f - y) / N

    if linearize:
        def apply(p):
            return apply_network(p, x, weight_std, bias_std, architecture=architecture)

        f0, jvp = jax.linearize(apply, params0)
        vjp = jax.linear_transpose(jvp, params0)

        def residual_and_pullback(p):
            return f0 + jvp(_tree_sub(p, params0)) - y, lambda r: vjp(r)[0]
    else:
        def residual_and_pullback(p):
            out, pullback = jax.vjp(
                lambda q: apply_network(q, x, weight_std, bias_std,
                                        architecture=architecture), p)
            return out - y, lambda r: pullback(r)[0]

    def step(i, state):
        p, losses = state
        residual, pullback = residual_and_pullback(p)
        losses = losses.at[i].set(0.5 * jnp.mean(residual ** 2))
        gradient = pullback(residual)
        p = jax.tree_util.tree_map(
            lambda a, g, a0: a - scale * (g + regularizer * (a - a0)),
            p, gradient, params0)
        return p, losses

    losses = jnp.full((GD_CHUNK,), jnp.nan, dtype=y.dtype)
    params, losses = jax.lax.fori_loop(0, n_steps, step, (params, losses))
    final_residual, _ = residual_and_pullback(params)
    return params, losses, 0.5 * jnp.mean(final_residual ** 2)


@functools.partial(jax.jit, static_argnames=("architecture",))
def _ntk_and_outputs(params0, x, weight_std, bias_std, *, architecture):
    # One set of per-layer factors serves both sides of the symmetric kernel.
    features = layer_features(params0, x, weight_std, bias_std, architecture=architecture)
    ntk = ntk_from_features(features, features, weight_std, bias_std, architecture)
    f0 = apply_network(params0, x, weight_std, bias_std, architecture=architecture)
    return ntk, f0


@functools.partial(jax.jit, static_argnames=("architecture",))
def _pullback(params0, x, cotangent, weight_std, bias_std, *, architecture):
    """``theta_0 + J(X)^T cotangent``, by one VJP."""
    _, pullback = jax.vjp(
        lambda p: apply_network(p, x, weight_std, bias_std, architecture=architecture),
        params0)
    (delta,) = pullback(cotangent)
    return jax.tree_util.tree_map(jnp.add, params0, delta)


def flatten_ntk(ntk):
    """(n, n, m, m) output blocks -> the (n m, n m) matrix whose row
    ``i * m + a`` is (sample i, output a)."""
    n1, n2, m1, m2 = ntk.shape
    return np.transpose(ntk, (0, 2, 1, 3)).reshape(n1 * m1, n2 * m2)


def exact_flow(params0, x, y, tau, weights_fn, weight_std, bias_std, *, architecture):
    """Closed-form gradient flow of the linearised network for ``tau``.

    Parameters
    ----------
    params0 : list of (W, b)
    x : jax array of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_outputs)
    tau : float or None
        ``learning_rate * t / y.size``; None is infinite time.
    weights_fn : callable
        ``weights_fn(kernel (n m, n m), targets (n m, 1), tau) -> (n m, 1)``,
        ``Theta^-1 (I - exp(-tau Theta)) targets`` with the caller's
        regularisation.

    Returns
    -------
    params : list of (W, b)
        ``theta_tau = theta_0 + J^T w``.
    ntk : ndarray of shape (n_samples, n_samples, n_outputs, n_outputs)
        The empirical NTK of the training set at ``theta_0``.
    losses : ndarray of shape (2,)
        The training loss at time 0 and at ``tau``.
    """
    ntk, f0 = _ntk_and_outputs(params0, x, weight_std, bias_std,
                               architecture=architecture)
    ntk, f0 = np.asarray(ntk), np.asarray(f0)
    kernel = flatten_ntk(ntk)
    residual0 = (y - f0).reshape(-1, 1)
    weights = weights_fn(kernel, residual0, tau)
    # Training outputs at tau: f_0 + Theta w (the residual decays as exp(-tau Theta)).
    residual_t = kernel @ weights - residual0
    params = _pullback(params0, x, jnp.asarray(weights.reshape(f0.shape)),
                       weight_std, bias_std, architecture=architecture)
    losses = np.array([0.5 * np.mean(residual0 ** 2), 0.5 * np.mean(residual_t ** 2)])
    return params, ntk, losses


def _layer_coefficients(features, weight_std, bias_std, architecture):
    inputs, signals = features
    return [(h, delta) + _dense_coefficients(h.shape[-1], weight_std, bias_std,
                                             architecture)
            for h, delta in zip(inputs, signals)]


def _ntk_matvec(layers, vector):
    """``Theta v`` for ``v`` of shape (n, m), from the per-layer factors.

    ``Theta[(i, a), (j, b)] = sum_l (c_W h_i.h_j + c_b) delta_ia.delta_jb``, so
    with ``U_j = sum_b delta_jb v_jb`` each layer adds
    ``delta_ia . (c_W h_i^T (H^T U) + c_b sum_j U_j)``: matrix products of
    size ``n x width``, never the ``(n m) x (n m)`` kernel.
    """
    total = 0.0
    for h, delta, c_weight, c_bias in layers:
        u = jnp.einsum("anj,na->nj", delta, vector)
        back = c_weight * (h @ (h.T @ u)) + c_bias * jnp.sum(u, axis=0)
        total = total + jnp.einsum("anj,nj->na", delta, back)
    return total


@functools.partial(jax.jit, static_argnames=("architecture", "n_iter"))
def ntk_scale(params0, x, weight_std, bias_std, *, architecture, n_iter=50):
    """Trace and largest eigenvalue of the empirical NTK ``J J^T`` of ``x``.

    Both come from the per-layer factors of
    :func:`~sklearn_ntk._finite_network.layer_features` (one VJP per
    output; memory ``O(n_samples width depth n_outputs)``), without forming
    the ``(n m) x (n m)`` kernel. The trace, whose mean
    ``trace / (n_samples n_outputs)`` sets the scale of ``diag_reg``, sums
    the diagonal entries ``(c_W ||h_l(x)||^2 + c_b) ||delta_l[a](x)||^2``.
    ``lambda_max`` is estimated by ``n_iter`` power iterations from the
    all-ones vector (close to the top eigenvector, the constant mode of a
    positive kernel); the estimate ``||Theta v||`` approaches ``lambda_max``
    from below.

    Returns
    -------
    trace, max_eigenvalue : jax scalars
    """
    features = layer_features(params0, x, weight_std, bias_std,
                              architecture=architecture)
    layers = _layer_coefficients(features, weight_std, bias_std, architecture)
    trace = sum(jnp.sum((c_weight * jnp.sum(h ** 2, axis=1) + c_bias)
                        * jnp.sum(delta ** 2, axis=(0, 2)))
                for h, delta, c_weight, c_bias in layers)
    n_outputs = params0[-1][0].shape[-1]
    vector = jnp.ones((x.shape[0], n_outputs), x.dtype)
    vector = vector / jnp.sqrt(vector.size)

    def iterate(_, state):
        vector, _ = state
        image = _ntk_matvec(layers, vector)
        norm = jnp.sqrt(jnp.sum(image ** 2))
        return image / jnp.where(norm > 0, norm, 1.0), norm

    _, eigenvalue = jax.lax.fori_loop(0, n_iter, iterate,
                                      (vector, jnp.zeros((), x.dtype)))
    return trace, eigenvalue


def stable_step_size(max_eigenvalue, regularizer, size):
    """Gradient-descent step ``size / (max_eigenvalue + regularizer)``.

    For the linearised network the loss of :func:`gd_steps`,
    ``0.5 mean((f - Y)^2) + regularizer / (2 N) ||theta - theta_0||^2`` with
    ``N = size = Y.size``, is a quadratic whose Hessian
    ``(J^T J + regularizer I) / N`` has largest eigenvalue
    ``L = (lambda_max(Theta) + regularizer) / N`` (``J^T J`` and
    ``Theta = J J^T`` share their non-zero spectrum). A step ``eta``
    multiplies the error along each eigenvector of curvature ``h`` by
    ``1 - eta h``: the descent converges iff ``eta < 2 / L``. We take
    ``eta = 1 / L``, the classical step for an L-smooth convex loss, which
    decreases the loss at every step (``L(theta') <= L(theta) - eta / 2
    ||grad||^2``) and leaves a factor 2 below the divergence threshold for
    (a) power iteration, which approaches ``lambda_max`` from below (the
    step stays stable while the estimate exceeds ``lambda_max / 2``;
    the NTK's top eigenvalue, the constant mode of a positive kernel, is
    well separated, so 50 iterations from the all-ones vector get within a
    few percent), and (b) ``linearize=False``, whose curvature moves away
    from the initial NTK by ``O(width^-1/2)`` during training.

    In neural-tangents' time ``tau = learning_rate * t / N``, ``k`` steps of
    size ``eta`` last ``t = k * eta`` in units of ``learning_rate = 1``.

    Parameters
    ----------
    max_eigenvalue : float
        ``lambda_max`` of the empirical NTK of the training set (all outputs).
    regularizer : float
        The absolute value added to the NTK's diagonal.
    size : int
        ``Y.size``.

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn_ntk._linearization import stable_step_size
    >>> stable_step_size(max_eigenvalue=90.0, regularizer=10.0, size=50)
    0.5
    """
    return float(size) / (float(max_eigenvalue) + float(regularizer))

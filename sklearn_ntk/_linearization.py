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
  or the real network;
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

from ._finite_network import apply_network, layer_features, ntk_from_features

__all__ = [
    "GD_CHUNK",
    "network_output",
    "squared_loss",
    "gd_steps",
    "exact_flow",
    "ntk_max_eigenvalue",
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
def gd_steps(params, params0, x, y, step_size, n_steps, weight_std, bias_std, *,
             architecture, linearize=True):
    """Run ``n_steps <= GD_CHUNK`` full-batch gradient-descent steps.

    ``theta <- theta - step_size * grad 0.5 mean((f(theta, X) - Y)^2)``, with
    ``f`` the linearised network (``linearize=True``: the JVP at ``theta_0``
    and its transpose, linearised once per call) or the network itself.

    Parameters
    ----------
    params, params0 : list of (W, b)
    x : jax array of shape (n_samples, n_features)
    y : jax array of shape (n_samples, n_outputs)
    step_size : float
    n_steps : int (traced; at most :data:`GD_CHUNK`)

    Returns
    -------
    params : list of (W, b)
        After the steps.
    losses : jax array of shape (GD_CHUNK,)
        The loss before each step (entries past ``n_steps`` are NaN).
    final_loss : jax scalar
        The loss after the last step.
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
        p = jax.tree_util.tree_map(lambda a, g: a - scale * g, p, gradient)
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


@functools.partial(jax.jit, static_argnames=("architecture", "n_iter"))
def ntk_max_eigenvalue(params0, x, weight_std, bias_std, *, architecture, n_iter=50):
    """Largest eigenvalue of the empirical NTK ``J J^T`` of ``x`` (all outputs),
    by power iteration on ``J J^T`` with one JVP and one VJP per iteration.

    Gradient descent on ``0.5 * mean((f - y)^2)`` with the linearised network
    is stable iff ``learning_rate * lambda_max / y.size < 2``. Power iteration
    approaches ``lambda_max`` from below, so the bound it gives is optimistic
    by at most a few percent after 50 iterations on typical spectra.

    Returns
    -------
    jax scalar
    """
    def apply(p):
        return apply_network(p, x, weight_std, bias_std, architecture=architecture)

    out, jvp = jax.linearize(apply, params0)
    vjp = jax.linear_transpose(jvp, params0)
    vector = jnp.ones_like(out) / jnp.sqrt(out.size)

    def iterate(_, state):
        vector, _ = state
        image = jvp(vjp(vector)[0])
        norm = jnp.sqrt(jnp.sum(image ** 2))
        return image / jnp.where(norm > 0, norm, 1.0), norm

    _, eigenvalue = jax.lax.fori_loop(0, n_iter, iterate, (vector, jnp.zeros((), out.dtype)))
    return eigenvalue

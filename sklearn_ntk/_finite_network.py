"""Finite-width fully-connected networks with neural-tangents' initialisation.

Pure JAX. The layers are exactly ``stax.Dense`` of neural-tangents 0.6.5:
weights and biases are drawn from N(0, 1) and

* "ntk": ``f = (weight_std / sqrt(n_in)) x W + bias_std b``;
* "standard": ``W`` is drawn with std ``weight_std / sqrt(n_in)`` and ``b``
  with std ``bias_std``, and ``f = x W + b``.

The parameters are a list of ``(W, b)`` pairs (``b`` is None without
biases), a JAX pytree that ``jax.jvp``/``jax.vjp`` differentiate directly.
This is the network whose empirical kernels converge to
:func:`sklearn_ntk.compute_kernels` as ``width`` grows.
"""

import functools

import jax
import jax.numpy as jnp

from ._activations import forward

__all__ = ["init_params", "apply_network", "empirical_kernels"]


def init_params(key, n_features, width, architecture, weight_std, bias_std,
                n_outputs=1, dtype=jnp.float64):
    """Draw the parameters of ``depth`` hidden layers and a readout.

    Parameters
    ----------
    key : jax.random key
    n_features : int
    width : int
        Hidden width.
    architecture : Architecture
    weight_std, bias_std : float
    n_outputs : int, default=1
    dtype : jnp dtype, default=float64 (call inside an x64 scope)

    Returns
    -------
    params : list of (W, b) tuples
        ``W`` of shape ``(n_in, n_out)``, ``b`` of shape ``(n_out,)`` or None.
    """
    sizes = [n_features] + [width] * architecture.depth + [n_outputs]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for layer_key, n_in, n_out in zip(keys, sizes[:-1], sizes[1:]):
        w_key, b_key = jax.random.split(layer_key)
        weights = jax.random.normal(w_key, (n_in, n_out), dtype)
        bias = (jax.random.normal(b_key, (n_out,), dtype)
                if architecture.has_bias else None)
        if architecture.parameterization == "standard":
            weights = weights * (weight_std / jnp.sqrt(n_in))
            bias = None if bias is None else bias * bias_std
        params.append((weights, bias))
    return params


def _dense(params, x, weight_std, bias_std, parameterization):
    weights, bias = params
    if parameterization == "ntk":
        out = (weight_std / jnp.sqrt(x.shape[-1])) * (x @ weights)
        return out if bias is None else out + bias_std * bias
    out = x @ weights
    return out if bias is None else out + bias


def apply_network(params, x, weight_std, bias_std, *, architecture):
    """Forward pass: ``depth`` x (Dense -> activation), then Dense.

    Parameters
    ----------
    params : list of (W, b)
    x : jax array of shape (n_samples, n_features)

    Returns
    -------
    jax array of shape (n_samples, n_outputs)
    """
    for layer in params[:-1]:
        x = _dense(layer, x, weight_std, bias_std, architecture.parameterization)
        x = forward(architecture.activation, x)
    return _dense(params[-1], x, weight_std, bias_std, architecture.parameterization)


@functools.partial(jax.jit, static_argnames=("architecture",))
def empirical_kernels(params, x1, x2, weight_std, bias_std, *, architecture):
    """Empirical NNGP and NTK of one finite network (first output unit).

    The empirical NNGP is the width-normalised inner product of the last
    hidden layer's post-activations under the readout scaling, i.e. what
    neural-tangents' ``empirical_nngp_fn`` returns for the readout input; the
    empirical NTK is ``J(x1) J(x2)^T`` over all parameters, computed with
    one VJP per output row (never a dense Jacobian of the whole data set).

    Returns
    -------
    nngp : jax array of shape (n1, n2)
        ``f(x1) f(x2)`` averaged over the readout units is a noisy NNGP
        estimate; here it is the exact conditional covariance of the readout
        given the hidden features (weights integrated out).
    ntk : jax array of shape (n1, n2)
    """
    def features(x):
        for layer in params[:-1]:
            x = _dense(layer, x, weight_std, bias_std, architecture.parameterization)
            x = forward(architecture.activation, x)
        return x

    h1, h2 = features(x1), features(x2)
    n_in = h1.shape[-1]
    w2 = weight_std ** 2
    b2 = bias_std ** 2 if architecture.has_bias else 0.0
    nngp = w2 * (h1 @ h2.T) / n_in + b2

    def scalar_out(p, x):
        return apply_network(p, x[None], weight_std, bias_std,
                             architecture=architecture)[0, 0]

    grad_fn = jax.vmap(jax.grad(scalar_out), in_axes=(None, 0))
    g1 = jax.tree_util.tree_leaves(grad_fn(params, x1))
    g2 = jax.tree_util.tree_leaves(grad_fn(params, x2))
    ntk = sum(a.reshape(a.shape[0], -1) @ b.reshape(b.shape[0], -1).T
              for a, b in zip(g1, g2))
    return nngp, ntk

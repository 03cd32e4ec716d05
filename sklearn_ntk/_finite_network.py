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
import numpy as np

from ._activations import forward

__all__ = [
    "init_params",
    "apply_network",
    "layer_features",
    "ntk_from_features",
    "empirical_ntk",
    "empirical_kernels",
]


def _numpy_generator(key):
    """A NumPy generator seeded by the bits of a JAX key (raw or typed)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, dtype=np.uint32).ravel().tolist())


def init_params(key, n_features, width, architecture, weight_std, bias_std,
                n_outputs=1, dtype=jnp.float64):
    """Draw the parameters of ``depth`` hidden layers and a readout.

    The entries are i.i.d. standard normal (scaled as ``stax.Dense`` does
    under "standard"), drawn by NumPy's PCG64 seeded from the bits of
    ``key``: the same key gives the same parameters, and a new width or
    input size costs no XLA compilation (``jax.random.normal`` compiles a
    float64 sampler per shape, seconds each). The values therefore differ
    from neural-tangents' for the same key; the distribution and the layout
    are the same.

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
    generator = _numpy_generator(key)
    sizes = [n_features] + [width] * architecture.depth + [n_outputs]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights = generator.standard_normal((n_in, n_out))
        bias = generator.standard_normal(n_out) if architecture.has_bias else None
        if architecture.parameterization == "standard":
            weights = weights * (weight_std / np.sqrt(n_in))
            bias = None if bias is None else bias * bias_std
        params.append((jnp.asarray(weights, dtype),
                       None if bias is None else jnp.asarray(bias, dtype)))
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


def _dense_coefficients(n_in, weight_std, bias_std, architecture):
    """``(c_W, c_b)`` of one Dense layer.

    The layer's contribution to the empirical NTK is
    ``(c_W h(x).h(x') + c_b) delta(x).delta(x')`` where ``h`` is its input
    and ``delta`` the derivative of the output with respect to its output.
    """
    if architecture.parameterization == "ntk":
        c_weight, c_bias = weight_std ** 2 / n_in, bias_std ** 2
    else:  # "standard": the scale sits in the initial values, not the forward pass
        c_weight, c_bias = 1.0, 1.0
    return c_weight, (c_bias if architecture.has_bias else 0.0)


def _apply_with_taps(params, x, taps, weight_std, bias_std, architecture):
    """Forward pass with ``taps[l]`` added to hidden Dense layer ``l``'s output.

    Returns the output and, as auxiliary data, the input of every Dense layer.
    """
    inputs = []
    for layer, tap in zip(params[:-1], taps):
        inputs.append(x)
        x = _dense(layer, x, weight_std, bias_std, architecture.parameterization) + tap
        x = forward(architecture.activation, x)
    inputs.append(x)
    out = _dense(params[-1], x, weight_std, bias_std, architecture.parameterization)
    return out, inputs


def layer_features(params, x, weight_std, bias_std, *, architecture):
    """Per-layer factors of the Jacobian of the network at ``x``.

    The Jacobian of a Dense network factorises layer by layer: the gradient
    of output ``a`` at ``x`` with respect to layer ``l``'s weights is the outer
    product of the layer's input ``h_l(x)`` and the backpropagated signal
    ``delta_l[a](x) = d f_a(x) / d z_l(x)``. Because the rows of ``x`` do not
    interact, one VJP of the whole batch per output unit (with respect to an
    additive "tap" on each layer's output, at zero) gives every row's signal:
    memory ``O(n_samples * width * depth * n_outputs)``, never the
    ``O(n_samples * n_parameters)`` of per-example gradients.

    Parameters
    ----------
    params : list of (W, b)
    x : jax array of shape (n_samples, n_features)

    Returns
    -------
    inputs : list of jax arrays of shape (n_samples, n_in_l)
        The input of every Dense layer (``depth + 1`` of them).
    signals : list of jax arrays of shape (n_outputs, n_samples, n_out_l)
        The backpropagated signals of every Dense layer; the readout's is the
        identity.
    """
    n_outputs = params[-1][0].shape[-1]
    taps = [jnp.zeros((x.shape[0], layer[0].shape[-1]), x.dtype)
            for layer in params[:-1]]
    out, pullback, inputs = jax.vjp(
        lambda taps_: _apply_with_taps(params, x, taps_, weight_std, bias_std,
                                       architecture),
        taps, has_aux=True)
    basis = jnp.eye(n_outputs, dtype=x.dtype)
    cotangents = jnp.broadcast_to(basis[:, None, :], (n_outputs,) + out.shape)
    hidden = jax.vmap(lambda cotangent: pullback(cotangent)[0])(cotangents)
    readout = jnp.broadcast_to(basis[:, None, :], (n_outputs,) + out.shape)
    return inputs, list(hidden) + [readout]


def ntk_from_features(features1, features2, weight_std, bias_std, architecture):
    """Sum over layers of ``(c_W H1 H2^T + c_b) * (Delta1 Delta2^T)``,
    shaped (n1, n2, n_outputs, n_outputs)."""
    (inputs1, signals1), (inputs2, signals2) = features1, features2
    total = 0.0
    for h1, h2, d1, d2 in zip(inputs1, inputs2, signals1, signals2):
        c_weight, c_bias = _dense_coefficients(h1.shape[-1], weight_std, bias_std,
                                               architecture)
        inputs_gram = c_weight * (h1 @ h2.T) + c_bias
        signals_gram = jnp.einsum("anj,bpj->npab", d1, d2)
        total = total + inputs_gram[:, :, None, None] * signals_gram
    return total


@functools.partial(jax.jit, static_argnames=("architecture",))
def empirical_ntk(params, x1, x2, weight_std, bias_std, *, architecture):
    """Empirical NTK ``J(x1) J(x2)^T`` with all output blocks.

    Computed from the per-layer factors of :func:`layer_features` (no
    per-example gradient is ever formed): cost
    ``O(n1 n2 width depth n_outputs^2)``.

    Parameters
    ----------
    params : list of (W, b)
    x1 : jax array of shape (n1, n_features)
    x2 : jax array of shape (n2, n_features)

    Returns
    -------
    jax array of shape (n1, n2, n_outputs, n_outputs)
        ``[i, j, a, b] = <d f_a(x1_i) / d theta, d f_b(x2_j) / d theta>``,
        neural-tangents' ``empirical_ntk_fn(..., trace_axes=())``.
    """
    features1 = layer_features(params, x1, weight_std, bias_std,
                               architecture=architecture)
    features2 = layer_features(params, x2, weight_std, bias_std,
                               architecture=architecture)
    return ntk_from_features(features1, features2, weight_std, bias_std,
                              architecture)


@functools.partial(jax.jit, static_argnames=("architecture",))
def empirical_kernels(params, x1, x2, weight_std, bias_std, *, architecture):
    """Empirical NNGP and NTK of one finite network (first output unit).

    The empirical NNGP is the width-normalised inner product of the last
    hidden layer's post-activations under the readout scaling, i.e. the exact
    covariance of the readout given the hidden features (readout weights
    integrated out); the empirical NTK is ``J(x1) J(x2)^T`` over all
    parameters of the first output unit, from the per-layer factors of
    :func:`layer_features` (never a per-example gradient).

    Returns
    -------
    nngp : jax array of shape (n1, n2)
    ntk : jax array of shape (n1, n2)
    """
    first_output = params[:-1] + [_first_unit(params[-1])]
    inputs1, signals1 = layer_features(first_output, x1, weight_std, bias_std,
                                       architecture=architecture)
    inputs2, signals2 = layer_features(first_output, x2, weight_std, bias_std,
                                       architecture=architecture)
    h1, h2 = inputs1[-1], inputs2[-1]
    b2 = bias_std ** 2 if architecture.has_bias else 0.0
    nngp = weight_std ** 2 * (h1 @ h2.T) / h1.shape[-1] + b2
    ntk = ntk_from_features((inputs1, signals1), (inputs2, signals2),
                             weight_std, bias_std, architecture)
    return nngp, ntk[:, :, 0, 0]


def _first_unit(readout):
    weights, bias = readout
    return weights[:, :1], (None if bias is None else bias[:1])

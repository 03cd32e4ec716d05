"""One recursion engine for the NNGP and NTK of every architecture.

Pure JAX, no scikit-learn. A network is a description built from
:mod:`sklearn_ntk.layers` (the fully-connected network of ``depth``
Dense + activation layers is one such description, see :func:`mlp_net`);
this module folds the layers over a kernel *state*, following
neural-tangents 0.6.5's conventions (``stax.Dense``, ``stax.Conv``,
``stax.AvgPool``, ``stax.GlobalAvgPool``, ``stax.Flatten``, the elementwise
layers and ``FanOut``/``parallel``/``FanInSum``):

* input: ``K0(x, x')[p, p'] = sum_c x[p, c] x'[p', c] / C``, ``Theta0 = 0``;
* Dense and Conv, "ntk": ``K <- w^2 A(K) + b^2``, ``Theta <- K_new + w^2 A(Theta)``
  where ``A`` is the identity (Dense) or the filter average ``A(K)[p, p'] =
  mean_o K[p + o, p' + o]`` (Conv);
* "standard": ``Theta <- fan_in A(K) + w^2 A(Theta) (+ 1 with a bias)``;
* activation: ``K <- E[phi(u) phi(v)]``, ``Theta <- Theta E[phi'(u) phi'(v)]``;
* AvgPool: the box average over both positions; GlobalAvgPool: the mean
  over all pairs of positions; Flatten: the mean over equal positions.

Layout
------
Every array of the state keeps its spatial axes first and its row axes
last: the covariance between images ``i`` and ``j`` is ``nngp[..., i, j]``
with ``...`` either ``(H, W)`` (the *diagonal* form: only equal positions
``p = p'``) or ``(H, W, H', W')`` (the *full* form). A convolution is then a
sum of shifted slices of whole ``(n1, n2)`` planes along one spatial axis
at a time: ``3 + 3`` slab additions for a 3 x 3 filter instead of the 9
multiply-adds of stax's identity-filter convolution.

The full form is carried only up to the last pooling layer (pooling mixes
positions; nothing else does), then reduced to the diagonal form, so that a
network without pooling costs O(N^2 HW) and one with pooling
O(N^2 (HW)^2) only where it must. These requirements are computed once per
network by :func:`plan`.

Each row also carries its own covariance (``var1`` for ``x1``, ``var2`` for
``x2``) through the same layers: the activations need the variances, and
pooling needs the off-diagonal self-covariances in the full form. A pair
reads only the variances (the self-covariances at equal positions ``p =
p'``), so the staged engine runs each row's own recursion once and hands
every tile its rows' variances, layer by layer (see
:func:`row_variances`); the tiles then carry only the pairs.

Entries known to pair an input with itself (``same``: the diagonal of a
train kernel) take the exact ``rho = 1`` formula of each activation, and
their input covariance is the row's own squared norm, so that they are
exact rather than off by ``sqrt(eps)``.

References
----------
Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
Jacot et al., "Neural Tangent Kernel", NeurIPS 2018.
Novak et al., "Bayesian Deep Convolutional Networks with Many Channels are
Gaussian Processes", ICLR 2019.
Arora et al., "On Exact Computation with an Infinitely Wide Neural Net",
NeurIPS 2019.
Sohl-Dickstein et al., "On the infinite width limit of neural networks with a
standard parameterization", 2020.
"""

import dataclasses
import functools
import math
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import layers as L
from ._activations import dual, dual_diag, dual_distance, has_distance_form

__all__ = [
    "kernel_recursion",
    "diagonal_recursion",
    "net_kernels",
    "net_diagonals",
    "mlp_net",
    "split_scales",
    "plan",
    "Plan",
    "same_input_mask",
    "carries_distance",
    "NEAR_DUPLICATE_VERSINE",
    "has_near_pairs",
    "net_kernels_staged",
    "staged_pairs",
    "staged_outputs",
    "pair_kernels",
    "row_variances",
    "is_chain",
]


# ---------------------------------------------------------------------------
# The network as a static skeleton plus traced scales
# ---------------------------------------------------------------------------

_LINEAR = (L.Dense, L.Conv)
_POOLS = (L.AvgPool, L.GlobalAvgPool)


def _leaves(layer):
    """Non-combinator layers in execution order (a repeated layer's ``n``
    times)."""
    if isinstance(layer, (L.Serial, L.Parallel)):
        for sub in layer.layers:
            yield from _leaves(sub)
    elif isinstance(layer, L.Repeat):
        for _ in range(layer.n):
            yield from _leaves(layer.layer)
    else:
        yield layer


def split_scales(net):
    """``(skeleton, scales)``: the weight and bias scales taken out of ``net``.

    ``skeleton`` is ``net`` with every ``W_std`` set to 1 and every numeric
    ``b_std`` to 1 (None stays None): it is the static, hashable part that
    compiled tiles are keyed on, so that a new ``W_std`` does not compile
    again. ``scales`` is an array of shape ``(n_linear_layers, 2)`` of the
    ``(W_std, b_std)`` pairs in execution order (0 for a missing bias; a
    repeated layer's pairs once per repetition).
    """
    def strip(layer):
        if isinstance(layer, (L.Serial, L.Parallel)):
            parts = [strip(sub) for sub in layer.layers]
            return (type(layer)(tuple(part for part, _ in parts)),
                    [pair for _, pairs in parts for pair in pairs])
        if isinstance(layer, L.Repeat):
            body, pairs = strip(layer.layer)
            return dataclasses.replace(layer, layer=body), pairs * layer.n
        if isinstance(layer, _LINEAR):
            pair = (layer.W_std, 0.0 if layer.b_std is None else layer.b_std)
            return dataclasses.replace(
                layer, W_std=1.0, b_std=None if layer.b_std is None else 1.0), [pair]
        return layer, []

    skeleton, scales = strip(net)
    return skeleton, np.asarray(scales, dtype=np.float64).reshape(-1, 2)


@functools.lru_cache(maxsize=256)
def mlp_net(architecture):
    """The skeleton ``serial(*[Dense, act] * depth, Dense(1))`` of an
    :class:`~sklearn_ntk._architecture.Architecture` (scales separate),
    written ``serial(Dense, repeat(serial(act, Dense), depth - 1), act,
    Dense(1))``: a deep network compiles as a loop (see :func:`_repeat`)."""
    has_bias = architecture.has_bias
    width = architecture.width or 512

    def dense(out_dim):
        return L.Dense(out_dim, 1.0, 1.0 if has_bias else None,
                       architecture.parameterization)

    # The resolved activation is stored as is (its parameters are already
    # the family's, and a user's callable has no layer of its own).
    act = _ResolvedActivation(architecture.activation)
    if architecture.depth == 0:
        return L.serial(dense(1))
    hidden = [dense(width)]
    if architecture.depth > 1:
        hidden.append(L.repeat(L.serial(act, dense(width)), architecture.depth - 1))
    return L.serial(*hidden, act, dense(1))


@dataclasses.dataclass(frozen=True)
class _ResolvedActivation(L._ActivationLayer):
    """An already-resolved activation (the MLP arguments' path)."""

    activation: object

    def resolve(self):
        return self.activation


def _mlp_scales(architecture, weight_std, bias_std):
    pair = jnp.stack([jnp.asarray(weight_std, dtype=jnp.result_type(float)),
                      jnp.asarray(bias_std, dtype=jnp.result_type(float))])
    return jnp.broadcast_to(pair, (architecture.depth + 1, 2))


# ---------------------------------------------------------------------------
# The kernel state
# ---------------------------------------------------------------------------


class _State(NamedTuple):
    """Kernels between two sets of rows after some layers.

    ``nngp``/``ntk``: spatial axes (``spatial`` once, or twice when
    ``full``), then the row axes: ``(n1, n2)`` for a cross kernel, ``(n,)``
    for the diagonal of a kernel. ``var1``/``var2``: each row with itself,
    with the same spatial axes and row axes ``(n1, 1)``/``(1, n2)`` (or
    ``(n,)``), or both None when the rows' own recursions supply their
    variances layer by layer (``_Context.variances``, the staged engine).
    ``ntk`` is the float 0.0 before the first linear layer and
    None when the NTK is not computed. ``dist`` (diagonal form only, None
    unless requested) is the pair ``(var1 + var2 - 2 nngp, var1 - var2)``
    for each pair of rows (the squared distance and the variance
    difference), carried without cancellation for near-duplicates (see
    :func:`carries_distance`).
    """

    var1: jnp.ndarray
    nngp: jnp.ndarray
    var2: jnp.ndarray
    ntk: object
    spatial: Tuple[int, ...]
    full: bool
    channels: int
    is_gaussian: bool
    dist: object = None


class _Context:
    """Per-trace bookkeeping: the scales, the layer counter, the plan."""

    def __init__(self, scales, same, last_pool, diagonal_batch, record=None,
                 variances=None):
        self.scales = _rows(scales)
        self.diagonal_batch = diagonal_batch
        self.same = same
        self.last_pool = last_pool
        self.index = -1
        self.record = record
        # The rows' variances at this layer's input, in the diagonal form
        # (``(*spatial, n1, 1)``, ``(*spatial, 1, n2)``), when the state
        # carries none (see :func:`row_variances`).
        self.variances = variances


def _n_spatial_axes(state):
    return len(state.spatial) * (2 if state.full else 1)


def _diagonal_positions(array, spatial):
    """Full-form ``array[p, p', ...]`` -> diagonal form ``array[p, ...]``."""
    size = math.prod(spatial)
    rest = array.shape[2 * len(spatial):]
    flat = array.reshape((size, size) + rest)
    index = jnp.arange(size)
    return flat[index, index].reshape(tuple(spatial) + rest)


def _to_diagonal(state):
    if not state.full:
        return state
    spatial = state.spatial

    def cut(array):
        if array is None or isinstance(array, float):
            return array
        return _diagonal_positions(array, spatial)

    return state._replace(var1=cut(state.var1), nngp=cut(state.nngp),
                          var2=cut(state.var2), ntk=cut(state.ntk), full=False,
                          dist=None)


def _position_eye(spatial, n_rest):
    """Boolean ``p == p'`` of shape ``spatial + spatial + (1,) * n_rest``."""
    size = math.prod(spatial)
    eye = np.eye(size, dtype=bool).reshape(tuple(spatial) * 2)
    return jnp.asarray(eye.reshape(eye.shape + (1,) * n_rest))


def _variance_at(var, spatial, second):
    """Variances of a full-form self-covariance ``var[p, p', rows]`` at ``p``
    (or at ``p'`` when ``second``), broadcastable against the full form."""
    return _at_position(_diagonal_positions(var, spatial), spatial, second)


def _at_position(diag, spatial, second):
    """Diagonal-form ``diag[p, rows]`` as ``[p, 1, rows]`` (or ``[1, p',
    rows]`` when ``second``), broadcastable against the full form."""
    ones = (1,) * len(spatial)
    rest = diag.shape[len(spatial):]
    shape = (ones + tuple(spatial) if second else tuple(spatial) + ones) + rest
    return diag.reshape(shape)


def _row_variances(state, ctx):
    """``(q1, q2)``: each row's variance at the positions of ``state.nngp``
    (at ``p`` and at ``p'`` in the full form), broadcastable against it;
    from the state, or from the rows' own recursions (``ctx.variances``)."""
    spatial = state.spatial
    if state.var1 is None:
        q1, q2 = ctx.variances
        if not state.full:
            return q1, q2
        return (_at_position(q1, spatial, second=False),
                _at_position(q2, spatial, second=True))
    if not state.full:
        return state.var1, state.var2
    return (_variance_at(state.var1, spatial, second=False),
            _variance_at(state.var2, spatial, second=True))


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------


def _pair_distances(a, b, channels, n_s):
    """``(|x - x'|^2 / C, (|x|^2 - |x'|^2) / C)`` from the differences.

    ``a`` is ``(*S, C, n)``, ``b`` is ``(*S, C, m)``; both results
    ``(*S, n, m)``. ``|x|^2 + |x'|^2 - 2 x . x'`` would cancel for
    near-duplicates (an absolute error ``eps |x|^2``), and so would
    ``|x|^2 - |x'|^2``; ``sum_c (x_c - x'_c)^2`` and ``sum_c (x_c - x'_c)
    (x_c + x'_c)`` keep a relative ``eps``. One pass per channel: no
    ``(n, m, C)`` intermediate.
    """
    dist = dvar = None
    for c in range(channels):
        u = jnp.take(a, c, axis=n_s)[..., :, None]
        v = jnp.take(b, c, axis=n_s)[..., None, :]
        difference = u - v
        dist_term, dvar_term = difference * difference, difference * (u + v)
        dist = dist_term if dist is None else dist + dist_term
        dvar = dvar_term if dvar is None else dvar + dvar_term
    return dist / channels, dvar / channels


#: Input pairs with a correlation above this get their distances from the
#: differences of the rows; the others from the Gram matrix, whose
#: cancellation costs them at most eps / (1 - rho) = 2.2e-15 relative.
_EXACT_INPUT_CORRELATION = 0.9


def _row_distances(x1, x2, nngp, cov1, cov2, same):
    """:func:`_pair_distances` of 2-D rows, at the cost of a Gram matrix.

    Only pairs with ``rho > 0.9`` need the differences of the rows (for the
    others ``|x|^2 + |x'|^2 - 2 x . x'`` loses little); they are gathered,
    at most ``2 n1`` of them (``n1 n2 C`` work when there are more), so that
    a tile with a few near-duplicates costs little more than without.
    """
    n1, n2 = nngp.shape
    channels = x1.shape[1]
    gram_dist = cov1 + cov2 - 2 * nngp
    gram_dvar = jnp.broadcast_to(cov1 - cov2, nngp.shape)
    close = (nngp > 0) & (nngp * nngp > _EXACT_INPUT_CORRELATION**2 * cov1 * cov2)
    if same is not None:
        close = close & ~same  # their distances are 0 (set by the caller)
    budget = 2 * n1

    def gathered(_):
        rows, cols = jnp.nonzero(close, size=budget, fill_value=n1)
        u = jnp.take(x1, rows, axis=0, mode="clip")
        v = jnp.take(x2, cols, axis=0, mode="clip")
        difference = u - v
        exact_dist = jnp.sum(difference * difference, axis=1) / channels
        exact_dvar = jnp.sum(difference * (u + v), axis=1) / channels
        return (gram_dist.at[rows, cols].set(exact_dist, mode="drop"),
                gram_dvar.at[rows, cols].set(exact_dvar, mode="drop"))

    def everywhere(_):
        return _pair_distances(x1.T, x2.T, channels, 0)

    dist, dvar = jax.lax.cond(jnp.sum(close) > budget, everywhere, gathered, None)
    if same is not None:
        dist, dvar = jnp.where(same, 0.0, dist), jnp.where(same, 0.0, dvar)
    return jnp.maximum(dist, 0.0), dvar


def _map_distance(fn, dist):
    return None if dist is None else tuple(fn(part) for part in dist)


class FlatGram(NamedTuple):
    """What the recursion reads of two sets of flat rows, without their width.

    The input covariances ``x . x' / d`` are all the input layer of a
    fully-connected network needs (the width ``d`` enters otherwise only as
    the first layer's fan-in in the "standard" NTK): a recursion program fed
    a ``FlatGram`` serves every ``d``, so data sets and pipelines that
    differ only in their number of features share one XLA compilation of the
    recursion (see :func:`flat_gram`).

    Attributes
    ----------
    nngp : array of shape (n1, n2)
        ``x1 @ x2.T / d``.
    cov1 : array of shape (n1, 1)
        ``sum(x1 ** 2, axis=1) / d``.
    cov2 : array of shape (1, n2)
        ``sum(x2 ** 2, axis=1) / d``.
    channels : scalar
        ``d``, the number of features.
    dist : pair of arrays of shape (n1, n2), or None
        The pairs' squared distances and variance differences at the input
        (see :func:`_row_distances`), for the distance-carrying recursion.
    """

    nngp: jnp.ndarray
    cov1: jnp.ndarray
    cov2: jnp.ndarray
    channels: object
    dist: object = None


def _input_covariances(x1, x2):
    """``x1 @ x2.T / d`` and the rows' ``|x|^2 / d`` (``x2`` None: the
    latter of ``x1`` alone), materialised: XLA's rewrites of the scaling
    stop at the barrier, so that a separate program (:func:`flat_gram`) and
    a whole recursion round them alike."""
    channels = x1.shape[1]
    cov1 = jnp.sum(x1 * x1, axis=1, keepdims=True) / channels
    if x2 is None:
        return _materialise(cov1)
    cov2 = jnp.sum(x2 * x2, axis=1, keepdims=True).T / channels
    return _materialise((x1 @ x2.T / channels, cov1, cov2))


def _flat_distances(x1, x2, grams, ids1, ids2):
    same = None if ids1 is None else same_input_mask(ids1, ids2)
    state = _flat_state(grams, same, False, None)
    return _row_distances(x1, x2, state.nngp, state.var1, state.var2, same)


_covariance_program = jax.jit(_input_covariances)
_distance_program = jax.jit(_flat_distances)


def flat_gram(x1, x2, ids1=None, ids2=None, distances=False, channels=None):
    """The :class:`FlatGram` of the rows ``x1`` (n1, d) and ``x2`` (n2, d).

    Small compiled programs per shape (a GEMM and two row sums; with
    ``distances``, the pairs' distances, ``ids1`` and ``ids2`` being the
    rows' identities as in :func:`same_input_mask`, or both None); the
    recursion that follows is compiled once for every ``d``. Its kernels
    are bit for bit those computed from the rows themselves; with
    ``distances``, whose program fuses them differently, within a few ulps.
    ``channels`` is ``d`` as a JAX scalar of the rows' dtype, made here when
    None (a transfer per call: callers with many tiles make it once).
    """
    if channels is None:
        channels = jnp.asarray(x1.shape[1], dtype=x1.dtype)
    grams = FlatGram(*_covariance_program(x1, x2), channels)
    if distances:
        grams = grams._replace(dist=_distance_program(x1, x2, grams, ids1, ids2))
    return grams


def _row_count(x):
    return x.nngp.shape[0] if isinstance(x, FlatGram) else x.shape[0]


def _row_shape(x):
    """The shape of one row: ``(d,)``, or ``(1,)`` for a :class:`FlatGram`
    (only the number of axes matters to the plan of a flat network)."""
    return (1,) if isinstance(x, FlatGram) else tuple(x.shape[1:])


def _flat_state(grams, same, symmetric, ntk):
    """The input state of flat rows from their :class:`FlatGram` (``nngp``
    None for the diagonal of a kernel)."""
    cov1 = grams.cov1
    if grams.nngp is None:
        var = cov1[:, 0]
        return _State(var, var, var, ntk, (), False, grams.channels, False)
    nngp = grams.nngp
    if symmetric:
        nngp = 0.5 * (nngp + nngp.T)
    if same is not None:
        nngp = jnp.where(same, cov1, nngp)
    return _State(cov1, nngp, grams.cov2, ntk, (), False, grams.channels, False,
                  grams.dist)


def _input_state(x1, x2, same, symmetric, full, compute_ntk, distances=False):
    """The input kernel ``x . x' / C`` in the requested form.

    ``x2`` is None for the diagonal of a kernel (row axes ``(n,)``);
    ``x1`` may be the :class:`FlatGram` of flat rows (``x2`` then None
    too). ``distances`` adds the squared distances ``|x - x'|^2 / C``
    (diagonal form only), computed from the differences (a FlatGram
    carries them).
    """
    ntk = 0.0 if compute_ntk else None
    if isinstance(x1, FlatGram):
        if distances and x1.dist is None:
            raise ValueError("the distance-carrying recursion needs the pairs' "
                             "distances: flat_gram(..., distances=True).")
        return _flat_state(x1, same, symmetric, ntk)
    spatial = tuple(x1.shape[1:-1])
    channels = x1.shape[-1]
    if not spatial:
        # A GEMM, row norms, and on symmetric tiles the average of the GEMM
        # with its transpose: bit for bit a FlatGram's.
        if x2 is None:
            grams = FlatGram(None, _input_covariances(x1, None), None, channels)
            return _flat_state(grams, same, symmetric, ntk)
        grams = FlatGram(*_input_covariances(x1, x2), channels)
        state = _flat_state(grams, same, symmetric, ntk)
        if distances:
            dist = _row_distances(x1, x2, state.nngp, state.var1, state.var2, same)
            state = state._replace(dist=dist)
        return state

    n_s = len(spatial)
    # Rows last: (n, *S, C) -> (*S, C, n).
    rows_last = tuple(range(1, n_s + 2)) + (0,)
    a = jnp.transpose(x1, rows_last)
    if full:
        def cross(u, v):  # (*S, C, n) x (*S, C, m) -> (*S, *S, n, m)
            return jnp.einsum(_full_spec(n_s, "n", "m"), u, v) / channels

        def self_cov(u):  # (*S, *S, n)
            return jnp.einsum(_full_spec(n_s, "n", "n"), u, u) / channels
    else:
        def cross(u, v):
            return jnp.einsum(_diag_spec(n_s, "n", "m"), u, v) / channels

        def self_cov(u):
            return jnp.sum(u * u, axis=n_s) / channels

    var1 = self_cov(a)
    if x2 is None:
        return _State(var1, var1, var1, ntk, spatial, full, channels, False)
    b = jnp.transpose(x2, rows_last)
    var2 = self_cov(b)
    nngp = cross(a, b)
    var1, var2 = var1[..., :, None], var2[..., None, :]
    if same is not None:
        nngp = jnp.where(same, var1, nngp)
    dist = None
    if distances and not full:
        dist = _pair_distances(a, b, channels, n_s)
    return _State(var1, nngp, var2, ntk, spatial, full, channels, False, dist)


_AXES = "abdefg"
_AXES2 = "hkloqr"


def _diag_spec(n_s, row1, row2):
    s = _AXES[:n_s]
    out = s + (row1 + row2 if row1 != row2 else row1)
    return f"{s}c{row1},{s}c{row2}->{out}"


def _full_spec(n_s, row1, row2):
    s, t = _AXES[:n_s], _AXES2[:n_s]
    out = s + t + (row1 + row2 if row1 != row2 else row1)
    return f"{s}c{row1},{t}c{row2}->{out}"


# ---------------------------------------------------------------------------
# Linear layers
# ---------------------------------------------------------------------------


def _is_array(x):
    return x is not None and not isinstance(x, float)


def _pads(size, window, stride, padding):
    """``(lo, hi, out)`` for one spatial axis (lax's SAME/VALID convention)."""
    if padding == "VALID":
        out = (size - window) // stride + 1
        if out < 1:
            raise ValueError(
                f"a window of {window} pixels does not fit in {size} pixels "
                "with padding='VALID'; use padding='SAME' or a smaller "
                "filter/window.")
        return 0, 0, out
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2, out


def _materialise(array):
    # jax.lax.optimization_barrier is public from JAX 0.4.30 on; older JAX
    # (the legacy environment) computes the same values without it.
    barrier = getattr(jax.lax, "optimization_barrier", None)
    return array if barrier is None else barrier(array)


def _window_sum(array, axes, window, stride, padding):
    """Sum of ``window`` shifted slices along the given axes at once.

    ``axes`` holds one axis (diagonal form) or the pair ``(p, p')`` of one
    spatial dimension (full form, where a convolution shifts both).
    """
    # Materialise the input: XLA would otherwise fuse the whole elementwise
    # recursion that produced it into each of the ``window`` shifted reads
    # (``window`` times the arccos work per layer, compounding over layers,
    # and minutes of compilation).
    array = _materialise(array)
    size = array.shape[axes[0]]
    lo, hi, out = _pads(size, window, stride, padding)
    if len(axes) == 1:
        # One axis: XLA's windowed reduction, 1.3-2x faster on CPU than the
        # padded copy and its shifted slices (it reads the input in place),
        # with the same additions in the same order.
        (axis,) = axes
        dimensions, strides = [1] * array.ndim, [1] * array.ndim
        dimensions[axis], strides[axis] = window, stride
        pads = [(0, 0)] * array.ndim
        if padding == "CIRCULAR":
            pads[axis] = (lo, hi)
            array = jnp.pad(array, pads, mode="wrap")
            pads[axis] = (0, 0)
        else:
            pads[axis] = (lo, hi)
        zero = jnp.zeros((), array.dtype)
        return jax.lax.reduce_window(array, zero, jax.lax.add, dimensions, strides,
                                     pads)
    if lo or hi:
        widths = [(0, 0)] * array.ndim
        for axis in axes:
            widths[axis] = (lo, hi)
        mode = "wrap" if padding == "CIRCULAR" else "constant"
        array = jnp.pad(array, widths, mode=mode)
    total = None
    for offset in range(window):
        index = [slice(None)] * array.ndim
        for axis in axes:
            index[axis] = slice(offset, offset + stride * (out - 1) + 1, stride)
        piece = array[tuple(index)]
        total = piece if total is None else total + piece
    return total


def _conv_average(array, state, layer, divide=True):
    """``mean_o array[p + o, p' + o]`` over the filter offsets ``o`` (the
    sum when not ``divide``)."""
    if not _is_array(array):
        return array
    n_s = len(state.spatial)
    strides = layer.strides or (1,) * n_s
    for k in range(n_s):
        axes = (k, n_s + k) if state.full else (k,)
        array = _window_sum(array, axes, layer.filter_shape[k], strides[k],
                            layer.padding)
    return array / math.prod(layer.filter_shape) if divide else array


def _affine(array, w2, b2):
    return w2 * array + b2


def _linear(state, layer, ctx):
    """Dense (per pixel) and Conv: the scales come from ``ctx.scales``."""
    scale = next(ctx.scales)
    w, b = scale[0], scale[1]
    w2 = w * w
    has_bias = layer.b_std is not None
    b2 = b * b if has_bias else 0.0
    if isinstance(layer, L.Conv):
        if len(layer.filter_shape) != len(state.spatial):
            raise ValueError(
                f"{layer!r} has a {len(layer.filter_shape)}-D filter but its "
                f"input has {len(state.spatial)} spatial dimensions "
                f"{state.spatial}; pass images as (N, H, W, C) arrays.")
        mix = functools.partial(_conv_average, state=state, layer=layer)
        fan_in = state.channels * math.prod(layer.filter_shape)
        out_channels = layer.out_chan
        strides = layer.strides or (1,) * len(state.spatial)
        spatial = tuple(_pads(size, f, s, layer.padding)[2] for size, f, s in
                        zip(state.spatial, layer.filter_shape, strides))
    else:
        def mix(array):
            return array
        fan_in = state.channels
        out_channels = layer.out_dim
        spatial = state.spatial
    # A staged convolution passes its NNGP and NTK already averaged.
    mix_pair = (lambda array: array) if getattr(ctx, "premixed", False) else mix
    nngp = mix_pair(state.nngp)
    new_nngp = _affine(nngp, w2, b2)
    ntk = state.ntk
    if ntk is not None:
        if layer.parameterization == "ntk":
            ntk = new_nngp + w2 * mix_pair(ntk)
        else:
            ntk = fan_in * nngp + w2 * mix_pair(ntk) + (1.0 if has_bias else 0.0)
    if ctx.diagonal_batch:
        var1 = var2 = new_nngp
    elif state.var1 is None:  # supplied by the rows' own recursions
        var1 = var2 = None
    else:
        var1 = _affine(mix(state.var1), w2, b2)
        var2 = _affine(mix(state.var2), w2, b2)
    # The bias is common to both rows: it cancels from their distance.
    dist = _map_distance(lambda part: w2 * mix(part), state.dist)
    return _State(var1, new_nngp, var2, ntk, spatial, state.full, out_channels,
                  True, dist)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def _dual_masked(activation, q11, q12, q22, mask):
    """The dual activation, with the exact rho = 1 formula where ``mask``."""
    if mask is None:
        return dual(activation, q11, q12, q22)
    # The general formula is fed a harmless rho = 0 on the masked entries,
    # so that neither its value nor its gradient is NaN there.
    k, k_dot = dual(activation, q11, jnp.where(mask, 0.0, q12), q22)
    k_diag, k_dot_diag = dual_diag(activation, q11)
    return jnp.where(mask, k_diag, k), jnp.where(mask, k_dot_diag, k_dot)


def _activation(state, layer, ctx):
    activation = layer.resolve()
    same = ctx.same
    diagonal_batch = ctx.diagonal_batch
    carried = state.var1 is not None  # else the rows' own recursions
    if not state.full:
        if diagonal_batch:
            k, k_dot = dual_diag(activation, state.nngp)
            var1 = var2 = k
        elif state.dist is not None:
            return _activation_with_distance(state, activation, ctx)
        else:
            q1, q2 = _row_variances(state, ctx)
            k, k_dot = _dual_masked(activation, q1, state.nngp, q2, same)
            var1 = dual_diag(activation, q1)[0] if carried else None
            var2 = dual_diag(activation, q2)[0] if carried else None
    else:
        spatial = state.spatial
        n_rest = state.nngp.ndim - 2 * len(spatial)
        eye = _position_eye(spatial, n_rest)
        q1, q2 = _row_variances(state, ctx)
        if diagonal_batch:
            k, k_dot = _dual_masked(activation, q1, state.nngp, q2, eye)
            var1 = var2 = k
        else:
            mask = None if same is None else eye & same
            k, k_dot = _dual_masked(activation, q1, state.nngp, q2, mask)
            var1 = _self_dual(activation, state.var1, spatial) if carried else None
            var2 = _self_dual(activation, state.var2, spatial) if carried else None
    ntk = None if state.ntk is None else state.ntk * k_dot
    return state._replace(var1=var1, nngp=k, var2=var2, ntk=ntk, is_gaussian=False)


#: Pairs of distinct rows whose correlation ``rho`` has ``1 - rho`` below
#: this (``theta`` below 0.014) at the input or the output of the network
#: make a tile take the distance-carrying recursion (see
#: ``carries_distance``): ``arccos(rho)`` there loses ``eps / theta``
#: (1.6e-14 at the threshold) in ``theta``.
NEAR_DUPLICATE_VERSINE = 1e-4


def has_near_pairs(nngp, var1, var2, same):
    """Whether some pair not in ``same`` has ``1 - rho < NEAR_DUPLICATE_VERSINE``.

    ``nngp`` of shape ``(*spatial, n1, n2)``, ``var1`` ``(*spatial, n1, 1)``,
    ``var2`` ``(*spatial, 1, n2)``; for images ``rho`` is that of the whole
    images (the sums over positions).
    """
    n_s = nngp.ndim - 2
    if n_s:
        axes = tuple(range(n_s))
        nngp, var1, var2 = (jnp.sum(a, axis=axes) for a in (nngp, var1, var2))
    # q12 > (1 - v) sqrt(q11 q22), squared to avoid the square roots.
    near = (nngp > 0) & (nngp * nngp > (1 - NEAR_DUPLICATE_VERSINE) ** 2 * var1 * var2)
    if same is not None:
        near = near & ~same
    return jnp.any(near)


def _activation_with_distance(state, activation, ctx):
    """Diagonal form with the pairs' distances: the angle comes from them."""
    same = ctx.same
    (q11, q22), q12 = _row_variances(state, ctx), state.nngp
    dist, dvar = state.dist
    var1, _ = dual_diag(activation, q11)
    var2, _ = dual_diag(activation, q22)
    if has_distance_form(activation):
        k, k_dot, dist, dvar = dual_distance(activation, q11, q12, q22, dist, dvar)
    else:
        # A smooth dual takes rho linearly (no loss near rho = 1) but has no
        # cancellation-free distance; the next layer gets the plain one.
        k, k_dot = dual(activation, q11, q12, q22)
        dist, dvar = var1 + var2 - 2 * k, var1 - var2
    if same is not None:
        k_diag, k_dot_diag = dual_diag(activation, q11)
        k = jnp.where(same, k_diag, k)
        k_dot = jnp.where(same, k_dot_diag, k_dot)
        dist = jnp.where(same, 0.0, dist)
        dvar = jnp.where(same, 0.0, dvar)
    ntk = None if state.ntk is None else state.ntk * k_dot
    dist = jnp.maximum(dist, 0.0)
    if state.var1 is None:  # the rows' own recursions carry them
        var1 = var2 = None
    return state._replace(var1=var1, nngp=k, var2=var2, ntk=ntk,
                          is_gaussian=False, dist=(dist, dvar))


def _self_dual(activation, var, spatial):
    n_rest = var.ndim - 2 * len(spatial)
    eye = _position_eye(spatial, n_rest)
    q1 = _variance_at(var, spatial, second=False)
    q2 = _variance_at(var, spatial, second=True)
    k, _ = _dual_masked(activation, q1, var, q2, eye)
    return k


# ---------------------------------------------------------------------------
# Pooling and flattening
# ---------------------------------------------------------------------------


def _pool_counts(size, window, stride, padding):
    """Unpadded pixels in each SAME window (for ``normalize_edges``)."""
    lo, hi, out = _pads(size, window, stride, padding)
    ones = np.pad(np.ones(size), (lo, hi))
    return np.array([ones[o * stride:o * stride + window].sum() for o in range(out)])


def _avg_pool(state, layer, ctx):
    if not state.spatial:
        raise ValueError(
            f"{layer!r} needs images, but its input has no spatial dimensions "
            "(after Flatten or GlobalAvgPool, or 2-D X); remove it or move it "
            "before those layers.")
    if len(layer.window_shape) != len(state.spatial):
        raise ValueError(
            f"{layer!r} has a {len(layer.window_shape)}-D window but its input "
            f"has {len(state.spatial)} spatial dimensions {state.spatial}.")
    n_s = len(state.spatial)
    strides = layer.strides or (1,) * n_s
    padding = layer.padding
    spatial = tuple(_pads(size, f, s, padding)[2] for size, f, s in
                    zip(state.spatial, layer.window_shape, strides))
    scale = np.ones(tuple(spatial) * 2)
    for k in range(n_s):
        if layer.normalize_edges and padding == "SAME":
            counts = _pool_counts(state.spatial[k], layer.window_shape[k],
                                  strides[k], padding)
        else:
            counts = np.full(spatial[k], float(layer.window_shape[k]))
        shape1 = [1] * (2 * n_s)
        shape1[k] = spatial[k]
        shape2 = [1] * (2 * n_s)
        shape2[n_s + k] = spatial[k]
        scale = scale * counts.reshape(shape1) * counts.reshape(shape2)

    def pool(array):
        if not _is_array(array):
            return array
        for k in range(n_s):
            for axis in (k, n_s + k):  # a separable box: f + f additions
                array = _window_sum(array, (axis,), layer.window_shape[k],
                                    strides[k], padding)
        n_rest = array.ndim - 2 * n_s
        return array / jnp.asarray(scale.reshape(scale.shape + (1,) * n_rest),
                                   array.dtype)

    if ctx.diagonal_batch:
        nngp = var1 = var2 = pool(state.nngp)
    else:
        var1, nngp, var2 = pool(state.var1), pool(state.nngp), pool(state.var2)
    return state._replace(var1=var1, nngp=nngp, var2=var2,
                          ntk=pool(state.ntk), spatial=spatial)


def _reduce_spatial(state, reduce, diagonal_batch):
    def apply(array):
        return reduce(array) if _is_array(array) else array

    if diagonal_batch:
        nngp = var1 = var2 = apply(state.nngp)
    else:
        var1, nngp, var2 = apply(state.var1), apply(state.nngp), apply(state.var2)
    dist = None if state.full else _map_distance(apply, state.dist)
    return state._replace(var1=var1, nngp=nngp, var2=var2,
                          ntk=apply(state.ntk), spatial=(), full=False, dist=dist)


def _mean_leading(array, n_axes):
    """The mean of ``array`` over its ``n_axes`` leading (spatial) axes.

    A product with a vector of ones: XLA's CPU reduction over leading axes
    walks each output entry's column apart (a cache line per addend), 5x
    slower than the matrix-vector product for case (a) of
    ``bench_conv_kernels``.
    """
    size = math.prod(array.shape[:n_axes])
    rest = array.shape[n_axes:]
    ones = jnp.ones((size,), array.dtype)
    total = jnp.tensordot(ones, array.reshape((size,) + (-1,) * bool(rest)), 1)
    return total.reshape(rest) / size


def _global_avg_pool(state, layer, ctx):
    if not state.spatial:
        return state
    n_axes = _n_spatial_axes(state)
    return _reduce_spatial(state, lambda a: _mean_leading(a, n_axes),
                           ctx.diagonal_batch)


def _flatten(state, layer, ctx):
    if not state.spatial:
        return state
    channels = state.channels * math.prod(state.spatial)
    if state.full:
        state = _to_diagonal(state)
    n_axes = len(state.spatial)
    return _reduce_spatial(state, lambda a: _mean_leading(a, n_axes),
                           ctx.diagonal_batch)._replace(channels=channels)


# ---------------------------------------------------------------------------
# Branches
# ---------------------------------------------------------------------------


def _fan_in_sum(states, layer, ctx):
    if len(states) > 1 and not all(s.is_gaussian for s in states):
        raise ValueError(
            "FanInSum: every branch must end in a Dense or Conv layer (a "
            "mean-zero Gaussian, as neural-tangents requires); the branches "
            "end in "
            f"{['Dense/Conv' if s.is_gaussian else 'an activation or the input' for s in states]}. "
            "Add a Dense/Conv at the end of each other branch (an Identity "
            "branch carries what precedes FanOut: if that is the network's "
            "input or an activation, put a Dense/Conv before FanOut).")
    if len({s.spatial for s in states}) > 1:
        raise ValueError(
            f"FanInSum: the branches have different spatial shapes "
            f"{[s.spatial for s in states]}; use SAME padding and equal "
            "strides in every branch.")
    if any(s.full for s in states) and not all(s.full for s in states):
        states = [_to_diagonal(s) for s in states]
    first = states[0]

    def total(name):
        values = [getattr(s, name) for s in states]
        if values[0] is None:
            return None
        out = values[0]
        for value in values[1:]:
            out = out + value
        return out

    nngp = total("nngp")
    if ctx.diagonal_batch:
        var1 = var2 = nngp
    else:
        var1, var2 = total("var1"), total("var2")
    # Independent Gaussian branches: their squared distances add too.
    dist = None
    if all(s.dist is not None for s in states):
        dist = tuple(sum(s.dist[i] for s in states[1:]) + states[0].dist[i]
                     for i in range(2))
    return first._replace(var1=var1, nngp=nngp, var2=var2,
                          ntk=total("ntk"), dist=dist,
                          is_gaussian=all(s.is_gaussian for s in states))


_LEAF_RULES = {
    L.Dense: _linear,
    L.Conv: _linear,
    L.AvgPool: _avg_pool,
    L.GlobalAvgPool: _global_avg_pool,
    L.Flatten: _flatten,
}


def _leaf(state, layer, ctx):
    """One layer without branches: an activation or a rule of ``_LEAF_RULES``."""
    if isinstance(layer, L._ActivationLayer):
        return _activation(state, layer, ctx)
    rule = _LEAF_RULES.get(type(layer))
    if rule is None:
        raise TypeError(f"{layer!r} is not a layer of sklearn_ntk.layers.")
    return rule(state, layer, ctx)


def _apply(layer, states, ctx):
    """Fold ``layer`` over the list of branch states."""
    if isinstance(layer, L.Serial):
        for sub in layer.layers:
            states = _apply(sub, states, ctx)
        return states
    if isinstance(layer, L.Repeat):
        return _repeat(layer, states, ctx)
    if isinstance(layer, L.Parallel):
        if len(layer.layers) != len(states):
            raise ValueError(
                f"parallel with {len(layer.layers)} layers got {len(states)} "
                "branches; put FanOut(n) with the same n before it.")
        out = []
        for sub, state in zip(layer.layers, states):
            out += _apply(sub, [state], ctx)
        return out
    ctx.index += 1
    if isinstance(layer, L.FanOut):
        _single(states, layer)
        return list(states) * layer.num
    if isinstance(layer, L.FanInSum):
        return [_fan_in_sum(states, layer, ctx)]
    state = _single(states, layer)
    if state.full and ctx.index > ctx.last_pool:
        state = _to_diagonal(state)  # nothing mixes positions any more
    if isinstance(layer, L.Identity):
        return [state]
    out = _leaf(state, layer, ctx)
    if ctx.record is not None:
        ctx.record.append((layer, out))
    return [out]


#: A :func:`~sklearn_ntk.layers.repeat` of up to this many applications is
#: unrolled into one program, which fuses its layers; more run as a loop
#: (``lax.scan``) over one compiled application, whose compilation time does
#: not grow with ``n`` (unrolled, it grows faster than linearly: about 2 s
#: at 20 Dense + ReLU layers, 8 s at 40, minutes at 100).
UNROLLED_REPEATS = 8

#: The fields of a :class:`_State` that a loop over repetitions carries
#: (where they are arrays); the others are static.
_CARRIED = ("var1", "nngp", "var2", "ntk", "dist")


class _NotRepeatable(Exception):
    """An application of a repeated layer changed the state's form."""


def _split_state(state):
    """``(arrays, static)``: the arrays a loop carries, and the rest."""
    arrays, static = {}, {}
    for name, value in state._asdict().items():
        carried = name in _CARRIED and value is not None and (
            name == "dist" or _is_array(value))
        (arrays if carried else static)[name] = value
    return arrays, static


def _strong(tree):
    """``tree``'s arrays with strong dtypes (a loop's carry must keep its type)."""
    return jax.tree_util.tree_map(
        lambda a: jax.lax.convert_element_type(a, jnp.result_type(a)), tree)


def _repeat(layer, states, ctx):
    """Fold ``layer.layer`` over ``states`` ``layer.n`` times.

    The first application runs inline (it may change the state's form: the
    NTK's 0 becomes an array, a full form becomes diagonal); the other
    ``n - 1`` are one ``lax.scan`` over a single traced application, which
    carries the state's arrays and takes each application's scales as its
    input. Unrolled where that cannot hold: few repetitions, full
    (position-pair) states, or an application that changes the state's form
    or shapes.
    """
    body, n = layer.layer, layer.n
    if n <= UNROLLED_REPEATS:
        for _ in range(n):
            states = _apply(body, states, ctx)
        return states
    states = _apply(body, states, ctx)
    per_leaves = sum(1 for _ in _leaves(body))
    per_linear = sum(isinstance(leaf, _LINEAR) for leaf in _leaves(body))
    start = ctx.scales.position
    scales = ctx.scales.take((n - 1) * per_linear)
    record = None if ctx.record is None else []
    try:
        if any(state.full for state in states):
            raise _NotRepeatable
        states = _scan_repeats(body, states, scales, n - 1, per_linear, ctx, record)
    except _NotRepeatable:
        ctx.scales.position = start
        for _ in range(n - 1):
            states = _apply(body, states, ctx)
        return states
    ctx.index += (n - 1) * per_leaves
    if record is not None:  # every application has the traced one's shapes
        ctx.record.extend(record * (n - 1))
    return states


def _scan_repeats(body, states, scales, length, per_linear, ctx, record):
    """``length`` applications of ``body`` as one ``lax.scan`` (see
    :func:`_repeat`), the rows ``scales`` of shape ``(length * per_linear,
    2)`` read ``per_linear`` per application; raises
    :class:`_NotRepeatable` if an application changes the form or the
    shapes of the states. ``record``: a list for the layers of the traced
    application, or None."""
    split = [_split_state(state) for state in states]
    carry = _strong([arrays for arrays, _ in split])
    statics = [static for _, static in split]
    scales = scales.reshape(length, per_linear, 2) if per_linear else None

    def step(carry, step_scales):
        sub = _Context([] if step_scales is None else step_scales,
                       ctx.same, ctx.last_pool, ctx.diagonal_batch, record)
        sub.index = ctx.index
        inputs = [_State(**arrays, **static) for arrays, static in zip(carry, statics)]
        outputs = _apply(body, inputs, sub)
        out_split = [_split_state(state) for state in outputs]
        out_carry = _strong([arrays for arrays, _ in out_split])
        same_form = ([static for _, static in out_split] == statics
                     and jax.tree_util.tree_structure(out_carry)
                     == jax.tree_util.tree_structure(carry)
                     and all(o.shape == i.shape and o.dtype == i.dtype
                             for o, i in zip(jax.tree_util.tree_leaves(out_carry),
                                             jax.tree_util.tree_leaves(carry))))
        if not same_form:
            raise _NotRepeatable
        return out_carry, None

    carry, _ = jax.lax.scan(step, carry, scales, length=length)
    return [_State(**arrays, **static) for arrays, static in zip(carry, statics)]


def _single(states, layer):
    if len(states) != 1:
        raise ValueError(
            f"{layer!r} got {len(states)} branches; combine them first with "
            "FanInSum() (or apply one layer per branch with parallel(...)).")
    return states[0]


def _last_pool(net):
    last = -1
    for index, layer in enumerate(_leaves(net)):
        if isinstance(layer, _POOLS):
            last = index
    return last


def _run(net, scales, x1, x2, same, symmetric, compute_ntk, record=None,
         distances=False, watch_near=False):
    last_pool = _last_pool(net)
    full = last_pool >= 0 and len(_row_shape(x1)) > 1
    state = _input_state(x1, x2, same, symmetric, full, compute_ntk, distances)
    # Watched at the input and the output only: one pass over arrays that
    # exist anyway (a reduction inside the fused recursion doubled its
    # time). ReLU-family activations and Dense/Conv layers with a bias only
    # increase the correlation of a pair (sin t - t cos t >= 0), so the
    # output sees every pair that came near on the way; sign-like layers
    # (theta -> ~sqrt(theta)) see their closest pairs at the input.
    near = None
    if watch_near:
        near = has_near_pairs(state.nngp, state.var1, state.var2, same)
    diagonal = x2 is None and not isinstance(x1, FlatGram)
    ctx = _Context(scales, same, last_pool, diagonal, record)
    (state,) = _apply(net, [state], ctx)
    if state.spatial:
        raise ValueError(
            f"the network's output still has spatial dimensions {state.spatial}; "
            "end it with Flatten() or GlobalAvgPool() (then Dense(1)), as a "
            "stax network whose kernel is a matrix does.")
    ntk = state.ntk
    if ntk is not None and not _is_array(ntk):
        ntk = jnp.zeros_like(state.nngp)  # no linear layer: Theta = 0
    if watch_near:
        return state.nngp, ntk, near, (state.var1, state.var2)
    return state.nngp, ntk


def carries_distance(net, row_shape):
    """Whether :func:`net_kernels` can carry pair distances through ``net``.

    Near-duplicate rows lose ``eps / theta`` in the angle ``theta =
    arccos(rho)`` of each arc-cosine activation (ReLU, LeakyRelu, ABRelu,
    Abs, Sign, RectifiedMonomial), because ``1 - rho`` is all rounding
    there. Carrying the squared distance ``E[(u - v)^2]`` of every pair
    (from the input differences, linear through Dense and Conv, the bias
    cancelling, and through each arc-cosine activation by a
    cancellation-free closed form) gives the angle to a few ulps instead.
    That needs such an activation and the diagonal spatial form: with
    pooling, the pooled distance would need the covariances of the
    difference field between positions, which an activation maps through a
    four-variate expectation without a closed form.
    """
    if _last_pool(net) >= 0 and len(row_shape) > 1:
        return False
    return any(isinstance(layer, L._ActivationLayer)
               and has_distance_form(layer.resolve()) for layer in _leaves(net))


def net_kernels(x1, x2, scales, *, net, compute_ntk=True, symmetric=False, same=None,
                distances=False, watch_near=False):
    """NNGP and NTK of ``net`` between the rows of ``x1`` and ``x2``.

    Parameters
    ----------
    x1 : jax array of shape (n1, d) or (n1, *spatial, channels), or FlatGram
        The rows, or the :class:`FlatGram` of flat rows ``x1`` and ``x2``
        (then ``x2`` is None; with ``distances``, one made by
        ``flat_gram(..., distances=True)``): the compiled recursion then
        serves every number of features.
    x2 : jax array of the same trailing shape, (n2, ...), or None
    scales : array of shape (n_linear_layers, 2) or sequence of pairs
        ``(W_std, b_std)`` of the linear layers in order (see
        :func:`split_scales`); may be traced.
    net : Layer
        The skeleton (static).
    compute_ntk : bool
    symmetric : bool
        ``x1`` and ``x2`` are the same rows in the same order.
    same : bool array of shape (n1, n2) or None
        Pairs known to be the same input: exact ``rho = 1`` there.
    distances : bool, default=False
        Carry the pairs' squared distances and take each arc-cosine
        activation's angle from them: accurate for near-duplicates, at the
        price of ``n1 n2 C`` input differences (see :func:`carries_distance`;
        a no-op where that is False).
    watch_near : bool, default=False
        Also return whether some pair not in ``same`` has ``1 - rho <
        NEAR_DUPLICATE_VERSINE`` at the input, and the output variances
        ``(var1, var2)`` for the same check on the output (see
        :func:`has_near_pairs`; ignored with ``distances``; False and None
        where :func:`carries_distance` is False).

    Returns
    -------
    nngp, ntk : jax arrays of shape (n1, n2) (ntk None if not computed)
    near, (var1, var2) : only with ``watch_near``
    """
    if same is None and symmetric:
        same = jnp.eye(_row_count(x1), dtype=bool)
    carry = carries_distance(net, _row_shape(x1))
    watch = watch_near and carry and not distances
    out = _run(net, scales, x1, x2, same, symmetric, compute_ntk,
               distances=distances and carry, watch_near=watch)
    if watch_near and not watch:
        out = out + (jnp.zeros((), dtype=bool), None)
    return out


def net_diagonals(x, scales, *, net):
    """``diag`` of the NNGP and NTK of ``net`` on ``x`` with itself, O(n).

    Returns
    -------
    nngp_diag, ntk_diag : jax arrays of shape (n,)
    """
    return _run(net, scales, x, None, None, False, True)


class _ScaleRows:
    """The ``(W_std, b_std)`` rows of the linear layers, read in order:
    ``next`` gives one row, :meth:`take` a block of rows as one array
    (a loop over repetitions reads its rows as its input)."""

    def __init__(self, scales):
        self.scales = scales
        self.position = 0

    def __iter__(self):
        return self

    def __next__(self):
        row = self.scales[self.position]
        self.position += 1
        return row

    def take(self, count):
        """The next ``count`` rows, shape ``(count, 2)`` (None if 0)."""
        if not count:
            return None
        block = self.scales[self.position:self.position + count]
        self.position += count
        return jnp.stack(block) if isinstance(block, (list, tuple)) else block


def _rows(scales):
    return scales if isinstance(scales, _ScaleRows) else _ScaleRows(scales)


# ---------------------------------------------------------------------------
# The fully-connected arguments (depth, activation, ...): one case of the engine
# ---------------------------------------------------------------------------


def same_input_mask(ids1, ids2):
    """``(n1, n2)`` boolean mask of the pairs of identical input rows.

    ``ids1`` and ``ids2`` are integer row identities from one numbering
    (equal ids if and only if the rows are equal, computed exactly, e.g. by
    ``np.unique(..., return_inverse=True)``); see :func:`net_kernels`.
    """
    return ids1[:, None] == ids2[None, :]


def kernel_recursion(
    x1, x2, weight_std, bias_std, *, architecture, compute_ntk=True, symmetric=False,
    same_input=None,
):
    """NNGP and NTK of the MLP ``architecture`` between the rows of ``x1``, ``x2``.

    The same engine as every other network (:func:`net_kernels` on
    :func:`mlp_net`), with ``weight_std`` and ``bias_std`` possibly traced
    (the GP kernels differentiate with respect to them).

    Parameters
    ----------
    x1 : jax array of shape (n1, d)
    x2 : jax array of shape (n2, d)
    weight_std, bias_std : float or traced scalar
    architecture : Architecture
    compute_ntk : bool
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
    return net_kernels(x1, x2, _mlp_scales(architecture, weight_std, bias_std),
                       net=mlp_net(architecture), compute_ntk=compute_ntk,
                       symmetric=symmetric, same=same_input)


def diagonal_recursion(x, weight_std, bias_std, *, architecture):
    """``diag(NNGP(x, x))`` and ``diag(NTK(x, x))`` of the MLP, in O(n).

    Parameters
    ----------
    x : jax array of shape (n, d)

    Returns
    -------
    nngp_diag, ntk_diag : jax arrays of shape (n,)
    """
    return net_diagonals(x, _mlp_scales(architecture, weight_std, bias_std),
                         net=mlp_net(architecture))


# ---------------------------------------------------------------------------
# Requirements and cost, computed once per network and input shape
# ---------------------------------------------------------------------------


class Plan(NamedTuple):
    """What a network costs per pair of inputs, from one abstract trace.

    Attributes
    ----------
    full_form : bool
        Whether any layer carries full (position-pair) covariances.
    entries_per_pair : int
        Largest number of covariance entries a pair carries at once
        (``HW`` in the diagonal form, ``(HW)^2`` in the full form).
    activation_entries : int
        Dual-activation evaluations per pair, summed over layers.
    linear_entries : int
        Entries summed by convolutions and pooling per pair.
    """

    full_form: bool
    entries_per_pair: int
    activation_entries: int
    linear_entries: int


@functools.lru_cache(maxsize=256)
def plan(net, row_shape, compute_ntk=True):
    """The :class:`Plan` of the skeleton ``net`` on rows of shape ``row_shape``.

    Runs the engine abstractly (``jax.eval_shape``, nothing allocated) on
    one pair of rows, so that every structural error surfaces here, before
    any kernel is allocated.
    """
    record = []
    n_linear = sum(isinstance(layer, _LINEAR) for layer in _leaves(net))
    x = jax.ShapeDtypeStruct((1,) + tuple(row_shape), jnp.float32)
    scales = jax.ShapeDtypeStruct((max(n_linear, 1), 2), jnp.float32)

    def run(a, b, s):
        return _run(net, s, a, b, None, False, compute_ntk, record)

    jax.eval_shape(run, x, x, scales)
    entries = math.prod(row_shape[:-1]) if len(row_shape) > 1 else 1
    full = _last_pool(net) >= 0 and len(row_shape) > 1
    entries = entries * entries if full else entries
    activation_entries = linear_entries = 0
    for layer, state in record:
        size = math.prod(state.nngp.shape)
        entries = max(entries, size)
        if isinstance(layer, L._ActivationLayer):
            activation_entries += size
        elif isinstance(layer, (L.Conv, L.AvgPool)):
            window = getattr(layer, "filter_shape", None) or layer.window_shape
            linear_entries += size * sum(window)
    return Plan(full, entries, activation_entries, linear_entries)


# ---------------------------------------------------------------------------
# Staged execution: one compiled program per segment of layers (images)
# ---------------------------------------------------------------------------
#
# Compiled as one program, an image network's recursion runs 2-3x slower on
# CPU than in stages, and compiles for tens of seconds: XLA's CPU backend
# fuses each convolution's shifted reads into every consumer loop
# (recomputing the activation that produced them, once per shift), splits
# an activation's NNGP and NTK into sibling loops that each evaluate the
# shared square roots and arc-cosines, and ignores optimisation barriers.
# So a tile runs as a few programs, one per *segment*: the layers from one
# position-mixing layer (Conv, AvgPool) up to the next one, or up to a
# Flatten/GlobalAvgPool (see :func:`_segments`). Each program reads its
# predecessor's materialised output, so every shifted read reads memory,
# and the activation after a convolution runs in the loop that sums the
# last shifts (no array between them). The NNGP and NTK travel between
# programs as one complex array ``nngp + 1j * ntk``, so that the one loop
# writing it evaluates each square root and arc-cosine once (a complex
# element needs both parts in the same iteration). Identical segments on
# identical shapes share one compiled program, so the last two
# [Conv, ReLU] of a 3-layer CNN compile once. Each program donates its
# input to its output where their shapes agree: the buffers are recycled
# instead of freshly mapped (page faults had cost a third of the time).
# The values are those of :func:`net_kernels` (the same layer rules; only
# where arrays are stored, and the order of a few additions, differ).
#
# A tile carries only its pairs. Each activation reads its rows' variances
# (the self-covariances at equal positions), which :func:`row_variances`
# computes once per row, with the same layer rules in the diagonal batch;
# the full self-covariances that pooling needs live only there. Carried in
# every tile instead, a 4 x 4 tile of full-form pairs propagated the full
# self-covariances of its 8 rows beside its 16 pairs.

#: How the NTK travels between stages: absent (not computed), the float 0
#: before the first linear layer, or packed with the NNGP.
_NTK_ABSENT, _NTK_ZERO, _NTK_PACKED = "absent", "zero", "packed"


def is_chain(net):
    """Whether ``net`` is a plain chain of layers (no residual branches),
    the networks :func:`net_kernels_staged` runs."""
    if isinstance(net, L.Serial):
        return all(is_chain(sub) for sub in net.layers)
    if isinstance(net, L.Repeat):
        return is_chain(net.layer)
    return not isinstance(net, (L.Parallel, L.FanOut, L.FanInSum))


def _state_from(var1, pair, var2, dist, ntk_kind, static):
    if ntk_kind == _NTK_PACKED:
        nngp, ntk = jnp.real(pair), jnp.imag(pair)
    else:
        nngp, ntk = pair, (0.0 if ntk_kind == _NTK_ZERO else None)
    if dist is not None:  # packed like the kernels: dist + 1j * dvar
        dist = (jnp.real(dist), jnp.imag(dist))
    spatial, full, channels, is_gaussian = static
    return _State(var1=var1, nngp=nngp, var2=var2, ntk=ntk, spatial=spatial,
                  full=full, channels=channels, is_gaussian=is_gaussian,
                  dist=dist)


def _pack(state):
    """``(pair, dist)`` and the static description of ``state``."""
    if state.ntk is None:
        kind, pair = _NTK_ABSENT, state.nngp
    elif not _is_array(state.ntk):
        kind, pair = _NTK_ZERO, state.nngp
    else:
        kind, pair = _NTK_PACKED, jax.lax.complex(state.nngp, state.ntk)
    dist = None if state.dist is None else jax.lax.complex(*state.dist)
    static = (state.spatial, state.full, state.channels, state.is_gaussian)
    return (pair, dist), kind, static


def _own_outputs(state):
    """``(cov, variances)`` of a state of rows with themselves (the diagonal
    batch, whose ``nngp`` is their covariance): the covariances, and their
    diagonal-form variances ``(*spatial, n)``.

    The covariances are materialised before the diagonal is read: XLA's CPU
    backend otherwise fuses both outputs into one loop that ran 4-20x
    slower than the two apart.
    """
    cov = _materialise(state.nngp)
    if state.full:
        return cov, _diagonal_positions(cov, state.spatial)
    return cov, cov


#: Output description of each compiled stage, recorded while it is traced.
_STAGE_OUTPUTS = {}


@functools.partial(jax.jit, static_argnames=("layer", "static", "diagonalise"))
def _own_stage(cov, variances, scale, *, layer, static, diagonalise):
    """One layer of each row with itself (the diagonal batch, no NTK): the
    rows' covariances ``cov`` at the layer's output and their variances.

    The variances at the input come in materialised (``(*spatial, n)``):
    read from the full form inside the activation's loop, they cost that
    loop a gather per element (about 4x its time on CPU).
    """
    state = _state_from(None, cov, None, None, _NTK_ABSENT, static)
    if diagonalise:
        state = _to_diagonal(state)
    ctx = _Context([scale], None, -1, True, variances=(variances, variances))
    out = _leaf(state, layer, ctx)
    _, _, out_static = _pack(out)
    _STAGE_OUTPUTS[("own", layer, static, diagonalise)] = out_static
    return _own_outputs(out)


@functools.partial(jax.jit, static_argnames=("full",))
def _own_input_stage(x, *, full):
    return _own_outputs(_input_state(x, None, None, False, full, False))


def _pair_axes(variances1, variances2):
    """Rows' variances ``(*spatial, n1)``, ``(*spatial, n2)`` as ``(*spatial,
    n1, 1)``, ``(*spatial, 1, n2)``: broadcastable against their pairs."""
    return variances1[..., :, None], variances2[..., None, :]


def _chain_layers(net, scales):
    """``(index, layer, scale)`` of the layers a staged run executes."""
    rows = _rows(scales)
    for index, layer in enumerate(_leaves(net)):
        if isinstance(layer, L.Identity):
            continue
        yield index, layer, (next(rows) if isinstance(layer, _LINEAR) else None)


#: Layers that mix positions: a segment's shifted reads must read memory.
_MIXING = (L.Conv, L.AvgPool)
#: Layers that reduce positions: they read a materialised array too (a
#: reduction fused into the activation's loop ran 3x slower than the two).
_REDUCING = (L.Flatten, L.GlobalAvgPool)


def _segments(steps):
    """Split the executed layers ``steps`` into the programs of a staged run.

    A program ends before each layer that mixes or reduces positions
    (Conv, AvgPool, Flatten, GlobalAvgPool), so that its shifted or
    strided reads read the previous program's output instead of
    recomputing, once per read, the activation that produced it. The first
    program starts with the input covariance, a product of the images that
    is cheap to recompute, so it also holds the first such layer.
    """
    segments = [[]]
    for step in steps:
        if isinstance(step[1], _MIXING + _REDUCING) and segments[-1]:
            segments.append([])
        segments[-1].append(step)
    return segments


def _segment(source, dist, scales, variances, same, near, *, steps, start, static,
             ntk_kind, last_pool, watch):
    """Several layers of a tile's pairs, one program (see :func:`_segments`).

    ``source``: the images ``(x1, x2)`` when ``start`` is ``(full,
    compute_ntk, distances)`` (the first program, ``static`` then
    describing the images), else the previous program's packed pairs. ``scales`` and ``variances`` hold one entry per
    step: its ``(W_std, b_std)`` row and its rows' variances at its input,
    ``((*spatial, n1), (*spatial, n2))`` (None where the layer reads none).
    ``watch``: whether to check for near-duplicate pairs at the input (in
    the first program) and at the output (in the last, ``variances`` then
    ends with the output's); ``near`` is the flag so far (None at first).

    Returns
    -------
    (pair, dist), near
    """
    if start is not None:
        full, compute_ntk, distances = start
        state = _input_state(*source, same, False, full, compute_ntk, distances)
        packed = None
        if watch[0]:
            near = has_near_pairs(state.nngp, *_pair_axes(*variances[0]), same)
    else:
        state = _state_from(None, source, None, dist, ntk_kind, static)
        packed = source if ntk_kind == _NTK_PACKED else None
    for (index, layer), scale, pair_variances in zip(steps, scales, variances):
        if state.full and index > last_pool:
            state, packed = _to_diagonal(state), None  # nothing mixes positions
        ctx = _Context([scale], same, -1, False)
        if pair_variances is not None:
            ctx.variances = _pair_axes(*pair_variances)
        if isinstance(layer, (L.Conv,) + _REDUCING) and _is_array(state.ntk):
            # Sum (or reduce) the NNGP and NTK as one complex array: a
            # complex addition adds both parts, one loop reads each element
            # once.
            if packed is None:
                packed = jax.lax.complex(state.nngp, state.ntk)
            state = _packed_leaf(state, packed, layer, ctx)
        else:
            state = _leaf(state, layer, ctx)
        packed = None
    if watch[1]:
        flag = has_near_pairs(state.nngp, *_pair_axes(*variances[-1]), same)
        near = flag if near is None else near | flag
    arrays, kind, out_static = _pack(state)
    _STAGE_OUTPUTS[(steps, start, static, ntk_kind, last_pool)] = (kind, out_static)
    return arrays, near


def _packed_leaf(state, packed, layer, ctx):
    """A Conv, Flatten or GlobalAvgPool of ``state`` whose NNGP and NTK are
    ``packed`` as ``nngp + 1j * ntk``."""
    if isinstance(layer, L.Conv):
        summed = _conv_average(packed, state, layer, divide=False)
        count = math.prod(layer.filter_shape)
        ctx.premixed = True
        return _linear(state._replace(nngp=jnp.real(summed) / count,
                                      ntk=jnp.imag(summed) / count), layer, ctx)
    reduced = _leaf(state._replace(nngp=packed, ntk=None), layer, ctx)
    return reduced._replace(nngp=jnp.real(reduced.nngp), ntk=jnp.imag(reduced.nngp))


_SEGMENT_STATIC = ("steps", "start", "static", "ntk_kind", "last_pool", "watch")
_segment_program = jax.jit(_segment, static_argnames=_SEGMENT_STATIC)
#: The same program, its ``source`` donated to its output (see the section
#: comment; only where the two have one shape).
_segment_program_donating = jax.jit(_segment, static_argnames=_SEGMENT_STATIC,
                                    donate_argnames=("source",))


def _donates(args, kwargs):
    """Whether the segment's output can take its input's buffer: same
    spatial form and NTK packing (recorded when the segment is traced; an
    abstract trace the first time, no compilation)."""
    key = tuple(kwargs[name] for name in ("steps", "start", "static", "ntk_kind",
                                          "last_pool"))
    if key not in _STAGE_OUTPUTS:
        jax.eval_shape(functools.partial(_segment, **kwargs), *args)
    kind, out_static = _STAGE_OUTPUTS[key]
    return kind == kwargs["ntk_kind"] and out_static[:2] == kwargs["static"][:2]


def staged_pairs(x1, x2, scales, *, net, compute_ntk, same, distances, watch,
                 variances):
    """The staged run of the chain ``net`` on a tile (see
    :func:`net_kernels_staged`, whose arguments these are; ``watch``: run
    the near-duplicate check).

    Returns
    -------
    pair : jax array of shape (n1, n2)
        ``nngp + 1j * ntk`` (``kind`` "packed"), or the NNGP alone.
    kind : str
        How the NTK travels (see ``_NTK_PACKED``).
    static : tuple
        The output's static description (its spatial shape first).
    near : jax bool scalar or None
    """
    variances1, variances2 = variances
    last_pool = _last_pool(net)
    full = last_pool >= 0 and x1.ndim > 2
    segments = _segments(list(_chain_layers(net, scales)))
    source, dist, near = (x1, x2), None, None
    # The input's description keys the first program too (its outputs'
    # shapes follow from the images').
    kind, static = None, (tuple(x1.shape[1:-1]), full, x1.shape[-1], False)
    step = 0
    for number, segment in enumerate(segments):
        last = number == len(segments) - 1
        reads = [None if variances1[k] is None else (variances1[k], variances2[k])
                 for k in range(step, step + len(segment))]
        if not segment and watch:  # no layers: the input's variances
            reads.append((variances1[0], variances2[0]))
        if last and watch:
            reads.append((variances1[-1], variances2[-1]))
        step += len(segment)
        kwargs = dict(steps=tuple((index, layer) for index, layer, _ in segment),
                      start=None if number else (full, compute_ntk, distances),
                      static=static, ntk_kind=kind, last_pool=last_pool,
                      watch=(watch and not number, watch and last))
        args = (source, dist, tuple(scale for _, _, scale in segment), tuple(reads),
                same, near)
        program = _segment_program
        if number and _donates(args, kwargs):
            program = _segment_program_donating
        (source, dist), near = program(*args, **kwargs)
        kind, static = _STAGE_OUTPUTS[tuple(
            kwargs[name] for name in ("steps", "start", "static", "ntk_kind",
                                      "last_pool"))]
    if static[0]:
        raise ValueError(
            f"the network's output still has spatial dimensions {static[0]}; "
            "end it with Flatten() or GlobalAvgPool() (then Dense(1)), as a "
            "stax network whose kernel is a matrix does.")
    return source, dist, kind, static, near


def row_variances(x, scales, *, net):
    """Each row's variances at the input of every layer of the chain ``net``
    and at its output, from the row's own recursion, one compiled program
    per layer (its arrays are a tile's rows, not its pairs: small); call it
    outside ``jax.jit``.

    A pair's recursion reads its rows' covariances only at equal positions:
    each activation takes the variances ``q11[p]`` and ``q22[p']``. A row's
    full self-covariance (position pairs) is needed only to carry its own
    variances through pooling, which averages over pairs of positions. So
    it is computed once per row here (``n`` self-recursions), and each tile
    that holds the row reads the variances instead of propagating its rows'
    full self-covariances (which cost a 4 x 4 tile of full-form pairs a
    third of its work).

    Parameters
    ----------
    x : jax array of shape (n, *spatial, channels)
    scales : array of shape (n_linear_layers, 2)
    net : Layer
        The skeleton, a chain of layers (:func:`is_chain`).

    Returns
    -------
    tuple of jax arrays or None
        The variances at the input of each executed layer (Identity layers
        are skipped), of shape ``(*spatial_k, n)`` with that layer's input
        positions, then those of the output, of shape ``(n,)``; None where
        nothing reads them (the recursion stops after the last reader).
    """
    layers = list(_chain_layers(net, scales))
    # The activations read them, and so does the near-duplicate watch at
    # the input and the output where distances are carried.
    watch = carries_distance(net, x.shape[1:])
    reads = [isinstance(layer, L._ActivationLayer) for _, layer, _ in layers]
    reads = [reads[0] or watch] + reads[1:] + [watch] if layers else [watch]
    last_pool = _last_pool(net)
    full = last_pool >= 0 and x.ndim > 2
    cov, variances = _own_input_stage(x, full=full)
    trajectory = [variances if reads[0] else None]
    static = (tuple(x.shape[1:-1]), full, x.shape[-1], False)
    last = max((k for k, read in enumerate(reads) if read), default=0)
    for step, (index, layer, scale) in enumerate(layers[:last], 1):
        diagonalise = static[1] and index > last_pool
        cov, variances = _own_stage(cov, variances, scale, layer=layer,
                                    static=static, diagonalise=diagonalise)
        static = _STAGE_OUTPUTS[("own", layer, static, diagonalise)]
        trajectory.append(variances if reads[step] else None)
    return tuple(trajectory) + (None,) * (len(reads) - len(trajectory))


def net_kernels_staged(x1, x2, scales, *, net, compute_ntk=True, same=None,
                       distances=False, watch_near=False, variances=None):
    """:func:`net_kernels` of a chain of layers (:func:`is_chain`), run as one
    compiled program per segment of layers (see the section comment above);
    call it outside ``jax.jit``.

    Parameters
    ----------
    x1 : jax array of shape (n1, *spatial, channels)
    x2 : jax array of shape (n2, *spatial, channels)
    scales : array of shape (n_linear_layers, 2)
    net : Layer
        The skeleton (see :func:`split_scales`), a chain of layers.
    compute_ntk : bool
    same : bool array of shape (n1, n2) or None
        Pairs known to be the same input: exact ``rho = 1`` there.
    distances, watch_near : bool
        As in :func:`net_kernels` (the near-duplicate flag is checked on the
        input and output stages' arrays).
    variances : pair of tuples, default=None
        ``(row_variances(x1, ...), row_variances(x2, ...))``: the rows' own
        recursions, computed once per block of rows by a caller that runs
        many tiles (:func:`sklearn_ntk._kernels.run_tiles`); computed here
        when None.

    Returns
    -------
    nngp, ntk : jax arrays of shape (n1, n2) (ntk None if not computed)
    near : jax bool scalar, only with ``watch_near``
    """
    pair, kind, static, near = staged_outputs(
        x1, x2, scales, net=net, compute_ntk=compute_ntk, same=same,
        distances=distances, watch_near=watch_near, variances=variances)
    nngp, ntk = pair_kernels(pair, kind, static)
    if watch_near:
        return nngp, ntk, near
    return nngp, ntk


def staged_outputs(x1, x2, scales, *, net, compute_ntk, same, distances, watch_near,
                   variances):
    """:func:`staged_pairs` with the arguments of :func:`net_kernels_staged`
    (the rows' variances computed when None, distances and the watch only
    where the net carries distances).

    Returns
    -------
    pair, kind, static
        As :func:`staged_pairs` (:func:`pair_kernels` reads them).
    near : jax bool scalar
        False unless ``watch_near`` found a near-duplicate pair.
    """
    if variances is None:
        variances = (row_variances(x1, scales, net=net),
                     row_variances(x2, scales, net=net))
    carry = carries_distance(net, x1.shape[1:])
    pair, _, kind, static, near = staged_pairs(
        x1, x2, scales, net=net, compute_ntk=compute_ntk, same=same,
        distances=distances and carry, watch=watch_near and carry and not distances,
        variances=variances)
    return pair, kind, static, jnp.zeros((), dtype=bool) if near is None else near


def pair_kernels(pair, kind, static):
    """``(nngp, ntk)`` of a staged run's output (see :func:`staged_pairs`):
    ``ntk`` None when not computed, zeros when no linear layer made it."""
    state = _state_from(None, pair, None, None, kind, static)
    ntk = state.ntk
    if ntk is not None and not _is_array(ntk):
        ntk = jnp.zeros_like(state.nngp)  # no linear layer: Theta = 0
    return state.nngp, ntk

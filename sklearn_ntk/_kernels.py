"""``compute_kernels``: blocked, symmetric, float64 NNGP and NTK matrices.

The public functional entry point of the kernel core. The recursion of
:mod:`._recursion` runs on square tiles of rows, jitted once per tile shape
with the architecture as a static argument, so that

* memory is bounded: no intermediate is larger than a tile (``max_block_bytes``);
* the train-train kernel computes only the tiles on and above the diagonal
  and mirrors them (half the arccos evaluations);
* tiles run on a thread pool (JAX releases the GIL while a compiled
  computation runs), so all cores work on the elementwise recursion;
* everything is float64 inside a scoped x64 switch, leaving the user's JAX
  configuration alone.
"""

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._architecture import DEFAULTS, make_architecture
from ._precision import resolve_dtype, x64_scope
from ._recursion import diagonal_recursion, kernel_recursion

__all__ = ["Kernels", "compute_kernels", "compute_kernel_diagonals", "check_array_2d"]

#: Live tile-sized buffers per tile (kernel, NTK and the fused recursion's
#: temporaries); used to turn ``max_block_bytes`` into a tile side.
_BUFFERS_PER_TILE = 6

#: Largest tile side. The NTK recursion makes several passes over each tile
#: per layer; tiles of ~512 x 512 float64 keep those passes in cache, which
#: measured 1.5-2x faster than 2000 x 2000 tiles on a 2-core machine, while
#: the per-tile dispatch overhead (~50 us) stays negligible.
#: The cap is also a guard: with jaxlib 0.10.2 on CPU, 1024 x 1024 tiles of
#: the depth-3 ReLU recursion crashed the process (segmentation fault inside
#: XLA, with and without the thread pool); 512 and 768 ran cleanly for every
#: activation and depth tried (up to 12).
_MAX_TILE_SIDE = 512

#: Small inputs are padded to a multiple of this many rows (see tile_size).
_TILE_QUANTUM = 64


class Kernels(NamedTuple):
    """The two infinite-width kernels.

    Attributes
    ----------
    nngp : ndarray of shape (n1, n2) or None
        The NNGP kernel (covariance of the outputs at initialisation).
    ntk : ndarray of shape (n1, n2) or None
        The neural tangent kernel.
    """

    nngp: Optional[np.ndarray]
    ntk: Optional[np.ndarray]


def check_array_2d(X, name="X"):
    """Return ``X`` as a finite, real, 2-D float64 array or raise a clear error.

    The core avoids scikit-learn; the estimators validate earlier with
    ``validate_data`` and this check then costs one pass over the data.
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"{name} is a sparse matrix; the NNGP/NTK need dense inputs. "
            f"Convert with {name}.toarray() (the kernels are dense anyway)."
        )
    array = np.asarray(X)
    if np.iscomplexobj(array):
        raise ValueError(f"{name} has complex values; pass real features.")
    try:
        array = array.astype(np.float64, copy=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be numeric; got dtype {np.asarray(X).dtype}. "
            "Encode categorical features first (e.g. OneHotEncoder)."
        ) from error
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features); got shape "
            f"{array.shape}. Reshape a single feature with {name}.reshape(-1, 1)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}).")
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} contains NaN or infinity; impute or drop those values "
            "first (e.g. sklearn.impute.SimpleImputer)."
        )
    return array


#: ``jax.lax.optimization_barrier`` is missing from JAX 0.4.26's public API.
_BARRIER = getattr(jax.lax, "optimization_barrier", None)


@functools.partial(
    jax.jit, static_argnames=("architecture", "want_nngp", "want_ntk", "symmetric")
)
def _kernel_tile(x1, x2, weight_std, bias_std, *, architecture, want_nngp, want_ntk,
                 symmetric):
    """The requested kernels of one tile, as a tuple (NNGP first)."""
    def recursion(a, b, ntk):
        return kernel_recursion(a, b, weight_std, bias_std, architecture=architecture,
                                compute_ntk=ntk, symmetric=symmetric)

    if not want_ntk:
        return (recursion(x1, x2, False)[0],)
    if not want_nngp:
        return (recursion(x1, x2, True)[1],)
    if _BARRIER is None:
        return recursion(x1, x2, True)
    # Two independent chains, each one loop fusion over the tile: when the
    # NNGP and the NTK share one chain, XLA materialises every intermediate
    # with two consumers (arccos, square roots) and re-reads the tile five
    # times a layer. Recomputing the NNGP inside the NTK chain is cheaper:
    # 3.7 against 5.9 ns per entry and layer (ReLU, 512 x 512 tiles). The
    # barrier keeps XLA from merging the chains again.
    y1, y2 = _BARRIER((x1, x2))
    return recursion(x1, x2, False)[0], recursion(y1, y2, True)[1]


@functools.partial(jax.jit, static_argnames=("architecture",))
def _diagonal(x, weight_std, bias_std, *, architecture):
    return diagonal_recursion(x, weight_std, bias_std, architecture=architecture)


@jax.jit
def _transpose_tile(tile):
    return tile.T


@jax.jit
def _symmetrize_tile(tile):
    """Copy the upper triangle onto the lower one: exact symmetry whatever
    the rounding order of an activation's formulas."""
    index = jnp.arange(tile.shape[0])
    return jnp.where(index[:, None] > index[None, :], tile.T, tile)


def tile_size(n_rows, max_block_bytes, itemsize=8):
    """Side of the square tiles for ``n_rows`` rows.

    The largest side the byte budget allows (at most ``_MAX_TILE_SIDE``)
    when the rows need several tiles; otherwise ``n_rows`` rounded up to a
    multiple of ``_TILE_QUANTUM``. Tiles therefore come in few shapes, so
    that cross-validation folds and data sets of similar size reuse one
    compiled tile instead of paying an XLA compilation (about a second) per
    distinct size. Padding costs at most one tile row and column of work.
    """
    side = int(math.sqrt(max_block_bytes / (_BUFFERS_PER_TILE * itemsize)))
    side = min(max(side, 8), _MAX_TILE_SIDE)
    if side >= _TILE_QUANTUM:
        side -= side % _TILE_QUANTUM
    if n_rows >= side:
        return side
    return min(side, -(-n_rows // _TILE_QUANTUM) * _TILE_QUANTUM)


def _pad_rows(x, multiple):
    """Pad with copies of the first row (never zero rows: no 0/0 anywhere)."""
    extra = (-x.shape[0]) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[:1], extra, axis=0)], axis=0)


def _n_workers(n_jobs):
    if n_jobs is None:
        return os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return max(1, int(n_jobs))


def run_tiles(tile_fn, x1, x2, n_outputs, out_dtype, max_block_bytes, n_jobs):
    """Evaluate ``tile_fn`` on tiles of ``(x1, x2)`` and assemble full matrices.

    Parameters
    ----------
    tile_fn : callable
        ``tile_fn(x1_tile, x2_tile, symmetric) -> tuple of n_outputs arrays``
        of shape ``(rows1, rows2)``; called inside the x64
        scope of the worker thread.
    x1 : ndarray of shape (n1, d)
    x2 : ndarray of shape (n2, d) or None
        None means ``x2 = x1``: only tiles on and above the diagonal are
        computed and mirrored.

    Returns
    -------
    list of ndarray of shape (n1, n2)
    """
    symmetric = x2 is None
    n1 = x1.shape[0]
    n2 = n1 if symmetric else x2.shape[0]
    itemsize = np.dtype(out_dtype).itemsize
    side1 = tile_size(n1, max_block_bytes, itemsize)
    side2 = side1 if symmetric else tile_size(n2, max_block_bytes, itemsize)
    x1_padded = _pad_rows(x1, side1)
    x2_padded = x1_padded if symmetric else _pad_rows(x2, side2)
    outputs = [np.empty((n1, n2), dtype=out_dtype)
               for _ in range(n_outputs)]
    starts1 = range(0, n1, side1)
    starts2 = range(0, n2, side2)
    if symmetric:
        jobs = [(i, j) for i in starts1 for j in starts2 if j >= i]
    else:
        jobs = [(i, j) for i in starts1 for j in starts2]

    def work(job):
        i, j = job
        with x64_scope(out_dtype == np.float64):
            tiles = tile_fn(
                x1_padded[i:i + side1], x2_padded[j:j + side2], symmetric and i == j
            )
            if symmetric and i == j:
                tiles = [_symmetrize_tile(tile) for tile in tiles]
            # XLA transposes in cache-sized blocks and without the GIL; a
            # strided NumPy copy of the mirror image measured ~1.5 s at
            # N = 8000, more than the kernel itself.
            mirrors = ([np.asarray(_transpose_tile(tile)) for tile in tiles]
                       if symmetric and j > i else [None] * len(tiles))
            tiles = [np.asarray(tile) for tile in tiles]
        rows, cols = min(side1, n1 - i), min(side2, n2 - j)
        for out, tile, mirror in zip(outputs, tiles, mirrors):
            out[i:i + rows, j:j + cols] = tile[:rows, :cols]
            if mirror is not None:
                out[j:j + cols, i:i + rows] = mirror[:cols, :rows]

    workers = min(_n_workers(n_jobs), len(jobs))
    if workers == 1:
        for job in jobs:
            work(job)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(work, jobs):
                pass
    return outputs


def _parse_get(get):
    names = (get,) if isinstance(get, str) else tuple(get)
    unknown = [name for name in names if name not in ("nngp", "ntk")]
    if unknown or not names:
        raise ValueError(
            f"get={get!r} must be 'nngp', 'ntk' or a tuple of both, e.g. "
            "get=('nngp', 'ntk')."
        )
    return "nngp" in names, "ntk" in names


def compute_kernels(
    X1,
    X2=None,
    *,
    depth=DEFAULTS["depth"],
    activation=DEFAULTS["activation"],
    activation_params=None,
    weight_std=DEFAULTS["weight_std"],
    bias_std=DEFAULTS["bias_std"],
    parameterization=DEFAULTS["parameterization"],
    width=None,
    get=("nngp", "ntk"),
    dtype="float64",
    max_block_bytes=2**28,
    n_jobs=None,
):
    """NNGP and NTK of an infinitely wide fully-connected network.

    The network is ``depth`` hidden layers (Dense, then ``activation``)
    followed by a readout Dense; every Dense has weights of standard
    deviation ``weight_std`` and biases of standard deviation ``bias_std``,
    exactly as ``neural_tangents.stax.serial(*[Dense(w, W_std, b_std),
    act] * depth, Dense(1, W_std, b_std))``.

    Parameters
    ----------
    X1 : array-like of shape (n1, n_features)
    X2 : array-like of shape (n2, n_features), default=None
        None computes the symmetric ``X1``-``X1`` kernel, exploiting symmetry.
    depth : int, default=2
        Number of hidden layers (0 is a linear model of the inputs).
    activation : str or callable, default="relu"
        A name from ``sklearn_ntk.ACTIVATIONS`` or an elementwise
        ``jax.numpy`` function (evaluated by Gauss-Hermite quadrature).
    activation_params : dict, default=None
        The activation's own parameters, named as in neural-tangents, e.g.
        ``{"alpha": 0.1}`` for "leaky_relu", ``{"a": 1, "b": 2, "c": 0}``
        for "erf", ``{"degree": 3}`` for "monomial".
    weight_std : float, default=1.5
        Weight standard deviation (neural-tangents' ``W_std``), > 0.
    bias_std : float or None, default=2.0
        Bias standard deviation (``b_std``), >= 0; None means no biases.
    parameterization : {"ntk", "standard"}, default="ntk"
    width : int, default=None
        Hidden width, required by the "standard" NTK (the "ntk"
        parameterization and the NNGP do not depend on it).
    get : {"nngp", "ntk"} or tuple, default=("nngp", "ntk")
        Which kernels to compute; the other field of the result is None.
        Skipping the NTK saves about a third of the time.
    dtype : {"float64", "float32"}, default="float64"
        float64 runs inside a scoped x64 switch (the global JAX setting is
        untouched); float32 is faster with about 1e-6 relative error.
    max_block_bytes : int, default=2**28
        Budget for the intermediates of one tile (per worker thread).
    n_jobs : int, default=None
        Worker threads; None uses every core.

    Returns
    -------
    Kernels
        Named tuple ``(nngp, ntk)`` of ndarrays of shape ``(n1, n2)``.

    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
    Jacot, Gabriel & Hongler, "Neural Tangent Kernel", NeurIPS 2018.
    Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in
    Python", ICLR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import compute_kernels
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> kernels = compute_kernels(X, depth=1, activation="relu",
    ...                           weight_std=1.0, bias_std=0.0)
    >>> kernels.nngp.shape, kernels.ntk.dtype
    ((3, 3), dtype('float64'))
    >>> float(kernels.nngp[0, 0])  # E[relu(u)^2] = q / 2 with q = 1/2
    0.25
    """
    want_nngp, want_ntk = _parse_get(get)
    architecture, weight_std, bias_std = make_architecture(
        depth, activation, activation_params, weight_std, bias_std,
        parameterization, width,
    )
    out_dtype = resolve_dtype(dtype)
    x1 = check_array_2d(X1, "X1")
    x2 = None
    if X2 is not None:
        x2 = check_array_2d(X2, "X2")
        if x2.shape[1] != x1.shape[1]:
            raise ValueError(
                f"X1 has {x1.shape[1]} features but X2 has {x2.shape[1]}; both "
                "must describe the same features."
            )
    if max_block_bytes is None or max_block_bytes < 1:
        raise ValueError(f"max_block_bytes={max_block_bytes!r} must be a positive int.")

    def tile_fn(a, b, symmetric):
        return _kernel_tile(
            jnp.asarray(a, dtype=out_dtype), jnp.asarray(b, dtype=out_dtype),
            weight_std, bias_std, architecture=architecture,
            want_nngp=want_nngp, want_ntk=want_ntk, symmetric=symmetric,
        )

    outputs = run_tiles(tile_fn, x1, x2, want_nngp + want_ntk, out_dtype,
                        max_block_bytes, n_jobs)
    # Only the requested kernels are computed (the NTK alone skips the
    # separate NNGP chain).
    return Kernels(outputs[0] if want_nngp else None,
                   outputs[-1] if want_ntk else None)


def compute_kernel_diagonals(X, **architecture_kwargs):
    """``diag`` of the NNGP and NTK of ``X`` with itself, in O(n).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    **architecture_kwargs
        ``depth``, ``activation``, ``activation_params``, ``weight_std``,
        ``bias_std``, ``parameterization``, ``width``, ``dtype`` as in
        :func:`compute_kernels`.

    Returns
    -------
    Kernels
        Named tuple of ndarrays of shape ``(n_samples,)``.
    """
    dtype = resolve_dtype(architecture_kwargs.pop("dtype", "float64"))
    architecture, weight_std, bias_std = make_architecture(**architecture_kwargs)
    x = check_array_2d(X)
    with x64_scope(dtype == np.float64):
        nngp, ntk = _diagonal(jnp.asarray(x, dtype=dtype), weight_std, bias_std,
                              architecture=architecture)
        return Kernels(np.array(nngp, dtype=dtype), np.array(ntk, dtype=dtype))

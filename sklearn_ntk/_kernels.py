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

import contextlib
import functools
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._architecture import DEFAULTS, make_architecture
from ._parallel import ProgressReporter
from ._precision import resolve_dtype, x64_scope
from ._recursion import (
    _NTK_PACKED,
    _materialise,
    carries_distance,
    flat_gram,
    has_near_pairs,
    is_chain,
    mlp_net,
    net_diagonals,
    net_kernels,
    plan,
    row_variances,
    pair_kernels,
    same_input_mask,
    split_scales,
    staged_outputs,
)
from .layers import Layer

__all__ = [
    "Kernels",
    "compute_kernels",
    "compute_kernel_diagonals",
    "check_array_2d",
    "row_identities",
    "KernelCostWarning",
    "check_cost",
]

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

#: ``compute_kernels(verbose=...)`` reports progress from this many entries
#: on (about 2 s of work for the depth-3 ReLU NTK on 2 cores).
VERBOSE_MIN_ENTRIES = 10**8

#: Kernels of at most this many tiles compile a single tile variant (the
#: one with the same-input mask), and flat rows enter it as their input
#: covariances (one program for every number of features), to cut
#: first-call latency; see run_tiles and compute_kernels.
_ONE_VARIANT_TILES = 64

#: Small inputs are padded to a multiple of this many rows (see tile_size).
_TILE_QUANTUM = 64

#: Staged image tiles carry about this many covariance entries per pair of
#: tiles (16 bytes an entry, NNGP and NTK packed). Measured on 2 cores
#: (loaded, nice 19), case (a) of bench_conv_kernels (784 entries a pair),
#: N = 256, fresh processes, warm: 1.5 s at 16 x 16 tiles (2**18) against
#: 2.0-2.8 s at 8 x 8 (2**17) and 1.4-1.6 s at 32 x 32 (2**20, more memory).
#: Larger tiles than the 8 x 8 of layer-by-layer programs pay off since a
#: tile runs as a few segment programs that recycle their buffers (see
#: ``staged_pairs``).
_STAGED_TILE_ENTRIES = 2**18
#: ... but tiles of at least this side: each tile pays a dozen dispatches
#: and a few eager operations. Case (c) (65536 entries a pair), N = 100,
#: tiles reading their rows' variances (row_variances), normal priority at
#: load 6-7, alternated: 9.6 and 14.4 s warm at 4 x 4 against 19.5 and
#: 25.8 s at 1 x 1 (the budget's side); 2 x 2 and 8 x 8 were slower too.
_STAGED_MIN_SIDE = 4


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


@functools.partial(jax.jit, static_argnames=("net", "want_nngp", "want_ntk",
                                             "distances"))
def _kernel_tile(x1, x2, ids1, ids2, scales, *, net, want_nngp, want_ntk,
                 distances=None):
    """The requested kernels of one tile, as a tuple.

    ``x1`` and ``x2`` are the tile's rows, or ``x1`` the
    :class:`~sklearn_ntk._recursion.FlatGram` of flat rows and ``x2`` None
    (one compiled program for every number of features; with
    ``distances=True``, a ``FlatGram`` that carries the pairs' distances).
    ``net`` is the static skeleton and ``scales`` its traced ``(W_std,
    b_std)`` pairs (see :func:`sklearn_ntk._recursion.split_scales`), so
    that new scales reuse the compiled tile. ``ids1``, ``ids2`` are the
    rows' identities (see :func:`row_identities`): pairs of identical rows
    (or images), the diagonal included, take the exact rho = 1 formulas.
    Both None (a tile without identical rows) compiles a second variant
    without the mask. Both kernels come as one complex tile
    ``nngp + 1j * ntk`` (see :func:`run_tiles`); one kernel alone as a real
    tile.

    ``distances``: None runs the plain recursion; False runs it and appends
    a boolean scalar, True when a pair of distinct rows reached an
    arc-cosine activation nearly parallel (``1 - rho < 1e-4``); True runs
    the distance-carrying recursion, accurate there (see
    :func:`sklearn_ntk._recursion.carries_distance`). With False and the
    NNGP alone, the check at the output is left to :func:`_output_near`:
    the tile comes with the input check's scalar and the output variances,
    ``(nngp, near_at_input, var1, var2)`` (:func:`_watched_tile` combines
    them).
    """
    same = None if ids1 is None else same_input_mask(ids1, ids2)
    watch = distances is False
    out = net_kernels(x1, x2, scales, net=net, compute_ntk=want_ntk, same=same,
                      distances=bool(distances), watch_near=watch)
    nngp, ntk = out[:2]
    if not watch or out[3] is None:
        tiles = _combine(nngp, ntk, want_nngp, want_ntk)
        return tiles + ((out[2],) if watch else ())
    if want_ntk:
        # The output check reads the finished complex tile (both kernels,
        # whatever ``want_nngp``): the recursion stays one loop fusion.
        (tile,) = _materialise(_combine(nngp, ntk, True, True))
        return (tile, out[2] | has_near_pairs(tile.real, *out[3], same))
    # The NNGP alone: XLA fuses a check of the output into the recursion,
    # which it then splits into ~3 materialised arrays per layer and partly
    # computes twice (11 n x n fusions instead of 2 at depth 3, with twice
    # the compile time), the barrier notwithstanding. The check runs as a
    # program of its own on the finished tile (see :func:`_watched_tile`).
    return (nngp, out[2]) + tuple(out[3])


@jax.jit
def _output_near(near, nngp, var1, var2, ids1, ids2):
    """``near``, or the output half of the near-duplicate check on a
    finished NNGP tile."""
    same = None if ids1 is None else same_input_mask(ids1, ids2)
    return near | has_near_pairs(nngp, var1, var2, same)


def _watched_tile(tile, args, kwargs):
    """``(*tiles, near)`` of ``tile`` with the near-duplicate watch on."""
    out = tile(*args, **kwargs, distances=False)
    if tile is not _kernel_tile or kwargs["want_ntk"]:
        return out
    nngp, near, var1, var2 = out
    return nngp, _output_near(near, nngp, var1, var2, *args[2:4])


def _combine(nngp, ntk, want_nngp, want_ntk):
    if not want_ntk:
        return (nngp,)
    if not want_nngp:
        return (ntk,)
    # One loop fusion computes both kernels, every arccos and square root
    # once: a complex element needs its real and imaginary parts in the same
    # loop iteration. Two real outputs instead make XLA either materialise
    # the intermediates they share or, split by an optimisation barrier, run
    # the NNGP recursion twice. CPU time per 512 x 512 tile (ReLU, depth 3):
    # 3.4-3.9 ms against 5.8-6.0 ms for the two barrier-split chains, with
    # the same bits for the NTK and within 5e-16 (relative to the largest
    # entry) for the NNGP.
    return (jax.lax.complex(nngp, ntk),)


def _staged_block_bytes(pair_size, itemsize):
    """The tile budget that gives staged tiles ``_STAGED_TILE_ENTRIES``
    entries (see :func:`tile_size`), or a side of ``_STAGED_MIN_SIDE``."""
    pairs = max(_STAGED_TILE_ENTRIES / pair_size, _STAGED_MIN_SIDE ** 2)
    return int(_BUFFERS_PER_TILE * itemsize * pair_size * pairs)


def _staged_tile(x1, x2, ids1, ids2, scales, *, net, want_nngp, want_ntk,
                 distances=None, variances=None):
    """:func:`_kernel_tile` for image networks without branches, run as a
    few compiled programs (see ``staged_pairs``): 2-3x faster on CPU and
    far quicker to compile than one program for the whole net.
    ``variances``: the rows' own recursions (see ``row_variances``), or
    None to compute them here."""
    # Every tile takes the masked programs (a tile without identical rows
    # gets an all-False mask): one compilation per segment instead of two,
    # for a select per entry.
    if ids1 is None:
        same = _no_same_rows(x1.shape[0], x2.shape[0])
    else:
        same = same_input_mask(ids1, ids2)
    pair, kind, static, near = staged_outputs(
        x1, x2, scales, net=net, compute_ntk=want_ntk, same=same,
        distances=bool(distances), watch_near=distances is False, variances=variances)
    if kind == _NTK_PACKED and want_nngp and want_ntk:
        tiles = (pair,)  # both kernels, already one complex tile
    else:
        nngp, ntk = pair_kernels(pair, kind, static)
        tiles = _combine(nngp, ntk, want_nngp, want_ntk)
    return tiles + ((near,) if distances is False else ())


@functools.lru_cache(maxsize=16)
def _no_same_rows(n1, n2):
    """An all-False ``same`` mask, made once per tile shape (an eager
    ``jnp.zeros`` per tile cost as much as a small segment program)."""
    return jnp.zeros((n1, n2), dtype=bool)


def _staged_rows(rows, *, scales, net, dtype):
    """Each image's own recursion, once per block of rows (the ``row_fn``
    of :func:`run_tiles` for :func:`_staged_tile`; see ``row_variances``)."""
    return row_variances(jnp.asarray(rows, dtype=dtype), scales, net=net)


@functools.partial(jax.jit, static_argnames=("net",))
def _diagonal(x, scales, *, net):
    return net_diagonals(x, scales, net=net)


def _symmetrize_tile(tile):
    """Copy the upper triangle onto the lower one: exact symmetry whatever
    the rounding order of an activation's formulas.

    In NumPy: only the diagonal tiles need it (a few milliseconds each),
    while XLA 0.10.2 took 14 s to compile the same ``where(i > j, tile.T,
    tile)`` for a 512 x 512 tile, paid by the first call of every process.
    """
    return np.triu(tile) + np.triu(tile, 1).T


def tile_size(n_rows, max_block_bytes, itemsize=8, pair_size=1):
    """Side of the square tiles for ``n_rows`` rows.

    The largest side the byte budget allows (at most ``_MAX_TILE_SIDE``)
    when the rows need several tiles; otherwise ``n_rows`` rounded up to a
    multiple of ``_TILE_QUANTUM``. Tiles therefore come in few shapes, so
    that cross-validation folds and data sets of similar size reuse one
    compiled tile instead of paying an XLA compilation (about a second) per
    distinct size. Padding costs at most one tile row and column of work.

    ``pair_size`` is the number of covariance entries each pair of rows
    carries (``HW`` or ``(HW)^2`` for images), which shrinks the side.
    """
    per_pair = _BUFFERS_PER_TILE * itemsize * pair_size
    side = int(math.sqrt(max_block_bytes / per_pair))
    if pair_size == 1:
        side = min(max(side, 8), _MAX_TILE_SIDE)
        quantum = _TILE_QUANTUM
    else:
        side = min(max(side, 1), _MAX_TILE_SIDE)
        quantum = min(_TILE_QUANTUM, 1 << (side.bit_length() - 1))
    if side >= quantum:
        side -= side % quantum
    if n_rows >= side:
        return side
    return min(side, -(-n_rows // quantum) * quantum)


def _widen(n_rows, side, other):
    """Side of the tiles along ``n_rows`` when the other side is ``other``.

    A narrow cross kernel (a few rows against many, as in the pivot rounds
    of randomly pivoted Cholesky) would otherwise run as many thin
    ``side x other`` tiles, each paying a dispatch for little work (14M
    entries/s in 512 x 64 tiles against 26M in 8192 x 64, depth-3 ReLU NTK):
    the long side grows by ``side // other`` so that a tile keeps the
    budgeted area, split evenly over the tiles it then needs, in multiples
    of ``side`` (a few compiled shapes).
    """
    if other >= side or n_rows <= side:
        return side
    n_tiles = -(-n_rows // (side * (side // other)))
    return -(-n_rows // (n_tiles * side)) * side


def row_identities(x1, x2=None, dtype=np.float64):
    """Integer identities of the rows of ``x1`` and ``x2``, equal iff the rows are.

    Computed exactly, on the bytes of the rows as the kernel sees them (cast
    to ``dtype``, so rows that only float32 makes equal are equal too, and
    ``-0.0`` counted as ``0.0``). Used to give identical inputs identical
    kernel entries (see ``kernel_recursion``'s ``same_input``).

    Parameters
    ----------
    x1 : ndarray of shape (n1, d) or (n1, *spatial, channels)
    x2 : ndarray of shape (n2, ...) or None

    Returns
    -------
    ids1 : ndarray of shape (n1,), int32
    ids2 : ndarray of shape (n2,), int32, or None when ``x2`` is None
    """
    rows = x1 if x2 is None else np.concatenate([x1, x2])
    rows = rows.reshape(rows.shape[0], -1)  # images: one row per image
    rows = np.ascontiguousarray(rows, dtype=dtype) + 0.0  # -0.0 + 0.0 == +0.0
    keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    _, ids = np.unique(keys, return_inverse=True)
    ids = ids.reshape(-1).astype(np.int32)
    n1 = x1.shape[0]
    return ids[:n1], (None if x2 is None else ids[n1:])


def _check_kernel_scale(x, name):
    """Refuse inputs whose input-layer covariance ``x . x / d`` overflows."""
    rows = x.reshape(x.shape[0], -1)  # images: every pixel and channel
    with np.errstate(over="ignore"):
        largest = float(np.max(np.einsum("ij,ij->i", rows, rows))) / rows.shape[1]
    if not np.isfinite(largest):
        raise ValueError(
            f"{name} has features so large (max |{name}| = "
            f"{np.max(np.abs(x)):.3g}) that the kernel overflows float64: "
            f"x . x / n_features is infinite. Standardise the features first, "
            "e.g. sklearn.preprocessing.StandardScaler (or make_pipeline("
            "StandardScaler(), NTKRegressor()))."
        )


def _pad_rows(x, multiple):
    """Pad with copies of the first row (never zero rows: no 0/0 anywhere)."""
    extra = (-x.shape[0]) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[:1], extra, axis=0)], axis=0)


def _row_blocks(x, side):
    """``x`` padded and cut into blocks of ``side`` rows, as JAX arrays.

    One conversion (buffer and copy) per row block instead of one per tile:
    16 instead of 272 at N = 8000, measured 0.54 against 0.59 s there.
    """
    padded = _pad_rows(x, side)
    return [jnp.asarray(padded[start:start + side])
            for start in range(0, padded.shape[0], side)]


def _default_threads():
    """Tile threads for ``n_jobs=None``: ``OMP_NUM_THREADS`` if set, else every core.

    Process pools and clusters run several tasks side by side and say how
    many threads each may use through ``OMP_NUM_THREADS``: joblib's loky
    workers get ``cores // n_jobs``, and a dask worker's nanny sets 1 (one
    task per worker thread). Following it keeps a 64-core node running 64
    one-thread dask workers at 64 threads, not 64 x 64.
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def _n_workers(n_jobs):
    if n_jobs is None:
        return _default_threads()
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return max(1, int(n_jobs))


def _split_complex(tiles):
    """NumPy views of the tiles, a complex tile counting as two outputs."""
    arrays = []
    for tile in tiles:
        tile = np.asarray(tile)  # zero-copy view of a CPU JAX array
        arrays += [tile.real, tile.imag] if np.iscomplexobj(tile) else [tile]
    return arrays


#: Rows of a tile transposed per NumPy call when mirroring it (see
#: _write_mirror).
_MIRROR_STRIP = 8


def _write_mirror(out, tile, i, j):
    """``out[j:j + cols, i:i + rows] = tile.T``, in strips of a few rows.

    The rows of a 512-column tile lie 4 KiB (float64) or 8 KiB (a view of a
    complex tile) apart, so reading the tile down a column maps every
    element to the same L1 cache set: a plain ``tile.T`` copy took 0.75 ms
    for a cached 512 x 512 float64 tile, strips of 8 rows (8 cache lines,
    the set's 8 ways) 0.25 ms. This also beat XLA's transpose of the
    complex tile (0.8 ms, then a copy) and needs no dispatch or buffer.
    """
    rows, cols = tile.shape
    for start in range(0, rows, _MIRROR_STRIP):
        stop = min(start + _MIRROR_STRIP, rows)
        out[j:j + cols, i + start:i + stop] = tile[start:stop].T


def tile_layout(n1, n2, out_dtype, max_block_bytes, pair_size=1):
    """``(side1, side2, jobs)``: the tiles' sides and their ``(i, j)`` row
    offsets for :func:`run_tiles` (``n2`` None: the symmetric kernel of
    ``n1`` rows, tiles on and above the diagonal)."""
    itemsize = np.dtype(out_dtype).itemsize
    side1 = tile_size(n1, max_block_bytes, itemsize, pair_size)
    if n2 is None:
        starts = range(0, n1, side1)
        return side1, side1, [(i, j) for i in starts for j in starts if j >= i]
    side2 = tile_size(n2, max_block_bytes, itemsize, pair_size)
    side1, side2 = _widen(n1, side1, side2), _widen(n2, side2, side1)
    return side1, side2, [(i, j) for i in range(0, n1, side1)
                          for j in range(0, n2, side2)]


def run_tiles(tile_fn, x1, x2, n_outputs, out_dtype, max_block_bytes, n_jobs,
              pair_size=1, progress=None, row_fn=None):
    """Evaluate ``tile_fn`` on tiles of ``(x1, x2)`` and assemble full matrices.

    Parameters
    ----------
    tile_fn : callable
        ``tile_fn(x1_tile, x2_tile, ids1_tile, ids2_tile) -> tuple of
        arrays`` of shape ``(rows1, rows2)``, where the ids are the rows'
        identities from :func:`row_identities` (int32 JAX arrays), or both
        None when the tile pairs no identical rows; called inside the x64
        scope of the worker thread. A complex array stands for two
        consecutive outputs, its real and its imaginary part (two kernels
        from one loop fusion).
    x1 : ndarray of shape (n1, d)
    x2 : ndarray of shape (n2, d) or None
        None means ``x2 = x1``: only tiles on and above the diagonal are
        computed and mirrored.
    n_outputs : int
        Number of real outputs the tiles make up.
    out_dtype : numpy dtype
        float64 computes inside the x64 scope.
    max_block_bytes : int
        Budget for the intermediates of one tile (see :func:`tile_size`).
    n_jobs : int or None
        Worker threads; None uses ``OMP_NUM_THREADS`` if set, else every core.
    pair_size : int, default=1
        Covariance entries carried per pair of rows (see :func:`tile_size`).
    progress : callable, default=None
        ``progress(tiles_done, tiles_total)``, called after each tile.
    row_fn : callable, default=None
        ``row_fn(rows)`` of a block of rows (a JAX array, padded as the
        tiles' rows are), computed once per block, inside the x64 scope;
        ``tile_fn`` then gets the results for its two blocks as two more
        arguments. For work on single rows that every tile holding the row
        needs (each image's own recursion, see ``row_variances``).

    Returns
    -------
    list of ndarray of shape (n1, n2)
    """
    symmetric = x2 is None
    n1 = x1.shape[0]
    n2 = n1 if symmetric else x2.shape[0]
    side1, side2, jobs = tile_layout(n1, None if symmetric else n2, out_dtype,
                                     max_block_bytes, pair_size)
    ids1, ids2 = row_identities(x1, x2, out_dtype)
    with x64_scope(out_dtype == np.float64):
        blocks1 = _row_blocks(x1, side1)
        blocks2 = blocks1 if symmetric else _row_blocks(x2, side2)
        id_blocks1 = _row_blocks(ids1, side1)
        id_blocks2 = id_blocks1 if symmetric else _row_blocks(ids2, side2)
    # Tiles without a pair of identical rows skip the mask and its three
    # selects per layer: the MLP path keeps its speed, at the price of two
    # compiled variants per tile shape (as the diagonal tiles needed before).
    id_sets1 = [np.unique(np.asarray(block)) for block in id_blocks1]
    id_sets2 = id_sets1 if symmetric else [np.unique(np.asarray(block))
                                           for block in id_blocks2]
    outputs = [np.empty((n1, n2), dtype=out_dtype)
               for _ in range(n_outputs)]
    workers = _n_workers(n_jobs)
    row_data1 = row_data2 = None
    if row_fn is not None:
        def own(block):
            with x64_scope(out_dtype == np.float64):
                return row_fn(block)

        row_data1 = _map(own, blocks1, workers)
        row_data2 = row_data1 if symmetric else _map(own, blocks2, workers)
    # Up to _ONE_VARIANT_TILES tiles every tile takes the masked variant:
    # one XLA compilation (about a second) instead of two, for a few percent
    # more work per tile; larger kernels amortise the second compilation.
    few_tiles = len(jobs) <= _ONE_VARIANT_TILES

    def work(job):
        i, j = job
        diagonal = symmetric and i == j
        with x64_scope(out_dtype == np.float64):
            a, b = i // side1, j // side2
            rows = () if row_fn is None else (row_data1[a], row_data2[b])
            if few_tiles or np.intersect1d(id_sets1[a], id_sets2[b]).size:
                tiles = tile_fn(blocks1[a], blocks2[b], id_blocks1[a], id_blocks2[b],
                                *rows)
            else:
                tiles = tile_fn(blocks1[a], blocks2[b], None, None, *rows)
            tiles = _split_complex(tiles)
        if diagonal:
            tiles = [_symmetrize_tile(tile) for tile in tiles]
        rows, cols = min(side1, n1 - i), min(side2, n2 - j)
        for out, tile in zip(outputs, tiles):
            tile = tile[:rows, :cols]
            out[i:i + rows, j:j + cols] = tile
            if symmetric and j > i:
                # Mirrored while the tile is still in cache.
                _write_mirror(out, tile, i, j)

    _map(work, jobs, workers, progress)
    return outputs


def _map(fn, items, workers, progress=None):
    """``[fn(item) for item in items]`` on up to ``workers`` threads, calling
    ``progress(done, total)`` after each item."""
    workers = min(workers, len(items))
    results = []
    with contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
            mapped = pool.map(fn, items)
        else:
            mapped = map(fn, items)
        for done, result in enumerate(mapped, 1):
            results.append(result)
            if progress is not None:
                progress(done, len(items))
    return results


def _parse_get(get):
    names = (get,) if isinstance(get, str) else tuple(get)
    unknown = [name for name in names if name not in ("nngp", "ntk")]
    if unknown or not names:
        raise ValueError(
            f"get={get!r} must be 'nngp', 'ntk' or a tuple of both, e.g. "
            "get=('nngp', 'ntk')."
        )
    return "nngp" in names, "ntk" in names


class KernelCostWarning(UserWarning):
    """A kernel computation is estimated to take hours."""


#: Rough CPU cost per covariance entry of a dual activation (NNGP and NTK
#: together, ReLU) and per entry summed by a convolution or pooling, in
#: seconds on one core; used only to warn before hour-long requests.
_SECONDS_PER_ACTIVATION_ENTRY = 8e-9
_SECONDS_PER_LINEAR_ENTRY = 1e-9
#: Warn above this estimated duration (seconds).
_WARN_SECONDS = 3600.0


def _available_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return float("inf")


def _cheaper_choices(net_plan):
    if net_plan.full_form:
        return ("Cheaper choices: Flatten() instead of GlobalAvgPool() (the "
                "diagonal form, O(N^2 HW) instead of O(N^2 (HW)^2)), pooling "
                "early (AvgPool before the convolutions shrinks HW), or "
                "fewer rows.")
    return "Cheaper choices: fewer rows, or pooling early to shrink HW."


def check_cost(net_plan, n1, n2, symmetric, n_outputs, itemsize, n_workers,
               available_bytes=None):
    """Refuse or warn before allocating, from a network's :class:`Plan`.

    Raises
    ------
    MemoryError
        When the output kernels alone, or one tile of a single pair, would
        not fit in the machine's memory.

    Warns
    -----
    KernelCostWarning
        When the estimated time exceeds an hour.

    Returns
    -------
    estimated_seconds : float
    """
    available = _available_bytes() if available_bytes is None else available_bytes
    out_bytes = n1 * n2 * itemsize * n_outputs
    pair_bytes = net_plan.entries_per_pair * itemsize * _BUFFERS_PER_TILE
    if out_bytes + pair_bytes > available:
        raise MemoryError(
            f"the kernels of {n1} x {n2} rows need {out_bytes / 2**30:.1f} GiB "
            f"for the output matrices (and {pair_bytes / 2**20:.1f} MiB per pair "
            f"of rows in flight) but the machine has {available / 2**30:.1f} GiB. "
            "Use fewer rows (or a Nystrom / low-rank solver on a subset). "
            + _cheaper_choices(net_plan))
    pairs = n1 * n2 / (2.0 if symmetric else 1.0)
    per_pair = (net_plan.activation_entries * _SECONDS_PER_ACTIVATION_ENTRY
                + net_plan.linear_entries * _SECONDS_PER_LINEAR_ENTRY)
    seconds = pairs * per_pair / max(n_workers, 1)
    if seconds > _WARN_SECONDS:
        warnings.warn(
            f"this kernel computation is estimated to take about "
            f"{seconds / 3600:.1f} hours ({pairs:.3g} pairs of rows, "
            f"{net_plan.entries_per_pair} covariance entries per pair). "
            + _cheaper_choices(net_plan), KernelCostWarning, stacklevel=3)
    return seconds


def check_array_nd(X, name="X"):
    """``X`` as a finite float64 array of shape (n, d) or (n, *spatial, channels).

    2-D arrays get :func:`check_array_2d`'s messages; images (NHWC, as
    neural-tangents' stax takes them) the same checks on every entry.
    """
    array = np.asarray(X) if not hasattr(X, "toarray") else X
    if getattr(array, "ndim", 2) == 2 or hasattr(X, "toarray"):
        return check_array_2d(X, name)
    if np.iscomplexobj(array):
        raise ValueError(f"{name} has complex values; pass real pixels.")
    try:
        array = array.astype(np.float64, copy=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric; got dtype {array.dtype}.") from error
    if array.ndim < 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features) or images "
            f"(n_samples, height, width, channels); got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}).")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity; impute or drop them first.")
    return array


def _resolve_net(architecture, mlp_kwargs):
    """``(skeleton, scales)`` of a layers network or of the MLP arguments."""
    if architecture is None:
        arch, weight_std, bias_std = make_architecture(**mlp_kwargs)
        skeleton = mlp_net(arch)
        scales = np.tile([weight_std, bias_std], (arch.depth + 1, 1))
        return skeleton, scales.astype(np.float64)
    if not isinstance(architecture, Layer):
        raise TypeError(
            f"architecture={architecture!r} must be a network built from "
            "sklearn_ntk.layers, e.g. layers.serial(layers.Dense(512), "
            "layers.Relu(), layers.Dense(1)); a neural-tangents stax triple "
            "goes into the estimators' kernel_fn= instead.")
    return split_scales(architecture)


def _prepare(X1, X2, architecture, mlp_kwargs, get_pair):
    skeleton, scales = _resolve_net(architecture, mlp_kwargs)
    check = check_array_2d if architecture is None else check_array_nd
    x1 = check(X1, "X1")
    _check_kernel_scale(x1, "X1")
    x2 = None
    if X2 is not None:
        x2 = check(X2, "X2")
        _check_kernel_scale(x2, "X2")
        if x2.ndim == 2 and x1.ndim == 2 and x2.shape[1] != x1.shape[1]:
            raise ValueError(
                f"X1 has {x1.shape[1]} features but X2 has {x2.shape[1]}; both "
                "must describe the same features.")
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(
                f"X1 has rows of shape {x1.shape[1:]} but X2 has "
                f"{x2.shape[1:]}; both must describe the same features.")
    net_plan = plan(skeleton, x1.shape[1:], get_pair)
    return skeleton, scales, x1, x2, net_plan


def compute_kernels(
    X1,
    X2=None,
    *,
    architecture=None,
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
    verbose=0,
):
    """NNGP and NTK of an infinitely wide network.

    The network is either ``architecture`` (built from
    :mod:`sklearn_ntk.layers`, any combination of Dense, Conv, pooling,
    activations and residual branches) or, when that is None, the
    fully-connected network of ``depth`` hidden layers (Dense, then
    ``activation``) followed by a readout Dense, every Dense with weights of
    standard deviation ``weight_std`` and biases of standard deviation
    ``bias_std``, exactly as ``neural_tangents.stax.serial(*[Dense(w, W_std,
    b_std), act] * depth, Dense(1, W_std, b_std))``. Both run the same
    recursion engine.

    Convolutional networks carry covariances between pairs of pixels only
    when a pooling layer needs them (cost O(N^2 (HW)^2)); a network without
    pooling (Conv ... Flatten) carries only equal pixels (O(N^2 HW)). The
    cost is estimated first: a request whose outputs do not fit in memory
    raises MemoryError before allocating, and one estimated to take hours
    warns (:class:`KernelCostWarning`), naming the cheaper choices.

    Parameters
    ----------
    X1 : array-like of shape (n1, n_features) or (n1, height, width, channels)
        Images in NHWC layout, as neural-tangents' stax takes them (only
        with ``architecture``).
    X2 : array-like of shape (n2, ...) like X1, default=None
        None computes the symmetric ``X1``-``X1`` kernel, exploiting symmetry.
    architecture : sklearn_ntk.layers.Layer, default=None
        The network, e.g. ``layers.serial(layers.Conv(1, (3, 3),
        padding="SAME"), layers.Relu(), layers.Flatten(), layers.Dense(1))``.
        It must end without spatial dimensions (Flatten or GlobalAvgPool).
        When given, the fully-connected arguments below are ignored.
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
        Worker threads; None uses ``OMP_NUM_THREADS`` when it is set (as
        in a dask worker, where it is 1, or a joblib process worker),
        else every core.
    verbose : int, default=0
        With 1 or more, kernels of at least ``VERBOSE_MIN_ENTRIES`` entries
        print their progress (tiles done, elapsed time, time left) every
        few seconds.

    Returns
    -------
    Kernels
        Named tuple ``(nngp, ntk)`` of ndarrays of shape ``(n1, n2)``.

    Notes
    -----
    Identical rows (within ``X1``, within ``X2`` or across them, compared
    exactly) get identical entries, equal to the diagonal ones to an ulp:
    they take the exact ``rho = 1`` formulas at every layer. The general
    formula, as in neural-tangents, would be ``sqrt(eps)`` off there (about
    1e-8 relative in the NTK), enough to make ``SVC`` cycle on data with
    duplicate rows.

    Distinct but nearly identical rows keep float64 accuracy too. The
    arc-cosine activations (relu, leaky_relu, abs, ab_relu, sign,
    rectified_monomial) take the angle ``theta = arccos(rho)`` of each pair,
    which loses ``eps / theta`` when ``rho`` is rounded near 1 (up to 2e-8
    relative in the NTK at depth 3, and 4e-3 in a depth-3 sign network's
    kernels). A tile in which some pair of distinct rows has ``1 - rho <
    1e-4`` at the input or the output is therefore computed again carrying
    each pair's squared distance (from the rows' differences where ``rho >
    0.9``, linear through Dense, Conv and Flatten, and through each
    arc-cosine activation by a closed form without cancellation) and the
    angle is taken from it. Measured against an 80-digit reference over
    angles from 1e-1 to 1e-15 (``tests/test_near_duplicates.py``): at most
    4e-16 relative at depth 1, 6e-16 at depth 3 with biases (ReLU family,
    sign), 2.3e-15 for rectified monomials and 4e-16 for a two-layer conv
    net, against 2.4e-9, 2e-8, 2.3e-15 and 3.9e-9 before. Other tiles are
    unchanged; a tile with near-duplicates costs about 2.5 times as much
    (measured with every tile holding one, N = 8000).
    Activations with smooth duals (erf, gelu, quadrature, ...) take
    ``q12`` without an ``arccos`` and need none of this. Networks with
    pooling carry no distances (the pooled distance needs the covariances
    of the difference field between positions, which an activation maps
    through a four-variate expectation) and keep the ``eps / theta``
    error; convolutional networks are watched for near-duplicate images,
    not for equal patches within otherwise different images.

    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
    Jacot, Gabriel & Hongler, "Neural Tangent Kernel", NeurIPS 2018.
    Novak et al., "Bayesian Deep Convolutional Networks with Many Channels
    are Gaussian Processes", ICLR 2019.
    Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in
    Python", ICLR 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import compute_kernels, layers
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> kernels = compute_kernels(X, depth=1, activation="relu",
    ...                           weight_std=1.0, bias_std=0.0)
    >>> kernels.nngp.shape, kernels.ntk.dtype
    ((3, 3), dtype('float64'))
    >>> float(kernels.nngp[0, 0])  # E[relu(u)^2] = q / 2 with q = 1/2
    0.25
    >>> net = layers.serial(layers.Dense(512, W_std=1.0, b_std=0.0),
    ...                     layers.Relu(), layers.Dense(1, W_std=1.0, b_std=0.0))
    >>> bool(np.all(compute_kernels(X, architecture=net).nngp == kernels.nngp))
    True
    """
    want_nngp, want_ntk = _parse_get(get)
    mlp_kwargs = dict(depth=depth, activation=activation,
                      activation_params=activation_params, weight_std=weight_std,
                      bias_std=bias_std, parameterization=parameterization,
                      width=width)
    out_dtype = resolve_dtype(dtype)
    if max_block_bytes is None or max_block_bytes < 1:
        raise ValueError(f"max_block_bytes={max_block_bytes!r} must be a positive int.")
    skeleton, scales, x1, x2, net_plan = _prepare(X1, X2, architecture, mlp_kwargs,
                                                  want_ntk)
    n2 = x1.shape[0] if x2 is None else x2.shape[0]
    check_cost(net_plan, x1.shape[0], n2, x2 is None, want_nngp + want_ntk,
               out_dtype.itemsize, _n_workers(n_jobs))

    # Near-duplicates: a tile whose recursion met a nearly parallel pair
    # of distinct rows is computed again carrying the pairs' distances
    # (compiled only when some tile needs it); see the Notes.
    watch = carries_distance(skeleton, x1.shape[1:])
    staged = x1.ndim > 2 and is_chain(skeleton)
    tile = _staged_tile if staged else _kernel_tile
    if staged:
        # The staged programs take one (W_std, b_std) row each: cut once,
        # not per tile (each cut is a dispatch; tiles may hold a few pairs).
        with x64_scope(out_dtype == np.float64):
            scales = tuple(jnp.asarray(row, dtype=out_dtype) for row in scales)

    # Flat rows of a kernel of few tiles enter the recursion as their input
    # covariances (a FlatGram: a small program per number of features), so
    # that the recursion's program, a second or so to compile, serves every
    # number of features (SelectKBest or PCA grids, folds of other data
    # sets, low-dimensional data's near-duplicate reruns). The same bits as
    # the rows themselves; kernels of more tiles take the rows: one program
    # per tile took 8 % less CPU time warm at N = 8000 (with a third fewer
    # page faults than two), and amortises its compilation.
    flat = x1.ndim == 2 and len(tile_layout(
        x1.shape[0], None if x2 is None else x2.shape[0], out_dtype,
        max_block_bytes)[2]) <= _ONE_VARIANT_TILES
    if flat:
        with x64_scope(out_dtype == np.float64):
            gram = functools.partial(flat_gram, channels=jnp.asarray(
                x1.shape[1], dtype=out_dtype))

    def tile_fn(a, b, ids_a, ids_b, *variances):
        rows = (jnp.asarray(a, dtype=out_dtype), jnp.asarray(b, dtype=out_dtype))
        args = ((gram(*rows), None) if flat else rows) + (
            ids_a, ids_b, scales if staged else jnp.asarray(scales, dtype=out_dtype))
        extra = {"variances": variances} if variances else {}
        if not watch:
            return tile(*args, net=skeleton, want_nngp=want_nngp, want_ntk=want_ntk,
                        **extra)
        # The watch needs the output NNGP: the NTK alone is taken from the
        # pair's complex tile (the same program, so the same bits as with
        # get=("nngp", "ntk"); an NTK-only program that also materialised
        # the NNGP rounded ~5% of its entries 1 ulp differently).
        kwargs = dict(net=skeleton, want_nngp=want_nngp or want_ntk, want_ntk=want_ntk,
                      **extra)
        *tiles, near = _watched_tile(tile, args, kwargs)
        if bool(near):
            inputs = rows
            if flat:
                inputs = (gram(*rows, ids_a, ids_b, distances=True), None)
            tiles = tile(*inputs, *args[2:], **kwargs, distances=True)
        if not want_nngp:
            tiles = [np.asarray(tiles[0]).imag]
        return tuple(tiles)

    n2 = x1.shape[0] if x2 is None else x2.shape[0]
    progress = None
    if verbose and x1.shape[0] * n2 >= VERBOSE_MIN_ENTRIES:
        progress = ProgressReporter(
            f"compute_kernels ({x1.shape[0]} x {n2})", 1, verbose, unit="tiles")
    row_fn = None
    if staged:
        max_block_bytes = min(max_block_bytes, _staged_block_bytes(
            net_plan.entries_per_pair, out_dtype.itemsize))
        row_fn = functools.partial(_staged_rows, scales=scales, net=skeleton,
                                   dtype=out_dtype)
    outputs = run_tiles(tile_fn, x1, x2, want_nngp + want_ntk, out_dtype,
                        max_block_bytes, n_jobs, pair_size=net_plan.entries_per_pair,
                        progress=progress, row_fn=row_fn)
    # Only the requested kernels are computed (the NTK alone skips the
    # separate NNGP chain).
    return Kernels(outputs[0] if want_nngp else None,
                   outputs[-1] if want_ntk else None)


def compute_kernel_diagonals(X, *, architecture=None, dtype="float64",
                             **architecture_kwargs):
    """``diag`` of the NNGP and NTK of ``X`` with itself, in O(n).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, H, W, C)
    architecture : sklearn_ntk.layers.Layer, default=None
        As in :func:`compute_kernels`.
    dtype : {"float64", "float32"}, default="float64"
    **architecture_kwargs
        ``depth``, ``activation``, ``activation_params``, ``weight_std``,
        ``bias_std``, ``parameterization``, ``width`` as in
        :func:`compute_kernels` (used when ``architecture`` is None).

    Returns
    -------
    Kernels
        Named tuple of ndarrays of shape ``(n_samples,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import compute_kernel_diagonals, compute_kernels, layers
    >>> X = np.random.default_rng(0).standard_normal((3, 5, 5, 1))
    >>> net = layers.serial(layers.Conv(1, (3, 3)), layers.Relu(),
    ...                     layers.GlobalAvgPool(), layers.Dense(1))
    >>> diagonals = compute_kernel_diagonals(X, architecture=net)
    >>> bool(np.allclose(diagonals.ntk, np.diag(compute_kernels(X, architecture=net).ntk)))
    True
    """
    dtype = resolve_dtype(dtype)
    skeleton, scales, x, _, _ = _prepare(X, None, architecture, architecture_kwargs,
                                         True)
    n = x.shape[0]
    # Rows padded to a power of two (at least _TILE_QUANTUM): one compiled
    # program serves every test-set size up to it, instead of an XLA
    # compilation for each distinct n (O(n) work, so the padding is free).
    padded = _pad_rows(x, max(_TILE_QUANTUM, 1 << (n - 1).bit_length()))
    with x64_scope(dtype == np.float64):
        nngp, ntk = _diagonal(jnp.asarray(padded, dtype=dtype),
                              jnp.asarray(scales, dtype=dtype), net=skeleton)
        return Kernels(np.array(nngp[:n], dtype=dtype), np.array(ntk[:n], dtype=dtype))

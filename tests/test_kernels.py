"""Properties of compute_kernels: symmetry, PSD, blocking, precision, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sklearn_ntk import ACTIVATIONS, compute_kernel_diagonals, compute_kernels
from sklearn_ntk import _kernels, _recursion
from sklearn_ntk._precision import x64_scope
from tests.conftest import make_inputs

# float64 kernels: entries are O(1)-O(10); reorderings of sums differ by a few
# ulps, so 1e-12 relative to the largest entry is a safe bound for "equal".
EXACT = 1e-12

ARCHITECTURES = [
    dict(depth=0, activation="relu"),
    dict(depth=1, activation="relu", weight_std=1.0, bias_std=0.0),
    dict(depth=3, activation="relu", weight_std=1.5, bias_std=0.05),
    dict(depth=2, activation="erf", weight_std=2.0, bias_std=0.3),
    dict(depth=2, activation="leaky_relu", activation_params={"alpha": 0.2}),
    dict(depth=2, activation="abs", parameterization="standard", width=64),
    dict(depth=2, activation="identity", bias_std=None),
]


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_symmetric_and_positive_semidefinite(rng, arch):
    x = make_inputs(rng, n=20)
    kernels = compute_kernels(x, **arch)
    for k in kernels:
        np.testing.assert_array_equal(k, k.T)
        # Eigenvalues of a PSD float64 matrix are >= -n eps ||K||.
        eigenvalues = np.linalg.eigvalsh(k)
        assert eigenvalues.min() >= -1e-12 * 20 * np.abs(eigenvalues).max()


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_x2_none_equals_x2_x1_off_the_diagonal(rng, arch):
    x = make_inputs(rng, n=15, duplicates=False)
    sym = compute_kernels(x, **arch)
    full = compute_kernels(x, x.copy(), **arch)
    off = ~np.eye(15, dtype=bool)
    for a, b in zip(sym, full):
        assert _relative(a[off], b[off]) < EXACT
        # The same rows on both sides are recognised as identical: the exact
        # rho = 1 formulas there too (the general one, as in neural-tangents,
        # takes sqrt(q11 q22 - q12^2) of a cancelled difference: ~sqrt(eps)).
        assert _relative(np.diag(a), np.diag(b)) < EXACT


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_blocked_equals_unblocked(rng, arch):
    x = make_inputs(rng, n=37)
    z = rng.standard_normal((23, 5))
    whole = compute_kernels(x, **arch)
    # 8 x 8 tiles: many diagonal and off-diagonal tiles, and padded edges.
    tiled = compute_kernels(x, max_block_bytes=6 * 8 * 64, n_jobs=2, **arch)
    for a, b in zip(tiled, whole):
        assert _relative(a, b) < EXACT
    cross = compute_kernels(z, x, **arch)
    cross_tiled = compute_kernels(z, x, max_block_bytes=6 * 8 * 64, **arch)
    for a, b in zip(cross_tiled, cross):
        assert _relative(a, b) < EXACT


@functools.partial(jax.jit, static_argnames=("net", "distances"))
def _tile(x1, x2, ids1, ids2, scales, *, net, distances):
    same = None if ids1 is None else _recursion.same_input_mask(ids1, ids2)
    return _recursion.net_kernels(x1, x2, scales, net=net, same=same,
                                  distances=distances)


@pytest.mark.parametrize("arch, dtype, d", [
    (ARCHITECTURES[0], np.float64, 3),  # depth 0: the input scaling alone
    (ARCHITECTURES[2], np.float64, 20),  # ReLU, with the distances
    (ARCHITECTURES[5], np.float32, 3),  # "standard": d is the first fan-in
])
def test_flat_gram_recursion_equals_the_recursion_on_the_rows(rng, arch, dtype, d):
    # compute_kernels hands the recursion flat rows' input covariances
    # (FlatGram: one program for every d); the GP kernels' path hands it
    # the rows. The same operations in the same order: the same bits, with
    # and without the identical-rows mask, "standard" fan-ins included.
    # The distance-carrying rerun rounds its distances in a program of its
    # own, fused differently: within 1e-14 (3e-16 measured), checked in
    # float64 only (float32's ulp is 1e-7).
    skeleton, scales = _kernels._resolve_net(None, arch)
    x1 = rng.standard_normal((64, d))
    x2 = np.concatenate([x1[:3], rng.standard_normal((61, d))])
    x2[3] = x1[5] + 1e-9  # a near-duplicate for the distances
    ids1, ids2 = _kernels.row_identities(x1, x2)
    with x64_scope(dtype == np.float64):
        a, b = jnp.asarray(x1, dtype), jnp.asarray(x2, dtype)
        s = jnp.asarray(scales, dtype)
        for ids in ((None, None), (jnp.asarray(ids1), jnp.asarray(ids2))):
            grams = _recursion.flat_gram(a, b)
            for got, want in zip(_tile(grams, None, *ids, s, net=skeleton, distances=False),
                                 _tile(a, b, *ids, s, net=skeleton, distances=False)):
                np.testing.assert_array_equal(got, want)
            if not _recursion.carries_distance(skeleton, (d,)) or dtype == np.float32:
                continue
            grams = _recursion.flat_gram(a, b, *ids, distances=True)
            for got, want in zip(_tile(grams, None, *ids, s, net=skeleton, distances=True),
                                 _tile(a, b, *ids, s, net=skeleton, distances=True)):
                assert _relative(got, want) < 1e-14


@pytest.mark.parametrize("arch", [ARCHITECTURES[2], ARCHITECTURES[3]],
                         ids=["relu", "erf"])
def test_other_numbers_of_features_reuse_the_compiled_recursion(rng, arch):
    # A pipeline's SelectKBest(k) or PCA(n) grid, or the next data set,
    # changes only the number of features: the recursion (about a second
    # of XLA compilation per variant) is not compiled again. A
    # near-duplicate pair makes ReLU's tiles take the distance-carrying
    # rerun too.
    size = getattr(_kernels._kernel_tile, "_cache_size", None)
    if size is None:
        pytest.skip("this JAX's jitted functions do not report their cache size")

    def kernels(d):
        x = rng.standard_normal((40, d))
        x[1] = x[0] + 1e-9
        compute_kernels(x, **arch)
        compute_kernels(x[:7], x, **arch)

    kernels(4)
    compiled = size()
    for d in (2, 9, 33):
        kernels(d)
    assert size() == compiled


def _small_conv():
    from sklearn_ntk import layers
    return dict(architecture=layers.serial(
        layers.Conv(1, (2, 2), padding="SAME"), layers.Relu(), layers.Flatten(),
        layers.Dense(1)))


@pytest.mark.parametrize("arch, shape, budget", [
    (ARCHITECTURES[2], (5,), 6 * 8 * 128 * 128),
    # 2x2 images: staged tiles of 2^17 covariance entries, 128 rows a side.
    (None, (2, 2, 1), None),
])
def test_narrow_cross_kernels_in_widened_tiles_equal_thin_tiles(rng, monkeypatch, arch,
                                                               shape, budget):
    # 128 x 128 tiles; 3 rows against 700 take 64-row tiles on the narrow
    # side, so the long side widens to two tiles' rows (3 tiles of 256, the
    # last one padded): both orientations equal the kernel in thin
    # 128 x 64 tiles (no widening).
    assert _kernels._widen(700, 128, 64) == 256
    arch = _small_conv() if arch is None else arch
    x, z = rng.standard_normal((700, *shape)), rng.standard_normal((3, *shape))
    kwargs = {} if budget is None else dict(max_block_bytes=budget)
    for a, b in ((z, x), (x, z)):
        widened = compute_kernels(a, b, **kwargs, **arch)
        with monkeypatch.context() as patch:
            patch.setattr(_kernels, "_widen", lambda n_rows, side, other: side)
            thin = compute_kernels(a, b, **kwargs, **arch)
        for one, many in zip(thin, widened):
            assert _relative(many, one) < EXACT


def test_full_size_tiles_are_mirrored_exactly(rng):
    # n = 531: one 512 x 512 tile (the largest side) and a 19-row edge, so the
    # train-train kernel mirrors a full tile and a ragged one, both kernels
    # unpacked from one complex tile.
    x = rng.standard_normal((531, 6))
    sym = compute_kernels(x, depth=2)
    full = compute_kernels(x, x, depth=2)
    only_ntk = compute_kernels(x, depth=2, get="ntk").ntk
    off = ~np.eye(531, dtype=bool)
    for a, b in zip(sym, full):
        np.testing.assert_array_equal(a, a.T)
        assert _relative(a[off], b[off]) < EXACT
    np.testing.assert_array_equal(sym.ntk, only_ntk)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_diagonals_match_full_kernels(rng, arch):
    x = make_inputs(rng, n=10)
    full = compute_kernels(x, **arch)
    diag = compute_kernel_diagonals(x, **arch)
    np.testing.assert_allclose(diag.nngp, np.diag(full.nngp), rtol=EXACT)
    np.testing.assert_allclose(diag.ntk, np.diag(full.ntk), rtol=EXACT)


def test_relu_closed_form_by_hand():
    # One hidden ReLU layer, weight_std=1, no bias: K1 = q/2 on the diagonal;
    # orthogonal unit inputs have theta = pi/2 so K1 = sqrt(q q)/(2 pi).
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    k = compute_kernels(x, depth=1, weight_std=1.0, bias_std=0.0)
    q = 0.5
    np.testing.assert_allclose(np.diag(k.nngp), [q / 2, q / 2], rtol=1e-15)
    np.testing.assert_allclose(k.nngp[0, 1], q / (2 * np.pi), rtol=1e-14)
    # NTK: Theta = K1 + K0 * E[relu' relu'] = K1 + q12 (pi - theta)/(2 pi).
    np.testing.assert_allclose(k.ntk[0, 0], q / 2 + q / 2, rtol=1e-15)
    np.testing.assert_allclose(k.ntk[0, 1], q / (2 * np.pi) + 0.0, rtol=1e-14)


def test_float64_by_default_and_global_config_untouched(rng):
    before = jax.config.jax_enable_x64
    kernels = compute_kernels(make_inputs(rng))
    assert kernels.nngp.dtype == np.float64 and kernels.ntk.dtype == np.float64
    assert jax.config.jax_enable_x64 == before
    assert jax.numpy.zeros(1).dtype == (np.float64 if before else np.float32)


def test_float32_option_is_close_to_float64(rng):
    x = make_inputs(rng)
    k64 = compute_kernels(x, depth=3)
    k32 = compute_kernels(x, depth=3, dtype="float32")
    assert k32.nngp.dtype == np.float32
    # float32 rounds rho to ~6e-8; near rho = 1 (the duplicated row) the
    # kernel depends on sqrt(1 - rho^2), which amplifies that to
    # sqrt(6e-8) ~ 2.4e-4 at worst. Elsewhere it is ~1e-6.
    assert _relative(k32.ntk, k64.ntk) < 1e-3


def test_get_selects_outputs(rng):
    x = make_inputs(rng)
    only = compute_kernels(x, get="nngp")
    assert only.ntk is None
    np.testing.assert_allclose(only.nngp, compute_kernels(x).nngp, rtol=EXACT)


def test_duplicate_rows_are_finite_and_exact_on_the_diagonal(rng):
    x = np.repeat(rng.standard_normal((3, 4)), 3, axis=0)
    k = compute_kernels(x, depth=4)
    assert np.all(np.isfinite(k.ntk))
    diag = compute_kernel_diagonals(x, depth=4)
    np.testing.assert_allclose(np.diag(k.ntk), diag.ntk, rtol=EXACT)


def test_zero_input_row_is_finite():
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    for bias in (0.0, 0.1):
        k = compute_kernels(x, depth=2, bias_std=bias)
        assert np.all(np.isfinite(k.nngp)) and np.all(np.isfinite(k.ntk))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activation="relux"), "relux.*Use one of"),
        (dict(depth=-1), "depth=-1"),
        (dict(depth=1.5), "depth=1.5"),
        (dict(weight_std=0.0), "weight_std=0.0"),
        (dict(weight_std=-1.0), "weight_std=-1.0"),
        (dict(bias_std=-0.1), "bias_std=-0.1"),
        (dict(parameterization="standard"), "width="),
        (dict(parameterization="mean_field"), "mean_field"),
        (dict(activation="leaky_relu", activation_params={"slope": 0.1}), "slope"),
        (dict(get="kernel"), "get="),
    ],
)
def test_bad_hyperparameters_raise_clear_errors(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_kernels(make_inputs(rng), **kwargs)


@pytest.mark.parametrize(
    "x1, x2, error, match",
    [
        (np.array([[np.nan, 1.0]]), None, ValueError, "NaN"),
        (np.array([[np.inf, 1.0]]), None, ValueError, "NaN or infinity"),
        (np.ones((3, 2)), np.ones((3, 4)), ValueError, "2 features but X2 has 4"),
        (np.ones(3), None, ValueError, "2-D"),
        (np.ones((0, 3)), None, ValueError, "empty"),
        (np.array([["a", "b"]]), None, ValueError, "numeric"),
        (np.ones((2, 2)) + 1j, None, ValueError, "complex"),
    ],
)
def test_bad_inputs_raise_clear_errors(x1, x2, error, match):
    with pytest.raises(error, match=match):
        compute_kernels(x1, x2)


def test_sparse_input_is_a_clear_error():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="toarray"):
        compute_kernels(sparse.csr_matrix(np.eye(3)))


def test_every_named_activation_is_listed():
    for name in ("relu", "leaky_relu", "abs", "erf", "sigmoid_like", "identity"):
        assert name in ACTIVATIONS


def test_numpy_ufunc_activation_is_its_jax_numpy_twin(rng):
    # np.tanh used to fail deep inside JAX (TracerArrayConversionError).
    x = make_inputs(rng, n=6)
    numpy_version = compute_kernels(x, depth=2, activation=np.tanh)
    jax_version = compute_kernels(x, depth=2, activation=jax.numpy.tanh)
    for a, b in zip(numpy_version, jax_version):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "activation, match",
    [
        (lambda u: np.maximum(u, 0.0), "jax.numpy"),
        (lambda u: u if u > 0 else -u, "jax.numpy.where"),
        (lambda u: jax.numpy.sum(u), "elementwise"),
    ],
    ids=["numpy_inside", "python_branch", "not_elementwise"],
)
def test_untraceable_activation_is_a_clear_error(rng, activation, match):
    with pytest.raises(ValueError, match=match):
        compute_kernels(make_inputs(rng, n=4), depth=1, activation=activation)


def test_overflowing_feature_scale_names_the_fix(rng):
    # x . x / d overflows float64 at |x| ~ 1e154: name the cause and the fix.
    x = make_inputs(rng, n=6) * 1e200
    with pytest.raises(ValueError, match="overflows float64.*StandardScaler"):
        compute_kernels(x)
    with pytest.raises(ValueError, match="StandardScaler"):
        compute_kernels(make_inputs(rng, n=6), x)
    with pytest.raises(ValueError, match="StandardScaler"):
        compute_kernel_diagonals(x)
    # Overflow deeper in the network (or in a user's kernel_fn) reaches the
    # solver, whose message names the same cause and fix.
    from sklearn_ntk._dynamics import GradientFlowSolver

    with pytest.raises(ValueError, match="feature.*StandardScaler"):
        GradientFlowSolver(np.full((2, 2), np.inf))

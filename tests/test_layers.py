"""sklearn_ntk.layers and the recursion engine on convolutional networks.

The agreement with neural-tangents is in tests/reference/test_conv_reference.py;
these tests check the science without it: Monte Carlo of finite random
networks, identities between architectures, invariances, positive
semi-definiteness, and the cost guard. Small images and few rows keep them fast.
"""

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sklearn_ntk import (
    KernelCostWarning,
    compute_kernel_diagonals,
    compute_kernels,
    layers,
)
from sklearn_ntk import _recursion
from sklearn_ntk._kernels import check_cost
from sklearn_ntk._precision import x64_scope
from sklearn_ntk._recursion import net_kernels, plan, row_variances, split_scales


def _images(n=5, shape=(5, 4, 2), seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + shape)


def _myrtle(W_std=1.4, b_std=0.1):
    return layers.serial(
        layers.Conv(8, (3, 3), padding="SAME", W_std=W_std, b_std=b_std), layers.Relu(),
        layers.AvgPool((2, 2), strides=(2, 2)),
        layers.Conv(8, (2, 2), padding="SAME", W_std=W_std, b_std=b_std), layers.Relu(),
        layers.GlobalAvgPool(), layers.Dense(1, W_std=W_std, b_std=b_std))


# ---------------------------------------------------------------------------
# The description: hashable, comparable, picklable, stable repr
# ---------------------------------------------------------------------------


def test_networks_are_values():
    net = _myrtle()
    assert net == _myrtle() and hash(net) == hash(_myrtle())
    assert net != _myrtle(W_std=1.5)
    assert pickle.loads(pickle.dumps(net)) == net
    assert copy.deepcopy(net) == net
    assert eval(repr(net), vars(layers)) == net  # noqa: S307 - our own repr
    assert (layers.Conv(1, (3, 3)) >> layers.Relu()) == layers.serial(
        layers.Conv(1, (3, 3)), layers.Relu())


@pytest.mark.parametrize("build, match", [
    (lambda: layers.Conv(1, (3, 3), padding="FULL"), "padding"),
    (lambda: layers.Conv(1, (3, 3), strides=(1,)), "strides"),
    (lambda: layers.Dense(1, W_std=-1.0), "W_std"),
    (lambda: layers.Dense(1, parameterization="mup"), "parameterization"),
    (lambda: layers.Activation("nope"), "not supported"),
])
def test_invalid_layers_raise_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# ---------------------------------------------------------------------------
# One engine: the MLP arguments are a serial of Dense and activation layers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("activation, params, layer", [
    ("relu", None, layers.Relu()),
    ("erf", {"a": 1.2, "b": 0.7, "c": 0.1}, layers.Erf(1.2, 0.7, 0.1)),
])
@pytest.mark.parametrize("bias_std", [0.3, None])
def test_mlp_arguments_equal_the_serial_bit_for_bit(activation, params, layer, bias_std):
    X = _images(n=7, shape=(6,))
    Y = _images(n=3, shape=(6,), seed=1)
    old = dict(depth=3, activation=activation, activation_params=params,
               weight_std=1.3, bias_std=bias_std)
    net = layers.serial(*[layers.Dense(512, 1.3, bias_std), layer] * 3,
                        layers.Dense(1, 1.3, bias_std))
    for args in ((X,), (X, Y)):
        a = compute_kernels(*args, **old)
        b = compute_kernels(*args, architecture=net)
        np.testing.assert_array_equal(a.nngp, b.nngp)
        np.testing.assert_array_equal(a.ntk, b.ntk)
    diagonal = compute_kernel_diagonals(X, architecture=net)
    np.testing.assert_array_equal(diagonal.ntk, compute_kernel_diagonals(X, **old).ntk)


def test_full_filter_valid_conv_is_dense_on_the_flattened_image():
    # A VALID convolution whose filter covers the image sees every pixel once:
    # the same input kernel x . x' / (H W C) as a Dense layer on the flat
    # vector. Different code paths (shifted slices vs GEMM): rounding only.
    X = _images()
    conv = layers.serial(layers.Conv(1, (5, 4), W_std=1.2, b_std=0.3), layers.Relu(),
                         layers.Flatten(), layers.Dense(1, W_std=0.8, b_std=0.2))
    dense = layers.serial(layers.Dense(1, W_std=1.2, b_std=0.3), layers.Relu(),
                          layers.Dense(1, W_std=0.8, b_std=0.2))
    a = compute_kernels(X, architecture=conv)
    b = compute_kernels(X.reshape(len(X), -1), architecture=dense)
    np.testing.assert_allclose(a.ntk, b.ntk, rtol=1e-13)
    np.testing.assert_allclose(a.nngp, b.nngp, rtol=1e-13)


def test_one_by_one_conv_is_dense_per_pixel():
    X = _images()
    tail = (layers.Relu(), layers.AvgPool((2, 2)), layers.GlobalAvgPool(), layers.Dense(1))
    a = compute_kernels(X, architecture=layers.serial(
        layers.Conv(3, (1, 1), W_std=1.3, b_std=0.2), *tail))
    b = compute_kernels(X, architecture=layers.serial(
        layers.Dense(3, W_std=1.3, b_std=0.2), *tail))
    np.testing.assert_allclose(a.ntk, b.ntk, rtol=1e-13)


# ---------------------------------------------------------------------------
# Requirements: the diagonal form unless pooling follows a convolution
# ---------------------------------------------------------------------------


def test_spatial_form_is_chosen_by_the_layers():
    flatten = layers.serial(layers.Conv(1, (3, 3), padding="SAME"), layers.Relu(),
                            layers.Flatten(), layers.Dense(1))
    pooled = _myrtle()
    shape = (8, 8, 1)
    assert not plan(split_scales(flatten)[0], shape).full_form
    assert plan(split_scales(flatten)[0], shape).entries_per_pair == 64
    assert plan(split_scales(pooled)[0], shape).full_form
    assert plan(split_scales(pooled)[0], shape).entries_per_pair == 64 * 64


# ---------------------------------------------------------------------------
# Science: Monte Carlo, invariance, positive semi-definiteness
# ---------------------------------------------------------------------------


def _finite_output(key, x, width, n_outputs, W_std, b_std):
    """The Myrtle-like net of ``_myrtle`` at finite width, NTK parameterization."""
    keys = jax.random.split(key, 6)

    def conv(k_w, k_b, h, filter_shape):
        fan_in = h.shape[-1] * filter_shape[0] * filter_shape[1]
        w = jax.random.normal(k_w, filter_shape + (h.shape[-1], width), h.dtype)
        out = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return W_std / np.sqrt(fan_in) * out + b_std * jax.random.normal(k_b, (width,))

    h = jax.nn.relu(conv(keys[0], keys[1], x, (3, 3)))
    n, height, wid, c = h.shape
    h = h.reshape(n, height // 2, 2, wid // 2, 2, c).mean(axis=(2, 4))
    h = jax.nn.relu(conv(keys[2], keys[3], h, (2, 2)))
    h = h.mean(axis=(1, 2))
    w = jax.random.normal(keys[4], (width, n_outputs), h.dtype)
    b = jax.random.normal(keys[5], (n_outputs,), h.dtype)
    return W_std / np.sqrt(width) * h @ w + b_std * b


@pytest.mark.slow
def test_nngp_matches_monte_carlo_of_wide_random_conv_nets():
    # Output covariance of 400 random nets of width 256 (64 readout units
    # each, exchangeable given the hidden layers): Monte Carlo error about
    # sqrt(2 / (400 * 64)) ~ 1% of the kernel scale plus an O(1/width) ~
    # 0.5% finite-width bias; 5% of the largest entry bounds both, while a
    # wrong convention (filter normalisation, pooling factor, padding)
    # changes entries by 20% or more.
    x = _images(n=3, shape=(4, 4, 2), seed=3)
    expected = compute_kernels(x, architecture=_myrtle(W_std=1.4, b_std=0.3)).nngp
    with x64_scope():
        keys = jax.random.split(jax.random.PRNGKey(0), 400)
        outputs = jax.vmap(lambda k: _finite_output(k, jnp.asarray(x), 256, 64,
                                                    1.4, 0.3))(keys)
        outputs = np.asarray(outputs)  # (samples, n, units)
    empirical = np.einsum("sia,sja->ij", outputs, outputs) / (
        outputs.shape[0] * outputs.shape[2])
    assert np.max(np.abs(empirical - expected)) <= 0.05 * np.max(expected)


def test_circular_padding_gives_translation_invariance():
    # On a torus every translation is a symmetry of a CIRCULAR conv net with
    # global pooling: the kernel of translated images is the same (rounding).
    net = layers.serial(
        layers.Conv(4, (3, 2), padding="CIRCULAR", W_std=1.3, b_std=0.1), layers.Erf(),
        layers.Conv(4, (2, 3), padding="CIRCULAR", W_std=1.1, b_std=0.2), layers.Relu(),
        layers.GlobalAvgPool(), layers.Dense(1))
    X = _images(n=4)
    shifted = np.roll(X, shift=(2, 1), axis=(1, 2))
    a = compute_kernels(X, architecture=net)
    b = compute_kernels(shifted, architecture=net)
    np.testing.assert_allclose(b.ntk, a.ntk, rtol=1e-12)
    # ... while SAME (zero) padding is not invariant.
    same = layers.serial(layers.Conv(4, (3, 3), padding="SAME"), layers.Relu(),
                         layers.GlobalAvgPool(), layers.Dense(1))
    c = compute_kernels(X, architecture=same).ntk
    d = compute_kernels(shifted, architecture=same).ntk
    assert np.max(np.abs(c - d)) > 1e-3 * np.max(c)


@pytest.mark.parametrize("net", [
    _myrtle(),
    layers.serial(layers.Conv(4, (3, 3), strides=(2, 1), padding="SAME", b_std=0.1),
                  layers.Gelu(), layers.Conv(4, (2, 2), padding="VALID"), layers.Relu(),
                  layers.Flatten(), layers.Dense(1)),
    layers.serial(layers.Conv(4, (3, 3), padding="SAME"), layers.FanOut(2),
                  layers.parallel(layers.serial(layers.Relu(),
                                                layers.Conv(4, (3, 3), padding="SAME")),
                                  layers.Identity()),
                  layers.FanInSum(), layers.Relu(), layers.GlobalAvgPool(),
                  layers.Dense(1)),
], ids=["myrtle", "strided-flatten", "residual"])
def test_train_kernels_are_symmetric_psd_and_consistent(net):
    X = _images(n=9)
    kernels = compute_kernels(X, architecture=net)
    for name in ("nngp", "ntk"):
        K = getattr(kernels, name)
        np.testing.assert_array_equal(K, K.T)
        # PSD up to rounding (relative to the largest eigenvalue).
        eigenvalues = np.linalg.eigvalsh(K)
        assert eigenvalues[0] >= -1e-12 * eigenvalues[-1]
    # Cross kernels and diagonals agree with the train kernel (rounding and
    # the sqrt(eps) of the general ReLU formula at rho = 1 on the diagonal).
    cross = compute_kernels(X[:4], X[4:], architecture=net)
    np.testing.assert_allclose(cross.ntk, kernels.ntk[:4, 4:], rtol=1e-12)
    diagonals = compute_kernel_diagonals(X, architecture=net)
    np.testing.assert_allclose(diagonals.ntk, np.diag(kernels.ntk), rtol=1e-14)


def test_staged_tiles_with_the_rows_own_variances_equal_the_whole_engine():
    # compute_kernels runs image chains layer by layer, each tile reading
    # its rows' variances from one recursion per image (row_variances);
    # net_kernels carries every pair's full self-covariances instead. Pooling
    # builds the next variances from off-diagonal self-covariances, so a
    # variance carried through the pooling wrongly would show here. Same
    # formulas in a different order of operations: 1e-13 relative is ~500
    # ulps; a wrong variance moves entries by 1e-3 or more.
    net = layers.serial(layers.Conv(2, (3, 3), padding="SAME", W_std=1.4, b_std=0.1),
                        layers.Relu(), layers.AvgPool((2, 2)), layers.Erf(),
                        layers.GlobalAvgPool(), layers.Dense(1, W_std=1.2, b_std=0.3))
    X = _images(n=7, shape=(4, 4, 2))
    X[5] = X[2]  # a duplicate: exact rho = 1 from the rows' own variances
    skeleton, scales = split_scales(net)
    staged = compute_kernels(X, architecture=net)
    cross = compute_kernels(X[:3], X[3:], architecture=net)
    with x64_scope():
        whole = jax.jit(lambda x, same: net_kernels(
            x, x, scales, net=skeleton, symmetric=True, same=same))(
                jnp.asarray(X), jnp.asarray(np.all(X[:, None] == X[None], axis=(2, 3, 4))))
        trajectory = row_variances(jnp.asarray(X), scales, net=skeleton)
    for got, want in zip(staged, whole):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    np.testing.assert_allclose(cross.ntk, staged.ntk[:3, 3:], rtol=1e-13, atol=0)
    assert staged.ntk[2, 5] == staged.ntk[2, 2] == staged.ntk[5, 5]
    # Only the activations' inputs are kept: conv, relu, pool, erf, then
    # pooling and the readout read none (nor the output).
    kept = [variances is not None for variances in trajectory]
    assert kept == [False, True, False, True, False, False, False]


def test_float32_agrees_with_float64():
    X = _images(n=4)
    a = compute_kernels(X, architecture=_myrtle())
    b = compute_kernels(X, architecture=_myrtle(), dtype="float32")
    assert b.ntk.dtype == np.float32
    np.testing.assert_allclose(b.ntk, a.ntk, rtol=1e-5)


# ---------------------------------------------------------------------------
# Errors and the cost guard
# ---------------------------------------------------------------------------


def test_structural_errors_name_the_fix():
    X = _images(n=2)
    with pytest.raises(ValueError, match="Flaten|Flatten"):
        compute_kernels(X, architecture=layers.serial(layers.Conv(1, (3, 3)),
                                                     layers.Relu()))
    with pytest.raises(ValueError, match="FanInSum"):
        compute_kernels(X, architecture=layers.serial(
            layers.Conv(1, (2, 2)), layers.Relu(), layers.FanOut(2),
            layers.parallel(layers.Relu(), layers.Identity()), layers.FanInSum(),
            layers.Flatten(), layers.Dense(1)))
    with pytest.raises(ValueError, match="padding='SAME'"):
        compute_kernels(X, architecture=layers.serial(
            layers.Conv(1, (7, 7)), layers.Flatten(), layers.Dense(1)))
    with pytest.raises(ValueError, match="spatial"):
        compute_kernels(X.reshape(2, -1), architecture=_myrtle())


def test_cost_guard_raises_before_allocating():
    # 200,000 images: the two output matrices alone need 596 GiB. The guard
    # must refuse from the plan, before any kernel is allocated (the call
    # returns at once; allocating would fail or swap).
    X = np.zeros((200_000, 4, 4, 1))
    with pytest.raises(MemoryError, match="fewer rows"):
        compute_kernels(X, architecture=_myrtle())


def test_cost_guard_warns_about_hours_and_names_cheaper_choices():
    net_plan = plan(split_scales(_myrtle())[0], (32, 32, 3))
    with pytest.warns(KernelCostWarning, match="Flatten"):
        seconds = check_cost(net_plan, 50_000, 50_000, True, 2, 8, 2,
                             available_bytes=1e15)
    assert seconds > 3600


@pytest.mark.parametrize("net", [
    _myrtle(),
    layers.serial(layers.Conv(3, (3, 3), padding="SAME", W_std=1.3, b_std=0.1),
                  layers.Relu(), layers.Conv(3, (3, 3), padding="SAME"), layers.Relu(),
                  layers.Flatten(), layers.Dense(1)),
], ids=["full-form", "diagonal-form"])
def test_duplicate_images_are_exact(net):
    # Issue 14's rule in conv nets: identical images give identical entries
    # (the general ReLU formula would be off by sqrt(eps) ~ 1e-8 there), in
    # train and cross kernels, whatever the images' positions.
    X = _images(n=6)
    X[4] = X[1]
    kernels = compute_kernels(X, architecture=net)
    cross = compute_kernels(X[:2], X[3:], architecture=net)
    for name in ("nngp", "ntk"):
        K, C = getattr(kernels, name), getattr(cross, name)
        assert K[1, 4] == K[1, 1] == K[4, 4]
        assert C[1, 1] == K[1, 1]


def test_staged_programs_follow_the_image_shape():
    # The staged programs are shared between calls and keyed on the layers;
    # a pooled net on images of one size, then another, then the first
    # again, must give each size its own kernels (a first program keyed
    # without the image shape handed the second call the first's shapes).
    # Reference: each size computed again from empty program caches, which
    # compiles the same programs: bit for bit equal. (The staged engine
    # against the whole-net one is tested above.)
    from sklearn_ntk import _recursion
    net = layers.serial(
        layers.Conv(1, (2, 2), padding="SAME", W_std=1.4, b_std=0.2), layers.Relu(),
        layers.AvgPool((2, 2), strides=(2, 2)), layers.GlobalAvgPool(),
        layers.Dense(1, W_std=1.4, b_std=0.2))
    rng = np.random.default_rng(3)
    images = [rng.standard_normal((3, side, side, 1)) for side in (4, 6, 4)]
    in_turn = [compute_kernels(X, architecture=net) for X in images]
    for X, kernels in zip(images, in_turn):
        _recursion._STAGE_OUTPUTS.clear()
        jax.clear_caches()
        for got, want in zip(kernels, compute_kernels(X, architecture=net)):
            np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# repeat: n applications, one compiled application
# ---------------------------------------------------------------------------

# repeat's loop evaluates the same formulas as the unrolled serial in float64;
# only XLA's fusion and summation order differ: a few ulps per layer
# (measured <= 4e-14 relative after 40 ReLU layers), so 1e-12 of the largest
# entry means "equal".
REPEAT_EXACT = 1e-12


def _flat_rows(n=7, d=5, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    x[-1] = x[0]  # an exact duplicate: rho = 1 off the diagonal
    x[-2] = x[1] + 1e-9  # a near-duplicate: the distance-carrying path
    return x


def _residual_block(padding="SAME"):
    conv = layers.Conv(4, (2, 2), padding=padding, W_std=1.3, b_std=0.1)
    return layers.serial(layers.FanOut(2),
                         layers.parallel(layers.serial(layers.Relu(), conv), conv),
                         layers.FanInSum())


def _dense_block(**kwargs):
    return layers.serial(layers.Relu(), layers.Dense(64, W_std=1.4, b_std=0.2, **kwargs))


# (head, block, n, tail, inputs): serial(head, repeat(block, n), tail). The
# test lowers the unrolled limit to 1 so that small n take the loop (or its
# fallback) and the unrolled twins compile fast.
REPEATED = {
    # A deep MLP after its first layer (the path of compute_kernels(depth=...)).
    "mlp": (layers.Dense(64, W_std=1.4, b_std=0.2), _dense_block(), 6,
            layers.serial(layers.Relu(), layers.Dense(1, W_std=1.1, b_std=0.1)),
            _flat_rows),
    "erf_standard_no_bias": (
        layers.Dense(16, W_std=1.2, parameterization="standard"),
        layers.serial(layers.Erf(1.1, 0.9, 0.1),
                      layers.Dense(16, W_std=1.2, parameterization="standard")),
        4, layers.Dense(1, W_std=1.0, parameterization="standard"), _flat_rows),
    # No linear layer in the loop: it reads no scales.
    "activations_only": (layers.Dense(16, W_std=1.2, b_std=0.3), layers.Erf(), 4,
                         layers.Dense(1, W_std=1.0, b_std=0.1), _flat_rows),
    # Branches inside the loop: residual blocks in the diagonal form.
    "residual_diagonal": (layers.Conv(4, (2, 2), padding="SAME", W_std=1.3, b_std=0.1),
                          _residual_block(), 3,
                          layers.serial(layers.Relu(), layers.Flatten(), layers.Dense(1)),
                          lambda: _images(n=4, shape=(4, 3, 2))),
    # A chain of convolutions on images runs staged, layer by layer.
    "conv_chain_staged": (layers.Conv(4, (2, 2), padding="SAME", W_std=1.3, b_std=0.1),
                          layers.serial(layers.Relu(), layers.Conv(4, (2, 2), padding="SAME",
                                                                   W_std=1.3, b_std=0.1)),
                          3, layers.serial(layers.Relu(), layers.AvgPool((2, 2)),
                                           layers.Flatten(), layers.Dense(1)),
                          lambda: _images(n=4, shape=(4, 3, 2))),
    # Full (position-pair) states, a global pool follows: unrolled.
    "residual_full": (layers.Conv(4, (2, 2), padding="SAME", W_std=1.3, b_std=0.1),
                      _residual_block(), 3,
                      layers.serial(layers.Relu(), layers.GlobalAvgPool(), layers.Dense(1)),
                      lambda: _images(n=4, shape=(4, 3, 2))),
    # Each application shrinks the image: the loop refuses it, unrolled.
    "valid_shrinks": (layers.Conv(4, (2, 2), padding="SAME", W_std=1.3, b_std=0.1),
                      _residual_block("VALID"), 3,
                      layers.serial(layers.Relu(), layers.Flatten(), layers.Dense(1)),
                      lambda: _images(n=4, shape=(5, 4, 2))),
}


@pytest.mark.parametrize("case", sorted(REPEATED))
def test_repeat_equals_the_unrolled_serial(case, monkeypatch):
    monkeypatch.setattr(_recursion, "UNROLLED_REPEATS", 1)
    head, block, n, tail, inputs = REPEATED[case]
    x = inputs()
    looped = compute_kernels(x, architecture=layers.serial(head, layers.repeat(block, n), tail))
    unrolled = compute_kernels(x, architecture=layers.serial(head, *[block] * n, tail))
    for mine, expected in ((looped.nngp, unrolled.nngp), (looped.ntk, unrolled.ntk)):
        assert np.all(np.isfinite(mine))
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(mine, expected, rtol=0, atol=REPEAT_EXACT * scale)
    if inputs is _flat_rows:  # rho = 1 entries stay exact through the loop
        np.testing.assert_array_equal(looped.ntk[0, -1], looped.ntk[0, 0])


def _n_equations(net, x):
    skeleton, scales = split_scales(net)
    with x64_scope():
        jaxpr = jax.make_jaxpr(lambda a: net_kernels(a, a, scales, net=skeleton,
                                                     symmetric=True))(jnp.asarray(x))
    return len(jaxpr.jaxpr.eqns)


def test_repeat_traces_one_application_whatever_n():
    # What makes a deep network compile in constant time: the traced program
    # of repeat(block, n) has the same size for every n above the unrolled
    # limit, while the unrolled serial's grows with n.
    head, block, _, tail, _ = REPEATED["mlp"]
    x = _flat_rows()
    n_values = (_recursion.UNROLLED_REPEATS + 1, 40)
    looped = [_n_equations(layers.serial(head, layers.repeat(block, n), tail), x)
              for n in n_values]
    unrolled = [_n_equations(layers.serial(head, *[block] * n, tail), x) for n in n_values]
    assert looped[0] == looped[1]
    assert unrolled[1] > unrolled[0] > looped[0]


def test_deep_mlp_arguments_equal_the_unrolled_layers():
    # compute_kernels(depth=12) builds its 11 hidden layers after the first
    # with repeat, a loop at the default limit; the same network written
    # layer by layer is unrolled.
    depth = 12
    assert depth - 1 > _recursion.UNROLLED_REPEATS
    x = _flat_rows(n=9)
    kwargs = dict(weight_std=1.3, bias_std=0.2)
    net = layers.serial(*[layers.Dense(512, 1.3, 0.2), layers.Relu()] * depth,
                        layers.Dense(1, 1.3, 0.2))
    deep = compute_kernels(x, depth=depth, **kwargs)
    unrolled = compute_kernels(x, architecture=net)
    for mine, expected in ((deep.nngp, unrolled.nngp), (deep.ntk, unrolled.ntk)):
        np.testing.assert_allclose(mine, expected, rtol=0,
                                   atol=REPEAT_EXACT * np.max(np.abs(expected)))
    diagonal = compute_kernel_diagonals(x, depth=depth, **kwargs)
    np.testing.assert_allclose(diagonal.ntk, np.diag(deep.ntk), rtol=REPEAT_EXACT, atol=0)


def test_repeat_is_a_value_and_checks_its_arguments():
    net = layers.serial(layers.Dense(8), layers.repeat(_dense_block(), 3))
    assert net == layers.serial(layers.Dense(8), layers.repeat(_dense_block(), 3))
    assert net != layers.serial(layers.Dense(8), layers.repeat(_dense_block(), 4))
    assert pickle.loads(pickle.dumps(net)) == net
    assert eval(repr(net), vars(layers)) == net  # noqa: S307 - our own repr
    with pytest.raises(ValueError, match="positive integer"):
        layers.repeat(_dense_block(), 0)
    with pytest.raises(TypeError, match="not a layer"):
        layers.repeat("relu", 3)

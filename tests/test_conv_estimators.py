"""Estimators and GP kernels with ``architecture=`` and ``image_shape=``.

The scikit-learn face of the convolutional kernels: the estimator checks
with a small convolutional network, flattened images through ``Pipeline``
and ``GridSearchCV``, the kernel cache's keys, the errors of
``image_shape``, the GP-kernel contract for a convolutional kernel, and the
agreement of every estimator with ``compute_kernels(architecture=...)``
plus the closed form. The kernels themselves are checked against
neural-tangents in ``tests/reference``.

Images are tiny (at most 4 x 4 pixels) so that the full spatial form
(pooling) stays cheap; each distinct shape costs a JIT compilation.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ntk import (
    NNGPClassifier,
    NNGPClassifierCV,
    NNGPKernel,
    NNGPRegressor,
    NTKClassifier,
    NTKKernel,
    NTKRegressor,
    NTKRegressorCV,
    compute_kernels,
    layers,
)
from sklearn_ntk._regressors import KERNEL_CACHE

# float64 throughout; two evaluations of the same kernel through different
# code paths (tiles, solvers) agree to a few ulps of the kernel's scale, and
# a Cholesky solve of a matrix with condition number <= 1e4 loses at most
# ~1e-12 relative: 1e-9 is "equal" with a wide margin, while any real error
# (another kernel, a wrong reshape) is O(1).
TIGHT = 1e-9

IMAGE_SHAPE = (4, 4, 1)

#: Conv then Flatten: the diagonal spatial form (no pooling after the conv).
FLATTEN_NET = layers.serial(
    layers.Conv(1, (3, 3), padding="SAME", W_std=1.5, b_std=0.1), layers.Relu(),
    layers.Flatten(), layers.Dense(1, W_std=1.5, b_std=0.1),
)
#: Conv, pooling and global pooling: the full spatial form.
GAP_NET = layers.serial(
    layers.Conv(1, (2, 2), padding="SAME", W_std=1.4, b_std=0.2), layers.Relu(),
    layers.AvgPool((2, 2), strides=(2, 2)),
    layers.Conv(1, (2, 2), padding="CIRCULAR", W_std=1.4, b_std=0.2), layers.Relu(),
    layers.GlobalAvgPool(), layers.Dense(1, W_std=1.4, b_std=0.2),
)
#: For scikit-learn's checks, whose X has any number of features: each row
#: is a 1 x n_features image (image_shape=(1, -1, 1)) under a 1 x 3 filter.
ROW_NET = layers.serial(
    layers.Conv(1, (1, 3), padding="SAME", W_std=1.5, b_std=0.5), layers.Relu(),
    layers.Flatten(), layers.Dense(1, W_std=1.5, b_std=0.5),
)


def _images(rng, n, shape=IMAGE_SHAPE):
    return rng.standard_normal((n, int(np.prod(shape))))


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def _closed_form_mean(k_test_train, k_train_train, y, diag_reg):
    """Infinite-time mean: k_*X (K + diag_reg mean(diag K) I)^-1 y."""
    regularised = k_train_train + diag_reg * np.mean(np.diag(k_train_train)) * np.eye(
        len(k_train_train))
    return k_test_train @ np.linalg.solve(regularised, y)


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks with a convolutional architecture
# ---------------------------------------------------------------------------


# diag_reg=1.0 for NTKClassifier as in tests/test_classifiers.py: it keeps
# the probabilities of check_decision_proba_consistency's well-separated
# points away from 0 and 1, where rounding to 10 decimals ties them.
@parametrize_with_checks([
    NTKRegressor(architecture=ROW_NET, image_shape=(1, -1, 1)),
    NNGPRegressor(architecture=ROW_NET, image_shape=(1, -1, 1)),
    NTKClassifier(architecture=ROW_NET, image_shape=(1, -1, 1), diag_reg=1.0),
    NNGPClassifier(architecture=ROW_NET, image_shape=(1, -1, 1)),
])
def test_scikit_learn_estimator_checks(estimator, check):
    # No expected failures.
    check(estimator)


# ---------------------------------------------------------------------------
# Agreement with compute_kernels + the closed form
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("net", [FLATTEN_NET, GAP_NET], ids=["flatten", "gap"])
def test_regressors_equal_compute_kernels_and_closed_form(net, rng):
    x, z = _images(rng, 24), _images(rng, 7)
    y = np.sin(x[:, 0]) + x[:, 5]
    images, test_images = x.reshape(-1, *IMAGE_SHAPE), z.reshape(-1, *IMAGE_SHAPE)
    train = compute_kernels(images, architecture=net)
    test = compute_kernels(test_images, images, architecture=net)
    prior = compute_kernels(test_images, architecture=net, get="nngp").nngp
    diag_reg = 0.05

    ntk = NTKRegressor(architecture=net, image_shape=IMAGE_SHAPE, diag_reg=diag_reg)
    expected = _closed_form_mean(test.ntk, train.ntk, y, diag_reg)
    assert _relative(ntk.fit(x, y).predict(z), expected) < TIGHT

    nngp = NNGPRegressor(architecture=net, image_shape=IMAGE_SHAPE, diag_reg=diag_reg)
    mean, cov = nngp.fit(x, y).predict(z, return_cov=True)
    regularised = train.nngp + diag_reg * np.mean(np.diag(train.nngp)) * np.eye(24)
    expected_cov = prior - test.nngp @ np.linalg.solve(regularised, test.nngp.T)
    assert _relative(mean, _closed_form_mean(test.nngp, train.nngp, y, diag_reg)) < TIGHT
    # The posterior covariance is a difference of O(1) terms: compare to
    # the prior's scale.
    np.testing.assert_allclose(cov, expected_cov, rtol=0, atol=TIGHT * np.abs(prior).max())
    # std is the square root of the covariance's diagonal.
    _, std = nngp.predict(z, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(np.diag(cov)), rtol=1e-7)


def test_classifier_equals_closed_form_on_encoded_labels(rng):
    x, z = _images(rng, 30), _images(rng, 9)
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 30)]
    images, test_images = x.reshape(-1, *IMAGE_SHAPE), z.reshape(-1, *IMAGE_SHAPE)
    train = compute_kernels(images, architecture=GAP_NET, get="ntk").ntk
    test = compute_kernels(test_images, images, architecture=GAP_NET, get="ntk").ntk
    # "centered" targets: one-hot minus 1 / n_classes.
    onehot = (labels[:, None] == np.array(["a", "b", "c"])).astype(float)
    expected = _closed_form_mean(test, train, onehot - 1.0 / 3, 0.1)
    model = NTKClassifier(architecture=GAP_NET, image_shape=IMAGE_SHAPE).fit(x, labels)
    # The mean outputs of the ensemble (decision_function is the log of
    # predict_proba since issue 14; predict is the argmax of the means).
    assert _relative(model.regressor_.predict(z), expected) < TIGHT
    np.testing.assert_array_equal(model.predict(z),
                                  np.array(["a", "b", "c"])[expected.argmax(1)])


def test_kernel_fn_receives_images_with_image_shape(rng):
    # image_shape also reshapes for a user kernel_fn (e.g. a stax kernel_fn).
    x, z = _images(rng, 12), _images(rng, 4)
    y = x[:, 0]
    shapes = []

    def kernel_fn(x1, x2):
        shapes.append(x1.shape[1:])
        # The train kernel comes as kernel_fn(x, x): take the symmetric path
        # (exact rho = 1 diagonal), as the estimator's own kernels do.
        kernels = compute_kernels(x1, None if x2 is x1 else x2,
                                  architecture=FLATTEN_NET)
        return kernels.nngp, kernels.ntk

    by_fn = NTKRegressor(kernel_fn=kernel_fn, image_shape=IMAGE_SHAPE).fit(x, y)
    by_net = NTKRegressor(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE).fit(x, y)
    assert set(shapes) == {IMAGE_SHAPE}
    assert _relative(by_fn.predict(z), by_net.predict(z)) < TIGHT


# ---------------------------------------------------------------------------
# Pipelines, searches, clone and pickle
# ---------------------------------------------------------------------------


def test_pipeline_with_scaler_equals_scaled_closed_form(rng):
    # Pixels on very different scales: the scaler must act on the flat rows,
    # and the network must see the scaled pixels as images.
    x = _images(rng, 20) * np.arange(1, 17) + 3.0
    z = _images(rng, 5) * np.arange(1, 17) + 3.0
    y = np.cos(x[:, 3] / 4)
    pipeline = make_pipeline(
        StandardScaler(),
        NTKRegressor(architecture=GAP_NET, image_shape=IMAGE_SHAPE, diag_reg=0.01),
    ).fit(x, y)
    scaler = StandardScaler().fit(x)
    images = scaler.transform(x).reshape(-1, *IMAGE_SHAPE)
    test_images = scaler.transform(z).reshape(-1, *IMAGE_SHAPE)
    expected = _closed_form_mean(
        compute_kernels(test_images, images, architecture=GAP_NET, get="ntk").ntk,
        compute_kernels(images, architecture=GAP_NET, get="ntk").ntk, y, 0.01)
    assert _relative(pipeline.predict(z), expected) < TIGHT


def test_grid_search_over_architectures(rng):
    x = _images(rng, 36)
    labels = (x[:, :8].sum(axis=1) > x[:, 8:].sum(axis=1)).astype(int)
    cv = KFold(3, shuffle=True, random_state=0)
    candidates = [None, FLATTEN_NET, GAP_NET]
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NTKClassifier(image_shape=IMAGE_SHAPE)),
        {"ntkclassifier__architecture": candidates}, cv=cv,
    ).fit(x, labels)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == 3
    # Each candidate's score is that of the estimator built with it directly
    # (the search really evaluated each architecture)...
    for net, score in zip(candidates, scores):
        direct = cross_val_score(
            make_pipeline(StandardScaler(),
                          NTKClassifier(architecture=net, image_shape=IMAGE_SHAPE)),
            x, labels, cv=cv)
        assert score == pytest.approx(direct.mean(), abs=1e-12)
    # ...and the refit carries the winner.
    best = search.best_params_["ntkclassifier__architecture"]
    assert search.best_estimator_[-1].architecture == best
    assert best is candidates[int(np.argmax(scores))]


def test_clone_pickle_and_repr(rng):
    model = NTKRegressor(architecture=GAP_NET, image_shape=IMAGE_SHAPE, diag_reg=0.01)
    cloned = clone(model)
    assert cloned.architecture == GAP_NET and cloned.architecture is not GAP_NET
    assert cloned.get_params() == model.get_params()
    text = repr(model)
    assert "architecture=serial(Conv(" in text and "image_shape=(4, 4, 1)" in text
    x, z = _images(rng, 16), _images(rng, 3)
    fitted = model.fit(x, x[:, 0])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(z), fitted.predict(z))
    assert restored.architecture == GAP_NET


# ---------------------------------------------------------------------------
# The kernel cache
# ---------------------------------------------------------------------------


def test_cache_separates_architectures_and_image_shapes(rng):
    KERNEL_CACHE.clear()
    x, z = _images(rng, 16), _images(rng, 4)
    y = x[:, 2]
    fits = {
        "mlp": NTKRegressor(image_shape=IMAGE_SHAPE),
        "flatten": NTKRegressor(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE),
        "gap": NTKRegressor(architecture=GAP_NET, image_shape=IMAGE_SHAPE),
        "gap 2x8": NTKRegressor(architecture=GAP_NET, image_shape=(2, 8, 1)),
    }
    predictions = {name: model.fit(x, y).predict(z) for name, model in fits.items()}
    assert KERNEL_CACHE.misses == 4 and KERNEL_CACHE.hits == 0
    names = list(predictions)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert _relative(predictions[first], predictions[second]) > 1e-3, (first, second)
    # Each matches its own kernels (no entry was served to another network).
    images = x.reshape(-1, 2, 8, 1)
    expected = _closed_form_mean(
        compute_kernels(z.reshape(-1, 2, 8, 1), images, architecture=GAP_NET).ntk,
        compute_kernels(images, architecture=GAP_NET).ntk, y, 0.1)
    assert _relative(predictions["gap 2x8"], expected) < TIGHT
    # An equal network (a clone's deep copy, or one built again) shares the
    # entry: GridSearchCV over t reuses the kernels.
    rebuilt = layers.serial(*GAP_NET.layers)
    NTKRegressor(architecture=rebuilt, image_shape=IMAGE_SHAPE, t=5.0).fit(x, y)
    clone(fits["gap"]).set_params(t=2.0).fit(x, y)
    assert KERNEL_CACHE.hits == 2 and KERNEL_CACHE.misses == 4


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_image_shape_mismatch_names_both_numbers(rng):
    model = NTKRegressor(architecture=GAP_NET, image_shape=(4, 4, 1))
    with pytest.raises(ValueError, match=r"X has 15 features, but image_shape=\(4, 4, 1\) "
                                         r"needs H \* W \* C = 4 \* 4 \* 1 = 16"):
        model.fit(rng.standard_normal((8, 15)), np.ones(8))
    # A failed fit leaves a fitted estimator as it was.
    x = _images(rng, 8)
    model.fit(x, x[:, 0])
    before = model.predict(x[:2])
    with pytest.raises(ValueError, match="15 features"):
        model.fit(rng.standard_normal((8, 15)), np.ones(8))
    assert model.n_features_in_ == 16
    np.testing.assert_array_equal(model.predict(x[:2]), before)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        NTKRegressor(architecture=GAP_NET, image_shape=(2, 2, -1)).fit(
            rng.standard_normal((8, 15)), np.ones(8))


@pytest.mark.parametrize("image_shape", [(4, 4), (0, 4, 1), (4, -1, -1), (4.0, 4, 1),
                                         (4, 4, True)])
def test_bad_image_shape_raises_clear_error(image_shape, rng):
    x = _images(rng, 8)
    for model in (NTKRegressor(architecture=FLATTEN_NET, image_shape=image_shape),
                  NNGPClassifier(image_shape=image_shape)):
        with pytest.raises(ValueError, match=r"must be a tuple \(H, W, C\) of three"):
            model.fit(x, (x[:, 0] > 0).astype(int))
    with pytest.raises(ValueError, match=r"must be a tuple \(H, W, C\)"):
        NTKKernel(architecture=FLATTEN_NET, image_shape=image_shape)(x)


def test_image_shape_is_checked_without_architecture(rng):
    # The MLP reads the flattened rows, but a wrong image_shape is still a
    # mistake worth reporting.
    with pytest.raises(ValueError, match="X has 16 features"):
        NTKRegressor(image_shape=(3, 3, 1)).fit(_images(rng, 8), np.ones(8))
    x, z = _images(rng, 10), _images(rng, 3)
    with_shape = NTKRegressor(image_shape=IMAGE_SHAPE).fit(x, x[:, 0]).predict(z)
    without = NTKRegressor().fit(x, x[:, 0]).predict(z)
    np.testing.assert_array_equal(with_shape, without)


def test_architecture_and_kernel_fn_together_is_an_error(rng):
    model = NTKRegressor(architecture=FLATTEN_NET, kernel_fn=lambda a, b: (a @ b.T,) * 2)
    with pytest.raises(ValueError, match="architecture and kernel_fn are both set"):
        model.fit(_images(rng, 8), np.ones(8))


def test_architecture_must_be_a_layers_network(rng):
    with pytest.raises((TypeError, ValueError), match="architecture"):
        NTKRegressor(architecture="cnn").fit(_images(rng, 8), np.ones(8))


def test_conv_without_image_shape_names_the_fix(rng):
    model = NTKRegressor(architecture=GAP_NET)
    with pytest.raises(ValueError, match=r"spatial(.|\n)*pass image_shape=\(H, W, C\)"):
        model.fit(_images(rng, 8), np.ones(8))
    assert not hasattr(model, "n_features_in_")


@pytest.mark.parametrize("Estimator", [NTKRegressor, NNGPClassifier, NTKRegressorCV,
                                       NNGPClassifierCV])
def test_image_arrays_are_refused_with_the_reshape_named(Estimator, rng):
    # A stax user's NHWC array: the estimators take flattened rows (so that
    # scalers and Pipelines work) and say how, in fit and in predict, and a
    # failed call leaves the estimator as it was.
    images = rng.standard_normal((8, *IMAGE_SHAPE))
    labels = np.arange(8) % 2
    fix = r"X has shape \(8, 4, 4, 1\).*X.reshape\(len\(X\), -1\) and image_shape=\(4, 4, 1\)"
    model = Estimator(architecture=FLATTEN_NET)
    with pytest.raises(ValueError, match=fix):
        model.fit(images, labels)
    assert not hasattr(model, "n_features_in_")
    model = Estimator(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE)
    model.fit(images.reshape(8, -1), labels)
    before = model.predict(images[:2].reshape(2, -1))
    with pytest.raises(ValueError, match=fix.replace("8, 4", "2, 4")):
        model.predict(images[:2])
    np.testing.assert_array_equal(model.predict(images[:2].reshape(2, -1)), before)


# ---------------------------------------------------------------------------
# The GP kernel contract for a convolutional kernel
# ---------------------------------------------------------------------------

CONV_KERNELS = [
    NTKKernel(architecture=GAP_NET, image_shape=IMAGE_SHAPE),
    NNGPKernel(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE),
]
COMPOUND_CONV_KERNELS = [
    ConstantKernel(2.0) * NTKKernel(architecture=GAP_NET, image_shape=IMAGE_SHAPE)
    + WhiteKernel(0.1),
    NNGPKernel(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE) + NTKKernel(depth=1),
]
ALL_CONV_KERNELS = CONV_KERNELS + COMPOUND_CONV_KERNELS


def _ids(kernels):
    return [type(k).__name__ + str(i) for i, k in enumerate(kernels)]


def _finite_difference_gradient(kernel, X, step=1e-6):
    theta = kernel.theta
    columns = []
    for i in range(theta.size):
        shift = np.zeros_like(theta)
        shift[i] = step
        upper = kernel.clone_with_theta(theta + shift)(X)
        lower = kernel.clone_with_theta(theta - shift)(X)
        columns.append((upper - lower) / (2 * step))
    return np.stack(columns, axis=-1)


def test_conv_kernel_has_no_tunable_scales():
    # The network's layers carry their W_std and b_std: the kernel's own
    # weight_std / bias_std are fixed (and ignored), theta is empty.
    for kernel in CONV_KERNELS:
        assert [h.name for h in kernel.hyperparameters] == ["bias_std", "weight_std"]
        assert all(h.fixed for h in kernel.hyperparameters)
        assert kernel.n_dims == 0 and kernel.theta.shape == (0,)
        assert kernel.bounds.size == 0
    # So the scales do not change the kernel.
    x = _images(np.random.default_rng(0), 6)
    np.testing.assert_array_equal(
        NTKKernel(0.3, 0.0, architecture=GAP_NET, image_shape=IMAGE_SHAPE)(x),
        CONV_KERNELS[0](x))


@pytest.mark.parametrize("kernel", ALL_CONV_KERNELS, ids=_ids(ALL_CONV_KERNELS))
def test_conv_kernel_gradient_matches_finite_differences(kernel, rng):
    kernel = clone(kernel)
    x = _images(rng, 8)
    K, K_gradient = kernel(x, eval_gradient=True)
    assert K_gradient.shape == (8, 8, kernel.theta.shape[0])
    np.testing.assert_array_equal(K, kernel(x))
    if kernel.theta.size:
        # Central differences in log space (see test_gp_kernels): 1e-7 |K|.
        np.testing.assert_allclose(K_gradient, _finite_difference_gradient(kernel, x),
                                   rtol=0, atol=1e-7 * np.abs(K).max())


@pytest.mark.parametrize("kernel", ALL_CONV_KERNELS, ids=_ids(ALL_CONV_KERNELS))
def test_conv_kernel_theta_round_trip_clone_and_pickle(kernel, rng):
    kernel = clone(kernel)
    x = _images(rng, 6)
    theta = kernel.theta
    if theta.size:
        shifted = theta + 0.25
        kernel.theta = shifted
        np.testing.assert_allclose(kernel.theta, shifted, rtol=1e-15)
        kernel.theta = theta
    cloned = clone(kernel)
    assert cloned == kernel and cloned is not kernel
    assert cloned.get_params() == kernel.get_params()
    np.testing.assert_array_equal(cloned(x), kernel(x))
    restored = pickle.loads(pickle.dumps(kernel))
    assert restored == kernel
    np.testing.assert_array_equal(restored(x), kernel(x))


@pytest.mark.parametrize("kernel", ALL_CONV_KERNELS, ids=_ids(ALL_CONV_KERNELS))
def test_conv_kernel_diag_and_auto_vs_cross(kernel, rng):
    kernel = clone(kernel)
    x = _images(rng, 7)
    K = kernel(x)
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_allclose(kernel.diag(x), np.diag(K), rtol=1e-12)
    cross = kernel(x, x.copy())
    white = [k for k in (getattr(kernel, "k2", None),) if isinstance(k, WhiteKernel)]
    if white:
        K = K - white[0].noise_level * np.eye(len(x))
    off = ~np.eye(len(x), dtype=bool)
    assert _relative(K[off], cross[off]) < 1e-12
    # The cross kernel's diagonal uses the general formula at rho = 1
    # (~sqrt(eps) error), the symmetric one the exact rho = 1 formula.
    assert _relative(np.diag(K), np.diag(cross)) < 1e-6


@pytest.mark.parametrize("kernel", CONV_KERNELS, ids=_ids(CONV_KERNELS))
def test_conv_kernel_equals_compute_kernels(kernel, rng):
    x, z = _images(rng, 6), _images(rng, 4)
    name = kernel._kernel
    images = x.reshape(-1, *IMAGE_SHAPE)
    expected = getattr(compute_kernels(images, architecture=kernel.architecture,
                                       get=name), name)
    np.testing.assert_array_equal(kernel(x), expected)
    cross = getattr(compute_kernels(z.reshape(-1, *IMAGE_SHAPE), images,
                                    architecture=kernel.architecture, get=name), name)
    np.testing.assert_array_equal(kernel(z, x), cross)


def test_conv_kernel_repr_evaluates_back():
    kernel = NTKKernel(architecture=FLATTEN_NET, image_shape=IMAGE_SHAPE)
    text = repr(kernel)
    assert text.startswith("NTKKernel(architecture=serial(Conv(")
    assert text.endswith("image_shape=(4, 4, 1))")
    namespace = {name: getattr(layers, name) for name in layers.__all__}
    namespace["NTKKernel"] = NTKKernel
    assert eval(text, namespace) == kernel


def test_gpr_and_svc_with_a_conv_kernel(rng):
    x = _images(rng, 30)
    y = np.tanh(x[:, :4].sum(axis=1))
    kernel = ConstantKernel() * NNGPKernel(architecture=GAP_NET,
                                           image_shape=IMAGE_SHAPE) + WhiteKernel()
    gpr = GaussianProcessRegressor(kernel=kernel, random_state=0).fit(x, y)
    # The marginal likelihood rose from the start (the constant and the noise
    # are tuned with exact gradients assembled from the conv kernel's values).
    assert gpr.log_marginal_likelihood_value_ > gpr.log_marginal_likelihood(kernel.theta)
    assert gpr.kernel_.k1.k2.architecture == GAP_NET
    conv = NTKKernel(architecture=GAP_NET, image_shape=IMAGE_SHAPE)
    labels = (y > 0).astype(int)
    svc = SVC(kernel=conv).fit(x, labels)
    precomputed = SVC(kernel="precomputed").fit(conv(x), labels)
    np.testing.assert_allclose(svc.decision_function(x[:5]),
                               precomputed.decision_function(conv(x[:5], x)),
                               rtol=1e-10, atol=1e-10)

"""Convolutional networks from sklearn_ntk.layers against neural-tangents 0.6.5.

Runs in the legacy environment (jax 0.4.26, neural-tangents 0.6.5); skipped
elsewhere. Every network is written once as a function of the layer module,
``net(stax)`` and ``net(layers)``: the port from stax is the import.

Tolerances, relative to the largest entry of each kernel:

* 1e-9 for every entry that pairs two different inputs (both libraries are
  float64 and evaluate the same formulas; the summation orders of the
  convolutions differ, which costs a few ulps per layer).
* Entries at rho = 1 (an image with itself: the diagonal, and duplicate
  images) for the ReLU family: neural-tangents evaluates
  ``sqrt(q11 q22 - q12^2)`` of a cancelled difference there and is off by
  about ``sqrt(eps) ~ 1e-8`` per layer, so it is compared at 1e-6, while our
  diagonal is compared at 1e-9 with an independent exact value:
  neural-tangents' own ``cov1``, whose per-image variances never go through
  a cross-covariance GEMM.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

from sklearn_ntk import NNGPRegressor, NTKRegressor, compute_kernels, layers  # noqa: E402
from sklearn_ntk._precision import x64_scope  # noqa: E402

pytestmark = [pytest.mark.reference,
              pytest.mark.filterwarnings("ignore::UserWarning")]

EXACT = 1e-9
AT_RHO_ONE = 1e-6  # neural-tangents' own error there (module docstring)


@pytest.fixture(scope="module", autouse=True)
def float64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


# ---------------------------------------------------------------------------
# Networks, written against either module
# ---------------------------------------------------------------------------


def cnn_flatten(m):
    """Diagonal form: no pooling."""
    return m.serial(m.Conv(8, (3, 3), padding="SAME", W_std=1.3, b_std=0.2), m.Relu(),
                    m.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), m.Relu(),
                    m.Flatten(), m.Dense(1, W_std=1.1, b_std=0.3))


def valid_strided_nonsquare(m):
    """VALID padding, strides, a non-square filter on non-square images."""
    return m.serial(m.Conv(8, (3, 2), strides=(2, 1), padding="VALID", W_std=1.2,
                           b_std=0.3), m.Erf(),
                    m.Conv(8, (2, 3), padding="VALID", W_std=0.9, b_std=0.1), m.Relu(),
                    m.Flatten(), m.Dense(1, W_std=1.3, b_std=0.1))


def circular_gap(m):
    """CIRCULAR padding with strides, then global pooling (full form)."""
    return m.serial(m.Conv(8, (3, 3), strides=(2, 1), padding="CIRCULAR", W_std=1.5,
                           b_std=0.2), m.Gelu(),
                    m.Conv(8, (2, 2), padding="CIRCULAR", W_std=1.1), m.Relu(),
                    m.GlobalAvgPool(), m.Dense(1, W_std=1.2, b_std=0.2))


def myrtle_like(m):
    """Pooling before global pooling."""
    return m.serial(m.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), m.Relu(),
                    m.AvgPool((2, 2), strides=(2, 2)),
                    m.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), m.Relu(),
                    m.AvgPool((2, 2), strides=(2, 2)),
                    m.GlobalAvgPool(), m.Dense(1, W_std=1.0, b_std=0.05))


def pool_paddings(m):
    """AvgPool with SAME (both normalize_edges) and CIRCULAR padding, Dense per pixel."""
    return m.serial(m.Conv(8, (2, 2), padding="SAME", W_std=1.2, b_std=0.3), m.Relu(),
                    m.AvgPool((3, 2), strides=(2, 1), padding="SAME"),
                    m.Dense(8, W_std=1.1, b_std=0.2), m.Abs(),
                    m.AvgPool((2, 3), padding="SAME", normalize_edges=True),
                    m.Conv(8, (2, 2), padding="SAME", W_std=1.3), m.LeakyRelu(0.1),
                    m.AvgPool((2, 2), strides=(1, 2), padding="CIRCULAR"),
                    m.Flatten(), m.Dense(1, W_std=1.2, b_std=0.1))


def no_bias(m):
    """No bias anywhere (b_std=None)."""
    return m.serial(m.Conv(8, (3, 3), padding="SAME", W_std=1.5), m.Relu(),
                    m.AvgPool((2, 2)), m.Conv(8, (2, 2), W_std=1.2), m.Relu(),
                    m.GlobalAvgPool(), m.Dense(1, W_std=1.0))


def _residual_block(m, channels=8):
    """FanOut, two convolutions beside an Identity, FanInSum."""
    def conv():
        return m.Conv(channels, (3, 3), padding="SAME", W_std=1.3, b_std=0.1)

    return m.serial(m.FanOut(2),
                    m.parallel(m.serial(m.Relu(), conv(), m.Relu(), conv()), m.Identity()),
                    m.FanInSum())


def residual(m):
    """A residual block (FanOut, parallel, Identity, FanInSum)."""
    block = _residual_block(m)
    return m.serial(m.Conv(8, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), block,
                    m.Relu(), m.AvgPool((2, 2), strides=(2, 2)),
                    m.Conv(8, (2, 2), padding="SAME", W_std=1.2), block, m.Relu(),
                    m.GlobalAvgPool(), m.Dense(1, W_std=1.2, b_std=0.1))


def standard_parameterization(m):
    """The 'standard' NTK (fan-in times the kernel) in Conv and Dense."""
    std = dict(parameterization="standard")
    return m.serial(m.Conv(5, (3, 2), padding="SAME", W_std=1.3, b_std=0.2, **std),
                    m.Relu(), m.AvgPool((2, 2)),
                    m.Conv(7, (2, 2), W_std=1.1, **std), m.Erf(),
                    m.Flatten(), m.Dense(3, W_std=1.2, b_std=0.1, **std), m.Relu(),
                    m.Dense(1, W_std=0.9, b_std=0.3, **std))


NETWORKS = [cnn_flatten, valid_strided_nonsquare, circular_gap, myrtle_like,
            pool_paddings, no_bias, residual, standard_parameterization]
# Networks whose nonlinearities are all outside the ReLU family evaluate no
# cancelled sqrt at rho = 1.
SQRT_FREE = set()


def _images(n=6, shape=(7, 5, 2), seed=0):
    x = np.random.default_rng(seed).standard_normal((n,) + shape)
    x[-1] = x[0]  # a duplicated image: rho = 1 off the diagonal too
    return x


def _relative(a, b, scale):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / scale)


def _nt_kernel_fn(network):
    _, _, kernel_fn = network(stax)
    return jax.jit(kernel_fn, static_argnames="get")


@pytest.mark.parametrize("network", NETWORKS, ids=lambda f: f.__name__)
def test_train_kernels_match_neural_tangents(network):
    _assert_train_kernels_match(network, _images())


def _assert_train_kernels_match(network, x):
    """Our train kernels of ``network(layers)`` on the images ``x`` (whose
    last one duplicates the first) against ``network(stax)``."""
    ours = compute_kernels(x, architecture=network(layers))
    kernel = _nt_kernel_fn(network)(jnp.asarray(x), None)
    n = len(x)
    at_rho_one = np.eye(n, dtype=bool)
    at_rho_one[0, -1] = at_rho_one[-1, 0] = True
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        scale = np.max(np.abs(theirs))
        assert _relative(mine[~at_rho_one], theirs[~at_rho_one], scale) <= EXACT, get
        assert _relative(mine[at_rho_one], theirs[at_rho_one], scale) <= AT_RHO_ONE, get
    # Our diagonal is exact: neural-tangents' per-image variances.
    cov1 = np.asarray(kernel.cov1)
    assert _relative(np.diag(ours.nngp), cov1, np.max(np.abs(cov1))) <= EXACT


@pytest.mark.parametrize("network", NETWORKS, ids=lambda f: f.__name__)
def test_cross_kernels_match_neural_tangents(network):
    x = np.random.default_rng(1).standard_normal((7, 7, 5, 2))
    x1, x2 = x[:3], x[3:]  # no image of x1 is in x2 (_images duplicates one)
    ours = compute_kernels(x1, x2, architecture=network(layers))
    kernel = _nt_kernel_fn(network)(jnp.asarray(x1), jnp.asarray(x2))
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        assert _relative(mine, theirs, np.max(np.abs(theirs))) <= EXACT, get


def residual_repeated(m):
    """Ten residual blocks, nine of them as ``repeat`` (our compiled loop;
    neural-tangents' lax.scan over its Kernel)."""
    block = _residual_block(m, channels=4)
    return m.serial(m.Conv(4, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), block,
                    m.repeat(block, 9), m.Relu(), m.Flatten(),
                    m.Dense(1, W_std=1.2, b_std=0.1))


def test_repeat_matches_neural_tangents_repeat():
    # A network with branches runs the whole engine in one program, where
    # repeat is a lax.scan (a chain of layers runs staged, unrolled).
    _assert_train_kernels_match(residual_repeated, _images(n=4, shape=(5, 4, 2)))


NONLINEARITIES = [
    lambda m: m.Relu(), lambda m: m.LeakyRelu(0.2), lambda m: m.ABRelu(-0.4, 1.3),
    lambda m: m.Abs(), lambda m: m.Erf(a=1.2, b=0.8, c=0.1), lambda m: m.Gelu(),
    lambda m: m.Sigmoid_like(), lambda m: m.Sin(a=0.7, b=1.3, c=0.4),
    lambda m: m.Cos(a=1.1, b=0.6, c=-0.2), lambda m: m.Rbf(gamma=0.4),
    lambda m: m.Gaussian(a=0.8, b=-0.7), lambda m: m.Gabor(), lambda m: m.Exp(a=0.5, b=0.3),
    lambda m: m.Monomial(2), lambda m: m.Polynomial([0.2, -0.5, 0.3]),
    lambda m: m.Hermite(2), lambda m: m.ExpNormalized(gamma=0.7, do_clip=True),
    lambda m: m.Identity(),
]
NONLINEARITY_IDS = ["relu", "leaky_relu", "ab_relu", "abs", "erf", "gelu",
                    "sigmoid_like", "sin", "cos", "rbf", "gaussian", "gabor", "exp",
                    "monomial", "polynomial", "hermite", "exp_normalized", "identity"]


@pytest.mark.parametrize("form", ["diagonal", "full"])
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES, ids=NONLINEARITY_IDS)
def test_every_activation_in_both_spatial_forms(nonlinearity, form):
    def network(m):
        head = (m.Flatten(),) if form == "diagonal" else (m.AvgPool((2, 2)),
                                                          m.GlobalAvgPool())
        return m.serial(m.Conv(4, (2, 2), padding="SAME", W_std=1.1, b_std=0.2),
                        nonlinearity(m),
                        m.Conv(4, (2, 2), padding="VALID", W_std=0.9, b_std=0.1),
                        nonlinearity(m), *head, m.Dense(1, W_std=1.0, b_std=0.1))

    x = _images(n=4, shape=(4, 3, 2), seed=2)
    x[-1] = x[1]
    x /= np.sqrt(np.mean(x**2, axis=(1, 2, 3), keepdims=True))  # unit variance
    x1, x2 = x[:2], x[2:]
    ours = compute_kernels(x1, x2, architecture=network(layers))
    kernel = _nt_kernel_fn(network)(jnp.asarray(x1), jnp.asarray(x2))
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        scale = np.max(np.abs(theirs))
        # x1[1] and x2[1] are the same image (rho = 1): neural-tangents' error.
        off = np.ones_like(mine, dtype=bool)
        off[1, 1] = False
        assert _relative(mine[off], theirs[off], scale) <= EXACT, get
        assert _relative(mine[1, 1], theirs[1, 1], scale) <= AT_RHO_ONE, get


def _tanh(x):
    return jnp.tanh(x)


def test_elementwise_numerical_in_a_conv_net():
    # Same Gauss-Hermite rule on both sides; the rule is asymmetric in its
    # two arguments, so compare a cross kernel without duplicates.
    def network(m):
        return m.serial(m.Conv(4, (2, 2), padding="SAME", W_std=1.2, b_std=0.1),
                        m.ElementwiseNumerical(_tanh, deg=16), m.AvgPool((2, 2)),
                        m.GlobalAvgPool(), m.Dense(1, W_std=1.0))

    x = _images(n=5, shape=(4, 4, 1), seed=3)
    ours = compute_kernels(x[:2], x[2:4], architecture=network(layers))
    kernel = _nt_kernel_fn(network)(jnp.asarray(x[:2]), jnp.asarray(x[2:4]))
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        assert _relative(mine, theirs, np.max(np.abs(theirs))) <= EXACT, get


# ---------------------------------------------------------------------------
# Predictions through gradient_descent_mse_ensemble
# ---------------------------------------------------------------------------

IMAGE = (6, 5, 1)


def _our_kernel_fn(network):
    net = network(layers)

    def kernel_fn(x1, x2):
        k = compute_kernels(x1.reshape((-1,) + IMAGE), x2.reshape((-1,) + IMAGE),
                            architecture=net)
        return k.nngp, k.ntk

    return kernel_fn


@pytest.mark.parametrize("network", [myrtle_like, cnn_flatten], ids=lambda f: f.__name__)
@pytest.mark.parametrize("t", [None, 2.0])
def test_predictions_match_gradient_descent_mse_ensemble(network, t):
    # Well-conditioned (diag_reg = 0.1): the solves amplify the 1e-9 kernel
    # agreement by at most cond / n, so 1e-8 relative (as the MLP suite).
    rng = np.random.default_rng(4)
    x_train = rng.standard_normal((16,) + IMAGE)
    x_test = rng.standard_normal((5,) + IMAGE)
    y_train = rng.standard_normal((16, 1))
    _, _, nt_kernel_fn = network(stax)
    for get, Estimator in (("ntk", NTKRegressor), ("nngp", NNGPRegressor)):
        with x64_scope():
            predict_fn = nt.predict.gradient_descent_mse_ensemble(
                nt_kernel_fn, jnp.asarray(x_train), jnp.asarray(y_train), diag_reg=0.1)
            out = predict_fn(t=t, x_test=jnp.asarray(x_test), get=get, compute_cov=True)
            mean, cov = np.asarray(out.mean), np.asarray(out.covariance)
        model = Estimator(kernel_fn=_our_kernel_fn(network), t=t, diag_reg=0.1)
        model.fit(x_train.reshape(16, -1), y_train)
        our_mean, our_cov = model.predict(x_test.reshape(5, -1), return_cov=True)
        # One target column: our outputs follow GaussianProcessRegressor's
        # shapes, (5,) and (5, 5); neural-tangents' are (5, 1) and (5, 5).
        our_mean = our_mean.reshape(mean.shape)
        assert _relative(our_mean, mean, np.max(np.abs(mean))) < 1e-8, get
        assert _relative(our_cov, cov, np.max(np.abs(cov))) < 1e-8, get

"""Every activation, closed-form and quadrature, checked four ways.

1. Kernel properties: symmetric, positive semi-definite (eigenvalues).
2. The rho = 1 formulas (``diag``): equal to the general ``dual`` at rho = 1
   and to an independent 1-D integral (``scipy.integrate.quad``).
3. Differentiability: finite gradients w.r.t. ``weight_std``/``bias_std``
   through the recursion, on the diagonal and for duplicate rows, and equal
   to central finite differences elsewhere.
4. Monte Carlo: the empirical kernels of wide random finite networks.

Plus: quadrature of activations that have a closed form agrees with it to the
accuracy stated in ``sklearn_ntk/_activations_quadrature.py``.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from sklearn_ntk import ACTIVATIONS, compute_kernels
from sklearn_ntk._activations import dual, dual_diag, forward, resolve_activation
from sklearn_ntk._architecture import make_architecture
from sklearn_ntk._finite_network import empirical_kernels, init_params
from sklearn_ntk._precision import x64_scope
from sklearn_ntk._recursion import kernel_recursion
from tests.conftest import make_inputs


def my_mish(x):
    """A user's activation (mish), evaluated by quadrature."""
    return x * jnp.tanh(jax.nn.softplus(x))


# (activation, activation_params). Non-default parameters where the default
# would hide a parameter's effect; quadrature with few nodes where only
# consistency (not accuracy) is tested, to keep the file fast.
CASES = [
    ("relu", {}),
    ("leaky_relu", {"alpha": 0.2}),
    ("abs", {}),
    ("ab_relu", {"a": -0.5, "b": 1.5}),
    ("erf", {"a": 0.3, "b": 1.5, "c": -0.5}),
    ("sigmoid_like", {}),
    ("identity", {}),
    ("gelu", {}),
    ("sin", {"a": 0.3, "b": 1.5, "c": -math.pi / 4}),
    ("cos", {"a": 1.2, "b": 0.7, "c": 0.3}),
    ("rbf", {"gamma": 0.5}),
    ("exp", {"a": 0.5, "b": 0.3}),
    ("gaussian", {"a": 0.5, "b": -0.5}),
    ("exp_normalized", {"gamma": 0.5, "shift": -1.0}),
    ("sign", {}),
    ("monomial", {"degree": 3}),
    ("polynomial", {"coef": [0.3, 1.0, -0.4, 0.2]}),
    ("rectified_monomial", {"degree": 0}),
    ("rectified_monomial", {"degree": 2}),
    ("hermite", {"degree": 3}),
    ("gabor", {}),
    ("tanh", {"n_points": 16}),
    ("softplus", {"n_points": 16}),
    ("silu", {"n_points": 16}),
    ("swish", {"n_points": 16}),
    ("elu", {"alpha": 0.5, "n_points": 16}),
    ("selu", {"n_points": 16}),
    ("sigmoid", {"n_points": 16}),
    ("gelu_tanh", {"n_points": 16}),
    (my_mish, {"n_points": 16}),
]

QUADRATURE = {"tanh", "softplus", "silu", "swish", "elu", "selu", "sigmoid",
              "gelu_tanh", "my_mish"}

# Quadrature activations whose derivative jumps or has a cusp at 0.
KINKED = {"elu", "selu"}

# Families whose general formula contains sqrt(1 - rho^2): when rho is one ulp
# below 1 (rounding of q12 / sqrt(q11 q22)) that is sqrt(2 eps) ~ 2e-8.
SQRT_AT_RHO_ONE = {"relu", "leaky_relu", "abs", "ab_relu", "sign",
                   "rectified_monomial"}


def _name(activation):
    return activation if isinstance(activation, str) else activation.__name__


def _id(case):
    activation, params = case
    degree = params.get("degree")
    return _name(activation) + ("" if degree is None else f"-{degree}")


def _with_nodes(case, n_points):
    """The case with ``n_points`` quadrature nodes (closed forms unchanged)."""
    activation, params = case
    if _name(activation) in QUADRATURE:
        params = {**params, "n_points": n_points}
    return activation, params


def _architecture_kwargs(activation):
    """Hyperparameters that keep each kernel in its meaningful range."""
    if _name(activation) == "hermite":
        # neural-tangents' Hermite kernel assumes unit-variance inputs: unit-norm
        # rows, weight_std = 1 and no bias keep every layer at q = 1.
        return {"weight_std": 1.0, "bias_std": None}
    if _name(activation) in ("exp", "gaussian", "monomial", "polynomial"):
        return {"weight_std": 1.0, "bias_std": 0.2}
    return {"weight_std": 1.5, "bias_std": 0.2}


def _inputs(activation, rng, n, d=3, duplicates=True):
    x = make_inputs(rng, n=n, d=d, duplicates=duplicates)
    if _name(activation) == "hermite":
        x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def test_every_neural_tangents_and_quadrature_activation_is_registered():
    expected = {
        "relu", "leaky_relu", "abs", "ab_relu", "erf", "sigmoid_like", "gelu",
        "sin", "cos", "rbf", "exp", "gaussian", "exp_normalized", "sign",
        "monomial", "rectified_monomial", "polynomial", "hermite", "gabor",
        "identity", "tanh", "softplus", "silu", "swish", "elu", "selu",
        "sigmoid", "gelu_tanh",
    }
    assert expected <= set(ACTIVATIONS)
    tested = {_name(activation) for activation, _ in CASES}
    assert set(ACTIVATIONS) <= tested


# ---------------------------------------------------------------------------
# 1. Symmetry and positive semi-definiteness
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_kernels_are_symmetric_and_positive_semidefinite(rng, case):
    activation, params = case
    x = _inputs(activation, rng, n=10)
    kernels = compute_kernels(x, depth=2, activation=activation,
                              activation_params=params,
                              **_architecture_kwargs(activation))
    for k in kernels:
        assert np.all(np.isfinite(k))
        np.testing.assert_array_equal(k, k.T)
        eigenvalues = np.linalg.eigvalsh(k)
        # Closed forms are PSD up to rounding (n eps ||K||). A quadrature
        # kernel is an approximation, not a Gram matrix: with 16 nodes the NTK
        # factor of an activation whose derivative jumps (elu, selu) is off by
        # several percent (module docstring), which can leave eigenvalues of
        # about -1% of the largest (measured -1.2% for softsign); 3% bounds it.
        slack = 3e-2 if _name(activation) in QUADRATURE else 1e-12 * len(k)
        assert eigenvalues.min() >= -slack * np.abs(eigenvalues).max()


# ---------------------------------------------------------------------------
# 2. The rho = 1 formulas
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_diag_equals_dual_at_rho_one(case):
    activation = resolve_activation(*case)
    with x64_scope():
        q = jnp.asarray(np.geomspace(0.05, 5.0, 9))
        column = q[:, None]
        k, k_dot = dual(activation, column, column, column)
        k_diag, k_dot_diag = dual_diag(activation, q)
    # 2e-8 (see SQRT_AT_RHO_ONE) times an O(1) coefficient; everywhere else
    # the two formulas differ by rounding only.
    tolerance = 1e-7 if activation.family in ("ab_relu", "sign", "rectified_monomial") else 1e-12
    for general, exact in ((k[:, 0], k_diag), (k_dot[:, 0], k_dot_diag)):
        scale = max(np.max(np.abs(exact)), 1e-300)
        assert np.max(np.abs(np.asarray(general) - np.asarray(exact))) <= tolerance * scale


def _gaussian_moment(fn, q):
    """E[fn(u)] for u ~ N(0, q) by adaptive quadrature (~1e-12 accurate)."""
    sd = math.sqrt(q)

    def integrand(z):
        return fn(sd * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    # Split at 0, where ReLU-type activations have their kink or jump.
    # |z| > 40 carries a Gaussian mass below 1e-300 (and would overflow exp).
    left = integrate.quad(integrand, -40, 0, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    right = integrate.quad(integrand, 0, 40, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return left + right


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_diag_equals_an_independent_one_dimensional_integral(case):
    activation = resolve_activation(*_with_nodes(case, 64))
    if not activation.has_forward:
        pytest.skip("exp_normalized is a kernel without an activation function")
    name = _name(case[0])
    # hermite's kernel q^n is exact only at unit variance (neural-tangents).
    variances = (1.0,) if name == "hermite" else (0.3, 1.0, 2.5)
    with x64_scope():
        phi = jax.jit(lambda x: forward(activation, x))
        phi_dot = jax.jit(jax.vmap(jax.grad(lambda x: forward(activation, x))))
        for q in variances:
            k, k_dot = (float(v) for v in dual_diag(activation, jnp.asarray(q)))
            k_exact = _gaussian_moment(
                lambda u: float(phi(jnp.asarray([u]))[0]) ** 2, q)
            # The 1-D Gauss-Hermite rule with 64 nodes: below 1e-4 for smooth
            # activations; where phi' jumps (elu with alpha != 1, selu) it
            # converges slowly: about 1e-2 (measured 8.7e-3 for selu).
            tolerance = 5e-2 if name in KINKED else 1e-4 if name in QUADRATURE else 1e-9
            assert abs(k - k_exact) <= tolerance * max(abs(k_exact), 1.0)
            if name == "sign" or (name == "rectified_monomial"
                                  and case[1]["degree"] == 0):
                # neural-tangents' convention: the derivative of a step is 0.
                assert k_dot == 0.0
                continue
            k_dot_exact = _gaussian_moment(
                lambda u: float(phi_dot(jnp.asarray([u]))[0]) ** 2, q)
            assert abs(k_dot - k_dot_exact) <= tolerance * max(abs(k_dot_exact), 1.0)


# ---------------------------------------------------------------------------
# 3. Gradients w.r.t. weight_std and bias_std
# ---------------------------------------------------------------------------


def _loss(x1, x2, symmetric, architecture):
    def loss(stds):
        nngp, ntk = kernel_recursion(
            x1, x2, stds[0], stds[1], architecture=architecture,
            compute_ntk=True, symmetric=symmetric,
        )
        return jnp.sum(nngp) + jnp.sum(ntk)

    return loss


# Gradients are exact derivatives of whatever rule computes the kernel, so the
# quadrature activations are checked with 4 nodes (compilation dominates).
GRADIENT_NODES = 4


def _gradient_functions(x, z, architecture):
    """``value_and_grad`` of the X-X loss (duplicate rows) and the X-Z loss.

    Closed forms run eagerly: for 8 x 8 kernels, compiling a whole recursion
    per activation costs far more than dispatching its operations. The
    quadrature loop is compiled (eagerly it would be re-traced every call).
    """
    symmetric = jax.value_and_grad(_loss(x, x, True, architecture))
    cross_loss = _loss(x, z, False, architecture)
    cross = jax.value_and_grad(cross_loss)
    if architecture.activation.family == "quadrature":
        symmetric, cross, cross_loss = map(jax.jit, (symmetric, cross, cross_loss))
    return symmetric, cross, cross_loss


# Every closed form, and the quadrature family through three activations
# (smooth, parameterised with a jump in phi', and a user's function); every
# quadrature activation's dual is differentiated at rho = 1 below. The
# quadrature path is one code path: on other stacks (``make test-core``)
# tanh stands for it, and the other two run in ``make test`` (slow).
GRADIENT_CASES = [c for c in CASES if _name(c[0]) not in QUADRATURE] + [
    c if _name(c[0]) == "tanh" else pytest.param(c, marks=pytest.mark.slow)
    for c in CASES if _name(c[0]) in ("tanh", "elu", "my_mish")]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=_id)
def test_gradients_are_finite_and_match_finite_differences(rng, case):
    activation, params = _with_nodes(case, GRADIENT_NODES)
    architecture, _, _ = make_architecture(2, activation, params, 1.0, 0.1)
    x = _inputs(activation, rng, n=6)
    # Rows 5, 6, 7 duplicate rows 0, 0, 1: off-diagonal entries at rho = 1
    # go through the general formula, diagonal ones through ``diag``.
    x = np.concatenate([x, x[:2]])
    z = _inputs(activation, rng, n=4, duplicates=False)
    stds = np.array([1.3, 0.2])
    with x64_scope():
        symmetric, cross, cross_loss = _gradient_functions(
            jnp.asarray(x), jnp.asarray(z), architecture)
        value, grad = symmetric(jnp.asarray(stds))
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(np.asarray(grad))), grad
        # Away from rho = 1 the gradient is checked against central differences:
        # truncation h^2 ~ 1e-10, rounding eps / h ~ 1e-10.
        cross_grad = np.asarray(cross(jnp.asarray(stds))[1])
        h = 1e-5
        for i in range(2):
            step = np.zeros(2)
            step[i] = h
            numeric = (float(cross_loss(jnp.asarray(stds + step)))
                       - float(cross_loss(jnp.asarray(stds - step)))) / (2 * h)
            assert abs(cross_grad[i] - numeric) <= 1e-6 * max(abs(numeric), 1.0)


@pytest.mark.parametrize("case", [c for c in CASES if _name(c[0]) in QUADRATURE],
                         ids=_id)
def test_quadrature_dual_gradients_are_finite_at_rho_one(case):
    activation = resolve_activation(*_with_nodes(case, GRADIENT_NODES))

    @jax.jit
    def total(q):
        column = q[:, None]
        k, k_dot = dual(activation, column, column, column.T)  # rho = 1 on the diagonal
        k_diag, k_dot_diag = dual_diag(activation, q)
        return jnp.sum(k + k_dot) + jnp.sum(k_diag + k_dot_diag)

    with x64_scope():
        grad = jax.grad(total)(jnp.asarray([0.0, 0.5, 0.5, 2.0]))  # a zero variance too
    assert np.all(np.isfinite(np.asarray(grad))), grad


# ---------------------------------------------------------------------------
# 4. Monte Carlo: wide finite networks
# ---------------------------------------------------------------------------

# neural-tangents' own elementwise tests (tests/stax/elementwise_test.py,
# ActivationTest._test_activation) on CPU: one hidden layer of width 1024,
# 200 sampled networks, relative Frobenius error below rtol = 0.04 * 2 = 0.08,
# W_std = 2, b_std = 0.5 (0.9 for sin; 1 and 0 for rbf).
MC_WIDTH = 1024
MC_SAMPLES = 200
MC_RTOL = 0.08


def _monte_carlo_kernels(key, x, weight_std, bias_std, *, architecture, n_samples):
    # init_params draws with NumPy (seeded by each key), so sample the
    # networks in Python and stack them; the kernels of all networks are then
    # evaluated at once (200 x 4k parameters, about 30 MB), eagerly:
    # compiling per activation would cost more than the sampling itself.
    networks = [init_params(network_key, x.shape[1], MC_WIDTH, architecture,
                            weight_std, bias_std)
                for network_key in jax.random.split(key, n_samples)]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *networks)

    def one_network(params):
        return empirical_kernels(params, x, x, weight_std, bias_std,
                                 architecture=architecture)

    with jax.disable_jit():
        nngp, ntk = jax.vmap(one_network)(stacked)
    return nngp.mean(axis=0), ntk.mean(axis=0)


def _relative_frobenius(estimate, exact):
    return np.linalg.norm(estimate - exact) / np.linalg.norm(exact)


def _monte_carlo_stds(name):
    if name == "hermite":
        return 1.0, None
    if name in ("sin", "cos"):
        return 0.9, 0.5
    if name == "rbf":
        return 1.0, 0.0
    if name in ("exp", "gaussian", "monomial", "polynomial", "rectified_monomial"):
        # Heavy-tailed outputs (high moments): smaller variances keep the
        # sampling error of 200 networks inside the tolerance.
        return 1.0, 0.2
    return 2.0, 0.5


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if _id(c) != "exp_normalized"],
                         ids=_id)
def test_kernels_match_wide_finite_networks(case):
    # Enough nodes that the quadrature error (module docstring) is well below
    # the sampling error.
    activation, params = _with_nodes(case, 64)
    name = _name(activation)
    weight_std, bias_std = _monte_carlo_stds(name)
    key_x, key_mc = jax.random.split(jax.random.PRNGKey(1))
    # neural-tangents' inputs: cos of standard normals, 4 rows, 2 features.
    x = np.cos(np.asarray(jax.random.normal(key_x, (4, 2)), dtype=np.float64))
    if name == "hermite":
        x *= np.sqrt(2) / np.linalg.norm(x, axis=1, keepdims=True)
    architecture, w, b = make_architecture(1, activation, params, weight_std, bias_std)
    with x64_scope():
        xj = jnp.asarray(x)
        # The recursion itself, eagerly (compute_kernels is tested elsewhere).
        exact = kernel_recursion(xj, xj, w, b, architecture=architecture, symmetric=True)
        nngp, ntk = _monte_carlo_kernels(key_mc, xj, w, b,
                                         architecture=architecture, n_samples=MC_SAMPLES)
    assert _relative_frobenius(np.asarray(nngp), np.asarray(exact[0])) < MC_RTOL
    assert _relative_frobenius(np.asarray(ntk), np.asarray(exact[1])) < MC_RTOL


@pytest.mark.slow  # with the Monte Carlo tests it guards
def test_monte_carlo_check_can_fail():
    # The same estimator against the kernel of a different activation must
    # be far outside the tolerance, or the Monte Carlo test proves nothing.
    key_x, key_mc = jax.random.split(jax.random.PRNGKey(1))
    x = np.cos(np.asarray(jax.random.normal(key_x, (4, 2)), dtype=np.float64))
    architecture, w, b = make_architecture(1, "gelu", None, 2.0, 0.5)
    with x64_scope():
        nngp, ntk = _monte_carlo_kernels(key_mc, jnp.asarray(x), w, b,
                                         architecture=architecture, n_samples=MC_SAMPLES)
    wrong = compute_kernels(x, depth=1, activation="gelu", weight_std=2.5, bias_std=0.5)
    assert _relative_frobenius(np.asarray(nngp), wrong.nngp) > 2 * MC_RTOL


# ---------------------------------------------------------------------------
# Closed form versus quadrature
# ---------------------------------------------------------------------------

# Tolerances (relative to the largest entry; NNGP factor, NTK factor) with 64
# nodes, from the convergence table of _activations_quadrature.py with a
# margin of 3-10x: analytic integrands converge geometrically, the kinked
# ReLU only algebraically (and its NTK factor is a step function).
CLOSED_FORMS = [
    ("relu", {}, 2e-2, 2e-1),
    ("erf", {}, 1e-6, 1e-6),
    ("sin", {}, 1e-12, 1e-12),
    ("gelu", {}, 1e-10, 1e-9),
    ("gabor", {}, 1e-4, 1e-4),
    ("rectified_monomial", {"degree": 2}, 1e-3, 2e-2),
    ("polynomial", {"coef": [0.3, 1.0, -0.4, 0.2]}, 1e-12, 1e-12),
    ("exp", {"a": 0.5, "b": 0.3}, 1e-12, 1e-12),
    ("gaussian", {"a": 0.5, "b": -0.5}, 1e-6, 1e-6),
]


@pytest.mark.parametrize("name, params, tol_k, tol_k_dot", CLOSED_FORMS,
                         ids=[c[0] for c in CLOSED_FORMS])
def test_quadrature_matches_closed_forms(rng, name, params, tol_k, tol_k_dot):
    closed = resolve_activation(name, params)

    def phi(x):
        return forward(closed, x)

    numerical = resolve_activation(phi, {"n_points": 64})
    with x64_scope():
        q11 = jnp.asarray(np.geomspace(0.1, 3.0, 6)[:, None])
        q22 = q11.T
        rho = jnp.asarray(rng.uniform(-0.999, 0.999, (6, 6)))
        q12 = rho * jnp.sqrt(q11 * q22)
        for exact, approx, tol in zip(dual(closed, q11, q12, q22),
                                      dual(numerical, q11, q12, q22),
                                      (tol_k, tol_k_dot)):
            exact, approx = np.asarray(exact), np.asarray(approx)
            assert np.max(np.abs(approx - exact)) <= tol * np.max(np.abs(exact))


def test_quadrature_kernels_match_closed_form_kernels(rng):
    # Whole networks: three erf layers by quadrature against the closed form.
    x = make_inputs(rng, n=8)

    def erf(x):
        return jax.scipy.special.erf(x)

    exact = compute_kernels(x, depth=3, activation="erf", weight_std=1.0, bias_std=0.1)
    approx = compute_kernels(x, depth=3, activation=erf,
                             activation_params={"n_points": 48},
                             weight_std=1.0, bias_std=0.1)
    # Pre-activation variances stay below 1.5 here, where 48 nodes give about
    # 1e-6 per layer (table in _activations_quadrature.py).
    for a, b in zip(approx, exact):
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(b))


# ---------------------------------------------------------------------------
# Parameters and errors
# ---------------------------------------------------------------------------


def test_cos_is_a_phase_shifted_sin(rng):
    x = make_inputs(rng, n=6)
    cos = compute_kernels(x, activation="cos", activation_params={"a": 1.0, "b": 0.7})
    sin = compute_kernels(x, activation="sin",
                          activation_params={"a": 1.0, "b": 0.7, "c": math.pi / 2})
    for a, b in zip(cos, sin):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_monomial_is_a_polynomial_and_extends_beyond_degree_five(rng):
    x = make_inputs(rng, n=5)
    mono = compute_kernels(x, depth=2, activation="monomial",
                           activation_params={"degree": 6}, weight_std=0.8)
    poly = compute_kernels(x, depth=2, activation="polynomial",
                           activation_params={"coef": [0] * 6 + [1]}, weight_std=0.8)
    for a, b in zip(mono, poly):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    # Diagonal after one layer: E[u^12] = 11!! q^6.
    x1 = np.array([[1.0, 1.0]])
    k = compute_kernels(x1, depth=1, activation="monomial",
                        activation_params={"degree": 6}, weight_std=1.0, bias_std=None)
    np.testing.assert_allclose(k.nngp[0, 0], math.prod(range(11, 0, -2)), rtol=1e-14)


def test_rectified_monomial_of_degree_one_is_relu(rng):
    # The arc-cosine recurrence at n = 1 against the ReLU family, in a deep
    # stack (neural-tangents' RectifiedMonomial is NaN beyond one layer).
    # No duplicated rows: there both round sqrt(1 - rho^2) differently.
    x = make_inputs(rng, n=6, duplicates=False)
    relu = compute_kernels(x, depth=4, activation="relu")
    rectified = compute_kernels(x, depth=4, activation="rectified_monomial",
                                activation_params={"degree": 1})
    for a, b in zip(rectified, relu):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_user_callable_is_evaluated_by_quadrature(rng):
    x = make_inputs(rng, n=6)
    by_name = compute_kernels(x, activation="tanh", activation_params={"n_points": 20})
    by_function = compute_kernels(x, activation=jnp.tanh,
                                  activation_params={"n_points": 20})
    for a, b in zip(by_name, by_function):
        np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize(
    "activation, params, match",
    [
        ("monomial", {"degree": -1}, "degree=-1"),
        ("monomial", {"degree": 1.5}, "degree=1.5"),
        ("hermite", {"degree": "two"}, "degree='two'"),
        ("polynomial", {"coef": ["a"]}, "coef="),
        ("tanh", {"n_points": 0}, "n_points=0"),
        ("quadrature", {}, "activation=my_function"),
        ("gelu", {"approximate": True}, "approximate"),
    ],
)
def test_bad_activation_parameters_raise_clear_errors(activation, params, match):
    with pytest.raises(ValueError, match=match):
        resolve_activation(activation, params)


def test_kernel_only_activation_has_no_finite_network():
    activation = resolve_activation("exp_normalized")
    assert not activation.has_forward
    with pytest.raises(ValueError, match="no elementwise forward pass"):
        forward(activation, jnp.ones(3))

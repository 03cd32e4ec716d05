"""compute_kernels against neural-tangents 0.6.5 for every shared activation.

Runs in the legacy environment (jax 0.4.26, neural-tangents 0.6.5); skipped
elsewhere. float64 is switched on globally for this module only (allowed in
tests, never in library code) and restored afterwards.

Tolerances, relative to the largest entry of each kernel:

* 1e-9 everywhere, except:
* entries at rho = 1 (the diagonal and duplicated rows) for the families
  whose neural-tangents formula takes ``sqrt(q11 q22 - q12^2)`` of a
  cancelled difference (ReLU family, sign, rectified monomials): there
  neural-tangents is off by about ``sqrt(eps) q ~ 1e-8`` per layer (more
  after deep stacks), so the comparison with it uses 1e-6, and our diagonal
  is compared instead with an independent exact value: neural-tangents' own
  ``cov1`` (computed with its rho = 1 formulas), at 1e-9.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
stax = nt.stax

from sklearn_ntk import compute_kernels  # noqa: E402

pytestmark = [pytest.mark.reference,
              pytest.mark.filterwarnings("ignore::UserWarning")]

EXACT = 1e-9
# See the module docstring: neural-tangents' own error at rho = 1.
AT_RHO_ONE = 1e-6
SQRT_FAMILIES = {"relu", "leaky_relu", "abs", "ab_relu", "sign", "rectified_monomial"}


@pytest.fixture(scope="module", autouse=True)
def float64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def _nt_activation(name, params):
    p = dict(params)
    layers = {
        "relu": lambda: stax.Relu(),
        "leaky_relu": lambda: stax.LeakyRelu(p.get("alpha", 0.01)),
        "abs": lambda: stax.Abs(),
        "ab_relu": lambda: stax.ABRelu(p["a"], p["b"]),
        "erf": lambda: stax.Erf(**p),
        "sigmoid_like": lambda: stax.Sigmoid_like(),
        "identity": lambda: stax.Identity(),
        "gelu": lambda: stax.Gelu(),
        "sin": lambda: stax.Sin(**p),
        "cos": lambda: stax.Cos(**p),
        "rbf": lambda: stax.Rbf(**p),
        "exp": lambda: stax.Exp(**p),
        "gaussian": lambda: stax.Gaussian(**p),
        "exp_normalized": lambda: stax.ExpNormalized(**p),
        "sign": lambda: stax.Sign(),
        "monomial": lambda: stax.Monomial(**p),
        "polynomial": lambda: stax.Polynomial(**p),
        "rectified_monomial": lambda: stax.RectifiedMonomial(**p),
        "hermite": lambda: stax.Hermite(**p),
        "gabor": lambda: stax.Gabor(),
    }
    return layers[name]()


# (name, params, largest depth): polynomial-type kernels grow like q^degree
# per layer and would overflow in deep stacks.
SHARED = [
    ("relu", {}, 6),
    ("leaky_relu", {"alpha": 0.1}, 6),
    ("abs", {}, 6),
    ("ab_relu", {"a": -0.4, "b": 1.3}, 6),
    ("erf", {"a": 1.2, "b": 0.8, "c": 0.1}, 6),
    ("sigmoid_like", {}, 6),
    ("identity", {}, 6),
    ("gelu", {}, 6),
    ("sin", {"a": 0.7, "b": 1.3, "c": 0.4}, 6),
    ("cos", {"a": 1.1, "b": 0.6, "c": -0.2}, 6),
    ("rbf", {"gamma": 0.4}, 6),
    ("exp", {"a": 0.5, "b": 0.4}, 2),
    ("gaussian", {"a": 0.8, "b": -0.7}, 6),
    ("exp_normalized", {"gamma": 0.7, "shift": -1.0, "do_clip": True}, 6),
    ("sign", {}, 6),
    ("monomial", {"degree": 3}, 2),
    ("polynomial", {"coef": [0.2, -0.5, 0.3, 0.1]}, 3),
    # neural-tangents' RectifiedMonomial returns NaN everywhere (cov1
    # included, X1-X2 kernels too) once two such layers are stacked; depth
    # <= 1 is all it can check. tests/test_activations.py checks deeper
    # stacks (degree 1 = ReLU, quadrature, Monte Carlo).
    ("rectified_monomial", {"degree": 2}, 1),
    ("hermite", {"degree": 2}, 3),
    ("gabor", {}, 6),
]

ARCHITECTURES_PER_ACTIVATION = 3


def _architectures(index, max_depth):
    """Deterministic random draws; across activations every depth 0-6 and
    every weight_std/bias_std/parameterization choice occurs."""
    rng = np.random.default_rng(index)
    draws = []
    for j in range(ARCHITECTURES_PER_ACTIVATION):
        depth = min((index + 3 * j) % 7, max_depth)
        parameterization = ("ntk", "standard")[(index + j) % 2]
        draws.append(dict(
            depth=depth,
            weight_std=float(rng.choice([0.5, 0.9, 1.3, 2.0])),
            bias_std=[None, 0.0, 0.05, 0.4][(index + 2 * j) % 4],
            parameterization=parameterization,
            width=int(rng.choice([64, 512])) if parameterization == "standard" else None,
        ))
    return draws


CASES = [(name, params, arch)
         for index, (name, params, max_depth) in enumerate(SHARED)
         for arch in _architectures(index, max_depth)]


def _case_id(case):
    name, _, arch = case
    return (f"{name}-d{arch['depth']}-{arch['parameterization']}"
            f"-w{arch['weight_std']}-b{arch['bias_std']}")


def _nt_kernel_fn(layer, arch):
    dense = dict(W_std=arch["weight_std"], b_std=arch["bias_std"],
                 parameterization=arch["parameterization"])
    width = arch["width"] or 512
    _, _, kernel_fn = stax.serial(
        *[stax.Dense(width, **dense), layer] * arch["depth"], stax.Dense(1, **dense))
    return jax.jit(kernel_fn, static_argnames="get")


def _inputs(name, n=7, d=4, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    x[-1] = x[0]  # a duplicated row: rho = 1 off the diagonal too
    if name in ("hermite", "polynomial", "monomial", "exp"):
        # Keep high-degree kernels O(1): unit-variance rows.
        x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _relative(a, b, scale):
    return float(np.max(np.abs(a - b)) / scale)


MAX_ERRORS = {}


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_kernels_match_neural_tangents(case):
    name, params, arch = case
    x = _inputs(name)
    ours = compute_kernels(x, activation=name, activation_params=params, **arch)
    kernel = _nt_kernel_fn(_nt_activation(name, params), arch)(jnp.asarray(x), None)
    n = len(x)
    at_rho_one = np.eye(n, dtype=bool)
    at_rho_one[0, -1] = at_rho_one[-1, 0] = True
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        assert np.all(np.isfinite(mine))
        off = ~at_rho_one
        if name == "rectified_monomial":
            # neural-tangents differentiates (pi - theta) / sin(theta): NaN at
            # rho = 1 (0 * inf). Compare its finite entries here and an X1-X2
            # kernel without duplicates below.
            off &= np.isfinite(theirs)
            if not off.any():
                continue
        scale = np.max(np.abs(theirs[off]))
        error = _relative(mine[off], theirs[off], scale)
        MAX_ERRORS[(name, get)] = max(MAX_ERRORS.get((name, get), 0.0), error)
        assert error <= EXACT, (get, error)
        if name in ("sign", "rectified_monomial"):
            # neural-tangents' own rho = 1 entries are NaN (rectified monomial)
            # or off by sqrt(eps) compounded over layers (sign, below).
            continue
        tolerance = AT_RHO_ONE if name in SQRT_FAMILIES else EXACT
        error = _relative(mine[at_rho_one], theirs[at_rho_one], scale)
        key = (name, get + " at rho=1")
        MAX_ERRORS[key] = max(MAX_ERRORS.get(key, 0.0), error)
        assert error <= tolerance, get
    if name == "rectified_monomial":
        x1, x2 = x[1:4], x[4:6]  # no row of x1 equals a row of x2
        ours_cross = compute_kernels(x1, x2, activation=name, activation_params=params,
                                     **arch)
        cross = _nt_kernel_fn(_nt_activation(name, params), arch)(
            jnp.asarray(x1), jnp.asarray(x2))
        for get, mine in (("nngp", ours_cross.nngp), ("ntk", ours_cross.ntk)):
            theirs = np.asarray(getattr(cross, get))
            error = _relative(mine, theirs, np.max(np.abs(theirs)))
            MAX_ERRORS[(name, get)] = max(MAX_ERRORS.get((name, get), 0.0), error)
            assert error <= EXACT, (get, error)
    if name == "rectified_monomial":
        # neural-tangents' cov1 is NaN here too; the exact diagonal
        # (2n-1)!! q^n / 2 is checked against scipy.integrate.quad in
        # tests/test_activations.py.
        return
    # The exact diagonal: neural-tangents' cov1 uses its rho = 1 formulas.
    cov1 = np.asarray(kernel.cov1)
    scale = np.max(np.abs(cov1))
    assert _relative(np.diag(ours.nngp), cov1, scale) <= EXACT
    if name == "sign":
        # sign's kernel 1 - (2/pi) arccos(rho) is not Lipschitz at rho = 1:
        # a rounding error e in rho becomes sqrt(e) in the kernel, and again
        # in the next layer's rho, so a duplicated row (computed by the
        # general formula) drifts as eps^(1/2^depth); neural-tangents has the
        # same drift on its whole diagonal. Only the diagonal is exact.
        return
    # Duplicated rows: the same value as the diagonal, up to the sqrt(eps)
    # rounding of the general formula at rho = 1 (SQRT_FAMILIES) or rounding.
    assert abs(ours.nngp[0, -1] - ours.nngp[0, 0]) <= (
        (AT_RHO_ONE if name in SQRT_FAMILIES else EXACT) * scale)


# ---------------------------------------------------------------------------
# Deep networks: the hidden layers run as a compiled loop (layers.repeat)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, params, parameterization", [
    ("relu", {}, "ntk"), ("erf", {"a": 1.2, "b": 0.8, "c": 0.1}, "standard"),
    ("gelu", {}, "ntk")])
@pytest.mark.parametrize("depth", [12, 30])
def test_deep_networks_match_unrolled_neural_tangents(name, params, parameterization,
                                                      depth):
    # compute_kernels(depth > 9) runs its hidden layers after the first as one
    # lax.scan; neural-tangents' network here is the unrolled stax.serial.
    # Off rho = 1 both evaluate the same formulas: 1e-9. At rho = 1 only our
    # diagonal is compared, with neural-tangents' exact cov1 (its general
    # formula drifts there by sqrt(eps) per layer, module docstring).
    arch = dict(depth=depth, weight_std=1.4, bias_std=0.2,
                parameterization=parameterization,
                width=64 if parameterization == "standard" else None)
    x = _inputs(name)
    ours = compute_kernels(x, activation=name, activation_params=params, **arch)
    kernel = _nt_kernel_fn(_nt_activation(name, params), arch)(jnp.asarray(x), None)
    off = ~np.eye(len(x), dtype=bool)
    off[0, -1] = off[-1, 0] = False
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        assert _relative(mine[off], theirs[off], np.max(np.abs(theirs))) <= EXACT, get
    cov1 = np.asarray(kernel.cov1)
    assert _relative(np.diag(ours.nngp), cov1, np.max(np.abs(cov1))) <= EXACT


# ---------------------------------------------------------------------------
# The quadrature path against stax.ElementwiseNumerical
# ---------------------------------------------------------------------------


def _softplus(x):
    return jax.nn.softplus(x)


@pytest.mark.parametrize("fn, name", [(jnp.tanh, "tanh"), (_softplus, "softplus")])
def test_quadrature_matches_elementwise_numerical(fn, name):
    # Both evaluate the same tensor-product Gauss-Hermite rule (the same
    # nodes in the same Cholesky coordinates), so they agree to rounding away
    # from rho = 1; at rho = 1 neural-tangents' sqrt(q22 - q12^2 / q11) of a
    # cancelled difference moves its inner nodes by ~sqrt(eps), which the
    # smooth integrand turns into ~1e-8 (bound 1e-6).
    deg = 20
    x = _inputs(name)
    arch = dict(depth=3, weight_std=1.3, bias_std=0.1)
    ours = compute_kernels(x, activation=name, activation_params={"n_points": deg}, **arch)
    dense = dict(W_std=1.3, b_std=0.1)
    _, _, kernel_fn = stax.serial(
        *[stax.Dense(512, **dense), stax.ElementwiseNumerical(fn, deg=deg)] * 3,
        stax.Dense(1, **dense))
    kernel = jax.jit(kernel_fn, static_argnames="get")(jnp.asarray(x), None)
    # The rule treats the two rows asymmetrically (u first, v second), so
    # K[i, j] and K[j, i] differ by the quadrature error; neural-tangents
    # returns both, we mirror the upper triangle. Compare the upper triangle.
    n = len(x)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    upper[0, -1] = False  # the duplicated pair: rho = 1
    for get, mine in (("nngp", ours.nngp), ("ntk", ours.ntk)):
        theirs = np.asarray(getattr(kernel, get))
        scale = np.max(np.abs(theirs))
        error = _relative(mine[upper], theirs[upper], scale)
        MAX_ERRORS[(name + " (quadrature)", get)] = error
        assert error <= EXACT, (get, error)
        assert _relative(np.diag(mine), np.diag(theirs), scale) <= AT_RHO_ONE
    assert _relative(np.diag(ours.nngp), np.asarray(kernel.cov1),
                     np.max(np.abs(kernel.cov1))) <= EXACT


def test_report_max_errors():
    # Printed with `pytest -s`: the largest relative error per activation.
    for (name, get), error in sorted(MAX_ERRORS.items()):
        print(f"{name:20s} {get:5s} {error:.1e}")

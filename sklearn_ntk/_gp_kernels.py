"""``NTKKernel`` and ``NNGPKernel``: infinite-width kernels for scikit-learn GPs.

Both are :class:`sklearn.gaussian_process.kernels.Kernel` subclasses modelled
on scikit-learn's ``DotProduct``: the two tunable hyperparameters
``weight_std`` and ``bias_std`` live on a log scale (``theta``), and
``__call__(X, eval_gradient=True)`` returns the exact gradient of the kernel
with respect to ``theta`` so that ``GaussianProcessRegressor`` and
``GaussianProcessClassifier`` can maximise the marginal likelihood with
L-BFGS-B.

The gradient is forward-mode JAX autodiff (``jax.jacfwd`` over the at most two
log-scales) of the same recursion that :func:`sklearn_ntk.compute_kernels`
runs, evaluated tile by tile through :func:`sklearn_ntk._kernels.run_tiles`:
memory stays bounded by the (cache-sized) tiles, only the tiles on and above
the diagonal are computed, and the values come out together with the
gradient. Forward mode suits the problem: two inputs and ``n^2`` outputs.
"""

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from ._architecture import DEFAULTS, make_architecture
from ._images import as_images, check_image_shape
from ._kernels import (
    _BUFFERS_PER_TILE,
    check_array_2d,
    compute_kernel_diagonals,
    compute_kernels,
    run_tiles,
)
from ._recursion import kernel_recursion, same_input_mask

__all__ = ["NTKKernel", "NNGPKernel"]

#: Side of the square tiles. Small tiles keep every intermediate of the
#: fused recursion (and, for the gradient, its tangents) in the CPU caches:
#: on a 2-core machine at N = 2000, 192 x 192 tiles ran 3-8x faster than a
#: single 2000 x 2000 tile, and the gradient pass suffers most from spilling.
#: The per-tile dispatch (~0.1 ms) stays small against ~2 ms of work.
_TILE_SIDE = 192


def _block_bytes(n_channels):
    """``max_block_bytes`` that makes ``run_tiles`` pick ``_TILE_SIDE`` when
    each intermediate has ``n_channels`` copies (value and tangents)."""
    return n_channels * _BUFFERS_PER_TILE * 8 * _TILE_SIDE**2


#: scikit-learn orders hyperparameters alphabetically (``dir`` order), and so
#: do ``theta``, ``bounds`` and the last axis of the gradient.
_SCALE_NAMES = ("bias_std", "weight_std")


@functools.partial(jax.jit, static_argnames=("architecture", "kernel", "tunable"))
def _kernel_and_gradient_tile(
    x1, x2, ids1, ids2, weight_std, bias_std, *, architecture, kernel, tunable
):
    """One tile of the kernel and of its gradient w.r.t. the log-scales.

    Each tunable scale is written ``scale * exp(delta)`` and differentiated at
    ``delta = 0``: the derivative is ``d K / d log(scale)`` (what scikit-learn
    wants) and the primal is computed with ``scale`` itself (``exp(0) == 1``
    exactly), so no ``exp(log(scale))`` round trip perturbs the values.

    Returns
    -------
    tuple of 1 + len(tunable) jax arrays of shape (n1, n2)
        The kernel, then its derivative w.r.t. each tunable log-scale.
    """

    # Pairs of identical rows (the diagonal included) take the exact rho = 1
    # formulas, whose values and derivatives are finite and equal.
    same_input = None if ids1 is None else same_input_mask(ids1, ids2)

    def kernel_of(deltas):
        scales = {"weight_std": weight_std, "bias_std": bias_std}
        for index, name in enumerate(tunable):
            scales[name] = scales[name] * jnp.exp(deltas[index])
        nngp, ntk = kernel_recursion(
            x1, x2, scales["weight_std"], scales["bias_std"],
            architecture=architecture, compute_ntk=kernel == "ntk",
            same_input=same_input,
        )
        return ntk if kernel == "ntk" else nngp

    deltas = jnp.zeros((len(tunable),), dtype=x1.dtype)
    directions = jnp.eye(len(tunable), dtype=x1.dtype)
    # jacfwd without its final transpose: one primal pass, the tangents
    # batched along a leading axis so that each comes out contiguous.
    value, tangents = jax.vmap(
        lambda direction: jax.jvp(kernel_of, (deltas,), (direction,)),
        out_axes=(None, 0),
    )(directions)
    return (value, *tangents)


def _check_bounds(name, bounds):
    """Bounds are "fixed" or a pair ``0 < low <= high < inf`` (log scale)."""
    if isinstance(bounds, str):
        if bounds != "fixed":
            raise ValueError(
                f"{name}_bounds={bounds!r} is not valid; pass 'fixed' or a pair "
                f"(low, high) of positive numbers, e.g. {name}_bounds=(1e-2, 1e2)."
            )
        return
    try:
        low, high = np.asarray(bounds, dtype=float).reshape(2)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name}_bounds={bounds!r} must be 'fixed' or a pair (low, high), "
            f"e.g. {name}_bounds=(1e-2, 1e2)."
        ) from error
    if not (0 < low <= high < np.inf):
        raise ValueError(
            f"{name}_bounds={bounds!r} must satisfy 0 < low <= high < inf: the "
            f"optimiser searches log({name}), and log(0) or the log of a "
            f"negative number is undefined. Use e.g. {name}_bounds=(1e-5, 1e2), "
            f"or {name}_bounds='fixed' to keep {name} constant."
        )


class _InfiniteWidthKernel(Kernel):
    """Shared implementation of :class:`NTKKernel` and :class:`NNGPKernel`."""

    #: "ntk" or "nngp": which of the two kernels of the network this is.
    _kernel = None

    def __init__(
        self,
        weight_std=DEFAULTS["weight_std"],
        bias_std=DEFAULTS["bias_std"],
        *,
        depth=DEFAULTS["depth"],
        activation=DEFAULTS["activation"],
        activation_params=None,
        parameterization=DEFAULTS["parameterization"],
        width=None,
        weight_std_bounds=(1e-2, 1e2),
        bias_std_bounds=(1e-5, 1e2),
        architecture=None,
        image_shape=None,
    ):
        # Store only: scikit-learn's clone and get_params introspect __init__.
        self.weight_std = weight_std
        self.bias_std = bias_std
        self.depth = depth
        self.activation = activation
        self.activation_params = activation_params
        self.parameterization = parameterization
        self.width = width
        self.weight_std_bounds = weight_std_bounds
        self.bias_std_bounds = bias_std_bounds
        self.architecture = architecture
        self.image_shape = image_shape

    # -- the hyperparameter contract -------------------------------------
    @property
    def hyperparameter_weight_std(self):
        # An architecture carries every layer's W_std: nothing to tune here.
        bounds = "fixed" if self.architecture is not None else self.weight_std_bounds
        return Hyperparameter("weight_std", "numeric", bounds)

    @property
    def hyperparameter_bias_std(self):
        # No biases at all (bias_std=None) leaves nothing to tune, nor does
        # an architecture (each layer carries its own b_std).
        fixed = self.bias_std is None or self.architecture is not None
        bounds = "fixed" if fixed else self.bias_std_bounds
        return Hyperparameter("bias_std", "numeric", bounds)

    @property
    def bounds(self):
        self._check_hyperparameters()
        return super().bounds

    def _tunable(self):
        """Names of the non-fixed scales, in scikit-learn's order."""
        return tuple(
            name for name in _SCALE_NAMES
            if not getattr(self, f"hyperparameter_{name}").fixed
        )

    def _check_hyperparameters(self):
        check_image_shape(self.image_shape)
        if self.architecture is not None:
            return  # the scales and their bounds do not apply
        _check_bounds("weight_std", self.weight_std_bounds)
        if self.bias_std is not None:
            _check_bounds("bias_std", self.bias_std_bounds)
            if (
                isinstance(self.bias_std, numbers.Real)
                and self.bias_std == 0
                and not self.hyperparameter_bias_std.fixed
            ):
                raise ValueError(
                    "bias_std=0 cannot be tuned: the optimiser works on "
                    "log(bias_std) = -inf. Start from a small positive value "
                    "(e.g. bias_std=1e-3), keep it at 0 with "
                    "bias_std_bounds='fixed', or pass bias_std=None for a "
                    "network without biases."
                )

    def _architecture_kwargs(self):
        if self.architecture is not None:
            return {"architecture": self.architecture}
        return {
            "depth": self.depth,
            "activation": self.activation,
            "activation_params": self.activation_params,
            "weight_std": self.weight_std,
            "bias_std": self.bias_std,
            "parameterization": self.parameterization,
            "width": self.width,
        }

    # -- evaluation ---------------------------------------------------------
    def __call__(self, X, Y=None, eval_gradient=False):
        """Return the kernel ``k(X, Y)`` and optionally its gradient.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
            Left argument of the returned kernel ``k(X, Y)``.
        Y : ndarray of shape (n_samples_Y, n_features), default=None
            Right argument. None (or ``X`` itself, as ``SVC`` and
            ``pairwise_kernels`` pass it) computes ``k(X, X)`` exploiting
            symmetry, with the exact ``rho = 1`` formulas on the diagonal.
        eval_gradient : bool, default=False
            Also return the gradient with respect to the log of the non-fixed
            hyperparameters (``theta``). Only supported when ``Y`` is None.

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
            The kernel, a fresh writable float64 array.
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, n_dims)
            ``d K / d theta`` in the order of ``theta`` (``bias_std`` before
            ``weight_std``, fixed ones left out); only when ``eval_gradient``.
        """
        if Y is not None and eval_gradient:
            raise ValueError(
                "Gradient can only be evaluated when Y is None (the gradient of "
                "k(X, X) is what the marginal likelihood needs); call "
                "kernel(X, eval_gradient=True) or kernel(X, Y) without it."
            )
        self._check_hyperparameters()
        kwargs = self._architecture_kwargs()
        if Y is X:
            # pairwise_kernels and SVC.fit pass the same array twice: take the
            # symmetric path (half the work, exact rho = 1 on the diagonal).
            Y = None
        X, Y = self._inputs(X), (None if Y is None else self._inputs(Y))
        tunable = self._tunable() if eval_gradient else ()
        if not tunable:
            if self.architecture is None:
                # Cache-sized tiles for the elementwise MLP recursion; an
                # architecture's tiles are sized by the engine (they carry
                # one entry per pixel or pair of pixels).
                kwargs["max_block_bytes"] = _block_bytes(1)
            kernels = compute_kernels(X, Y, get=self._kernel, **kwargs)
            K = kernels.ntk if self._kernel == "ntk" else kernels.nngp
            return (K, np.empty(K.shape + (0,))) if eval_gradient else K
        return self._kernel_and_gradient(X, tunable, kwargs)

    def _kernel_and_gradient(self, X, tunable, kwargs):
        architecture, weight_std, bias_std = make_architecture(**kwargs)
        x = check_array_2d(X, "X")

        def tile_fn(a, b, ids_a, ids_b):
            return _kernel_and_gradient_tile(
                jnp.asarray(a, dtype=jnp.float64), jnp.asarray(b, dtype=jnp.float64),
                ids_a, ids_b, weight_std, bias_std, architecture=architecture,
                kernel=self._kernel, tunable=tunable,
            )

        value, *tangents = run_tiles(
            tile_fn, x, None, 1 + len(tunable), np.float64,
            _block_bytes(1 + len(tunable)), None,
        )
        # (n, n, n_dims) as scikit-learn wants it, but each slice
        # K_gradient[:, :, i] contiguous: stacking along the last axis would
        # be a strided copy as slow as the tangents themselves, and
        # scikit-learn only indexes, multiplies and contracts the gradient.
        return value, np.moveaxis(np.stack(tangents, axis=0), 0, -1)

    def diag(self, X):
        """Return ``np.diag(self(X))`` in O(n_samples) time and memory.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)

        Returns
        -------
        K_diag : ndarray of shape (n_samples_X,)
        """
        self._check_hyperparameters()
        diagonals = compute_kernel_diagonals(self._inputs(X),
                                             **self._architecture_kwargs())
        return diagonals.ntk if self._kernel == "ntk" else diagonals.nngp

    def _inputs(self, X):
        """Rows of ``X`` as NHWC images for an architecture with an
        ``image_shape``; otherwise ``X`` (checked against ``image_shape``)."""
        if self.image_shape is None:
            return X
        X = check_array_2d(X, "X")
        images = as_images(X, self.image_shape)
        return X if self.architecture is None else images

    def is_stationary(self):
        """False: the kernel depends on the inputs' norms, not only ``X - Y``."""
        return False

    @property
    def requires_vector_input(self):
        """True: the kernel is defined on fixed-length feature vectors."""
        return True

    def __repr__(self):
        def scale(value):
            return "None" if value is None else f"{value:.3g}"

        activation = self.activation
        if callable(activation) and not isinstance(activation, str):
            activation = getattr(activation, "__name__", repr(activation))
        parts = [
            f"weight_std={scale(self.weight_std)}",
            f"bias_std={scale(self.bias_std)}",
            f"depth={self.depth}",
            f"activation={activation!r}",
        ]
        if self.activation_params:
            parts.append(f"activation_params={self.activation_params!r}")
        if self.parameterization != DEFAULTS["parameterization"]:
            parts.append(f"parameterization={self.parameterization!r}")
        if self.width is not None:
            parts.append(f"width={self.width}")
        if self.architecture is not None:
            # The scales and the MLP arguments do not apply: show the network.
            parts = [f"architecture={self.architecture!r}"]
        if self.image_shape is not None:
            parts.append(f"image_shape={tuple(self.image_shape)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


_NOTES_DOC = """
    Notes
    -----
    ``diag(X)`` costs O(n_samples). The kernel is not stationary. Values and
    gradients are float64, computed inside a scoped x64 switch (the global
    JAX configuration is untouched), in cache-sized tiles, on and above the
    diagonal only.

    With ReLU-family activations and small ``bias_std`` the kernel is nearly
    homogeneous in ``weight_std`` (it scales like
    ``weight_std ** (2 (depth + 1))``), so in ``ConstantKernel() * kernel``
    the constant and ``weight_std`` are almost redundant and the optimiser
    may drive one of them to a bound (a ``ConvergenceWarning``, harmless for
    the fit). Pass ``weight_std_bounds="fixed"`` for a well-posed search.
"""

_PARAMETERS_DOC = """
    Parameters
    ----------
    weight_std : float > 0, default=1.5
        Weight standard deviation of every Dense layer (neural-tangents'
        ``W_std``). A tunable hyperparameter (``theta`` holds its log).
    bias_std : float >= 0 or None, default=2.0
        Bias standard deviation (``b_std``). A tunable hyperparameter; None
        means a network without biases (then nothing to tune). ``0`` can only
        be kept fixed (``bias_std_bounds="fixed"``) as its log is ``-inf``.
    depth : int >= 0, default=2
        Number of hidden layers (Dense then ``activation``); a readout Dense
        follows. Fixed (not tuned by the optimiser; search it with
        ``GridSearchCV`` over ``kernel__depth``).
    activation : str or callable, default="relu"
        A name from ``sklearn_ntk.ACTIVATIONS`` or an elementwise
        ``jax.numpy`` function. Fixed.
    activation_params : dict, default=None
        The activation's own parameters, named as in neural-tangents, e.g.
        ``{"alpha": 0.1}`` for "leaky_relu". Fixed.
    parameterization : {"ntk", "standard"}, default="ntk"
        Fixed.
    width : int, default=None
        Hidden width, needed only by the "standard" NTK. Fixed.
    weight_std_bounds : pair of floats > 0 or "fixed", default=(1e-2, 1e2)
        Bounds of ``weight_std`` for the marginal-likelihood optimiser.
        ``weight_std`` enters the kernel as ``weight_std ** (2 (depth + 1))``,
        so the range is narrower than scikit-learn's usual ``(1e-5, 1e5)``.
    bias_std_bounds : pair of floats > 0 or "fixed", default=(1e-5, 1e2)
        Bounds of ``bias_std``.
    architecture : network from :mod:`sklearn_ntk.layers`, default=None
        A network built with :func:`sklearn_ntk.layers.serial` (e.g.
        convolutional) whose kernel replaces the fully-connected one. Its
        layers carry their own ``W_std`` and ``b_std``, so ``weight_std``,
        ``bias_std``, their bounds and the MLP arguments are ignored and the
        kernel has no tunable hyperparameters (``theta`` is empty): tune an
        overall scale with ``ConstantKernel() * kernel`` and the noise with
        ``WhiteKernel``, and compare networks with ``GridSearchCV`` over
        ``kernel__architecture``. Fixed.
    image_shape : tuple of 3 ints, default=None
        ``(H, W, C)`` of one image when each row of ``X`` is a flattened
        image (C order): rows are reshaped to NHWC for ``architecture``.
        ``H * W * C`` must equal ``n_features`` (one entry may be -1). Fixed.
"""

_EQUIVALENCE_DOC = """
    With ``optimizer=None`` (hyperparameters kept as given),
    ``GaussianProcessRegressor(kernel=NNGPKernel(...), alpha=a)`` computes
    the same posterior mean and covariance as
    ``NNGPRegressor(t=None, diag_reg=a / mean(diag K_train), ...)`` with the
    same architecture: both solve ``(K_train + a I) v = y``, but
    ``NNGPRegressor``'s ``diag_reg`` is relative (it adds
    ``diag_reg * mean(diag K_train) * I``, the neural-tangents convention)
    while ``alpha`` is absolute. Both have a zero prior mean
    (``normalize_y=False``).
"""


class NTKKernel(_InfiniteWidthKernel):
    __doc__ = (
        """Neural tangent kernel of an infinitely wide MLP, as a GP kernel.

    ``k(x, x') = Theta(x, x')``: the NTK of the fully-connected network
    ``depth x (Dense -> activation) -> Dense`` of
    :func:`sklearn_ntk.compute_kernels`, exactly the values that function
    returns. ``weight_std`` and ``bias_std`` are hyperparameters tuned on a
    log scale by ``GaussianProcessRegressor``/``Classifier``; the gradient
    returned by ``kernel(X, eval_gradient=True)`` is exact (forward-mode JAX
    autodiff of the recursion), of shape ``(n, n, n_dims)`` in the order of
    ``theta`` (``bias_std``, then ``weight_std``; fixed ones are left out).

    As a GP covariance the NTK is the posterior of an infinite ensemble of
    networks trained to convergence only in the NNGP case; here it is simply
    a positive semi-definite kernel with a neural-network inductive bias
    (Jacot et al. 2018), used as any other scikit-learn kernel: combine it as
    ``ConstantKernel() * NTKKernel() + WhiteKernel()``, or pass it as
    ``SVC(kernel=NTKKernel())`` (a kernel instance is callable as
    ``kernel(X, Y)``).
"""
        + _PARAMETERS_DOC
        + """
    See Also
    --------
    NNGPKernel : the NNGP kernel of the same network.
    sklearn_ntk.compute_kernels : both kernels as NumPy arrays.
"""
        + _NOTES_DOC
        + """
    References
    ----------
    Jacot, Gabriel & Hongler, "Neural Tangent Kernel: Convergence and
    Generalization in Neural Networks", NeurIPS 2018.
    Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in
    Python", ICLR 2020.
    Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT
    Press 2006, Section 5.4.1 (gradient of the marginal likelihood).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
    >>> from sklearn_ntk import NTKKernel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 3))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(30)
    >>> # weight_std fixed: the ConstantKernel sets the scale (see Notes).
    >>> kernel = (ConstantKernel() * NTKKernel(depth=1, weight_std_bounds="fixed")
    ...           + WhiteKernel(noise_level=0.01))
    >>> gpr = GaussianProcessRegressor(kernel=kernel, random_state=0).fit(X, y)
    >>> gpr.predict(X[:2]).shape
    (2,)
    >>> K, K_gradient = NTKKernel()(X, eval_gradient=True)
    >>> K.shape, K_gradient.shape
    ((30, 30), (30, 30, 2))
    """
    )

    _kernel = "ntk"


class NNGPKernel(_InfiniteWidthKernel):
    __doc__ = (
        """NNGP kernel of an infinitely wide MLP, as a GP kernel.

    ``k(x, x') = K(x, x')``: the covariance of the outputs of the randomly
    initialised fully-connected network ``depth x (Dense -> activation) ->
    Dense`` of :func:`sklearn_ntk.compute_kernels` (exactly the values that
    function returns), i.e. the prior of exact Bayesian inference with an
    infinitely wide network (Lee et al. 2018). ``weight_std`` and
    ``bias_std`` are hyperparameters tuned on a log scale by
    ``GaussianProcessRegressor``/``Classifier``; the gradient returned by
    ``kernel(X, eval_gradient=True)`` is exact (forward-mode JAX autodiff of
    the recursion), of shape ``(n, n, n_dims)`` in the order of ``theta``
    (``bias_std``, then ``weight_std``; fixed ones are left out).
"""
        + _EQUIVALENCE_DOC
        + _PARAMETERS_DOC
        + """
    See Also
    --------
    NTKKernel : the neural tangent kernel of the same network.
    sklearn_ntk.compute_kernels : both kernels as NumPy arrays.
"""
        + _NOTES_DOC
        + """
    References
    ----------
    Lee et al., "Deep Neural Networks as Gaussian Processes", ICLR 2018.
    Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in
    Python", ICLR 2020.
    Rasmussen & Williams, "Gaussian Processes for Machine Learning", MIT
    Press 2006, Section 5.4.1 (gradient of the marginal likelihood).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn_ntk import NNGPKernel, compute_kernels
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3))
    >>> y = np.cos(X[:, 1])
    >>> kernel = NNGPKernel(weight_std=1.5, bias_std=0.05, depth=2)
    >>> K = compute_kernels(X, depth=2, weight_std=1.5, bias_std=0.05,
    ...                     get="nngp").nngp
    >>> bool(np.array_equal(kernel(X), K))
    True
    >>> gpr = GaussianProcessRegressor(kernel=kernel, alpha=1e-2, optimizer=None)
    >>> mean, std = gpr.fit(X, y).predict(X[:3], return_std=True)
    >>> mean.shape, std.shape
    ((3,), (3,))
    """
    )

    _kernel = "nngp"

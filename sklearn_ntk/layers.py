"""Composable layers for infinite-width networks, named as neural-tangents' stax.

A network is a *description*: a small immutable object that
:func:`sklearn_ntk.compute_kernels` reads (``architecture=net``). Its names
and arguments mirror ``neural_tangents.stax`` 0.6.5, so that a stax user
ports a kernel computation by changing an import::

    # from neural_tangents import stax
    from sklearn_ntk import layers as stax

    net = stax.serial(
        stax.Conv(32, (3, 3), padding="SAME", W_std=1.5, b_std=0.05), stax.Relu(),
        stax.Conv(32, (3, 3), padding="SAME", W_std=1.5, b_std=0.05), stax.Relu(),
        stax.GlobalAvgPool(), stax.Dense(1, W_std=1.5, b_std=0.05),
    )
    kernels = compute_kernels(X_train, architecture=net)   # X: (N, H, W, C)

Only the kernel side exists: there are no parameters, no ``init_fn`` and no
``apply_fn``, and ``serial(...)`` returns the description itself rather than
stax's ``(init_fn, apply_fn, kernel_fn)`` triple. Every layer is a frozen
dataclass: hashable, comparable with ``==``, picklable, deep-copyable, with
a repr that is valid Python and identical across processes. That makes a
network usable as a scikit-learn hyperparameter (``clone``,
``GridSearchCV``) and as a cache key.

Channel widths (``out_dim``, ``out_chan``) are ignored by the kernels in the
``"ntk"`` parameterization, exactly as in stax; the ``"standard"``
parameterization uses the width of each layer's input.

References
----------
Novak et al., "Neural Tangents: Fast and Easy Infinite Neural Networks in
Python", ICLR 2020.
Novak et al., "Bayesian Deep Convolutional Networks with Many Channels are
Gaussian Processes", ICLR 2019 (CNN-GP).
Arora et al., "On Exact Computation with an Infinitely Wide Neural Net",
NeurIPS 2019 (CNTK).

Examples
--------
>>> import numpy as np
>>> from sklearn_ntk import compute_kernels, layers
>>> net = layers.serial(layers.Conv(8, (3, 3), padding="SAME"), layers.Relu(),
...                     layers.Flatten(), layers.Dense(1))
>>> net == layers.serial(layers.Conv(8, (3, 3), padding="SAME"), layers.Relu(),
...                      layers.Flatten(), layers.Dense(1))
True
>>> X = np.random.default_rng(0).standard_normal((4, 6, 6, 2))
>>> compute_kernels(X, architecture=net).ntk.shape
(4, 4)
"""

import dataclasses
import math
import numbers
from typing import Callable, Optional, Tuple

import numpy as np

from ._activations import resolve_activation

__all__ = [
    "Layer", "serial", "parallel", "repeat", "Serial", "Parallel", "Repeat",
    "Dense", "Conv", "AvgPool", "GlobalAvgPool", "Flatten",
    "FanOut", "FanInSum", "Identity",
    "Activation", "Relu", "LeakyRelu", "ABRelu", "Abs", "Erf", "Gelu",
    "Sigmoid_like", "Sin", "Cos", "Rbf", "Exp", "Gaussian", "ExpNormalized",
    "Sign", "Monomial", "Polynomial", "RectifiedMonomial", "Hermite", "Gabor",
    "ElementwiseNumerical",
]

_PADDINGS = ("SAME", "VALID", "CIRCULAR")
_PARAMETERIZATIONS = ("ntk", "standard")


def _frozen(cls):
    return dataclasses.dataclass(frozen=True, repr=False)(cls)


def _fmt(value):
    if callable(value) and not isinstance(value, Layer):
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if module and name:
            return f"{module}.{name}"
    return repr(value)


class Layer:
    """Base class of every layer description (no behaviour of its own)."""

    def __repr__(self):
        fields = dataclasses.fields(self)
        args = ", ".join(f"{f.name}={_fmt(getattr(self, f.name))}" for f in fields)
        return f"{type(self).__name__}({args})"

    def __rshift__(self, other):
        """``a >> b`` is ``serial(a, b)``."""
        return serial(self, other)


def _set(obj, name, value):
    object.__setattr__(obj, name, value)


def _positive_int(name, value, layer):
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
            or value < 1):
        raise ValueError(f"{layer}: {name}={value!r} must be a positive integer.")
    return int(value)


def _int_tuple(name, value, layer, length=None):
    try:
        values = tuple(value)
    except TypeError:
        raise ValueError(
            f"{layer}: {name}={value!r} must be a tuple of positive integers, "
            "one per spatial dimension, e.g. (3, 3).") from None
    values = tuple(_positive_int(name, v, layer) for v in values)
    if length is not None and len(values) != length:
        raise ValueError(
            f"{layer}: {name}={value!r} has {len(values)} entries but "
            f"{length} spatial dimensions are needed (one per entry of "
            "filter_shape / window_shape).")
    return values


def _check_std(name, value, layer, allow_none):
    if value is None and allow_none:
        return None
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(
            f"{layer}: {name}={value!r} must be a finite number >= 0"
            + (" or None (no bias)." if allow_none else "."))
    return float(value)


def _check_padding(padding, layer):
    padding = padding.upper() if isinstance(padding, str) else padding
    if padding not in _PADDINGS:
        raise ValueError(f"{layer}: padding={padding!r} must be one of {_PADDINGS}.")
    return padding


def _check_parameterization(parameterization, layer):
    value = parameterization.lower() if isinstance(parameterization, str) else None
    if value not in _PARAMETERIZATIONS:
        raise ValueError(
            f"{layer}: parameterization={parameterization!r} must be 'ntk' or "
            "'standard'.")
    return value


# ---------------------------------------------------------------------------
# Combinators
# ---------------------------------------------------------------------------


@_frozen
class Serial(Layer):
    """Layers applied one after the other (built by :func:`serial`)."""

    layers: Tuple[Layer, ...]

    def __post_init__(self):
        layers = tuple(self.layers)
        for layer in layers:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"serial() got {layer!r}, which is not a layer of "
                    "sklearn_ntk.layers (a neural-tangents stax layer cannot be "
                    "mixed in; build the whole network from sklearn_ntk.layers).")
        _set(self, "layers", layers)

    def __repr__(self):
        return "serial(" + ", ".join(repr(layer) for layer in self.layers) + ")"


@_frozen
class Parallel(Layer):
    """Layers applied to the branches of a :class:`FanOut` (built by :func:`parallel`)."""

    layers: Tuple[Layer, ...]

    __post_init__ = Serial.__post_init__

    def __repr__(self):
        return "parallel(" + ", ".join(repr(layer) for layer in self.layers) + ")"


def serial(*layers):
    """Compose layers in sequence, as ``stax.serial``.

    Parameters
    ----------
    *layers : Layer

    Returns
    -------
    Serial
        A hashable, picklable description of the network.
    """
    return Serial(layers)


def parallel(*layers):
    """Apply the i-th layer to the i-th branch, as ``stax.parallel``.

    Use between :class:`FanOut` and :class:`FanInSum`, e.g. a residual block
    ``serial(FanOut(2), parallel(serial(Conv(...), Relu(), Conv(...)),
    Identity()), FanInSum())``.
    """
    return Parallel(layers)


@_frozen
class Repeat(Layer):
    """``layer`` applied ``n`` times (built by :func:`repeat`)."""

    layer: Layer
    n: int

    def __post_init__(self):
        if not isinstance(self.layer, Layer):
            raise TypeError(
                f"repeat() got {self.layer!r}, which is not a layer of "
                "sklearn_ntk.layers.")
        _set(self, "n", _positive_int("n", self.n, "repeat"))

    def __repr__(self):
        return f"repeat({self.layer!r}, {self.n})"


def repeat(layer, n):
    """Compose ``layer`` with itself ``n`` times, as ``stax.repeat``.

    The same kernels as ``serial(*[layer] * n)``. Above 8 applications
    they are compiled once for all ``n`` (a loop over the repetitions, as
    stax's ``lax.scan``), so the compilation time of a deep network no
    longer grows with its depth; up to 8, and wherever an application
    changes the kernel's form (e.g. a ``Conv`` with ``padding="VALID"``
    shrinks the image, or a pooling layer follows, so position pairs are
    carried), the repetitions are unrolled into one program, with the same
    result. A chain of layers on images (no ``FanOut``) runs staged, one
    program per convolution, either way.

    Parameters
    ----------
    layer : Layer
        E.g. ``serial(Relu(), Dense(512, W_std=1.5, b_std=0.1))``.
    n : int
        Number of applications, >= 1.

    Returns
    -------
    Repeat

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import compute_kernels, layers
    >>> block = layers.serial(layers.Relu(), layers.Dense(512, W_std=1.5, b_std=0.1))
    >>> deep = layers.serial(layers.Dense(512, W_std=1.5, b_std=0.1),
    ...                      layers.repeat(block, 3))
    >>> unrolled = layers.serial(layers.Dense(512, W_std=1.5, b_std=0.1),
    ...                          block, block, block)
    >>> X = np.random.default_rng(0).standard_normal((5, 3))
    >>> bool(np.allclose(compute_kernels(X, architecture=deep).ntk,
    ...                  compute_kernels(X, architecture=unrolled).ntk,
    ...                  rtol=1e-13, atol=0))
    True
    """
    return Repeat(layer, n)


@_frozen
class FanOut(Layer):
    """Copy the input into ``num`` branches (``stax.FanOut``)."""

    num: int

    def __post_init__(self):
        _set(self, "num", _positive_int("num", self.num, "FanOut"))


@_frozen
class FanInSum(Layer):
    """Sum the branches (``stax.FanInSum``).

    As in stax, the branches are treated as independent mean-zero Gaussian
    processes, so each must end with a Dense or Conv layer (or pass such an
    output through Identity/pooling); otherwise a ValueError is raised.
    """


@_frozen
class Identity(Layer):
    """Pass the input through unchanged (``stax.Identity``)."""


# ---------------------------------------------------------------------------
# Linear layers
# ---------------------------------------------------------------------------


@_frozen
class Dense(Layer):
    """Fully-connected layer, applied to every pixel of an image (``stax.Dense``).

    Parameters
    ----------
    out_dim : int
        Output width; used by the kernels only under "standard".
    W_std : float, default=1.0
        Weight standard deviation.
    b_std : float or None, default=None
        Bias standard deviation; None means no bias.
    parameterization : {"ntk", "standard"}, default="ntk"
    """

    out_dim: int
    W_std: float = 1.0
    b_std: Optional[float] = None
    parameterization: str = "ntk"

    def __post_init__(self):
        _set(self, "out_dim", _positive_int("out_dim", self.out_dim, "Dense"))
        _set(self, "W_std", _check_std("W_std", self.W_std, "Dense", False))
        _set(self, "b_std", _check_std("b_std", self.b_std, "Dense", True))
        _set(self, "parameterization",
             _check_parameterization(self.parameterization, "Dense"))


@_frozen
class Conv(Layer):
    """2-D convolution over NHWC images with HWIO filters (``stax.Conv``).

    Parameters
    ----------
    out_chan : int
        Output channels; used by the kernels only under "standard".
    filter_shape : tuple of int
        ``(filter_height, filter_width)``.
    strides : tuple of int, default=None
        None means ``(1, 1)``.
    padding : {"VALID", "SAME", "CIRCULAR"}, default="VALID"
        "CIRCULAR" wraps the image around (a torus), as stax.
    W_std : float, default=1.0
    b_std : float or None, default=None
    dimension_numbers : None or ("NHWC", "HWIO", "NHWC"), default=None
        Only stax's default layout is supported.
    parameterization : {"ntk", "standard"}, default="ntk"
    """

    out_chan: int
    filter_shape: Tuple[int, ...]
    strides: Optional[Tuple[int, ...]] = None
    padding: str = "VALID"
    W_std: float = 1.0
    b_std: Optional[float] = None
    dimension_numbers: Optional[Tuple[str, str, str]] = None
    parameterization: str = "ntk"

    def __post_init__(self):
        _set(self, "out_chan", _positive_int("out_chan", self.out_chan, "Conv"))
        _set(self, "filter_shape", _int_tuple("filter_shape", self.filter_shape, "Conv"))
        strides = (None if self.strides is None else
                   _int_tuple("strides", self.strides, "Conv", len(self.filter_shape)))
        _set(self, "strides", strides)
        _set(self, "padding", _check_padding(self.padding, "Conv"))
        _set(self, "W_std", _check_std("W_std", self.W_std, "Conv", False))
        _set(self, "b_std", _check_std("b_std", self.b_std, "Conv", True))
        if self.dimension_numbers not in (None, ("NHWC", "HWIO", "NHWC")):
            raise ValueError(
                f"Conv: dimension_numbers={self.dimension_numbers!r} is not "
                "supported; pass images as NHWC (stax's default) and leave "
                "dimension_numbers=None.")
        if self.dimension_numbers is not None:
            _set(self, "dimension_numbers", tuple(self.dimension_numbers))
        _set(self, "parameterization",
             _check_parameterization(self.parameterization, "Conv"))


# ---------------------------------------------------------------------------
# Pooling and reshaping
# ---------------------------------------------------------------------------


@_frozen
class AvgPool(Layer):
    """Average pooling (``stax.AvgPool``).

    Parameters
    ----------
    window_shape : tuple of int
    strides : tuple of int, default=None
        None means ``(1, 1)``, as stax (not the window shape).
    padding : {"VALID", "SAME", "CIRCULAR"}, default="VALID"
    normalize_edges : bool, default=False
        With "SAME" padding, divide by the number of real (unpadded) pixels
        in each window instead of the window size.
    """

    window_shape: Tuple[int, ...]
    strides: Optional[Tuple[int, ...]] = None
    padding: str = "VALID"
    normalize_edges: bool = False

    def __post_init__(self):
        _set(self, "window_shape",
             _int_tuple("window_shape", self.window_shape, "AvgPool"))
        strides = (None if self.strides is None else _int_tuple(
            "strides", self.strides, "AvgPool", len(self.window_shape)))
        _set(self, "strides", strides)
        _set(self, "padding", _check_padding(self.padding, "AvgPool"))
        _set(self, "normalize_edges", bool(self.normalize_edges))


@_frozen
class GlobalAvgPool(Layer):
    """Average over all pixels (``stax.GlobalAvgPool``)."""


@_frozen
class Flatten(Layer):
    """Flatten each image into a vector (``stax.Flatten``).

    Its kernel averages the covariances of equal pixels only, which is why
    ``Conv ... Flatten`` networks cost O(N^2 HW) while pooling costs
    O(N^2 (HW)^2).
    """


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


class _ActivationLayer(Layer):
    """An elementwise nonlinearity; :meth:`resolve` gives the dual activation."""

    def _name_and_params(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def resolve(self):
        """The resolved :class:`sklearn_ntk._activations.Activation`."""
        name, params = self._name_and_params()
        return resolve_activation(name, params)


@_frozen
class Activation(_ActivationLayer):
    """Any activation of :data:`sklearn_ntk.ACTIVATIONS` by name, or a function.

    Parameters
    ----------
    activation : str or callable
        A name (e.g. ``"tanh"``, ``"softplus"``) or an elementwise
        ``jax.numpy`` function (its kernel by Gauss-Hermite quadrature).
    params : tuple of (str, value) pairs or dict, default=()
        The activation's parameters, e.g. ``{"alpha": 0.1}``.
    """

    activation: object
    params: tuple = ()

    def __post_init__(self):
        params = self.params
        items = params.items() if isinstance(params, dict) else params
        _set(self, "params", tuple(sorted(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in items)))
        self.resolve()  # validate now, not deep inside the kernel

    def _name_and_params(self):
        return self.activation, dict(self.params)


@_frozen
class Relu(_ActivationLayer):
    """``max(x, 0)`` (``stax.Relu``)."""

    def _name_and_params(self):
        return "relu", {}


@_frozen
class LeakyRelu(_ActivationLayer):
    """``max(x, alpha x)`` (``stax.LeakyRelu``)."""

    alpha: float

    def _name_and_params(self):
        return "leaky_relu", {"alpha": self.alpha}


@_frozen
class ABRelu(_ActivationLayer):
    """``a min(x, 0) + b max(x, 0)`` (``stax.ABRelu``)."""

    a: float
    b: float

    def _name_and_params(self):
        return "ab_relu", {"a": self.a, "b": self.b}


@_frozen
class Abs(_ActivationLayer):
    """``|x|`` (``stax.Abs``)."""

    def _name_and_params(self):
        return "abs", {}


@_frozen
class Erf(_ActivationLayer):
    """``a erf(b x) + c`` (``stax.Erf``)."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def _name_and_params(self):
        return "erf", {"a": self.a, "b": self.b, "c": self.c}


@_frozen
class Gelu(_ActivationLayer):
    """``x Phi(x)`` (``stax.Gelu``); only ``approximate=False`` has a kernel here."""

    approximate: bool = False

    def __post_init__(self):
        if self.approximate:
            raise ValueError(
                "Gelu(approximate=True) is not supported; use Gelu() (the exact "
                "kernel) or Activation('gelu_tanh') (tanh form, by quadrature).")

    def _name_and_params(self):
        return "gelu", {}


@_frozen
class Sigmoid_like(_ActivationLayer):  # noqa: N801 - stax's name
    """``0.5 erf(x / 2.402...) + 0.5``, an erf close to the sigmoid (``stax.Sigmoid_like``)."""

    def _name_and_params(self):
        return "sigmoid_like", {}


@_frozen
class Sin(_ActivationLayer):
    """``a sin(b x + c)`` (``stax.Sin``)."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def _name_and_params(self):
        return "sin", {"a": self.a, "b": self.b, "c": self.c}


@_frozen
class Cos(_ActivationLayer):
    """``a cos(b x + c)`` (``stax.Cos``)."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def _name_and_params(self):
        return "cos", {"a": self.a, "b": self.b, "c": self.c}


@_frozen
class Rbf(_ActivationLayer):
    """``sqrt(2) sin(sqrt(2 gamma) x + pi/4)``, the RBF kernel's features (``stax.Rbf``)."""

    gamma: float = 1.0

    def _name_and_params(self):
        return "rbf", {"gamma": self.gamma}


@_frozen
class Exp(_ActivationLayer):
    """``a exp(b x)`` (``stax.Exp``)."""

    a: float = 1.0
    b: float = 1.0

    def _name_and_params(self):
        return "exp", {"a": self.a, "b": self.b}


@_frozen
class Gaussian(_ActivationLayer):
    """``a exp(b x^2)`` (``stax.Gaussian``)."""

    a: float = 1.0
    b: float = -1.0

    def _name_and_params(self):
        return "gaussian", {"a": self.a, "b": self.b}


@_frozen
class ExpNormalized(_ActivationLayer):
    """The normalised exponential kernel of Shankar et al. (``stax.ExpNormalized``)."""

    gamma: float = 1.0
    shift: float = -1.0
    do_clip: bool = False

    def _name_and_params(self):
        return "exp_normalized", {"gamma": self.gamma, "shift": self.shift,
                                  "do_clip": self.do_clip}


@_frozen
class Sign(_ActivationLayer):
    """``sign(x)`` (``stax.Sign``)."""

    def _name_and_params(self):
        return "sign", {}


@_frozen
class Monomial(_ActivationLayer):
    """``x^degree`` (``stax.Monomial``)."""

    degree: int

    def _name_and_params(self):
        return "monomial", {"degree": self.degree}


@_frozen
class Polynomial(_ActivationLayer):
    """``sum_i coef[i] x^i`` (``stax.Polynomial``)."""

    coef: Tuple[float, ...]

    def __post_init__(self):
        _set(self, "coef", tuple(float(c) for c in self.coef))

    def _name_and_params(self):
        return "polynomial", {"coef": self.coef}


@_frozen
class RectifiedMonomial(_ActivationLayer):
    """``(x >= 0) x^degree`` (``stax.RectifiedMonomial``)."""

    degree: int

    def _name_and_params(self):
        return "rectified_monomial", {"degree": self.degree}


@_frozen
class Hermite(_ActivationLayer):
    """The normalised Hermite polynomial of ``degree`` (``stax.Hermite``)."""

    degree: int

    def _name_and_params(self):
        return "hermite", {"degree": self.degree}


@_frozen
class Gabor(_ActivationLayer):
    """``exp(-x^2) sin(x)`` (``stax.Gabor``)."""

    def _name_and_params(self):
        return "gabor", {}


@_frozen
class ElementwiseNumerical(_ActivationLayer):
    """Any elementwise ``fn`` by Gauss-Hermite quadrature (``stax.ElementwiseNumerical``).

    Parameters
    ----------
    fn : callable
        An elementwise ``jax.numpy`` function; define it at module level so
        that the network's repr and hash are stable.
    deg : int, default=25
        Quadrature nodes per dimension (the cost grows as its square).
    df : callable, default=None
        Ignored: the derivative comes from JAX's forward-mode autodiff.
    """

    fn: Callable
    deg: int = 25
    df: Optional[Callable] = None

    def _name_and_params(self):
        return self.fn, {"n_points": self.deg}


#: Layer classes that map the kernel elementwise.
ACTIVATION_LAYERS = _ActivationLayer

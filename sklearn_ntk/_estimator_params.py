"""Parameter constraints shared by every estimator and GP kernel.

scikit-learn's ``_parameter_constraints`` tables, written once: the
fully-connected architecture (``ARCHITECTURE_CONSTRAINTS``), the gradient-flow
dynamics (``DYNAMICS_CONSTRAINTS``) and a network from
:mod:`sklearn_ntk.layers` with the shape of the images
(``IMAGE_CONSTRAINTS``). Activation names and their parameters are checked by
:func:`sklearn_ntk._architecture.make_architecture`, whose messages list the
valid names.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import validate_data

from ._images import check_flat_rows
from .layers import Layer

__all__ = [
    "ARCHITECTURE_CONSTRAINTS",
    "DYNAMICS_CONSTRAINTS",
    "IMAGE_CONSTRAINTS",
    "SOLVER_CONSTRAINTS",
    "architecture_kwargs",
]

ARCHITECTURE_CONSTRAINTS = {
    "depth": [Interval(Integral, 0, None, closed="left")],
    "activation": [str, callable],
    "activation_params": [dict, None],
    "weight_std": [Interval(Real, 0, None, closed="neither")],
    "bias_std": [Interval(Real, 0, None, closed="left"), None],
    "parameterization": [StrOptions({"ntk", "standard"})],
    "width": [Interval(Integral, 1, None, closed="left"), None],
}

DYNAMICS_CONSTRAINTS = {
    # None and +inf both mean infinite time (the Interval excludes +inf).
    "t": [Interval(Real, 0, None, closed="left"), None, Options(Real, {np.inf})],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "diag_reg": [Interval(Real, 0, None, closed="left")],
}

#: ``architecture`` is a network from :mod:`sklearn_ntk.layers` (its layers
#: validate their own arguments); ``image_shape`` is checked further by
#: :func:`sklearn_ntk._images.check_image_shape` (whose messages name the
#: expected H * W * C).
IMAGE_CONSTRAINTS = {
    "architecture": [Layer, None],
    "image_shape": [tuple, list, None],
}

SOLVER_CONSTRAINTS = {
    "solver": [StrOptions({"auto", "exact", "nystrom"})],
    "n_components": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "centers": [StrOptions({"rpcholesky", "uniform"})],
    "random_state": ["random_state"],
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
}

_ARCHITECTURE_NAMES = tuple(ARCHITECTURE_CONSTRAINTS)


def architecture_kwargs(estimator):
    """The architecture hyperparameters of ``estimator`` as keyword arguments
    for :func:`sklearn_ntk.compute_kernels` / ``make_architecture``."""
    return {name: getattr(estimator, name) for name in _ARCHITECTURE_NAMES}


def validate_rows(estimator, X, *y, **kwargs):
    """scikit-learn's ``validate_data``, after refusing an array of images
    with the fix named (:func:`._images.check_flat_rows`): every estimator's
    fit and predict validate their X here."""
    check_flat_rows(X, estimator)
    return validate_data(estimator, X, *y, **kwargs)

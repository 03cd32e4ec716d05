"""Flattened images and architectures for the estimators and GP kernels.

scikit-learn passes 2-D ``X`` of shape ``(n_samples, n_features)`` through
every ``Pipeline`` step, scaler and ``GridSearchCV`` split. A convolutional
architecture reads NHWC images. The estimators keep ``X`` 2-D (each row a
flattened image, in C order: ``image.reshape(-1)``) and reshape it to
``(n_samples, H, W, C)`` only where a kernel is evaluated, with the
``image_shape=(H, W, C)`` they are given. This module holds that reshape,
its validation, and the identity of an architecture in the kernel cache.

No scikit-learn import (the pure core's rule); the estimators validate types
with their ``_parameter_constraints`` first.
"""

import numbers

import numpy as np

__all__ = ["check_image_shape", "as_images", "architecture_key", "check_kernel_source"]


def check_image_shape(image_shape, n_features=None):
    """Validate ``image_shape`` and resolve a ``-1`` entry from ``n_features``.

    Parameters
    ----------
    image_shape : tuple of 3 ints or None
        ``(H, W, C)`` of one image; at most one entry may be ``-1`` (taken
        from ``n_features``, as in ``numpy.reshape``).
    n_features : int, default=None
        Length of a flattened image; when given, ``H * W * C`` must equal it.

    Returns
    -------
    tuple of 3 ints or None
        The shape with any ``-1`` resolved (left as is without ``n_features``).

    Examples
    --------
    >>> from sklearn_ntk._images import check_image_shape
    >>> check_image_shape((8, 8, 1), n_features=64)
    (8, 8, 1)
    >>> check_image_shape((1, -1, 1), n_features=5)
    (1, 5, 1)
    """
    if image_shape is None:
        return None
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                   for s in shape)
        or any(s < 1 and s != -1 for s in shape)
        or sum(s == -1 for s in shape) > 1
    ):
        raise ValueError(
            f"image_shape={image_shape!r} must be a tuple (H, W, C) of three "
            "positive integers, the shape of one image in NHWC order (at most "
            "one of them -1, taken from n_features), e.g. image_shape=(8, 8, 1) "
            "for 8x8 grey-scale images."
        )
    shape = tuple(int(s) for s in shape)
    if n_features is None:
        return shape
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape:
        if n_features % known:
            raise ValueError(
                f"X has {n_features} features, which is not a multiple of "
                f"{known}, the product of the known entries of "
                f"image_shape={image_shape!r}; each row of X must be one "
                "flattened image. Fix image_shape."
            )
        return tuple(n_features // known if s == -1 else s for s in shape)
    if known != n_features:
        height, width, channels = shape
        raise ValueError(
            f"X has {n_features} features, but image_shape={image_shape!r} "
            f"needs H * W * C = {height} * {width} * {channels} = {known}. Each "
            "row of X must be one image flattened in C order "
            "(images.reshape(n_samples, -1) for images of shape "
            "(n_samples, H, W, C)); pass the image_shape of those images."
        )
    return shape


def check_flat_rows(X, estimator):
    """Refuse an array of images (more than 2 dimensions), naming the fix.

    The estimators take 2-D X, one flattened image per row, so that
    scalers, Pipelines and cross-validation work unchanged; ``image_shape``
    restores the images inside. ``compute_kernels`` takes NHWC arrays.

    Parameters
    ----------
    X : array-like
        What was passed as X (only its ``shape``, if it has one, is read).
    estimator : object
        Named in the message.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_ntk import NTKRegressor
    >>> from sklearn_ntk._images import check_flat_rows
    >>> check_flat_rows(np.zeros((5, 64)), NTKRegressor())
    >>> check_flat_rows(np.zeros((5, 8, 8, 1)), NTKRegressor())
    Traceback (most recent call last):
    ...
    ValueError: X has shape (5, 8, 8, 1), but NTKRegressor takes 2-D X, one flattened image per row (so that scalers and Pipelines work): pass X.reshape(len(X), -1) and image_shape=(8, 8, 1).
    """
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) <= 2:
        return
    shape = tuple(int(size) for size in shape)
    image_shape = {3: shape[1:] + (1,), 4: shape[1:]}.get(len(shape), "(H, W, C)")
    raise ValueError(
        f"X has shape {shape}, but {type(estimator).__name__} takes 2-D X, one "
        "flattened image per row (so that scalers and Pipelines work): pass "
        f"X.reshape(len(X), -1) and image_shape={image_shape}.")


def as_images(X, image_shape):
    """``X`` of shape (n_samples, H * W * C) as (n_samples, H, W, C) (a view).

    ``image_shape`` None returns ``X`` unchanged.
    """
    if image_shape is None:
        return X
    shape = check_image_shape(image_shape, n_features=X.shape[1])
    return X.reshape((X.shape[0],) + shape)


def architecture_key(architecture):
    """A cache key that two different architectures never share.

    Architectures from :mod:`sklearn_ntk.layers` are immutable values with
    value equality (what makes them static arguments of jitted functions):
    the architecture itself is the key, so that a clone (a deep copy, as in
    ``GridSearchCV``) finds the kernels of its original. Equal layers
    compute equal kernels; a user-supplied activation function compares by
    identity, so redefining it never reuses a stale entry. An unhashable
    object falls back to its ``id`` (the cache then keeps the object alive
    so that the id cannot be reused).
    """
    try:
        hash(architecture)
    except TypeError:
        return ("architecture-id", id(architecture))
    return ("architecture", type(architecture).__qualname__, architecture)


def check_kernel_source(architecture, kernel_fn):
    """Refuse ``architecture`` together with ``kernel_fn`` (which one?)."""
    if architecture is not None and kernel_fn is not None:
        raise ValueError(
            "architecture and kernel_fn are both set; each replaces the "
            "built-in fully-connected kernels, so pass only one: "
            "architecture=serial(...) for a network built from "
            "sklearn_ntk.layers, or kernel_fn for any other kernel function "
            "(set the other to None)."
        )

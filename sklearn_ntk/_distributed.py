"""Running sklearn-ntk's parallel work on a dask cluster (optional extra).

Every parallel part of sklearn-ntk goes through joblib, so a cluster needs no
code of ours: joblib's ``"dask"`` backend sends the tasks to the workers of
a ``dask.distributed.Client``. This module only adds what joblib cannot say:
which extra of *this* package installs the backend.
"""

import joblib

__all__ = ["dask_backend"]

#: What to install for the dask backend; named by every error about it.
INSTALL_HINT = "pip install 'sklearn-ntk[distributed]'"


def import_distributed():
    """Import ``dask.distributed``, or raise an ImportError naming the extra.

    Returns
    -------
    module
        The ``distributed`` package.
    """
    try:
        import distributed
    except ImportError as error:
        raise ImportError(
            "The dask backend needs dask.distributed, which is not installed "
            f"here ({error}). Install it with: {INSTALL_HINT}"
        ) from error
    return distributed


def dask_backend(client=None, *, scatter=None, **backend_kwargs):
    """Context manager running joblib work on a dask cluster.

    ``joblib.parallel_backend("dask")`` with a clear error when dask is not
    installed: inside the ``with`` block, scikit-learn's ``GridSearchCV``,
    ``RandomizedSearchCV`` and ``cross_val_score`` and every parallel pass
    of sklearn-ntk run as tasks on the cluster's workers.

    Parameters
    ----------
    client : dask.distributed.Client or None, default=None
        The cluster to use; None uses the current default client (the last
        one created).
    scatter : list of ndarray or None, default=None
        Arrays sent to every worker once, up front (typically ``[X, y]``).
        joblib otherwise scatters each argument larger than 1 kB once per
        ``Parallel`` call, to one worker, from which the others copy it.
    **backend_kwargs
        Passed to joblib's ``DaskDistributedBackend`` (e.g.
        ``wait_for_workers_timeout``).

    Returns
    -------
    context manager
        The object returned by ``joblib.parallel_backend``.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed; the message names the
        ``sklearn-ntk[distributed]`` extra.

    See Also
    --------
    joblib.parallel_backend : the general mechanism (also Ray's backend).

    Examples
    --------
    >>> import numpy as np
    >>> from dask.distributed import Client
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_ntk import NTKRegressor, dask_backend
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 3))
    >>> y = np.sin(X[:, 0])
    >>> with Client(processes=False, n_workers=1, dashboard_address=None) as client:
    ...     with dask_backend(client):
    ...         scores = cross_val_score(NTKRegressor(depth=1), X, y, cv=3)
    >>> scores.shape
    (3,)
    """
    import_distributed()
    if client is not None:
        backend_kwargs["client"] = client
    if scatter is not None:
        backend_kwargs["scatter"] = list(scatter)
    return joblib.parallel_backend("dask", **backend_kwargs)

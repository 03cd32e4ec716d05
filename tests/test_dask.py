"""sklearn-ntk on a dask cluster: every parallel part runs as tasks on the
workers of a ``LocalCluster(n_workers=2, processes=True)`` and gives what a
local run gives.

One cluster serves the whole module (about 2 s to start, 0.3 s to close).
Counting tasks: joblib's dask backend names each task
``[mixed_]batch_of_<function>_<calls>_calls-<uuid>`` (it batches short calls), so
the calls that ran on the workers are read from ``get_task_stream``.
"""

import logging
import re
import sys

import joblib
import numpy as np
import pytest
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)

from sklearn_ntk import NTKRegressor, dask_backend
from sklearn_ntk._distributed import INSTALL_HINT, import_distributed

distributed = pytest.importorskip(
    "distributed",
    reason=f"dask.distributed is not installed (the 'distributed' extra): {INSTALL_HINT}",
)
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

# Bit-identical is what we observe; a relative 1e-12 is what we promise.
# The same float64 code runs in both places; only the BLAS threading
# differs (one thread per dask worker, the nanny's setting, against every
# core locally), and a threaded GEMM or Cholesky may sum in another order:
# rounding of order 1e-16 times the kernel's condition number (< 1e4 with
# diag_reg=0.1 at these sizes).
RTOL = 1e-12


@pytest.fixture(scope="module")
def dask_client():
    """Two single-threaded worker processes, as the issue and the docs run."""
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    # Before any task: a spawned worker starts from a fresh interpreter, so
    # JAX (imported by this process) is not in it; a forked one would have
    # inherited it.
    client.jax_preimported = client.run(lambda: "jax" in sys.modules)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _calls_on_workers(stream, function_name):
    """Number of ``function_name`` calls, and workers, in a task stream."""
    pattern = re.compile(rf"(?:mixed_)?batch_of_{re.escape(function_name)}_(\d+)_calls")
    calls, workers = 0, set()
    for task in stream.data:
        match = pattern.match(task["key"])
        if match:
            calls += int(match.group(1))
            workers.add(task["worker"])
    return calls, workers


def _data(n=48, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.standard_normal(n)
    return X, y


def test_workers_are_spawned_with_one_blas_thread(dask_client):
    # No fork after JAX started: the workers never saw this process's JAX.
    assert not any(dask_client.jax_preimported.values())
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info()
                if pool["user_api"] == "blas"]

    threads = dask_client.run(blas_threads)
    assert len(threads) == 2
    assert all(pools and set(pools) == {1} for pools in threads.values())


def test_grid_search_over_t_and_depth_matches_local_run(dask_client):
    X, y = _data()
    grid = {"t": [1.0, None], "depth": [1, 2]}
    cv = KFold(3, shuffle=True, random_state=0)

    local = GridSearchCV(NTKRegressor(), grid, cv=cv).fit(X, y)
    with get_task_stream(dask_client) as stream:
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(NTKRegressor(), grid, cv=cv).fit(X, y)

    calls, workers = _calls_on_workers(stream, "_fit_and_score")
    assert calls == 4 * 3, [task["key"] for task in stream.data]  # every candidate on every fold, none locally
    assert workers <= set(dask_client.scheduler_info()["workers"])
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_array_equal(remote.cv_results_["rank_test_score"],
                                  local.cv_results_["rank_test_score"])
    for key in ["mean_test_score", "std_test_score"] + [
            f"split{i}_test_score" for i in range(3)]:
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key],
                                   rtol=RTOL, err_msg=key)
    np.testing.assert_allclose(remote.predict(X), local.predict(X), rtol=RTOL)


def test_randomized_search_and_cross_val_score_run_on_workers(dask_client):
    X, y = _data(seed=1)
    distributions = {"t": [0.1, 1.0, 10.0, None], "depth": [1, 2],
                     "diag_reg": [0.01, 0.1]}
    search = RandomizedSearchCV(NTKRegressor(), distributions, n_iter=4, cv=3,
                                random_state=0)
    local_search = search.__sklearn_clone__().fit(X, y)
    local_scores = cross_val_score(NTKRegressor(depth=2), X, y, cv=4)

    with get_task_stream(dask_client) as stream:
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
            scores = cross_val_score(NTKRegressor(depth=2), X, y, cv=4)

    calls, workers = _calls_on_workers(stream, "_fit_and_score")
    # The search's fits, then cross_val_score's.
    assert calls == 4 * 3 + 4, [task["key"] for task in stream.data]
    assert workers
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               local_search.cv_results_["mean_test_score"], rtol=RTOL)
    np.testing.assert_allclose(scores, local_scores, rtol=RTOL)


def test_dask_backend_helper_scatters_and_runs_on_workers(dask_client):
    X, y = _data(seed=2)
    with get_task_stream(dask_client) as stream:
        with dask_backend(dask_client, scatter=[X, y]):
            scores = cross_val_score(NTKRegressor(depth=1), X, y, cv=3)
    calls, _ = _calls_on_workers(stream, "_fit_and_score")
    assert calls == 3
    np.testing.assert_allclose(
        scores, cross_val_score(NTKRegressor(depth=1), X, y, cv=3), rtol=RTOL)


def test_missing_distributed_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes ``import distributed`` fail.
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        import_distributed()
    with pytest.raises(ImportError, match=r"sklearn-ntk\[distributed\]"):
        dask_backend()

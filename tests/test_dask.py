"""sklearn-ntk on a dask cluster: every parallel part runs as tasks on the
workers of a ``LocalCluster(n_workers=2, processes=True)`` and gives what a
local run gives.

One cluster serves the whole module (about 2 s to start, 0.3 s to close).
Counting tasks: joblib's dask backend names each task
``[mixed_]batch_of_<function>_<calls>_calls-<uuid>`` (it batches short calls), so
the calls that ran on the workers are read from ``get_task_stream``.
"""

import logging
import os
import re
import signal
import sys
import threading
import time

import joblib
import numpy as np
import pytest
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_score,
)

from sklearn_ntk import LinearizedMLP, NTKRegressor, compute_kernels, dask_backend
from sklearn_ntk import _nystrom, _solvers
from sklearn_ntk._distributed import INSTALL_HINT, import_distributed
from sklearn_ntk._regressors import KERNEL_CACHE

distributed = pytest.importorskip(
    "distributed",
    reason=f"dask.distributed is not installed (the 'distributed' extra): {INSTALL_HINT}",
)
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

# Bit-identical is what we mostly observe; 1e-12 relative to the largest
# value compared is what we promise. The same float64 code runs in both
# places, but BLAS may sum in another order: one thread per dask worker
# (the nanny's setting) against every core locally, and a mean computed in
# row blocks (a GEMM over all times' weights) against one GEMV. A sum of n
# products then moves by about n * eps * sum|k w|, and solves amplify it by
# the condition number (< 1e4 with diag_reg=0.1 at these sizes): 1e-15 to
# 1e-13 of the scale, far below 1e-12. Means near zero are compared on the
# scale of the largest, where a relative test would flag cancellation.
RTOL = 1e-12


def assert_same(actual, desired, rtol=RTOL):
    desired = np.asarray(desired)
    np.testing.assert_allclose(actual, desired, rtol=rtol,
                               atol=rtol * np.max(np.abs(desired)))


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
    # Every candidate on every fold ran on a worker, none locally.
    assert calls == 4 * 3, [task["key"] for task in stream.data]
    assert workers <= set(dask_client.scheduler_info()["workers"])
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_array_equal(remote.cv_results_["rank_test_score"],
                                  local.cv_results_["rank_test_score"])
    for key in ["mean_test_score", "std_test_score"] + [
            f"split{i}_test_score" for i in range(3)]:
        assert_same(remote.cv_results_[key], local.cv_results_[key])
    assert_same(remote.predict(X), local.predict(X))


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
    assert_same(search.cv_results_["mean_test_score"],
                               local_search.cv_results_["mean_test_score"])
    assert_same(scores, local_scores)


def test_dask_backend_helper_scatters_and_runs_on_workers(dask_client):
    X, y = _data(seed=2)
    with get_task_stream(dask_client) as stream:
        with dask_backend(dask_client, scatter=[X, y]):
            scores = cross_val_score(NTKRegressor(depth=1), X, y, cv=3)
    calls, _ = _calls_on_workers(stream, "_fit_and_score")
    assert calls == 3
    assert_same(
        scores, cross_val_score(NTKRegressor(depth=1), X, y, cv=3), rtol=RTOL)


def test_missing_distributed_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes ``import distributed`` fail.
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=re.escape(INSTALL_HINT)):
        import_distributed()
    with pytest.raises(ImportError, match=r"sklearn-ntk\[distributed\]"):
        dask_backend()


def test_linearized_ensemble_members_run_on_workers(dask_client):
    X, y = _data(n=24, seed=3)
    model = LinearizedMLP(width=32, depth=1, n_ensemble=4, random_state=0)
    local = model.__sklearn_clone__().fit(X, y)
    with get_task_stream(dask_client) as stream:
        with joblib.parallel_backend("dask"):
            remote = model.fit(X, y)
    calls, _ = _calls_on_workers(stream, "_fit_member")
    assert calls == 4  # one task per network
    # Seeds are drawn in the caller: the same networks, the same training.
    for local_member, remote_member in zip(local.initial_params_, remote.initial_params_):
        for (w0, b0), (w1, b1) in zip(local_member, remote_member):
            np.testing.assert_array_equal(w0, w1)
            np.testing.assert_array_equal(b0, b1)
    assert_same(remote.predict(X), local.predict(X))


def test_exact_predict_in_row_blocks_on_workers(dask_client, monkeypatch):
    X, y = _data(n=64, seed=4)
    X_test = np.random.default_rng(5).standard_normal((1500, X.shape[1]))
    assert X_test.shape[0] * X.shape[0] * 8 < _solvers.PREDICT_BLOCK_BYTES  # unblocked
    model = NTKRegressor(depth=2, t=3.0).fit(X, y)
    # The mean from the whole test-train kernel, computed independently.
    expected = compute_kernels(X_test, X, get="ntk", depth=2).ntk @ model.dual_coef_[:, 0]
    # 100 test rows per block (instead of 2**27 bytes' worth) and no
    # minimum work per task: 15 blocks, which row_tasks spreads over 4
    # tasks per worker: 8 tasks of one or two blocks, each returning its
    # means only.
    monkeypatch.setattr(_solvers, "PREDICT_BLOCK_BYTES", 100 * 64 * 8)
    monkeypatch.setattr(_solvers, "_ENTRIES_PER_S", 1e-3)
    with get_task_stream(dask_client) as stream:
        with joblib.parallel_backend("dask"):
            mean = model.predict(X_test)
    calls, workers = _calls_on_workers(stream, "exact_mean_task")
    assert calls == 8
    assert len(workers) == 2
    assert_same(mean, expected)
    # Several times at once: the same blocks, a column of weights per time.
    with joblib.parallel_backend("dask"):
        means = model.predict_at_times(X_test, [3.0, None])
    monkeypatch.undo()
    assert_same(means, model.predict_at_times(X_test, [3.0, None]))


def _small_nystrom_tasks(monkeypatch, rows=64):
    """Passes of ``rows``-row blocks with no minimum work per task (1 s here)."""
    monkeypatch.setattr(_nystrom, "_rows_per_block", lambda m, block_bytes=None: rows)
    monkeypatch.setattr(_nystrom, "_ENTRIES_PER_S", 1e-3)
    monkeypatch.setattr(_nystrom, "_FLOPS", 1e-3)


def test_nystrom_fit_runs_on_workers_and_predicts_as_local(dask_client, monkeypatch):
    X, y = _data(n=2048, d=5, seed=6)
    _small_nystrom_tasks(monkeypatch)
    model = NTKRegressor(depth=2, t=10.0, solver="nystrom", n_components=48,
                         random_state=0, n_jobs=2)
    KERNEL_CACHE.clear()
    local = model.__sklearn_clone__().fit(X, y)
    KERNEL_CACHE.clear()  # or the second fit would reuse the first's passes
    with get_task_stream(dask_client) as stream:
        with joblib.parallel_backend("dask"):
            remote = model.fit(X, y)
    calls, workers = _calls_on_workers(stream, "gram_task")
    # 32 blocks of 64 rows; row_tasks asks 8 tasks per worker: 16 tasks.
    assert calls == 16
    assert len(workers) == 2
    # n_jobs=2 locally gives the same 16 row ranges, reduced in the same
    # order, so the m x m Gram has the same sums; the rest is the same
    # float64 code in the caller. Bit-identical observed; 1e-12 promised
    # for BLAS threading (see RTOL).
    assert_same(remote.dual_coef_, local.dual_coef_)
    assert_same(remote.predict(X[:200]), local.predict(X[:200]))


def test_nystrom_cv_passes_run_on_workers_and_score_as_local(dask_client, monkeypatch):
    # NTKClassifierCV on the Nyström fit: its leave-one-out passes (means,
    # and the variances that neg_log_loss asks for) and its K-fold passes
    # (the folds' Grams, held-out means and variances) are row tasks on
    # the workers, and every candidate scores as in a local run.
    from sklearn.datasets import make_classification

    from sklearn_ntk import NTKClassifierCV
    X, y = make_classification(n_samples=512, n_features=5, n_informative=3,
                               n_classes=3, random_state=0)
    _small_nystrom_tasks(monkeypatch)
    # depth 2 and 48 centres, as the fit above: the workers reuse its programs.
    grid = {"depths": (2,), "bias_stds": (2.0,), "diag_regs": (0.1, 0.01),
            "times": (None, 10.0)}
    expected = {"leave_one_out": ("loo_mean_task", "loo_variance_task"),
                "kfold": ("fold_gram_task", "projection_task", "fold_variance_task")}
    for kind, cv in (("leave_one_out", None), ("kfold", KFold(3))):
        search = NTKClassifierCV(solver="nystrom", n_components=48, cv=cv,
                                 scoring="neg_log_loss", random_state=0, n_jobs=2, **grid)
        KERNEL_CACHE.clear()
        local = search.__sklearn_clone__().fit(X, y)
        KERNEL_CACHE.clear()
        with get_task_stream(dask_client) as stream:
            with joblib.parallel_backend("dask"):
                remote = search.fit(X, y)
        for function in expected[kind]:
            calls, workers = _calls_on_workers(stream, function)
            assert calls >= 2 and len(workers) == 2, (kind, function, calls, workers)
        assert_same(remote.cv_results_["mean_test_score"],
                    local.cv_results_["mean_test_score"])
        assert remote.best_params_ == local.best_params_


def test_tile_threads_follow_omp_num_threads(monkeypatch, dask_client):
    from sklearn_ntk._kernels import _n_workers

    # In a dask worker the nanny sets OMP_NUM_THREADS=1: one tile thread
    # per task, as many tasks as worker threads.
    assert set(dask_client.run(_n_workers, None).values()) == {1}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _n_workers(None) == 3
    assert _n_workers(2) == 2  # an explicit n_jobs wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _n_workers(None) == (os.cpu_count() or 1)


def _slow_kernel(x1, x2):
    """The depth-2 ReLU kernels, 0.2 s slower: tasks long enough to kill."""
    time.sleep(0.2)
    kernels = compute_kernels(x1, x2, get=("nngp", "ntk"), depth=2)
    return kernels.nngp, kernels.ntk


def _kill_a_worker_once_busy(client, timeout=60.0):
    """SIGKILL one worker process as soon as it is running a task."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [address for address, tasks in client.processing().items() if tasks]
        if busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            return pids[busy[0]]
        time.sleep(0.02)
    raise AssertionError("no task started within the timeout")


def _fit_in_thread(model, X, y):
    outcome = {}

    def fit():
        try:
            with joblib.parallel_backend("dask"):
                outcome["model"] = model.fit(X, y)
        except BaseException as error:  # reported to the test
            outcome["error"] = error

    thread = threading.Thread(target=fit)
    thread.start()
    return thread, outcome


@pytest.mark.slow
def test_killed_worker_mid_fit_gives_a_correct_fit_or_a_clear_error(dask_client,
                                                                   monkeypatch):
    X, y = _data(n=1024, d=5, seed=7)
    _small_nystrom_tasks(monkeypatch)
    model = NTKRegressor(kernel_fn=_slow_kernel, t=10.0, solver="nystrom",
                         n_components=32, random_state=0, n_jobs=2)
    KERNEL_CACHE.clear()
    local = model.__sklearn_clone__().fit(X, y)
    KERNEL_CACHE.clear()
    dask_client.wait_for_workers(2, timeout=60)
    thread, outcome = _fit_in_thread(model, X, y)
    killed = _kill_a_worker_once_busy(dask_client)
    thread.join(timeout=120)
    assert not thread.is_alive()
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarts it
    assert killed not in dask_client.run(os.getpid).values()
    if "error" in outcome:
        # joblib scatters each task's rows to one worker; when that worker
        # dies the rows are gone and dask cannot rerun the task: the fit
        # must fail loudly and leave nothing fitted. (What we observe.)
        error = outcome["error"]
        assert isinstance(error, RuntimeError), repr(error)
        assert "worker died" in str(error) and "nothing was fitted" in str(error)
        assert not hasattr(model, "dual_coef_")
    else:
        # dask reran the lost task elsewhere: the same fit as locally.
        assert_same(model.predict(X[:100]), local.predict(X[:100]))


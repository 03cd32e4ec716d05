"""Our parallel passes under local joblib backends (no dask needed): the
same results as one process, whatever the number of workers."""

import joblib
import numpy as np
import pytest

from sklearn_ntk import LinearizedMLP, NTKRegressor, compute_kernels
from sklearn_ntk import _parallel, _solvers


def _data(n, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_exact_predict_in_row_blocks_equals_the_whole_kernel(monkeypatch, n_jobs):
    X, y = _data(50)
    X_test, _ = _data(700, seed=1)
    model = NTKRegressor(depth=2, t=2.0, n_jobs=n_jobs).fit(X, y)
    # Independently: the whole test-train kernel times the weights.
    expected = compute_kernels(X_test, X, get="ntk", depth=2).ntk @ model.dual_coef_[:, 0]
    # 64 rows per block, no minimum work per task: 11 blocks.
    monkeypatch.setattr(_solvers, "PREDICT_BLOCK_BYTES", 64 * 50 * 8)
    monkeypatch.setattr(_solvers, "_ENTRIES_PER_S", 1e-3)
    calls = []
    real_task = _solvers.exact_mean_task

    def counting_task(x_rows, *args):
        calls.append(x_rows.shape[0])
        return real_task(x_rows, *args)

    monkeypatch.setattr(_solvers, "exact_mean_task", counting_task)
    mean = model.predict(X_test)
    assert sum(calls) == 700 and len(calls) > 1
    # A block-wise GEMM sums each mean's 50 products in another order than
    # one GEMV: rounding of 50 eps relative to the largest mean.
    np.testing.assert_allclose(mean, expected, rtol=1e-12,
                               atol=1e-12 * np.abs(expected).max())


def test_linearized_ensemble_in_threads_equals_sequential():
    X, y = _data(20)
    sequential = LinearizedMLP(width=16, depth=1, n_ensemble=3, random_state=0).fit(X, y)
    threaded = LinearizedMLP(width=16, depth=1, n_ensemble=3, random_state=0,
                             n_jobs=2).fit(X, y)
    # Each member is the same computation from the same seed, in its own
    # thread: bit for bit.
    np.testing.assert_array_equal(threaded.predict(X), sequential.predict(X))
    np.testing.assert_array_equal(threaded.n_iter_, sequential.n_iter_)


class _FakeClusterError(Exception):
    """Stands for a ``distributed`` exception (a worker died)."""


_FakeClusterError.__module__ = "distributed.client"


def _raise(error):
    raise error


def test_lost_cluster_task_is_a_clear_error():
    with pytest.raises(RuntimeError, match="a parallel task was lost") as info:
        _parallel.map_reduce(_raise, [(_FakeClusterError("gone"),)],
                             description="Gram pass")
    assert "nothing was fitted" in str(info.value)
    assert isinstance(info.value.__cause__, _FakeClusterError)
    # Errors of the task itself pass through unchanged.
    with pytest.raises(ValueError, match="bad input"):
        _parallel.map_reduce(_raise, [(ValueError("bad input"),)])


def test_tasks_follow_the_callers_backend():
    # The backend is never named in map_reduce: the caller's context wins.
    with joblib.parallel_backend("threading", n_jobs=2):
        assert _parallel.n_workers(None) == 2
        assert _parallel.map_reduce(pow, [(2, 3), (3, 2)],
                                    reduce=lambda a, b: a + b) == 17

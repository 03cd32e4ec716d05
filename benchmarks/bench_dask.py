"""The Nyström fit on a dask LocalCluster against local threads, and a cluster model.

Run (about 5 minutes at the defaults on 2 cores)::

    PYTHONPATH=. python benchmarks/bench_dask.py --n 200000 --m 1024

1. The same ``NTKRegressor(solver="nystrom")`` fit (depth-3 ReLU NTK, d=20,
   synthetic regression: y = sin(x0) + x1 x2 / 2 + x3^2 / 4 + noise) runs
   ``--repeats`` times with local threads (``n_jobs=2``) and inside
   ``joblib.parallel_backend("dask")`` on a ``LocalCluster(n_workers=2,
   threads_per_worker=1)``: the same two cores. Runs alternate (local,
   dask, local, ...) so that load from other processes hits both alike;
   medians and their ratio are reported. Both runs are warm: the workers
   imported sklearn-ntk and compiled the kernel blocks in a first,
   smaller fit with the same m.
2. From the dask run's task stream: tasks per pass, per-task compute time,
   bytes in (the X and y rows) and out (the m x m Gram and m x k
   right-hand sides) per task, and the time spent outside tasks.
3. A cluster model on paper from those measurements, predicting an
   N = 1e7, m = 8192 fit on 16 and 64 workers (one core each), printed
   term by term (the docs page "Scaling out" quotes it).
"""

import argparse
import logging
import statistics
import time

import joblib
import numpy as np
import scipy.linalg

from sklearn_ntk import NTKRegressor
from sklearn_ntk import _nystrom
from sklearn_ntk._regressors import KERNEL_CACHE


def make_data(n, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.25 * X[:, 3] ** 2
         + 0.1 * rng.standard_normal(n))
    return X, y


def fit_once(X, y, m):
    KERNEL_CACHE.clear()  # every fit does all its passes
    model = NTKRegressor(depth=3, solver="nystrom", n_components=m, random_state=0,
                         n_jobs=2)
    began = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - began, model


def task_summary(stream, name):
    """Per-task compute seconds and transfer seconds of ``name`` tasks."""
    compute, transfer = [], []
    for task in stream:
        if name not in task["key"]:
            continue
        for part in task["startstops"]:
            seconds = part["stop"] - part["start"]
            if part["action"] == "compute":
                compute.append(seconds)
            elif part["action"] == "transfer":
                transfer.append(seconds)
    return compute, transfer


#: Size at which the client's eigendecomposition is timed (scaled as m^3).
EIGH_M = 2048


def measure_serial_parts(m, d=20, seed=1):
    """Client-side seconds: eigh at ``EIGH_M``, one m x m addition at ``m``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((EIGH_M, EIGH_M))
    a = a @ a.T / EIGH_M + np.eye(EIGH_M)
    began = time.perf_counter()
    scipy.linalg.eigh(a, check_finite=False)
    eigh_s = time.perf_counter() - began
    a = a[:m, :m].copy()
    b = a.copy()
    began = time.perf_counter()
    for _ in range(5):
        b += a
    add_s = (time.perf_counter() - began) / 5
    return eigh_s, add_s


def cluster_model(per_row_kernel_s, per_row_gram_s, m_measured, eigh_s, add_s,
                  centres_s, n=10**7, m=8192, d=20, workers=(16, 64),
                  tasks_per_worker=_nystrom.TASKS_PER_WORKER,
                  bandwidth=1.25e9, task_latency=1e-3):
    """Predicted seconds of an (n, m) fit on ``workers`` one-core workers.

    Scaling from the measured m: kernel work per row grows as m, Gram
    flops per row as m^2, eigh as m^3, one Gram addition as m^2, the
    centres (block RPCholesky on a pool of max(2m, 16384) rows, a pool
    x m kernel and pool x m^2 flops) as pool * m^2.
    """
    ratio = m / m_measured
    row_s = per_row_kernel_s * ratio + per_row_gram_s * ratio ** 2
    pool_measured = max(2 * m_measured, 2**14)
    pool = max(2 * m, 2**14)
    serial = {
        "centres (client)": centres_s * (pool / pool_measured) * ratio ** 2,
        "eigh of m x m (client)": eigh_s * (m / EIGH_M) ** 3,
    }
    rows = []
    for w in workers:
        tasks = tasks_per_worker * w
        gram_bytes = 8 * m * m
        terms = {
            "compute (rows x (kernel + Gram) / workers)": n * row_s / w,
            "X rows in (client NIC)": n * d * 8 / bandwidth,
            "Grams out (client NIC)": tasks * gram_bytes / bandwidth,
            "Gram reduction (client)": tasks * add_s * ratio ** 2,
            "scheduling": tasks * task_latency,
            **serial,
        }
        rows.append((w, tasks, terms, sum(terms.values())))
    return row_s, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--m", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from distributed import Client, LocalCluster, get_task_stream

    X, y = make_data(args.n)
    rows_per_block = _nystrom._rows_per_block(args.m)
    X_warm, y_warm = make_data(min(args.n, 4 * rows_per_block), seed=1)
    print(f"N={args.n}, m={args.m}, d=20, depth-3 ReLU NTK, rows per block "
          f"{rows_per_block}; 2 cores: local threads (n_jobs=2) vs "
          "LocalCluster(2 workers x 1 thread)", flush=True)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        fit_once(X_warm, y_warm, args.m)  # local compile
        with joblib.parallel_backend("dask"):
            fit_once(X_warm, y_warm, args.m)  # imports and compiles on the workers
        local_s, dask_s, streams, timings = [], [], [], []
        for _ in range(args.repeats):
            seconds, model = fit_once(X, y, args.m)
            local_s.append(seconds)
            print(f"  local fit {seconds:.2f} s", flush=True)
            timings.append(dict(model._state.timings))
            with get_task_stream(client) as stream:
                with joblib.parallel_backend("dask"):
                    seconds, remote = fit_once(X, y, args.m)
            dask_s.append(seconds)
            streams.append(stream.data)
            print(f"  dask fit {seconds:.2f} s", flush=True)
        same = np.allclose(remote.dual_coef_, model.dual_coef_, rtol=1e-9,
                           atol=1e-9 * np.abs(model.dual_coef_).max())

    local, remote_s = statistics.median(local_s), statistics.median(dask_s)
    print(f"fit, local threads : median {local:7.2f} s  ({', '.join(f'{s:.2f}' for s in local_s)})")
    print(f"fit, LocalCluster  : median {remote_s:7.2f} s  ({', '.join(f'{s:.2f}' for s in dask_s)})")
    print(f"overhead of dask   : {100 * (remote_s / local - 1):+.1f} %  (target <= 15 %); "
          f"same weights: {same}")

    compute, transfer = task_summary(streams[-1], "gram_task")
    n_tasks = len(compute)
    task_rows = args.n / max(n_tasks, 1)
    bytes_in = task_rows * (20 + 1) * 8
    bytes_out = 8 * args.m * args.m + 8 * args.m
    print(f"Gram pass on the cluster: {n_tasks} tasks, compute per task median "
          f"{statistics.median(compute):.2f} s; in per task {bytes_in / 1e6:.2f} MB "
          f"(rows), out {bytes_out / 1e6:.2f} MB (Gram + rhs); transfer time "
          f"{sum(transfer):.2f} s in all")
    timing = {key: statistics.median(t.get(key, 0.0) for t in timings)
              for key in ("centers", "kernel", "gram", "eigh")}
    print("local fit split (median s): " + ", ".join(
        f"{key} {value:.2f}" for key, value in timing.items()))
    # Per-row seconds of one core: the local pass ran on two threads, whose
    # kernel_s and gram_s add both threads' time.
    per_row_kernel = timing["kernel"] / args.n
    per_row_gram = timing["gram"] / args.n
    eigh_s, add_s = measure_serial_parts(args.m)
    print(f"client parts: eigh at m={EIGH_M} {eigh_s:.3f} s, one Gram addition at m={args.m} "
          f"{add_s * 1e3:.2f} ms")
    row_s, rows = cluster_model(per_row_kernel, per_row_gram, args.m, eigh_s, add_s,
                                timing["centers"])
    print(f"model, N=1e7, m=8192: {row_s * 1e3:.3f} ms of one core per row "
          "(kernel + Gram), 10 Gb/s client link, 1 ms per task")
    for workers, tasks, terms, total in rows:
        print(f"  {workers} workers, {tasks} tasks: total {total / 60:.1f} min")
        for name, seconds in terms.items():
            print(f"      {name:45s} {seconds:9.1f} s")


if __name__ == "__main__":
    main()

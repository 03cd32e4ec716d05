"""Coarse parallel passes over row blocks, through joblib, with progress.

Every pass of sklearn-ntk that splits rows into independent pieces (the
Nyström Gram and right-hand-side passes, large cross kernels, ensembles) is
one :func:`map_reduce` call: a ``joblib.Parallel(n_jobs)(delayed(f)(...))``
whose results are combined in the caller as they arrive. The backend is
never named here, so ``with joblib.parallel_backend("dask"):`` (or Ray's, or
``"loky"``) around a ``fit`` sends the same tasks to a cluster. Without a
context, ``prefer="threads"`` is only a hint: the work runs in compiled JAX
and BLAS code that releases the GIL, so threads share ``X`` for free.

Rules the tasks follow, so that a cluster gets coarse work and little
traffic:

* a task is a contiguous range of rows worth about a second or more of
  work (:func:`row_tasks` sizes them), never one small block;
* a task receives only its own rows (``X[start:stop]``), so the rows of
  ``X`` travel once in total, split across the tasks; shared arguments
  (centres, architecture) are small;
* a task returns a small result (an m x m Gram and m x k right-hand sides,
  never an n x m kernel block), reduced in the caller as it arrives, so
  memory holds at most a few results at a time.

This module is pure Python over joblib (no scikit-learn, no JAX).
"""

import math
import sys
import time

import joblib

__all__ = ["ProgressReporter", "map_reduce", "row_tasks", "n_workers"]


def n_workers(n_jobs):
    """Workers that ``joblib.Parallel(n_jobs)`` will use in the current context.

    Parameters
    ----------
    n_jobs : int or None
        joblib's convention: None means 1 unless a ``parallel_config`` /
        ``parallel_backend`` context says otherwise; -1 every core.

    Returns
    -------
    int
    """
    try:
        return max(1, int(joblib.effective_n_jobs(n_jobs)))
    except Exception:  # an unusual backend that cannot tell
        return 1


def row_tasks(n_rows, rows_per_block, *, n_jobs=None, min_blocks=1,
              max_rows_per_task=None, tasks_per_worker=4):
    """Split ``range(n_rows)`` into contiguous task ranges of whole blocks.

    The number of tasks is about ``tasks_per_worker`` per worker (enough
    for load balance and progress reports), but a task never holds fewer
    than ``min_blocks`` blocks (so that it carries ~1 s of work or more)
    nor more than ``max_rows_per_task`` rows.

    Parameters
    ----------
    n_rows : int
    rows_per_block : int
        Rows the task processes at a time (its memory unit).
    n_jobs : int or None
        As in :func:`n_workers`.
    min_blocks : int, default=1
    max_rows_per_task : int, default=None
    tasks_per_worker : int, default=4

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` row ranges covering ``range(n_rows)`` in order.

    Examples
    --------
    >>> from sklearn_ntk._parallel import row_tasks
    >>> row_tasks(10, 3, tasks_per_worker=2)
    [(0, 6), (6, 10)]
    """
    n_blocks = max(1, math.ceil(n_rows / rows_per_block))
    wanted = max(1, n_workers(n_jobs) * tasks_per_worker)
    blocks_per_task = max(min_blocks, math.ceil(n_blocks / wanted))
    if max_rows_per_task is not None:
        blocks_per_task = min(blocks_per_task,
                              max(1, max_rows_per_task // rows_per_block))
    task_rows = blocks_per_task * rows_per_block
    return [(start, min(start + task_rows, n_rows))
            for start in range(0, n_rows, task_rows)]


def _format_seconds(seconds):
    if seconds < 100:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressReporter:
    """Prints ``done/total units, elapsed, time left`` lines while work runs.

    Parameters
    ----------
    description : str
        What runs, e.g. ``"NTKRegressor: Nystrom Gram pass"``.
    total : int
        Units of work (blocks, tiles, rows).
    verbose : int
        0 prints nothing; 1 at most one line every ``interval`` seconds
        and the last one; 2 or more a line per update.
    unit : str, default="blocks"
    interval : float, default=5.0
    stream : file-like, default=None
        ``sys.stdout`` (where scikit-learn's ``verbose`` output goes).

    Examples
    --------
    >>> import io
    >>> from sklearn_ntk._parallel import ProgressReporter
    >>> out = io.StringIO()
    >>> progress = ProgressReporter("pass", 4, verbose=2, stream=out)
    >>> progress.update(2)
    >>> out.getvalue().startswith("[sklearn_ntk] pass: 2/4 blocks (50%)")
    True
    """

    def __init__(self, description, total, verbose, *, unit="blocks",
                 interval=5.0, stream=None):
        self.description = description
        self.total = max(int(total), 1)
        self.verbose = int(verbose or 0)
        self.unit = unit
        self.interval = interval
        self.stream = stream
        self.done = 0
        self.started = time.perf_counter()
        self._last_print = -math.inf

    def update(self, units=1):
        """Record ``units`` more units done; print if it is time to."""
        self.done = min(self.done + units, self.total)
        if self.verbose <= 0:
            return
        now = time.perf_counter()
        last = self.done >= self.total
        if not (last or self.verbose >= 2 or now - self._last_print >= self.interval):
            return
        self._last_print = now
        elapsed = now - self.started
        left = elapsed * (self.total - self.done) / max(self.done, 1)
        line = (f"[sklearn_ntk] {self.description}: {self.done}/{self.total} "
                f"{self.unit} ({100 * self.done // self.total}%), "
                f"{_format_seconds(elapsed)} elapsed, "
                + ("done" if last else f"~{_format_seconds(left)} left"))
        print(line, file=self.stream or sys.stdout, flush=True)

    def __call__(self, done, total=None):
        """Callback form ``progress(done, total)`` (absolute counts)."""
        if total is not None:
            self.total = max(int(total), 1)
        self.update(done - self.done)


def map_reduce(function, tasks, *, n_jobs=None, reduce=None, verbose=0,
               description="parallel pass", units=None, unit="blocks"):
    """``reduce`` of ``function(*task)`` over ``tasks``, run by joblib.

    Parameters
    ----------
    function : callable
        A module-level function (picklable, for process and cluster
        backends) returning a small result.
    tasks : sequence of tuple
        Positional arguments of each call; each task should carry about a
        second of work or more (see :func:`row_tasks`).
    n_jobs : int or None, default=None
        ``joblib.Parallel``'s ``n_jobs``. The backend is the caller's
        context (threads by default, dask inside
        ``joblib.parallel_backend("dask")``).
    reduce : callable, default=None
        ``reduce(accumulated, result) -> accumulated``, applied in task
        order as results arrive, so that at most a few results are held at
        once. None returns the list of results.
    verbose : int, default=0
        Progress lines (see :class:`ProgressReporter`).
    description : str
    units : sequence of int, default=None
        Work units per task for the progress line (e.g. its blocks); one
        per task if None.
    unit : str, default="blocks"

    Returns
    -------
    object
        The reduced result, or the list of results if ``reduce`` is None.

    Examples
    --------
    >>> import operator
    >>> from sklearn_ntk._parallel import map_reduce
    >>> map_reduce(operator.mul, [(1, 2), (3, 4)], reduce=operator.add)
    14
    """
    tasks = list(tasks)
    units = [1] * len(tasks) if units is None else list(units)
    progress = ProgressReporter(description, sum(units), verbose, unit=unit)
    parallel = joblib.Parallel(n_jobs=n_jobs, prefer="threads",
                               return_as="generator")
    results = parallel(joblib.delayed(function)(*task) for task in tasks)
    accumulated, collected = None, []
    for index, result in enumerate(results):
        if reduce is None:
            collected.append(result)
        elif index == 0:
            accumulated = result
        else:
            accumulated = reduce(accumulated, result)
        progress.update(units[index])
    return collected if reduce is None else accumulated

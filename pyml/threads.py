"""The CPU threads pyml's own NumPy work runs on: the compiled step's elementwise chains, convolution and
pooling, and (with ``threadpoolctl`` installed) its matrix products.

NumPy releases the GIL inside its loops and BLAS calls, so splitting a large array operation into row ranges
and running them on several Python threads uses several cores. The number of threads is
``set_num_threads``, else the environment variable ``PYML_NUM_THREADS``, else the CPUs this process may run on.

Matrix products: inside ``blas_single_threaded()`` (the compiled training step's runs, convolutions) the BLAS
library is set to one thread and pyml splits products by rows among its own threads (``gemm_threads()``).
A multithreaded BLAS spins while it waits for its threads: on a machine whose cores are busy with other work
it measured 2-7x slower than one thread, and a convolution layer 5x slower than the same work split by
pyml, whose threads sleep while they wait. Without ``threadpoolctl``, products run on the BLAS's own threads.

    >>> pyml.threads.set_num_threads(2)
    >>> out = np.empty(10)
    >>> pyml.threads.parallel_rows(lambda lo, hi: np.copyto(out[lo:hi], np.arange(lo, hi)), 10)
    >>> out[-1]
    9.0
"""
import concurrent.futures
import itertools
import os
import threading

import numpy as np

from pyml import backend

MIN_ELEMENTS = 1 << 16  # below this, one thread: waking another costs more than the work it would take
_STATE = {"count": None, "pool": None}
_LOCAL = threading.local()  # .inside: this thread runs a task of run_all
_BLAS = {"depth": 0, "saved": [], "controllers": None}


def num_threads():
    """How many threads pyml's NumPy work uses (see the module docstring)."""
    if not backend.is_host():  # a GPU computes on its own: splitting its launches across threads gains nothing
        return 1
    if _STATE["count"] is None:
        env = os.environ.get("PYML_NUM_THREADS")
        _STATE["count"] = max(1, int(env)) if env else max(1, len(os.sched_getaffinity(0)))
    return _STATE["count"]


def set_num_threads(count):
    """Use ``count`` threads (1: none besides the caller's). Executors made before keep their threads."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads expects a positive int. Received: count={count!r}")
    _STATE["count"] = count


def pool(threads):
    """A shared pool with at least ``threads - 1`` workers (the caller's thread is the other one)."""
    current = _STATE["pool"]
    if current is None or current._max_workers < threads - 1:
        current = _STATE["pool"] = concurrent.futures.ThreadPoolExecutor(max(1, threads - 1), "pyml")
    return current


def run_all(tasks, threads=None):
    """Run ``tasks``, functions of a thread slot (0 for this thread, 1.. for the pool's), on this thread and
    up to ``threads - 1`` (default ``num_threads() - 1``) pool threads. Each thread takes the next task when
    it is free, so a pool thread that the OS is slow to run only takes less work (on a busy machine it
    may take none: this thread does it all). The slot tells a task whose scratch buffers to use. Inside a
    task, tasks run one after the other on its thread (a task waiting on its own pool would wait forever)."""
    count = min(threads or num_threads(), len(tasks))
    if count <= 1 or getattr(_LOCAL, "inside", False):
        for task in tasks:
            task(0)
        return
    take = itertools.count().__next__  # atomic under the GIL

    def drain(slot):
        index = take()
        while index < len(tasks):
            tasks[index](slot)
            index = take()

    futures = [pool(count).submit(_inside, drain, slot) for slot in range(1, count)]
    errors = []
    try:
        _inside(drain, 0)
    except Exception as exc:  # noqa: BLE001  (re-raised below, once every task has stopped)
        errors.append(exc)
    for future in futures:
        if not future.cancel() and future.exception() is not None:  # a pool thread that never started: skipped
            errors.append(future.exception())
    if errors:
        raise errors[0]


def parallel_rows(fn, rows, elements_per_row=MIN_ELEMENTS):
    """``fn(lo, hi)`` over ``[0, rows)`` in contiguous ranges shared among ``num_threads()`` threads (``run_all``),
    when there is enough work (``rows * elements_per_row`` elements); else in one call."""
    pieces = min(rows, 2 * num_threads(), max(1, rows * elements_per_row // MIN_ELEMENTS))
    if pieces <= 1 or num_threads() == 1:
        fn(0, rows)
        return
    bounds = [rows * i // pieces for i in range(pieces + 1)]
    run_all([lambda slot, lo=lo, hi=hi: fn(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo])


class blas_single_threaded:
    """Context manager: the BLAS library on one thread inside (restored after; nested uses are free).

    >>> with pyml.threads.blas_single_threaded():
    ...     pass
    """

    def __enter__(self):
        if _BLAS["depth"] == 0 and num_threads() > 1:
            _BLAS["saved"] = [(c, c.num_threads) for c in _blas_controllers()]
            for controller, _ in _BLAS["saved"]:
                controller.set_num_threads(1)
        _BLAS["depth"] += 1
        return self

    def __exit__(self, *exc):
        _BLAS["depth"] -= 1
        if _BLAS["depth"] == 0:
            for controller, count in _BLAS["saved"]:
                controller.set_num_threads(count)
            _BLAS["saved"] = []


def gemm_threads():
    """How many of pyml's threads may run matrix products side by side now: ``num_threads()`` inside
    ``blas_single_threaded()`` (when the BLAS could be set to one thread), else 1."""
    return num_threads() if _BLAS["depth"] and _BLAS["saved"] else 1


def _blas_controllers():
    """threadpoolctl's controllers of the loaded BLAS libraries (found once), or [] without threadpoolctl."""
    if _BLAS["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS["controllers"] = []
        else:
            _BLAS["controllers"] = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return _BLAS["controllers"]


def _inside(drain, slot):
    _LOCAL.inside = True
    try:
        with np.errstate(all="ignore"):  # NumPy's error state is per thread; pyml's kernels are quiet about inf/NaN
            drain(slot)
    finally:
        _LOCAL.inside = False

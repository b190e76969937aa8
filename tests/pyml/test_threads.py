"""pyml.threads: row ranges run on the pool, nested parallel calls run serially instead of waiting forever."""
import numpy as np
import pytest

import pyml.threads as threads


@pytest.fixture
def two_threads():
    previous = threads.num_threads()
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(previous)


def test_parallel_rows_covers_every_row_once(two_threads):
    out = np.zeros(1 << 18)
    threads.parallel_rows(lambda lo, hi: np.add(out[lo:hi], 1, out=out[lo:hi]), len(out), 1)
    assert out.min() == out.max() == 1


def test_nested_parallel_rows_do_not_deadlock(two_threads):
    out = np.zeros(1 << 20)

    def outer(lo, hi):
        threads.parallel_rows(lambda a, b: out[lo + a:lo + b].fill(1), hi - lo, 1 << 16)

    threads.parallel_rows(outer, len(out), 1)
    assert out.sum() == len(out)


def test_errors_in_a_worker_reach_the_caller(two_threads):
    def fail(lo, hi):
        if lo > 0:
            raise RuntimeError(f"rows {lo}:{hi}")

    with pytest.raises(RuntimeError, match="rows"):
        threads.parallel_rows(fail, 1 << 18, 1)


def test_set_num_threads_checks_its_argument():
    with pytest.raises(ValueError, match="positive int. Received: count=0"):
        threads.set_num_threads(0)

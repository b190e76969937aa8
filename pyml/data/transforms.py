"""The transformations of ``pyml.data.Dataset`` (a mixin): each returns a new dataset whose passes run the
input's passes through one step. Cardinalities follow tf.data: known sizes propagate, ``filter`` makes them
unknown, ``repeat()`` infinite.

    >>> ds = pyml.data.Dataset.range(4)
    >>> [int(v) for v in ds.repeat(2).skip(3).take(4)]
    [3, 0, 1, 2]
    >>> [int(v) for v in ds.shuffle(1)]  # a buffer of one cannot reorder anything
    [0, 1, 2, 3]
"""
import collections
import concurrent.futures
import itertools
import math
import os
import queue
import threading

import numpy as np

from pyml import random
from pyml.data import structure

INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
AUTOTUNE = -1
_END, _ERROR = object(), object()


def _call(fn, element):
    """tf.data's convention: a tuple element is passed as positional arguments, anything else as one."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _check_count(value, what, allow_minus_one=True):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (-1 if allow_minus_one else 1):
        expected = "an int >= -1 (-1: all)" if allow_minus_one else "a positive int"
        raise ValueError(f"{what} must be {expected}. Received: {what}={value!r}")
    return int(value)


class Transformations:
    """Dataset methods that transform one dataset into another (``Dataset`` inherits them)."""

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """``map_func`` applied to each element (a tuple element is unpacked into its arguments).

        Args:
            map_func: element -> new element.
            num_parallel_calls: run that many calls at once on threads (``AUTOTUNE``: one per CPU); output
                order is kept. Worth it when ``map_func`` releases the GIL (NumPy, Pillow decoding).
            deterministic: accepted for tf.data compatibility; the order is always the input order.

            >>> ds = pyml.data.Dataset.range(4).map(lambda v: v * v, num_parallel_calls=pyml.data.AUTOTUNE)
            >>> [int(v) for v in ds]
            [0, 1, 4, 9]
        """
        if not callable(map_func):
            raise TypeError(f"map expects a callable. Received: map_func={map_func!r}")
        workers = None
        if num_parallel_calls is not None:
            workers = (os.cpu_count() or 1) if num_parallel_calls == AUTOTUNE else _check_count(
                num_parallel_calls, "num_parallel_calls", allow_minus_one=False)

        def iterate():
            if not workers or workers == 1:
                return (_call(map_func, element) for element in self)
            return _parallel_map(map_func, iter(self), workers)
        return self._derive(iterate, self.cardinality())

    def filter(self, predicate):
        """The elements for which ``predicate`` (called like ``map``'s function) returns True.

            >>> [int(v) for v in pyml.data.Dataset.range(6).filter(lambda v: v % 3 == 0)]
            [0, 3]
        """
        def keep(element):
            result = np.asarray(_call(predicate, element))
            if result.shape != () or result.dtype != bool:
                raise ValueError("filter's predicate must return a scalar bool. Received: "
                                 f"{result.dtype} of shape {result.shape}")
            return bool(result)
        return self._derive(lambda: (e for e in self if keep(e)), UNKNOWN_CARDINALITY)

    def batch(self, batch_size, drop_remainder=False):
        """Consecutive elements stacked into batches of ``batch_size`` (the last one smaller unless
        ``drop_remainder``).

            >>> [b.tolist() for b in pyml.data.Dataset.range(5).batch(2)]
            [[0, 1], [2, 3], [4]]
        """
        batch_size = _check_count(batch_size, "batch_size", allow_minus_one=False)
        size = self.cardinality()
        if size >= 0:
            size = size // batch_size if drop_remainder else math.ceil(size / batch_size)
        rows = getattr(self, "_rows", None)

        def iterate():
            if rows is not None:
                tensors, indices = rows
                source = indices()
                while block := list(itertools.islice(source, batch_size)):
                    if drop_remainder and len(block) < batch_size:
                        return
                    yield structure.map_structure(lambda a: a[block], tensors)
                return
            buffer = []
            for element in self:
                buffer.append(element)
                if len(buffer) == batch_size:
                    yield structure.stack(buffer)
                    buffer = []
            if buffer and not drop_remainder:
                yield structure.stack(buffer)
        return self._derive(iterate, size)

    def unbatch(self):
        """Each element split along its first axis into rows (the inverse of ``batch``).

            >>> [int(v) for v in pyml.data.Dataset.range(5).batch(2).unbatch()]
            [0, 1, 2, 3, 4]
        """
        def iterate():
            for element in self:
                for i in range(structure.num_rows(element, "unbatch")):
                    yield structure.map_structure(lambda a: a[i], element)
        return self._derive(iterate, UNKNOWN_CARDINALITY)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Elements in random order, drawn from a buffer of ``buffer_size`` (tf.data's algorithm).

        The buffer holds the next ``buffer_size`` elements; each output is a uniform pick from it, and its
        slot is refilled with the next input element. So element ``i`` comes out no earlier than position
        ``i - buffer_size + 1``: a buffer at least as large as the dataset gives a uniform shuffle.

        Args:
            buffer_size: how many elements to choose among.
            seed: int for a reproducible sequence of orders; ``None`` draws from pyml's generator
                (``pyml.set_random_seed`` makes it reproducible).
            reshuffle_each_iteration: a new order for every pass (epoch), else the same order each time.

            >>> ds = pyml.data.Dataset.range(5).shuffle(5, seed=3)
            >>> first, second = [int(v) for v in ds], [int(v) for v in ds]
            >>> sorted(first), first != second
            ([0, 1, 2, 3, 4], True)
        """
        buffer_size = _check_count(buffer_size, "buffer_size", allow_minus_one=False)
        passes = itertools.count()
        # without a seed, one is drawn now from pyml's generator: pyml.set_random_seed makes it reproducible
        base_seed = int(seed) if seed is not None else int(random.generator().integers(2**63))

        def one_pass(source):
            rng = np.random.default_rng([base_seed, next(passes) if reshuffle_each_iteration else 0])
            return _shuffled(source(), buffer_size, rng)
        return self._reorder(one_pass, self.cardinality())

    def repeat(self, count=None):
        """The dataset ``count`` times over (``None`` or -1: forever); each repetition is a new pass, so a
        ``shuffle`` before ``repeat`` reshuffles every time.

            >>> [int(v) for v in pyml.data.Dataset.range(2).repeat(3)]
            [0, 1, 0, 1, 0, 1]
        """
        count = -1 if count is None else _check_count(count, "count")
        size = self.cardinality()
        if size == 0 or count == 0:
            size = 0
        elif count == -1 or size == INFINITE_CARDINALITY:
            size = INFINITE_CARDINALITY if size != UNKNOWN_CARDINALITY else UNKNOWN_CARDINALITY
        elif size > 0:
            size *= count

        def one_pass(source):
            for _ in itertools.count() if count == -1 else range(count):
                produced = False
                for element in source():
                    produced = True
                    yield element
                if not produced:  # an empty dataset repeated forever is still empty, not a hang
                    return
        return self._reorder(one_pass, size)

    def take(self, count):
        """The first ``count`` elements (-1: all).

            >>> pyml.data.Dataset.range(10).take(3).cardinality()
            3
        """
        count = _check_count(count, "count")
        size = self.cardinality()
        if count >= 0 and size != UNKNOWN_CARDINALITY:
            size = count if size == INFINITE_CARDINALITY else min(size, count)
        return self._reorder(lambda source: itertools.islice(source(), None if count == -1 else count), size)

    def skip(self, count):
        """All but the first ``count`` elements (-1: skip all).

            >>> [int(v) for v in pyml.data.Dataset.range(5).skip(3)]
            [3, 4]
        """
        count = _check_count(count, "count")
        size = self.cardinality()
        if count == -1:
            size = 0
        elif size >= 0:
            size = max(size - count, 0)
        return self._reorder(lambda source: itertools.islice(source(), count if count >= 0 else 0,
                                                             0 if count == -1 else None), size)

    def cache(self, filename=""):
        """Keep the elements in memory after the first complete pass; later passes replay them (so the work
        before ``cache``, e.g. decoding images, runs once, and a ``shuffle`` before it is frozen). A pass
        stopped early caches nothing.

            >>> calls = []
            >>> ds = pyml.data.Dataset.range(3).map(lambda v: calls.append(int(v)) or v).cache()
            >>> _ = list(ds), list(ds)
            >>> calls
            [0, 1, 2]
        """
        if filename:
            raise NotImplementedError("cache(filename=...) to a file is not supported; use cache() (in memory). "
                                      f"Received: filename={filename!r}")
        stored = []

        def one_pass(source):
            if stored:
                yield from stored[0]
                return
            elements = []
            for element in source():
                elements.append(element)
                yield element
            stored[:] = [elements]
        return self._reorder(one_pass, self.cardinality())

    def _reorder(self, one_pass, cardinality):
        """A transformation that picks and orders elements without changing them: ``one_pass(source)`` makes
        one pass from ``source()``, a fresh pass of this dataset. On rows of in-memory arrays it runs on the
        row numbers instead (``Dataset._from_rows``), so a later ``batch`` gathers whole batches at once."""
        rows = getattr(self, "_rows", None)
        if rows is not None:
            tensors, indices = rows
            return self._from_rows(tensors, lambda: one_pass(indices), cardinality)
        return self._derive(lambda: one_pass(lambda: iter(self)), cardinality)

    def prefetch(self, buffer_size=AUTOTUNE):
        """Produce up to ``buffer_size`` elements ahead in a background thread, so the pipeline's work (and
        everything before it) overlaps the consumer's (training on the previous batch). ``AUTOTUNE``: 2.

            >>> [int(v) for v in pyml.data.Dataset.range(4).prefetch(1)]
            [0, 1, 2, 3]
        """
        buffer_size = 2 if buffer_size == AUTOTUNE else _check_count(buffer_size, "buffer_size", False)
        return self._derive(lambda: _prefetch(iter(self), buffer_size), self.cardinality())


def _shuffled(source, buffer_size, rng):
    """tf.data's shuffle buffer over the iterator ``source``: yield a uniform pick, refill its slot."""
    buffer, uniforms = list(itertools.islice(source, buffer_size)), iter(())
    while buffer:
        u = next(uniforms, None)
        if u is None:  # draw uniforms 1024 at a time: one NumPy call per element would cost more than the rest
            uniforms = iter(rng.random(1024).tolist())
            u = next(uniforms)
        pick = min(int(u * len(buffer)), len(buffer) - 1)
        yield buffer[pick]
        replacement = next(source, _END)
        if replacement is _END:
            buffer[pick] = buffer[-1]
            buffer.pop()
        else:
            buffer[pick] = replacement


def _parallel_map(fn, source, workers):
    """Ordered results of ``fn`` over ``source`` with up to ``2 * workers`` calls in flight on threads."""
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="pyml-data-map")
    pending = collections.deque()
    try:
        for element in source:
            pending.append(pool.submit(_call, fn, element))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _prefetch(source, buffer_size):
    """Elements of ``source`` produced by a daemon thread into a bounded queue.

    Stopping early (the consumer closes this generator) sets ``stop`` and takes one item off the queue, so
    a producer blocked on a full queue can finish its put, see ``stop`` and close its source. An exception in
    the producer is raised in the consumer, at the element where it happened.
    """
    items, stop = queue.Queue(maxsize=buffer_size), threading.Event()

    def produce():
        try:
            for element in source:
                items.put((None, element))
                if stop.is_set():
                    return
            items.put((_END, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            items.put((_ERROR, error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name="pyml-data-prefetch", daemon=True).start()
    try:
        while True:
            kind, value = items.get()
            if kind is _END:
                return
            if kind is _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        try:
            items.get_nowait()
        except queue.Empty:
            pass


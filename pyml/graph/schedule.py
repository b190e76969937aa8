"""Steps of the executor's plan that run side by side, each whole on one of ``pyml.threads``' threads.

A large matrix product is split among the threads (``pyml.graph.kernels``): each piece packs the shared
operand again, and the threads wait for each other at the end of every product. Where two pieces of work
are independent, running each whole on its own thread avoids both:

- **pairs of products**: two consecutive large ``matmul`` steps that share no memory one of them writes (a
  layer's input gradient and its weight gradient) run at once, one per thread;
- **an update beside the last product**: the chunks of a fused elementwise run (the optimizer's update of
  the flat parameters) that touch no memory the product just before it touches (the gradients made
  earlier) run on the other threads while that product runs; the rest of its chunks run after it.

Nothing changes in what is computed, only which thread computes it and when. Both need the BLAS on one
thread (``pyml.threads.gemm_threads() > 1``); otherwise each step runs as before.

    >>> graph = pyml.graph.trace(lambda a, b, c: [pyml.ops.matmul(a, b), pyml.ops.matmul(a, c)],
    ...                          [((256, 256), "float32")] * 3)
    >>> previous = pyml.threads.num_threads()
    >>> pyml.threads.set_num_threads(2)
    >>> pyml.graph.executor.Executor(graph).steps()
    ['v3 = matmul | v4 = matmul']
    >>> pyml.threads.set_num_threads(previous)
"""
import functools
from typing import NamedTuple

import numpy as np

from pyml import threads
from pyml.graph import chunks

MIN_PRODUCT = 1 << 21  # multiply-adds of a product worth a thread of its own (kernels._matmul splits these)


class FusedRun(NamedTuple):
    """The record of a chunked elementwise step: its ``[(node, arrays, out)]`` and its internal values."""

    records: list
    internal: set


def side_by_side(steps, labels, records):
    """``(steps, labels)`` with the pairs described in the module docstring joined into one step each.
    ``records[i]`` is ``(node, arrays, out)``, a ``FusedRun`` or None (unknown: never moved)."""
    if threads.num_threads() == 1:
        return steps, labels
    out_steps, out_labels = [], []
    index = 0
    while index < len(steps):
        first = records[index]
        second = records[index + 1] if index + 1 < len(steps) else None
        joined = None
        if _large_product(first) and _large_product(second) and not _conflict(_footprint(first), _footprint(second)):
            joined = _pair(first, second, steps[index], steps[index + 1])
        elif _large_product(first) and isinstance(second, FusedRun):
            joined = _beside(first, second, steps[index], steps[index + 1])
        if joined is None:
            out_steps.append(steps[index])
            out_labels.append(labels[index])
            index += 1
            continue
        out_steps.append(joined)
        out_labels.append(f"{labels[index]} | {labels[index + 1]}")
        index += 2
    return out_steps, out_labels


def _large_product(record):
    if record is None or isinstance(record, FusedRun) or record[0].target != "matmul":
        return False
    _, (a, _), out = record
    return a.ndim == 2 and out.ndim == 2 and out.size * a.shape[1] >= MIN_PRODUCT


def _product(record):
    _, (a, b), out = record
    return lambda slot: np.matmul(a, b, out=out)


def _pair(first, second, *sequential):
    tasks = [_product(first), _product(second)]
    return functools.partial(_run, lambda: threads.run_all(tasks, 2), sequential)


def _beside(product, run, *sequential):
    """The product and the chunks of ``run`` that are independent of it at once, then the other chunks."""
    touched = _footprint(product)
    bounds = chunks.chunk_bounds(run.records)
    busy = [b for b in bounds if _conflict(touched, _chunk_footprint(run, *b))]
    free = [b for b in bounds if b not in busy]
    if not free:
        return None
    count = threads.num_threads()
    free_tasks, _ = chunks.group_tasks(run.records, run.internal, free, slots=count)
    tasks = [_product(product)] + free_tasks
    rest = chunks.group_tasks(run.records, run.internal, busy) if busy else ([], 1)

    def both():
        threads.run_all(tasks, count)
        threads.run_all(*rest)

    return functools.partial(_run, both, sequential)


def _run(together, sequential):
    if threads.gemm_threads() > 1:
        together()
    else:  # the BLAS runs its own threads (no threadpoolctl): one step after the other, as planned
        for step in sequential:
            step()


def _footprint(record):
    """``(arrays read, arrays written)`` by a step."""
    _, arrays, out = record
    return [a for a in arrays if isinstance(a, np.ndarray)], [out]


def _chunk_footprint(run, lo, hi):
    """What rows ``lo:hi`` of a fused run read and write (as ``pyml.graph.chunks`` slices its operands)."""
    rows, rank = run.records[0][0].shape[0], len(run.records[0][0].shape)
    made, reads, writes = set(), [], []
    for node, arrays, out in run.records:
        for name, array in zip(node.inputs, arrays):
            if name not in made and isinstance(array, np.ndarray):
                reads.append(array[lo:hi] if array.ndim == rank and array.shape[0] == rows else array)
        if node.name not in run.internal:
            writes.append(out[lo:hi])
        made.add(node.name)
    return reads, writes


def _conflict(a, b):
    """Whether two footprints could see each other's writes (or write the same memory)."""
    (a_reads, a_writes), (b_reads, b_writes) = a, b
    return (any(np.may_share_memory(w, x) for w in a_writes for x in b_reads + b_writes)
            or any(np.may_share_memory(w, x) for w in b_writes for x in a_reads))

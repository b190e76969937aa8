"""Elementwise chains run chunk by chunk, on several threads: the executor's fusion.

NumPy runs one op over a whole array at a time, so a chain such as Adam's update (a dozen ops over every
parameter) streams each intermediate through memory and uses one core. The executor hands a run of
consecutive elementwise ops over one shape to ``chunked_group``, which slices that shape along axis 0
into chunks of about ``CHUNK_ELEMENTS`` and runs the whole chain on one chunk before the next, so that
intermediates stay in cache; values that never leave the chain live in small per-thread scratch arrays
(never in a full-size buffer); chunks are shared among ``pyml.threads.num_threads()`` threads (NumPy releases
the GIL inside its loops). Every op reads and writes only its own chunk, so the order of chunks does not matter.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.exp(x) * 2.0 + 1.0, [((256, 512), "float32")])
    >>> pyml.graph.executor.Executor(graph).steps()
    ['3 fused: exp mul add [256, 512]']
"""
import functools

import numpy as np

from pyml import threads as threads_module
from pyml.graph import kernels

CHUNK_ELEMENTS = 1 << 16  # per op and chunk: 256 KiB of float32, so a chain's operands stay in L2
MIN_ELEMENTS = 1 << 15  # smaller chains run op by op: the chunking would cost more than it saves
THREAD_WORK = 1 << 20  # element-ops per thread below which handing chunks to another thread costs more


def chunked_group(records, internal, threads=None):
    """A zero-argument function that runs ``records`` chunk by chunk (see the module docstring).

    Args:
        records: ``[(node, input arrays, out array)]`` in order, every node elementwise with the same output
            shape ``S`` (``S[0] >= 2``); an input is either a value made earlier in the group (by name), an
            array of shape ``S``'s rank whose axis 0 is ``S[0]`` (sliced per chunk) or one that broadcasts
            along axis 0 (passed whole).
        internal: names of values made in the group and read only inside it (given scratch, not ``out``).
        threads: how many threads (default ``pyml.threads.num_threads()``).
    """
    tasks, count = group_tasks(records, internal, chunk_bounds(records), threads)
    if count == 1:
        return functools.partial(_run_tasks, tasks)
    return functools.partial(threads_module.run_all, tasks, count)


def chunk_bounds(records):
    """``[(lo, hi)]``: the group's rows in chunks of about ``CHUNK_ELEMENTS`` elements."""
    shape = tuple(records[0][0].shape)
    step = max(1, min(shape[0], CHUNK_ELEMENTS // max(int(np.prod(shape[1:], dtype=np.int64)), 1)))
    return [(lo, min(lo + step, shape[0])) for lo in range(0, shape[0], step)]


def group_tasks(records, internal, bounds, threads=None, slots=None):
    """``(tasks, threads worth using)`` that run the group on the chunks ``bounds``: tasks of ``run_all``
    (functions of a thread slot), one per block of chunks, a few blocks per thread (so that the work
    rebalances when one thread runs late); the calls of each block made for each of ``slots`` thread slots
    (default: the threads worth using), each slot with scratch of its own."""
    shape = tuple(records[0][0].shape)
    chunk_shape = (max(hi - lo for lo, hi in bounds),) + shape[1:]
    work = sum(hi - lo for lo, hi in bounds) * int(np.prod(shape[1:], dtype=np.int64)) * len(records)
    count = max(1, min(threads or threads_module.num_threads(), len(bounds), work // THREAD_WORK))
    if count == 1 and not slots:
        calls = _calls(records, internal, bounds, chunk_shape)
        return [lambda slot: _run(calls)], 1
    parts = 2 * max(count, slots or 0)
    blocks = [bounds[i * len(bounds) // parts:(i + 1) * len(bounds) // parts] for i in range(parts)]
    blocks = [block for block in blocks if block]
    per_slot = [[_calls(records, internal, block, chunk_shape, scratch) for block in blocks]
                for scratch in [{} for _ in range(max(count, slots or 0))]]
    return [lambda slot, i=i: _run(per_slot[slot][i]) for i in range(len(blocks))], count


def _run_tasks(tasks):
    for task in tasks:
        task(0)


def _calls(records, internal, bounds, chunk_shape, scratch=None):
    """The flat list of calls one thread makes: for each chunk in ``bounds``, every record's op on it.
    ``scratch`` (a dict) keeps one thread's scratch arrays across the blocks it may run."""
    slots = _scratch_slots(records, internal)
    dtypes = slots.pop("__dtypes__")
    if scratch is None:
        scratch = {}
    if "arrays" not in scratch:
        scratch["arrays"] = [np.empty(chunk_shape, dtype) for dtype in dtypes]
    scratch = scratch["arrays"]
    rows = records[0][0].shape[0]
    calls = []
    for lo, hi in bounds:
        local = {}
        for node, arrays, out in records:
            chunk_inputs = []
            for name, array in zip(node.inputs, arrays):
                if name in local:
                    chunk_inputs.append(local[name])
                elif array.ndim == len(chunk_shape) and array.shape[0] == rows:
                    chunk_inputs.append(array[lo:hi])
                else:
                    chunk_inputs.append(array)
            target = scratch[slots[node.name]][:hi - lo] if node.name in internal else out[lo:hi]
            local[node.name] = target
            calls.append(kernels.kernel(node.target, chunk_inputs, target, node.attrs))
    return calls


def _scratch_slots(records, internal):
    """``{value: scratch index}`` for the internal values, reusing a slot once its value is dead (the same
    node may reuse an input's slot where the op may overwrite that input). Slot dtypes under ``__dtypes__``."""
    last = {}
    for index, (node, _, _) in enumerate(records):
        for name in node.inputs:
            last[name] = index
    slots, dtypes, free = {}, [], {}
    for index, (node, _, _) in enumerate(records):
        aliasable = kernels.ALIASABLE.get(node.target, ())
        dying = {n: all(p in aliasable for p, m in enumerate(node.inputs) if m == n)
                 for n in node.inputs if n in slots and last[n] == index}
        for name in [n for n, overwritable in dying.items() if overwritable]:  # free before: out may reuse it
            free.setdefault(dtypes[slots[name]], []).append(slots[name])
        if node.name in internal:
            dtype = np.dtype(node.dtype)
            pool = free.get(dtype)
            if pool:
                slots[node.name] = pool.pop()
            else:
                slots[node.name] = len(dtypes)
                dtypes.append(dtype)
        for name in [n for n, overwritable in dying.items() if not overwritable]:
            free.setdefault(dtypes[slots[name]], []).append(slots[name])
    slots["__dtypes__"] = dtypes
    return slots


def _run(calls):
    for call in calls:
        call()

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
    shape = tuple(records[0][0].shape)
    rows = shape[0]
    row_size = int(np.prod(shape[1:], dtype=np.int64))
    step = max(1, min(rows, CHUNK_ELEMENTS // max(row_size, 1)))
    bounds = [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]
    work = rows * row_size * len(records)
    count = max(1, min(threads or threads_module.num_threads(), len(bounds), work // THREAD_WORK))
    if count == 1:
        return functools.partial(_run, chunk_calls(records, internal, bounds, (step,) + shape[1:]))
    # a few blocks of chunks per thread (so that the work rebalances when one thread runs late), the calls
    # of every block made once per thread slot (each slot has its own scratch)
    blocks = [bounds[i * len(bounds) // (2 * count):(i + 1) * len(bounds) // (2 * count)] for i in range(2 * count)]
    blocks = [block for block in blocks if block]
    per_slot = [[chunk_calls(records, internal, block, (step,) + shape[1:], scratch) for block in blocks]
                for scratch in [{} for _ in range(count)]]
    tasks = [lambda slot, i=i: _run(per_slot[slot][i]) for i in range(len(blocks))]
    return functools.partial(threads_module.run_all, tasks, count)


def chunk_calls(records, internal, bounds, chunk_shape, scratch=None):
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

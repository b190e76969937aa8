"""Work the executor hands to a convolution's kernel, done while the kernel's chunk of samples is in cache.

A convolution kernel (``pyml.ops.conv``) computes its output a few samples at a time, so each chunk of it
sits in cache right after it is made. Two kinds of work are moved there:

- **epilogues**: the elementwise ops that read a ``conv``'s or ``conv_transpose``'s output (bias add and
  relu after a forward convolution, the relu mask of the gradient after an input gradient) run on rows
  ``lo:hi`` as soon as the kernel has finished them (``epilogue(lo, hi)``), instead of streaming the whole
  output through memory again once per op. The ops need not follow the convolution directly: steps in
  between that share no memory with them are passed over (the ops run earlier, exactly as they would later).
- **bias gradients**: ``sum(g, axes=all but the last)`` of the ``g`` that a ``conv_filter_grad`` multiplies
  is summed chunk by chunk inside that kernel (``bias_out=``) rather than in a pass of its own.

Both give the same values: an elementwise op computes each element alike whatever the chunking, and a
sum only adds in another order (float rounding, as any split sum).

    >>> graph = pyml.graph.trace(lambda x, w, b: pyml.ops.relu(pyml.ops.conv(x, w) + b),
    ...                          [((2, 5, 5, 1), "float32"), ((3, 3, 1, 4), "float32"), ((4,), "float32")])
    >>> pyml.graph.executor.Executor(graph).steps()
    ['v3 = conv + 2 ops: add maximum']
"""
import threading

import numpy as np

from pyml.graph import chunks, kernels

HOSTS = ("conv", "conv_transpose")  # kernels that take an epilogue(lo, hi) (pyml.ops.conv)
LOOKAHEAD = 8  # steps searched past a convolution for the ops that read its output


class Epilogue:
    """``records`` (elementwise, of the host's output shape) run on rows ``lo:hi`` when called: the calls are made
    once per thread and chunk, internal values in per-thread scratch of the output's shape (only the pages of
    one chunk are ever touched)."""

    def __init__(self, records, internal):
        self.records, self.internal = records, internal
        self._calls, self._scratch = {}, {}

    def __call__(self, lo, hi):
        key = (threading.get_ident(), lo, hi)
        calls = self._calls.get(key)
        if calls is None:
            scratch = self._scratch.setdefault(key[0], {})
            calls = self._calls[key] = chunks.chunk_calls(self.records, self.internal, [(lo, hi)],
                                                           tuple(self.records[0][0].shape), scratch)
        for call in calls:
            call()


def find(steps, records, index, is_internal, extra_writes):
    """The epilogue for the host step ``index`` (a ``conv`` or ``conv_transpose`` record), or None: the run of
    elementwise steps of the host's output shape around the first step reading the host's output, if it shares
    no memory with the steps it is moved past nor with the host's inputs. Returns ``(Epilogue,
    indices of the steps it replaces)``. ``extra_writes``: ``{node name: [arrays]}`` a step writes besides its
    output (a ``conv_filter_grad``'s ``bias_out``)."""
    host, host_inputs, host_out = records[index]
    shape = tuple(host.shape)
    start = None
    for position in range(index + 1, min(index + 1 + LOOKAHEAD, len(steps))):
        record = records[position]
        if record is None:
            return None
        if host.name in record[0].inputs:
            start = position
            break
    if start is None:
        return None

    def fits(position):
        record = records[position]
        return record is not None and record[0].target in kernels.ELEMENTWISE and tuple(record[0].shape) == shape

    while start - 1 > index and fits(start - 1):  # the ops just before it that make its other operands
        start -= 1
    run = []
    for position in range(start, len(steps)):
        if not fits(position):
            break
        run.append(position)
    group = [records[p] for p in run]
    if not group or not _row_aligned(group, host, host_out):
        return None
    between = [records[p] for p in range(index + 1, start)]
    if None in between:
        return None
    if any(_conflict(group, other, extra_writes) for other in between):
        return None
    if any(np.may_share_memory(out, array) for _, _, out in group for array in host_inputs):
        return None  # the host still reads this memory while the epilogue of its first chunks runs
    made = {node.name for node, _, _ in group}
    return Epilogue(group, {name for name in made if is_internal(name, made)}), run


def _row_aligned(group, host, host_out):
    """Whether rows ``lo:hi`` of every value of the group depend only on rows ``lo:hi`` of the host's output and
    on values computed before it: the host's output is read by name (row-sliced), never through a view."""
    made = {host.name}
    for node, arrays, out in group:
        for name, array in zip(node.inputs, arrays):
            if name not in made and isinstance(array, np.ndarray) and np.may_share_memory(array, host_out):
                return False
            if name not in made and any(np.may_share_memory(array, o) for n, _, o in group if n.name in made):
                return False  # reads a value of the group through a view
        made.add(node.name)
    return True


def _conflict(group, other, extra_writes):
    """Whether running ``group`` before the step ``other`` (a record) could change what either reads or writes."""
    reads = [a for _, arrays, _ in group for a in arrays if isinstance(a, np.ndarray)]
    writes = [out for _, _, out in group]
    node, other_reads, other_out = other
    other_writes = [other_out] + extra_writes.get(node.name, [])
    if any(np.may_share_memory(w, a) for w in other_writes for a in reads + writes):
        return True
    return any(np.may_share_memory(w, a) for w in writes for a in other_reads if isinstance(a, np.ndarray))


def bias_sums(graph, writes):
    """``{sum node: conv_filter_grad node}`` for bias gradients a kernel gradient can compute (see the module
    docstring): ``sum(g)`` over every axis but the last, of the ``g`` an ungrouped ``conv_filter_grad``
    multiplies, read by nothing before that kernel gradient, and not a state's new value (``writes``: a state
    written in place early could be read before the kernel gradient runs)."""
    index = {node.name: i for i, node in enumerate(graph.nodes)}
    consumers = {}
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            consumers.setdefault(name, []).append(i)
    sums = {}
    for node in graph.nodes:
        if node.op == "call" and node.target == "sum" and not node.attrs.get("keepdims"):
            sums.setdefault(node.inputs[0], []).append(node)
    found = {}
    for node in graph.nodes:
        if node.op != "call" or node.target != "conv_filter_grad" or node.attrs.get("groups") != 1:
            continue
        g = graph.node(node.inputs[1])
        for candidate in sums.get(g.name, []):
            if (tuple(candidate.attrs.get("axes", ())) == tuple(range(len(g.shape) - 1)) and candidate.dtype == g.dtype
                    and candidate.name not in found and candidate.name not in writes
                    and all(i > index[node.name] for i in consumers.get(candidate.name, []))
                    and node.name not in found.values()):
                found[candidate.name] = node.name
    return found

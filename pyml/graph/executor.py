"""The executor: runs a ``Graph`` over NumPy buffers planned once, so a run allocates (almost) nothing.

``fit``'s compiled step runs a traced training step here thousands of times; the reference interpreter
(``pyml.graph.interpreter``) stays the oracle that it is tested against. Planning, once per graph:

- **storage**: every value gets an array. Views cost nothing (``reshape`` of a contiguous array,
  ``transpose``, ``slice``, ``broadcast_to`` share their input's buffer); other values take a buffer from a
  pool of freed ones (same dtype and size) or a new one, and give it back after their last reader;
- **in place**: an elementwise op writes over an input that dies there (``relu`` over its input,
  ``m + (g - m) * 0.1`` over ``m``);
- **state**: ``state={input: (array, output)}`` binds an input to an array the caller owns and writes the
  output back into it after every run, in place when the array is free by then (an optimizer's new
  parameters go straight into the parameter buffer, with no copy);
- **concatenation in place**: the values a ``concatenate`` joins along axis 0 are computed straight into
  their slice of its output (every gradient lands in one flat gradient buffer);
- **kernels**: one NumPy call with ``out=`` per node (``pyml.graph.kernels``);
- **on a GPU** (``pyml.set_device("gpu")``): the same plan over CuPy buffers, each kernel one CuPy call with
  ``out=``; no chunked fusion and no threads there (they are CPU cache and core tricks), inputs copied to the
  device once per run;
- **side by side**: independent large products, and an optimizer update beside the last product, run at
  once on ``pyml.threads``' threads, each whole on one (``pyml.graph.schedule``).

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.relu(x * 2.0 + 1.0), [((2, 3), "float32")])
    >>> executor = Executor(graph)
    >>> executor.run(np.ones((2, 3), "float32"))[0]
    array([[3., 3., 3.],
           [3., 3., 3.]], dtype=float32)

The arrays ``run`` returns are the executor's own: read them before the next run.
"""
import json
import statistics
import time

import numpy as np

from pyml import backend, threads
from pyml.graph import chunks, kernels, schedule
from pyml.graph.interpreter import last_uses
from pyml.graph.ir import _jsonable
from pyml.graph.validate import GraphError


class _Buffer:
    """One allocation: a flat array, the values living in it, and whether it goes back to the pool."""

    __slots__ = ("array", "users", "pooled", "writable")

    def __init__(self, array, pooled, writable):
        self.array, self.users, self.pooled, self.writable = array, set(), pooled, writable


class Executor:
    """Runs ``graph`` with preallocated NumPy buffers (see the module docstring).

    Args:
        graph: a ``Graph`` with static shapes (no ``None`` dims).
        state: ``{input name: (array, output name or None)}``: inputs bound to arrays the caller owns, read in
            place at every run; with an output name, that output is written back into the array after each run.

    ``run(*inputs)`` takes the other inputs, in ``graph.inputs`` order, and returns the outputs that are not
    state, in ``graph.outputs`` order.
    """

    def __init__(self, graph, state=None):
        for node in graph.nodes:
            if None in node.shape:
                raise GraphError(f"the executor needs static shapes; node {node} has a dynamic batch")
        self.graph = graph
        self._xp = backend.xp()  # the array module the buffers and kernels belong to, fixed at planning
        self._state = dict(state or {})
        self._writes = {output: name for name, (_, output) in self._state.items() if output is not None}
        self._last = last_uses(graph)
        self._storage, self._buffer, self._pool = {}, {}, {}
        self._steps, self._labels, self._records = [], [], []
        self._placement = _concatenation_slices(graph, self._writes)
        self._borrowed = _borrowed_poolings(graph, self._last)
        self._plan()
        if self._xp is np:
            self._fuse()
        self._steps, self._labels = schedule.side_by_side(self._steps, self._labels, self._records)

    # ---- running -----------------------------------------------------------------------------------------
    def run(self, *inputs):
        """Copy ``inputs`` into the input buffers, run every step, return the outputs (see the class doc)."""
        self._copy_inputs(inputs)
        # quiet about inf and NaN, as the eager forwards; matrix products on pyml's threads (pyml.threads)
        with backend.errstate(self._xp, all="ignore"), threads.blas_single_threaded():
            for step in self._steps:
                step()
        return [self._storage[name] for name in self._returned]

    def _copy_inputs(self, inputs):
        if len(inputs) != len(self._inputs):
            raise GraphError(f"the executor takes {len(self._inputs)} inputs ({', '.join(self._inputs)}). "
                             f"Received: {len(inputs)}")
        for name, buffer, value in zip(self._inputs, self._input_arrays, inputs):
            value = getattr(value, "data", value)  # a Tensor's array
            shape = tuple(value.shape) if hasattr(value, "shape") else np.shape(value)
            if shape != buffer.shape:
                raise GraphError(f"input {name!r} expects shape {buffer.shape}. Received: {shape}")
            self._xp.copyto(buffer, self._xp.asarray(value), casting="same_kind")  # to the device, if it is one

    def steps(self):
        """What one run does, a label per step: ``v3 = matmul``, ``12 fused: sub mul add ... [669706]``."""
        return list(self._labels)

    def profile(self, *inputs, repeat=10):
        """``[(seconds, label)]`` of every step, slowest first: each step's median over ``repeat`` runs (the
        median, so that other processes on a shared machine disturb it less). Runs the steps, like ``run``."""
        times = [[] for _ in self._steps]
        for _ in range(repeat):
            self._copy_inputs(inputs)
            with backend.errstate(self._xp, all="ignore"), threads.blas_single_threaded():
                for step, seconds in zip(self._steps, times):
                    start = time.perf_counter()
                    step()
                    seconds.append(time.perf_counter() - start)
        return sorted(((statistics.median(t), label) for t, label in zip(times, self._labels)), reverse=True)

    # ---- planning ----------------------------------------------------------------------------------------
    def _plan(self):
        graph = self.graph
        self._inputs = [name for name in graph.inputs if name not in self._state]
        self._input_arrays = []
        for index, node in enumerate(graph.nodes):
            if node.op == "placeholder":
                self._placeholder(node)
            elif node.op == "constant":
                self._storage[node.name] = self._xp.asarray(graph.constants[node.name], dtype=node.dtype)
            else:
                self._call(index, node)
            for name in set(node.inputs) | {node.name}:
                if self._last[name] == index:
                    self._release(name)
        for output, name in self._writes.items():  # state outputs that could not be computed in place
            target = self._state[name][0]
            if self._storage[output] is not target:
                self._add_step(f"write back {name}", _copy(self._xp, target, self._storage[output]))
        self._returned = [name for name in graph.outputs if name not in self._writes]

    def _placeholder(self, node):
        if node.name in self._state:
            array = self._state[node.name][0]
            if array.shape != tuple(node.shape) or array.dtype != np.dtype(node.dtype):
                raise GraphError(f"state {node.name!r} must be {node.dtype}{list(node.shape)}. "
                                 f"Received: {array.dtype}{list(array.shape)}")
            # only a state that gets a new value may be overwritten; the others are the caller's to keep
            writable = self._state[node.name][1] is not None
            self._bind(node.name, array, _Buffer(array, pooled=False, writable=writable))
            return
        array = self._xp.empty(node.shape, node.dtype)  # refilled by every run: the caller's arrays stay untouched
        self._input_arrays.append(array)
        self._bind(node.name, array, _Buffer(array, pooled=False, writable=False))

    def _call(self, index, node):
        arrays = [self._storage[name] for name in node.inputs]
        make_view = kernels.VIEWS.get(node.target)
        view = make_view(arrays[0], **node.attrs) if make_view is not None else None
        if view is not None and node.name not in self._writes:
            self._bind(node.name, view, self._buffer.get(node.inputs[0]))
            return
        out = self._output(index, node, arrays)
        if node.target == "concatenate" and _parts_in_place(arrays, out):
            return  # every part was computed into its slice already
        attrs = node.attrs
        if node.name in self._borrowed:  # max_pool_grad reads the forward's max_pool instead of redoing it
            attrs = dict(attrs, pooled=self._storage[self._borrowed[node.name]])
        self._add_step(f"{node.name} = {node.target}", kernels.kernel(node.target, arrays, out, attrs, self._xp),
                       (node, arrays, out))

    def _output(self, index, node, arrays):
        """The array ``node`` writes into: a concatenation slice, a state array, an input it may overwrite,
        or a buffer from the pool."""
        placed = self._placement.get(node.name)
        if placed is not None:
            return self._place_in_concatenation(node, *placed)
        early = self._buffer.get(node.name)
        if early is not None:  # a concatenation, allocated when its first part was computed
            out = early.array.reshape(node.shape)
            self._bind(node.name, out, early)
            return out
        state = self._writes.get(node.name)
        if state is not None:
            target = self._state[state][0]
            if self._can_write(self._buffer[state], index, node, arrays, target):
                self._bind(node.name, target, self._buffer[state])
                return target
        lives_to_the_end = self._last[node.name] >= len(self.graph.nodes)
        for position in kernels.ALIASABLE.get(node.target, ()):
            name = node.inputs[position]
            buffer = self._buffer.get(name)
            if buffer is None or not buffer.writable or (lives_to_the_end and not buffer.pooled):
                continue  # a state array gets its new value at the end: an output living there would be lost
            if self._can_write(buffer, index, node, arrays, arrays[position]):
                self._bind(node.name, arrays[position], buffer)
                return arrays[position]
        return self._allocate(node.name, node.shape, node.dtype)

    def _can_write(self, buffer, index, node, arrays, out):
        """Whether ``node`` may write ``out`` over ``buffer``: no value in it is read after this node, and every
        input of this node that lives in it is ``out`` itself at a position the op may overwrite."""
        if out.shape != tuple(node.shape) or out.dtype != np.dtype(node.dtype) or not out.flags.c_contiguous:
            return False
        if any(self._last[user] > index for user in buffer.users):
            return False
        allowed = kernels.ALIASABLE.get(node.target, ())
        for position, name in enumerate(node.inputs):
            if self._buffer.get(name) is buffer and not (position in allowed and _same_memory(arrays[position], out)):
                return False
        return True

    def _place_in_concatenation(self, node, concat, offset):
        buffer = self._buffer.get(concat)
        if buffer is None:  # the first part: the whole concatenation is allocated now
            whole = self.graph.node(concat)
            array = self._allocate(concat, whole.shape, whole.dtype)
            buffer = self._buffer[concat]
            buffer.users.discard(concat)  # the concatenation itself comes to life at its node
            self._storage.pop(concat)
        size = int(np.prod(node.shape, dtype=np.int64))
        out = buffer.array[offset:offset + size].reshape(node.shape)
        self._bind(node.name, out, buffer)
        return out

    def _allocate(self, name, shape, dtype):
        dtype = np.dtype(dtype)
        size = int(np.prod(shape, dtype=np.int64))
        free = self._pool.get((dtype, size))
        buffer = free.pop() if free else _Buffer(self._xp.empty(size, dtype), pooled=True, writable=True)
        array = buffer.array.reshape(shape)
        self._bind(name, array, buffer)
        return array

    def _bind(self, name, array, buffer):
        self._storage[name] = array
        if buffer is not None:
            self._buffer[name] = buffer
            buffer.users.add(name)

    def _release(self, name):
        buffer = self._buffer.get(name)
        if buffer is None:
            return
        buffer.users.discard(name)
        if not buffer.users and buffer.pooled:
            self._pool.setdefault((buffer.array.dtype, buffer.array.size), []).append(buffer)

    def _add_step(self, label, step, record=None):
        self._steps.append(step)
        self._labels.append(label)
        self._records.append(record)

    # ---- fusion ------------------------------------------------------------------------------------------
    def _fuse(self):
        """Replace each run of consecutive elementwise steps over one large shape by one chunked step."""
        consumers = {}
        for node in self.graph.nodes:
            for name in node.inputs:
                consumers.setdefault(name, set()).add(node.name)
        steps, labels, records = [], [], []
        index = 0
        while index < len(self._steps):
            end = self._group_end(index)
            if end > index:
                group = self._records[index:end]
                made = {node.name for node, _, _ in group}
                internal = {name for name in made if consumers.get(name, set()) <= made
                            and self._last[name] < len(self.graph.nodes) and name not in self._writes
                            and name not in self._placement}
                steps.append(chunks.chunked_group(group, internal))
                labels.append(f"{len(group)} fused: " + " ".join(node.target for node, _, _ in group)
                              + f" {list(group[0][0].shape)}")
                records.append(schedule.FusedRun(group, internal))
                index = end
                continue
            steps.append(self._steps[index])
            labels.append(self._labels[index])
            records.append(self._records[index])
            index += 1
        self._steps, self._labels, self._records = steps, labels, records

    def _group_end(self, start):
        """The end of the elementwise run starting at step ``start`` that a chunked step may run (``start`` if
        none): same output shape, large enough, and no op reading a value of the run through a view."""
        record = self._records[start]
        if record is None or record[0].target not in kernels.ELEMENTWISE:
            return start
        shape = tuple(record[0].shape)
        if len(shape) == 0 or shape[0] < 2 or int(np.prod(shape)) < chunks.MIN_ELEMENTS:
            return start
        made, buffers = set(), set()
        end = start
        while end < len(self._steps):
            record = self._records[end]
            if record is None or record[0].target not in kernels.ELEMENTWISE or tuple(record[0].shape) != shape:
                break
            node = record[0]
            if any(name not in made and id(self._buffer.get(name)) in buffers for name in node.inputs):
                break  # reads a value of the run through a view: it would see other chunks unwritten
            made.add(node.name)
            buffers.add(id(self._buffer.get(node.name)))
            end += 1
        return end


def _same_memory(a, b):
    return a.shape == b.shape and a.strides == b.strides and backend.address(a) == backend.address(b)


def _parts_in_place(parts, out):
    """Whether each of ``parts`` already sits at its place in the axis-0 concatenation ``out``."""
    offset, flat = 0, out.reshape(-1)
    for part in parts:
        if not _same_memory(part.reshape(-1) if part.flags.c_contiguous else part, flat[offset:offset + part.size]):
            return False
        offset += part.size
    return True


def _copy(xp, target, source):
    return lambda: xp.copyto(target, source)


def _borrowed_poolings(graph, last):
    """``{max_pool_grad node: max_pool node}`` for gradients whose pooling the graph computes already (the
    forward's, usually); that value is kept alive until the gradient (``last`` is updated)."""
    pools, borrowed = {}, {}
    for index, node in enumerate(graph.nodes):
        if node.op != "call":
            continue
        key = (node.inputs[0], json.dumps(_jsonable(node.attrs), sort_keys=True))
        if node.target == "max_pool":
            pools.setdefault(key, node.name)
        elif node.target == "max_pool_grad" and key in pools:
            borrowed[node.name] = pools[key]
            last[pools[key]] = max(last[pools[key]], index)
    return borrowed


def _concatenation_slices(graph, writes):
    """``{value: (concatenate node, offset)}`` for values a 1-D axis-0 ``concatenate`` can have computed straight
    into its output: each part (or the value a ``reshape`` part is made from) made by a call that is not a view,
    used nowhere else as a whole-buffer write target."""
    nodes = graph.nodes_by_name()
    placed = {}
    for node in graph.nodes:
        if node.op != "call" or node.target != "concatenate" or node.attrs.get("axis") != 0 or len(node.shape) != 1:
            continue
        offset = 0
        for name in node.inputs:
            part = nodes[name]
            source = nodes[part.inputs[0]] if part.target == "reshape" else part
            size = int(np.prod(source.shape, dtype=np.int64))
            if (source.op == "call" and source.target not in kernels.VIEWS and source.name not in placed
                    and source.name not in writes and source.name not in graph.outputs and source.dtype == node.dtype):
                placed[source.name] = (node.name, offset)
            offset += size
    return placed

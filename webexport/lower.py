"""Lowering: a Graph becomes a Plan, the kernels the runtime dispatches in order (docs/internals.md §4).

``lower`` walks the graph's call nodes in order and asks each op's lowering (``LOWERINGS[target]``,
registered by the kernel families) for its kernels. Fusion groups (``webexport.fusion``) are lowered where
their last node is: an epilogue as one call on its anchor with ``epilogue=[...]``, an elementwise or row
group as one kernel of ``webexport.kernels.fused``. Zero-copy ops (a family's ``ALIASES``) return no
kernel: their value shares its input's storage. The plan prints one step per line:

    >>> print(lower(graph, fuse(graph)))
    step 0  dense/matmul+add+maximum  (%x, %w0, %b0) -> (%v3)  threads [16, 240]

Export refuses, with an ``ExportError`` naming the node and op, what WebGPU cannot run: float64 values,
values whose 32-bit index math would overflow (``check_index_range``), ops without a lowering, kernels past the
limits every WebGPU device guarantees (``check_limits``).

Weights: ``lower(graph, groups, weights="int8")`` decides each constant's storage (``webexport.weights.storages``,
which the bundle then writes) and which float16/int8 weights the kernels read as stored (``packed_weights``:
those only matmul and conv read, as their weight operand); ``ctx.packed(name)`` tells a lowering, and
``common.bindings`` binds such a weight as ``array<u32>`` with the unpacking helpers of kernels/packed.wgsl.j2.
"""
import math
import re
from dataclasses import dataclass, field

import numpy as np

from pyml.ops.registry import Spec
from webexport import kernels as _families
from webexport.fusion import step_label
from webexport.kernels.common import LOWERINGS, MAX_STORAGE_BUFFERS, ExportError, Kernel
from webexport.kernels.copy import copy_kernel
from webexport.kernels.fused import fused_kernel
from webexport.memory import value_bytes
from webexport.weights import storage_bytes, storages

MAX_BINDING_BYTES = 128 * 2**20  # maxStorageBufferBindingSize every WebGPU device offers
# The largest element count a value may have: kernels index with 32-bit signed math (WGSL i32 coordinates in the
# movement, conv and image kernels, u32 thread and flat indices; C `int` in web/wasm), so flat indices stay < 2^31.
MAX_ELEMENTS = 2**31 - 1
MAX_WORKGROUP_STORAGE_BYTES = 16 * 2**10  # maxComputeWorkgroupStorageSize
# Ops whose every lowering reads this operand, a weight, through kernels/packed.wgsl.j2 (as stored float16/int8).
PACKED_OPERAND = {"matmul": 1, "conv": 1, "rnn_scan": 1}


@dataclass
class Step:
    """One dispatch: ``kernel`` computes the graph values ``nodes``; ``label`` is what profilers show."""

    label: str
    kernel: Kernel
    nodes: list


@dataclass
class Plan:
    """What lowering produced: the steps in order, and where every value lives.

    ``specs`` holds every value the steps touch (graph values and lowering temps). A value is stored in
    weights.bin when ``weights`` maps it (to its weight entry's name), else it is an activation; a
    zero-copy value is in ``aliases``, mapped to the value owning the storage (never itself an alias).
    ``storage`` maps every weight entry to how weights.bin stores it; ``packed`` those whose GPU buffer holds
    the stored float16/int8 bytes (the rest are widened to float32 at load).
    """

    graph: object
    steps: list
    specs: dict
    aliases: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    storage: dict = field(default_factory=dict)
    packed: dict = field(default_factory=dict)

    def root(self, name):
        """The value whose storage ``name`` uses (``name`` itself unless it is a zero-copy alias)."""
        return self.aliases.get(name, name)

    def is_weight(self, name):
        """Whether ``name`` (or the value it aliases) is stored in weights.bin rather than an activation slot."""
        return self.root(name) in self.weights

    def buffer_bytes(self, name):
        """Bytes of the GPU buffer holding ``name`` at batch 1: a packed weight's stored bytes (rounded up to 4),
        else 4 per element."""
        entry = self.weights.get(self.root(name))
        if entry in self.packed:
            return -(-storage_bytes(self.specs[name].shape, self.packed[entry]) // 4) * 4
        return binding_bytes(self.specs[name])

    def __str__(self):
        lines = []
        for i, step in enumerate(self.steps):
            ins = ", ".join(f"%{v}" for v in step.kernel.inputs)
            outs = ", ".join(f"%{v}" for v in step.kernel.outputs)
            threads = [str(list(step.kernel.threads))]
            threads += [f"from batch {v.min_batch} {list(v.threads)}" for v in step.kernel.variants]
            lines.append(f"step {i}  {step.label}  ({ins}) -> ({outs})  threads {', '.join(threads)}")
        lines += [f"alias %{name} = %{root}" for name, root in self.aliases.items()]
        return "\n".join(lines)


class LoweringContext:
    """What a lowering may ask about the graph (docs/internals.md §4): specs, constants, nodes, temps."""

    def __init__(self, graph, packed=None):
        self._graph = graph
        self._nodes = graph.nodes_by_name()
        self._packed = packed or {}
        self.specs = {n.name: Spec(tuple(n.shape), n.dtype) for n in graph.nodes}
        self.current = None  # the node being lowered; names its temps

    def packed(self, name):
        """``"float16"`` or ``"int8"`` when ``name`` is a weight the kernels read as stored (``packed_weights``),
        else None."""
        return self._packed.get(name)

    def spec(self, name):
        """``Spec(shape, dtype)`` of a value; ``None`` in the shape is the dynamic batch."""
        try:
            return self.specs[name]
        except KeyError:
            raise ExportError(f"lowering of %{self.current}: no value named %{name}") from None

    def constant(self, name):
        """The array of ``name`` when it is a graph constant (to inline scalars), else None; None too for a
        constant marked ``variable`` (a weight a training bundle overwrites: ``webexport.train``)."""
        node = self._nodes.get(name)
        if node is None or node.op != "constant" or node.attrs.get("variable"):
            return None
        return np.asarray(self._graph.constants[name])

    def node(self, name):
        """The graph ``Node`` producing ``name``."""
        try:
            return self._nodes[name]
        except KeyError:
            raise ExportError(f"lowering of %{self.current}: no node named %{name}") from None

    def temp(self, shape, dtype):
        """A fresh scratch value for multi-kernel lowerings; returns its name (an activation buffer)."""
        k = 0
        while f"{self.current}_t{k}" in self.specs:
            k += 1
        name = f"{self.current}_t{k}"
        self.specs[name] = Spec(tuple(None if d is None else int(d) for d in shape), dtype)
        return name


def lower(graph, groups=None, weights="float32"):
    """Lower ``graph`` to a ``Plan``; ``groups`` are the fusion groups from ``webexport.fusion.fuse``; ``weights``
    the storage tier of the weight matrices ("float32", "float16" or "int8", see ``webexport.weights``).

    Each group is lowered where its last node is (every value it reads is computed by then): an
    epilogue by its anchor's lowering with ``epilogue=[...]``, an elementwise or row group by
    ``webexport.kernels.fused``. Nodes in no group get their own op's kernels.

    Raises:
        ExportError: naming the node and op, for float64 values, ops without a lowering, a lowering
            that fails or writes the wrong values, and kernels past WebGPU's limits.
    """
    _refuse_float64(graph)
    check_index_range(graph)
    storage = storages(graph, weights)
    packed = packed_weights(graph, storage)
    ctx = LoweringContext(graph, packed)
    plan = Plan(graph, [], ctx.specs, weights={n.name: n.name for n in graph.nodes if n.op == "constant"},
                storage=storage, packed=packed)
    group_of = {n.name: g for g in groups or () for n in g.nodes}
    zero_copy = _families.aliases()
    defined = {n.name for n in graph.nodes if n.op in ("placeholder", "constant")}
    for node in graph.nodes:
        group = group_of.get(node.name)
        if node.op != "call" or (group is not None and group.output.name != node.name):
            continue
        for nodes, kernels in _lower_unit(node, group, ctx):
            _add_steps(plan, nodes, kernels, defined, zero_copy)
    _copy_shared_outputs(plan)
    _check_packed_reads(plan)
    check_limits(plan)
    return plan


def packed_weights(graph, storage):
    """``{constant name: storage}`` of the float16/int8 weights whose GPU buffer holds the stored bytes: those
    read only as the weight operand of ops in ``PACKED_OPERAND`` (whose kernels unpack them in registers), and
    no graph output. A weight any other op reads (an elementwise op, a reshape) is widened to float32 at load."""
    readers = {}
    for node in graph.nodes:
        for position, name in enumerate(node.inputs):
            readers.setdefault(name, []).append(PACKED_OPERAND.get(node.target) == position)
    return {name: kind for name, kind in storage.items()
            if kind in ("float16", "int8") and name not in graph.outputs and readers.get(name)
            and all(readers[name])}


def _check_packed_reads(plan):
    """Every kernel binding a packed weight reads it through its unpacking helpers (kernels/packed.wgsl.j2):
    indexed as float32 it would not compile, and read as float32 bits it would be wrong."""
    for step in plan.steps:
        for position, name in enumerate(step.kernel.inputs):
            entry = plan.weights.get(plan.root(name))
            if entry not in plan.packed:
                continue
            for program in [step.kernel] + list(step.kernel.variants):
                if f"in{position}_at(" not in program.wgsl and f"in{position}_unpack(" not in program.wgsl:
                    raise ExportError(f"step {step.label!r}: binds the {plan.packed[entry]} weight %{name} but does not "
                                      f"unpack it (a lowering of {', '.join(PACKED_OPERAND)} must read it through "
                                      f"kernels/packed.wgsl.j2)")


def _lower_unit(node, group, ctx):
    """``[(nodes, kernels), ...]`` computing ``node`` (with its ``group``, if any), in order.

    When an anchor's lowering refuses its whole epilogue (say, too many operands to bind), the longest
    prefix it accepts, and whose values the rest does not read but its last, is fused and the rest lowered
    node by node; a group the fused family cannot compute is lowered node by node, where each op's own
    lowering names what cannot be exported."""
    if group is None:
        ctx.current = node.name
        return [([node], _call_lowering(node, ctx, []))]
    if group.kind == "epilogue":
        anchor, epilogue = group.nodes[0], group.nodes[1:]
        ctx.current = anchor.name
        for keep in range(len(epilogue), 0, -1):
            inner = {n.name for n in [anchor] + epilogue[:keep - 1]}  # never stored: the rest may not read them
            if any(i in inner for n in epilogue[keep:] for i in n.inputs):
                continue
            try:
                kernels = _call_lowering(anchor, ctx, epilogue[:keep])
            except (ExportError, NotImplementedError):
                continue
            return [([anchor] + epilogue[:keep], kernels)] + _one_by_one(epilogue[keep:], ctx)
        return _one_by_one(group.nodes, ctx)
    ctx.current = node.name
    try:
        return [(group.nodes, [fused_kernel(group.nodes, ctx)])]
    except ExportError:
        return _one_by_one(group.nodes, ctx)


def _one_by_one(nodes, ctx):
    return [unit for n in nodes for unit in _lower_unit(n, None, ctx)]


def _add_steps(plan, nodes, kernels, defined, zero_copy):
    """Append the steps of ``kernels``, which compute ``nodes``; no kernel means a zero-copy node."""
    node = nodes[0]
    if not kernels:
        _alias(plan, node, zero_copy)
        defined.add(node.name)
        return
    label = step_label(plan.graph, nodes)
    before = set(defined)  # the kernels of one lowering may each write a block of the same value
    for i, kernel in enumerate(kernels):
        _check_bindings(kernel, node, defined, before, plan)
        defined.update(kernel.outputs)
        kernel.nodes = list(kernel.nodes) or [n.name for n in nodes]
        plan.steps.append(Step(label if len(kernels) == 1 else f"{label}.{i}", kernel, kernel.nodes))
    if nodes[-1].name not in defined:
        raise ExportError(f"node %{node.name} ({node.target}): its lowering did not write %{nodes[-1].name}. "
                          f"Received: outputs {[o for k in kernels for o in k.outputs]}")


def _refuse_float64(graph):
    for node in graph.nodes:
        if node.dtype == "float64":
            what = f"{node.target} node" if node.op == "call" else node.op
            raise ExportError(f"{what} %{node.name} is float64, which WebGPU cannot run; cast the model to float32 "
                              f"before export. Received: dtype=float64 at %{node.name}")


def check_index_range(graph):
    """Refuse a value (at batch 1 when the batch is dynamic) with more than ``MAX_ELEMENTS`` elements, naming it.

    It covers what ``check_limits``'s binding limit (128 MiB, 2^25 float32 elements) cannot: values a fused kernel
    computes in registers and never stores, such as a broadcast inside a reduction, whose flat index would wrap.

    >>> check_index_range(trace(lambda x: ops.sum(ops.broadcast_to(x, (65536, 65536)), axis=0), [((1, 65536), "float32")]))
    Traceback (most recent call last):
    ExportError: node %v1 (broadcast_to): shape [65536, 65536] holds 4,294,967,296 elements, past 2,147,483,647 ...
    """
    for node in graph.nodes:
        count = math.prod(1 if d is None else d for d in node.shape)
        if count > MAX_ELEMENTS:
            what = node.target if node.op == "call" else node.op
            dims = ", ".join("None" if d is None else str(d) for d in node.shape)
            raise ExportError(f"node %{node.name} ({what}): shape [{dims}] holds {count:,} elements"
                              f"{' at batch 1' if None in node.shape else ''}, past {MAX_ELEMENTS:,} (2^31 - 1), the "
                              f"largest tensor whose flat indices the kernels' 32-bit integer math can hold; make it "
                              f"smaller or split it")


def _call_lowering(node, ctx, epilogue):
    fn = LOWERINGS.get(node.target)
    if fn is None:
        raise ExportError(f"node %{node.name}: op {node.target!r} has no WGSL lowering, so it cannot be exported "
                          f"(tests.op_samples.NOT_YET_EXPORTABLE lists the ops waiting for one). "
                          f"Received: op={node.target!r}")
    try:
        kernels = fn(node, ctx, epilogue=epilogue) if epilogue else fn(node, ctx)
    except (ExportError, NotImplementedError):
        raise
    except Exception as exc:
        raise ExportError(f"node %{node.name} ({node.target}): lowering failed: {type(exc).__name__}: {exc}") from exc
    return list(kernels or [])


def _alias(plan, node, zero_copy):
    """A lowering with no kernel: the node is zero-copy and shares its first input's storage."""
    if node.target not in zero_copy or not node.inputs:
        raise ExportError(f"node %{node.name} ({node.target}): the lowering returned no kernel, but {node.target!r} "
                          f"is not declared zero-copy (ALIASES in its kernel family)")
    source = plan.specs[node.inputs[0]]
    if source.dtype != node.dtype or _count(source.shape) != _count(node.shape):
        raise ExportError(f"node %{node.name} ({node.target}): a zero-copy op must keep the dtype and element count. "
                          f"Received: {source.dtype}{list(source.shape)} -> {node.dtype}{list(node.shape)}")
    plan.aliases[node.name] = plan.root(node.inputs[0])


def _count(shape):
    """(has the batch axis, static element count): what a zero-copy op must preserve."""
    return None in shape, int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def _check_bindings(kernel, node, defined, before, plan):
    where = f"node %{node.name} ({node.target}), kernel {kernel.label!r}"
    for name in kernel.inputs:
        if name not in defined:
            raise ExportError(f"{where}: reads %{name} before any step writes it")
    for name in kernel.outputs:
        if name not in plan.specs:
            raise ExportError(f"{where}: writes %{name}, which is neither a graph value nor a temp")
        if name in before or plan.is_weight(name):
            raise ExportError(f"{where}: writes %{name}, which is already defined (an input, weight or earlier value)")
    for name in set(kernel.inputs) & set(kernel.outputs):
        raise ExportError(f"{where}: binds %{name} as both input and output")


def _copy_shared_outputs(plan):
    """Give each graph output its own readable buffer where zero-copy would share one (see kernels/copy.py)."""
    graph = plan.graph
    outputs = list(dict.fromkeys(graph.outputs))
    for out in outputs:
        node = graph.node(out)
        if node.op == "constant":
            # The value becomes an activation filled from its weight entry; the steps that read the
            # weight read it under a second name.
            source = f"{out}:weight"
            plan.specs[source] = plan.specs[out]
            plan.weights[source] = plan.weights.pop(out)
            for step in plan.steps:
                step.kernel.inputs = [source if v == out else v for v in step.kernel.inputs]
            plan.aliases = {k: source if v == out else v for k, v in plan.aliases.items()}
        elif out in plan.aliases:
            root = plan.aliases[out]
            shared = [o for o in outputs if o != out and plan.root(o) == root]
            if not (root in plan.weights or graph.node(root).op == "placeholder" or shared):
                continue
            source = plan.aliases.pop(out)
        else:
            continue
        kernel = copy_kernel(source, out, plan.specs[out], label=f"{out}/copy")
        plan.steps.append(Step(f"{out}/copy", kernel, [out]))


def check_limits(plan):
    """Refuse kernels past the limits every WebGPU device guarantees (storage bindings, sizes, workgroup memory)."""
    for step in plan.steps:
        kernel = step.kernel
        where = f"step {step.label!r} (nodes {', '.join('%' + n for n in step.nodes)})"
        count = len(kernel.inputs) + len(kernel.outputs)
        if count > MAX_STORAGE_BUFFERS:
            raise ExportError(f"{where}: the kernel binds {count} storage buffers; WebGPU guarantees "
                              f"{MAX_STORAGE_BUFFERS} per shader stage. Received: inputs={kernel.inputs}, "
                              f"outputs={kernel.outputs}")
        for name in kernel.inputs + kernel.outputs:
            size = plan.buffer_bytes(name)
            if size > MAX_BINDING_BYTES:
                raise ExportError(f"{where}: %{name} {list(plan.specs[name].shape)} takes {size} bytes (at batch 1), "
                                  f"over WebGPU's {MAX_BINDING_BYTES}-byte storage binding limit")
        for program in [kernel] + list(kernel.variants):
            shared = workgroup_storage_bytes(program.wgsl)
            if shared > MAX_WORKGROUP_STORAGE_BYTES:
                raise ExportError(f"{where}: the kernel declares {shared} bytes of workgroup storage; WebGPU "
                                  f"guarantees {MAX_WORKGROUP_STORAGE_BYTES}")


def binding_bytes(spec, batch=1):
    """Bytes of a value in storage (4 per element: f32, i32, or u32 for bool), the batch set to ``batch``."""
    per_batch, fixed = value_bytes(spec)
    return per_batch * batch + fixed


_WORKGROUP_VAR = re.compile(r"var<workgroup>\s*\w+\s*:\s*(.+?);")
_ARRAY = re.compile(r"array<\s*(.+)\s*,\s*(\d+)u?\s*>$")
_SCALARS = {"f32": 4, "i32": 4, "u32": 4, "f16": 2, "bool": 4}
_VECTOR = re.compile(r"vec([234])<\s*(\w+)\s*>$")


def workgroup_storage_bytes(wgsl):
    """Total bytes of the ``var<workgroup>`` declarations in a WGSL module (arrays of scalars/vectors)."""
    return sum(_type_bytes(t.strip()) for t in _WORKGROUP_VAR.findall(wgsl))


def _type_bytes(text):
    array = _ARRAY.match(text)
    if array:
        return _type_bytes(array.group(1).strip()) * int(array.group(2))
    vector = _VECTOR.match(text)
    if vector:
        n = int(vector.group(1))
        return _SCALARS.get(vector.group(2), 4) * (4 if n == 3 else n)
    return _SCALARS.get(text, 4)

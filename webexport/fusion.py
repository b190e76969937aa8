"""Fusion: which graph nodes one kernel computes together, so a model runs in fewer dispatches.

``fuse(graph)`` returns ``Group``s; every node in no group gets its own kernel. Three kinds:

- **epilogue**: a matmul or convolution and the elementwise nodes after it (``dense/matmul+add+maximum``),
  applied to each result while it is still in registers (the anchor's lowering takes ``epilogue=``);
- **elementwise**: a DAG of elementwise nodes (unary, binary, comparisons, ``where``, ``cast``), one
  thread per output element (``v2/mul+add+tanh+add+sqrt``);
- **row**: reductions (``sum max min mean``) over the same axes with the elementwise nodes before and
  after them: softmax (``v11/max+sub+exp+sum+div``), log-softmax, layer norm, ``sum(exp(x))``.

Elementwise and row groups are computed by ``webexport.kernels.fused``. The digits MLP's ten nodes:

    dense/matmul  %v2                       dense/matmul+add+maximum  %v2 %v4 %v6
    dense/add  %v4                          dense_1/matmul+add  %v8 %v10
    v6/maximum  %v6                 →       v11/max+sub+exp+sum+div  %v11 %v12 %v13 %v14 %v15
    dense_1/matmul  %v8
    ...  (v11/max, v12/sub, v13/exp, v14/sum, v15/div)

Rules. A value is stored (so it may end a group, never sit inside one) when it is a graph output or a
node outside the group reads it. An **epilogue** grows forward from its anchor, one reader at a time in
graph order, while the reader is elementwise, has the anchor's shape, and reads its other operands (a bias,
a scalar, a residual) with broadcasting; it is cut back to the last point where one member alone is read
outside the group, of the anchor's dtype: that value is stored. So an activation reading its input twice
(GELU, swish, leaky relu) joins too. **Elementwise** and **row** groups grow backwards from their last node,
in reverse graph order, taking each producer whose readers are all in the group (a DAG: ``x * sigmoid(x)``);
a row group's reductions share one input shape and one set of axes and keep their axes (``keepdims``),
except a reduction that ends the group. Epilogues are found first, so a bias stays with its matmul. A group
binds at most 7 operands (8 storage buffers with its output); a node that would add more is left out.

Each group is emitted where its last node is, so every value it reads has been computed by then. The graph
itself is unchanged (the CPU backend interprets it unfused).
"""
import heapq
import inspect
from dataclasses import dataclass

from webexport.kernels import elementwise
from webexport.kernels.common import LOWERINGS, MAX_STORAGE_BUFFERS, scalar_value
from webexport.kernels.fused import REDUCTIONS

ELEMENTWISE = frozenset(elementwise.LOWERED)  # what elementwise.expression computes
MAX_OPERANDS = MAX_STORAGE_BUFFERS - 1  # the output is bound too


@dataclass
class Group:
    """Nodes one kernel computes: ``kind`` is "epilogue", "elementwise" or "row"; ``nodes`` are in graph
    order and the last is the one value the kernel stores (for an epilogue, the first is its anchor)."""

    kind: str
    nodes: list

    @property
    def output(self):
        """The node whose value the kernel stores (the last)."""
        return self.nodes[-1]

    @property
    def names(self):
        """The member nodes' value names, in graph order: ``['v2', 'v4', 'v6']``."""
        return [n.name for n in self.nodes]


def fuse(graph, lowerings=None):
    """The fusion groups of ``graph``, in the order of their last nodes.

    Args:
        graph: a ``pyml.graph.Graph``.
        lowerings: the lowering table (default ``webexport.kernels.common.LOWERINGS``); a matmul/conv
            anchor's lowering must take an ``epilogue`` keyword.

    >>> [(g.kind, g.names) for g in fuse(graph)]                     # the digits MLP
    [('epilogue', ['v2', 'v4', 'v6']), ('epilogue', ['v8', 'v10']), ('row', ['v11', 'v12', 'v13', 'v14', 'v15'])]
    """
    lowerings = LOWERINGS if lowerings is None else lowerings
    readers = value_readers(graph)
    groups, taken = [], set()
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    for node in graph.nodes:
        if node.op == "call" and accepts_epilogue(lowerings.get(node.target)):
            chain = _epilogue(node, graph, readers, order, taken)
            if chain:
                groups.append(Group("epilogue", [node] + chain))
                taken.update(n.name for n in groups[-1].nodes)
    for node in reversed(graph.nodes):
        if node.op == "call" and node.name not in taken and _groupable(node):
            members = _grow(node, graph, readers, order, taken)
            if len(members) > 1:
                kind = "row" if any(n.target in REDUCTIONS for n in members) else "elementwise"
                groups.append(Group(kind, members))
                taken.update(n.name for n in members)
    return sorted(groups, key=lambda g: order[g.output.name])


def accepts_epilogue(fn):
    """True when the lowering ``fn`` takes an ``epilogue`` keyword argument."""
    if fn is None:
        return False
    try:
        return "epilogue" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def step_label(graph, nodes):
    """A readable label for the kernel computing ``nodes``: ``"dense/matmul+add+maximum"``.

    The scope is the layer name found in the label of a constant the nodes read (``dense/kernel`` →
    ``dense``), else the first node's value name.
    """
    by_name = graph.nodes_by_name()
    scope = nodes[0].name
    for node in nodes:
        labels = [by_name[i].attrs.get("label", "") for i in node.inputs if by_name[i].op == "constant"]
        scoped = [label.rsplit("/", 1)[0] for label in labels if "/" in label]
        if scoped:
            scope = scoped[0]
            break
    return f"{scope}/{'+'.join(n.target for n in nodes)}"


def format_fusion(graph, groups):
    """The steps fusion leaves, one per line: ``dense/matmul+add+maximum  %v1 %v2 %v3``."""
    group_of = {n.name: g for g in groups for n in g.nodes}
    lines = []
    for node in graph.nodes:
        group = group_of.get(node.name)
        if node.op != "call" or (group is not None and group.output is not node):
            continue
        nodes = group.nodes if group is not None else [node]
        lines.append(f"{step_label(graph, nodes)}  " + " ".join(f"%{n.name}" for n in nodes))
    return "\n".join(lines)


def value_readers(graph):
    """Value name → the names of the nodes reading it; a graph output counts as a reader named ``None``."""
    out = {}
    for node in graph.nodes:
        for name in node.inputs:
            out.setdefault(name, []).append(node.name)
    for name in graph.outputs:
        out.setdefault(name, []).append(None)
    return out


# ---- epilogues ---------------------------------------------------------------------------------------
def _epilogue(anchor, graph, readers, order, taken):
    """The elementwise nodes after ``anchor`` that its kernel can apply: grown forward, one reader at a time in
    graph order, and cut back to the last point where one member alone is read outside (the value stored).

    Taking the earliest pending reader means every other operand of it is computed without the group's
    values (a path from a member to it would pass through an earlier pending reader)."""
    members, names, best = [anchor], {anchor.name}, []
    operands = set()  # values the epilogue binds, besides the anchor's own inputs
    while True:
        open_ = [m for m in members if any(r not in names for r in readers.get(m.name, ()))]
        if len(members) > 1 and len(open_) == 1 and open_[0] is members[-1] and open_[0].dtype == anchor.dtype:
            best = members[1:]
        if any(None in readers.get(m.name, ()) for m in members):
            break  # a graph output is stored, so nothing after it can join
        pending = sorted({r for m in open_ for r in readers[m.name] if r not in names}, key=order.get)
        if not pending:
            break
        candidate = graph.node(pending[0])
        grown = operands | {i for i in candidate.inputs if i not in names and not _inlined(graph, i, scalar_only=True)}
        if candidate.name in taken or not _extends_epilogue(candidate, anchor, graph, names) \
                or len(anchor.inputs) + len(grown) + 1 > MAX_STORAGE_BUFFERS:
            break
        members.append(candidate)
        names.add(candidate.name)
        operands = grown
    return best


def _extends_epilogue(candidate, anchor, graph, names):
    """An elementwise node of the anchor's shape whose other operands broadcast into that shape."""
    if candidate.op != "call" or candidate.target not in ELEMENTWISE or tuple(candidate.shape) != tuple(anchor.shape):
        return False
    return all(_broadcasts_into(graph.node(name).shape, anchor.shape) for name in candidate.inputs if name not in names)


def _broadcasts_into(shape, target):
    shape, target = tuple(shape), tuple(target)
    if len(shape) > len(target):
        return False
    lead = len(target) - len(shape)
    return all(d == 1 or d == target[lead + k] for k, d in enumerate(shape))


# ---- elementwise and row groups ----------------------------------------------------------------------
def _groupable(node):
    return node.target in ELEMENTWISE or _reduction(node, root=True)


def _reduction(node, root=False):
    """A reduction a row group can compute: float32, and keeping its axes unless it ends the group."""
    if node.target not in REDUCTIONS or node.dtype != "float32":
        return False
    return root or bool(node.attrs.get("keepdims"))


def _grow(root, graph, readers, order, taken):
    """The largest group ending at ``root``: producers join in reverse graph order (so all of a candidate's
    readers have been decided when it is), while every reader is a member and the rules above hold."""
    members = {root.name: root}
    row = _row_of(root, graph) if root.target in REDUCTIONS else None  # (input shape, axes) of the reductions
    operands = {name for name in root.inputs if not _inlined(graph, name)}
    if len(operands) > MAX_OPERANDS:
        return [root]
    heap = [(-order[name], name) for name in set(root.inputs)]
    heapq.heapify(heap)
    seen = set()
    while heap:
        _, name = heapq.heappop(heap)
        if name in seen:
            continue
        seen.add(name)
        node = graph.node(name)
        if node.op != "call" or name in taken or not all(r in members for r in readers.get(name, ())):
            continue
        if node.target in REDUCTIONS:
            if not _reduction(node):
                continue
            candidate_row = _row_of(node, graph)
            if row is None and not _fits_row(root, candidate_row):
                continue
            if row is not None and candidate_row != row:
                continue
        elif node.target not in ELEMENTWISE:
            continue
        grown = (operands - {name}) | {i for i in node.inputs if i not in members and not _inlined(graph, i)}
        if len(grown) > MAX_OPERANDS:
            continue
        if node.target in REDUCTIONS:
            row = _row_of(node, graph)
        members[name], operands = node, grown
        for i in set(node.inputs):
            heapq.heappush(heap, (-order[i], i))
    return sorted(members.values(), key=lambda n: order[n.name])


def _row_of(node, graph):
    """What a reduction loops over: ``(input shape, axes)``."""
    return tuple(graph.node(node.inputs[0]).shape), tuple(node.attrs["axes"])


def _fits_row(root, row):
    """Whether a group ending at ``root`` can loop over ``row``: the root is a row's element or the row's value."""
    shape, axes = row
    keep = tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(root.shape) in (tuple(shape), keep)


def _inlined(graph, name, scalar_only=False):
    """A graph constant holding one value, which kernels write as a literal, binding nothing (epilogues inline
    only single-element constants; fused kernels also constants broadcast from one value)."""
    if name in graph.constants and graph.node(name).attrs.get("variable"):  # overwritten by training: stays bound
        return False
    return scalar_value(graph.constants.get(name), broadcast=not scalar_only) is not None

"""Epilogue fusion: fold the elementwise tail of a matmul or convolution into that one kernel.

A dense layer traces to ``matmul → add(bias) → maximum(0)``: three kernels and two round trips through
memory for what one kernel can do while the result is still in registers. ``fuse`` finds such chains:

    %v1 : f32[N,10] = matmul(%x, %w0)              step dense/matmul+add+maximum
    %v2 : f32[N,10] = add(%v1, %b0)          →       anchor %v1, epilogue [%v2, %v3]
    %v3 : f32[N,10] = maximum(%v2, %zero)

Rules (each link must hold, or the chain stops there):

- the anchor is a call whose lowering accepts ``epilogue=`` (the linalg and conv families' matmul/conv);
- the running value has exactly one consumer and is not a graph output (it will never be stored);
- the consumer is elementwise (a unary op, or a binary op whose other operand is a graph constant, such
  as a bias, or the scalar of relu/relu6's maximum/minimum) and keeps the anchor's shape and dtype.

The graph itself is not changed (the CPU backend interprets it unfused); the lowering driver calls
``LOWERINGS[target](node, ctx, epilogue=[nodes...])`` for each anchor and skips the absorbed nodes.
"""
import inspect

from webexport.kernels.common import LOWERINGS

UNARY = frozenset({"neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "erf", "sin", "cos"})
BINARY = frozenset({"add", "sub", "mul", "div", "pow", "maximum", "minimum"})


def fuse(graph, lowerings=None):
    """Find the epilogue chains of ``graph``: ``{anchor_name: [epilogue Node, ...]}`` in execution order.

    Args:
        graph: a ``pyml.graph.Graph``.
        lowerings: the lowering table (default ``webexport.kernels.common.LOWERINGS``); an anchor's
            lowering must take an ``epilogue`` keyword.

    >>> groups = fuse(graph)
    >>> [n.target for n in groups["v1"]]
    ['add', 'maximum']
    """
    lowerings = LOWERINGS if lowerings is None else lowerings
    by_name = graph.nodes_by_name()
    consumers = _consumers(graph)
    groups, absorbed = {}, set()
    for node in graph.nodes:
        if node.op != "call" or node.name in absorbed or not accepts_epilogue(lowerings.get(node.target)):
            continue
        chain, running = [], node
        while len(consumers.get(running.name, ())) == 1:
            reader = consumers[running.name][0]
            if reader is None or not _fusable(by_name[reader], running, node, graph):
                break
            running = by_name[reader]
            chain.append(running)
        if chain:
            groups[node.name] = chain
            absorbed.update(n.name for n in chain)
    return groups


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
    absorbed = {n.name for chain in groups.values() for n in chain}
    lines = []
    for node in graph.nodes:
        if node.op != "call" or node.name in absorbed:
            continue
        nodes = [node] + groups.get(node.name, [])
        lines.append(f"{step_label(graph, nodes)}  " + " ".join(f"%{n.name}" for n in nodes))
    return "\n".join(lines)


def _consumers(graph):
    """Value name → the names of the nodes reading it; a graph output counts as a reader named ``None``."""
    out = {}
    for node in graph.nodes:
        for name in node.inputs:
            out.setdefault(name, []).append(node.name)
    for name in graph.outputs:
        out.setdefault(name, []).append(None)
    return out


def _fusable(candidate, running, anchor, graph):
    if candidate.op != "call":
        return False
    if tuple(candidate.shape) != tuple(anchor.shape) or candidate.dtype != anchor.dtype:
        return False
    if candidate.target in UNARY:
        return list(candidate.inputs) == [running.name]
    if candidate.target in BINARY and len(candidate.inputs) == 2 and candidate.inputs.count(running.name) == 1:
        other = next(i for i in candidate.inputs if i != running.name)
        return other in graph.constants and graph.node(other).dtype == anchor.dtype
    return False

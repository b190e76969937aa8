"""Graph passes: each a pure function graph -> graph (the input graph is never changed).

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.exp(x) + pyml.ops.exp(x), [((None, 3), "float32")])
    >>> print(optimize(graph))
    %x : f32[N,3] = placeholder
    %v1 : f32[N,3] = exp(%x)
    %v3 : f32[N,3] = add(%v1, %v1)
    return %v3

- ``fold_constants``: a call whose inputs are all constants becomes a constant.
- ``eliminate_common_subexpressions``: a call repeating an earlier one (same target, inputs, attrs), or an
  unlabelled constant equal to an earlier one, is replaced by it.
- ``eliminate_dead_code``: nodes that no output depends on are dropped (placeholders always stay: they
  are the graph's signature).
- ``optimize``: the three, repeated until nothing changes.

Weights stay weights: a constant with a ``label`` (a Variable's snapshot) is never folded into another
constant nor merged, so an exported bundle keeps one entry per weight, named by its label, and
``pyml.function`` can keep reading the live Variable.
"""
import json
from dataclasses import replace

import numpy as np

from pyml.graph.ir import Graph, _jsonable

# Folding never grows the constants by more than this many elements per node: a broadcast of a scalar to
# a large shape is cheaper to compute at run time than to ship as weights.
FOLD_GROWTH_LIMIT = 1024


def fold_constants(graph, growth_limit=FOLD_GROWTH_LIMIT):
    """Evaluate call nodes whose inputs are all unlabelled constants, turning them into constants.

    A node is left alone when an input is a labelled constant (a weight), when its shape or attributes
    depend on the batch (``None``), or when its output has more than ``growth_limit`` elements beyond the
    inputs' total (so broadcasting a scalar to a big shape is not folded into a big weight).

    Tracing runs ops on constants eagerly, so such calls come from graphs built or edited by hand:

    >>> from pyml.graph import Node
    >>> graph = Graph([Node("x", "placeholder", (2,), "float32"), Node("c1", "constant", (), "float32"),
    ...                Node("v2", "call", (), "float32", "exp", ["c1"]),
    ...                Node("v3", "call", (2,), "float32", "add", ["x", "v2"])],
    ...               ["x"], ["v3"], {"c1": np.array(0.0, "float32")})
    >>> print(fold_constants(graph))   # exp(0) -> 1 (c1 is now unused: eliminate_dead_code drops it)
    %x : f32[2] = placeholder
    %c1 : f32[] = constant 0.0
    %v2 : f32[] = constant 1.0
    %v3 : f32[2] = add(%x, %v2)
    return %v3
    """
    from pyml.graph.interpreter import Interpreter

    nodes, constants = [], dict(graph.constants)
    index = {n.name: n for n in graph.nodes}
    for node in graph.nodes:
        if not _foldable(node, index, constants, growth_limit):
            nodes.append(node)
            continue
        folded = Interpreter(Graph([index[i] for i in dict.fromkeys(node.inputs)] + [node], [], [node.name],
                                   {i: constants[i] for i in node.inputs})).run()[0]
        constants[node.name] = folded.numpy()
        new = replace(node, op="constant", target=None, inputs=[], attrs={})
        index[node.name] = new
        nodes.append(new)
    return _keep_used_constants(Graph(nodes, list(graph.inputs), list(graph.outputs), constants))


def _foldable(node, index, constants, growth_limit):
    if node.op != "call" or not node.inputs or None in node.shape or _has_none(node.attrs):
        return False
    sources = [index[i] for i in node.inputs]
    if any(s.op != "constant" or "label" in s.attrs for s in sources):
        return False
    size_in = sum(int(np.prod(constants[s.name].shape)) for s in sources)
    return int(np.prod(node.shape)) <= size_in + growth_limit


def _has_none(value):
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_none(v) for v in value)
    return value is None


def eliminate_dead_code(graph):
    """Drop nodes that no graph output depends on. Placeholders stay: they are the graph's inputs.

    >>> graph = pyml.graph.trace(lambda x: [pyml.ops.exp(x), pyml.ops.tanh(x)][1], [((None, 3), "float32")])
    >>> print(eliminate_dead_code(graph))   # exp(x) is traced, but nothing reads it
    %x : f32[N,3] = placeholder
    %v2 : f32[N,3] = tanh(%x)
    return %v2
    """
    live = set(graph.outputs) | set(graph.inputs)
    for node in reversed(graph.nodes):
        if node.name in live:
            live.update(node.inputs)
    nodes = [n for n in graph.nodes if n.name in live or n.op == "placeholder"]
    return _keep_used_constants(Graph(nodes, list(graph.inputs), list(graph.outputs), dict(graph.constants)))


def eliminate_common_subexpressions(graph):
    """Replace each call that repeats an earlier call (same target, inputs and attrs), and each unlabelled
    constant equal to an earlier one (same dtype, shape and bytes), by that earlier node.

    Primitives are pure (no random or stateful primitive is registered), so equal calls give equal values.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.exp(x) + pyml.ops.exp(x), [((None, 3), "float32")])
    >>> print(eliminate_common_subexpressions(graph))   # exp(x) + exp(x)  ->  v1 + v1
    %x : f32[N,3] = placeholder
    %v1 : f32[N,3] = exp(%x)
    %v3 : f32[N,3] = add(%v1, %v1)
    return %v3
    """
    seen, rename, nodes = {}, {}, []
    for node in graph.nodes:
        inputs = [rename.get(i, i) for i in node.inputs]
        node = replace(node, inputs=inputs) if inputs != node.inputs else node
        key = _cse_key(node, graph.constants)
        if key is not None and key in seen:
            rename[node.name] = seen[key]
            continue
        if key is not None:
            seen[key] = node.name
        nodes.append(node)
    outputs = [rename.get(o, o) for o in graph.outputs]
    return _keep_used_constants(Graph(nodes, list(graph.inputs), outputs, dict(graph.constants)))


def _cse_key(node, constants):
    if node.op == "call":
        return ("call", node.target, tuple(node.inputs), json.dumps(_jsonable(node.attrs), sort_keys=True))
    if node.op == "constant" and "label" not in node.attrs:
        array = np.ascontiguousarray(constants[node.name])
        return ("constant", node.dtype, tuple(node.shape), array.tobytes())
    return None


def optimize(graph, max_rounds=10):
    """Fold constants, eliminate common subexpressions and dead code, until the graph stops changing.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.exp(x) + pyml.ops.exp(x), [((None, 3), "float32")])
    >>> len(graph.nodes), len(optimize(graph).nodes)
    (4, 3)
    """
    for _ in range(max_rounds):
        new = eliminate_dead_code(eliminate_common_subexpressions(fold_constants(graph)))
        if _same(new, graph):
            return new
        graph = new
    return graph


def _same(a, b):
    return a.nodes == b.nodes and a.outputs == b.outputs and a.constants.keys() == b.constants.keys()


def _keep_used_constants(graph):
    """``graph`` with ``constants`` restricted to its constant nodes (arrays shared, never copied)."""
    names = {n.name for n in graph.nodes if n.op == "constant"}
    graph.constants = {k: v for k, v in graph.constants.items() if k in names}
    return graph

"""Exact rewrites of traced training steps: the same values, computed with less memory and fewer passes.

Each is a pure function graph -> graph (like ``pyml.graph.passes``), and each keeps every value bit for bit
(NaN, infinities and signed zeros included), so a compiled step stays equal to the eager one:

- ``relu_masks_from_outputs``: relu's gradient tests its input, ``x <= 0`` (``greater_equal(0, x)``); the
  same test on its output ``maximum(0, x) <= 0`` is true exactly when it is (NaN included), and lets the
  input die at the relu, which can then run in place.
- ``pool_relu_gradients``: relu followed by max pooling, backwards, masks the gradient where the relu output
  is not positive *after* routing it to the input's shape; masking the pooled gradient by the pooled output
  instead touches a quarter of the elements (2x2 pooling) and gives the same values.

    >>> step = pyml.graph.trace(lambda x: pyml.ops.relu(x) * 2.0, [((4,), "float32")])
    >>> rewrite_training_step(step).nodes == step.nodes   # nothing to rewrite without a gradient
    True
"""
from dataclasses import replace

import numpy as np

from pyml.graph.ir import Graph, Node


def rewrite_training_step(graph):
    """Every rewrite of this module, in order (run ``pyml.graph.optimize`` after, to merge what they share)."""
    return pool_relu_gradients(relu_masks_from_outputs(graph))


def relu_masks_from_outputs(graph):
    """``greater_equal(c, x)`` becomes ``greater_equal(c, m)`` where ``m = maximum(c, x)`` is made before it,
    for a scalar constant ``c``: ``x <= c`` exactly when ``max(c, x) <= c`` (both false for NaN).

    >>> from pyml import ops
    >>> def relu_step(x):
    ...     with pyml.GradientTape() as tape:
    ...         tape.watch(x)
    ...         y = ops.sum(ops.relu(x))
    ...     return tape.gradient(y, x)
    >>> graph = pyml.graph.trace(relu_step, [((3,), "float32")])
    >>> [n.inputs for n in relu_masks_from_outputs(graph).nodes if n.target == "greater_equal"]
    [['c1', 'v2']]
    """
    maxima, nodes = {}, []
    for node in graph.nodes:
        if _is_call(node, "maximum"):
            value = _scalar(graph, node.inputs[0])
            if value is not None:
                maxima[(value, node.inputs[1])] = node.name
        if _is_call(node, "greater_equal"):
            value = _scalar(graph, node.inputs[0])
            output = maxima.get((value, node.inputs[1])) if value is not None else None
            if output is not None:
                node = replace(node, inputs=[node.inputs[0], output])
        nodes.append(node)
    return Graph(nodes, list(graph.inputs), list(graph.outputs), dict(graph.constants))


def pool_relu_gradients(graph):
    """``where(greater_equal(c, h), 0, max_pool_grad(h, g))`` becomes
    ``max_pool_grad(h, where(greater_equal(c, max_pool(h)), 0, g))`` (``c`` a scalar constant, ``0`` a +0.0
    constant, the same pooling attributes): the element window ``o`` routes ``g[o]`` to is its maximum, so
    testing the maximum tests that element. Elements no window picks are +0.0 either way."""
    nodes = graph.nodes_by_name()
    consumers = {}
    for node in graph.nodes:
        for name in node.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    out = []
    for node in graph.nodes:
        match = _pool_relu_match(graph, nodes, consumers, node)
        if match is None:
            out.append(node)
            continue
        constant, zero, h, g, attrs = match
        pooled = nodes[g].shape
        dtype = nodes[h].dtype
        out += [Node(f"{node.name}_pooled", "call", pooled, dtype, "max_pool", [h], dict(attrs)),
                Node(f"{node.name}_mask", "call", pooled, "bool", "greater_equal", [constant, f"{node.name}_pooled"]),
                Node(f"{node.name}_g", "call", pooled, dtype, "where", [f"{node.name}_mask", zero, g]),
                Node(node.name, "call", node.shape, node.dtype, "max_pool_grad", [h, f"{node.name}_g"], dict(attrs))]
    return Graph(out, list(graph.inputs), list(graph.outputs), dict(graph.constants))


def _pool_relu_match(graph, nodes, consumers, node):
    """``(c, zero, h, g, pooling attrs)`` when ``node`` is the pattern ``pool_relu_gradients`` rewrites."""
    if not _is_call(node, "where"):
        return None
    condition, zero, routed = (nodes[name] for name in node.inputs)
    if not (_is_call(condition, "greater_equal") and _is_call(routed, "max_pool_grad")):
        return None
    constant, h = condition.inputs
    if _scalar(graph, constant) is None or not _is_positive_zero(graph, zero.name) or routed.inputs[0] != h:
        return None
    if consumers.get(routed.name) != 1:  # the routed gradient is needed as it is elsewhere: nothing to save
        return None
    return constant, zero.name, h, routed.inputs[1], routed.attrs


def _is_call(node, target):
    return node.op == "call" and node.target == target


def _scalar(graph, name):
    """``(dtype, bytes)`` of a one-element constant, else None."""
    value = graph.constants.get(name)
    if value is None or np.size(value) != 1:
        return None
    value = np.asarray(value)
    return value.dtype.str, value.tobytes()


def _is_positive_zero(graph, name):
    value = _scalar(graph, name)
    return value is not None and not any(value[1])

"""The dynamic batch: one graph with ``None`` for the batch, merged from traces at two batch sizes (internals.md §3).

A function traced with ``None`` at axis 0 of an input runs twice, at batch 2 and 3 (``trace.BATCHES``), and the
two graphs are merged node for node. A dim that differs must be axis 0 and equal the batch (it becomes ``None``);
an attribute entry that differs must equal the batch (``reshape``'s ``(None, 64)``); anything else depends on the
batch in a way export cannot express, and is an error naming the node. So that every value keeps the batch on
axis 0 (the runtimes size buffers and dispatches by ``bytes_per_batch * batch``), and so that numbers computed
from the batch size are computed at run time, the merge makes three repairs, each exact:

- **batch-filled constants**: ops whose inputs are all concrete run eagerly while tracing, so ``ones_like(x)``
  arrives as a batch-sized constant; one whose rows are all equal becomes ``broadcast_to(row, (None, ...))``.
- **transposed operands**: a backward pass's weight gradient ``xᵀ @ dy`` moves the batch to the transposed
  value's last axis; ``matmul(transpose(x), dy)`` becomes ``matmul(x, dy, transpose_a=True)`` (the same
  product, read transposed), which contracts over the batch and leaves no value with the batch off axis 0.
- **batch-derived numbers**: a loss averaged over the batch divides by a constant 2 or 3; BatchNormalization's
  statistics by ``2 * H * W``; their gradients scale by ``1/2`` or ``1/3``. A constant that is ``k * batch`` or
  ``k / batch`` at both sizes (``k`` the same, a number or a row repeated along the batch) becomes
  ``mul(k, n)`` or ``div(k, n)`` with ``n = sum(broadcast_to(1, (None,)))``: the batch size, counted at run time
  by ops every runtime has.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.sum(x) / x.shape[0], [((None, 3), "float32")])
    >>> print(graph)
    %x : f32[N,3] = placeholder
    %v1 : f32[] = sum(%x, axes=(0, 1), keepdims=False)
    %c2_one : f32[1] = constant [1.0]
    %c2_ones : f32[N] = broadcast_to(%c2_one, shape=(None,))
    %c2_batch : f32[] = sum(%c2_ones, axes=(0,), keepdims=False)
    %c2_k : f32[] = constant 1.0
    %c2 : f32[] = mul(%c2_k, %c2_batch)
    %v3 : f32[] = div(%v1, %c2)
    return %v3
"""
from dataclasses import replace

import numpy as np

from pyml.graph.ir import Graph, Node
from pyml.graph.trace import TraceError

SCALE_RTOL = 1e-6  # how closely a batch-derived constant must scale (float32 rounding of k / 3)


def merge_batch_traces(first, second, batches):
    """One ``TraceResult`` with ``None`` for the batch, from traces at ``batches[0]`` and ``batches[1]``."""
    a, b = first.graph, second.graph
    if [n.name for n in a.nodes] != [n.name for n in b.nodes] or first.structure != second.structure:
        raise TraceError("trace", f"tracing at batch {batches[0]} and {batches[1]} gave different graphs "
                                  f"({len(a.nodes)} and {len(b.nodes)} nodes): the function's Python control "
                                  "flow depends on the batch size, which export cannot express")
    a, b = fold_transposed_operands(a, b)
    users = {}
    for node in a.nodes:
        for value in node.inputs:
            users.setdefault(value, node)
    nodes, constants, counts = [], dict(a.constants), {}
    for x, y in zip(a.nodes, b.nodes):
        p, q = a.constants.get(x.name), b.constants.get(y.name)
        repaired = _batch_fill(x, p, q, batches, constants) or _batch_scaled(x, p, q, batches, counts, nodes, constants)
        if repaired is None:
            nodes.append(_merge_node(x, y, a, b, users, batches))
            continue
        nodes += repaired
        del constants[x.name]
    if a.outputs != b.outputs:
        raise TraceError("trace", f"the outputs differ between batch {batches[0]} ({a.outputs}) and "
                                  f"{batches[1]} ({b.outputs})")
    return first._replace(graph=Graph(nodes, list(a.inputs), list(a.outputs), constants))


# ---- repairs ---------------------------------------------------------------------------------------------
def fold_transposed_operands(a, b):
    """``(a, b)`` with each ``matmul(transpose(x), y)`` whose transpose moves the batch off axis 0 (its shapes
    differ between the traces past axis 0) made ``matmul(x, y, transpose_a=True)``, when that transpose swaps
    the last two axes and only matmuls read it, as their first operand."""
    readers = {}
    for node in a.nodes:
        for i, value in enumerate(node.inputs):
            readers.setdefault(value, []).append((node, i))
    folded = {}
    for x, y in zip(a.nodes, b.nodes):
        if x.op != "call" or x.target != "transpose" or x.name in a.outputs:
            continue
        n = len(x.shape)
        if n < 2 or tuple(x.attrs.get("perm", ())) != tuple(range(n - 2)) + (n - 1, n - 2):
            continue
        if all(p == q for p, q in zip(x.shape[1:], y.shape[1:])):
            continue  # the batch (if any) stays on axis 0: nothing to repair
        if all(r.target == "matmul" and i == 0 and r.inputs[1] != x.name and not r.attrs.get("transpose_a")
               for r, i in readers.get(x.name, [])):
            folded[x.name] = x.inputs[0]
    if not folded:
        return a, b

    def fold(graph):
        nodes = []
        for node in graph.nodes:
            if node.name in folded:
                continue
            if node.op == "call" and node.target == "matmul" and node.inputs[0] in folded:
                node = replace(node, inputs=[folded[node.inputs[0]], node.inputs[1]],
                               attrs={**node.attrs, "transpose_a": True})
            nodes.append(node)
        return Graph(nodes, list(graph.inputs), list(graph.outputs), dict(graph.constants))

    return fold(a), fold(b)


def _batch_fill(node, p, q, batches, constants):
    """``[row constant, broadcast_to]`` for a batch-sized constant whose rows are all equal, or None."""
    if node.op != "constant" or "label" in node.attrs or not node.shape or (p.shape[0], q.shape[0]) != batches:
        return None
    if p.shape[1:] != q.shape[1:] or p.dtype != q.dtype or not (np.all(p == p[:1]) and np.all(q == p[:1])):
        return None
    row = f"{node.name}_row"
    constants[row] = p[:1].copy()
    return [Node(row, "constant", (1,) + tuple(node.shape[1:]), node.dtype), _broadcast_rows(node.name, row, node)]


def _batch_scaled(node, p, q, batches, counts, nodes, constants):
    """The nodes computing ``k * n`` or ``k / n`` (``n`` the batch size at run time) for a constant that scales
    so between the traces, or None. ``k`` is a constant of the node's shape, or a row broadcast along a batch
    axis 0. The count ``n`` is made once per dtype (``counts``), before the first constant that needs it."""
    if node.op != "constant" or "label" in node.attrs or p is None or p.dtype != q.dtype or p.dtype.kind not in "fi":
        return None
    along = bool(node.shape) and (p.shape[0], q.shape[0]) == batches and p.shape[1:] == q.shape[1:]
    if along:
        if not (np.all(p == p[:1]) and np.all(q == q[:1])):
            return None
        p, q = p[:1], q[:1]
    elif p.shape != q.shape:
        return None
    wide_p, wide_q = p.astype(np.float64), q.astype(np.float64)
    if not np.any(wide_p):
        return None
    for op, k, scaled in (("mul", wide_p / batches[0], wide_q / batches[1]),
                          ("div", wide_p * batches[0], wide_q * batches[1])):
        if p.dtype.kind == "i" and (op == "div" or not np.array_equal(k, np.round(k))):
            continue
        if np.allclose(scaled, k, rtol=SCALE_RTOL, atol=0):
            break
    else:
        return None
    made = []
    count = counts.get(p.dtype.name)
    if count is None:
        count = counts[p.dtype.name] = f"{node.name}_batch"
        one = f"{node.name}_one"
        constants[one] = np.ones((1,), p.dtype)
        made += [Node(one, "constant", (1,), node.dtype),
                 Node(f"{node.name}_ones", "call", (None,), node.dtype, "broadcast_to", [one], {"shape": (None,)}),
                 Node(count, "call", (), node.dtype, "sum", [f"{node.name}_ones"], {"axes": (0,), "keepdims": False})]
    k_name = f"{node.name}_k"
    constants[k_name] = k.astype(p.dtype)
    made.append(Node(k_name, "constant", tuple(k.shape), node.dtype))
    shape = tuple(node.shape)
    if along:
        shape = (None,) + shape[1:]
        made.append(_broadcast_rows(f"{node.name}_rows", k_name, node))
        k_name = f"{node.name}_rows"
    made.append(Node(node.name, "call", shape, node.dtype, op, [k_name, count]))
    return made


def _broadcast_rows(name, row, node):
    shape = (None,) + tuple(node.shape[1:])
    return Node(name, "call", shape, node.dtype, "broadcast_to", [row], {"shape": shape})


# ---- node by node --------------------------------------------------------------------------------------------
def _batch_error(node, detail, batches, hint=""):
    return TraceError(node.target or node.op,
                      f"{node} {detail} at batch {batches[0]} and {batches[1]}{hint}: it depends on the batch size in "
                      "a way export cannot express (only axis 0 of a value, an attribute entry equal to the batch, "
                      "or a constant k * batch or k / batch may vary with it)")


def _merge_node(x, y, graph_a, graph_b, users, batches):
    if (x.op, x.target, x.inputs, x.dtype, len(x.shape)) != (y.op, y.target, y.inputs, y.dtype, len(y.shape)):
        raise TraceError(x.target or x.op, f"node %{x.name} is `{x}` at batch {batches[0]} but `{y}` at batch "
                                           f"{batches[1]}: the function's Python control flow depends on the "
                                           "batch size")
    shape = []
    for axis, (p, q) in enumerate(zip(x.shape, y.shape)):
        if p == q:
            shape.append(p)
        elif axis == 0 and (p, q) == batches:
            shape.append(None)
        else:
            raise _batch_error(x, f"has shape {x.shape} and {y.shape}", batches,
                               hint=" (the batch off axis 0: only a transpose that matmuls read as their first "
                                    "operand is repaired)" if batches[0] in x.shape[1:] else "")
    if x.op == "constant":
        p, q = graph_a.constants[x.name], graph_b.constants[y.name]
        if p.shape != q.shape or p.dtype != q.dtype or not np.array_equal(p, q, equal_nan=p.dtype.kind == "f"):
            user = users.get(x.name)
            used = f"(used by {user}) " if user is not None else ""
            shown = f"{p.tolist()} and {q.tolist()}" if p.size <= 8 and q.size <= 8 else "different values"
            raise _batch_error(x, f"{used}holds {shown}", batches,
                               hint=" (a number computed from a shape, like x.shape[0] - 1, or a random value drawn "
                                    "while tracing?)")
    attrs = {}
    for key in x.attrs:
        if key not in y.attrs:
            raise _batch_error(x, f"has attribute {key!r} only", batches)
        attrs[key] = _merge_attr(x.attrs[key], y.attrs[key], x, key, batches, top=True)
    return Node(x.name, x.op, tuple(shape), x.dtype, x.target, list(x.inputs), attrs)


def _merge_attr(p, q, node, key, batches, top=False):
    if isinstance(p, (list, tuple)) and isinstance(q, (list, tuple)) and len(p) == len(q):
        return type(p)(_merge_attr(u, v, node, key, batches) for u, v in zip(p, q))
    if type(p) is type(q) and p == q:
        return p
    if not top and isinstance(p, int) and (p, q) == batches:
        return None  # an entry equal to the batch, such as reshape's shape (None, 64)
    raise _batch_error(node, f"has {key}={p!r} and {key}={q!r}", batches)

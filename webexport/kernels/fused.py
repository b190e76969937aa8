"""Fused kernels: one dispatch for a group of nodes that webexport/fusion.py found (fused.wgsl.j2).

A group is a DAG of elementwise nodes, optionally with reductions (``sum max min mean``, float32) that
all reduce the same axes ``A`` of one shape ``S``, the group's *space*. Each invocation (or, for long
rows, each workgroup) handles one *row*: the elements of ``S`` sharing their coordinates outside ``A``.
Every node is computed at one of two levels, read off its shape:

- *row level*, when the shape is 1 on every axis of ``A``: one value per row (a reduction's result,
  ``var + eps``), computed once, in graph order, after the passes it depends on;
- *element level*: computed inside a loop over the row, in each loop that needs it.

Each reduction is one pass over the row, computing the element-level nodes its input needs; when the
group's output is element level a last pass writes it. Softmax ``max → sub → exp → sum → div`` runs
three passes (``m = max(x)``; ``s = sum(exp(x - m))``; write ``exp(x - m) / s``), layer norm three
(``mean(x)``; ``mean((x - m)²)``; write ``(x - m) / sqrt(v + eps) * gamma + beta``). A group without
reductions has ``A = ()``, so a row is one element: the kernel evaluates the whole DAG per output element.

Leaves (values the group reads but does not compute) are read with numpy broadcasting from the element's
coordinates in ``S``; scalar graph constants are inlined as literals. Arithmetic comes from
``elementwise.expression``, so a fused node computes exactly what its own kernel would. One invocation
per row sums sequentially, in the unfused reduction kernel's order; a workgroup per row (rows of at
least ``COOPERATIVE_MIN`` elements) sums per invocation and then as a tree. Max and min combine with the
prelude's ``maximum_f32``/``minimum_f32``, so a row holding NaN reduces to NaN as in numpy (and a softmax
over it is NaN throughout) whichever way WGSL's own ``max`` treats NaN.

    >>> kernel = fused_kernel([graph.node(n) for n in ("v11", "v12", "v13", "v14", "v15")], ctx)  # softmax
    >>> kernel.inputs, kernel.outputs, kernel.threads
    (['v10'], ['v15'], (1, 0))
"""
import numpy as np

from webexport.kernels.common import WORKGROUP_SIZE, ExportError, Kernel, bindings, literal, numel, render, \
    scalar_constant, threads
from webexport.kernels.elementwise import expression
from webexport.kernels.epilogue import broadcast_offset
from webexport.kernels.reduction import _split as row_terms

REDUCTIONS = ("sum", "max", "min", "mean")
COOPERATIVE_MIN = 128  # rows at least this long get a workgroup each
COOPERATIVE_SIZE = 64  # invocations per row then (a power of two: the tree halves it)


def fused_kernel(nodes, ctx):
    """The Kernel computing the group ``nodes`` (graph order; the last is the value written).

    Raises:
        ExportError: when the nodes are not a group this family computes (reductions over different
            axes or shapes, or non-float32 reductions), naming the node.
    """
    out = nodes[-1]
    space, axes = _space(nodes, ctx)
    members = {n.name: f"t{k}" for k, n in enumerate(nodes)}
    # A reduction is row level even without keepdims (then it can only be the output: see _space).
    is_row = {n.name: n.target in REDUCTIONS or _row_level(ctx.spec(n.name).shape, space, axes) for n in nodes}
    if not is_row[out.name] and tuple(ctx.spec(out.name).shape) != space:
        raise ExportError(f"fused group ending at %{out.name}: its output must have the shape it is computed over, "
                          f"{list(space)}. Received: {list(ctx.spec(out.name).shape)}")
    leaves = _leaves(nodes, members, ctx, space, axes)
    bound = [name for name, leaf in leaves.items() if "binding" in leaf]
    variables = {**members, **{name: leaf["var"] for name, leaf in leaves.items()}}
    by_name = {n.name: n for n in nodes}

    def loop_body(target):
        """Loads and lets (element level, topological) computing ``target`` at element ``idx``."""
        loads, lets, seen = [], [], set()

        def visit(name):
            if name in seen:
                return
            seen.add(name)
            if name in leaves and not leaves[name]["row"] and "binding" in leaves[name]:
                loads.append(_load(leaves[name], ctx.spec(name).shape, "idx", space))
            elif name in members and not is_row[name]:
                node = by_name[name]
                for i in node.inputs:
                    visit(i)
                lets.append({"var": members[name], "expr": expression(node, [variables[i] for i in node.inputs], ctx)})

        visit(target)
        return {"loads": loads, "lets": lets, "value": variables[target]}

    blocks = []  # the row-level work in graph order: passes over the row, and lets between them
    for node in nodes:
        if node.target in REDUCTIONS:
            blocks.append({"kind": "reduce", "op": node.target, "var": members[node.name], "acc": f"a{len(blocks)}",
                           **loop_body(node.inputs[0])})
        elif is_row[node.name]:
            args = [variables[i] for i in node.inputs]
            blocks.append({"kind": "let", "var": members[node.name], "expr": expression(node, args, ctx)})
    cooperative = bool(axes) and None not in [space[a] for a in axes] \
        and int(np.prod([space[a] for a in axes])) >= COOPERATIVE_MIN
    keep = tuple(1 if k in axes else d for k, d in enumerate(space))
    kept, reduced = _row_terms(space, axes)
    size = COOPERATIVE_SIZE if cooperative else WORKGROUP_SIZE
    per_batch, fixed = threads(keep)
    wgsl = render(
        "fused.wgsl.j2", label="fused " + "+".join(n.target for n in nodes), workgroup_size=size,
        bindings=bindings(ctx, bound, [out.name]), cooperative=cooperative, rows=numel(keep), kept=kept,
        reduced=reduced, count=numel(tuple(space[a] for a in axes)),
        loads=[_load(leaf, ctx.spec(name).shape, "base", space)
               for name, leaf in leaves.items() if leaf["row"] and "binding" in leaf],
        blocks=blocks, write=None if is_row[out.name] else loop_body(out.name), result=members[out.name],
        lowest=literal(-np.inf, "float32"), highest=literal(np.inf, "float32"),
    )
    scale = size if cooperative else 1
    return Kernel(wgsl=wgsl, inputs=bound, outputs=[out.name], threads=(per_batch * scale, fixed * scale),
                  label=f"{out.name}/" + "+".join(n.target for n in nodes), workgroup_size=size,
                  nodes=[n.name for n in nodes])


def _space(nodes, ctx):
    """``(S, A)``: the shape the group loops over and the axes its reductions reduce (``()`` if none)."""
    reductions = [n for n in nodes if n.target in REDUCTIONS]
    if not reductions:
        return tuple(ctx.spec(nodes[-1].name).shape), ()
    first = reductions[0]
    space, axes = tuple(ctx.spec(first.inputs[0]).shape), tuple(first.attrs["axes"])
    for node in reductions:
        source = ctx.spec(node.inputs[0])
        if tuple(source.shape) != space or tuple(node.attrs["axes"]) != axes:
            raise ExportError(f"node %{node.name} ({node.target}): a fused group reduces one set of axes of one shape, "
                              f"axes {list(axes)} of {list(space)}. Received: axes {list(node.attrs['axes'])} of "
                              f"{list(source.shape)}")
        if not node.attrs.get("keepdims") and node is not nodes[-1]:
            raise ExportError(f"node %{node.name} ({node.target}): inside a fused group a reduction keeps its axes "
                              f"(keepdims=True), so row values broadcast over the row. Received: keepdims=False")
        if source.dtype != "float32" or node.dtype != "float32":
            raise ExportError(f"node %{node.name} ({node.target}): fused reductions are float32. "
                              f"Received: {source.dtype} -> {node.dtype}")
    return space, axes


def _row_terms(space, axes):
    """How row ``o`` and loop step ``r`` place an element in ``space``: ``(kept, reduced)`` terms as in
    reduction.wgsl.j2 (``kept`` None: no reduction, row o is element o). Reducing the trailing static axes
    (softmax, layer norm), rows are contiguous: the element is ``o * count + r``."""
    if not axes:
        return None, []
    trailing = axes == tuple(range(len(space) - len(axes), len(space)))
    if trailing and 0 not in axes:
        count = int(np.prod([space[a] for a in axes]))
        return [{"div": 1, "mod": None, "stride": count}], [{"div": 1, "mod": None, "stride": 1}]
    return row_terms(space, axes)


def _row_level(shape, space, axes):
    """True when a value of ``shape`` (broadcast to ``space`` from the right) has one value per row."""
    lead = len(space) - len(shape)
    return all(shape[a - lead] == 1 for a in axes if a >= lead)


def _leaves(nodes, members, ctx, space, axes):
    """Every value the group reads but does not compute, in first-use order: ``{name: leaf}``, where a leaf
    is ``{"var", "row", "binding"}`` (bound as ``in{k}``) or ``{"var": literal, "row": True}`` (inlined)."""
    leaves = {}
    for node in nodes:
        for name in node.inputs:
            if name in members or name in leaves:
                continue
            scalar = scalar_constant(ctx, name)
            if scalar is not None:
                leaves[name] = {"var": literal(scalar, ctx.spec(name).dtype), "row": True}
                continue
            k = sum("binding" in leaf for leaf in leaves.values())
            leaves[name] = {"var": f"x{k}", "binding": f"in{k}", "row": _row_level(ctx.spec(name).shape, space, axes)}
    return leaves


def _load(leaf, shape, index, space):
    """``let {var} = {binding}[offset]``: a leaf of ``shape`` at the element of ``space`` whose flat index is
    ``index`` (numpy broadcasting: the leaf's size-1 and missing axes are not indexed)."""
    shape = tuple(shape)
    if shape == space:
        offset = index
    elif all(d == 1 for d in shape):
        offset = "0u"
    else:
        offset = broadcast_offset(index, space, shape)
    return {"var": leaf["var"], "binding": leaf["binding"], "offset": offset}

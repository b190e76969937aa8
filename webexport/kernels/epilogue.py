"""Fused epilogues: the elementwise nodes a matmul or convolution kernel applies to each result before storing
it (webexport/fusion.py finds them; the matmul, conv and fused families emit them).

``epilogue_code`` turns the nodes into WGSL ``let`` steps over the kernel's accumulator; their other operands
are inlined (single-element constants) or bound and read with numpy broadcasting from the output coordinates
(``broadcast_offset``), so a fused node computes exactly what its own elementwise kernel would.

    >>> code = epilogue_code(matmul_node, ctx, [add_node, relu_node], first_binding=2)
    >>> code["inputs"], [s["expr"] for s in code["steps"]]
    (['b0'], ['(v + in2[(idx % 10u) * 1u])', 'max(e0, 0.0f)'])
"""
from webexport.kernels.common import MAX_STORAGE_BUFFERS, ExportError, literal, scalar_constant, strides


def broadcast_offset(index, out_shape, operand_shape):
    """WGSL u32 expression: the element offset in an operand of ``operand_shape`` (broadcastable to
    ``out_shape``, aligned from the right) of the output element at flat index ``index``."""
    lead = len(out_shape) - len(operand_shape)
    out_strides, op_strides = strides(out_shape), strides(operand_shape)
    terms = []
    for axis, size in enumerate(operand_shape):
        out_axis = axis + lead
        if size == 1:
            continue
        if size is None and out_axis != 0:
            raise ExportError(f"a batch-sized operand of shape {list(operand_shape)} does not align with the batch "
                              f"axis of the output {list(out_shape)}")
        coord = f"({index} / {out_strides[out_axis]}u)"
        if out_axis > 0:
            coord = f"({coord} % {int(out_shape[out_axis])}u)"
        terms.append(f"{coord} * {op_strides[axis]}u")
    return " + ".join(terms) or "0u"


def epilogue_code(node, ctx, epilogue, first_binding, index="idx", value="v", column=None):
    """How a kernel computing ``node`` applies its fused ``epilogue`` to the value ``value`` of output ``index``.

    Returns a dict: ``inputs`` (extra value names to bind, from ``in{first_binding}`` on), ``steps``
    (``[{var, expr}]``: WGSL ``let`` statements in order), ``result`` (the expression to store),
    ``output`` (the value name the kernel writes) and ``nodes`` (the names it computes). The epilogue is in
    graph order and may be a DAG: a step reads the result of ``node`` or of any earlier step (GELU reads it twice).

    With ``column`` (a WGSL expression: the output's last-axis coordinate), operands that vary along the last
    axis only (a bias) are read at ``column`` by ``column_loads`` (``[{var, expr}]``), which a kernel storing
    several rows of one column emits once for them all; without it, ``column_loads`` is empty.
    """
    out_shape = ctx.spec(node.name).shape
    extra, steps, column_loads = [], [], []
    computed = {node.name: value}  # value name -> the WGSL variable holding it
    for k, step in enumerate(epilogue):
        if tuple(ctx.spec(step.name).shape) != tuple(out_shape):
            raise ExportError(f"node %{step.name} ({step.target}): an epilogue of %{node.name} must keep its shape "
                              f"{list(out_shape)}. Received: {list(ctx.spec(step.name).shape)}")
        args = []
        for name in step.inputs:
            if name in computed:
                args.append(computed[name])
                continue
            scalar = scalar_constant(ctx, name, broadcast=False)  # broadcast constants are bound, as fusion counts
            if scalar is not None:
                args.append(literal(scalar, ctx.spec(name).dtype))
                continue
            if name not in extra:
                extra.append(name)
            shape = tuple(ctx.spec(name).shape)
            binding = f"in{first_binding + extra.index(name)}"
            if column is not None and shape and shape[-1] == out_shape[-1] and all(d == 1 for d in shape[:-1]):
                var = f"c{extra.index(name)}"
                if var not in [load["var"] for load in column_loads]:
                    column_loads.append({"var": var, "expr": f"{binding}[{column}]"})
                args.append(var)
                continue
            args.append(f"{binding}[{broadcast_offset(index, out_shape, shape)}]")
        var = f"e{k}"
        steps.append({"var": var, "expr": _expression(step, args, ctx)})
        computed[step.name] = var
    if first_binding + len(extra) + 1 > MAX_STORAGE_BUFFERS:
        raise ExportError(f"node %{node.name} ({node.target}): with its epilogue the kernel would bind "
                          f"{first_binding + len(extra) + 1} storage buffers; WebGPU guarantees {MAX_STORAGE_BUFFERS}. "
                          f"Received: epilogue operands {extra}")
    output = epilogue[-1].name if epilogue else node.name
    return {"inputs": extra, "steps": steps, "result": computed[output], "output": output,
            "nodes": [node.name] + [step.name for step in epilogue], "column_loads": column_loads}


def _expression(node, args, ctx):
    from webexport.kernels.elementwise import expression  # late: only fused kernels need the elementwise family

    return expression(node, args, ctx)

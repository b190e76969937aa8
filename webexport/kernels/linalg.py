"""WGSL lowering of ``matmul`` (linalg.wgsl.j2), and the fused-epilogue helper the conv family shares.

matmul is tiled: each workgroup of 256 invocations computes one ``BM x BN`` tile of one batch matrix,
staging ``BM x BK`` and ``BK x BN`` slices of the operands in workgroup memory; each invocation keeps a
``TM x TN`` block of accumulators in registers. Two configurations, picked per shape:

- ``16 x 16`` tiles, one output per invocation: small outputs (a dense layer's ``(batch, 10)``);
- ``64 x 64`` tiles, ``4 x 4`` outputs per invocation: when both ``M`` and ``N`` reach 64.

The tile a workgroup computes comes from its workgroup id (uniform, so the early return for surplus
workgroups leaves the barriers in uniform control flow). ``threads`` asks for at least ``256 * tiles``
invocations, also when ``M`` is the dynamic batch: ``ceil(B / BM) * BM <= B + BM - 1``, linear in ``B``.

Epilogue fusion (webexport/fusion.py): ``epilogue`` is a list of elementwise graph nodes applied in order
to each result before it is stored; their other operands are inlined (scalar constants) or read with
broadcasting from the output coordinates. The kernel then writes the last epilogue node's value.
"""
import numpy as np

from webexport.kernels.common import MAX_STORAGE_BUFFERS, ExportError, Kernel, bindings, dim, literal, lowering, \
    numel, render, scalar_constant, strides

WORKGROUP = 256
CONFIGS = {"small": dict(bm=16, bn=16, bk=16, tm=1, tn=1), "large": dict(bm=64, bn=64, bk=16, tm=4, tn=4)}
ACCUMULATORS = {"float32": ("f32", "0.0f"), "int32": ("i32", "0i")}


# ---- fused epilogues (shared with conv.py) -----------------------------------------------------------
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


def epilogue_code(node, ctx, epilogue, first_binding, index="idx", value="v"):
    """How a kernel computing ``node`` applies its fused ``epilogue`` to the value ``value`` of output ``index``.

    Returns a dict: ``inputs`` (extra value names to bind, from ``in{first_binding}`` on), ``steps``
    (``[{var, expr}]``: WGSL ``let`` statements in order), ``result`` (the expression to store),
    ``output`` (the value name the kernel writes) and ``nodes`` (the names it computes). The epilogue is in
    graph order and may be a DAG: a step reads the result of ``node`` or of any earlier step (GELU reads it twice).
    """
    out_shape = ctx.spec(node.name).shape
    extra, steps = [], []
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
            offset = broadcast_offset(index, out_shape, ctx.spec(name).shape)
            args.append(f"in{first_binding + extra.index(name)}[{offset}]")
        var = f"e{k}"
        steps.append({"var": var, "expr": _expression(step, args, ctx)})
        computed[step.name] = var
    if first_binding + len(extra) + 1 > MAX_STORAGE_BUFFERS:
        raise ExportError(f"node %{node.name} ({node.target}): with its epilogue the kernel would bind "
                          f"{first_binding + len(extra) + 1} storage buffers; WebGPU guarantees {MAX_STORAGE_BUFFERS}. "
                          f"Received: epilogue operands {extra}")
    output = epilogue[-1].name if epilogue else node.name
    return {"inputs": extra, "steps": steps, "result": computed[output], "output": output,
            "nodes": [node.name] + [step.name for step in epilogue]}


def _expression(node, args, ctx):
    from webexport.kernels.elementwise import expression  # late: only fused kernels need the elementwise family

    return expression(node, args, ctx)


# ---- matmul --------------------------------------------------------------------------------------------
def _batch_terms(out_batch, operand_batch, matrix_size):
    """Terms (div, mod, stride) mapping the output batch index ``bi`` to an operand's matrix offset."""
    lead = len(out_batch) - len(operand_batch)
    out_strides = strides(tuple(out_batch)) if out_batch else []
    op_strides = [s * matrix_size for s in strides(tuple(operand_batch))] if operand_batch else []
    terms = []
    for axis, size in enumerate(operand_batch):
        if size == 1:
            continue
        out_axis = axis + lead
        terms.append({"div": out_strides[out_axis], "mod": None if out_axis == 0 else int(out_batch[out_axis]),
                      "stride": op_strides[axis]})
    return terms


@lowering("matmul")
def lower_matmul(node, ctx, epilogue=()):
    """One tiled kernel for ``a @ b`` (+ the fused ``epilogue``); see the module docstring."""
    a_name, b_name = node.inputs
    a, b, out = ctx.spec(a_name), ctx.spec(b_name), ctx.spec(node.name)
    if out.dtype not in ACCUMULATORS:
        raise ExportError(f"node %{node.name} (matmul): dtype {out.dtype} cannot be exported; use float32 or int32")
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if k is None or n is None:
        raise ExportError(f"node %{node.name} (matmul): the contracted or column dimension is the dynamic batch. "
                          f"Received: a {list(a.shape)}, b {list(b.shape)}")
    batch = tuple(out.shape[:-2])
    config = CONFIGS["large" if n >= 64 and (m is None or m >= 64) else "small"]
    bm, bn = config["bm"], config["bn"]
    tiles_n = -(-n // bn)
    if m is None:  # a is (batch, K): tiles along M grow with the batch
        per = tiles_n * WORKGROUP // bm
        threads = (per, per * (bm - 1))
        tiles_m = f"((params.batch + {bm - 1}u) / {bm}u)"
    else:
        tiles_m = f"{-(-m // bm)}u"
        static_tiles = int(np.prod([d for d in batch if d is not None], dtype=np.int64)) * -(-m // bm) * tiles_n
        threads = (static_tiles * WORKGROUP, 0) if None in batch else (0, static_tiles * WORKGROUP)
    fused = epilogue_code(node, ctx, list(epilogue), first_binding=2)
    acc_type, zero = ACCUMULATORS[out.dtype]
    label = f"{node.name}/" + "+".join(["matmul"] + [s.target for s in epilogue])
    inputs = [a_name, b_name] + fused["inputs"]
    wgsl = render(
        "linalg.wgsl.j2", label=label, bindings=bindings(ctx, inputs, [fused["output"]]), workgroup_size=WORKGROUP,
        **config, m=dim(m), n=f"{n}u", k=f"{k}u", tiles_n=f"{tiles_n}u", tiles_m=tiles_m,
        tiles=f"({numel(batch)} * {tiles_m} * {tiles_n}u)",
        a_terms=_batch_terms(batch, a.shape[:-2], (m or 0) * k), b_terms=_batch_terms(batch, b.shape[:-2], k * n),
        acc_type=acc_type, zero=zero, epilogue=fused,
    )
    return [Kernel(wgsl=wgsl, inputs=inputs, outputs=[fused["output"]], threads=threads, label=label,
                   workgroup_size=WORKGROUP, nodes=fused["nodes"])]

"""WGSL lowerings of the movement primitives: index maps, one thread per output element (movement.wgsl.j2).

- ``transpose``, ``broadcast_to``, ``slice`` are affine gathers: ``out[i] = in[base + Σ coord_k(i) * coef_k]``.
- ``pad`` is a gather that writes the fill value outside the input; ``take`` and ``one_hot`` read an index.
- ``concatenate`` and ``stack`` join up to 7 inputs per kernel (8 storage buffers with the output); more
  inputs become several kernels, each writing its own block of the output.
- ``reshape`` is zero-copy (``ALIASES``): it returns no kernel and ``webexport.lower`` aliases its output to
  its input's buffer (copying only where a graph output would otherwise share storage, see copy.py).

The dynamic batch is only ever axis 0 of a shape (docs/internals.md §3). Every coordinate is then static
except the outermost, which needs no bound, so the maps stay literal; a movement that would mix the batch
with another axis raises ``ExportError`` naming the node.
"""
import numpy as np

from webexport.kernels.common import MAX_STORAGE_BUFFERS, ExportError, Kernel, bindings, literal, lowering, numel, \
    render, strides, threads, wgsl_type

ALIASES = {"reshape"}
MAX_JOIN_INPUTS = MAX_STORAGE_BUFFERS - 1  # the output is bound too


def _refuse(node, why):
    return ExportError(f"node %{node.name} ({node.target}): {why}, which export cannot express "
                       f"(only axis 0 may be the dynamic batch). Received: attrs={node.attrs}")


def _kernel(node, ctx, inputs, kind, **variables):
    spec = ctx.spec(node.name)
    if 0 in spec.shape:  # no element to write; out0 must still appear in the shader
        inputs, kind = [], "empty"
    wgsl = render("movement.wgsl.j2", label=f"{node.name}/{node.target}", bindings=bindings(ctx, inputs, [node.name]),
                  total=numel(spec.shape), kind=kind, zero=literal(0, spec.dtype), **variables)
    return Kernel(wgsl=wgsl, inputs=list(inputs), outputs=[node.name], threads=threads(spec.shape),
                  label=f"{node.name}/{node.target}")


def _coords(shape):
    """Per output axis the divisor and modulus of its coordinate: coord_k = (i / div_k) % mod_k."""
    return [{"div": s, "mod": None if k == 0 else int(d)} for k, (s, d) in enumerate(zip(strides(shape), shape))]


def _gather(node, ctx, base, coefs):
    """out[i] = in0[base + Σ coord_k * coef_k]; axes of size 1 or coefficient 0 drop out."""
    shape = ctx.spec(node.name).shape
    terms = [dict(t, coef=c) for t, c, d in zip(_coords(shape), coefs, shape) if c and d != 1]
    return [_kernel(node, ctx, [node.inputs[0]], "gather", base=base, terms=terms)]


@lowering("reshape")
def lower_reshape(node, ctx):
    """No kernel: the output aliases the input's buffer (the batch must stay the outermost factor)."""
    source, out = ctx.spec(node.inputs[0]).shape, ctx.spec(node.name).shape
    static = [int(np.prod([d for d in s if d is not None], dtype=np.int64)) for s in (source, out)]
    if (None in source) != (None in out) or static[0] != static[1]:
        raise _refuse(node, f"reshape from {list(source)} to {list(out)} mixes the batch with other axes")
    return []  # zero-copy: the output aliases the input's buffer


@lowering("transpose")
def lower_transpose(node, ctx):
    """A gather through the permuted strides; the batch axis must stay first."""
    perm, source = node.attrs["perm"], ctx.spec(node.inputs[0]).shape
    if source and source[0] is None and perm[0] != 0:
        raise _refuse(node, f"transpose moves the batch axis to position {list(perm).index(0)}")
    in_strides = strides(source)
    return _gather(node, ctx, 0, [in_strides[p] for p in perm])


@lowering("broadcast_to")
def lower_broadcast_to(node, ctx):
    """A gather with stride 0 on the broadcast axes."""
    source, out = ctx.spec(node.inputs[0]).shape, ctx.spec(node.name).shape
    lead = len(out) - len(source)
    if None in source and lead:
        raise _refuse(node, f"broadcast_to moves the batch axis of {list(source)} to axis {lead}")
    in_strides = strides(source)
    coefs = [0 if k < lead or source[k - lead] == 1 else in_strides[k - lead] for k in range(len(out))]
    return _gather(node, ctx, 0, coefs)


@lowering("slice")
def lower_slice(node, ctx):
    """A gather from ``start`` with the strides scaled by ``step`` (negative steps walk backwards)."""
    start, step = node.attrs["start"], node.attrs["step"]
    source, out = ctx.spec(node.inputs[0]).shape, ctx.spec(node.name).shape
    if None in start or None in step or (out and out[0] is None and (start[0], step[0]) != (0, 1)):
        raise _refuse(node, "the slice of the batch axis is not the whole of it")
    if source and source[0] is None and out[0] is not None:  # e.g. x[1:2]: empty at batch 1, not at 2
        raise _refuse(node, "a fixed slice of the batch axis depends on the batch size; export with batch_size=N")
    in_strides = strides(source)
    base = sum(b * s for b, s in zip(start, in_strides))
    return _gather(node, ctx, base, [st * s for st, s in zip(step, in_strides)])


@lowering("pad")
def lower_pad(node, ctx):
    """Each output element reads the input, or writes ``value`` where it falls in the padding."""
    widths, source = node.attrs["pad_width"], ctx.spec(node.inputs[0]).shape
    if source and source[0] is None and tuple(widths[0]) != (0, 0):
        raise _refuse(node, f"pad widens the batch axis by {tuple(widths[0])}")
    out = ctx.spec(node.name).shape
    terms = [dict(t, low=lo, size=n, stride=s, check=bool(lo or hi))
             for t, (lo, hi), n, s in zip(_coords(out), widths, source, strides(source))]
    return [_kernel(node, ctx, [node.inputs[0]], "pad", terms=terms, fill=literal(node.attrs["value"], node.dtype))]


def _join(node, ctx, axis, sizes, post):
    """Kernels writing the output's joined axis block by block, at most MAX_JOIN_INPUTS distinct inputs each."""
    out = ctx.spec(node.name).shape
    parts = [(name, size) for name, size in zip(node.inputs, sizes) if size]
    offsets = np.cumsum([0] + [size for _, size in parts]).tolist()
    kernels, first = [], 0
    while first < len(parts):
        names, last = [], first
        while last < len(parts) and len(set(names + [parts[last][0]])) <= MAX_JOIN_INPUTS:
            names.append(parts[last][0])
            last += 1
        unique = list(dict.fromkeys(names))
        base, width = offsets[first], offsets[last] - offsets[first]
        sources = [{"binding": unique.index(name), "start": offsets[k] - base, "end": offsets[k + 1] - base,
                    "size": size} for k, (name, size) in enumerate(parts[first:last], start=first)]
        region = tuple(out[:axis]) + (width,) + tuple(out[axis + 1:])
        kernel = _kernel(node, ctx, unique, "join", post=post, width=width, out_offset=base, out_axis=out[axis],
                         sources=sources)
        kernel.threads = threads(region)
        if len(parts) > last or first:
            kernel.label += f"[{base}:{base + width}]"
        kernels.append(kernel)
        first = last
    return kernels or [_kernel(node, ctx, [], "empty")]


@lowering("concatenate")
def lower_concatenate(node, ctx):
    """Join kernels (see ``_join``) along an existing axis; not along the batch axis."""
    axis = node.attrs["axis"]
    shapes = [ctx.spec(name).shape for name in node.inputs]
    if axis == 0 and any(s[0] is None for s in shapes):
        raise _refuse(node, "concatenate joins along the batch axis")
    post = int(np.prod(shapes[0][axis + 1:], dtype=np.int64))
    return _join(node, ctx, axis, [s[axis] for s in shapes], post)


@lowering("stack")
def lower_stack(node, ctx):
    """Join kernels (see ``_join``) along a new axis, each input one slice of it."""
    axis, shape = node.attrs["axis"], ctx.spec(node.inputs[0]).shape
    if axis == 0 and shape and shape[0] is None:
        raise _refuse(node, "stack puts a new axis before the batch axis")
    # stack = concatenate of inputs of size 1 on the new axis
    post = int(np.prod(shape[axis:], dtype=np.int64))
    return _join(node, ctx, axis, [1] * len(node.inputs), post)


@lowering("take")
def lower_take(node, ctx):
    """Each output element reads the index, then the input (0 outside ``[-n, n)``, as the CPU kernel)."""
    axis = node.attrs["axis"]
    source, indices = ctx.spec(node.inputs[0]).shape, ctx.spec(node.inputs[1]).shape
    if None in indices and axis != 0:
        raise _refuse(node, f"batch-sized indices {list(indices)} would index axis {axis}")
    if axis == 0 and source[0] is None and ctx.constant(node.inputs[1]) is not None:  # rows absent at small batches
        raise _refuse(node, "fixed indices into the batch axis depend on the batch size; export with batch_size=N")
    post = int(np.prod(source[axis + 1:], dtype=np.int64))
    count = None if None in indices else int(np.prod(indices, dtype=np.int64))
    return [_kernel(node, ctx, list(node.inputs), "take", post=post, count=count, size=numel(source[axis:axis + 1]))]


@lowering("one_hot")
def lower_one_hot(node, ctx):
    """Each output element compares its position on the new last axis with its index."""
    dtype = node.dtype
    wgsl_type(dtype, node)
    return [_kernel(node, ctx, [node.inputs[0]], "one_hot", depth=node.attrs["depth"], one=literal(1, dtype))]

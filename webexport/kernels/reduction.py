"""WGSL lowerings of the reductions ``sum max min mean argmax``: one thread per output element (reduction.wgsl.j2).

Each invocation finds its output element's base offset in the input from the kept axes, then loops
over the reduced elements, decomposing the loop counter over the reduced axes. Both decompositions use
static strides: only axis 0 may be the dynamic batch, and as the outermost axis of either set it needs
no modulus, so reducing over the batch (a mean over the batch, say) works and ``mean`` divides by a
count that involves ``params.batch``.

Semantics follow numpy: ``argmax`` takes the first index on ties; float ``max``/``min`` propagate NaN and
float ``argmax`` gives the first NaN's index (NaN tested by its bits: WGSL's max/min may drop it and
every comparison with it is false); ``max``/``min`` of bool are u32 max/min;
a sum accumulates sequentially in the storage type (f32 or i32), which stays within 1e-5 of numpy's
pairwise float32 sum for the sizes models reduce over.

    >>> [k.threads for k in lower_reduction(node, ctx)]    # node: sum(%x; axes=(1,)), x: f32[N,3,4]
    [(4, 0)]
"""
from webexport.kernels.common import Kernel, bindings, dim, literal, lowering, numel, render, strides, threads, \
    wgsl_type


def _split(shape, reduced):
    """Per-axis decomposition terms: for the kept axes of the output index, and for the reduced loop counter."""
    in_strides = strides(shape)
    kept = [k for k in range(len(shape)) if k not in reduced]
    terms = []
    for group in (kept, list(reduced)):
        sizes = [shape[k] for k in group]
        # Row-major strides of the sub-shape formed by these axes; axis 0 (when present) is outermost.
        sub = strides(tuple(sizes)) if sizes else []
        terms.append([{"div": s, "mod": None if j == 0 else dim(sizes[j]), "stride": in_strides[k]}
                      for j, (k, s) in enumerate(zip(group, sub)) if shape[k] != 1])
    return terms


@lowering("sum", "max", "min", "mean", "argmax")
def lower_reduction(node, ctx):
    """One kernel: ``out0[o] = reduce(in0[base(o) + offset(r)] for r in range(count))``."""
    source = ctx.spec(node.inputs[0])
    out = ctx.spec(node.name)
    reduced = (node.attrs["axis"],) if node.target == "argmax" else tuple(node.attrs["axes"])
    kept_terms, reduced_terms = _split(source.shape, reduced)
    label = f"{node.name}/{node.target}"
    wgsl = render("reduction.wgsl.j2", label=label, bindings=bindings(ctx, [node.inputs[0]], [node.name]),
                  op=node.target, total=numel(out.shape), count=numel(tuple(source.shape[k] for k in reduced)),
                  kept=kept_terms, reduced=reduced_terms, value_type=wgsl_type(source.dtype, node),
                  zero=literal(0, source.dtype))
    return [Kernel(wgsl=wgsl, inputs=[node.inputs[0]], outputs=[node.name], threads=threads(out.shape), label=label)]

"""WGSL lowering of the image primitives (pyml/ops/image.py): ``resize``, one thread per output element.

A resize is a gather of at most 4 cells per output, memory-bound: neighbouring invocations take neighbouring
channels of one output pixel, so their loads are contiguous. The cells and weights are computed in the kernel
from the output coordinate (integers, see the template), so no index table is bound.
"""
from webexport.kernels.common import Kernel, bindings, lowering, numel, render, threads


@lowering("resize")
def lower_resize(node, ctx):
    _, in_h, in_w, channels = ctx.spec(node.inputs[0]).shape
    spec = ctx.spec(node.name)
    out_h, out_w = node.attrs["size"]
    label = f"{node.name}/resize"
    wgsl = render("image.wgsl.j2", label=label, bindings=bindings(ctx, [node.inputs[0]], [node.name]),
                  total=numel(spec.shape), channels=channels, in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w,
                  nearest=node.attrs["interpolation"] == "nearest")
    return [Kernel(wgsl=wgsl, inputs=[node.inputs[0]], outputs=[node.name], threads=threads(spec.shape), label=label)]

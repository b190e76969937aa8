"""WGSL lowerings of the pooling primitives (pooling.wgsl.j2), one invocation per output element.

- ``max_pool`` / ``max_pool_gather``: scan the window's input elements (padding skipped) for the first
  maximum of ``x`` (strict ``>``, so ties keep the earliest, as numpy's argmax); store it, or ``v`` there.
- ``avg_pool``: the sum over the window's input elements divided by their count (padding not counted).
- ``max_pool_grad``: output ``(n, p, c)`` adds ``g[n, o, c]`` for every window ``o`` that covers ``p`` and
  picks it: each such window is re-scanned, which costs ``window²`` reads per element — cheap for the
  small windows pooling uses, and it needs no scratch buffer or atomics.

Registered by importing ``webexport.kernels.conv`` (the family module the kernel registry loads).
"""
from webexport.kernels.common import Kernel, bindings, lowering, numel, render, threads


def _pool_kernel(node, ctx, kind, x_name, out_spatial):
    from webexport.kernels.conv import geometry  # late: conv.py imports this module

    out = ctx.spec(node.name)
    variables = geometry(node, ctx, x_name, out_spatial)
    window = list(node.attrs["window"])
    axes = zip(variables["pad_lo"], variables["o_sp"], variables["strides"], window, variables["x_sp"])
    variables.update(window=window, channels=ctx.spec(x_name).shape[-1],
                     inside=[lo == 0 and (o - 1) * s + k <= x for lo, o, s, k, x in axes])
    label = f"{node.name}/{node.target}"
    wgsl = render("pooling.wgsl.j2", label=label, bindings=bindings(ctx, list(node.inputs), [node.name]), kind=kind,
                  total=numel(out.shape), **variables)
    return [Kernel(wgsl=wgsl, inputs=list(node.inputs), outputs=[node.name], threads=threads(out.shape), label=label)]


@lowering("max_pool", "avg_pool", "max_pool_gather")
def lower_pool(node, ctx):
    """One kernel: each output element scans its window (max, mean, or the value where the max is)."""
    return _pool_kernel(node, ctx, node.target, node.inputs[0], ctx.spec(node.name).shape[1:-1])


@lowering("max_pool_grad")
def lower_max_pool_grad(node, ctx):
    """One kernel: each input element sums the cotangents of the windows that pick it."""
    return _pool_kernel(node, ctx, "max_pool_grad", node.inputs[0], ctx.spec(node.inputs[1]).shape[1:-1])

"""WGSL lowerings of the convolution primitives, with the window loops generated per spatial rank (1 to 3).

- ``conv``: Winograd F(2x2, 3x3) for 3x3 stride-1 convs with at least 8 input channels (winograd.py); other
  convs: an implicit GEMM (conv_gemm.wgsl.j2), register-tiled as matmul's tiled program
  (``linalg.register_tiling``): a workgroup computes 16 output pixels x up to 64 output channels, each
  invocation 4 pixels x 4 channels, gathering the window's input channels on the fly (as ``vec4`` when the input
  channels are a multiple of 4); grouped convs too, one GEMM per group in the same dispatch, when each group has
  at least ``GEMM_MIN_GROUP_CHANNELS`` input and output channels; narrower groups (depthwise included) a direct
  convolution (conv.wgsl.j2), one invocation per output element.
  Output ``(n, o, co)`` sums ``x[n, o*s + k*d - lo, group channels] * w[k, ci, co]``;
- ``conv_transpose``: output ``(n, p, ci)`` sums, over the window offsets ``k`` for which
  ``t = p + lo - k*d`` is a non-negative multiple of the stride, ``y[n, t / s, group outputs] * w[k, ci, co]``;
- ``conv_filter_grad``: output ``(k, ci, co)`` sums ``x[n, o*s + k*d - lo, ci] * y[n, o, co]`` over the batch
  (``params.batch`` when dynamic) and the output positions.

``conv`` and ``conv_transpose`` accept a fused ``epilogue`` (bias, activation; see epilogue.epilogue_code).
Every ``conv`` program reads filters stored as float16 or int8 (``ctx.packed``) as stored (packed.wgsl.j2).
Importing this module also registers the pooling lowerings (pooling.py), which share this family.
"""
import numpy as np

from webexport.kernels import pooling, winograd  # noqa: F401  (pooling registers max_pool, avg_pool, ...)
from webexport.kernels.common import ExportError, Kernel, bindings, dim, lowering, numel, render, threads
from webexport.kernels.epilogue import epilogue_code
from webexport.kernels.linalg import register_tiling, whole_words


def geometry(node, ctx, x_name, spatial_out):
    """Template variables shared by the conv and pooling kernels: sizes as Python ints, batch as WGSL."""
    x = ctx.spec(x_name)
    if any(d is None for d in x.shape[1:]):
        raise ExportError(f"node %{node.name} ({node.target}): only axis 0 may be the dynamic batch. "
                          f"Received: {list(x.shape)}")
    rank = len(x.shape) - 2
    attrs = node.attrs
    return dict(
        rank=rank, x_sp=list(x.shape[1:-1]), o_sp=list(spatial_out), strides=list(attrs["strides"]),
        pad_lo=[int(p[0]) for p in attrs["padding"]], batch=dim(x.shape[0]),
        x_plane=int(np.prod(x.shape[1:-1])), o_plane=int(np.prod(spatial_out)),
    )


def _conv_kernel(node, ctx, kind, x_name, out_spatial, epilogue=()):
    attrs, out = node.attrs, ctx.spec(node.name)
    w_name = node.inputs[1] if kind != "conv_filter_grad" else None
    w_shape = ctx.spec(w_name).shape if w_name else out.shape
    rank = len(attrs["strides"])
    groups, c_out = attrs["groups"], w_shape[-1]
    variables = geometry(node, ctx, x_name, out_spatial)
    variables.update(
        k_sp=list(w_shape[:rank]), dilation=list(attrs["dilation"]), k_plane=int(np.prod(w_shape[:rank])),
        cin_g=w_shape[-2], cin=w_shape[-2] * groups, cout=c_out, cout_g=c_out // groups,
    )
    fused = epilogue_code(node, ctx, list(epilogue), first_binding=2, index="i", value="acc")
    label = f"{node.name}/" + "+".join([node.target] + [s.target for s in epilogue])
    inputs = list(node.inputs) + fused["inputs"]
    wgsl = render("conv.wgsl.j2", label=label, bindings=bindings(ctx, inputs, [fused["output"]]), kind=kind,
                  total=numel(out.shape), epilogue=fused, **variables)
    return [Kernel(wgsl=wgsl, inputs=inputs, outputs=[fused["output"]], threads=threads(out.shape), label=label,
                   nodes=fused["nodes"])]


# A grouped conv whose groups have fewer input or output channels than this runs the direct kernel: a short K
# leaves the register tiles little to share, and a group's columns fill few of a workgroup's 16+ columns. On
# lavapipe (3x3, 26x26x64 -> 64, batch 8, CPU ms) the GEMM took 0.2x the direct kernel's time at 32 channels per
# group, 0.75x at 8, but 1.3x at 4 and 6x at 2.
GEMM_MIN_GROUP_CHANNELS = 8


@lowering("conv")
def lower_conv(node, ctx, epilogue=()):
    """The kernels for ``conv(x, w)`` (+ the fused ``epilogue``): Winograd F(2x2, 3x3) for 3x3 stride-1 convs
    (winograd.py), else an implicit GEMM (per group, for groups of ``GEMM_MIN_GROUP_CHANNELS`` channels or more),
    else a direct convolution."""
    if winograd.applies(node, ctx):
        return winograd.winograd_kernels(node, ctx, epilogue)
    groups, (cin_g, cout) = node.attrs["groups"], ctx.spec(node.inputs[1]).shape[-2:]
    if groups == 1 or min(cin_g, cout // groups) >= GEMM_MIN_GROUP_CHANNELS:
        return [_implicit_gemm(node, ctx, epilogue)]
    return _conv_kernel(node, ctx, "conv", node.inputs[0], ctx.spec(node.name).shape[1:-1], epilogue)


def _implicit_gemm(node, ctx, epilogue):
    """conv_gemm.wgsl.j2's GEMM view: rows are output pixels, columns output channels, K the (window offset, input
    channel) pairs, with the ``x`` operand gathered from the window on the fly; a grouped conv is one such GEMM
    per group (its columns and input channels), side by side in one dispatch."""
    x_name, w_name = node.inputs
    out, w = ctx.spec(node.name), ctx.spec(w_name)
    rank, conv_groups = len(node.attrs["strides"]), node.attrs["groups"]
    cin, cout = w.shape[-2], w.shape[-1]
    cout_g = cout // conv_groups
    tiling = register_tiling(cout_g)
    variables = geometry(node, ctx, x_name, out.shape[1:-1])
    blocks_g = -(-cout_g // tiling.cols)
    blocks_n = conv_groups * blocks_g
    per_example = variables["o_plane"] * blocks_n * tiling.size
    if out.shape[0] is None:  # ceil(B * o_plane / rows) row blocks <= (B * o_plane + rows - 1) / rows
        threads = (-(-per_example // tiling.rows), blocks_n * tiling.size)
        blocks_m = f"(({numel(out.shape[:-1])} + {tiling.rows - 1}u) / {tiling.rows}u)"
    else:
        count = -(-int(np.prod(out.shape[:-1])) // tiling.rows)
        threads = (0, count * blocks_n * tiling.size)
        blocks_m = f"{count}u"
    fused = epilogue_code(node, ctx, list(epilogue), first_binding=2, index="i", value="acc", column="cj")
    label = f"{node.name}/" + "+".join([node.target] + [s.target for s in epilogue])
    inputs = list(node.inputs) + fused["inputs"]
    binds = bindings(ctx, inputs, [fused["output"]])
    vk = 4 if cin % 4 == 0 else 1
    if vk == 4:
        binds[0]["type"] = f"vec4<{binds[0]['type']}>"
    wgsl = render("conv_gemm.wgsl.j2", label=label, bindings=binds, workgroup_size=tiling.size, tiling=tiling, vk=vk,
                  k_sp=list(w.shape[:rank]), dilation=list(node.attrs["dilation"]), cin=cin,
                  x_channels=cin * conv_groups, cout=cout, cout_g=cout_g, conv_groups=conv_groups, pixels=numel(out.shape[:-1]), blocks_n=blocks_n,
                  blocks_g=blocks_g, groups=f"({blocks_m} * {blocks_n}u)", epilogue=fused,
                  pack=whole_words(binds[1], tiling, cout_g), **variables)
    return Kernel(wgsl=wgsl, inputs=inputs, outputs=[fused["output"]], threads=threads, label=label,
                  workgroup_size=tiling.size, nodes=fused["nodes"])


@lowering("conv_transpose")
def lower_conv_transpose(node, ctx, epilogue=()):
    """One kernel: conv's input gradient, each output element gathering the conv outputs it fed."""
    # Geometry is the forward conv's: x is conv_transpose's output, o its input y.
    return _conv_kernel(node, ctx, "conv_transpose", node.name, ctx.spec(node.inputs[0]).shape[1:-1], epilogue)


@lowering("conv_filter_grad")
def lower_conv_filter_grad(node, ctx):
    """One kernel: conv's kernel gradient, each kernel element summing over the batch and output positions."""
    return _conv_kernel(node, ctx, "conv_filter_grad", node.inputs[0], ctx.spec(node.inputs[1]).shape[1:-1])

"""Winograd F(2x2, 3x3) for 3x3, stride-1 2-D convolutions without groups (winograd.wgsl.j2 + matmul.wgsl.j2).

A 2x2 tile of outputs takes 16 multiplies per (input, output channel) pair instead of 36: with ``d`` the tile's
4x4 input patch and ``g`` a 3x3 kernel, ``Y = At [(G g Gt) * (Bt d B)] A``, and the elementwise products summed
over the input channels are 16 matrix products, one per position of the 4x4 grid. Four kernels:

    filter  u[xi, ci, co] = (G g Gt)[xi]                  (16, cin, cout)  once per run: 16 x 9 flops per weight
    input   v[tile, xi, ci] = (Bt d B)[xi]                (batch, tiles, 16, cin)
    gemm    m[tile, xi, co] = sum_ci v[tile, xi, ci] u[xi, ci, co]      register-tiled, as linalg's tiled matmul
    output  y = At m A per tile, then the fused epilogue  the conv's output

Chosen by ``conv`` (webexport/kernels/conv.py) where it pays: a software adapter spends nearly all of a conv's
time in the multiply-adds and their loads (2.25x fewer here), a GPU in the same place at these sizes. The
transforms only add and halve, so float32 results stay within a few ulps of the direct sum.

    >>> [k.label for k in winograd_kernels(conv_node, ctx, [])]
    ['v3/conv.filter', 'v3/conv.input', 'v3/conv.gemm', 'v3/conv.output']
"""
from webexport.kernels.common import Kernel, bindings, render
from webexport.kernels.epilogue import epilogue_code
from webexport.kernels.linalg import NO_EPILOGUE, register_tiling

G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
AT = [[1, 1, 1, 0], [0, 1, -1, -1]]
MIN_CHANNELS = 8  # fewer input channels, and the transforms cost more than the multiplies they save


def applies(node, ctx):
    """Whether ``conv`` node is a 3x3, stride-1, undilated 2-D convolution without groups, wide enough to pay."""
    attrs, w = node.attrs, ctx.spec(node.inputs[1])
    return (len(attrs["strides"]) == 2 and tuple(w.shape[:2]) == (3, 3) and tuple(attrs["strides"]) == (1, 1)
            and tuple(attrs["dilation"]) == (1, 1) and attrs["groups"] == 1 and w.shape[2] >= MIN_CHANNELS)


def winograd_kernels(node, ctx, epilogue):
    """The four kernels computing ``conv`` node (+ the fused ``epilogue``); see the module docstring."""
    x_name, w_name = node.inputs
    x, out = ctx.spec(x_name), ctx.spec(node.name)
    cin, cout = x.shape[-1], out.shape[-1]
    o_sp = list(out.shape[1:3])
    tiles = [-(-o_sp[0] // 2), -(-o_sp[1] // 2)]
    per_example = tiles[0] * tiles[1]
    batch = out.shape[0]
    filters = ctx.temp((16, cin, cout), "float32")
    transformed = ctx.temp((batch, per_example, 16, cin), "float32")
    products = ctx.temp((batch, per_example, 16, cout), "float32")
    label = f"{node.name}/{node.target}"
    shared = dict(cin=cin, cout=cout, x_sp=list(x.shape[1:3]), o_sp=o_sp, tiles=tiles,
                  pad_lo=[int(p[0]) for p in node.attrs["padding"]], g=G, bt=BT, at=AT)

    def stage(name, inputs, output, count, per_example=True, fused=None):
        """One transform kernel: ``count`` invocations, per example when ``per_example``."""
        if per_example and batch is None:
            threads, total = (count, 0), f"(params.batch * {count}u)"
        else:
            count *= batch if per_example else 1
            threads, total = (0, count), f"{count}u"
        wgsl = render("winograd.wgsl.j2", label=f"{label}.{name}", bindings=bindings(ctx, inputs, [output]),
                      stage=name, total=total, epilogue=fused or NO_EPILOGUE, **shared)
        return Kernel(wgsl=wgsl, inputs=inputs, outputs=[output], threads=threads, label=f"{label}.{name}")

    fused = epilogue_code(node, ctx, list(epilogue), first_binding=1, index="i", value="acc", column="co")
    kernels = [stage("filter", [w_name], filters, cin * cout, per_example=False),
               stage("input", [x_name], transformed, per_example * cin),
               _gemm(ctx, transformed, filters, products, batch, per_example, cin, cout, register_tiling(cout),
                     f"{label}.gemm"),
               stage("output", [products] + fused["inputs"], fused["output"], per_example * cout, fused=fused)]
    kernels[-1].nodes = fused["nodes"]
    for kernel in kernels[:-1]:
        kernel.nodes = [node.name]
    return kernels


def _gemm(ctx, transformed, filters, products, batch, per_example, cin, cout, tiling, label):
    """The 16 products ``m[tile, xi] = v[tile, xi] @ u[xi]``: matmul.wgsl.j2 with xi as the batch matrix index,
    rows (tiles) 16 vectors apart."""
    rows = f"(params.batch * {per_example}u)" if batch is None else f"{batch * per_example}u"
    blocks_m = f"(({rows} + {tiling.rows - 1}u) / {tiling.rows}u)"
    blocks_n = -(-cout // tiling.cols)
    vk = 4 if cin % 4 == 0 else 1
    binds = bindings(ctx, [transformed, filters], [products])
    if vk == 4:
        binds[0]["type"] = "vec4<f32>"
    wgsl = render("matmul.wgsl.j2", label=label, bindings=binds, workgroup_size=tiling.size, tiling=tiling, vk=vk,
                  m=rows, n=cout, k=f"{cin}u", split=1, slice=cin, blocks_m=blocks_m, blocks_n=blocks_n,
                  groups=f"(16u * {blocks_m} * {blocks_n}u)", acc_type="f32", zero="0.0f", a_row=f"{16 * cin}u",
                  a_step="", out_row=16 * cout, out_base=f"bi * {cout}u", epilogue=NO_EPILOGUE,
                  a_terms=[{"div": 1, "mod": None, "stride": cin}],
                  b_terms=[{"div": 1, "mod": None, "stride": cin * cout}], pack=0)
    size = tiling.size
    if batch is None:  # 16 * ceil(B * tiles / rows) blocks <= 16 * (B * tiles + rows - 1) / rows
        per = -(-16 * per_example * blocks_n * size // tiling.rows)
        threads = (per, 16 * blocks_n * size)
    else:
        threads = (0, 16 * -(-batch * per_example // tiling.rows) * blocks_n * size)
    return Kernel(wgsl=wgsl, inputs=[transformed, filters], outputs=[products], threads=threads, label=label,
                  workgroup_size=tiling.size)

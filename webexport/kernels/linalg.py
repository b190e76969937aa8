"""WGSL lowering of ``matmul``: a kernel chosen per shape at export (matmul.wgsl.j2, matmul_tiled.wgsl.j2).

Three programs, as TF.js's WebGPU backend picks among its reduce, split-K and packed matmul programs:

- **register-tiled** (matmul.wgsl.j2, ``Tiling``): a workgroup of 64 invocations computes ``tm*mt`` rows by
  ``tn*ct`` columns straight from storage, no workgroup memory: invocations side by side take neighbouring
  columns (``tn`` each, ``ct`` apart, so a row of ``b`` is read contiguously, coalesced on a GPU and one
  gather per SIMD group on a software adapter), ``tm`` rows each, sharing every load of ``a``; with ``kt > 1``
  the invocations also split K and add their partial sums once, at the end, in workgroup memory. ``a`` is read
  as ``vec4`` along K when K is a multiple of 4. Two tilings: **GEMV** (``tm = 1``, 2 columns per invocation; K
  split 4 ways when the output has few column blocks and K is long) for one or a few rows — a dense layer at
  batch 1 — and **tiled** (``4 x 4`` outputs per invocation) for more rows.
- **split-K** (matmul.wgsl.j2 + matmul_reduce.wgsl.j2): when K is long and the output has few blocks (a dense
  9216→128), each workgroup also takes one of ``split`` slices of K and writes its partial sums to a scratch
  value; a second kernel adds the slices and applies the epilogue.
- **workgroup-memory tiles** (matmul_tiled.wgsl.j2): ``64 x 64`` tiles staged in workgroup memory, ``4 x 4``
  outputs per invocation, for large static shapes (``m >= 256``), where reuse across the workgroup pays on a GPU.

With a dynamic batch as ``m`` (a dense layer) the rows are unknown at export: the kernel is the GEMV one, and
the tiled one is a ``Variant`` from ``TILED_MIN_BATCH`` rows on, which the runtime picks by batch size
(docs/internals.md §6, ``steps[].variants``).

Every program takes a fused ``epilogue`` (webexport/kernels/epilogue.py), applied to each result before it is
stored; with split-K the reduce kernel applies it. Every program reads a weight ``b`` stored as float16 or int8
(``ctx.packed``, docs/internals.md §4) as stored, unpacking each element as it is loaded (packed.wgsl.j2).

    >>> kernels = lower_matmul(dense_node, ctx)             # a dense layer, dynamic batch
    >>> [k.label for k in kernels], [v.min_batch for v in kernels[0].variants]
    (['v3/matmul'], [6])
"""
from dataclasses import dataclass

import numpy as np

from webexport.kernels.common import ExportError, Kernel, Variant, bindings, dim, lowering, numel, render, strides
from webexport.kernels.epilogue import epilogue_code

ACCUMULATORS = {"float32": ("f32", "0.0f"), "int32": ("i32", "0i")}
NO_EPILOGUE = {"steps": [], "result": "v", "column_loads": []}
TILED_MIN_BATCH = 6  # a dynamic batch from this many rows runs the tiled variant (measured: GEMV wins to 4, tiles from 8)
SPLIT_MIN_K = 2048  # split K across workgroups from this length ...
SPLIT_MAX_GROUPS = 8  # ... when the output has at most this many blocks
SPLIT_SLICE = 512  # aim for K slices of about this length, ...
SPLIT_MAX = 16  # ... at most this many
GEMV_MIN_BLOCKS = 4  # with fewer column blocks than this ...
GEMV_SPLIT_MIN_K = 1024  # ... and K at least this long, GEMV splits K inside the workgroup
PER_WORD = {"float16": 2, "int8": 4}  # elements of a packed weight per 32-bit word
WORKGROUP_TILES_MIN_M = 256  # static row counts from which workgroup-memory tiles are used (and n, k >= 64)


@dataclass(frozen=True)
class Tiling:
    """The layout of a register-tiled matmul workgroup: ``ct * mt * kt`` invocations, each computing ``tm``
    rows x ``tn`` columns (columns ``ct`` apart) over every ``kt``-th step of K."""

    tm: int
    tn: int
    ct: int
    mt: int
    kt: int

    @property
    def size(self):
        return self.ct * self.mt * self.kt

    @property
    def rows(self):
        return self.tm * self.mt

    @property
    def cols(self):
        return self.tn * self.ct


def gemv_tiling(m, n, k, split=1, per_word=1):
    """One row per invocation (``m`` rows when ``m`` is static and at most 4), two columns each, 32 invocations
    side by side (16 for narrow outputs); K split 4 ways inside the workgroup when the output has fewer than
    ``GEMV_MIN_BLOCKS`` column blocks and K is long, to keep more invocations busy. (Measured on SwiftShader:
    the split's barrier, and four columns instead of two, each add a third to a GEMV's compile time, which is
    most of a cold start, and run no faster at batch 1.) A weight stored as int8 (``per_word`` 4) takes four
    adjacent columns, one word of it per row: one load and one unpack instead of four."""
    tn = 4 if per_word == 4 and n >= 64 and n % 4 == 0 else 2 if n >= 32 else 1
    ct = 32 if n >= 64 else 16  # a whole warp per workgroup on a GPU; software adapters run either as fast
    kt = 4 if split == 1 and -(-n // (ct * tn)) < GEMV_MIN_BLOCKS and k >= GEMV_SPLIT_MIN_K else 1
    return Tiling(tm=m if m is not None and m <= 4 else 1, tn=tn, ct=ct, mt=1, kt=kt)


def register_tiling(n):
    """``4 x 4`` outputs per invocation (fewer columns for narrow outputs), 16 rows per workgroup."""
    tn = 4 if n >= 64 else 2 if n >= 32 else 1
    return Tiling(tm=4, tn=tn, ct=16, mt=4, kt=1)


def whole_words(weight, tiling, n):
    """How many elements per word a packed ``weight`` binding (``common.bindings``) is read by, whole words at a
    time: its elements per word when each invocation's ``tiling.tn`` columns can be adjacent (``tn`` a multiple of
    it, ``n`` of ``tn``), else 0 (element by element, columns ``ct`` apart; float32 weights too)."""
    pack = PER_WORD.get(weight["packed"], 0)
    return pack if pack and tiling.tn % pack == 0 and n % tiling.tn == 0 else 0


def split_count(k, blocks):
    """How many slices of K a matmul with ``blocks`` output blocks splits into (1: no split)."""
    if k < SPLIT_MIN_K or blocks > SPLIT_MAX_GROUPS:
        return 1
    return int(min(SPLIT_MAX, k // SPLIT_SLICE))


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


class _Matmul:
    """The shapes of one matmul node, and how to count its workgroups (``m`` None: the dynamic batch)."""

    def __init__(self, node, ctx):
        a_name, b_name = node.inputs
        self.a, self.b, self.out = ctx.spec(a_name), ctx.spec(b_name), ctx.spec(node.name)
        if self.out.dtype not in ACCUMULATORS:
            raise ExportError(f"node %{node.name} (matmul): dtype {self.out.dtype} cannot be exported; use float32 or "
                              f"int32")
        # transpose_a: a is stored (..., K, M); a training step's weight gradient xᵀ @ dy contracts over the batch
        self.transpose_a = bool(node.attrs.get("transpose_a"))
        self.m, self.k = self.a.shape[-2:][::-1] if self.transpose_a else self.a.shape[-2:]
        self.n = self.b.shape[-1]
        plain_2d = len(self.a.shape) == 2 and len(self.b.shape) == 2
        if self.n is None or (self.k is None and not (self.transpose_a and plain_2d)):
            raise ExportError(f"node %{node.name} (matmul): the contracted or column dimension is the dynamic batch "
                              "(only a 2-D product with transpose_a may contract over it). "
                              f"Received: a {list(self.a.shape)}, b {list(self.b.shape)}, attrs {node.attrs}")
        self.batch = tuple(self.out.shape[:-2])
        self.static_matrices = int(np.prod([d for d in self.batch if d is not None], dtype=np.int64))
        k = self.k or 0  # a dynamic K has no batch terms (2-D operands only)
        self.terms = {"a_terms": _batch_terms(self.batch, self.a.shape[:-2], (self.m or 0) * k),
                      "b_terms": _batch_terms(self.batch, self.b.shape[:-2], k * self.n)}

    def groups(self, rows, cols, split=1):
        """``(workgroups, blocks along m, blocks along n)`` for blocks of ``rows x cols`` and ``split`` slices of K:
        the first two as WGSL u32 expressions (they may depend on the batch), the last an int."""
        blocks_n = -(-self.n // cols)
        if self.m is None:  # a is (batch, K): blocks along m grow with the batch
            blocks_m = f"((params.batch + {rows - 1}u) / {rows}u)"
        else:
            blocks_m = f"{-(-self.m // rows)}u"
        return f"({numel(self.batch)} * {blocks_m} * {blocks_n * split}u)", blocks_m, blocks_n

    def threads(self, rows, cols, size, split=1):
        """(per_batch, fixed) invocations: at least ``size`` per workgroup, linear in the batch."""
        blocks_n = -(-self.n // cols) * split
        if self.m is None:  # ceil(B / rows) <= (B + rows - 1) / rows
            per = blocks_n * -(-size // rows)
            return per, per * (rows - 1)
        count = self.static_matrices * -(-self.m // rows) * blocks_n * size
        return (count, 0) if None in self.batch else (0, count)


@lowering("matmul")
def lower_matmul(node, ctx, epilogue=()):
    """The kernels for ``a @ b`` (+ the fused ``epilogue``) chosen for its shapes; see the module docstring."""
    mm = _Matmul(node, ctx)
    if not mm.transpose_a and mm.m is not None and mm.m >= WORKGROUP_TILES_MIN_M and mm.n >= 64 and mm.k >= 64:
        return [_tiled_kernel(node, ctx, mm, epilogue)]
    gemv = mm.m is None or mm.m <= 4
    per_word = PER_WORD.get(ctx.packed(node.inputs[1]), 1)
    k = mm.k or 0  # K is the dynamic batch (transpose_a): no split, the register tiles loop over it
    first = gemv_tiling(mm.m, mm.n, k, per_word=per_word) if gemv else register_tiling(mm.n)
    blocks = -(-mm.n // first.cols) * (1 if mm.m is None else -(-mm.m // first.rows)) * mm.static_matrices
    split = split_count(k, blocks) if not mm.batch else 1
    tilings = [gemv_tiling(mm.m, mm.n, k, split, per_word) if gemv else first]
    if mm.m is None:
        tilings.append(register_tiling(mm.n))
    label = f"{node.name}/" + "+".join(["matmul"] + [s.target for s in epilogue])
    if split == 1:
        fused = epilogue_code(node, ctx, list(epilogue), first_binding=2, column="cj")
        output, inputs = fused["output"], list(node.inputs) + fused["inputs"]
        kernels = [_direct_kernel(ctx, mm, t, inputs, output, label, fused) for t in tilings]
    else:
        partials = ctx.temp((mm.m, split, mm.n), mm.out.dtype)
        kernels = [_direct_kernel(ctx, mm, t, list(node.inputs), partials, f"{label}.partial", None, split)
                   for t in tilings]
    main, *others = kernels
    main.variants = [Variant(TILED_MIN_BATCH, k.wgsl, k.threads, k.workgroup_size) for k in others]
    if split == 1:
        main.nodes = fused["nodes"]
        return [main]
    main.nodes = [node.name]
    return [main, _reduce_kernel(node, ctx, mm, partials, split, epilogue, label)]


def _direct_kernel(ctx, mm, tiling, inputs, output, label, fused, split=1):
    """One register-tiled kernel (``split`` > 1: over one slice of K per workgroup, writing partial sums)."""
    vk = 4 if not mm.transpose_a and mm.k % 4 == 0 else 1  # a transposed a is read down its columns
    slice_ = -(-mm.k // (split * vk)) * vk if split > 1 else 0  # slices start at multiples of vk
    k = dim(mm.k)
    if split == 1 and not mm.b.shape[:-2] and mm.n >= 4 and mm.k is not None and ctx.constant(inputs[1]) is not None:
        # Reading k from the weight's own buffer lets layers that differ only in K (784 -> 512, 512 -> 512) share
        # one kernel, one pipeline to compile.
        k = _k_from_length(ctx.packed(inputs[1]), mm.n)
    binds = bindings(ctx, inputs, [output])
    if vk == 4:
        binds[0]["type"] = f"vec4<{binds[0]['type']}>"
    pack = whole_words(binds[1], tiling, mm.n)
    groups, blocks_m, blocks_n = mm.groups(tiling.rows, tiling.cols, split)
    acc_type, zero = ACCUMULATORS[mm.out.dtype]
    wgsl = render("matmul.wgsl.j2", label=label, bindings=binds, workgroup_size=tiling.size, tiling=tiling, vk=vk,
                  m=dim(mm.m), n=mm.n, k=k, split=split, slice=slice_, blocks_m=blocks_m,
                  blocks_n=blocks_n, groups=groups, acc_type=acc_type, zero=zero, out_row=mm.n,
                  a_row="1u" if mm.transpose_a else k, a_step=f" * {mm.m}u" if mm.transpose_a else "",
                  out_base=f"bi * m * {mm.n}u", epilogue=fused or NO_EPILOGUE, pack=pack, **mm.terms)
    threads = mm.threads(tiling.rows, tiling.cols, tiling.size, split)
    return Kernel(wgsl=wgsl, inputs=inputs, outputs=[output], threads=threads, label=label,
                  workgroup_size=tiling.size)


def _k_from_length(packed, n):
    """K of a weight ``b`` (k x n, n >= 4) from the length in words of its buffer (docs/internals.md §6): float32,
    one word per element, padded by at most 3 (16 bytes); a packed weight's buffer is exactly its stored bytes,
    float16 two elements per word (padded by at most 1), int8 four (padded by at most 3) and then n scales."""
    if packed == "int8":
        return f"((arrayLength(&in1) - {n}u) * 4u / {n}u)"
    if packed == "float16":
        return f"(arrayLength(&in1) * 2u / {n}u)"
    return f"(arrayLength(&in1) / {n}u)"


def _reduce_kernel(node, ctx, mm, partials, split, epilogue, label):
    """Split-K's second kernel: one invocation per output adds its ``split`` partial sums, then the epilogue."""
    fused = epilogue_code(node, ctx, list(epilogue), first_binding=1)
    inputs = [partials] + fused["inputs"]
    acc_type, zero = ACCUMULATORS[mm.out.dtype]
    wgsl = render("matmul_reduce.wgsl.j2", label=f"{label}.reduce", bindings=bindings(ctx, inputs, [fused["output"]]),
                  total=numel(mm.out.shape), n=mm.n, split=split, zero=zero, epilogue=fused)
    per_batch, fixed = (mm.n, 0) if mm.m is None else (0, mm.m * mm.n)
    return Kernel(wgsl=wgsl, inputs=inputs, outputs=[fused["output"]], threads=(per_batch, fixed),
                  label=f"{label}.reduce", nodes=fused["nodes"])


def _tiled_kernel(node, ctx, mm, epilogue):
    """``64 x 64`` tiles staged in workgroup memory, ``4 x 4`` outputs per invocation (256 invocations)."""
    bm = bn = 64
    fused = epilogue_code(node, ctx, list(epilogue), first_binding=2)
    acc_type, zero = ACCUMULATORS[mm.out.dtype]
    label = f"{node.name}/" + "+".join(["matmul"] + [s.target for s in epilogue])
    inputs = list(node.inputs) + fused["inputs"]
    groups, blocks_m, blocks_n = mm.groups(bm, bn)
    wgsl = render("matmul_tiled.wgsl.j2", label=label, bindings=bindings(ctx, inputs, [fused["output"]]),
                  workgroup_size=256, bm=bm, bn=bn, bk=16, tm=4, tn=4, m=dim(mm.m), n=f"{mm.n}u", k=f"{mm.k}u",
                  tiles_n=f"{blocks_n}u", tiles_m=blocks_m, tiles=groups, acc_type=acc_type, zero=zero,
                  epilogue=fused, **mm.terms)
    return Kernel(wgsl=wgsl, inputs=inputs, outputs=[fused["output"]], threads=mm.threads(bm, bn, 256),
                  label=label, workgroup_size=256, nodes=fused["nodes"])

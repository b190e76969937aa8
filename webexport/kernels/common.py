"""What every kernel family's lowering shares: the Kernel descriptor, the lowering table, templates and WGSL helpers.

A family module (``webexport/kernels/<family>.py`` beside ``<family>.wgsl.j2``) registers one function
per primitive name:

    @lowering("exp", "log")
    def lower_unary(node, ctx):
        return [Kernel(wgsl=render("elementwise.wgsl.j2", ...), inputs=[...], outputs=[node.name],
                       threads=threads(node.shape), label=node.name)]

Conventions (docs/internals.md, "Kernels"): binding 0 is the ``params`` uniform (``params.batch``);
bindings 1..n are the kernel's ``inputs`` in order (read-only storage, named in0, in1, ...), then its
``outputs`` (read_write storage, named out0, ...). A kernel runs ``threads[0] * batch + threads[1]``
invocations, folded into 2-D dispatches by the runtime; ``thread_index`` in the prelude recovers the
linear index.
"""
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

_HERE = Path(__file__).parent
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE)), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
LOWERINGS = {}
WORKGROUP_SIZE = 64
MAX_STORAGE_BUFFERS = 8  # per kernel, outputs included (WebGPU's guarantee; the params uniform is not storage)
WGSL_TYPES = {"float32": "f32", "int32": "i32", "bool": "u32"}  # bool is stored as a u32 0/1


class ExportError(ValueError):
    """A model or node that cannot be exported; the message names the node and op."""


@dataclass
class Kernel:
    """One compute dispatch: the program descriptor the bundle's ``steps`` are made of."""

    wgsl: str
    inputs: list  # value names bound at bindings 1..len(inputs), read-only
    outputs: list  # value names bound after the inputs, read_write
    threads: tuple  # (per_batch, fixed): invocations = per_batch * batch + fixed
    label: str
    workgroup_size: int = WORKGROUP_SIZE
    nodes: list = field(default_factory=list)  # graph nodes this kernel computes (for fused kernels, several)
    variants: list = field(default_factory=list)  # [Variant]: other programs for the same step, picked by batch


@dataclass
class Variant:
    """Another program for a kernel's step, bound the same way, that the runtime runs instead when the batch is
    at least ``min_batch`` (docs/internals.md §6, ``steps[].variants``): with a dynamic batch the best kernel for
    batch 1 and for batch 32 differ, and the batch is known only at run time."""

    min_batch: int
    wgsl: str
    threads: tuple
    workgroup_size: int


def lowering(*names):
    """Register the decorated function as the WGSL lowering of the primitives ``names``."""

    def register(fn):
        for name in names:
            if name in LOWERINGS:
                raise ValueError(f"lowering for {name!r} is registered twice")
            LOWERINGS[name] = fn
        return fn

    return register


def render(template, **variables):
    """Render ``template`` (a file beside this module) with StrictUndefined: a missing variable is an error."""
    variables.setdefault("workgroup_size", WORKGROUP_SIZE)
    return _ENV.get_template(template).render(**variables)


def wgsl_type(dtype, node=None):
    """The WGSL storage type of ``dtype`` (``wgsl_type("bool") == "u32"``); an ExportError naming ``node`` else."""
    try:
        return WGSL_TYPES[dtype]
    except KeyError:
        where = f"node %{node.name} ({node.target}): " if node is not None else ""
        raise ExportError(f"{where}dtype {dtype} has no WGSL storage type; export supports "
                          f"{', '.join(WGSL_TYPES)} (cast float64 models to float32 first)") from None


def bindings(ctx, inputs, outputs):
    """The prelude's binding list for the given input and output value names: ``{name, type, read_only, packed,
    channels}``. A weight the kernels read as stored (``ctx.packed``: "float16" or "int8") is an ``array<u32>``
    with ``channels`` (its last axis: int8 has one scale per channel), read through packed.wgsl.j2's ``load``."""
    def binding(name, value, read_only):
        packed = ctx.packed(value) if read_only else None
        return {"name": name, "type": "u32" if packed else wgsl_type(ctx.spec(value).dtype), "read_only": read_only,
                "packed": packed, "channels": ctx.spec(value).shape[-1] if packed else None}

    return ([binding(f"in{i}", v, True) for i, v in enumerate(inputs)]
            + [binding(f"out{i}", v, False) for i, v in enumerate(outputs)])


def dim(d):
    """A shape entry as a WGSL u32 expression: ``params.batch`` for the dynamic batch, else a literal."""
    return "params.batch" if d is None else f"{int(d)}u"


def numel(shape):
    """Element count of ``shape`` as a WGSL u32 expression."""
    static = int(np.prod([d for d in shape if d is not None], dtype=np.int64))
    return f"(params.batch * {static}u)" if None in shape else f"{static}u"


def strides(shape):
    """Row-major element strides (ints). Only axis 0 may be dynamic, so no stride depends on the batch."""
    if None in shape[1:]:
        raise ExportError(f"shape {shape}: only axis 0 may be the dynamic batch dimension")
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= 1 if d is None else int(d)
    return out[::-1]


def threads(shape):
    """(per_batch, fixed) invocation counts for one thread per element of ``shape``."""
    static = int(np.prod([d for d in shape if d is not None], dtype=np.int64))
    return (static, 0) if None in shape else (0, static)


def scalar_value(array, broadcast=True):
    """The one value of a constant that kernels inline as a literal instead of binding it, else None: a
    single element, or (``broadcast``) one value repeated. ``webexport.fusion`` counts bindings with it too.

    >>> float(scalar_value(np.full((2, 3), 0.5))), scalar_value(np.full((2, 3), 0.5), broadcast=False)
    (0.5, None)
    """
    if array is None or np.size(array) == 0:
        return None
    flat = np.asarray(array).reshape(-1)
    return flat[0] if flat.size == 1 or (broadcast and bool(np.all(flat == flat[0]))) else None


def scalar_constant(ctx, name, broadcast=True):
    """``scalar_value`` of ``name`` when it is a graph constant (``ctx.constant``), else None."""
    return scalar_value(ctx.constant(name), broadcast)


def literal(value, dtype):
    """A WGSL literal for a Python/NumPy scalar of ``dtype``."""
    if dtype == "float32":
        v = float(np.float32(value))
        # Tint refuses NaN and infinite constants, so build them at run time (params.pad0 is always 0).
        if np.isnan(v):
            return "bitcast<f32>(0x7fc00000u + params.pad0)"
        if np.isinf(v):
            return "bitcast<f32>(0x7f800000u + params.pad0)" if v > 0 else "bitcast<f32>(0xff800000u + params.pad0)"
        return f"{v!r}f" if "e" in repr(v) or "." in repr(v) else f"{v}.0f"
    if dtype == "int32":
        # -2147483648i would negate 2147483648i, which is past i32: write the minimum as a constant expression.
        return "(-2147483647i - 1i)" if int(value) == -2**31 else f"{int(value)}i"
    if dtype == "bool":
        return "1u" if value else "0u"
    raise ExportError(f"no WGSL literal for dtype {dtype}")

"""A plain copy kernel: how export gives a graph output its own buffer when it would otherwise share one.

Zero-copy ops (reshape) alias their input's buffer. When such a value is a graph output and its buffer
belongs to a graph input, a weight or another output, ``webexport.lower`` copies it instead, so every
output is a distinct buffer the runtime can read after the last step.

    >>> from pyml.ops import Spec
    >>> kernel = copy_kernel("x", "v1", Spec((None, 4), "float32"), label="v1/copy")
    >>> kernel.threads
    (4, 0)
"""
from webexport.kernels.common import Kernel, numel, render, threads, wgsl_type


def copy_kernel(source, destination, spec, label):
    """A Kernel copying value ``source`` into ``destination``; both have ``spec`` (shape, dtype)."""
    storage = wgsl_type(spec.dtype)
    binds = [{"name": "in0", "type": storage, "read_only": True},
             {"name": "out0", "type": storage, "read_only": False}]
    # The source names no value, so copies of one size and dtype share a kernel in the bundle.
    wgsl = render("copy.wgsl.j2", label=f"copy {spec.dtype}", bindings=binds, total=numel(spec.shape))
    return Kernel(wgsl=wgsl, inputs=[source], outputs=[destination], threads=threads(spec.shape), label=label,
                  nodes=[destination])


"""webexport: compile a pyml model ahead of time into a web bundle (WGSL kernels + JS runtime + weights).

    >>> import webexport
    >>> webexport.export(model, "site/model", input_shape=(784,))   # model.json, weights.bin, runtime/
    >>> bundle = webexport.load_bundle("site/model")                # validated manifest + weight arrays
    >>> webexport.run_bundle(bundle, x)                             # native WebGPU (wgpu-py), as the browser runs it
    >>> webexport.export(model, "site", app=True)                   # an installable offline page (webexport.app)

The stages, one module each: ``fusion`` (epilogue chains) → ``lower`` (kernels per node) → ``memory``
(activation buffers from liveness) → ``bundle`` (write, and ``validate`` to read back).
"""
from webexport.bundle import write_bundle  # noqa: F401
from webexport.export import export  # noqa: F401
from webexport.fusion import fuse  # noqa: F401
from webexport.kernels.common import ExportError  # noqa: F401
from webexport.lower import Plan, lower  # noqa: F401
from webexport.memory import MemoryPlan, plan_memory  # noqa: F401
from webexport.native import run_bundle  # noqa: F401  (wgpu is imported on first use)
from webexport.validate import Bundle, BundleError, load_bundle  # noqa: F401


__all__ = ["export", "load_bundle", "run_bundle", "write_bundle", "lower", "fuse", "plan_memory",
           "Plan", "MemoryPlan", "Bundle", "BundleError", "ExportError"]

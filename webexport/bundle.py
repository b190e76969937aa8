"""Write a bundle folder (the format is docs/internals.md §6; ``webexport.validate`` reads it back).

    model.json     manifest: signature, graph, weights table, buffer plan, kernels, steps, limits, memory,
                   and the CPU program (``cpu``, from ``webexport.cpu_plan``)
    weights.bin    every graph constant, little-endian, each entry 4-byte aligned, SHA-256 per entry and file
                   (``weights-1-of-N.bin``… past 16 MiB; float16/int8 storage on request: webexport.weights)
    runtime/       a copy of the JS runtime (web/src)

``write_bundle`` builds the folder beside ``out_dir`` (``.model.tmp-<pid>-<random>``) and swaps it into place
only once it is complete (``pyml.utils.atomic.replace_folder``): a failed or ``kill -9``-ed export never leaves
a half-written bundle, a reader sees the old complete bundle or the new one, and the next export removes the
staging folder a killed one left.
``webexport.load_bundle`` reads one back, checking everything before anything is used.

    >>> write_bundle(plan, memory, "model")            # model/model.json, model/weights.bin, model/runtime/

Each weight is stored as ``plan.storage`` says (``lower(..., weights="int8")`` decided it), and ``values`` marks
the weights whose GPU buffer holds those stored bytes (``plan.packed``).
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

import pyml
from pyml.utils import atomic
from webexport.cpu_plan import plan_cpu
from webexport.kernels.common import ExportError
from webexport.jsstrip import strip_comment_lines
from webexport.lower import workgroup_storage_bytes
from webexport.names import NAMES_VERSION
from webexport.validate import FORMAT, PACKED_VERSION
from webexport.weights import pack_weights, storage_error

_ROOT = Path(__file__).resolve().parent


def write_bundle(plan, memory, out_dir, include_runtime=True, texts=None, pads=None, names=None, train=None):
    """Write the bundle for ``plan`` (``webexport.lower``) and ``memory`` (``webexport.memory``) to ``out_dir``.

    Args:
        plan: the lowered ``Plan``.
        memory: its ``MemoryPlan``.
        out_dir: the bundle folder; an existing bundle there is replaced, anything else refused.
        include_runtime: copy the JS runtime into ``out_dir/runtime`` (leave it out when the page
            serves the runtime itself).
        texts: per graph input, its ``text`` field or None (``webexport.text.text_inputs``).
        pads: per graph input, its ``pad`` field or None (``webexport.padding.pad_inputs``).
        names: ``(input names, output names)`` the page uses (``webexport.names.io_names``); by default the graph's
            value names.
        train: ``(section, shards)`` from ``webexport.train.training_section``: written as ``manifest["train"]``
            and its weights files (``train.bin``).

    Returns:
        The manifest (a dict), as written to ``model.json``.
    """
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    shards, table = pack_weights(plan.graph, plan.storage)
    accuracy = storage_error(plan.graph, table)
    if accuracy is not None:
        table["accuracy"] = accuracy
    manifest = build_manifest(plan, memory, table, texts, pads, names)
    files = list(zip(table["files"], shards))
    if train is not None:
        manifest["train"] = train[0]
        files += list(zip(train[0]["weights"]["files"], train[1]))
    runtime = runtime_dir() if include_runtime else None
    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    target = out_dir.resolve()
    atomic.remove_stale(target)  # the staging folders of an export killed earlier
    staging = Path(atomic.temp_path(target))
    try:
        staging.mkdir()
    except OSError as exc:  # a read-only or special folder (/proc): name the bundle, not the staging folder
        raise type(exc)(exc.errno, f"Cannot export to {out_dir}: {exc.strerror}") from None
    try:
        for spec, data in files:
            _write_synced(staging / spec["file"], data)
        _write_synced(staging / "model.json", (json.dumps(manifest, indent=1, allow_nan=False) + "\n").encode())
        if runtime is not None:
            copy_runtime(runtime, staging / "runtime")
        os.chmod(staging, 0o755)
        atomic.replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def runtime_dir():
    """The JS runtime to copy into bundles: ``webexport/runtime`` when packaged, else the repo's ``web/src``."""
    for candidate in (_ROOT / "runtime", _ROOT.parent / "web" / "src"):
        if (candidate / "index.js").is_file():
            return candidate
    raise ExportError("the JS runtime (web/src/index.js) was not found next to webexport; reinstall pyml, or "
                      "export with include_runtime=False and serve the runtime yourself")


def copy_runtime(source, dest):
    """Copy the JS runtime's modules (``*.js``, ``cpu/*.js`` included) and WebAssembly kernels
    (``wasm/*.wasm``) from ``source`` to ``dest``.

    Every module is copied, the CPU kernel families too: the page fetches only what it imports (on WebGPU,
    no ``cpu/*.js`` and no wasm; on the CPU, one wasm build and the families its ``js`` steps use), and the
    fallback must find any of them. Anything else (dotfiles, caches, notes, build records) stays out. The
    modules lose their comment-only lines (``webexport.jsstrip``): a page downloads a third less.
    """
    def not_a_module(folder, names):
        return [n for n in names if n.startswith(".") or n == "__pycache__"
                or ((Path(folder) / n).is_file() and not n.endswith((".js", ".wasm")))]

    def copy_module(src, dst):
        if not src.endswith(".js"):
            return shutil.copy2(src, dst)
        Path(dst).write_text(strip_comment_lines(Path(src).read_text(encoding="utf-8"), src), encoding="utf-8")
        return dst

    shutil.copytree(source, dest, ignore=not_a_module, copy_function=copy_module)


def _check_replaceable(out_dir):
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a folder; refusing to replace it with a bundle")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "model.json").is_file():
        raise ExportError(f"{out_dir} is a non-empty folder without model.json, so it is not a pyml bundle; "
                          "refusing to replace it (choose an empty or new folder)")


def _write_synced(path, data):
    """Write ``data`` and flush it to disk, so the folder renamed into place holds it after a power cut too."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def build_manifest(plan, memory, weights, texts=None, pads=None, names=None):
    """The model.json dict for ``plan``, ``memory`` and the ``weights`` table from ``webexport.weights.pack_weights``."""
    graph = plan.graph
    _refuse_non_finite_attrs(graph)
    input_names, output_names = names or (graph.inputs, graph.outputs)
    renamed = list(input_names) != list(graph.inputs) or list(output_names) != list(graph.outputs)
    signature = lambda value, name: {"name": name, "shape": list(graph.node(value).shape),  # noqa: E731
                                     "dtype": graph.node(value).dtype}
    kernels, kernel_ids, steps = [], {}, []

    def kernel_id(program):  # kernels are deduplicated by WGSL source (and workgroup size)
        key = (program.wgsl, program.workgroup_size)
        if key not in kernel_ids:
            kernel_ids[key] = len(kernels)
            kernels.append({"id": len(kernels), "wgsl": program.wgsl, "workgroup_size": program.workgroup_size})
        return kernel_ids[key]

    for step in plan.steps:
        kernel = step.kernel
        entry = {"kernel": kernel_id(kernel), "label": step.label, "nodes": list(step.nodes),
                 "inputs": list(kernel.inputs), "outputs": list(kernel.outputs),
                 "threads": [int(t) for t in kernel.threads]}
        if kernel.variants:
            entry["variants"] = [{"min_batch": int(v.min_batch), "kernel": kernel_id(v),
                                  "threads": [int(t) for t in v.threads]} for v in kernel.variants]
        steps.append(entry)
    return {
        # Format 3 (packed weights) and 4 (names apart from the graph's values) only where needed, so runtimes reading
        # an older format still run every bundle they can.
        "format": FORMAT, "format_version": NAMES_VERSION if renamed else PACKED_VERSION if plan.packed else 2,
        "producer": f"pyml {pyml.__version__}",
        "inputs": [dict(signature(v, n), **({"text": t} if t else {}), **({"pad": p} if p else {}))
                   for v, n, t, p in zip(graph.inputs, input_names, texts or [None] * len(graph.inputs),
                                         pads or [None] * len(graph.inputs))],
        "outputs": [signature(v, n) for v, n in zip(graph.outputs, output_names)],
        "graph": graph.to_json(),
        "weights": weights,
        "buffers": [{"id": i, "bytes_per_batch": int(b), "bytes_fixed": int(f)} for i, (b, f) in enumerate(memory.slots)],
        "values": _values(plan, memory),
        "kernels": kernels,
        "steps": steps,
        "limits": _limits(plan, memory),
        "memory": memory.summary(),
        "cpu": plan_cpu(graph).to_json(),
    }


def _refuse_non_finite_attrs(graph):
    """JSON has no NaN or Infinity (JSON.parse rejects them), so such an attribute cannot reach the runtime."""
    def finite(value):
        if isinstance(value, (list, tuple)):
            return all(finite(v) for v in value)
        return not isinstance(value, float) or np.isfinite(value)

    for node in graph.nodes:
        for key, value in node.attrs.items():
            if not finite(value):
                raise ExportError(f"node %{node.name} ({node.target}): attribute {key} is not finite, and model.json "
                                  f"cannot hold NaN or Infinity. Received: {key}={value!r}")


def _values(plan, memory):
    values = {}
    for name in plan.specs:
        if plan.is_weight(name):
            entry = plan.weights[plan.root(name)]
            values[name] = {"weight": entry, "packed": True} if entry in plan.packed else {"weight": entry}
        elif name in memory.slot_of:
            values[name] = {"buffer": int(memory.slot_of[name])}
    return values


def _limits(plan, memory):
    """The device limits the bundle needs (GPUSupportedLimits names), sizes at batch 1. Each weight entry is
    a buffer of its own (weights.bin as a whole is never bound): its stored bytes when packed, else widened to
    4 bytes per element."""
    bound = [len(s.kernel.inputs) + len(s.kernel.outputs) for s in plan.steps]
    programs = [p for s in plan.steps for p in [s.kernel] + list(s.kernel.variants)]
    slot_sizes = [-(-memory.slot_bytes(i, 1) // 16) * 16 for i in range(len(memory.slots))]
    weight_sizes = [plan.buffer_bytes(v) for v in plan.weights if v in plan.specs]
    biggest = max(slot_sizes + weight_sizes + [0])
    limits = {"maxStorageBuffersPerShaderStage": max(bound, default=0),
              "maxStorageBufferBindingSize": biggest, "maxBufferSize": biggest,
              "maxComputeInvocationsPerWorkgroup": max((p.workgroup_size for p in programs), default=0)}
    shared = max((workgroup_storage_bytes(p.wgsl) for p in programs), default=0)
    if shared:
        limits["maxComputeWorkgroupStorageSize"] = shared
    return limits

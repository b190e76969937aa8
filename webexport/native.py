"""Run generated WGSL natively from Python through wgpu-py (Vulkan; Mesa lavapipe on CPU-only machines).

Used by the tests to validate and execute every kernel without a browser, and by benchmarks on GPUs.

    >>> out = run_kernels(kernels, {"x": x_array}, specs, batch=4)   # {"v1": array, ...}
    >>> run_bundle("model", {"image": x_array})                      # {"probs": array}: a whole bundle

``run_bundle`` does what the JS WebGPU runtime does: pipelines once per bundle (every step's variants too,
where the JS runtime compiles a variant when a batch first wants it), a buffer per weight (a packed one holding its
stored float16/int8 bytes, exactly, the others float32); per batch size, one buffer per slot of
the manifest's memory plan and one bind group per step; per call, one upload, one command buffer running the
steps in order, each its program for the batch (``step_program``), one readback.
"""
import contextlib
import math
import os
import tempfile
import weakref

import numpy as np

from webexport.kernels.common import ExportError
from webexport.lower import MAX_ELEMENTS
from webexport.padding import length_hint, pad_input

_DEVICE = {}
_NUMPY = {"float32": np.float32, "int32": np.int32, "bool": np.uint32}
GUARD_BYTES = 4096  # run_bundle(guard=True): what every slot buffer gets past its end, ...
GUARD_WORD = np.array([0x7FC5A5A5], np.uint32).tobytes()  # ... filled with this NaN (a float32 read makes outputs NaN)


class OutOfBoundsError(RuntimeError):
    """A guarded run (``run_bundle(guard=True)``) found a buffer's guard overwritten: a step wrote past its end."""


def device():
    """The shared wgpu device (created once); raises RuntimeError with the reason when there is no adapter."""
    if "device" not in _DEVICE:
        import wgpu

        with _runtime_dir():
            adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
            if adapter is None:
                raise RuntimeError("wgpu found no adapter: install Mesa's Vulkan driver "
                                   "(apt-get install mesa-vulkan-drivers)")
            _DEVICE["device"] = adapter.request_device_sync()
    return _DEVICE["device"]


@contextlib.contextmanager
def _runtime_dir():
    """A usable XDG_RUNTIME_DIR while the Vulkan instance starts, restored afterwards.

    Mesa's Vulkan drivers probe for a Wayland display as the instance starts; without XDG_RUNTIME_DIR (a headless
    machine, a cron job, sudo) libwayland-client prints "error: XDG_RUNTIME_DIR is invalid or not set" to stderr,
    twice, though nothing is wrong. A private, empty directory quiets it and holds no display, so the probe
    finds none, as it would anyway.
    """
    current = os.environ.get("XDG_RUNTIME_DIR")
    if current and os.path.isdir(current) and os.access(current, os.W_OK):
        yield
        return
    private = os.path.join(tempfile.gettempdir(), f"pyml-runtime-{os.getuid()}")
    os.makedirs(private, mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = private
    try:
        yield
    finally:
        if current is None:
            del os.environ["XDG_RUNTIME_DIR"]
        else:
            os.environ["XDG_RUNTIME_DIR"] = current


def compile_wgsl(wgsl, label="kernel"):
    """Create the shader module and compute pipeline; a WGSL error raises ExportError with the compiler message."""
    import wgpu

    dev = device()
    try:
        module = dev.create_shader_module(code=wgsl, label=label)
        return dev.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"}, label=label)
    except wgpu.GPUError as exc:
        raise ExportError(f"kernel {label}: WGSL failed to compile:\n{exc}\n--- source ---\n{wgsl}") from None


def _words(array, dtype):
    """``array`` in the 4-byte storage type of ``dtype``; bools become 0/1 first, as numpy casts any number."""
    array = np.asarray(array)
    return (array.astype(bool) if dtype == "bool" else array).astype(_NUMPY[dtype])


def _storage(dev, array):
    import wgpu

    data = np.ascontiguousarray(array).tobytes() or b"\0\0\0\0"
    data += b"\0" * (-len(data) % 4)
    return dev.create_buffer_with_data(data=data, usage=wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC)


def _dispatch_size(total, workgroup_size):
    groups = max(1, -(-total // workgroup_size))
    if groups <= 65535:
        return groups, 1
    return 65535, -(-groups // 65535)


def pick_variant(kernel, batch):
    """The program a ``Kernel`` runs at ``batch``: its last ``Variant`` (they go by increasing ``min_batch``) with
    ``min_batch <= batch``, else the kernel itself; both have ``wgsl``, ``threads`` and ``workgroup_size``."""
    chosen = kernel
    for variant in kernel.variants:
        if variant.min_batch <= batch:
            chosen = variant
    return chosen


def run_kernels(kernels, values, specs, batch=1):
    """Execute ``kernels`` in order. ``values`` maps input/constant names to arrays; ``specs`` maps every
    value name to its Spec (None in a shape = the batch). Returns all values, computed ones included."""
    import wgpu

    dev = device()
    host = {k: np.asarray(v) for k, v in values.items()}
    buffers = {}

    def concrete(name):
        shape, dtype = specs[name]
        return tuple(batch if d is None else d for d in shape), dtype

    def buffer(name):
        if name not in buffers:
            shape, dtype = concrete(name)
            if name in host:
                buffers[name] = _storage(dev, _words(host[name], dtype).reshape(shape))
            else:
                buffers[name] = _storage(dev, np.zeros(shape, _NUMPY[dtype]))
        return buffers[name]

    params = dev.create_buffer_with_data(data=np.array([batch, 0, 0, 0], np.uint32).tobytes(),
                                         usage=wgpu.BufferUsage.UNIFORM)
    encoder = dev.create_command_encoder()
    for kernel in kernels:
        program = pick_variant(kernel, batch)
        pipeline = compile_wgsl(program.wgsl, kernel.label)
        entries = [{"binding": 0, "resource": {"buffer": params}}]
        entries += [{"binding": i + 1, "resource": {"buffer": buffer(v)}} for i, v in enumerate(kernel.inputs + kernel.outputs)]
        group = dev.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, group)
        total = program.threads[0] * batch + program.threads[1]
        if total:
            compute.dispatch_workgroups(*_dispatch_size(total, program.workgroup_size), 1)
        compute.end()
    dev.queue.submit([encoder.finish()])
    out = dict(host)
    for name, buf in buffers.items():
        if name in host:
            continue
        shape, dtype = concrete(name)
        raw = np.frombuffer(dev.queue.read_buffer(buf), dtype=_NUMPY[dtype])[: int(np.prod(shape, dtype=np.int64))]
        out[name] = (raw != 0).reshape(shape) if dtype == "bool" else raw.reshape(shape).copy()
    return out


def time_kernels(kernels, values, specs, batch=1, repeats=10):
    """Seconds per run of ``kernels`` (as ``run_kernels`` runs them), for benchmarks on a GPU: buffers, pipelines
    and bind groups made once, then ``repeats`` runs in one command buffer, timed from submit to a 4-byte
    readback of the last output (which waits for the queue). One untimed run first compiles and warms up."""
    import time

    import wgpu

    dev = device()
    buffers = {}
    for name, (shape, dtype) in specs.items():
        shape = tuple(batch if d is None else d for d in shape)
        array = _words(values[name], dtype).reshape(shape) if name in values else np.zeros(shape, _NUMPY[dtype])
        buffers[name] = _storage(dev, array)
    params = dev.create_buffer_with_data(data=np.array([batch, 0, 0, 0], np.uint32).tobytes(),
                                         usage=wgpu.BufferUsage.UNIFORM)
    passes = []
    for kernel in kernels:
        program = pick_variant(kernel, batch)
        pipeline = compile_wgsl(program.wgsl, kernel.label)
        entries = [{"binding": 0, "resource": {"buffer": params}}]
        entries += [{"binding": i + 1, "resource": {"buffer": buffers[v]}}
                    for i, v in enumerate(kernel.inputs + kernel.outputs)]
        group = dev.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)
        passes.append((pipeline, group, _dispatch_size(program.threads[0] * batch + program.threads[1],
                                                       program.workgroup_size)))
    last = buffers[kernels[-1].outputs[0]]

    def run(count):
        encoder = dev.create_command_encoder()
        for _ in range(count):
            for pipeline, group, size in passes:
                compute = encoder.begin_compute_pass()
                compute.set_pipeline(pipeline)
                compute.set_bind_group(0, group)
                compute.dispatch_workgroups(*size, 1)
                compute.end()
        dev.queue.submit([encoder.finish()])
        dev.queue.read_buffer(last, 0, 4)

    run(1)
    start = time.perf_counter()
    run(repeats)
    return (time.perf_counter() - start) / repeats


# ---- whole bundles ------------------------------------------------------------------------------------
_RUNNERS = weakref.WeakKeyDictionary()  # Bundle -> _BundleRunner: pipelines and weights, created once


def run_bundle(bundle, inputs, batch=None, guard=False):
    """Run a bundle's steps natively with its buffer plan; returns ``{output name: array}``.

    Args:
        bundle: a bundle folder (or its model.json), or a ``Bundle`` from ``webexport.load_bundle``
            (pass the loaded one to reuse its pipelines across calls).
        inputs: ``{name: array}`` (the names of the manifest's ``inputs``: the model's, ``webexport.names``), a list
            in their order, or one array for one input.
        batch: the batch size; by default read from axis 0 of the inputs whose batch is dynamic.
        guard: a check for out-of-bounds access (the fuzz harness's, tests/fuzz/bundles.py): every slot buffer of the
            plan is made ``GUARD_BYTES`` longer than the plan asks, filled with a NaN; a step that reads past the plan's
            size brings NaN into the outputs, and one that writes past it raises ``OutOfBoundsError``. (Weights keep
            their size: kernels take a weight's row count from its buffer's length, ``arrayLength``. Nothing outside a
            binding can be reached: WebGPU clamps or zeroes such accesses.)

    >>> bundle = load_bundle("model")
    >>> run_bundle(bundle, {"image": np.zeros((3, 64), np.float32)})["probs"].shape
    (3, 10)
    """
    from webexport.validate import Bundle, load_bundle

    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    return prepare_bundle(bundle, guard).run(inputs, batch)


def prepare_bundle(bundle, guard=False):
    """Create a loaded ``Bundle``'s pipelines and weight buffers now (``run_bundle`` does it on first use);
    returns the runner, cached on the bundle. Benchmarks call it to time loading apart from the first run."""
    if bundle not in _RUNNERS or _RUNNERS[bundle].guard != (GUARD_BYTES if guard else 0):
        _RUNNERS[bundle] = _BundleRunner(bundle, GUARD_BYTES if guard else 0)
    return _RUNNERS[bundle]


class _BundleRunner:
    def __init__(self, bundle, guard=0):
        dev = device()
        self.guard = guard
        self.manifest = m = bundle.manifest
        first = {}
        for step in m["steps"]:
            for program in [step] + step.get("variants", []):
                first.setdefault(program["kernel"], step)
        sources = {k["id"]: k["wgsl"] for k in m["kernels"]}
        self.pipelines = {kid: _pipeline(sources[kid], step) for kid, step in first.items()}
        self.workgroup = {k["id"]: k["workgroup_size"] for k in m["kernels"]}
        used = {n for s in m["steps"] for n in s["inputs"]}
        self.weights = {}  # entry name -> its buffer: the stored bytes when packed, else 4 bytes per element
        for name, value in m["values"].items():
            entry = value.get("weight")
            if entry is None or name not in used or entry in self.weights:
                continue
            if value.get("packed"):
                self.weights[entry] = _storage(dev, np.frombuffer(bundle.stored[entry], np.uint8))
            else:
                array = np.asarray(bundle.weights[entry])
                self.weights[entry] = _storage(dev, array.astype(_NUMPY[str(array.dtype)]))
        self.batch = None
        # One run at batch 1 on zeros, as the JS runtime does at load: lavapipe compiles a pipeline's code at its
        # first dispatch, which would otherwise land in the first call.
        self.run([np.zeros([1 if d is None else d for d in spec["shape"]], _NUMPY[spec["dtype"]])
                  for spec in m["inputs"]], 1)

    def _prepare(self, batch):
        """Slot buffers, the params uniform and one bind group per step, for one batch size."""
        import wgpu

        dev, m = device(), self.manifest
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        sizes = {b["id"]: max(16, -(-(b["bytes_per_batch"] * batch + b["bytes_fixed"]) // 16) * 16) for b in m["buffers"]}
        self.slots = {i: dev.create_buffer(size=size + self.guard, usage=usage) for i, size in sizes.items()}
        for slot in self.slots.values() if self.guard else ():
            dev.queue.write_buffer(slot, slot.size - self.guard, GUARD_WORD * (self.guard // 4))
        self.params = dev.create_buffer_with_data(data=np.array([batch, 0, 0, 0], np.uint32).tobytes(),
                                                  usage=wgpu.BufferUsage.UNIFORM)
        self.groups = []
        for step in m["steps"]:
            pipeline, layout = self.pipelines[step["kernel"]]
            entries = [{"binding": 0, "resource": {"buffer": self.params}}]
            entries += [{"binding": i + 1, "resource": {"buffer": self._buffer(name)}}
                        for i, name in enumerate(step["inputs"] + step["outputs"])]
            self.groups.append(dev.create_bind_group(layout=layout, entries=entries, label=step.get("label", "")))
        self.batch = batch

    def _buffer(self, name):
        value = self.manifest["values"][name]
        return self.weights[value["weight"]] if "weight" in value else self.slots[value["buffer"]]

    def run(self, inputs, batch):
        m = self.manifest
        arrays = [pad_input(spec, a, f"run_bundle: input {spec['name']!r}")
                  for spec, a in zip(m["inputs"], _match_inputs(m["inputs"], inputs))]
        steps = {n["shape"][1] for n in m["graph"]["nodes"] if n.get("target") == "rnn_scan"}
        batch = _batch_of(m["inputs"], arrays, batch, steps)
        if batch != self.batch:
            _check_index_range(m["graph"], batch)
            self._prepare(batch)
        dev = device()
        for spec, value, array in zip(m["inputs"], m["graph"]["inputs"], arrays):
            data = np.ascontiguousarray(_words(array, spec["dtype"])).tobytes()
            if data:
                dev.queue.write_buffer(self.slots[m["values"][value]["buffer"]], 0, data)
        encoder = dev.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for step, group in zip(m["steps"], self.groups):
            program = step_program(step, batch)
            total = program["threads"][0] * batch + program["threads"][1]
            if total:
                compute.set_pipeline(self.pipelines[program["kernel"]][0])
                compute.set_bind_group(0, group)
                compute.dispatch_workgroups(*_dispatch_size(total, self.workgroup[program["kernel"]]), 1)
        compute.end()
        dev.queue.submit([encoder.finish()])
        if self.guard:
            self._check_guards()
        out = {}
        for spec, value in zip(m["outputs"], m["graph"]["outputs"]):  # keyed by name (format 4: the user's names)
            shape = tuple(batch if d is None else d for d in spec["shape"])
            raw = np.frombuffer(dev.queue.read_buffer(self._buffer(value)), _NUMPY[spec["dtype"]])
            raw = raw[: int(np.prod(shape, dtype=np.int64))].reshape(shape)
            out[spec["name"]] = (raw != 0) if spec["dtype"] == "bool" else raw.astype(spec["dtype"])
        return out

    def _check_guards(self):
        for i, buffer in self.slots.items():
            if device().queue.read_buffer(buffer, buffer.size - self.guard) != GUARD_WORD * (self.guard // 4):
                raise OutOfBoundsError(f"run_bundle: a step wrote past the end of buffers[id={i}] (its guard changed)")


def step_program(step, batch):
    """What a manifest step runs at ``batch``: the ``{kernel, threads}`` of its variant with the largest
    ``min_batch <= batch``, else the step's own (docs/internals.md §6; web/src/webgpu.js does the same)."""
    chosen = step
    for variant in step.get("variants", []):
        if variant["min_batch"] <= batch:
            chosen = variant
    return chosen


_LAYOUTS = {}  # (inputs, outputs) -> the bind group layout every kernel bound that way shares (on the one device)
_PIPELINES = {}  # (WGSL, (inputs, outputs)) -> (pipeline, layout): bundles sharing a kernel compile it once


def _pipeline(wgsl, step):
    """``(pipeline, bind group layout)`` with the explicit layout the JS runtime uses (web/src/webgpu.js):
    binding 0 the params uniform, then the step's inputs read-only, then its outputs. Layouts are shared by
    binding count, so a step's bind group fits each of its variants' pipelines."""
    key = (len(step["inputs"]), len(step["outputs"]))
    if (wgsl, key) not in _PIPELINES:
        _PIPELINES[wgsl, key] = _compile_pipeline(wgsl, step, key, _LAYOUTS)
    return _PIPELINES[wgsl, key]


def _compile_pipeline(wgsl, step, key, layouts):
    import wgpu

    dev = device()
    label = step.get("label", "")
    if key not in layouts:
        stage = wgpu.ShaderStage.COMPUTE
        entries = [{"binding": 0, "visibility": stage, "buffer": {"type": wgpu.BufferBindingType.uniform}}]
        entries += [{"binding": 1 + i, "visibility": stage,
                     "buffer": {"type": wgpu.BufferBindingType.read_only_storage}} for i in range(key[0])]
        entries += [{"binding": 1 + key[0] + i, "visibility": stage,
                     "buffer": {"type": wgpu.BufferBindingType.storage}} for i in range(key[1])]
        layouts[key] = dev.create_bind_group_layout(entries=entries, label=f"{key[0]} inputs, {key[1]} outputs")
    layout = layouts[key]
    try:
        module = dev.create_shader_module(code=wgsl, label=label)
        pipeline = dev.create_compute_pipeline(layout=dev.create_pipeline_layout(bind_group_layouts=[layout]),
                                               compute={"module": module, "entry_point": "main"}, label=label)
    except wgpu.GPUError as exc:
        raise ExportError(f"kernel of step {label!r}: WGSL failed to compile or does not match the step's "
                          f"bindings:\n{exc}\n--- source ---\n{wgsl}") from None
    return pipeline, layout


def _match_inputs(specs, inputs):
    names = [s["name"] for s in specs]
    if isinstance(inputs, dict):
        missing, unknown = [n for n in names if n not in inputs], [n for n in inputs if n not in names]
        if missing or unknown:
            raise ValueError(f"run_bundle: the bundle takes inputs {names}; "
                             f"{f'missing {missing}' if missing else ''}{'; ' if missing and unknown else ''}"
                             f"{f'unknown {unknown}' if unknown else ''}. Received: {list(inputs)}")
        inputs = [inputs[n] for n in names]
    elif not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    if len(inputs) != len(names):
        raise ValueError(f"run_bundle: the bundle takes {len(names)} inputs {names}. Received: {len(inputs)} arrays")
    return [np.asarray(x) for x in inputs]


def _check_index_range(graph, batch):
    """As the JS runtimes' ``checkIndexRange``: refuse a batch at which a value passes the kernels' 32-bit indices."""
    for node in graph["nodes"]:
        count = math.prod(batch if d is None else d for d in node["shape"])
        if count > MAX_ELEMENTS:
            raise ValueError(f"run_bundle: batch {batch}: %{node['name']} ({node.get('target') or node['op']}) would "
                             f"hold {count} elements, past 2^31 - 1, the most the kernels' 32-bit index math reaches: "
                             f"run smaller batches")


def _batch_of(specs, arrays, batch, steps=()):
    """The batch size of ``arrays``, checked against the bundle's input ``specs``. ``steps``: the sequence lengths
    of the model's recurrent layers (``rnn_scan``), which export fixed: an input whose axis 1 is one of them is a
    sequence."""
    for spec, array in zip(specs, arrays):
        shape = spec["shape"]
        if array.ndim != len(shape):
            raise ValueError(f"run_bundle: input {spec['name']!r} has shape {list(shape)}. Received: {array.shape}")
        if len(shape) >= 2 and shape[1] in steps and shape[1] != array.shape[1]:
            steps, got = shape[1], array.shape[1]
            raise ValueError(f"run_bundle: input {spec['name']!r}: a sequence of {got} steps, but the model was "
                             f"exported for sequences of {steps} steps (its recurrent layers run that many): "
                             f"{length_hint(shape, got)}. Received: shape {array.shape}")
        if shape and shape[0] is None:
            if batch is not None and array.shape[0] != batch:
                raise ValueError(f"run_bundle: input {spec['name']!r} has batch {array.shape[0]}, expected {batch}. "
                                 f"Received: shape {array.shape}")
            batch = array.shape[0]
        fixed = [(d, a) for d, a in zip(shape, array.shape) if d is not None]
        if any(d != a for d, a in fixed):
            raise ValueError(f"run_bundle: input {spec['name']!r} has shape {list(shape)}. Received: {array.shape}")
    return 1 if batch is None else int(batch)

"""Run generated WGSL natively from Python through wgpu-py (Vulkan; Mesa lavapipe on CPU-only machines).

Used by the tests to validate and execute every kernel without a browser, and by benchmarks on GPUs.

    >>> out = run_kernels(kernels, {"x": x_array}, specs, batch=4)   # {"v1": array, ...}
"""
import numpy as np

from webexport.kernels.common import ExportError

_DEVICE = {}
_NUMPY = {"float32": np.float32, "int32": np.int32, "bool": np.uint32}


def device():
    """The shared wgpu device (created once); raises RuntimeError with the reason when there is no adapter."""
    if "device" not in _DEVICE:
        import wgpu

        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        if adapter is None:
            raise RuntimeError("wgpu found no adapter: install Mesa's Vulkan driver (apt-get install mesa-vulkan-drivers)")
        _DEVICE["adapter"] = adapter
        _DEVICE["device"] = adapter.request_device_sync()
    return _DEVICE["device"]


def adapter_info():
    device()
    return dict(_DEVICE["adapter"].info)


def compile_wgsl(wgsl, label="kernel"):
    """Create the shader module and compute pipeline; a WGSL error raises ExportError with the compiler message."""
    import wgpu

    dev = device()
    try:
        module = dev.create_shader_module(code=wgsl, label=label)
        return dev.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"}, label=label)
    except wgpu.GPUError as exc:
        raise ExportError(f"kernel {label}: WGSL failed to compile:\n{exc}\n--- source ---\n{wgsl}") from None


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
                buffers[name] = _storage(dev, host[name].astype(_NUMPY[dtype]).reshape(shape))
            else:
                buffers[name] = _storage(dev, np.zeros(shape, _NUMPY[dtype]))
        return buffers[name]

    params = dev.create_buffer_with_data(data=np.array([batch, 0, 0, 0], np.uint32).tobytes(),
                                         usage=wgpu.BufferUsage.UNIFORM)
    encoder = dev.create_command_encoder()
    for kernel in kernels:
        pipeline = compile_wgsl(kernel.wgsl, kernel.label)
        entries = [{"binding": 0, "resource": {"buffer": params}}]
        entries += [{"binding": i + 1, "resource": {"buffer": buffer(v)}} for i, v in enumerate(kernel.inputs + kernel.outputs)]
        group = dev.create_bind_group(layout=pipeline.get_bind_group_layout(0), entries=entries)
        compute = encoder.begin_compute_pass()
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, group)
        total = kernel.threads[0] * batch + kernel.threads[1]
        if total:
            compute.dispatch_workgroups(*_dispatch_size(total, kernel.workgroup_size), 1)
        compute.end()
    dev.queue.submit([encoder.finish()])
    out = dict(host)
    for name, buf in buffers.items():
        if name in host:
            continue
        shape, dtype = concrete(name)
        raw = np.frombuffer(dev.queue.read_buffer(buf), dtype=_NUMPY[dtype])[: int(np.prod(shape, dtype=np.int64))]
        out[name] = (raw != 0) if dtype == "bool" else raw.reshape(shape).copy()
    return out

"""The one seam between pyml and the array library that computes: NumPy on the CPU, CuPy on NVIDIA GPUs.

Everything that touches raw arrays goes through ``xp()``, so switching device is one call:

    >>> import pyml
    >>> pyml.backend.name()
    'numpy'
    >>> with pyml.device("cpu"):
    ...     pyml.backend.device_name()
    'cpu'

``pyml.set_device("gpu")`` (or ``PYML_DEVICE=gpu`` in the environment before ``import pyml``, or
``with pyml.device("gpu"):``) makes every new tensor, gradient and optimizer slot a CuPy array on the
current CUDA device. Host NumPy arrays come back only through ``to_numpy`` (``Tensor.numpy()``, saving,
export, metrics' results), never implicitly: CuPy refuses ``np.asarray`` of a device array, and so does the
strict stand-in module the CPU tests run the whole op suite on (``tests/strict_xp.py``).
"""
import contextlib
import os

import numpy as np

_state = {"name": "numpy", "xp": np}

GPU_INSTALL_HINT = (
    "pip install 'pyml[gpu]' (brings cupy-cuda12x, for CUDA 12 drivers; for another driver install the "
    "matching wheel instead: cupy-cuda11x or cupy-cuda13x — `nvidia-smi` prints the CUDA version)")


def xp():
    """The array module in use (``numpy`` or ``cupy``)."""
    return _state["xp"]


def name():
    """Name of the array backend in use: ``"numpy"``, ``"cupy"`` or a test module's name."""
    return _state["name"]


def device_name():
    """``"cpu"`` while arrays are host NumPy arrays, else ``"gpu"``."""
    return "cpu" if _state["xp"] is np else "gpu"


def _cupy():
    """The ``cupy`` module, checked to see a CUDA device; a RuntimeError naming the fix otherwise."""
    try:
        import cupy
    except ImportError as exc:
        raise RuntimeError(f"the GPU backend needs CuPy, which is not installed: {GPU_INSTALL_HINT}") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, or a driver older than the wheel's CUDA
        raise RuntimeError(
            f"CuPy is installed but found no usable CUDA driver ({exc}). Install the NVIDIA driver, or a "
            f"CuPy wheel matching the driver's CUDA version: {GPU_INSTALL_HINT}") from exc
    if count < 1:
        raise RuntimeError("CuPy is installed but sees no CUDA device (is CUDA_VISIBLE_DEVICES empty?)")
    return cupy


def set_backend(backend):
    """Select the array backend: ``"numpy"``, ``"cupy"``, or an array module object.

    A module object must be a NumPy-compatible namespace whose arrays have ``.get()`` (CuPy's way to copy
    to the host); pyml's tests pass a strict NumPy stand-in that refuses implicit host copies, to prove the
    GPU path on a machine without one. Tensors made before the switch keep their arrays.
    """
    if backend == "numpy" or backend is np:
        backend, module = "numpy", np
    elif backend == "cupy":
        module = _cupy()
    elif not isinstance(backend, str) and hasattr(backend, "asarray"):
        backend, module = getattr(backend, "__name__", "custom"), backend
    else:
        raise ValueError(f"Unknown backend: expected 'numpy', 'cupy' or an array module. Received: {backend!r}")
    _state.update(name=backend, xp=module)


def set_device(device):
    """Compute on ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy, the current CUDA device).

    >>> pyml.set_device("cpu")
    """
    if device == "cpu":
        set_backend("numpy")
    elif device in ("gpu", "cuda"):
        set_backend("cupy")
    else:
        raise ValueError(f"Unknown device: expected 'cpu' or 'gpu'. Received: device={device!r}")


@contextlib.contextmanager
def device(device_or_backend):
    """Context manager: compute on ``device_or_backend`` inside, restore the previous backend on exit.

    >>> with pyml.device("cpu"):
    ...     pass
    """
    saved = dict(_state)
    if device_or_backend in ("cpu", "gpu", "cuda"):
        set_device(device_or_backend)
    else:
        set_backend(device_or_backend)
    try:
        yield
    finally:
        _state.update(saved)


def to_numpy(array):
    """A host NumPy array from a backend array (copies off the GPU under CuPy)."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "get"):
        return array.get()
    return np.asarray(array)


def asarray(value, dtype=None):
    """A backend array from ``value`` (NumPy arrays, lists, scalars, backend arrays)."""
    return xp().asarray(value, dtype=dtype)


def address(array):
    """Where ``array``'s first element lives (a host or device pointer): equal for views of the same memory."""
    interface = getattr(array, "__array_interface__", None)
    return interface["data"][0] if interface is not None else array.data.ptr


def is_host():
    """True when arrays are host NumPy arrays (so NumPy-only speed-ups, threads and views, apply)."""
    return _state["xp"] is np


class _NoErrorState(contextlib.ContextDecorator):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def errstate(module, **kwargs):
    """``numpy.errstate(**kwargs)`` on the host; on a device nothing (GPU kernels never warn on inf/NaN, and
    CuPy has no error state). Usable as a context manager or a decorator."""
    return np.errstate(**kwargs) if module is np else _NoErrorState()


def _from_environment():
    """``PYML_DEVICE=gpu|cpu`` chooses the device at import."""
    wanted = os.environ.get("PYML_DEVICE", "").strip().lower()
    if wanted:
        set_device(wanted)


_from_environment()

"""The one seam between pyml and the array library that computes: NumPy now, CuPy on NVIDIA GPUs.

Everything that touches raw arrays goes through ``xp()``, so switching backend is one call:

    >>> import pyml
    >>> pyml.backend.name()
    'numpy'
"""
import numpy as np

_state = {"name": "numpy", "xp": np}


def xp():
    """The array module in use (``numpy`` or ``cupy``)."""
    return _state["xp"]


def name():
    """Name of the array backend in use."""
    return _state["name"]


def set_backend(backend_name):
    """Select the array backend: ``"numpy"`` or ``"cupy"``.

    Tensors made before the switch keep their arrays; mix them with ``to_backend``.
    """
    if backend_name == "numpy":
        module = np
    elif backend_name == "cupy":
        try:
            import cupy as module
        except ImportError as exc:
            raise RuntimeError("set_backend('cupy') needs CuPy: pip install 'pyml[gpu]'") from exc
    else:
        raise ValueError(f"Unknown backend: expected 'numpy' or 'cupy'. Received: backend_name={backend_name!r}")
    _state.update(name=backend_name, xp=module)


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

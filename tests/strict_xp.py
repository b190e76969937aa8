"""A stand-in for CuPy on a machine without a GPU: NumPy computes, but its arrays behave like device arrays.

CuPy's documented rule (docs.cupy.dev, "Conversion to/from NumPy arrays"): ``cupy.ndarray`` and
``numpy.ndarray`` are not implicitly convertible to each other — NumPy functions do not take device arrays
and CuPy functions do not take host arrays; only ``xp.asarray(host)`` and ``device.get()`` cross. So here:

- ``np.asarray(a)`` / ``np.array(a)`` raise TypeError (``__array__``), as CuPy's do;
- NumPy functions refuse a ``StrictArray`` (``__array_function__``): stricter than CuPy, which dispatches most
  of them to itself (NEP 18), so that a forgotten ``np.sum(a)``/``np.copyto(a, b)`` fails here; NumPy ufuncs
  compute on the device as CuPy's ``__array_ufunc__`` does (``np.float32(2) * a`` is common and fine);
- this module's functions, operators, ``out=`` and ``a[i] = v`` refuse a host ``np.ndarray`` operand
  (NumPy *scalars* and Python numbers are fine, as in CuPy); ``asarray``/``array`` alone take host data;
- ``float(a)``/``int(a)``/``bool(a)``/``a.item()`` of a one-element array work, as CuPy's do (a sync);
- names CuPy lacks are missing here too (``MISSING``), so a forward that needs them fails on the CPU.

So a forgotten ``np.`` call or an implicit host copy in pyml's device path fails a CPU test.
"""
import types

import numpy as np

# NumPy names that CuPy does not provide (or not in the form pyml could use): the device path must not use them.
MISSING = {"errstate", "seterr", "geterr"}
_PASS = (type, np.dtype, int, float, bool, str, type(None))


class HostConversionError(TypeError):
    """An implicit host<->device conversion that CuPy would refuse."""


def _unwrap(value, where):
    if value.__class__ is StrictArray:
        return value._a
    if isinstance(value, np.ndarray):
        raise HostConversionError(f"{where}: a host numpy.ndarray {value.shape} {value.dtype} mixed with device "
                                  "arrays (CuPy refuses it; copy it over with xp.asarray once)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):  # CuPy returns 0-d device arrays where NumPy gives scalars
        return StrictArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(fn, where, args, kwargs):
    with np.errstate(all="ignore"):  # device kernels never warn on inf/NaN (pyml's host path silences NumPy)
        return _wrap(fn(*_unwrap(args, where), **_unwrap(kwargs, where)))


class StrictArray:
    """A device-like array around a NumPy array (``.get()`` copies it to the host, as CuPy's does)."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, array):
        self._a = array

    def __array__(self, *args, **kwargs):
        raise HostConversionError("Implicit conversion to a NumPy array is not allowed (as in CuPy): "
                                  "use .get() / pyml.backend.to_numpy")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # CuPy computes NumPy ufuncs of its arrays on the device (NEP 13): ``np.float32(2) * a`` is fine; a host
        # array among the operands is not
        return _call(getattr(ufunc, method) if method != "__call__" else ufunc, f"numpy.{ufunc.__name__}",
                     inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        raise HostConversionError(f"numpy.{func.__name__} called on a device array: use the backend's xp")

    def get(self):
        return self._a.copy()

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    data = property(lambda self: types.SimpleNamespace(ptr=self._a.__array_interface__["data"][0]))  # CuPy's MemoryPointer

    @shape.setter
    def shape(self, value):  # in place, refused (AttributeError) where the strides do not allow it, as NumPy and CuPy
        self._a.shape = value
    real = property(lambda self: StrictArray(self._a.real))

    def __getattr__(self, attr):
        if attr.startswith("__"):  # __array_interface__, __array_struct__: no back door to the host buffer
            raise AttributeError(attr)
        method = getattr(self._a, attr)
        if not callable(method):
            return _wrap(method)
        return lambda *a, **k: _call(method, f"ndarray.{attr}", a, k)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, "indexing")])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, "indexing")] = _unwrap(value, "item assignment")

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __index__(self):
        return self._a.__index__()

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    def __hash__(self):
        raise TypeError("unhashable type: StrictArray")


def _operator(op):
    def method(self, *args):
        return _call(getattr(self._a, op), f"operator {op}", args, {})
    method.__name__ = op
    return method


for _op in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift "
            "radd rsub rmul rtruediv rfloordiv rmod rpow rmatmul rand ror rxor "
            "lt le gt ge eq ne neg pos abs invert").split():
    setattr(StrictArray, f"__{_op}__", _operator(f"__{_op}__"))


def _inplace(op):
    def method(self, other):
        getattr(self._a, op)(_unwrap(other, f"operator {op}"))
        return self
    return method


for _op in "iadd isub imul itruediv ifloordiv imod ipow iand ior ixor".split():
    setattr(StrictArray, f"__{_op}__", _inplace(f"__{_op}__"))


class _Function:
    """A NumPy function or ufunc that takes and gives device arrays (ufunc methods too: ``add.at``)."""

    def __init__(self, fn, name):
        self._fn, self._name = fn, name

    def __call__(self, *args, **kwargs):
        return _call(self._fn, f"xp.{self._name}", args, kwargs)

    def __getattr__(self, attr):
        value = getattr(self._fn, attr)
        wrap = (callable(value) or isinstance(value, types.ModuleType)) and not isinstance(value, _PASS)
        return _Function(value, f"{self._name}.{attr}") if wrap else value


def asarray(value, dtype=None, **kwargs):
    """The one way host data becomes a device array (explicit, as ``cupy.asarray``)."""
    if value.__class__ is StrictArray:
        return value if dtype is None or value.dtype == dtype else StrictArray(value._a.astype(dtype))
    return StrictArray(np.asarray(_unwrap_host(value), dtype=dtype, **kwargs))


def array(value, dtype=None, copy=True, **kwargs):
    if value.__class__ is StrictArray:
        return StrictArray(np.array(value._a, dtype=dtype, copy=copy, **kwargs))
    return StrictArray(np.array(_unwrap_host(value), dtype=dtype, copy=copy, **kwargs))


def ascontiguousarray(value, dtype=None):
    return StrictArray(np.ascontiguousarray(_unwrap(value, "xp.ascontiguousarray"), dtype=dtype))


def asnumpy(value):
    return value.get() if value.__class__ is StrictArray else np.asarray(value)


def _unwrap_host(value):
    """Host data for asarray/array: lists of device arrays (``xp.asarray([a, b])``) are taken apart too."""
    if isinstance(value, (list, tuple)):
        return [_unwrap_host(v) for v in value]
    return value._a if value.__class__ is StrictArray else value


ndarray = StrictArray


def __getattr__(attr):
    if attr in MISSING or attr.startswith("__"):
        raise AttributeError(f"module 'strict_xp' (standing in for cupy) has no attribute {attr!r}")
    value = getattr(np, attr)
    if isinstance(value, types.ModuleType):  # xp.random, xp.linalg, xp.lib.stride_tricks (CuPy has them)
        return _Function(value, attr)
    if isinstance(value, _PASS) or not callable(value):
        return value  # dtypes (xp.float32), constants (xp.inf, xp.newaxis)
    return _Function(value, attr)

"""The dtypes pyml knows, by name: float32 (the default), float64, int32, bool."""
import numpy as np

DTYPES = ("float32", "float64", "int32", "bool")
FLOATS = ("float32", "float64")


_NAMES = {np.dtype(n): n for n in DTYPES}  # np.dtype.name is slow in NumPy 2; ops look names up here


def name_of(np_dtype):
    """The name of a NumPy dtype (fast path for the four pyml dtypes)."""
    return _NAMES.get(np_dtype) or np_dtype.name


def canonical(dtype):
    """The canonical name of ``dtype`` (a name, NumPy dtype or Python type); a clear error otherwise."""
    if dtype.__class__ is str and dtype in DTYPES:
        return dtype
    if dtype is None:
        return "float32"
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int32"
    if dtype is bool:
        return "bool"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name == "int64":
        return "int32"
    if name not in DTYPES:
        raise TypeError(f"Unknown dtype: pyml supports {', '.join(DTYPES)}. Received: dtype={dtype!r}")
    return name


def of_array(array):
    """The pyml dtype of a backend array: other ints become int32, other floats float32."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "bool"
    if kind in "iu":
        return "int32"
    if kind == "f":
        return "float64" if size == 8 else "float32"
    raise TypeError(f"Unknown dtype: pyml supports {', '.join(DTYPES)}. Received: dtype={array.dtype}")


def is_float(dtype):
    """Whether the dtype name is a float one (the only dtypes with gradients)."""
    return dtype in FLOATS


_ORDER = {"bool": 0, "int32": 1, "float32": 2, "float64": 3}


def result_type(*dtypes):
    """NumPy promotion restricted to pyml's dtypes (bool < int32 < float32 < float64)."""
    if len(dtypes) == 2 and dtypes[0] == dtypes[1]:
        return dtypes[0]
    return max(dtypes, key=_ORDER.__getitem__)

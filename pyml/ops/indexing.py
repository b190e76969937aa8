"""Selecting parts of a tensor by index: ``getitem`` (``x[key]``), ``strided_slice`` and ``split``.

All of them compose the movement primitives (``slice``, ``take``, ``reshape``, ``transpose``), so they
differentiate and export with no extra kernels.

    >>> x = pyml.Tensor(np.arange(24.0).reshape(2, 3, 4))
    >>> x[1, ::-1, None, [0, 3]].shape     # as NumPy: the int and the list are apart, so their dim goes first
    (2, 3, 1)
"""
import builtins

import numpy as np

from pyml.errors import OpError
from pyml.ops.elementwise import convert_to_tensor
from pyml.ops.movement import _axis, _bind_slice, reshape, take, transpose

__all__ = ["getitem", "strided_slice", "split"]


def _is_int(k):
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _classify(item):
    """One key entry as ("int", i) | ("slice", s) | ("new", None) | ("ellipsis", None) | ("array", tensor)."""
    from pyml.tensor import Tensor

    if item is None:
        return "new", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, builtins.slice):
        return "slice", item
    if _is_int(item):
        return "int", int(item)
    if isinstance(item, Tensor) and not item.is_symbolic and item.ndim == 0 and item.dtype == "int32":
        return "int", int(item.item())
    if isinstance(item, (bool, np.bool_)):
        raise OpError("getitem", f"boolean indices are not supported (the result's shape would depend on the "
                                 f"data). Received: key entry {item!r}")
    if isinstance(item, Tensor):
        array = item
    elif isinstance(item, (list, tuple, np.ndarray)):
        values = np.asarray(item)
        if values.dtype.kind == "b":
            array = None
        elif values.size and values.dtype.kind not in "iu":
            raise OpError("getitem", f"index arrays must hold integers. Received: key entry of dtype {values.dtype}")
        else:
            array = Tensor(values.astype(np.int64))
        if array is None:
            raise OpError("getitem", "boolean masks are not supported (the result's shape would depend on the "
                                     f"data); use ops.where instead. Received: mask of shape {values.shape}")
    else:
        raise OpError("getitem", f"keys may be ints, slices, None, Ellipsis or integer arrays. Received: {item!r}")
    if array.dtype == "bool":
        raise OpError("getitem", "boolean masks are not supported (the result's shape would depend on the data); "
                                 f"use ops.where instead. Received: mask of shape {array.shape}")
    if array.dtype != "int32":
        raise OpError("getitem", f"index tensors must be int32. Received: dtype={array.dtype}")
    return "array", array


def _expand(key, ndim):
    """Classified entries, with full slices after the Ellipsis (explicit, or implied at the end) for the axes it
    stands for. The Ellipsis entry stays, as NumPy counts it when deciding where integer-array dims go."""
    entries = [_classify(k) for k in (key if isinstance(key, tuple) else (key,))]
    used = sum(kind in ("int", "slice", "array") for kind, _ in entries)
    if used > ndim:
        raise OpError("getitem", f"too many indices for a tensor of rank {ndim}: {used} were given. "
                                 f"Received: key={key!r}")
    dots = [i for i, (kind, _) in enumerate(entries) if kind == "ellipsis"]
    if len(dots) > 1:
        raise OpError("getitem", f"an index can only have a single Ellipsis. Received: key={key!r}")
    at = dots[0] if dots else len(entries)
    fill = [("slice", builtins.slice(None))] * (ndim - used)
    return entries[:at] + [("ellipsis", None)] + fill + entries[at + 1:]


def getitem(x, key):
    """NumPy basic indexing plus integer-array indexing on one axis; ``Tensor.__getitem__`` calls it.

    Supported key entries: ints (negative count from the end), slices with any step (negative too), None /
    ``np.newaxis``, one Ellipsis, and integer arrays, lists or int32 tensors (at most one with ndim > 0, taken
    with ``take`` and placed as NumPy places them). Boolean masks are refused: their result's shape depends on
    the data, which export cannot express.

    >>> x = pyml.Tensor(np.arange(12).reshape(3, 4))
    >>> x[-1, ::2].numpy()
    array([ 8, 10], dtype=int32)
    >>> x[[2, 0]].shape
    (2, 4)
    """
    x = convert_to_tensor(x)
    entries = _expand(key, x.ndim)
    ranges, takes, layout, advanced, axis = [], [], [], [], 0
    for pos, (kind, value) in enumerate(entries):
        if kind == "ellipsis":
            continue
        if kind == "new":
            layout.append(("dims", (1,)))
            continue
        n = x.shape[axis]
        if kind == "int":
            if not -n <= value < n:
                raise OpError("getitem", f"index {value} is out of bounds for axis {axis} with size {n}. "
                                         f"Received: key={key!r}")
            ranges.append((value % n, value % n + 1, 1))
            advanced.append(pos)
        elif kind == "slice":
            b, e, s = value.indices(n)
            ranges.append((b, e, s))
            layout.append(("dims", (len(range(b, e, s)),)))
        else:
            ranges.append((0, n, 1))
            takes.append((axis, value))
            layout.append(("array", value.shape))
            advanced.append(pos)
        axis += 1
    if sum(t.ndim > 0 for _, t in takes) > 1:
        raise OpError("getitem", "indexing with more than one integer array is not supported; index one axis at a "
                                 f"time. Received: key={key!r}")
    out = _bind_slice(x, ranges)
    # Each take replaces its axis by the index's dims; axes to its right shift by the index's ndim - 1.
    shift = 0
    for ax, indices in takes:
        out = take(out, indices, axis=ax + shift)
        shift += indices.ndim - 1
    # Ints left size-1 axes behind (dropped now); None adds size-1 axes.
    shape = [d for _, dims in layout for d in dims]
    out = reshape(out, tuple(shape))
    # NumPy: advanced indices separated by a slice, None or Ellipsis put their dims first.
    if takes and advanced != list(range(advanced[0], advanced[0] + len(advanced))):
        at = max((i for i, (kind, _) in enumerate(layout) if kind == "array"), key=lambda i: len(layout[i][1]))
        start, width = sum(len(dims) for _, dims in layout[:at]), len(layout[at][1])
        if width and start:
            order = list(range(start, start + width)) + [a for a in range(len(shape)) if not start <= a < start + width]
            out = transpose(out, order)
    return out


def strided_slice(x, begin, end, strides=None):
    """Python-style strided slicing of the leading axes (TensorFlow ``strided_slice``): ``x[b0:e0:s0, ...]``.

    Args:
        x: input tensor.
        begin, end: one entry per leading axis; negative entries count from the end, None means "from the
            start" / "to the end" (in the direction of the stride), out-of-range entries are clamped.
        strides: nonzero ints, default 1; negative strides walk backwards.

    Axes past ``len(begin)`` are kept whole.

    >>> x = pyml.Tensor(np.arange(10))
    >>> pyml.ops.strided_slice(x, [8], [None], [-3]).numpy()
    array([8, 5, 2], dtype=int32)
    """
    x = convert_to_tensor(x)
    strides = [1] * len(begin) if strides is None and _entries(begin) else strides
    for name, value in (("begin", begin), ("end", end), ("strides", strides)):
        if not _entries(value):
            raise OpError("strided_slice", f"{name} must be a list of ints and None. Received: {name}={value!r}")
    strides = list(strides)
    if not len(begin) == len(end) == len(strides) <= x.ndim:
        raise OpError("strided_slice", f"begin, end and strides need the same length, at most the rank of shape "
                                       f"{x.shape}. Received: begin={begin}, end={end}, strides={strides}")
    if any(s == 0 for s in strides):
        raise OpError("strided_slice", f"strides must be nonzero. Received: strides={strides}")
    ranges = [builtins.slice(b, e, s).indices(n) for b, e, s, n in zip(begin, end, strides, x.shape)]
    ranges += [(0, n, 1) for n in x.shape[len(ranges):]]
    return _bind_slice(x, ranges)


def _entries(value):
    """Whether ``value`` is a list or tuple of ints and None (strided_slice's begin, end and strides)."""
    return isinstance(value, (list, tuple)) and all(v is None or _is_int(v) for v in value)


def split(x, indices_or_sections, axis=0):
    """Splits ``x`` along ``axis`` into a list of tensors (Keras/NumPy ``split``).

    Args:
        x: input tensor.
        indices_or_sections: an int N (N equal parts; the axis size must divide by N) or a sorted list of split
            points (negative ones count from the end).
        axis: the axis to split.

    >>> [t.shape for t in pyml.ops.split(pyml.Tensor(np.zeros((5, 2))), [1, 3])]
    [(1, 2), (2, 2), (2, 2)]
    """
    x = convert_to_tensor(x)
    axis = _axis(axis, x.ndim, "split")
    n = x.shape[axis]
    if _is_int(indices_or_sections):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise OpError("split", f"axis {axis} of size {n} cannot be split into {sections} equal parts. "
                                   f"Received: indices_or_sections={indices_or_sections}")
        points = [n // sections * i for i in range(1, sections)]
    else:
        if not isinstance(indices_or_sections, (list, tuple, np.ndarray)) or not all(
                _is_int(p) for p in indices_or_sections):
            raise OpError("split", "indices_or_sections must be an int or a list of ints. "
                                   f"Received: indices_or_sections={indices_or_sections!r}")
        points = [min(max(int(p) + (n if p < 0 else 0), 0), n) for p in indices_or_sections]
    bounds = [0] + points + [n]
    return [_bind_slice(x, [(b, max(b, e), 1) if a == axis else (0, d, 1) for a, d in enumerate(x.shape)])
            for b, e in zip(bounds[:-1], bounds[1:])]

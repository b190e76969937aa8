"""Movement primitives and their public ops: values are rearranged, never computed.

Each primitive is one stanza (shared/STYLE.md §1): name, shape rule, forward on backend arrays, VJP in pyml
ops. Attributes are canonical (docs/internals.md §1): tuples of non-negative Python ints, already resolved
by the public wrapper, so a graph node says exactly what it does.

    >>> x = pyml.Tensor(np.arange(6.0).reshape(2, 3))
    >>> pyml.ops.transpose(x).shape
    (3, 2)
    >>> pyml.ops.reshape(x, (-1,)).shape
    (6,)

Indexing (``x[...]``, ``getitem``) lives in ``pyml/ops/indexing.py``.
"""
import builtins

import numpy as np

from pyml import dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.registry import Spec, bind, primitive

__all__ = ["reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "flatten", "moveaxis", "slice",
           "pad", "concatenate", "stack", "take", "one_hot", "tile", "repeat"]


def _axis(axis, ndim, op):
    """``axis`` made non-negative, or an OpError naming the op."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise OpError(op, f"axis must be an int. Received: axis={axis!r}")
    if not -ndim <= axis < ndim:
        raise OpError(op, f"axis {axis} is out of bounds for a tensor of rank {ndim}. Received: axis={axis}")
    return int(axis) % ndim


def _axis_items(axis):
    """``axis`` as a tuple: the entries of a sequence (list, tuple, range, array), else ``axis`` alone."""
    return tuple(axis) if isinstance(axis, (list, tuple, range, np.ndarray)) else (axis,)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _ints(values, what, op):
    """``values`` as a tuple of ints; floats are refused, not truncated (``2.5`` is a slip, not 2), and so are
    sizes no array can have (past 2**62, where NumPy's int64 arithmetic would overflow)."""
    try:  # a string or dict iterates too, but is no list of ints ('' would be the empty shape)
        items = None if isinstance(values, (str, bytes, dict)) else tuple(values)
    except TypeError:
        items = None
    if items is None or not all(_is_int(v) and abs(int(v)) < 2**62 for v in items):
        raise OpError(op, f"{what} must be a sequence of ints (each of size below 2**62). Received: {what}={values!r}")
    return tuple(int(v) for v in items)


# ---- reshape ---------------------------------------------------------------------------------------------
def _reshape_rule(x, *, shape):
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != int(np.prod(x.shape, dtype=np.int64)):
        raise OpError("reshape", f"cannot reshape a tensor of shape {x.shape} ({int(np.prod(x.shape))} elements) "
                                 f"into shape {shape}. Received: shape={shape}")
    return Spec(shape, x.dtype)


reshape_p = primitive(
    "reshape",
    shape=_reshape_rule,
    forward=lambda xp, x, *, shape: xp.reshape(x, shape),
    vjp=lambda g, inputs, out, attrs: (reshape(g, inputs[0].shape),),
    doc="Same elements in row-major order, new shape. Zero-copy in exported bundles.",
)


def reshape(x, newshape):
    """Gives a tensor a new shape without changing its data (row-major order, as NumPy).

    Args:
        x: input tensor.
        newshape: the new shape; one entry may be -1, inferred from the size of ``x``.

    Returns:
        A tensor with the elements of ``x`` in shape ``newshape``.

    >>> pyml.ops.reshape(pyml.Tensor(np.arange(6)), (2, -1)).shape
    (2, 3)
    """
    x = convert_to_tensor(x)
    shape = _ints((newshape,) if _is_int(newshape) else newshape, "newshape", "reshape")
    size = int(np.prod(x.shape, dtype=np.int64))
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in shape):
        raise OpError("reshape", f"newshape may hold one -1 and no other negative entry. Received: newshape={shape}")
    if unknown:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise OpError("reshape", f"cannot reshape a tensor of shape {x.shape} ({size} elements) into shape "
                                     f"{shape}. Received: newshape={shape}")
        shape = shape[:unknown[0]] + (size // known,) + shape[unknown[0] + 1:]
    if shape == x.shape:
        return x
    return bind(reshape_p, x, shape=shape)


def flatten(x):
    """The elements of ``x`` as a 1-D tensor (row-major).

    >>> pyml.ops.flatten(pyml.Tensor(np.zeros((2, 3)))).shape
    (6,)
    """
    return reshape(x, (-1,))


def expand_dims(x, axis):
    """Inserts a size-1 axis at position ``axis`` (an int or a tuple of ints, positions in the output).

    >>> pyml.ops.expand_dims(pyml.Tensor(np.zeros((2, 3))), -1).shape
    (2, 3, 1)
    """
    x = convert_to_tensor(x)
    items = _axis_items(axis)
    ndim = x.ndim + len(items)
    axes = sorted(_axis(a, ndim, "expand_dims") for a in items)
    if len(set(axes)) != len(axes):
        raise OpError("expand_dims", f"repeated axis. Received: axis={axis}")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """Removes size-1 axes: all of them (``axis=None``) or the given ones, which must have size 1.

    >>> pyml.ops.squeeze(pyml.Tensor(np.zeros((1, 3, 1)))).shape
    (3,)
    """
    x = convert_to_tensor(x)
    if axis is None:
        axes = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        listed = [_axis(a, x.ndim, "squeeze") for a in _axis_items(axis)]
        axes = set(listed)
        if len(axes) != len(listed):
            raise OpError("squeeze", f"repeated axis. Received: axis={axis}")
        bad = [a for a in sorted(axes) if x.shape[a] != 1]
        if bad:
            raise OpError("squeeze", f"cannot squeeze axis {bad[0]} of size {x.shape[bad[0]]} (shape {x.shape}). "
                                     f"Received: axis={axis}")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


# ---- transpose -------------------------------------------------------------------------------------------
def _transpose_rule(x, *, perm):
    if sorted(perm) != list(range(len(x.shape))):
        raise OpError("transpose", f"perm must be a permutation of the {len(x.shape)} axes of shape {x.shape}. "
                                   f"Received: perm={perm}")
    return Spec(tuple(x.shape[p] for p in perm), x.dtype)


transpose_p = primitive(
    "transpose",
    shape=_transpose_rule,
    forward=lambda xp, x, *, perm: xp.transpose(x, perm),
    vjp=lambda g, inputs, out, attrs: (transpose(g, tuple(np.argsort(attrs["perm"]).tolist())),),
    doc="Permute axes: out.shape[i] = x.shape[perm[i]].",
)


def transpose(x, axes=None):
    """Permutes the axes of ``x``; by default reverses them (Keras ``ops.transpose``).

    Args:
        x: input tensor.
        axes: a permutation of ``range(x.ndim)`` (negative entries allowed), or None to reverse.

    >>> pyml.ops.transpose(pyml.Tensor(np.zeros((2, 3, 4))), (0, 2, 1)).shape
    (2, 4, 3)
    """
    x = convert_to_tensor(x)
    if axes is None:
        perm = tuple(range(x.ndim))[::-1]
    else:
        axes = _ints(axes, "axes", "transpose")
        if len(axes) != x.ndim:
            raise OpError("transpose", f"axes must list all {x.ndim} axes of shape {x.shape}. Received: axes={axes}")
        perm = tuple(_axis(a, x.ndim, "transpose") for a in axes)
    if perm == tuple(range(x.ndim)):
        return x
    return bind(transpose_p, x, perm=perm)


def moveaxis(x, source, destination):
    """Moves axis ``source`` to position ``destination``, keeping the others in order.

    >>> pyml.ops.moveaxis(pyml.Tensor(np.zeros((2, 3, 4))), 0, -1).shape
    (3, 4, 2)
    """
    x = convert_to_tensor(x)
    src, dst = _axis(source, x.ndim, "moveaxis"), _axis(destination, x.ndim, "moveaxis")
    order = [a for a in range(x.ndim) if a != src]
    order.insert(dst, src)
    return transpose(x, tuple(order))


# ---- broadcast_to ----------------------------------------------------------------------------------------
def _broadcast_rule(x, *, shape):
    lead = len(shape) - len(x.shape)
    if any(d < 0 for d in shape):
        raise OpError("broadcast_to", f"every dim of the target shape must be non-negative. Received: shape={shape}")
    if lead < 0 or any(d not in (1, t) for d, t in zip(x.shape, shape[lead:])):
        raise OpError("broadcast_to", f"cannot broadcast a tensor of shape {x.shape} to shape {shape}: each "
                                      f"axis must be 1 or match, aligned from the right. Received: shape={shape}")
    return Spec(shape, x.dtype)


broadcast_to_p = primitive(
    "broadcast_to",
    shape=_broadcast_rule,
    forward=lambda xp, x, *, shape: xp.broadcast_to(x, shape),
    # The driver sums the broadcast cotangent back to the input's shape (autodiff._unbroadcast).
    vjp=lambda g, inputs, out, attrs: (g,),
    doc="NumPy broadcasting to an explicit shape.",
)


def broadcast_to(x, shape):
    """Broadcasts ``x`` to ``shape`` with NumPy rules (sizes aligned from the right; 1 stretches).

    >>> pyml.ops.broadcast_to(pyml.Tensor([1.0, 2.0]), (3, 2)).shape
    (3, 2)
    """
    x = convert_to_tensor(x)
    shape = _ints(shape, "shape", "broadcast_to")
    if shape == x.shape:
        return x
    return bind(broadcast_to_p, x, shape=shape)


# ---- slice -----------------------------------------------------------------------------------------------
def _count(start, stop, step):
    return len(range(start, stop, step))


def _slice_rule(x, *, start, stop, step):
    if not len(start) == len(stop) == len(step) == len(x.shape):
        raise OpError("slice", f"start, stop and step need one entry per axis of shape {x.shape}. "
                               f"Received: start={start}, stop={stop}, step={step}")
    out = []
    for axis, (b, e, s, n) in enumerate(zip(start, stop, step, x.shape)):
        count = _count(b, e, s) if s else -1
        if count < 0 or (count and not (0 <= b < n and 0 <= b + (count - 1) * s < n)):
            raise OpError("slice", f"axis {axis} of size {n} cannot be sliced as range({b}, {e}, {s}) (indices must "
                                   f"lie in [0, {n}), step must be nonzero). Received: start={start}, stop={stop}, "
                                   f"step={step}")
        out.append(count)
    return Spec(tuple(out), x.dtype)


def _slice_forward(xp, x, *, start, stop, step):
    # A negative stop (negative step) means "past index 0"; as a Python slice it would count from the end.
    return x[tuple(builtins.slice(b, e if e >= 0 else None, s) for b, e, s in zip(start, stop, step))]


def _slice_vjp(g, inputs, out, attrs):
    """Scatter g back into zeros of the input's shape, composed from slice, reshape and pad only.

    Negative steps are reversed first; a step s > 1 interleaves s - 1 zeros after each element
    (reshape to (c, 1), pad to (c, s), reshape to (c * s,)); then one pad puts the block at its offset.
    """
    shape, (start, step) = inputs[0].shape, (attrs["start"], attrs["step"])
    counts = g.shape
    if any(s < 0 for s in step):
        g = _bind_slice(g, [(c - 1, -1, -1) if s < 0 else (0, c, 1) for c, s in zip(counts, step)])
    low = [b + (c - 1) * s if s < 0 else b for b, c, s in zip(start, counts, step)]
    strides = [abs(s) if c > 1 else 1 for c, s in zip(counts, step)]
    if any(s > 1 for s in strides):
        spread = [d for c, s in zip(counts, strides) for d in (c, 1)]
        g = pad(reshape(g, spread), [w for s in strides for w in ((0, 0), (0, s - 1))])
        g = reshape(g, [c * s for c, s in zip(counts, strides)])
        # The zeros after the last element may run past the input's end: cut them.
        if any(lo + d > n for lo, d, n in zip(low, g.shape, shape)):
            g = _bind_slice(g, [(0, min(d, n - lo), 1) for lo, d, n in zip(low, g.shape, shape)])
    return (pad(g, [(lo, n - lo - d) for lo, d, n in zip(low, g.shape, shape)]),)


slice_p = primitive(
    "slice",
    shape=_slice_rule,
    forward=_slice_forward,
    vjp=_slice_vjp,
    doc="Strided slice, one range(start, stop, step) per axis; a negative step walks backwards (its stop may then "
        "be negative, as range's is).",
)


def _bind_slice(x, ranges):
    """Bind the slice primitive from per-axis ``range`` triples (as ``slice.indices`` gives them, so a stop of
    -1 with a negative step means "past index 0"), in canonical form; identity slices bind nothing."""
    canonical = []
    for b, e, s in ranges:
        count = _count(b, e, s)
        canonical.append((0, 0, 1) if count == 0 else (b, b + 1, 1) if count == 1 else (b, b + count * s, s))
    if all(r == (0, n, 1) for r, n in zip(canonical, x.shape)):
        return x
    start, stop, step = (tuple(r[i] for r in canonical) for i in range(3))
    return bind(slice_p, x, start=start, stop=stop, step=step)


def slice(inputs, start_indices, shape):
    """A contiguous block of ``shape`` starting at ``start_indices`` (Keras ``ops.slice``).

    Args:
        inputs: input tensor.
        start_indices: one non-negative start per axis.
        shape: the size of the block on each axis.

    >>> pyml.ops.slice(pyml.Tensor(np.arange(12).reshape(3, 4)), (1, 1), (2, 2)).numpy()
    array([[ 5,  6],
           [ 9, 10]], dtype=int32)
    """
    x = convert_to_tensor(inputs)
    start, size = _ints(start_indices, "start_indices", "slice"), _ints(shape, "shape", "slice")
    if not len(start) == len(size) == x.ndim or any(
            b < 0 or d < 0 or b + d > n for b, d, n in zip(start, size, x.shape)):
        raise OpError("slice", f"the block must lie inside shape {x.shape}, one start and size per axis. "
                               f"Received: start_indices={start}, shape={size}")
    return _bind_slice(x, [(b, b + d, 1) for b, d in zip(start, size)])


# ---- pad -------------------------------------------------------------------------------------------------
def _pad_rule(x, *, pad_width, value):
    if len(pad_width) != len(x.shape) or any(len(w) != 2 or min(w) < 0 for w in pad_width):
        raise OpError("pad", f"pad_width needs one non-negative (before, after) pair per axis of shape {x.shape}. "
                             f"Received: pad_width={pad_width}")
    return Spec(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width)), x.dtype)


pad_p = primitive(
    "pad",
    shape=_pad_rule,
    forward=lambda xp, x, *, pad_width, value: xp.pad(x, pad_width, mode="constant",
                                                      constant_values=xp.asarray(value).astype(x.dtype)),
    vjp=lambda g, inputs, out, attrs: (_bind_slice(g, [(lo, lo + n, 1) for (lo, _), n in
                                                       zip(attrs["pad_width"], inputs[0].shape)]),),
    doc="Constant padding: pad_width is ((before, after), ...) per axis, filled with value.",
)


def pad(x, pad_width, mode="constant", constant_values=None):
    """Pads ``x`` with a constant (Keras ``ops.pad``).

    Args:
        x: input tensor.
        pad_width: ``((before, after), ...)`` per axis, a single ``(before, after)`` pair, or an int, as in
            NumPy; entries must be non-negative.
        mode: only ``"constant"`` is supported.
        constant_values: the fill value (default 0).

    >>> pyml.ops.pad(pyml.Tensor([1.0, 2.0]), (1, 2)).numpy()
    array([0., 1., 2., 0., 0.], dtype=float32)
    """
    x = convert_to_tensor(x)
    if mode != "constant":
        raise OpError("pad", f"only mode='constant' is supported. Received: mode={mode!r}")
    try:
        widths = np.asarray(pad_width)
        if widths.dtype.kind not in "iu":  # 1.5 would be truncated, None or a dict is no width at all
            raise ValueError("not ints")
        widths = np.broadcast_to(widths, (x.ndim, 2))
    except ValueError:
        raise OpError("pad", f"pad_width must broadcast to one (before, after) pair per axis of shape {x.shape}. "
                             f"Received: pad_width={pad_width}") from None
    widths = tuple((int(lo), int(hi)) for lo, hi in widths)
    value = 0 if constant_values is None else constant_values
    value = bool(value) if x.dtype == "bool" else int(value) if x.dtype == "int32" else float(value)
    if all(w == (0, 0) for w in widths):
        return x
    return bind(pad_p, x, pad_width=widths, value=value)


# ---- concatenate and stack -------------------------------------------------------------------------------
def _same_dtype(op, specs):
    if len({s.dtype for s in specs}) != 1:
        raise OpError(op, f"all inputs need one dtype. Received: dtypes={[s.dtype for s in specs]}")


def _concatenate_rule(*xs, axis):
    _same_dtype("concatenate", xs)
    shapes = [s.shape for s in xs]
    rest = {s[:axis] + s[axis + 1:] for s in shapes}
    if not 0 <= axis < len(shapes[0]) or len({len(s) for s in shapes}) != 1 or len(rest) != 1:
        raise OpError("concatenate", f"inputs must have the same rank and match on every axis but axis {axis}. "
                                     f"Received: shapes={shapes}")
    return Spec(shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:], xs[0].dtype)


def _concatenate_vjp(g, inputs, out, attrs):
    axis, offset, cts = attrs["axis"], 0, []
    for x in inputs:
        cts.append(_bind_slice(g, [(offset, offset + x.shape[axis], 1) if a == axis else (0, n, 1)
                                   for a, n in enumerate(g.shape)]))
        offset += x.shape[axis]
    return tuple(cts)


concatenate_p = primitive(
    "concatenate",
    shape=_concatenate_rule,
    forward=lambda xp, *xs, axis: xp.concatenate(xs, axis=axis),
    vjp=_concatenate_vjp,
    doc="Join tensors along an existing axis.",
)


def _stack_rule(*xs, axis):
    _same_dtype("stack", xs)
    shapes = {s.shape for s in xs}
    if len(shapes) != 1 or not 0 <= axis <= len(xs[0].shape):
        raise OpError("stack", f"inputs need one shape and axis must be in [0, {len(xs[0].shape)}]. "
                               f"Received: shapes={[s.shape for s in xs]}, axis={axis}")
    shape = xs[0].shape
    return Spec(shape[:axis] + (len(xs),) + shape[axis:], xs[0].dtype)


def _stack_vjp(g, inputs, out, attrs):
    axis = attrs["axis"]
    return tuple(reshape(_bind_slice(g, [(i, i + 1, 1) if a == axis else (0, n, 1) for a, n in enumerate(g.shape)]),
                         x.shape) for i, x in enumerate(inputs))


stack_p = primitive(
    "stack",
    shape=_stack_rule,
    forward=lambda xp, *xs, axis: xp.stack(xs, axis=axis),
    vjp=_stack_vjp,
    doc="Join same-shape tensors along a new axis.",
)


def _joinable(xs, op):
    if isinstance(xs, (str, bytes)) or not hasattr(xs, "__len__") or not len(xs):
        raise OpError(op, f"expects a non-empty list of tensors. Received: {xs!r}")
    xs = [convert_to_tensor(x) for x in xs]
    dtype = dtypes.result_type(*[x.dtype for x in xs])
    return [x if x.dtype == dtype else cast(x, dtype) for x in xs]


def concatenate(xs, axis=0):
    """Joins a list of tensors along an existing axis (Keras ``ops.concatenate``; dtypes are promoted).

    >>> pyml.ops.concatenate([pyml.Tensor(np.zeros((2, 3))), pyml.Tensor(np.ones((2, 1)))], axis=-1).shape
    (2, 4)
    """
    xs = _joinable(xs, "concatenate")
    axis = _axis(axis, xs[0].ndim, "concatenate")
    if len(xs) == 1:
        return xs[0]
    return bind(concatenate_p, *xs, axis=axis)


def stack(x, axis=0):
    """Joins a list of same-shape tensors along a new axis (Keras ``ops.stack``; dtypes are promoted).

    >>> pyml.ops.stack([pyml.Tensor([1.0, 2.0]), pyml.Tensor([3.0, 4.0])], axis=1).shape
    (2, 2)
    """
    xs = _joinable(x, "stack")
    return bind(stack_p, *xs, axis=_axis(axis, xs[0].ndim + 1, "stack"))


# ---- take and one_hot ------------------------------------------------------------------------------------
def _take_rule(x, indices, *, axis):
    if indices.dtype != "int32":
        raise OpError("take", f"indices must be int32. Received: indices.dtype={indices.dtype}")
    if not 0 <= axis < len(x.shape):
        raise OpError("take", f"axis {axis} is out of bounds for shape {x.shape}. Received: axis={axis}")
    return Spec(x.shape[:axis] + indices.shape + x.shape[axis + 1:], x.dtype)


def _take_vjp(g, inputs, out, attrs):
    """d/dx = one_hot(indices)ᵀ @ g on the taken axis: a matmul, so embedding gradients stay dense and fast."""
    from pyml import ops

    x, indices = inputs
    axis = attrs["axis"]
    n = x.shape[axis]
    before = int(np.prod(x.shape[:axis], dtype=np.int64))
    after = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    flat = reshape(indices, (-1,))
    flat = ops.where(ops.less(flat, 0), ops.add(flat, n), flat)  # take wraps negative indices once
    hot_t = transpose(one_hot(flat, n, dtype=g.dtype))  # (n, K)
    gx = ops.matmul(hot_t, reshape(g, (before, flat.shape[0], after)))  # (before, n, after)
    return reshape(gx, x.shape), None


take_p = primitive(
    "take",
    shape=_take_rule,
    forward=lambda xp, x, indices, *, axis: xp.take(x, indices, axis=axis),
    vjp=_take_vjp,
    doc="numpy.take along one axis; indices are int32, negatives count from the end (once). Eagerly an index "
        "outside [-n, n) is an error; exported kernels read 0 there.",
)


def take(x, indices, axis=None):
    """Takes elements of ``x`` at ``indices`` along ``axis`` (Keras/NumPy ``take``).

    Args:
        x: input tensor.
        indices: int tensor or array-like; entries in ``[-n, n)`` where ``n = x.shape[axis]``, negative ones
            counting from the end.
        axis: the axis to index; None flattens ``x`` first.

    Returns:
        A tensor of shape ``x.shape[:axis] + indices.shape + x.shape[axis + 1:]``.

    >>> pyml.ops.take(pyml.Tensor([[1.0, 2.0], [3.0, 4.0]]), [1, 1, 0], axis=0).shape
    (3, 2)
    """
    x = convert_to_tensor(x)
    if isinstance(indices, (list, tuple)):
        try:
            indices = np.asarray(indices)
        except ValueError:
            raise OpError("take", f"indices must be an int array. Received: ragged indices={indices!r}") from None
        if indices.size == 0:  # [] is float64 to numpy
            indices = indices.astype(np.int64)
    try:
        indices = convert_to_tensor(indices)
    except (TypeError, ValueError) as exc:
        raise OpError("take", f"indices must be an int array ({exc})") from None
    if indices.dtype != "int32":
        raise OpError("take", f"indices must be integers. Received: indices.dtype={indices.dtype}")
    if axis is None:
        x, axis = flatten(x), 0
    axis = _axis(axis, x.ndim, "take")
    if not indices.is_symbolic and indices.size:
        values = indices.numpy()
        bad = values[(values < -x.shape[axis]) | (values >= x.shape[axis])]
        if bad.size:
            raise OpError("take", f"index {int(bad[0])} is out of bounds for axis {axis} with size {x.shape[axis]}. "
                                  f"Received: indices with min {int(values.min())} and max {int(values.max())}")
    return bind(take_p, x, indices, axis=axis)


def _one_hot_rule(indices, *, depth, dtype):
    if indices.dtype != "int32" or depth < 0:
        raise OpError("one_hot", f"indices must be int32 and depth >= 0. Received: indices.dtype={indices.dtype}, "
                                 f"depth={depth}")
    return Spec(indices.shape + (depth,), dtype)


one_hot_p = primitive(
    "one_hot",
    shape=_one_hot_rule,
    forward=lambda xp, indices, *, depth, dtype: (indices[..., None] == xp.arange(depth, dtype=indices.dtype)),
    vjp=None,
    doc="A new last axis of size depth: 1 where it equals the index, else 0 (all zeros when out of range).",
)


def one_hot(x, num_classes, axis=-1, dtype=None):
    """One-hot encodes integer ``x`` (Keras ``ops.one_hot``); indices outside ``[0, num_classes)`` give all zeros.

    Args:
        x: int tensor of class indices.
        num_classes: the size of the new axis.
        axis: where the new axis goes (default last).
        dtype: output dtype, default float32.

    >>> pyml.ops.one_hot(pyml.Tensor([0, 2, -1]), 3).numpy()
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    x = convert_to_tensor(x)
    if x.dtype != "int32":
        raise OpError("one_hot", f"x must hold integers. Received: x.dtype={x.dtype}")
    depth = int(num_classes)
    if depth < 0:
        raise OpError("one_hot", f"num_classes must be >= 0. Received: num_classes={num_classes}")
    out = bind(one_hot_p, x, depth=depth, dtype=dtypes.canonical(dtype))
    return moveaxis(out, -1, axis)


# ---- composites: tile, repeat ---------------------------------------------------------------------
def tile(x, repeats):
    """Repeats the whole of ``x`` ``repeats[i]`` times along each axis (Keras/NumPy ``tile``).

    >>> pyml.ops.tile(pyml.Tensor([1, 2]), (2, 2)).numpy()
    array([[1, 2, 1, 2],
           [1, 2, 1, 2]], dtype=int32)
    """
    x = convert_to_tensor(x)
    reps = _ints((repeats,) if _is_int(repeats) else repeats, "repeats", "tile")
    if any(r < 0 for r in reps):
        raise OpError("tile", f"repeats must be non-negative. Received: repeats={reps}")
    ndim = max(len(reps), x.ndim)
    reps, shape = (1,) * (ndim - len(reps)) + reps, (1,) * (ndim - x.ndim) + x.shape
    # (a, b) -> (1, a, 1, b) -> broadcast (r0, a, r1, b) -> (r0 * a, r1 * b). No unit axis goes before an
    # axis that is not repeated, so a leading batch axis stays axis 0 (and exportable).
    spread = reshape(x, [d for r, n in zip(reps, shape) for d in ((1, n) if r != 1 else (n,))])
    spread = broadcast_to(spread, [d for r, n in zip(reps, shape) for d in ((r, n) if r != 1 else (n,))])
    return reshape(spread, [r * n for r, n in zip(reps, shape)])


def repeat(x, repeats, axis=None):
    """Repeats each element of ``x`` along ``axis`` (Keras/NumPy ``repeat``); ``axis=None`` flattens first.

    Args:
        x: input tensor.
        repeats: an int, or one int per element along ``axis``.
        axis: the axis along which to repeat.

    >>> pyml.ops.repeat(pyml.Tensor([1, 2]), 2).numpy()
    array([1, 1, 2, 2], dtype=int32)
    """
    x = convert_to_tensor(x)
    if axis is None:
        x, axis = flatten(x), 0
    axis = _axis(axis, x.ndim, "repeat")
    n = x.shape[axis]
    counts = _ints((repeats,) if _is_int(repeats) else repeats, "repeats", "repeat")
    counts = np.asarray(counts[0] if _is_int(repeats) else counts, dtype=np.int64)
    if counts.shape == (1,):  # one count for every element, as numpy broadcasts it
        counts = counts[0]
    if counts.ndim > 1 or (counts.ndim == 1 and counts.shape[0] != n) or (counts < 0).any():
        raise OpError("repeat", f"repeats must be a non-negative int or one per element of axis {axis} (size {n}). "
                                f"Received: repeats={repeats}")
    if counts.ndim == 1:
        return take(x, np.repeat(np.arange(n), counts).astype(np.int32), axis=axis)
    r = int(counts)
    spread = expand_dims(x, axis + 1)
    spread = broadcast_to(spread, spread.shape[:axis + 1] + (r,) + spread.shape[axis + 2:])
    return reshape(spread, x.shape[:axis] + (n * r,) + x.shape[axis + 1:])

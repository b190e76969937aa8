"""Reduction primitives (``sum max min mean`` over axes, ``argmax`` along one axis) and their public ops.

Primitive attributes are canonical (docs/internals.md §1): ``axes`` a sorted tuple of non-negative ints,
``keepdims`` a bool; the public ops accept ``axis=None | int | tuple`` with negative axes.

    >>> x = pyml.Tensor([[1.0, 5.0], [3.0, 2.0]])
    >>> pyml.ops.sum(x, axis=-1).numpy()
    array([6., 5.], dtype=float32)
    >>> pyml.ops.argmax(x, axis=0).numpy()
    array([1, 0], dtype=int32)
"""
import numbers

import numpy as np

from pyml import backend, dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import NUMERIC, cast, convert_to_tensor, equal
from pyml.ops.registry import Spec, bind, primitive

__all__ = ["sum", "max", "min", "mean", "argmax", "normalize_axes"]


def normalize_axes(op, axis, ndim):
    """``axis`` (None, an int or a sequence, negatives allowed) as a sorted tuple of distinct axes in [0, ndim).

    >>> normalize_axes("sum", (-1, 0), 3)
    (0, 2)
    """
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is int and -ndim <= axis < ndim:  # the common case, answered without the loop
        return (axis % ndim,)
    try:  # a string or a dict is iterable, but no list of axes ('' would reduce over none)
        items = (axis,) if isinstance(axis, numbers.Integral) else None if isinstance(axis, (str, bytes, dict)) \
            else tuple(axis)
    except TypeError:  # not iterable
        items = None
    if items is None or not all(isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))
                                for a in items):  # True is no axis 1
        raise OpError(op, f"axis must be an int or a sequence of ints. Received: axis={axis!r}")
    out = []
    for a in items:
        a = int(a)
        if not -ndim <= a < ndim:
            raise OpError(op, f"axis {a} is out of bounds for a tensor with ndim {ndim}. Received: axis={axis}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise OpError(op, f"repeated axis. Received: axis={axis}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _reduced_shape(shape, axes, keepdims):
    return _kept_shape(shape, axes) if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)


# ---- shape/dtype rules -----------------------------------------------------------------------------
def _reduce_rule(op, allowed, nonempty=False):
    def rule(x, axes, keepdims):
        if x.dtype not in allowed:
            raise OpError(op, f"expects dtype in ({', '.join(allowed)}). Received: dtype={x.dtype}")
        if list(axes) != sorted(set(axes)) or any(not 0 <= a < len(x.shape) for a in axes):
            raise OpError(op, f"axes must be sorted distinct axes in [0, {len(x.shape)}) for a tensor with "
                              f"ndim {len(x.shape)}. Received: axes={axes}")
        if nonempty and any(x.shape[a] == 0 for a in axes):
            raise OpError(op, f"cannot reduce over an empty axis: shape {x.shape}, axes {axes}")
        return Spec(_reduced_shape(x.shape, axes, keepdims), x.dtype)

    return rule


def _argmax_rule(x, axis, keepdims):
    if x.dtype not in dtypes.DTYPES:
        raise OpError("argmax", f"unsupported dtype {x.dtype}")
    if not 0 <= axis < len(x.shape):
        raise OpError("argmax", f"axis {axis} is out of bounds for a tensor with ndim {len(x.shape)}")
    if x.shape[axis] == 0:
        raise OpError("argmax", f"cannot take argmax over an empty axis: shape {x.shape}, axis {axis}")
    return Spec(_reduced_shape(x.shape, (axis,), keepdims), "int32")


# ---- VJPs (pyml ops only) --------------------------------------------------------------------------
def _spread(g, x, axes, keepdims):
    """The reduced cotangent ``g`` broadcast back over ``x``'s shape."""
    # canonical attributes are at hand, so the primitives are bound directly (no-ops skipped, as the ops do)
    if not keepdims and g.ndim != x.ndim:
        g = bind("reshape", g, shape=_kept_shape(x.shape, axes))
    return g if g.shape == x.shape else bind("broadcast_to", g, shape=x.shape)


def _sum_vjp(g, inputs, out, attrs):
    return (_spread(g, inputs[0], attrs["axes"], attrs["keepdims"]),)


def _mean_vjp(g, inputs, out, attrs):
    x, axes = inputs[0], attrs["axes"]
    count = 1
    for a in axes:
        count *= x.shape[a]
    return (_spread(g / count, x, axes, attrs["keepdims"]),)


def _extreme_vjp(g, inputs, out, attrs):
    # The cotangent is shared evenly among tied extremes (as in JAX), so the VJP is a valid subgradient
    # and agrees with finite differences wherever the extreme is unique.
    x, axes, keepdims = inputs[0], attrs["axes"], attrs["keepdims"]
    hit = cast(equal(x, _spread(out, x, axes, keepdims)), x.dtype)
    count = bind("sum", hit, axes=axes, keepdims=True)
    return (_spread(g, x, axes, keepdims) * hit / _spread(count, x, axes, True),)


# ---- primitives ------------------------------------------------------------------------------------
# inf + -inf is NaN, and that is the answer (as in Keras): no "invalid value" warning from sums and means.
def _sum_forward(xp, x, axes, keepdims):
    with backend.errstate(xp, invalid="ignore", over="ignore"):
        return x.sum(axis=axes, keepdims=keepdims)


def _mean_forward(xp, x, axes, keepdims):
    if x.size == 0:  # NaN (0 / 0) or an empty result, without numpy's "Mean of empty slice" warning
        return xp.full(_reduced_shape(x.shape, axes, keepdims), xp.nan, x.dtype)
    with backend.errstate(xp, invalid="ignore", over="ignore"):
        return x.mean(axis=axes, keepdims=keepdims)


sum_p = primitive("sum", shape=_reduce_rule("sum", NUMERIC), forward=_sum_forward, vjp=_sum_vjp)


mean_p = primitive("mean", shape=_reduce_rule("mean", dtypes.FLOATS), forward=_mean_forward, vjp=_mean_vjp)
max_p = primitive("max", shape=_reduce_rule("max", dtypes.DTYPES, nonempty=True),
                  forward=lambda xp, x, axes, keepdims: x.max(axis=axes, keepdims=keepdims), vjp=_extreme_vjp)
min_p = primitive("min", shape=_reduce_rule("min", dtypes.DTYPES, nonempty=True),
                  forward=lambda xp, x, axes, keepdims: x.min(axis=axes, keepdims=keepdims), vjp=_extreme_vjp)
argmax_p = primitive("argmax", shape=_argmax_rule,
                     forward=lambda xp, x, axis, keepdims: xp.argmax(x, axis=axis, keepdims=keepdims), vjp=None)


# ---- public ops --------------------------------------------------------------------------------------
def _reduce(name, x, axis, keepdims):
    return bind(name, x, axes=normalize_axes(name, axis, len(x._spec.shape)), keepdims=bool(keepdims))


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Sum of elements over ``axis`` (None: all axes; an int or a tuple; negatives count from the end).

    Bool inputs are counted as int32.

    >>> pyml.ops.sum(pyml.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0, keepdims=True).numpy()
    array([[4., 6.]], dtype=float32)
    """
    x = convert_to_tensor(x)
    return _reduce("sum", cast(x, "int32") if x.dtype == "bool" else x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``; int and bool inputs average as float32.

    >>> pyml.ops.mean(pyml.Tensor([1, 2, 3, 4])).numpy()
    array(2.5, dtype=float32)
    """
    x = convert_to_tensor(x)
    return _reduce("mean", x if dtypes.is_float(x.dtype) else cast(x, "float32"), axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Largest element over ``axis``. The gradient is shared evenly among tied maxima.

    >>> pyml.ops.max(pyml.Tensor([[1.0, 5.0], [3.0, 2.0]]), axis=1).numpy()
    array([5., 3.], dtype=float32)
    """
    return _reduce("max", convert_to_tensor(x), axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Smallest element over ``axis``. The gradient is shared evenly among tied minima.

    >>> pyml.ops.min(pyml.Tensor([[1.0, 5.0], [3.0, 2.0]]), axis=1).numpy()
    array([1., 2.], dtype=float32)
    """
    return _reduce("min", convert_to_tensor(x), axis, keepdims)


def argmax(x, axis=None, keepdims=False):
    """Index (int32) of the largest element along ``axis``; ties give the first index, as numpy does.

    With ``axis=None`` the index is into the flattened tensor. Not differentiable.

    >>> pyml.ops.argmax(pyml.Tensor([[1.0, 5.0, 5.0], [3.0, 2.0, 0.0]]), axis=-1).numpy()
    array([1, 0], dtype=int32)
    """
    from pyml import ops

    x = convert_to_tensor(x)
    if axis is None:
        flat = bind("argmax", ops.reshape(x, (x.size,)), axis=0, keepdims=False)
        return ops.reshape(flat, (1,) * x.ndim) if keepdims else flat
    if not isinstance(axis, numbers.Integral):
        raise OpError("argmax", f"axis must be an int or None. Received: axis={axis!r}")
    (axis,) = normalize_axes("argmax", axis, x.ndim)
    return bind("argmax", x, axis=axis, keepdims=bool(keepdims))

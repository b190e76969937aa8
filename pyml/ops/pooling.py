"""Pooling: the ``max_pool``, ``avg_pool``, ``max_pool_grad`` and ``max_pool_gather`` primitives and the
public ``max_pool`` / ``average_pool`` ops (Keras names), channels-last, 1 to 3 spatial dims.

Attributes are canonical: ``window`` and ``strides`` tuples of ints, ``padding`` explicit ``((lo, hi), ...)``
with ``lo, hi < window`` so every window holds at least one input element. Semantics follow TF/Keras:

- ``max_pool``: padding never wins (it acts as -inf). The element a window picks is its first maximum in
  row-major window order (that is where the gradient goes when values tie).
- ``avg_pool``: the mean over the window's *input* elements only: padding is not counted, so with
  ``padding="same"`` a border window of 2 real elements divides by 2 (TF ``avg_pool``, Keras
  ``AveragePooling2D``).

Gradients are exact to any order:

- ``d avg_pool = conv_transpose(g / count, ones, groups=channels)`` (avg_pool is a depthwise conv with
  a ones kernel, scaled by 1 / count);
- ``d max_pool = max_pool_grad(x, g)``, which adds each ``g[o]`` to the input element window ``o`` picked;
- ``max_pool_grad`` is linear in ``g`` and piecewise constant in ``x``; its transpose in ``g`` is
  ``max_pool_gather(x, h)``, which reads ``h`` at the element each window of ``x`` picks, and vice versa.
  Neither has a gradient in ``x`` (zero almost everywhere).

    >>> x = pyml.Tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    >>> pyml.ops.max_pool(x, 2).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
"""
import numpy as np

from pyml import dtypes, threads
from pyml.errors import OpError
from pyml.ops.conv import (allocating, check_attrs, conv_transpose_p, im2col, output_spatial, pad_spatial,
                           resolve_padding, spatial_tuple, to_channels_last, window_index)
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.registry import Spec, bind, primitive

__all__ = ["max_pool", "average_pool"]


# ---- shape rules ---------------------------------------------------------------------------------------
def _pool_geometry(op, x, window, strides, padding):
    """Validate a pooling op's input spec and attributes; returns its output spatial shape."""
    rank = len(window)
    if not 1 <= rank <= 3 or len(x.shape) != rank + 2:
        raise OpError(op, f"x must be (batch, *spatial, channels) with {rank} spatial dims (1 to 3). "
                          f"Received: x.shape={x.shape}, window={window}")
    if x.dtype not in dtypes.FLOATS:
        raise OpError(op, f"expects a float dtype. Received: dtype={x.dtype}")
    check_attrs(op, rank, strides, padding, (1,) * rank)
    for axis, (k, (lo, hi)) in enumerate(zip(window, padding)):
        if k < 1 or lo >= k or hi >= k:
            raise OpError(op, f"padding {(lo, hi)} on spatial axis {axis} must be smaller than the window {k}, so "
                              f"every window holds an input element. Received: window={window}, padding={padding}")
    return output_spatial(op, x.shape[1:-1], window, strides, padding, (1,) * rank)


def _pool_rule(op):
    def rule(x, *, window, strides, padding):
        out = _pool_geometry(op, x, window, strides, padding)
        return Spec((x.shape[0], *out, x.shape[-1]), x.dtype)

    return rule


def _pair_rule(op, pooled_second):
    """Rule for (x, second) ops: ``second`` has the pooled shape (max_pool_grad) or x's shape (gather)."""

    def rule(x, other, *, window, strides, padding):
        out = (x.shape[0], *_pool_geometry(op, x, window, strides, padding), x.shape[-1])
        expected, result = (out, x.shape) if pooled_second else (x.shape, out)
        if tuple(other.shape) != tuple(expected) or other.dtype != x.dtype:
            raise OpError(op, f"the second operand must have shape {tuple(expected)} and dtype {x.dtype}. "
                              f"Received: x.shape={x.shape}, second operand {other.shape} {other.dtype}")
        return Spec(tuple(result), x.dtype)

    return rule


# ---- forwards --------------------------------------------------------------------------------------------
def _columns(xp, x, window, strides, padding, pad_value):
    ones = (1,) * len(window)
    out_sp = output_spatial("pool", x.shape[1:-1], window, strides, padding, ones)
    return im2col(xp, x, window, strides, padding, ones, out_sp, pad_value=pad_value)


def _window_counts(spatial, window, strides, padding):
    """How many input elements each output window covers: a numpy array of the output spatial shape."""
    counts = np.ones((), np.int64)
    for size, k, s, (lo, hi) in zip(spatial, window, strides, padding):
        starts = np.arange((size + lo + hi - k) // s + 1) * s - lo
        per_axis = np.minimum(starts + k, size) - np.maximum(starts, 0)
        counts = np.multiply.outer(counts, per_axis)
    return counts


def _taps(x, window, strides, out_spatial):
    """One strided view of (padded) ``x`` per window offset: ``taps[k][n, o, c] = x[n, o * s + k, c]``."""
    ones = (1,) * len(window)
    return [x[window_index(offset, ones, strides, out_spatial)] for offset in np.ndindex(*window)]


# max_pool and max_pool_grad take the window's elements as strided views of the input, one per offset, and
# combine them with whole-array ufuncs (a running maximum; the first offset equal to it takes the gradient):
# no columns are built, which measured 10-20x faster than im2col on the Keras convnet's 2x2 pooling.
def _by_samples(into):
    """``into(out, x, ...)`` run on ranges of samples in parallel (``pyml.threads``): samples are independent."""
    def run(out, x, *args, **attrs):
        def part(lo, hi):
            sliced = {k: v[lo:hi] if isinstance(v, np.ndarray) else v for k, v in attrs.items()}
            into(out[lo:hi], x[lo:hi], *[a[lo:hi] for a in args], **sliced)

        threads.parallel_rows(part, len(x), x[0].size)

    run.__doc__, run.serial = into.__doc__, into
    return run


@_by_samples
def max_pool_into(out, x, *, window, strides, padding, xp=np):
    """``out[...] = max_pool(x)``: the running maximum over the window's offsets."""
    taps = _taps(pad_spatial(xp, x, padding, -np.inf), window, strides, out.shape[1:-1])
    if len(taps) == 1:
        out[...] = taps[0]
        return
    xp.maximum(taps[0], taps[1], out=out)
    for tap in taps[2:]:
        xp.maximum(out, tap, out=out)


@_by_samples
def max_pool_grad_into(out, x, g, *, window, strides, padding, pooled=None, xp=np):
    """``out[...] = max_pool_grad(x, g)``: each ``g[o]`` added at the first element of window ``o`` equal to its
    maximum (NumPy's argmax order, where a NaN counts as the maximum). ``g`` is routed by its bits (and-ed with
    all ones or all zeros, or multiplied by 1 or 0 as integers), which is exact for every value (+0.0 where
    nothing is routed) and ~25x faster than a masked copy.
    ``pooled``, when given, is ``max_pool(x)`` already computed (the executor passes the forward's)."""
    out_sp = g.shape[1:-1]
    padded = pad_spatial(xp, x, padding, -np.inf)
    taps = _taps(padded, window, strides, out_sp)
    best = pooled
    if best is None:
        best = xp.empty(g.shape, x.dtype)
        max_pool_into.serial(best, x, window=window, strides=strides, padding=padding, xp=xp)
    has_nan = bool(xp.isnan(best).any())
    tiled = all(s == k and n == o * k for s, k, n, o in zip(strides, window, x.shape[1:-1], out_sp))
    if tiled and padded is x and out.flags.c_contiguous:
        _route_tiled(xp, out, x, g, best, window, has_nan)
        return
    grad = out if padded is x else xp.empty(padded.shape, g.dtype)
    grad.fill(0)  # some elements are in no window, or in several: start from zeros and add
    bits = np.dtype(f"u{g.itemsize}")
    g_bits, mask = g.view(bits), xp.empty(g.shape, bits)
    taken, hit = xp.zeros(g.shape, bool), xp.empty(g.shape, bool)
    routed = xp.empty(g.shape, g.dtype)
    for index, (tap, target) in enumerate(zip(taps, _taps(grad, window, strides, out_sp))):
        if index == len(taps) - 1 and index:  # the last offset takes every window no earlier one took
            xp.logical_not(taken, out=hit)
        else:
            xp.equal(tap, best, out=hit)
            if has_nan:
                hit |= xp.isnan(tap)
            if index:
                xp.greater(hit, taken, out=hit)  # for bools, hit > taken is hit and not taken: the first match
        if index < len(taps) - 1:
            taken |= hit
        xp.copyto(mask, hit)
        xp.negative(mask, out=mask)  # all ones where hit
        xp.bitwise_and(g_bits, mask, out=routed.view(bits))
        target += routed
    if grad is not out:
        out[...] = grad[(slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:-1], padding))]


def _route_tiled(xp, out, x, g, best, window, has_nan):
    """``max_pool_grad`` when the windows tile ``x`` exactly (strides = window, no padding): every element
    is in one window. The elements equal to their window's maximum are found in one comparison over a
    ``(n, o1, k1, o2, k2, ..., c)`` view, all but the first of each window are cleared (on bools), and ``g``'s
    bits are multiplied by the 0/1 result as integers: exact for every value, 1.6x less work than offset by
    offset."""
    spread = (x.shape[0],) + tuple(d for o, k in zip(g.shape[1:-1], window) for d in (o, k)) + (x.shape[-1],)
    pooled = (x.shape[0],) + tuple(d for o in g.shape[1:-1] for d in (o, 1)) + (x.shape[-1],)
    hit = xp.equal(x.reshape(spread), best.reshape(pooled))
    if has_nan:
        hit |= xp.isnan(x.reshape(spread))  # a NaN is its window's maximum
    taps = [hit[(slice(None),) + tuple(s for o in offset for s in (slice(None), slice(o, o + 1)))]
            for offset in np.ndindex(*window)]
    taken = taps[0].copy()
    for tap in taps[1:-1]:
        xp.greater(tap, taken, out=tap)  # for bools, tap > taken is tap and not taken: the first match only
        taken |= tap
    if len(taps) > 1:
        xp.logical_not(taken, out=taps[-1])  # the last offset takes every window no earlier one took
    bits = np.dtype(f"u{g.itemsize}")
    xp.multiply(g.view(bits).reshape(pooled), hit, out=out.view(bits).reshape(spread))


def _avg_pool_forward(xp, x, *, window, strides, padding):
    total = _columns(xp, x, window, strides, padding, 0.0).sum(axis=-2)
    counts = xp.asarray(_window_counts(x.shape[1:-1], window, strides, padding)[..., None], dtype=x.dtype)
    return total / counts


def _picked(xp, x, window, strides, padding):
    """Index (into the flattened window) of the element each window picks: first maximum, padding never."""
    return _columns(xp, x, window, strides, padding, -np.inf).argmax(axis=-2)


def _max_pool_gather_forward(xp, x, v, *, window, strides, padding):
    picked = _picked(xp, x, window, strides, padding)
    cols = _columns(xp, v, window, strides, padding, 0.0)
    return xp.take_along_axis(cols, picked[..., None, :], axis=-2)[..., 0, :]


# ---- VJPs (pyml ops only) ------------------------------------------------------------------------------
def _pool_attrs(attrs):
    return {k: attrs[k] for k in ("window", "strides", "padding")}


def _avg_pool_vjp(g, inputs, out, attrs):
    from pyml.tensor import Tensor

    x, window = inputs[0], attrs["window"]
    counts = _window_counts(x.shape[1:-1], window, attrs["strides"], attrs["padding"])
    inverse = Tensor(1.0 / counts[..., None], dtype=g.dtype)
    ones = Tensor(np.ones(window + (1, x.shape[-1])), dtype=g.dtype)
    return (bind(conv_transpose_p, g * inverse, ones, strides=attrs["strides"], padding=attrs["padding"],
                 dilation=(1,) * len(window), groups=x.shape[-1], spatial_shape=x.shape[1:-1]),)


max_pool_p = primitive(
    "max_pool",
    shape=_pool_rule("max_pool"),
    forward=allocating(max_pool_into, lambda x, *, window, strides, padding: (
        x.shape[0], *_pool_geometry("max_pool", x, window, strides, padding), x.shape[-1])),
    vjp=lambda g, inputs, out, attrs: (bind(max_pool_grad_p, inputs[0], g, **_pool_attrs(attrs)),),
    doc="Max over each window (padding never wins), channels-last.",
)
avg_pool_p = primitive(
    "avg_pool",
    shape=_pool_rule("avg_pool"),
    forward=_avg_pool_forward,
    vjp=_avg_pool_vjp,
    doc="Mean over each window's input elements (padding not counted, as TF), channels-last.",
)
max_pool_grad_p = primitive(
    "max_pool_grad",
    shape=_pair_rule("max_pool_grad", pooled_second=True),
    forward=allocating(max_pool_grad_into, lambda x, g, **_: x.shape),
    vjp=lambda g, inputs, out, attrs: (None, bind(max_pool_gather_p, inputs[0], g, **_pool_attrs(attrs))),
    doc="max_pool_grad(x, g): x-shaped; each g[o] added at the element window o of x picks (max_pool's VJP).",
)
max_pool_gather_p = primitive(
    "max_pool_gather",
    shape=_pair_rule("max_pool_gather", pooled_second=False),
    forward=_max_pool_gather_forward,
    vjp=lambda g, inputs, out, attrs: (None, bind(max_pool_grad_p, inputs[0], g, **_pool_attrs(attrs))),
    doc="max_pool_gather(x, v): pooled-shaped; v read at the element each window of x picks (max_pool_grad's "
        "transpose in g).",
)


# ---- public ops ----------------------------------------------------------------------------------------------
def _pool(op, name, inputs, pool_size, strides, padding, data_format):
    x = convert_to_tensor(inputs)
    if not dtypes.is_float(x.dtype):
        x = cast(x, "float32")
    if not 3 <= x.ndim <= 5:
        raise OpError(op, f"inputs must have rank 3, 4 or 5 (batch, *spatial, channels). Received: inputs.shape={x.shape}")
    x, restore = to_channels_last(op, x, data_format)
    rank = x.ndim - 2
    window = spatial_tuple(op, pool_size, rank, "pool_size")
    strides = window if strides is None else spatial_tuple(op, strides, rank, "strides")
    padding = resolve_padding(op, padding, x.shape[1:-1], window, strides, (1,) * rank)
    return restore(bind(name, x, window=window, strides=strides, padding=padding))


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over 1, 2 or 3 spatial dims (Keras ``ops.max_pool``, ``MaxPooling1D/2D/3D``).

    Args:
        inputs: ``(batch, *spatial, channels)`` (or channels-first with ``data_format``).
        pool_size: int or one int per spatial dim.
        strides: int or one per spatial dim; defaults to ``pool_size``.
        padding: ``"valid"``, ``"same"`` (output ``ceil(size / stride)``; padding never wins), an int, or
            ``(lo, hi)`` per spatial dim (each below the window).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        ``(batch, *out_spatial, channels)``. The gradient goes to the first maximum of each window.

    >>> x = pyml.Tensor(np.array([1.0, 3.0, 2.0, 5.0, 4.0], np.float32).reshape(1, 5, 1))
    >>> pyml.ops.max_pool(x, 2, padding="same").numpy().ravel()
    array([3., 5., 4.], dtype=float32)
    """
    return _pool("max_pool", "max_pool", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling over 1, 2 or 3 spatial dims (Keras ``ops.average_pool``, ``AveragePooling1D/2D/3D``).

    Each output is the mean of the *input* elements under its window: padding is not counted (TF/Keras).

    Args:
        inputs: ``(batch, *spatial, channels)`` (or channels-first with ``data_format``).
        pool_size: int or one int per spatial dim.
        strides: int or one per spatial dim; defaults to ``pool_size``.
        padding: ``"valid"``, ``"same"``, an int, or ``(lo, hi)`` per spatial dim (each below the window).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> x = pyml.Tensor(np.array([1.0, 3.0, 2.0, 5.0, 4.0], np.float32).reshape(1, 5, 1))
    >>> pyml.ops.average_pool(x, 2, padding="same").numpy().ravel()
    array([2. , 3.5, 4. ], dtype=float32)
    """
    return _pool("average_pool", "avg_pool", inputs, pool_size, strides, padding, data_format)

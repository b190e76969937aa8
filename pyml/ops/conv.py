"""Convolution: the ``conv``, ``conv_transpose`` and ``conv_filter_grad`` primitives and the public ops.

Layouts are Keras's, channels-last, for 1, 2 or 3 spatial dims (``r``):

- input ``x``: ``(N, *spatial, C_in)``; kernel ``w``: ``(*kernel_size, C_in / groups, C_out)``;
- output: ``(N, *out_spatial, C_out)`` with ``out = (X + lo + hi - ((k - 1) * dilation + 1)) // stride + 1``.

Primitive attributes are canonical (docs/internals.md §1): ``strides`` and ``dilation`` tuples of ``r``
ints, ``padding`` explicit ``((lo, hi), ...)``, ``groups`` an int. The public ``conv`` resolves
``padding="same"`` the TensorFlow/Keras way: ``out = ceil(X / stride)``, and the total padding
``max((out - 1) * stride + k_eff - X, 0)`` is split with the extra element on the high side.

The math, with ``xp[n, i, c]`` the zero-padded input and ``G = groups`` (output channel ``o`` belongs to
group ``o // (C_out / G)``, which reads input channels ``[g * C_in/G, (g + 1) * C_in/G)``)::

    conv(x, w)[n, o, co]             = sum_{k, ci} xp[n, o*s + k*d, g*Cin_g + ci] * w[k, ci, co]
    conv_transpose(y, w)             = the adjoint of x -> conv(x, w), so <conv_transpose(y, w), x> = <y, conv(x, w)>
    conv_filter_grad(x, y)[k, ci, co] = sum_{n, o} xp[n, o*s + k*d, g*Cin_g + ci] * y[n, o, co]

so the three close under differentiation (each VJP is written with the other two):

    d conv            = (conv_transpose(g, w), conv_filter_grad(x, g))
    d conv_transpose  = (conv(g, w), conv_filter_grad(g, y))
    d conv_filter_grad = (conv_transpose(y, g), conv(x, g))

    >>> x = pyml.Tensor(np.ones((1, 5, 5, 2)))
    >>> pyml.ops.conv(x, pyml.Tensor(np.ones((3, 3, 2, 4))), padding="same").shape
    (1, 5, 5, 4)
"""
import math

import numpy as np

from pyml import backend, dtypes, threads
from pyml.errors import OpError
from pyml.ops import depthwise_numpy
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.movement import reshape, transpose
from pyml.ops.registry import Spec, bind, primitive

__all__ = ["conv", "conv_transpose", "depthwise_conv"]


# ---- attribute helpers (shared with pooling.py) -----------------------------------------------------
def spatial_tuple(op, value, rank, name):
    """``value`` (an int or a sequence of ``rank`` ints, each >= 1) as a tuple of ``rank`` ints."""
    items = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
    if len(items) != rank or any(not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1 for v in items):
        raise OpError(op, f"{name} must be a positive int or a sequence of {rank} positive ints. "
                          f"Received: {name}={value!r}")
    return tuple(int(v) for v in items)


def resolve_padding(op, padding, spatial, window, strides, dilation, causal=False):
    """``padding`` ("valid", "same", "causal" when allowed, an int, or ``(lo, hi)`` per axis) made explicit."""
    rank = len(spatial)
    if isinstance(padding, str):
        mode = padding.lower()
        effective = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
        if mode == "valid":
            return ((0, 0),) * rank
        if mode == "same":
            out = []
            for size, k, s in zip(spatial, effective, strides):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        if mode == "causal" and causal and rank == 1:
            return ((effective[0] - 1, 0),)
        allowed = '"valid", "same"' + (', "causal" (1-D only)' if causal else "")
        raise OpError(op, f"padding must be {allowed} or explicit (lo, hi) pairs. Received: padding={padding!r}")
    pairs = [(padding, padding)] * rank if isinstance(padding, (int, np.integer)) else list(padding)
    try:
        pairs = [(p, p) if isinstance(p, (int, np.integer)) else tuple(p) for p in pairs]
        ok = len(pairs) == rank and all(len(p) == 2 and min(p) >= 0 for p in pairs)
        result = tuple((int(lo), int(hi)) for lo, hi in pairs)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise OpError(op, f"explicit padding must be {rank} (lo, hi) pairs of non-negative ints. "
                          f"Received: padding={padding!r}")
    return result


def output_spatial(op, spatial, window, strides, padding, dilation):
    """Output spatial sizes of a window op; an OpError when a window does not fit in the padded input."""
    out = []
    for axis, (size, k, s, (lo, hi), d) in enumerate(zip(spatial, window, strides, padding, dilation)):
        span = size + lo + hi - ((k - 1) * d + 1)
        if span < 0:
            raise OpError(op, f"on spatial axis {axis} the window ({k} with dilation {d}) is larger than the "
                              f"padded input ({size} + {lo} + {hi}). Received: spatial shape {tuple(spatial)}, "
                              f"window {tuple(window)}, padding {tuple(padding)}")
        out.append(span // s + 1)
    return tuple(out)


def check_attrs(op, rank, strides, padding, dilation):
    """Check canonical window attributes: ``rank`` positive strides and dilations, ``rank`` (lo, hi) pairs."""
    for name, value in (("strides", strides), ("dilation", dilation)):
        if len(value) != rank or any(int(v) < 1 for v in value):
            raise OpError(op, f"{name} must be {rank} positive ints. Received: {name}={value}")
    if len(padding) != rank or any(len(p) != 2 or min(p) < 0 for p in padding):
        raise OpError(op, f"padding must be {rank} (lo, hi) pairs of non-negative ints. Received: padding={padding}")


def to_channels_last(op, x, data_format):
    """``x`` in channels-last layout, and a function that puts a result back in ``data_format``."""
    fmt = "channels_last" if data_format is None else data_format
    if fmt == "channels_last":
        return x, lambda y: y
    if fmt != "channels_first":
        raise OpError(op, f'data_format must be "channels_last" or "channels_first". Received: data_format={data_format!r}')
    r = x.ndim - 2
    back = (0, r + 1) + tuple(range(1, r + 1))
    return transpose(x, (0,) + tuple(range(2, r + 2)) + (1,)), lambda y: transpose(y, back)


# ---- numpy helpers: windows as columns and back ----------------------------------------------------------
def window_index(offset, dilation, strides, out_spatial):
    return (slice(None),) + tuple(slice(k * d, k * d + (o - 1) * s + 1, s)
                                  for k, d, o, s in zip(offset, dilation, out_spatial, strides))


def im2col(xp, x, window, strides, padding, dilation, out_spatial, pad_value=0.0):
    """``cols[n, o, k, c] = x_padded[n, o * s + k * d, c]``: shape ``(N, *out_spatial, prod(window), C)``."""
    cols = xp.empty((x.shape[0], *out_spatial, int(np.prod(window)), x.shape[-1]), x.dtype)
    _fill_columns(xp, cols, pad_spatial(xp, x, padding, pad_value), window, strides, dilation)
    return cols


def col2im(xp, cols, spatial, window, strides, padding, dilation):
    """The adjoint of ``im2col``: sums ``cols[n, o, k, c]`` into ``out[n, o * s + k * d - lo, c]``."""
    size = _col2im_size(spatial, padding, cols.shape[1:-2], strides, window, dilation)
    buf = xp.zeros((cols.shape[0], *size, cols.shape[-1]), cols.dtype)
    _add_columns(buf, cols, window, strides, dilation)
    return buf[(slice(None),) + tuple(slice(lo, lo + x) for x, (lo, _) in zip(spatial, padding))]


# ---- shape rules ---------------------------------------------------------------------------------------
def _check_float(op, *specs):
    if any(s.dtype not in dtypes.FLOATS for s in specs) or len({s.dtype for s in specs}) > 1:
        raise OpError(op, f"operands must share a float dtype. Received: dtypes {', '.join(s.dtype for s in specs)}")


def _check_ranks(op, x, w, rank, x_name="x"):
    if not 1 <= rank <= 3 or len(x.shape) != rank + 2 or len(w.shape) != rank + 2:
        raise OpError(op, f"{x_name} must be (batch, *spatial, channels) with 1 to 3 spatial dims and the kernel "
                          f"(*kernel_size, in, out) of the same rank. Received: {x_name}.shape={x.shape}, "
                          f"kernel.shape={w.shape}")


def _conv_rule(x, w, *, strides, padding, dilation, groups):
    _check_float("conv", x, w)
    rank = len(strides)
    _check_ranks("conv", x, w, rank)
    check_attrs("conv", rank, strides, padding, dilation)
    if groups < 1 or x.shape[-1] != w.shape[-2] * groups:
        raise OpError("conv", f"input has {x.shape[-1]} channels but kernel expects {w.shape[-2] * groups} "
                              f"(groups={groups}). Received: x.shape={x.shape}, kernel.shape={w.shape}")
    if w.shape[-1] % groups:
        raise OpError("conv", f"the kernel's {w.shape[-1]} output channels do not divide into groups={groups}. "
                              f"Received: x.shape={x.shape}, kernel.shape={w.shape}")
    out = output_spatial("conv", x.shape[1:-1], w.shape[:-2], strides, padding, dilation)
    return Spec((x.shape[0], *out, w.shape[-1]), x.dtype)


def _conv_transpose_rule(y, w, *, strides, padding, dilation, groups, spatial_shape):
    _check_float("conv_transpose", y, w)
    rank = len(strides)
    _check_ranks("conv_transpose", y, w, rank, "y")
    check_attrs("conv_transpose", rank, strides, padding, dilation)
    if groups < 1:
        raise OpError("conv_transpose", f"groups must be a positive int. Received: groups={groups}")
    if y.shape[-1] != w.shape[-1] or w.shape[-1] % groups:
        raise OpError("conv_transpose", f"input has {y.shape[-1]} channels but the kernel's last axis is "
                                        f"{w.shape[-1]} (groups={groups}). Received: y.shape={y.shape}, kernel.shape={w.shape}")
    expected = output_spatial("conv_transpose", spatial_shape, w.shape[:-2], strides, padding, dilation)
    if expected != tuple(y.shape[1:-1]):
        raise OpError("conv_transpose", f"a conv of spatial shape {tuple(spatial_shape)} gives {expected}, but the "
                                        f"input's spatial shape is {tuple(y.shape[1:-1])}. Received: y.shape={y.shape}, "
                                        f"kernel.shape={w.shape}, spatial_shape={tuple(spatial_shape)}")
    return Spec((y.shape[0], *spatial_shape, w.shape[-2] * groups), y.dtype)


def _conv_filter_grad_rule(x, y, *, strides, padding, dilation, groups, kernel_shape):
    _check_float("conv_filter_grad", x, y)
    rank = len(strides)
    if not 1 <= rank <= 3 or len(x.shape) != rank + 2 or len(y.shape) != rank + 2 or len(kernel_shape) != rank:
        raise OpError("conv_filter_grad", f"x and y must be (batch, *spatial, channels) with {rank} spatial dims. "
                                          f"Received: x.shape={x.shape}, y.shape={y.shape}, kernel_shape={kernel_shape}")
    check_attrs("conv_filter_grad", rank, strides, padding, dilation)
    if x.shape[0] != y.shape[0] or groups < 1 or x.shape[-1] % groups or y.shape[-1] % groups:
        raise OpError("conv_filter_grad", f"batch sizes must match and both channel counts divide by groups={groups}. "
                                          f"Received: x.shape={x.shape}, y.shape={y.shape}")
    expected = output_spatial("conv_filter_grad", x.shape[1:-1], kernel_shape, strides, padding, dilation)
    if expected != tuple(y.shape[1:-1]):
        raise OpError("conv_filter_grad", f"a conv of x gives spatial shape {expected}, but y has {tuple(y.shape[1:-1])}. "
                                          f"Received: x.shape={x.shape}, y.shape={y.shape}, kernel_shape={kernel_shape}")
    return Spec((*kernel_shape, x.shape[-1] // groups, y.shape[-1]), x.dtype)


# ---- forwards ------------------------------------------------------------------------------------------
# Ungrouped convolutions (the common case) work on chunks of a few samples, so that what they build stays in
# cache: the forward and the kernel gradient build im2col columns and multiply them in one GEMM; the input
# gradient (unit strides) multiplies the output gradient, laid on the input's grid, once per kernel tap. At
# batch 128 on the Keras MNIST convnet this measured 1.4-5x faster than whole-batch im2col, col2im,
# sliding_window_view with tensordot or einsum, per-tap GEMMs or the padded full correlation
# (benchmarks/conv_numpy.py prints the comparison). Chunks go to pyml's threads (``_each_chunk``). Each
# forward writes into an ``out`` array, so the executor of compiled training steps preallocates it.
CHUNK_BYTES = 4 << 20  # the columns of one chunk of samples: a few MiB, so the GEMM reads them from cache


DEVICE_CHUNK_BYTES = 1 << 30  # on a GPU one big GEMM beats many small launches: chunk only to bound memory


def batch_chunks(batch, bytes_per_sample):
    """``(chunks, size)``: ``[(lo, hi)]`` ranges of samples whose columns take about ``CHUNK_BYTES``."""
    limit = CHUNK_BYTES if backend.is_host() else DEVICE_CHUNK_BYTES
    size = max(1, min(batch, limit // max(1, bytes_per_sample)))
    return [(lo, min(lo + size, batch)) for lo in range(0, batch, size)], size


def pad_spatial(xp, x, padding, value=0.0):
    if not any(lo or hi for lo, hi in padding):
        return x
    return xp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),), constant_values=value)


def _matmul_into(xp, out, a, b):
    """``out[...] = a @ b``, straight into ``out`` when it is contiguous."""
    if out.flags.c_contiguous:
        xp.matmul(a, b, out=out)
    else:
        out[...] = a @ b


def _rows(array, lo, hi, width):
    """Samples ``lo:hi`` of ``array`` as a 2-D ``(rows, width)`` matrix (a view when ``array`` is contiguous)."""
    return array[lo:hi].reshape(-1, width)


def _each_chunk(chunks, make_scratch, work):
    """``work(lo, hi, scratch)`` for every chunk of samples. With ``pyml.threads.gemm_threads() > 1`` (the BLAS
    single-threaded) each of the threads takes the next chunk when it is free and copies and multiplies it
    with scratch of its own; else the chunks run in order, each copy split among the threads and each
    product on the BLAS's threads."""
    count = threads.gemm_threads()
    if count == 1:
        scratch = make_scratch()
        for lo, hi in chunks:
            work(lo, hi, scratch)
        return
    scratch = [make_scratch() for _ in range(min(count, len(chunks)))]
    threads.run_all([lambda slot, lo=lo, hi=hi: work(lo, hi, scratch[slot]) for lo, hi in chunks], len(scratch))


def _contiguous_into(kernel, out, *arrays, xp, **attrs):
    """``kernel(out, *arrays, ...)``, through a contiguous scratch array when ``out`` is not contiguous."""
    if out.flags.c_contiguous:
        kernel(out, *arrays, xp=xp, **attrs)
    else:
        scratch = xp.empty(out.shape, out.dtype)
        kernel(scratch, *arrays, xp=xp, **attrs)
        out[...] = scratch


def conv_into(out, x, w, *, strides, padding, dilation, groups, xp=np):
    """``out[...] = conv(x, w)`` (the ``conv`` primitive's forward, writing into ``out``)."""
    if depthwise_numpy.is_depthwise(x.shape[-1], groups):
        _contiguous_into(depthwise_numpy.depthwise_into, out, x, w, strides=strides, padding=padding,
                         dilation=dilation, xp=xp)
        return
    if groups != 1:
        out[...] = _grouped_conv(xp, x, w, strides=strides, padding=padding, dilation=dilation, groups=groups)
        return
    rank = x.ndim - 2
    window, (c_in, c_out) = w.shape[:rank], w.shape[-2:]
    out_sp, taps = out.shape[1:-1], int(np.prod(window))
    chunks, size = batch_chunks(x.shape[0], int(np.prod(out_sp)) * taps * c_in * x.itemsize)
    kernel = w.reshape(taps * c_in, c_out)

    def work(lo, hi, cols):
        part = cols[:hi - lo]
        _fill_columns_parallel(xp, part, x[lo:hi], padding, window, strides, dilation)
        _matmul_into(xp, _rows(out, lo, hi, c_out), part.reshape(-1, taps * c_in), kernel)

    with threads.blas_single_threaded():
        _each_chunk(chunks, lambda: xp.empty((size, *out_sp, taps, c_in), x.dtype), work)


def conv_filter_grad_into(out, x, y, *, strides, padding, dilation, groups, kernel_shape, xp=np):
    """``out[...] = conv_filter_grad(x, y)``: the columns of each chunk times its ``y``, summed over chunks."""
    if depthwise_numpy.is_depthwise(x.shape[-1], groups):
        depthwise_numpy.depthwise_filter_grad_into(out, x, y, strides=strides, padding=padding, dilation=dilation,
                                                   kernel_shape=kernel_shape, xp=xp)
        return
    if groups != 1:
        out[...] = _grouped_filter_grad(xp, x, y, strides=strides, padding=padding, dilation=dilation, groups=groups,
                                        kernel_shape=kernel_shape)
        return
    c_in, c_out, taps = x.shape[-1], y.shape[-1], int(np.prod(kernel_shape))
    out_sp = y.shape[1:-1]
    chunks, size = batch_chunks(x.shape[0], int(np.prod(out_sp)) * taps * c_in * x.itemsize)
    sums = []  # one (running sum, product scratch, columns scratch) per thread

    def scratch():
        sums.append([None, xp.empty((taps * c_in, c_out), out.dtype), xp.empty((size, *out_sp, taps, c_in), x.dtype)])
        return sums[-1]

    def work(lo, hi, mine):
        part = mine[2][:hi - lo]
        _fill_columns_parallel(xp, part, x[lo:hi], padding, kernel_shape, strides, dilation)
        xp.matmul(part.reshape(-1, taps * c_in).T, _rows(y, lo, hi, c_out), out=mine[1])
        if mine[0] is None:
            mine[0], mine[1] = mine[1], xp.empty_like(mine[1])
        else:
            mine[0] += mine[1]

    with threads.blas_single_threaded():
        _each_chunk(chunks, scratch, work)
    total = out.reshape(taps * c_in, c_out) if out.flags.c_contiguous else xp.empty((taps * c_in, c_out), out.dtype)
    partials = [mine[0] for mine in sums if mine[0] is not None]
    xp.copyto(total, partials[0])
    for partial in partials[1:]:
        total += partial
    if not out.flags.c_contiguous:
        out[...] = total.reshape(out.shape)


def conv_transpose_into(out, y, w, *, strides, padding, dilation, groups, spatial_shape, xp=np):
    """``out[...] = conv_transpose(y, w)``: per chunk, ``y @ kernelᵀ`` gives the columns, which col2im adds
    back into the (padded) input."""
    if depthwise_numpy.is_depthwise(out.shape[-1], groups):
        depthwise_numpy.depthwise_transpose_into(out, y, w, strides=strides, padding=padding, dilation=dilation,
                                                 spatial_shape=spatial_shape, xp=xp)
        return
    if groups != 1:
        out[...] = _grouped_conv_transpose(xp, y, w, strides=strides, padding=padding, dilation=dilation,
                                           groups=groups, spatial_shape=spatial_shape)
        return
    rank = y.ndim - 2
    if all(s == 1 for s in strides):
        _conv_transpose_on_grid(xp, out, y, w, padding, dilation, spatial_shape)
        return
    window, (c_in, c_out) = w.shape[:rank], w.shape[-2:]
    out_sp, taps = y.shape[1:-1], int(np.prod(window))
    chunks, size = batch_chunks(y.shape[0], int(np.prod(out_sp)) * taps * c_in * y.itemsize)
    kernel_t = w.reshape(taps * c_in, c_out).T
    padded = any(lo or hi for lo, hi in padding)
    full = _col2im_size(spatial_shape, padding, out_sp, strides, window, dilation)
    crop = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial_shape, padding))

    def scratch():
        return (xp.empty((size * int(np.prod(out_sp)), taps * c_in), y.dtype),
                xp.empty((size, *full, c_in), y.dtype) if padded else None)

    def work(lo, hi, mine):
        cols, grid = mine
        part = cols[:(hi - lo) * int(np.prod(out_sp))]
        xp.matmul(_rows(y, lo, hi, c_out), kernel_t, out=part)
        target = grid[:hi - lo] if padded else out[lo:hi]
        part = part.reshape(hi - lo, *out_sp, taps, c_in)

        def col2im(a, b):  # samples a:b of this chunk
            target[a:b].fill(0)
            _add_columns(target[a:b], part[a:b], window, strides, dilation)
            if padded:
                out[lo + a:lo + b] = target[a:b][crop]

        threads.parallel_rows(col2im, hi - lo, part[0].size)

    with threads.blas_single_threaded():
        _each_chunk(chunks, scratch, work)


def _conv_transpose_on_grid(xp, out, y, w, padding, dilation, spatial_shape):
    """``conv_transpose`` with unit strides, one GEMM per kernel tap and no col2im. ``y`` is laid on the
    (padded) input's grid, zeros where no output lies, and flattened: tap ``k`` then sends row ``p`` of the
    grid to row ``p + offset(k)`` of the input gradient, so each tap is ``grad[offset:] += grid[:-offset] @
    kernel[k]ᵀ`` on contiguous rows, where col2im would add strided 32-float runs (1.15x faster on the
    Keras convnet, though the GEMMs also run over the grid's empty rows)."""
    rank = y.ndim - 2
    window, (c_in, c_out) = w.shape[:rank], w.shape[-2:]
    out_sp = y.shape[1:-1]
    full = tuple(n + lo + hi for n, (lo, hi) in zip(spatial_shape, padding))
    row_strides = [int(np.prod(full[a + 1:])) for a in range(rank)]
    offsets = [sum(k * d * r for k, d, r in zip(tap, dilation, row_strides)) for tap in np.ndindex(*window)]
    kernels = [xp.ascontiguousarray(w[tap].T) for tap in np.ndindex(*window)]  # (c_out, c_in) each
    cells = int(np.prod(full))
    chunks, size = batch_chunks(y.shape[0], cells * (c_out + 2 * c_in) * y.itemsize)
    padded = any(lo or hi for lo, hi in padding)
    crop = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial_shape, padding))
    place = (slice(None),) + tuple(slice(0, n) for n in out_sp)

    def scratch():
        grid = xp.zeros((size, *full, c_out), y.dtype)  # zeros stay where no output lies: only `place` is written
        return grid, xp.empty((size * cells, c_in), y.dtype), xp.empty((size, *full, c_in), y.dtype)

    def work(lo, hi, mine):
        grid, product, grad = mine
        rows = (hi - lo) * cells
        grid[:hi - lo][place] = y[lo:hi]
        source = grid[:hi - lo].reshape(rows, c_out)
        target = (out[lo:hi] if direct else grad[:hi - lo]).reshape(rows, c_in)
        target.fill(0)
        for offset, kernel in zip(offsets, kernels):
            xp.matmul(source[:rows - offset], kernel, out=product[:rows - offset])
            target[offset:] += product[:rows - offset]
        if not direct:
            out[lo:hi] = grad[:hi - lo][crop]

    direct = not padded and out.flags.c_contiguous  # the grid is the input itself: add straight into out
    with threads.blas_single_threaded():
        _each_chunk(chunks, scratch, work)


def _fill_columns_parallel(xp, cols, x, padding, window, strides, dilation):
    """``_fill_columns`` of the (padded) samples ``x``, the samples shared among ``pyml.threads``."""
    def fill(lo, hi):
        _fill_columns(xp, cols[lo:hi], pad_spatial(xp, x[lo:hi], padding), window, strides, dilation)

    threads.parallel_rows(fill, len(x), cols[0].size)


def _fill_columns(xp, cols, padded, window, strides, dilation):
    """``cols[n, o, k, c] = padded[n, o * s + k * d, c]``: one copy from a strided view of every window (fewer,
    longer inner loops than one copy per kernel tap: measured 1.3x faster on a 3x3 kernel over 32 channels).
    CuPy has the same view (``cupy.lib.stride_tricks.sliding_window_view``), so one code serves both."""
    out_sp, rank = cols.shape[1:-2], len(window)
    extent = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
    windows = xp.lib.stride_tricks.sliding_window_view
    view = windows(padded, extent, axis=tuple(range(1, rank + 1)))  # (n, *positions, c, *extent)
    view = view[(slice(None),) + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out_sp, strides))
                + (slice(None),) + tuple(slice(None, None, d) for d in dilation)]
    view = view.transpose(0, *range(1, rank + 1), *range(rank + 2, 2 * rank + 2), rank + 1)  # (n, *o, *k, c)
    cols.reshape(cols.shape[:-2] + tuple(window) + cols.shape[-1:])[...] = view


def _add_columns(target, cols, window, strides, dilation):
    """col2im: ``target[n, o * s + k * d, c] += cols[n, o, k, c]``."""
    out_sp = cols.shape[1:-2]
    for i, offset in enumerate(np.ndindex(*window)):
        target[window_index(offset, dilation, strides, out_sp)] += cols[..., i, :]


def _col2im_size(spatial, padding, out_spatial, strides, window, dilation):
    return tuple(max(x + lo + hi, (o - 1) * s + (k - 1) * d + 1)
                 for x, (lo, hi), o, s, k, d in zip(spatial, padding, out_spatial, strides, window, dilation))


def allocating(into, shape_of):
    """A registry forward ``(xp, *arrays, **attrs) -> array`` from an ``*_into`` function."""
    def forward(xp, *arrays, **attrs):
        out = xp.empty(shape_of(*arrays, **attrs), arrays[0].dtype)
        into(out, *arrays, xp=xp, **attrs)
        return out

    return forward


def _conv_shape(x, w, *, strides, padding, dilation, groups):
    rank = x.ndim - 2
    return (x.shape[0], *output_spatial("conv", x.shape[1:-1], w.shape[:rank], strides, padding, dilation),
            w.shape[-1])


# ---- grouped convolutions: im2col of the whole batch, one GEMM per group ------------------------------------
def _group_matmul(xp, a, b):
    """``a[g] @ b[g]`` for each group: one 2-D BLAS call per group (numpy's stacked matmul is far slower
    on small stacks, and falls back to a non-BLAS loop on strided views)."""
    return xp.stack([xp.ascontiguousarray(a[g]) @ xp.ascontiguousarray(b[g]) for g in range(a.shape[0])])


def _grouped_conv(xp, x, w, *, strides, padding, dilation, groups):
    rank = x.ndim - 2
    window, (c_in_g, c_out) = w.shape[:rank], w.shape[-2:]
    out_sp = output_spatial("conv", x.shape[1:-1], window, strides, padding, dilation)
    cols = im2col(xp, x, window, strides, padding, dilation, out_sp)
    rows, taps, c_out_g = x.shape[0] * int(np.prod(out_sp)), cols.shape[-2], c_out // groups
    a = cols.reshape(rows, taps, groups, c_in_g).transpose(2, 0, 1, 3).reshape(groups, rows, taps * c_in_g)
    b = w.reshape(taps, c_in_g, groups, c_out_g).transpose(2, 0, 1, 3).reshape(groups, taps * c_in_g, c_out_g)
    return _group_matmul(xp, a, b).transpose(1, 0, 2).reshape(x.shape[0], *out_sp, c_out)


def _grouped_conv_transpose(xp, y, w, *, strides, padding, dilation, groups, spatial_shape):
    rank = y.ndim - 2
    window, (c_in_g, c_out) = w.shape[:rank], w.shape[-2:]
    out_sp, taps, c_out_g = y.shape[1:-1], int(np.prod(w.shape[:rank])), c_out // groups
    rows = y.shape[0] * int(np.prod(out_sp))
    a = y.reshape(rows, groups, c_out_g).transpose(1, 0, 2)
    b = w.reshape(taps, c_in_g, groups, c_out_g).transpose(2, 3, 0, 1).reshape(groups, c_out_g, taps * c_in_g)
    cols = _group_matmul(xp, a, b).reshape(groups, rows, taps, c_in_g).transpose(1, 2, 0, 3)
    cols = cols.reshape(y.shape[0], *out_sp, taps, groups * c_in_g)
    return col2im(xp, cols, spatial_shape, window, strides, padding, dilation)


def _grouped_filter_grad(xp, x, y, *, strides, padding, dilation, groups, kernel_shape):
    out_sp = y.shape[1:-1]
    cols = im2col(xp, x, kernel_shape, strides, padding, dilation, out_sp)
    rows, taps = x.shape[0] * int(np.prod(out_sp)), cols.shape[-2]
    c_in_g, c_out_g = x.shape[-1] // groups, y.shape[-1] // groups
    a = cols.reshape(rows, taps, groups, c_in_g).transpose(2, 1, 3, 0).reshape(groups, taps * c_in_g, rows)
    b = y.reshape(rows, groups, c_out_g).transpose(1, 0, 2)
    dw = _group_matmul(xp, a, b).reshape(groups, taps, c_in_g, c_out_g).transpose(1, 2, 0, 3)
    return dw.reshape(*kernel_shape, c_in_g, y.shape[-1])


# ---- VJPs (pyml ops only) ---------------------------------------------------------------------------------
def _window_attrs(attrs):
    return {k: attrs[k] for k in ("strides", "padding", "dilation", "groups")}


def _conv_vjp(g, inputs, out, attrs):
    x, w = inputs
    common = _window_attrs(attrs)
    return (lambda: bind(conv_transpose_p, g, w, spatial_shape=x.shape[1:-1], **common),
            lambda: bind(conv_filter_grad_p, x, g, kernel_shape=w.shape[:-2], **common))


def _conv_transpose_vjp(g, inputs, out, attrs):
    y, w = inputs
    common = _window_attrs(attrs)
    return (lambda: bind(conv_p, g, w, **common),
            lambda: bind(conv_filter_grad_p, g, y, kernel_shape=w.shape[:-2], **common))


def _conv_filter_grad_vjp(g, inputs, out, attrs):
    x, y = inputs
    common = _window_attrs(attrs)
    return (lambda: bind(conv_transpose_p, y, g, spatial_shape=x.shape[1:-1], **common),
            lambda: bind(conv_p, x, g, **common))


conv_p = primitive(
    "conv",
    shape=_conv_rule,
    forward=allocating(conv_into, _conv_shape),
    vjp=_conv_vjp,
    doc="N-d grouped, strided, dilated convolution (cross-correlation), channels-last, explicit padding.",
)
conv_transpose_p = primitive(
    "conv_transpose",
    shape=_conv_transpose_rule,
    forward=allocating(conv_transpose_into, lambda y, w, *, groups, spatial_shape, **_: (
        y.shape[0], *spatial_shape, w.shape[-2] * groups)),
    vjp=_conv_transpose_vjp,
    doc="The adjoint of conv in its input: conv_transpose(y, w) has the spatial shape `spatial_shape` of the "
        "conv input it transposes; the kernel keeps conv's layout (*k, C_in/groups, C_out).",
)
conv_filter_grad_p = primitive(
    "conv_filter_grad",
    shape=_conv_filter_grad_rule,
    forward=allocating(conv_filter_grad_into, lambda x, y, *, groups, kernel_shape, **_: (
        *kernel_shape, x.shape[-1] // groups, y.shape[-1])),
    vjp=_conv_filter_grad_vjp,
    doc="The gradient of conv in its kernel: conv_filter_grad(x, y) = d<y, conv(x, w)>/dw, shape (*kernel_shape, "
        "C_in/groups, C_out).",
)


# ---- public ops --------------------------------------------------------------------------------------------
def _float_pair(op, inputs, kernel):
    x, w = convert_to_tensor(inputs), convert_to_tensor(kernel)
    common = dtypes.result_type(x.dtype, w.dtype, "float32")
    x, w = cast(x, common), cast(w, common)
    if not 3 <= x.ndim <= 5 or w.ndim != x.ndim:
        raise OpError(op, f"inputs must have rank 3, 4 or 5 (batch, *spatial, channels) and the kernel the same rank. "
                          f"Received: inputs.shape={x.shape}, kernel.shape={w.shape}")
    return x, w


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, groups=1):
    """N-d convolution (1, 2 or 3 spatial dims), as Keras ``ops.conv`` / ``Conv1D/2D/3D``.

    Computes the cross-correlation ``out[n, o, co] = sum_{k, ci} x_pad[n, o*strides + k*dilation_rate, ci] *
    kernel[k, ci, co]`` (within each group).

    Args:
        inputs: ``(batch, *spatial, channels)`` (or ``(batch, channels, *spatial)`` with
            ``data_format="channels_first"``).
        kernel: ``(*kernel_size, channels / groups, filters)``, the Keras layout.
        strides: int or one int per spatial dim.
        padding: ``"valid"``, ``"same"`` (TF/Keras: output ``ceil(size / stride)``, extra padding on the
            high side), ``"causal"`` (1-D: all padding on the left), an int, or ``(lo, hi)`` per spatial dim.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int or one int per spatial dim (atrous convolution).
        groups: split channels into this many independent groups (``groups == channels`` is depthwise).

    Returns:
        ``(batch, *out_spatial, filters)``.

    >>> x = pyml.Tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    >>> pyml.ops.conv(x, np.ones((2, 2, 1, 1), np.float32), strides=2).numpy()[0, :, :, 0]
    array([[10., 18.],
           [42., 50.]], dtype=float32)
    """
    x, w = _float_pair("conv", inputs, kernel)
    x, restore = to_channels_last("conv", x, data_format)
    rank = x.ndim - 2
    strides = spatial_tuple("conv", strides, rank, "strides")
    dilation = spatial_tuple("conv", dilation_rate, rank, "dilation_rate")
    padding = resolve_padding("conv", padding, x.shape[1:-1], w.shape[:-2], strides, dilation, causal=True)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise OpError("conv", f"groups must be a positive int. Received: groups={groups!r}")
    out = bind(conv_p, x, w, strides=strides, padding=padding, dilation=dilation, groups=int(groups))
    return restore(out)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution: each input channel is convolved with its own ``depth_multiplier`` filters.

    Output channel ``c * depth_multiplier + m`` comes from input channel ``c`` (Keras ``ops.depthwise_conv``,
    ``DepthwiseConv2D``). It is ``conv`` with ``groups = channels`` and the kernel reshaped.

    Args:
        inputs: ``(batch, *spatial, channels)``.
        kernel: ``(*kernel_size, channels, depth_multiplier)``.
        strides, padding, data_format, dilation_rate: as in ``conv``.

    >>> x = pyml.Tensor(np.ones((1, 4, 4, 3)))
    >>> pyml.ops.depthwise_conv(x, pyml.Tensor(np.ones((3, 3, 3, 2)))).shape
    (1, 2, 2, 6)
    """
    x, w = _float_pair("depthwise_conv", inputs, kernel)
    channels = x.shape[1] if data_format == "channels_first" else x.shape[-1]
    if w.shape[-2] != channels:
        raise OpError("depthwise_conv", f"input has {channels} channels but the kernel expects {w.shape[-2]}. "
                                        f"Received: inputs.shape={x.shape}, kernel.shape={w.shape}")
    w = reshape(w, w.shape[:-2] + (1, w.shape[-2] * w.shape[-1]))
    return conv(x, w, strides, padding, data_format, dilation_rate, groups=channels)


def _transpose_padding(op, padding, window, strides, dilation, output_padding, sizes):
    """Keras conv_transpose padding -> (the padding of the conv it transposes, that conv's input size)."""
    rank = len(window)
    if output_padding is None:
        extra = (None,) * rank
    else:
        extra = (output_padding,) * rank if isinstance(output_padding, (int, np.integer)) else tuple(output_padding)
        if len(extra) != rank or any(int(e) < 0 or int(e) >= s for e, s in zip(extra, strides)):
            raise OpError(op, f"output_padding must be {rank} non-negative ints, each smaller than its stride "
                              f"{strides}. Received: output_padding={output_padding!r}")
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise OpError(op, f'padding must be "valid" or "same". Received: padding={padding!r}')
    pads, spatial = [], []
    for size, k, s, d, e in zip(sizes, window, strides, dilation, extra):
        k_eff = (k - 1) * d + 1
        # The padding of the stride-1 conv over the stride-dilated input, as Keras computes it.
        if mode == "valid":
            e = max(k_eff, s) - k_eff if e is None else int(e)
            left, right = k_eff - 1, k_eff - 1 + e
        else:
            total = s + k_eff - 2 if e is None else k_eff + k_eff % 2 - 2 + int(e)
            left = min(total // 2 + total % 2, k_eff - 1)
            right = total - left
        spatial.append((size - 1) * s + left + right - k_eff + 2)
        pads.append((k_eff - 1 - left, max(0, k_eff - 1 - right)))
    return tuple(pads), tuple(spatial)


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Transposed convolution (the gradient of ``conv`` in its input), as Keras ``ops.conv_transpose``.

    Output size per spatial dim (``k_eff = (k - 1) * dilation_rate + 1``): with ``padding="valid"``,
    ``(size - 1) * strides + max(k_eff, strides)``; with ``"same"``, ``size * strides``; with an
    ``output_padding``, ``(size - 1) * strides + k_eff - 2 * (k_eff // 2) + output_padding`` ("same") or
    ``(size - 1) * strides + k_eff + output_padding`` ("valid").

    Args:
        inputs: ``(batch, *spatial, channels)`` (or channels-first with ``data_format``).
        kernel: ``(*kernel_size, filters, channels)``: the Keras ``Conv2DTranspose`` layout, i.e. the
            kernel of the conv whose input gradient this is.
        strides, dilation_rate: int or one per spatial dim.
        padding: ``"valid"`` or ``"same"``.
        output_padding: None, or int(s) below the strides: extra rows on the high side.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    >>> x = pyml.Tensor(np.ones((1, 3, 3, 4)))
    >>> pyml.ops.conv_transpose(x, pyml.Tensor(np.ones((3, 3, 2, 4))), strides=2, padding="same").shape
    (1, 6, 6, 2)
    """
    x, w = _float_pair("conv_transpose", inputs, kernel)
    x, restore = to_channels_last("conv_transpose", x, data_format)
    rank = x.ndim - 2
    if w.shape[-1] != x.shape[-1]:
        raise OpError("conv_transpose", f"input has {x.shape[-1]} channels but the kernel expects {w.shape[-1]} "
                                        f"(kernel layout (*kernel_size, filters, channels)). "
                                        f"Received: inputs.shape={x.shape}, kernel.shape={w.shape}")
    strides = spatial_tuple("conv_transpose", strides, rank, "strides")
    dilation = spatial_tuple("conv_transpose", dilation_rate, rank, "dilation_rate")
    pads, spatial = _transpose_padding("conv_transpose", padding, w.shape[:-2], strides, dilation, output_padding,
                                       x.shape[1:-1])
    out = bind(conv_transpose_p, x, w, strides=strides, padding=pads, dilation=dilation, groups=1,
               spatial_shape=spatial)
    return restore(out)

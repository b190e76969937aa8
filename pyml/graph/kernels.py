"""NumPy kernels for the executor (``pyml.graph.executor``): each primitive computed into an ``out`` array
that the executor allocated once, so running a planned graph allocates nothing.

Four kinds, looked up by primitive name:

- ``VIEWS[name](x, **attrs)``: movement ops that NumPy expresses as a view of their input (reshape of a
  contiguous array, transpose, slice, broadcast_to): no work at run time. None when a view cannot be had.
- ``UFUNCS[name]``: elementwise primitives, one NumPy ufunc each, called with ``out=``; they may write over
  an input of the output's shape (``ALIASABLE`` says which input positions may be overwritten).
- ``INTO[name](out, *arrays, **attrs)``: the other primitives that can write into ``out``.
- ``FACTORIES[name](arrays, out, attrs)``: primitives whose step is made with more planning than binding
  arguments (``rnn_scan``/``rnn_scan_grad``: the gradient step reads its forward step's LSTM gates).

Anything else runs its registry forward (which allocates) and is copied into ``out``: correct, and a sign
that a kernel is missing if it shows up in a profile (``Executor.profile``).

Kernels are made for the array module ``xp`` of ``pyml.backend`` when they are made (``kernel(..., xp=)``): NumPy,
or CuPy on a GPU, whose ufuncs, ``matmul``, reductions, ``copyto`` and ``concatenate`` take the same ``out=``.

    >>> out = np.empty((2, 3), np.float32)
    >>> run = kernel("add", [np.ones((2, 3), np.float32), np.float32(2)], out, {})
    >>> _ = run()
    >>> out[0]
    array([3., 3., 3.], dtype=float32)
"""
import functools

import numpy as np

from pyml import backend, threads
from pyml.graph import kernels_recurrent
from pyml.ops import registry
from pyml.ops.conv import conv_filter_grad_into, conv_into, conv_transpose_into
from pyml.ops.pooling import max_pool_grad_into, max_pool_into

UFUNCS = {  # primitive -> the ufunc's name in the array module
    "neg": "negative", "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "absolute", "sign": "sign",
    "tanh": "tanh", "sin": "sin", "cos": "cos",
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "pow": "power",
    "maximum": "maximum", "minimum": "minimum",
    "equal": "equal", "not_equal": "not_equal", "less": "less", "less_equal": "less_equal",
    "greater": "greater", "greater_equal": "greater_equal",
}

# Elementwise primitives (chunkable along any axis, fusable into chains) and the input positions whose
# array ``out`` may be: a ufunc reads each element before writing it; ``where`` copies its third operand
# first, so only that one may be overwritten; ``cast`` changes the dtype, so none.
ALIASABLE = {name: (0, 1) for name in UFUNCS}
ALIASABLE.update({name: (0,) for name in ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sin", "cos")})
ALIASABLE["where"] = (2,)
ALIASABLE["cast"] = ()
ELEMENTWISE = frozenset(ALIASABLE)


# ---- views ---------------------------------------------------------------------------------------------
def _reshape_view(x, shape):
    view = x.view()
    try:
        view.shape = shape  # refuses, rather than copies, when the strides do not allow a view
    except AttributeError:
        return None
    return view


VIEWS = {
    "reshape": _reshape_view,
    "transpose": lambda x, perm: x.transpose(perm),
    "broadcast_to": lambda x, shape: backend.xp().broadcast_to(x, shape),
    "slice": lambda x, start, stop, step: registry.get("slice").forward(backend.xp(), x, start=start, stop=stop,
                                                                        step=step),
}


# ---- kernels writing into out --------------------------------------------------------------------------
def _where_kernel(arrays, out, xp):
    """``where(cond, x, y)`` on the values' bits: ``y``'s bits times ``not cond`` as integers (+0.0 bits where
    ``cond``), then or-ed with ``x``'s bits times ``cond``. NumPy's masked copies (``copyto(where=)``,
    ``putmask``) measured ~25x slower, and ``y * ~cond`` in floats differs where ``y`` is infinite or NaN;
    the integer product is exact and 1.6x faster than and-ing with a mask made from ``cond``."""
    cond, x, y = arrays
    if xp is not np:  # a GPU: two masked copies (y first: out may be y's own array), no host sync
        return lambda: (xp.copyto(out, y), xp.copyto(out, x, where=cond))
    bits = np.dtype(f"u{out.dtype.itemsize}")
    keep = np.empty(cond.shape, bool)  # not cond: where y stays
    chosen = []  # scratch for x's bits, made when first needed (x is mostly relu's +0.0)
    y_bits, out_bits = y.view(bits), out.view(bits)
    x_bits = np.asarray(x).view(bits)

    def run():
        np.logical_not(cond, out=keep)
        np.multiply(y_bits, keep, out=out_bits)  # first: out may be y's own array
        if x_bits.size == 1 and not x_bits.any():  # x is +0.0 (relu's and the select VJPs' zero): done
            return
        if not chosen:
            chosen.append(np.empty(out.shape, bits))
        np.multiply(x_bits, cond, out=chosen[0])
        np.bitwise_or(out_bits, chosen[0], out=out_bits)

    return run


def _matmul(out, a, b, xp, transpose_a=False):
    """``np.matmul`` into ``out``; inside a run whose BLAS is single-threaded (``pyml.threads``), a large 2-D
    product is split among pyml's threads, one piece each, along the longer side of ``out`` (each piece
    packs the other operand again, so the split goes where that operand is the smaller one). ``transpose_a``:
    ``a``'s last two axes swapped first (a view: the BLAS reads it transposed)."""
    if transpose_a:
        a = xp.swapaxes(a, -1, -2)
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous and out.flags.c_contiguous:
        a, out = a.reshape(-1, a.shape[-1]), out.reshape(-1, out.shape[-1])  # a sequence's steps: one GEMM
    count = threads.gemm_threads()
    rows, columns = out.shape if out.ndim == 2 else (0, 0)
    if count == 1 or a.ndim != 2 or max(rows, columns) < 32 * count or out.size * a.shape[1] < 1 << 21:
        xp.matmul(a, b, out=out)
        return
    cut = [max(rows, columns) * i // count for i in range(count + 1)]
    if rows >= columns:
        tasks = [lambda slot, lo=lo, hi=hi: xp.matmul(a[lo:hi], b, out=out[lo:hi]) for lo, hi in zip(cut, cut[1:])]
    else:
        tasks = [lambda slot, lo=lo, hi=hi: xp.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
                 for lo, hi in zip(cut, cut[1:])]
    threads.run_all(tasks)


def _sum(out, x, axes, keepdims, xp):
    """``np.sum`` into ``out``; a large sum over the leading axis (a bias gradient) is split by rows among
    ``pyml.threads`` and the partial sums added (the same sum, up to float rounding)."""
    if 0 not in axes or x.size < 1 << 20 or threads.num_threads() == 1:
        xp.sum(x, axis=axes, keepdims=keepdims, out=out)
        return
    partials = {}
    threads.parallel_rows(lambda lo, hi: partials.__setitem__(lo, xp.sum(x[lo:hi], axis=axes, keepdims=keepdims)),
                          x.shape[0], x[0].size)
    first, *rest = (partials[lo] for lo in sorted(partials))
    xp.copyto(out, first)
    for partial in rest:
        out += partial


def _sum_kernel(x, out, attrs, xp):
    """A sum over the leading axes of a contiguous float array (a bias gradient: ``g`` summed over the batch
    and spatial axes) as one matrix-vector product with ones, ``ones(rows) @ x.reshape(rows, -1)``: the BLAS
    streams ``x`` once, where NumPy's axis-0 reduction measured ~5x slower (rows of 64 floats, batch 128 x 24
    x 24). Other sums: ``_sum``."""
    axes = tuple(attrs["axes"])
    if (axes == tuple(range(len(axes))) and 0 < len(axes) < x.ndim and x.dtype in (np.float32, np.float64)
            and x.flags.c_contiguous and out.flags.c_contiguous and x.size):
        rows = int(np.prod(x.shape[:len(axes)], dtype=np.int64))
        return functools.partial(xp.matmul, xp.ones(rows, x.dtype), x.reshape(rows, -1), out=out.reshape(-1))
    return functools.partial(_sum, out, x, **attrs, xp=xp)


def _reduce(method):
    def run(out, x, axes, keepdims, xp):
        getattr(xp, method)(x, axis=axes, keepdims=keepdims, out=out)

    return run


def _mean(out, x, axes, keepdims, xp):
    if x.size:
        xp.mean(x, axis=axes, keepdims=keepdims, out=out)
    else:  # 0 / 0, without NumPy's "Mean of empty slice" warning (as the forward)
        out.fill(np.nan)


def _pad(out, x, pad_width, value, xp):
    out.fill(value)
    out[tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))] = x


def _reshape_copy(out, x, shape, xp):
    xp.copyto(out.reshape(x.shape), x)


INTO = {
    "cast": lambda out, x, dtype, xp: xp.copyto(out, x, casting="unsafe"),
    "sum": _sum,
    "mean": _mean,
    "max": _reduce("max"),
    "min": _reduce("min"),
    "matmul": _matmul,
    "reshape": _reshape_copy,
    "transpose": lambda out, x, perm, xp: xp.copyto(out, x.transpose(perm)),
    "pad": _pad,
    "concatenate": lambda out, *xs, axis, xp: xp.concatenate(xs, axis=axis, out=out),
    "stack": lambda out, *xs, axis, xp: xp.stack(xs, axis=axis, out=out),
    "conv": conv_into,
    "conv_transpose": conv_transpose_into,
    "conv_filter_grad": conv_filter_grad_into,
    "max_pool": max_pool_into,
    "max_pool_grad": max_pool_grad_into,
    "one_hot": lambda out, indices, depth, dtype, xp: xp.equal(indices[..., None],
                                                               xp.arange(depth, dtype=indices.dtype), out=out),
}  # each called as into(out, *arrays, **attrs, xp=xp)
# name -> factory(arrays, out, attrs) making the step: kernels that plan more than a partial does
FACTORIES = {"rnn_scan": kernels_recurrent.scan_kernel, "rnn_scan_grad": kernels_recurrent.grad_kernel}


def kernel(name, arrays, out, attrs, xp=None):
    """A zero-argument function computing primitive ``name`` of ``arrays`` into ``out``, with the array module
    ``xp`` (default: ``pyml.backend.xp()``)."""
    xp = xp or backend.xp()
    factory = FACTORIES.get(name)
    if factory is not None:
        return factory(arrays, out, attrs)
    ufunc = UFUNCS.get(name)
    if ufunc is not None:
        return functools.partial(getattr(xp, ufunc), *arrays, out=out)
    if name == "where":
        return _where_kernel(arrays, out, xp)
    if name == "sum":
        return _sum_kernel(arrays[0], out, attrs, xp)
    into = INTO.get(name)
    if into is not None:
        return functools.partial(into, out, *arrays, **attrs, xp=xp)
    return functools.partial(_forward_into, registry.get(name).forward, out, arrays, attrs, xp)


def _forward_into(forward, out, arrays, attrs, xp):
    xp.copyto(out, forward(xp, *arrays, **attrs), casting="unsafe")


def has_kernel(name):
    """Whether ``name`` writes straight into ``out`` (rather than through its allocating forward)."""
    return name in UFUNCS or name in INTO or name in FACTORIES or name == "where"

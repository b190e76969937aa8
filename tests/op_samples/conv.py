"""Samples for the convolution and pooling primitives, with loop-based numpy references written
independently of pyml's im2col forwards (each output element summed from its window).

Covers 1-D/2-D/3-D, strides 2, valid/same/explicit (asymmetric) padding, dilation 2, groups 2, depthwise (every rank,
one or several output channels per input channel), conv_transpose with a conv input larger than the windows reach,
pools with same/valid and strides != window.
Max-pool inputs hold distinct values, so no window has a tie within finite-difference reach.
"""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(11)


def normal(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def distinct(*shape):
    """Distinct values (gaps of 1/size) in random order: max pooling has no ties."""
    size = int(np.prod(shape))
    return (_rng.permutation(size).reshape(shape) / size * 4 - 2).astype(np.float32)


# ---- loop references ------------------------------------------------------------------------------------
def _positions(out_spatial, window, strides, lo, dilation):
    """(o, k, input position) for every output position and window offset (the position may be padding)."""
    for o in np.ndindex(*out_spatial):
        for k in np.ndindex(*window):
            yield o, k, tuple(oi * s + ki * d - p for oi, s, ki, d, p in zip(o, strides, k, dilation, lo))


def _inside(pos, spatial):
    return all(0 <= p < n for p, n in zip(pos, spatial))


def _out_spatial(spatial, window, strides, padding, dilation):
    return tuple((n + lo + hi - (k - 1) * d - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(spatial, window, strides, padding, dilation))


def conv_reference(x, w, *, strides, padding, dilation, groups):
    x, w = x.astype(np.float64), w.astype(np.float64)
    rank, (cin_g, cout) = x.ndim - 2, w.shape[-2:]
    cout_g, spatial = cout // groups, x.shape[1:-1]
    out_sp = _out_spatial(spatial, w.shape[:rank], strides, padding, dilation)
    out = np.zeros((x.shape[0], *out_sp, cout))
    lo = [p[0] for p in padding]
    for o, k, pos in _positions(out_sp, w.shape[:rank], strides, lo, dilation):
        if _inside(pos, spatial):
            for g in range(groups):
                xs = x[(slice(None), *pos, slice(g * cin_g, (g + 1) * cin_g))]
                out[(slice(None), *o, slice(g * cout_g, (g + 1) * cout_g))] += xs @ w[k][:, g * cout_g:(g + 1) * cout_g]
    return out


def conv_transpose_reference(y, w, *, strides, padding, dilation, groups, spatial_shape):
    y, w = y.astype(np.float64), w.astype(np.float64)
    rank, (cin_g, cout) = y.ndim - 2, w.shape[-2:]
    cout_g = cout // groups
    out = np.zeros((y.shape[0], *spatial_shape, cin_g * groups))
    lo = [p[0] for p in padding]
    for o, k, pos in _positions(y.shape[1:-1], w.shape[:rank], strides, lo, dilation):
        if _inside(pos, spatial_shape):
            for g in range(groups):
                ys = y[(slice(None), *o, slice(g * cout_g, (g + 1) * cout_g))]
                out[(slice(None), *pos, slice(g * cin_g, (g + 1) * cin_g))] += ys @ w[k][:, g * cout_g:(g + 1) * cout_g].T
    return out


def conv_filter_grad_reference(x, y, *, strides, padding, dilation, groups, kernel_shape):
    x, y = x.astype(np.float64), y.astype(np.float64)
    cin_g, cout_g = x.shape[-1] // groups, y.shape[-1] // groups
    dw = np.zeros((*kernel_shape, cin_g, y.shape[-1]))
    lo = [p[0] for p in padding]
    for o, k, pos in _positions(y.shape[1:-1], kernel_shape, strides, lo, dilation):
        if _inside(pos, x.shape[1:-1]):
            for g in range(groups):
                xs = x[(slice(None), *pos, slice(g * cin_g, (g + 1) * cin_g))]
                ys = y[(slice(None), *o, slice(g * cout_g, (g + 1) * cout_g))]
                dw[k][:, g * cout_g:(g + 1) * cout_g] += xs.T @ ys
    return dw


def _windows(x, window, strides, padding):
    """For each (n, o, c): the list of (input position, value) under the window, padding left out."""
    spatial = x.shape[1:-1]
    out_sp = _out_spatial(spatial, window, strides, padding, (1,) * len(window))
    lo = [p[0] for p in padding]
    cells = {}
    for o, _, pos in _positions(out_sp, window, strides, lo, (1,) * len(window)):
        if _inside(pos, spatial):
            cells.setdefault(o, []).append(pos)
    return out_sp, cells


def pool_reference(kind):
    def reference(x, *, window, strides, padding):
        x = x.astype(np.float64)
        out_sp, cells = _windows(x, window, strides, padding)
        out = np.zeros((x.shape[0], *out_sp, x.shape[-1]))
        for o, positions in cells.items():
            values = np.stack([x[(slice(None), *p, slice(None))] for p in positions])
            out[(slice(None), *o, slice(None))] = values.max(0) if kind == "max" else values.mean(0)
        return out

    return reference


def _picks(x, window, strides, padding):
    """For each output position o: an (N, C) array of the index (into the window's list) of the first max."""
    out_sp, cells = _windows(x, window, strides, padding)
    picks = {o: np.stack([x[(slice(None), *p, slice(None))] for p in positions]).argmax(0)
             for o, positions in cells.items()}
    return out_sp, cells, picks


def max_pool_grad_reference(x, g, *, window, strides, padding):
    _, cells, picks = _picks(x, window, strides, padding)
    out = np.zeros(x.shape)
    for o, positions in cells.items():
        for n in range(x.shape[0]):
            for c in range(x.shape[-1]):
                out[(n, *positions[picks[o][n, c]], c)] += g[(n, *o, c)]
    return out


def max_pool_gather_reference(x, v, *, window, strides, padding):
    out_sp, cells, picks = _picks(x, window, strides, padding)
    out = np.zeros((x.shape[0], *out_sp, x.shape[-1]))
    for o, positions in cells.items():
        for n in range(x.shape[0]):
            for c in range(x.shape[-1]):
                out[(n, *o, c)] = v[(n, *positions[picks[o][n, c]], c)]
    return out


# ---- samples ----------------------------------------------------------------------------------------------
def _conv(x_shape, w_shape, strides, padding, dilation=None, groups=1, note=""):
    rank = len(x_shape) - 2
    attrs = dict(strides=strides, padding=padding, dilation=dilation or (1,) * rank, groups=groups)
    x, w = normal(*x_shape), normal(*w_shape)
    out_sp = _out_spatial(x_shape[1:-1], w_shape[:rank], strides, padding, attrs["dilation"])
    y = normal(x_shape[0], *out_sp, w_shape[-1])
    return [
        Sample("conv", [x, w], attrs, conv_reference, note=note),
        Sample("conv_transpose", [y, w], dict(attrs, spatial_shape=tuple(x_shape[1:-1])), conv_transpose_reference,
               note=note),
        Sample("conv_filter_grad", [x, y], dict(attrs, kernel_shape=tuple(w_shape[:rank])), conv_filter_grad_reference,
               note=note),
    ]


def _pools(x_shape, window, strides, padding, note=""):
    attrs = dict(window=window, strides=strides, padding=padding)
    x = distinct(*x_shape)
    out_sp = _out_spatial(x_shape[1:-1], window, strides, padding, (1,) * len(window))
    g = normal(x_shape[0], *out_sp, x_shape[-1])
    return [
        Sample("max_pool", [x], attrs, pool_reference("max"), note=note),
        Sample("avg_pool", [x], attrs, pool_reference("avg"), note=note),
        Sample("max_pool_grad", [x, g], attrs, max_pool_grad_reference, note=note),
        Sample("max_pool_gather", [x, normal(*x_shape)], attrs, max_pool_gather_reference, note=note),
    ]


SAMPLES = [
    *_conv((2, 9, 3), (3, 3, 4), (2,), ((1, 1),), note="1d-stride2"),
    *_conv((2, 6, 6, 2), (3, 3, 2, 3), (1, 1), ((0, 0), (0, 0)), note="2d-valid"),
    *_conv((1, 7, 7, 3), (3, 3, 3, 4), (2, 2), ((1, 1), (1, 1)), note="2d-same-stride2"),
    *_conv((1, 8, 7, 2), (2, 3, 2, 2), (1, 1), ((1, 0), (2, 1)), dilation=(2, 2), note="2d-explicit-dilation2"),
    *_conv((2, 5, 5, 4), (3, 3, 2, 6), (1, 1), ((1, 1), (1, 1)), groups=2, note="2d-groups2"),
    *_conv((1, 6, 6, 3), (3, 3, 1, 6), (1, 2), ((1, 1), (0, 1)), groups=3, note="2d-depthwise"),
    # depthwise, one output channel per group or several (pyml/ops/depthwise_numpy.py), every rank
    *_conv((2, 9, 4), (3, 1, 4), (1,), ((4, 0),), dilation=(2,), groups=4, note="1d-depthwise-causal-dilation2"),
    *_conv((2, 7, 6, 5), (3, 3, 1, 5), (2, 2), ((1, 1), (0, 1)), groups=5, note="2d-depthwise-same-stride2"),
    *_conv((1, 7, 7, 2), (2, 3, 1, 6), (1, 1), ((1, 2), (2, 0)), dilation=(2, 1), groups=2,
           note="2d-depthwise-multiplier3-dilation2"),
    *_conv((1, 4, 3, 4, 3), (2, 2, 2, 1, 3), (1, 1, 2), ((0, 1), (1, 0), (0, 0)), groups=3, note="3d-depthwise"),
    *_conv((1, 8, 6, 2), (3, 2, 2, 3), (3, 2), ((0, 0), (0, 0)), note="2d-stride3-uncovered-rows"),
    *_conv((1, 4, 5, 4, 2), (2, 3, 2, 2, 3), (1, 2, 1), ((0, 1), (1, 1), (0, 0)), note="3d"),
    *_pools((2, 8, 3), (2,), (2,), ((0, 0),), note="1d-valid"),
    *_pools((1, 7, 7, 2), (3, 3), (2, 2), ((1, 1), (1, 1)), note="2d-same-stride2"),
    *_pools((1, 5, 6, 2), (2, 2), (1, 1), ((0, 0), (0, 0)), note="2d-overlapping"),
    *_pools((1, 5, 5, 3), (2, 3), (2, 1), ((0, 1), (1, 1)), note="2d-same-asymmetric"),
    *_pools((1, 4, 4, 5, 2), (2, 2, 3), (2, 1, 2), ((0, 0), (0, 1), (1, 1)), note="3d"),
]

"""Samples for the movement primitives (pyml/ops/movement.py): pure data movement, so the float samples check
gradients too, and int32/bool samples check that every dtype moves unchanged."""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(7)


def _f(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def _i(*shape):
    return _rng.integers(-50, 50, shape).astype(np.int32)


def _b(*shape):
    return _rng.random(shape) < 0.5


def _slice_ref(x, start, stop, step):
    """Independent of the forward: gather with explicit index lists built from range()."""
    return x[np.ix_(*[np.arange(b, e, s) for b, e, s in zip(start, stop, step)])]


def _pad_ref(x, pad_width, value):
    out = np.full([n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width)], value, dtype=x.dtype)
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pad_width))] = x
    return out


def _one_hot_ref(indices, depth, dtype):
    out = np.zeros(indices.shape + (depth,), dtype=dtype)
    for pos, i in np.ndenumerate(indices):
        if 0 <= i < depth:
            out[pos + (i,)] = 1
    return out


def _reshape(shape, x, note="", grad=True):
    return Sample("reshape", [x], {"shape": shape}, lambda x, shape: np.reshape(x, shape), grad=grad, note=note)


def _transpose(perm, x, note="", grad=True):
    return Sample("transpose", [x], {"perm": perm}, lambda x, perm: np.transpose(x, perm), grad=grad, note=note)


def _broadcast(shape, x, note="", grad=True):
    return Sample("broadcast_to", [x], {"shape": shape}, lambda x, shape: np.broadcast_to(x, shape), grad=grad,
                  note=note)


def _slice(x, start, stop, step, note="", grad=True):
    return Sample("slice", [x], {"start": start, "stop": stop, "step": step}, _slice_ref, grad=grad, note=note)


def _pad(x, pad_width, value=0.0, note="", grad=True):
    return Sample("pad", [x], {"pad_width": pad_width, "value": value}, _pad_ref, grad=grad, note=note)


def _concat(xs, axis, note="", grad=True):
    return Sample("concatenate", xs, {"axis": axis}, lambda *xs, axis: np.concatenate(xs, axis), grad=grad,
                  note=note)


def _stack(xs, axis, note="", grad=True):
    return Sample("stack", xs, {"axis": axis}, lambda *xs, axis: np.stack(xs, axis), grad=grad, note=note)


def _take(x, indices, axis, note="", grad=True):
    return Sample("take", [x, np.asarray(indices, np.int32)], {"axis": axis},
                  lambda x, i, axis: np.take(x, i, axis=axis), grad=grad, note=note)


SAMPLES = [
    _reshape((3, 4), _f(12), "vector-to-matrix"),
    _reshape((2, 1, 6), _f(4, 3), "insert-unit"),
    _reshape((), _f(1, 1), "to-scalar"),
    _reshape((6,), _i(2, 3), "int32", grad=False),
    _reshape((3, 2), _b(6), "bool", grad=False),
    _transpose((1, 0), _f(3, 5), "matrix"),
    _transpose((2, 0, 1), _f(2, 3, 4), "rank3"),
    _transpose((0, 3, 1, 2), _f(2, 3, 4, 5), "nhwc-to-nchw"),
    _transpose((1, 0, 2), _i(3, 2, 4), "int32", grad=False),
    _transpose((1, 0), _b(4, 3), "bool", grad=False),
    _broadcast((4, 3), _f(3), "add-leading"),
    _broadcast((2, 3, 4), _f(3, 1), "middle-and-lead"),
    _broadcast((2, 5), _f(1, 1), "from-ones"),
    # grad=False: the registry harness perturbs a 0-d float64 input into a NumPy scalar, which Tensor reads as float32.
    _broadcast((3, 2), np.array(1.5, np.float32), "from-scalar", grad=False),
    _broadcast((2, 4, 3), _i(4, 1), "int32", grad=False),
    _broadcast((3, 4), _b(1, 4), "bool", grad=False),
    _slice(_f(10), (2,), (8,), (1,), "contiguous"),
    _slice(_f(10), (1,), (10,), (3,), "step3"),
    _slice(_f(10), (9,), (-1,), (-1,), "reverse"),
    _slice(_f(10), (8,), (0,), (-3,), "negative-step3"),
    _slice(_f(4, 6), (1, 5), (3, -1), (1, -2), "rank2-mixed"),
    _slice(_f(3, 4, 5), (0, 1, 4), (3, 4, 1), (2, 1, -1), "rank3"),
    _slice(_f(5, 4), (2, 0), (3, 4), (1, 1), "single-row"),
    _slice(_f(6), (0,), (0,), (1,), "empty"),
    _slice(_i(5, 5), (4, 0), (-1, 5), (-2, 2), "int32", grad=False),
    _slice(_b(7), (6,), (0,), (-2,), "bool", grad=False),
    _pad(_f(3), ((1, 2),), 0.0, "vector"),
    _pad(_f(2, 3), ((0, 1), (2, 0)), -1.5, "rank2-value"),
    _pad(_f(1, 2, 2, 3), ((0, 0), (1, 1), (1, 1), (0, 0)), 0.0, "nhwc-same"),
    _pad(_i(2, 2), ((1, 1), (0, 3)), 7, "int32", grad=False),
    _pad(_b(3), ((2, 1),), True, "bool", grad=False),
    _concat([_f(2, 3), _f(1, 3)], 0, "axis0"),
    _concat([_f(2, 3), _f(2, 1), _f(2, 4)], 1, "axis1"),
    _concat([_f(2, 2, 1) for _ in range(9)], 2, "nine-inputs"),
    _concat([_i(2, 2), _i(2, 3)], 1, "int32", grad=False),
    _concat([_b(1, 3), _b(2, 3)], 0, "bool", grad=False),
    _stack([_f(3), _f(3)], 0, "axis0"),
    _stack([_f(2, 3), _f(2, 3), _f(2, 3)], 2, "last-axis"),
    _stack([_f(2, 2) for _ in range(8)], 1, "eight-inputs"),
    _stack([_i(2), _i(2)], 1, "int32", grad=False),
    _stack([_b(2, 2), _b(2, 2)], 0, "bool", grad=False),
    _take(_f(5, 3), [4, 0, 0, 2], 0, "rows-repeated"),
    _take(_f(2, 6), [[5, -1], [0, -6]], 1, "negative-2d-indices"),
    _take(_f(3, 4, 2), 2, 1, "scalar-index"),
    _take(_f(7), [], 0, "no-indices"),
    _take(_i(4, 3), [3, 1], 0, "int32", grad=False),
    _take(_b(3, 2), [1, 1], 1, "bool", grad=False),
    Sample("one_hot", [np.array([0, 2, 1, 3], np.int32)], {"depth": 4, "dtype": "float32"}, _one_hot_ref,
           grad=False, note="vector"),
    Sample("one_hot", [np.array([[1, -1], [5, 0]], np.int32)], {"depth": 3, "dtype": "float32"}, _one_hot_ref,
           grad=False, note="out-of-range-is-zero"),
    Sample("one_hot", [np.array([0, 1, 2], np.int32)], {"depth": 3, "dtype": "int32"}, _one_hot_ref,
           grad=False, note="int32"),
    Sample("one_hot", [np.array(1, np.int32)], {"depth": 2, "dtype": "bool"}, _one_hot_ref, grad=False,
           note="scalar-bool"),
]

"""Samples for the reduction primitives: sum, max, min, mean over axes, and argmax along one axis.

Random float draws have no ties, so max/min gradient samples are checked by finite differences; cases
with ties are forward-only (their VJP shares the cotangent evenly, which a one-sided perturbation can't see).
"""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(20240612)


def uniform(*shape):
    return _rng.uniform(-2.0, 2.0, size=shape).astype(np.float32)


def _reducer(fn):
    def reference(x, axes, keepdims):
        return fn(x, axis=tuple(axes), keepdims=keepdims)

    return reference


def _argmax_reference(x, axis, keepdims):
    return np.argmax(x, axis=axis, keepdims=keepdims)


REDUCERS = {"sum": np.sum, "max": np.max, "min": np.min, "mean": np.mean}
# (shape, axes, keepdims): all axes, leading, trailing, middle pair, none, keepdims, a scalar input
CASES = [
    ((2, 3, 4), (0, 1, 2), False),
    ((2, 3, 4), (0,), False),
    ((2, 3, 4), (2,), True),
    ((2, 3, 4), (0, 2), False),
    ((2, 3, 4), (1,), True),
    ((5,), (0,), True),
    ((3, 4), (), False),
    ((), (), False),
]

SAMPLES = []
for _op, _fn in REDUCERS.items():
    for _shape, _axes, _keep in CASES:
        SAMPLES.append(Sample(_op, [uniform(*_shape)], {"axes": _axes, "keepdims": _keep}, _reducer(_fn)))
    SAMPLES.append(Sample(_op, [uniform(2, 70)], {"axes": (1,), "keepdims": False}, _reducer(_fn),
                          note="long axis"))

_ties = np.array([[1.0, 3.0, 3.0], [-2.0, -2.0, 0.5]], np.float32)
_ints = _rng.integers(-9, 10, size=(3, 4)).astype(np.int32)
SAMPLES += [
    Sample("max", [_ties], {"axes": (1,), "keepdims": False}, _reducer(np.max), grad=False, note="ties"),
    Sample("min", [_ties], {"axes": (1,), "keepdims": False}, _reducer(np.min), grad=False, note="ties"),
    Sample("sum", [_ints], {"axes": (0,), "keepdims": False}, _reducer(np.sum), grad=False, note="int32"),
    Sample("max", [_ints], {"axes": (0, 1), "keepdims": True}, _reducer(np.max), grad=False, note="int32"),
    Sample("min", [_ints], {"axes": (1,), "keepdims": False}, _reducer(np.min), grad=False, note="int32"),
    Sample("max", [_rng.random((2, 3)) < 0.5], {"axes": (1,), "keepdims": False}, _reducer(np.max), grad=False,
           note="bool"),
]

SAMPLES += [
    Sample("argmax", [uniform(3, 5)], {"axis": 1, "keepdims": False}, _argmax_reference, grad=False,
           note="not differentiable"),
    Sample("argmax", [uniform(2, 3, 4)], {"axis": 0, "keepdims": True}, _argmax_reference, grad=False,
           note="keepdims"),
    Sample("argmax", [uniform(2, 3, 4)], {"axis": 1, "keepdims": False}, _argmax_reference, grad=False,
           note="middle axis"),
    Sample("argmax", [_ties], {"axis": 1, "keepdims": False}, _argmax_reference, grad=False,
           note="ties take the first index"),
    Sample("argmax", [_ints], {"axis": 0, "keepdims": False}, _argmax_reference, grad=False, note="int32"),
    Sample("argmax", [uniform(7)], {"axis": 0, "keepdims": False}, _argmax_reference, grad=False, note="1-d"),
]

# ---- NaN and infinities: numpy's max/min propagate NaN, argmax gives the first NaN's index --------------
# (WGSL's max/min may return either operand of a NaN, and every comparison with NaN is false.)
NAN, INF = np.nan, np.inf
_special = np.array([[1.0, NAN, 3.0, -1.0], [-INF, 2.0, INF, 0.0], [NAN, NAN, 1.0, 2.0], [-INF, -INF, -INF, -INF],
                     [INF, 1.0, INF, NAN], [2.0, 1.0, 0.0, NAN]], np.float32)
_long = uniform(3, 150)
_long[0, 77] = NAN
_long[1, 0] = NAN
_long[2, 149] = INF
for _op, _fn in REDUCERS.items():
    SAMPLES += [
        Sample(_op, [_special], {"axes": (1,), "keepdims": False}, _reducer(_fn), grad=False, note="nan"),
        Sample(_op, [_special], {"axes": (0,), "keepdims": True}, _reducer(_fn), grad=False, note="nan columns"),
        Sample(_op, [_special], {"axes": (0, 1), "keepdims": False}, _reducer(_fn), grad=False, note="nan all"),
        Sample(_op, [_long], {"axes": (1,), "keepdims": False}, _reducer(_fn), grad=False, note="nan long axis"),
    ]
SAMPLES += [
    Sample("argmax", [_special], {"axis": 1, "keepdims": False}, _argmax_reference, grad=False, note="nan"),
    Sample("argmax", [_special], {"axis": 0, "keepdims": False}, _argmax_reference, grad=False, note="nan columns"),
    Sample("argmax", [_long], {"axis": 1, "keepdims": True}, _argmax_reference, grad=False, note="nan long axis"),
]

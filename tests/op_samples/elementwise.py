"""Samples for the elementwise primitives: unary, binary with broadcasting, comparisons, where, cast.

Gradient samples keep away from kinks and ties (abs/sign near 0, maximum ties, log/sqrt of x <= 0);
the cases at those points are forward-only, with a note saying why.
"""
import math

import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(20240611)


def uniform(*shape, low=-2.0, high=2.0):
    return _rng.uniform(low, high, size=shape).astype(np.float32)


def away_from_zero(*shape, gap=0.2):
    """Floats in [-2, -gap] ∪ [gap, 2]: no kink of abs/sign within finite-difference reach."""
    x = uniform(*shape, low=gap, high=2.0)
    return (x * _rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def ints(*shape, low=-5, high=6):
    return _rng.integers(low, high, size=shape).astype(np.int32)


def bools(*shape):
    return _rng.random(size=shape) < 0.5


def _quietly(fn):
    """A numpy reference whose inf/NaN results are expected: no RuntimeWarning."""

    def reference(*arrays):
        with np.errstate(divide="ignore", invalid="ignore"):
            return fn(*arrays)

    return reference


def _erf_reference(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _sigmoid_reference(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


UNARY = {
    "neg": (np.negative, uniform),
    "exp": (np.exp, uniform),
    "log": (np.log, lambda *s: uniform(*s, low=0.3, high=3.0)),
    "sqrt": (np.sqrt, lambda *s: uniform(*s, low=0.3, high=3.0)),
    "abs": (np.abs, away_from_zero),
    "sign": (np.sign, away_from_zero),
    "tanh": (np.tanh, uniform),
    "sigmoid": (_sigmoid_reference, uniform),
    "erf": (_erf_reference, uniform),
    "sin": (np.sin, lambda *s: uniform(*s, low=-4.0, high=4.0)),
    "cos": (np.cos, lambda *s: uniform(*s, low=-4.0, high=4.0)),
}

BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum,
}
COMPARE = {
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}
# Broadcasting patterns every binary op is sampled with: same shape, outer (3,1)x(1,4), rank mismatch, scalar.
SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 3)), ((5,), ())]


def _binary_inputs(op, a, b):
    if op == "div":
        return uniform(*a), away_from_zero(*b, gap=0.5)
    if op == "pow":
        return uniform(*a, low=0.5, high=2.0), uniform(*b, low=-2.0, high=2.0)
    return uniform(*a), uniform(*b)  # continuous draws: maximum/minimum see no ties


SAMPLES = []
for _op, (_ref, _make) in UNARY.items():
    for _shape in [(), (7,), (2, 3, 4)]:
        SAMPLES.append(Sample(_op, [_make(*_shape)], reference=_ref))
for _op in ("neg", "abs", "sign"):
    SAMPLES.append(Sample(_op, [ints(2, 5)], reference=UNARY[_op][0], grad=False, note="int32"))
SAMPLES += [
    Sample("sign", [np.array([-1.5, 0.0, 2.0, -0.0], np.float32)], reference=np.sign, grad=False, note="zero"),
    Sample("abs", [np.array([-1.5, 0.0, 2.0], np.float32)], reference=np.abs, grad=False, note="kink at zero"),
    Sample("sigmoid", [np.array([-100.0, -30.0, -5.0, 0.0, 5.0, 30.0, 100.0], np.float32)],
           reference=_sigmoid_reference, grad=False, note="saturated"),
    Sample("tanh", [np.array([-50.0, -16.0, -3.0, 0.0, 1e-4, 3.0, 16.0, 50.0], np.float32)], reference=np.tanh,
           grad=False, note="saturated"),
    Sample("exp", [np.array([-100.0, -20.0, 0.0, 20.0, 80.0], np.float32)], reference=np.exp, grad=False,
           note="range"),
    Sample("erf", [np.array([-6.0, -3.0, -0.5, 0.0, 1e-3, 0.5, 3.0, 6.0], np.float32)], reference=_erf_reference,
           grad=False, note="tails"),
]

for _op, _ref in BINARY.items():
    for _a, _b in SHAPES:
        SAMPLES.append(Sample(_op, list(_binary_inputs(_op, _a, _b)), reference=_ref))
for _op in ("add", "sub", "mul", "maximum", "minimum"):
    SAMPLES.append(Sample(_op, [ints(3, 1), ints(1, 4)], reference=BINARY[_op], grad=False, note="int32"))
SAMPLES += [
    Sample("maximum", [np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, 3.0, 2.0], np.float32)],
           reference=np.maximum, grad=False, note="ties"),
    Sample("minimum", [np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, 3.0, 2.0], np.float32)],
           reference=np.minimum, grad=False, note="ties"),
    Sample("pow", [np.array([-2.0, -3.0, -0.5, 0.0, 2.0], np.float32), np.array([2.0, 3.0, -1.0, 2.0, 0.5], np.float32)],
           reference=np.power, grad=False, note="negative base, integer exponents"),
    Sample("pow", [np.array([-2.0, -1.5], np.float32), np.array([0.5, 1.5], np.float32)], reference=_quietly(np.power),
           grad=False, note="negative base, fractional exponent is nan"),
    Sample("div", [np.array([1.0, -1.0, 0.0], np.float32), np.array([0.0, 0.0, 4.0], np.float32)],
           reference=_quietly(np.divide), grad=False, note="division by zero"),
]

for _op, _ref in COMPARE.items():
    _x = np.round(uniform(3, 4)).astype(np.float32)  # rounded, so equal elements occur
    _y = np.round(uniform(1, 4)).astype(np.float32)
    SAMPLES += [
        Sample(_op, [_x, _y], reference=_ref, grad=False, note="float32; not differentiable"),
        Sample(_op, [ints(2, 3), ints(3)], reference=_ref, grad=False, note="int32"),
        Sample(_op, [np.round(uniform()).astype(np.float32), _x], reference=_ref, grad=False, note="scalar"),
    ]
SAMPLES += [
    Sample("equal", [bools(2, 3), bools(2, 3)], reference=np.equal, grad=False, note="bool"),
    Sample("not_equal", [bools(4), bools(1)], reference=np.not_equal, grad=False, note="bool"),
]

SAMPLES += [
    Sample("where", [bools(3, 4), uniform(3, 4), uniform(3, 4)], reference=np.where),
    Sample("where", [bools(3, 1), uniform(1, 4), uniform(4)], reference=np.where, note="3-way broadcast"),
    Sample("where", [np.array(True), uniform(2, 3), uniform()], reference=np.where, note="scalar condition"),
    Sample("where", [bools(2, 3), ints(2, 3), ints(3)], reference=np.where, grad=False, note="int32"),
    Sample("where", [bools(5), bools(5), bools(1)], reference=np.where, grad=False, note="bool"),
]


def _cast_reference(x, dtype):
    return x.astype(dtype)


SAMPLES += [
    Sample("cast", [uniform(3, 4)], {"dtype": "float64"}, _cast_reference, note="to float64"),
    Sample("cast", [np.array([1.7, -1.7, 0.0, 2.5, -0.2], np.float32)], {"dtype": "int32"}, _cast_reference,
           grad=False, note="float to int truncates"),
    Sample("cast", [np.array([1.5, 0.0, -0.0, -2.0], np.float32)], {"dtype": "bool"}, _cast_reference, grad=False,
           note="float to bool"),
    Sample("cast", [ints(2, 3)], {"dtype": "float32"}, _cast_reference, grad=False, note="int to float; no float input"),
    Sample("cast", [ints(2, 3)], {"dtype": "bool"}, _cast_reference, grad=False, note="int to bool"),
    Sample("cast", [bools(2, 3)], {"dtype": "float32"}, _cast_reference, grad=False, note="bool to float"),
    Sample("cast", [bools(2, 3)], {"dtype": "int32"}, _cast_reference, grad=False, note="bool to int"),
]

# ---- NaN and infinities: numpy's results, which WGSL's builtins do not promise ---------------------------
# (WGSL may return either operand of max/min for a NaN, 0 for sign(NaN), and leaves pow(x, y) undefined for
# x < 0 and NaN for 1**NaN; the kernels test NaN by its bits, so every backend must give numpy's answer.)
NAN, INF = np.float32(np.nan), np.float32(np.inf)
_SPECIAL = np.array([NAN, INF, -INF, 0.0, -0.0, 1.5, -0.5], np.float32)
_LEFT = np.array([NAN, 1.0, NAN, INF, -INF, 2.0, INF, -INF, 0.0], np.float32)
_RIGHT = np.array([1.0, NAN, NAN, -INF, 3.0, INF, INF, -INF, INF], np.float32)
for _op, (_ref, _make) in UNARY.items():
    SAMPLES.append(Sample(_op, [_SPECIAL], reference=_quietly(_ref), grad=False, note="nan"))
for _op, _ref in {**BINARY, **COMPARE}.items():
    SAMPLES.append(Sample(_op, [_LEFT, _RIGHT], reference=_quietly(_ref), grad=False, note="nan"))
SAMPLES += [
    Sample("maximum", [np.array([[NAN], [1.0], [-INF]], np.float32), np.array([2.0, NAN, INF], np.float32)],
           reference=np.maximum, grad=False, note="nan broadcast"),
    Sample("minimum", [np.array([[NAN], [1.0], [-INF]], np.float32), np.array([2.0, NAN, INF], np.float32)],
           reference=np.minimum, grad=False, note="nan broadcast"),
    # C's pow: 1**y == 1 and x**0 == 1 for any y and x (NaN too), (-1)**±inf == 1, |x| > 1 (< 1) to +inf is
    # inf (0) for either sign of x, (-inf)**y follows the sign rule of an odd integer y, else it is inf or 0.
    Sample("pow", [np.array([1, 1, 1, NAN, -1, -1, NAN, 2, -2, -2, -0.5, -0.5, -INF, -INF, -INF, -INF, INF, INF,
                             -2, 0.5, -3], np.float32),
                   np.array([NAN, INF, -INF, 0, INF, -INF, 2, NAN, INF, -INF, INF, -INF, 0.5, -0.5, 3, -3, 2, -1,
                             NAN, -INF, 1e30], np.float32)],
           reference=_quietly(np.power), grad=False, note="nan"),
    Sample("cast", [np.array([NAN, -NAN, INF, -INF, 0.0, -0.0, 1e-45], np.float32)], {"dtype": "bool"},
           _cast_reference, grad=False, note="nan to bool"),
    Sample("where", [np.array([True, False, True]), np.array([NAN, 1.0, -INF], np.float32),
                     np.array([0.0, NAN, INF], np.float32)], reference=np.where, grad=False, note="nan"),
]

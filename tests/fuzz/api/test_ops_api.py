"""pyml.ops on hostile inputs (hypothesis): any shapes, dtypes and arguments either give NumPy's answer or an
error naming the op (see properties.py for the property and the budget)."""
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyml import ops
from tests.fuzz.api.properties import (DTYPES, arrays, attempt, bad_ints, examples, is_int, refused,
                                       small_shapes)

# public op -> (NumPy reference, the primitive names its errors may carry)
BINARY = {
    "add": (np.add, ["add"]), "subtract": (np.subtract, ["sub"]), "multiply": (np.multiply, ["mul"]),
    "maximum": (np.maximum, ["maximum"]), "minimum": (np.minimum, ["minimum"]),
    "equal": (np.equal, ["equal"]), "less": (np.less, ["less"]), "greater_equal": (np.greater_equal, ["greater"]),
}
VALUE_DTYPES = ("float32", "float64", "int32", "int64", "bool", "uint8", "float16")  # NumPy types pyml converts


def _numpy(call):
    """``call()``'s value, or None when NumPy refuses it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return call()
        except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError, np.exceptions.AxisError):
            return None


@pytest.mark.parametrize("name", sorted(BINARY))
@examples(30)
@given(shapes=st.tuples(small_shapes(max_dims=3), small_shapes(max_dims=3)),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)))
@example(shapes=((2, 3), (3, 2)), dtypes=("float32", "float32"))  # do not broadcast
@example(shapes=((2,), (2,)), dtypes=("float32", "complex64"))
def test_binary_ops_broadcast_as_numpy_or_name_the_op(name, shapes, dtypes):
    reference, primitives = BINARY[name]
    x, y = arrays(shapes[0], dtypes[0], seed=1), arrays(shapes[1], dtypes[1], seed=2)
    result = attempt(lambda: getattr(ops, name)(x, y), [name, *primitives, "tensor", "dtype"])
    supported = all(d in VALUE_DTYPES for d in dtypes)
    # pyml computes half floats in float32, bools as ints (True + True == 2) and uint8 as int32 (255 + 1 == 256,
    # not 0): the reference does too
    wide = [v.astype(np.float64 if v.dtype.kind in "fb" else np.int64) for v in (x, y)] if supported else None
    expected = _numpy(lambda: reference(*wide)) if supported else None
    if not supported or expected is None:
        assert refused(result), f"{name} accepted {dtypes} of shapes {shapes}: {result}"
        return
    assert not refused(result), result
    np.testing.assert_allclose(result.numpy().astype(np.float64), np.asarray(expected, np.float64), rtol=1e-6,
                               atol=1e-6)


REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
    "logsumexp": lambda x, axis: np.log(np.sum(np.exp(x), axis=axis)),
}
AXES = st.one_of(st.none(), st.integers(-4, 4), st.lists(st.integers(-3, 3), max_size=3).map(tuple), bad_ints())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@examples(40)
@given(shape=small_shapes(max_dims=3, min_side=1), axis=AXES)
@example(shape=(2, 3), axis=2.0)  # a float axis: refused, not truncated
@example(shape=(2, 3), axis=(0, 0))  # repeated
def test_reductions_take_numpy_axes_or_name_the_op(name, shape, axis):
    x = arrays(shape, "float32", seed=3)
    result = attempt(lambda: getattr(ops, name)(x, axis=axis), [name, "axis", "max", "sum"])
    proper = axis is None or is_int(axis) or (isinstance(axis, (tuple, list)) and all(is_int(a) for a in axis))
    proper = proper and (len(shape) > 0 or axis in (None, (), []))  # NumPy lets a scalar take axis 0; JAX does not
    axes = tuple(axis) if isinstance(axis, list) else axis  # NumPy takes a tuple where pyml (and Keras) take lists
    expected = _numpy(lambda: REDUCTIONS[name](x.astype(np.float64), axis=axes)) if proper else None
    if expected is None:
        assert refused(result), f"{name}(axis={axis!r}) on shape {shape} was accepted: {result}"
        return
    assert not refused(result), result
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-6)


def _proper(value):
    """Ints all the way down (a nested tuple/list of them)."""
    if isinstance(value, (list, tuple)):
        return all(_proper(v) for v in value)
    return is_int(value)


# op -> (pyml call, NumPy reference) for ops that take an int (or ints) argument
SHAPED = {
    "reshape": (lambda x, a: ops.reshape(x, a), lambda x, a: np.reshape(x, a)),
    "transpose": (lambda x, a: ops.transpose(x, a), lambda x, a: np.transpose(x, a)),
    "expand_dims": (lambda x, a: ops.expand_dims(x, a), lambda x, a: np.expand_dims(x, a)),
    "squeeze": (lambda x, a: ops.squeeze(x, a), lambda x, a: np.squeeze(x, a)),
    "repeat": (lambda x, a: ops.repeat(x, a, axis=0), lambda x, a: np.repeat(x, a, axis=0)),
    "tile": (lambda x, a: ops.tile(x, a), lambda x, a: np.tile(x, a)),
    "take": (lambda x, a: ops.take(x, a, axis=0), lambda x, a: np.take(x, a, axis=0)),
    "pad": (lambda x, a: ops.pad(x, a), lambda x, a: np.pad(x, a)),
    "split": (lambda x, a: ops.split(x, a), lambda x, a: np.split(x, a)),
    "moveaxis": (lambda x, a: ops.moveaxis(x, a, 0), lambda x, a: np.moveaxis(x, a, 0)),
}
# Where pyml is stricter than NumPy, as Keras documents: transpose takes a sequence (or None: reversed), reshape
# one -1 (NumPy reads any negative size as "the rest"); squeeze takes None (every unit axis); moveaxis one axis.
STRICTER = {
    "squeeze": lambda a: a is None or _proper(a),
    "transpose": lambda a: a is None or (isinstance(a, (list, tuple)) and _proper(a)),
    "reshape": lambda a: _proper(a) and all(is_int(d) and d >= -1 for d in (a if isinstance(a, (tuple, list))
                                                                           else (a,))),
    "moveaxis": is_int,  # one axis (NumPy also moves several)
}
INT_ARGUMENTS = st.one_of(st.integers(-3, 4), st.lists(st.integers(-3, 4), max_size=4).map(tuple),
                          st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=3).map(tuple),
                          bad_ints(), st.lists(bad_ints(), min_size=1, max_size=2))


@pytest.mark.parametrize("name", sorted(SHAPED))
@examples(30)
@given(shape=small_shapes(min_dims=1, max_dims=3, min_side=1), argument=INT_ARGUMENTS)
@example(shape=(4,), argument=2.5)  # repeat(x, 2.5) and friends truncated to 2
@example(shape=(4, 2), argument=(1.5, 0))
@example(shape=(4,), argument=2**70)
def test_int_arguments_give_numpy_results_or_name_the_op(name, shape, argument):
    call, reference = SHAPED[name]
    x = arrays(shape, "float32", seed=4)
    result = attempt(lambda: call(x, argument), [name, "repeats", "axis", "reshape", "pad", "slice", "shape",
                                                 "broadcast_to", "transpose", "take", "split", "indices"])
    valid = STRICTER.get(name, _proper)(argument)
    as_numpy = tuple(argument) if isinstance(argument, list) else argument  # NumPy wants tuples of axes
    expected = _numpy(lambda: reference(x, as_numpy)) if valid else None
    if expected is None:
        assert refused(result), f"{name}({argument!r}) on shape {shape} was accepted: {result}"
        return
    assert not refused(result), result
    if name == "split":
        assert [r.shape for r in result] == [e.shape for e in expected]
        for r, e in zip(result, expected):
            np.testing.assert_array_equal(r.numpy(), e)
    else:
        np.testing.assert_array_equal(result.numpy(), expected)

"""Public reduction ops: property tests vs numpy over random shapes and axes (None, int, tuple, negative),
axis errors, dtype rules, tie handling in max/min gradients and argmax."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyml
from pyml import ops
from pyml.errors import OpError

T = pyml.Tensor
REDUCERS = {ops.sum: np.sum, ops.mean: np.mean, ops.max: np.max, ops.min: np.min}


@st.composite
def shape_and_axis(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none", "tuple"]))
    if kind == "none" or not ndim:
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return shape, tuple(a - ndim if draw(st.booleans()) else a for a in axes)  # mix negative axes in


@settings(max_examples=80, deadline=None)
@given(case=shape_and_axis(), op=st.sampled_from(sorted(REDUCERS, key=lambda f: f.__name__)),
       keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reductions_match_numpy(case, op, keepdims, seed):
    shape, axis = case
    x = np.random.default_rng(seed).uniform(-3, 3, shape).astype(np.float32)
    out = op(T(x), axis=axis, keepdims=keepdims)
    expected = REDUCERS[op](x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(case=shape_and_axis(min_dims=1), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_argmax_matches_numpy_including_ties(case, keepdims, seed):
    shape, axis = case
    if isinstance(axis, tuple):
        axis = axis[0] if axis else None
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float32)  # few values: many ties
    out = ops.argmax(T(x), axis=axis, keepdims=keepdims)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), np.argmax(x, axis=axis, keepdims=keepdims))


@settings(max_examples=40, deadline=None)
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_sum_and_mean_gradients_spread_evenly(case, keepdims, seed):
    shape, axis = case
    x = pyml.Variable(np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32))
    with pyml.GradientTape(persistent=True) as tape:
        total = ops.sum(ops.sum(x, axis=axis, keepdims=keepdims) * 3.0)
        average = ops.sum(ops.mean(x, axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(tape.gradient(total, x).numpy(), np.full(shape, 3.0))
    count = np.ones(shape).sum(axis=axis)  # how many elements each mean averages
    count = np.asarray(count).reshape(-1)[0]
    np.testing.assert_allclose(tape.gradient(average, x).numpy(), np.full(shape, 1.0 / count), rtol=1e-6)


def test_axis_forms():
    x = T(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    np.testing.assert_array_equal(ops.sum(x).numpy(), 276.0)
    np.testing.assert_array_equal(ops.sum(x, axis=-1).numpy(), np.arange(24).reshape(2, 3, 4).sum(-1))
    np.testing.assert_array_equal(ops.sum(x, axis=(0, -1)).numpy(), np.arange(24).reshape(2, 3, 4).sum((0, 2)))
    np.testing.assert_array_equal(ops.sum(x, axis=[2, 0]).numpy(), np.arange(24).reshape(2, 3, 4).sum((0, 2)))
    assert ops.max(x, axis=1, keepdims=True).shape == (2, 1, 4)
    assert ops.sum(x, axis=()).shape == (2, 3, 4)


def test_bad_axis_names_the_axis_and_ndim():
    x = T(np.ones((2, 3)))
    with pytest.raises(OpError, match=r"sum: axis 2 is out of bounds for a tensor with ndim 2"):
        ops.sum(x, axis=2)
    with pytest.raises(OpError, match=r"mean: axis -3 is out of bounds for a tensor with ndim 2"):
        ops.mean(x, axis=(0, -3))
    with pytest.raises(OpError, match=r"argmax: axis 5 is out of bounds for a tensor with ndim 2"):
        ops.argmax(x, axis=5)
    with pytest.raises(OpError, match=r"max: repeated axis"):
        ops.max(x, axis=(1, -1))


def test_primitive_rule_checks_canonical_axes():
    from pyml.ops.registry import bind

    with pytest.raises(OpError, match=r"sum: axes must be sorted distinct axes in \[0, 2\).*Received: axes=\(1, 0\)"):
        bind("sum", T(np.ones((2, 3))), axes=(1, 0), keepdims=False)


def test_max_of_an_empty_axis_is_an_error():
    with pytest.raises(OpError, match=r"max: cannot reduce over an empty axis"):
        ops.max(T(np.ones((2, 0))), axis=1)
    np.testing.assert_array_equal(ops.sum(T(np.ones((2, 0), np.float32)), axis=1).numpy(), [0.0, 0.0])


def test_reduction_dtypes():
    assert ops.sum(T([True, True, False])).dtype == "int32"
    assert int(ops.sum(T([True, True, False]))) == 2
    assert ops.sum(T([1, 2])).dtype == "int32"
    mean = ops.mean(T([1, 2]))
    assert mean.dtype == "float32" and float(mean) == 1.5
    assert ops.max(T([1, 5, 2])).dtype == "int32"
    assert ops.mean(T(np.ones(3, np.float64))).dtype == "float64"


def test_max_and_min_gradients_share_ties_evenly():
    x = pyml.Variable(np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]], np.float32))
    with pyml.GradientTape(persistent=True) as tape:
        top = ops.sum(ops.max(x, axis=1))
        bottom = ops.min(x)
    np.testing.assert_array_equal(tape.gradient(top, x).numpy(), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(tape.gradient(bottom, x).numpy(), [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_argmax_without_axis_indexes_the_flat_tensor():
    x = T([[1.0, 7.0], [7.0, 3.0]])
    assert int(ops.argmax(x)) == 1
    assert ops.argmax(x, keepdims=True).shape == (1, 1)


def test_tensor_methods():
    x = T([[1.0, 2.0], [3.0, 4.0]])
    assert float(x.sum()) == 10.0
    np.testing.assert_array_equal(x.mean(axis=0).numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(x.max(axis=1).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.argmax(axis=0).numpy(), [1, 1])


def test_non_int_axis_is_an_op_error():
    with pytest.raises(OpError, match=r"sum: axis must be an int or a sequence of ints. Received: axis=0.5"):
        ops.sum(pyml.Tensor([1.0, 2.0]), axis=0.5)
    with pytest.raises(OpError, match=r"argmax: axis must be an int or None. Received: axis=\(0, 1\)"):
        ops.argmax(pyml.Tensor([[1.0, 2.0]]), axis=(0, 1))


def test_mean_of_an_empty_axis_is_nan_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ops.mean(pyml.Tensor(np.zeros((0, 3), np.float32)), axis=0)
    assert out.shape == (3,) and np.isnan(out.numpy()).all()

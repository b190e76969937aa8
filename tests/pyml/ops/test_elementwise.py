"""Public elementwise ops: broadcasting (property tests vs numpy), dtype promotion and weak scalars, errors,
and the numerics and gradients the registry suite's samples cannot show (ties, kinks, saturation)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyml
from pyml import ops
from pyml.errors import OpError

T = pyml.Tensor

BINARY = {
    ops.add: np.add, ops.subtract: np.subtract, ops.multiply: np.multiply, ops.maximum: np.maximum,
    ops.minimum: np.minimum, ops.equal: np.equal, ops.not_equal: np.not_equal, ops.less: np.less,
    ops.less_equal: np.less_equal, ops.greater: np.greater, ops.greater_equal: np.greater_equal,
}


def _array(shape, draw_seed):
    return np.random.default_rng(draw_seed).uniform(-3, 3, size=shape).round(1).astype(np.float32)


# ---- broadcasting ------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       op=st.sampled_from(sorted(BINARY, key=lambda f: f.__name__)), seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_numpy(shapes, op, seed):
    a, b = _array(shapes.input_shapes[0], seed), _array(shapes.input_shapes[1], seed + 1)
    out = op(T(a), T(b))
    expected = BINARY[op](a, b)
    assert out.shape == shapes.result_shape == expected.shape
    assert out.dtype == ("bool" if expected.dtype == bool else "float32")
    np.testing.assert_array_equal(out.numpy(), expected)


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_where_broadcasts_three_ways(shapes, seed):
    cond = _array(shapes.input_shapes[0], seed) > 0
    x, y = _array(shapes.input_shapes[1], seed + 1), _array(shapes.input_shapes[2], seed + 2)
    np.testing.assert_array_equal(ops.where(T(cond), T(x), T(y)).numpy(), np.where(cond, x, y))


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=st.integers(0, 2**16))
def test_broadcast_gradients_sum_over_the_broadcast_axes(shapes, seed):
    a, b = _array(shapes.input_shapes[0], seed), _array(shapes.input_shapes[1], seed + 1)
    x, y = pyml.Variable(a), pyml.Variable(b)
    g = np.random.default_rng(seed).standard_normal(shapes.result_shape).astype(np.float32)
    with pyml.GradientTape() as tape:
        out = x * y
    dx, dy = tape.gradient(out, [x, y], output_gradients=T(g))
    assert dx.shape == a.shape and dy.shape == b.shape
    # d(x*y)/dx = y broadcast; summing over the broadcast axes is what np.broadcast_to's adjoint does
    expected_dx = np.sum(g * np.broadcast_to(b, g.shape), axis=tuple(range(g.ndim - a.ndim)))
    expected_dx = np.sum(expected_dx, axis=tuple(i for i, d in enumerate(a.shape) if d == 1), keepdims=True)
    np.testing.assert_allclose(dx.numpy(), expected_dx.reshape(a.shape), rtol=1e-5, atol=1e-5)


def test_non_broadcasting_shapes_name_the_op_and_both_shapes():
    with pytest.raises(OpError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        ops.add(T(np.ones((2, 3))), T(np.ones(4)))
    with pytest.raises(OpError, match=r"where: shapes \(2,\) and \(3,\) and \(\) do not broadcast"):
        ops.where(T([True, False]), T([1.0, 2.0, 3.0]), 0.0)


# ---- dtypes --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, y, expected", [
    (T([1, 2]), T([1.0, 2.0]), "float32"),
    (T([1.0], dtype="float32"), T([1.0], dtype="float64"), "float64"),
    (T([True]), T([2]), "int32"),
    (T([1, 2]), 0.5, "float32"),          # a float scalar makes an int result float, as in numpy
    (T([1.0], dtype="float32"), 2, "float32"),
    (T([1.0], dtype="float32"), 2.5, "float32"),  # weak: never float64
    (T([1.0], dtype="float64"), 2.5, "float64"),
    (T([1, 2]), 3, "int32"),
    (2, T([1, 2]), "int32"),
    (1.5, 2, "float32"),
    (T([True]), True, "int32"),           # bools add as 0/1 ints (Keras), not logically
])
def test_add_promotes_dtypes(x, y, expected):
    out = ops.add(x, y)
    assert out.dtype == expected
    np.testing.assert_allclose(out.numpy(), np.add(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))


def test_divide_gives_float32_for_ints_like_numpy_true_division():
    out = ops.divide(T([1, 7, -7]), 2)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), [0.5, 3.5, -3.5])
    assert (T([3]) / T([2])).dtype == "float32"


def test_power_of_ints_stays_int():
    out = ops.power(T([2, -3, 5]), 3)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [8, -27, 125])


def test_power_follows_numpy_for_negative_bases():
    out = ops.power(T([-2.0, -2.0, -8.0, 0.0, 0.0]), T([3.0, 2.0, 1 / 3, 0.0, 2.0]))
    np.testing.assert_array_equal(out.numpy()[[0, 1, 3, 4]], [-8.0, 4.0, 1.0, 0.0])
    assert np.isnan(out.numpy()[2])


def test_comparisons_promote_then_compare():
    np.testing.assert_array_equal(ops.less(T([1, 2, 3]), 2.5).numpy(), [True, True, False])
    np.testing.assert_array_equal(ops.equal(T([1.0, 2.0]), T([1, 3])).numpy(), [True, False])
    assert ops.greater(T([1]), 0).dtype == "bool"


def test_unary_float_ops_take_ints_as_float32():
    out = ops.sqrt(T([4, 9]))
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), [2.0, 3.0])


def test_abs_sign_negative_keep_int32():
    x = T([-3, 0, 2])
    for op, ref in ((ops.abs, np.abs), (ops.sign, np.sign), (ops.negative, np.negative)):
        out = op(x)
        assert out.dtype == "int32"
        np.testing.assert_array_equal(out.numpy(), ref(np.array([-3, 0, 2])))


def test_cast_between_every_dtype():
    x = np.array([1.7, -1.7, 0.0, 2.0], np.float32)
    for dtype in pyml.dtypes.DTYPES:
        out = ops.cast(T(x), dtype)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), x.astype(dtype))
    same = T(x)
    assert ops.cast(same, "float32") is same


def test_unknown_dtype_lists_the_supported_ones():
    with pytest.raises(TypeError, match=r"float32, float64, int32, bool.*Received: dtype='int8'"):
        ops.cast(T([1.0]), "int8")


def test_primitive_rules_refuse_mixed_or_wrong_dtypes():
    from pyml.ops.registry import bind

    with pytest.raises(OpError, match=r"add: inputs must share a dtype. Received: dtypes float32 and int32"):
        bind("add", T([1.0]), T([1]))
    with pytest.raises(OpError, match=r"exp: expects dtype in \(float32, float64\). Received: dtype=int32"):
        bind("exp", T([1]))
    with pytest.raises(OpError, match=r"where: condition must be bool"):
        bind("where", T([1.0]), T([1.0]), T([2.0]))


# ---- numerics ------------------------------------------------------------------------------------------
def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = ops.sigmoid(T([-1000.0, -50.0, 0.0, 50.0, 1000.0])).numpy()
    np.testing.assert_allclose(out, [0.0, 1.9287498e-22, 0.5, 1.0, 1.0], rtol=1e-6)


def test_erf_matches_math_erf():
    x = np.linspace(-4, 4, 81).astype(np.float32)
    expected = [math.erf(v) for v in x.astype(np.float64)]
    np.testing.assert_allclose(ops.erf(T(x)).numpy(), expected, rtol=1e-6, atol=1e-7)


def test_sign_of_zero_is_zero():
    np.testing.assert_array_equal(ops.sign(T([-0.0, 0.0, -2.0, 3.0])).numpy(), [0.0, 0.0, -1.0, 1.0])


def test_division_by_zero_gives_inf_without_warnings():
    with np.errstate(all="raise"):
        out = ops.divide(T([1.0, -1.0]), 0.0).numpy()
    np.testing.assert_array_equal(out, [np.inf, -np.inf])


# ---- gradients at kinks, ties and undefined points ------------------------------------------------------
def _grad(fn, *values):
    xs = [pyml.Variable(np.asarray(v, np.float32)) for v in values]
    with pyml.GradientTape() as tape:
        y = ops.sum(fn(*xs))
    grads = tape.gradient(y, xs)
    return [g.numpy() for g in grads]


def test_maximum_and_minimum_send_tied_gradients_to_the_first_input():
    dx, dy = _grad(ops.maximum, [1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    np.testing.assert_array_equal(dx, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dy, [0.0, 1.0, 0.0])
    dx, dy = _grad(ops.minimum, [1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    np.testing.assert_array_equal(dx, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(dy, [0.0, 0.0, 1.0])


def test_abs_gradient_at_zero_is_zero_and_sign_gradient_is_zero():
    (dx,) = _grad(ops.abs, [-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(dx, [-1.0, 0.0, 1.0])
    (dx,) = _grad(ops.sign, [-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0])


def test_power_gradient_wrt_exponent_is_zero_not_nan_for_nonpositive_base():
    dx, dy = _grad(ops.power, [-2.0, 0.0, 2.0], [2.0, 2.0, 3.0])
    np.testing.assert_allclose(dx, [-4.0, 0.0, 12.0])
    np.testing.assert_allclose(dy, [0.0, 0.0, 8.0 * np.log(2.0)], rtol=1e-6)


def test_power_gradient_wrt_base_is_zero_where_the_exponent_is_zero():
    # d/dx x**0 = 0 everywhere, x = 0 included (not 0 * 0**-1 = NaN), as in JAX and PyTorch
    dx, _ = _grad(ops.power, [0.0, 2.0, 0.0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0])


def test_where_gradient_routes_by_condition():
    cond = T([True, False, True])
    dx, dy = _grad(lambda x, y: ops.where(cond, x, y), [1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(dx, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dy, [0.0, 1.0, 0.0])


def test_gradient_flows_through_promotion_casts():
    x = pyml.Variable(np.array([1.0, 2.0], np.float32))
    y = pyml.Variable(np.array([3.0, 4.0], np.float64))
    with pyml.GradientTape() as tape:
        out = ops.sum(x * y)
    dx, dy = tape.gradient(out, [x, y])
    assert (dx.dtype, dy.dtype) == ("float32", "float64")
    np.testing.assert_array_equal(dx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(dy.numpy(), [1.0, 2.0])


def test_comparisons_and_casts_to_int_are_not_differentiable():
    x = pyml.Variable([1.0, -2.0])
    with pyml.GradientTape() as tape:
        y = ops.sum(ops.cast(ops.greater(x, 0.0), "float32") * x + ops.cast(ops.cast(x, "int32"), "float32"))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 0.0])

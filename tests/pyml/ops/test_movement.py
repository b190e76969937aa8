"""The public movement ops (pyml/ops/movement.py, pyml/ops/indexing.py) against NumPy and Keras semantics:
argument handling, canonical attributes, gradients of the composites, and error messages.
(Each primitive's forward and VJP are also checked by the registry suite, tests/pyml/ops/test_registry.py.)"""
import json

import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.errors import OpError
from pyml.graph.ir import _jsonable

rng = np.random.default_rng(0)
A = rng.standard_normal((2, 3, 4))


def _grad(fn, x, g=None):
    """d sum(g * fn(x)) / dx through pyml autodiff."""
    t = pyml.Tensor(x, requires_grad=True)
    out = fn(t)
    g = np.ones(out.shape) if g is None else g
    return pyml.autodiff.grad([out], [t], [pyml.Tensor(g, dtype=out.dtype)])[0].numpy()


def _numeric_grad(fn, x, g, eps=1e-6):
    """Central differences of sum(g * fn(x)) for every element of x (float64, small inputs)."""
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        out[idx] = np.sum(g * (fn(pyml.Tensor(plus)).numpy() - fn(pyml.Tensor(minus)).numpy())) / (2 * eps)
    return out


# ---- reshape family --------------------------------------------------------------------------------------
@pytest.mark.parametrize("newshape", [(4, 6), (-1,), (2, -1, 2), (24,), 24, (1, 2, 1, 12)])
def test_reshape_resolves_one_unknown_dim(newshape):
    out = ops.reshape(A, newshape)
    np.testing.assert_array_equal(out.numpy(), A.reshape(newshape))


def test_reshape_to_the_same_shape_returns_the_input():
    x = pyml.Tensor(A)
    assert ops.reshape(x, (2, -1, 4)) is x


@pytest.mark.parametrize("newshape, message", [
    ((-1, -1), r"one -1.*Received: newshape=\(-1, -1\)"),
    ((5, -1), r"cannot reshape a tensor of shape \(2, 3, 4\) \(24 elements\) into shape \(5, -1\)"),
    ((5, 5), r"cannot reshape a tensor of shape \(2, 3, 4\).*Received: shape=\(5, 5\)"),
    ((0, -1), r"cannot reshape"),
])
def test_reshape_errors(newshape, message):
    with pytest.raises(OpError, match=message):
        ops.reshape(A, newshape)


def test_tensor_reshape_method_takes_varargs_or_a_tuple():
    x = pyml.Tensor(A)
    assert x.reshape(6, -1).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)


def test_expand_dims_squeeze_flatten():
    assert ops.expand_dims(A, 0).shape == (1, 2, 3, 4)
    assert ops.expand_dims(A, (-1, 1)).shape == np.expand_dims(A, (-1, 1)).shape
    assert ops.squeeze(np.zeros((1, 3, 1, 2))).shape == (3, 2)
    assert ops.squeeze(np.zeros((1, 3, 1, 2)), axis=-2).shape == (1, 3, 2)
    assert ops.flatten(A).shape == (24,)
    with pytest.raises(OpError, match=r"squeeze: cannot squeeze axis 1 of size 3"):
        ops.squeeze(np.zeros((1, 3)), axis=1)


# ---- transpose, broadcast_to -----------------------------------------------------------------------------
def test_transpose_default_reverses_and_accepts_negative_axes():
    np.testing.assert_array_equal(ops.transpose(A).numpy(), A.T)
    np.testing.assert_array_equal(ops.transpose(A, (-1, 0, 1)).numpy(), A.transpose(2, 0, 1))
    np.testing.assert_array_equal(pyml.Tensor(A).transpose(1, 0, 2).numpy(), A.transpose(1, 0, 2))
    np.testing.assert_array_equal(ops.moveaxis(A, 0, -1).numpy(), np.moveaxis(A, 0, -1))


def test_transpose_attrs_are_canonical():
    x = pyml.Tensor(A, requires_grad=True)
    node = ops.transpose(x, (-1, np.int64(0), 1))._node
    assert node.attrs == {"perm": (2, 0, 1)} and all(type(p) is int for p in node.attrs["perm"])


@pytest.mark.parametrize("axes, message", [((0, 1), "must list all 3 axes"), ((0, 0, 1), "permutation"),
                                           ((0, 1, 3), "out of bounds")])
def test_transpose_errors(axes, message):
    with pytest.raises(OpError, match=message):
        ops.transpose(A, axes)


def test_broadcast_to_gradient_sums_over_broadcast_axes():
    x = rng.standard_normal((3, 1))
    g = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(_grad(lambda t: ops.broadcast_to(t, (2, 3, 4)), x, g), g.sum(axis=(0, 2))[:, None])
    with pytest.raises(OpError, match=r"broadcast_to: cannot broadcast a tensor of shape \(3, 1\) to shape \(2, 4\)"):
        ops.broadcast_to(x, (2, 4))


# ---- slicing ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("begin, end, strides", [
    ([1], [None], None), ([None, 2], [None, 0], [1, -1]), ([-1, -2, 3], [0, None, 0], [-1, -1, -2]),
    ([0, 0, 0], [100, 100, 100], [2, 2, 3]), ([5], [1], [1]),
])
def test_strided_slice_is_python_slicing(begin, end, strides):
    key = tuple(slice(b, e, s) for b, e, s in zip(begin, end, strides or [1] * len(begin)))
    np.testing.assert_array_equal(ops.strided_slice(A, begin, end, strides).numpy(), A[key])


def test_strided_slice_gradient_matches_central_differences():
    x = rng.standard_normal((5, 6))
    fn = lambda t: ops.strided_slice(t, [4, 1], [None, None], [-2, 3])  # noqa: E731
    g = rng.standard_normal(x[4::-2, 1::3].shape)
    np.testing.assert_allclose(_grad(fn, x, g), _numeric_grad(fn, x, g), atol=1e-8)


def test_slice_attrs_are_canonical_and_json_ready():
    x = pyml.Tensor(np.zeros((10, 4)), requires_grad=True)
    attrs = x[9::-4, 1:2]._node.attrs
    assert attrs == {"start": (9, 1), "stop": (-3, 2), "step": (-4, 1)}
    assert json.loads(json.dumps(_jsonable(attrs))) == {"start": [9, 1], "stop": [-3, 2], "step": [-4, 1]}


def test_keras_slice_takes_start_and_shape():
    np.testing.assert_array_equal(ops.slice(A, (1, 0, 2), (1, 3, 2)).numpy(), A[1:2, 0:3, 2:4])
    with pytest.raises(OpError, match=r"slice: the block must lie inside shape \(2, 3, 4\).*Received"):
        ops.slice(A, (1, 0, 3), (1, 3, 2))


def test_slice_primitive_rejects_ranges_outside_the_axis():
    with pytest.raises(OpError, match=r"slice: axis 0 of size 3 cannot be sliced as range\(0, 5, 1\)"):
        ops.bind("slice", pyml.Tensor(np.zeros(3)), start=(0,), stop=(5,), step=(1,))
    with pytest.raises(OpError, match="step must be nonzero"):
        ops.bind("slice", pyml.Tensor(np.zeros(3)), start=(0,), stop=(3,), step=(0,))


def test_split_sections_and_points():
    for got, want in zip(ops.split(A, 2, axis=0), np.split(A, 2, axis=0)):
        np.testing.assert_array_equal(got.numpy(), want)
    for got, want in zip(ops.split(A, [1, -1, 10], axis=-1), np.split(A, [1, -1, 10], axis=-1)):
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(OpError, match=r"split: axis 1 of size 3 cannot be split into 2 equal parts"):
        ops.split(A, 2, axis=1)


def test_split_gradient_reaches_every_part():
    x = pyml.Tensor(A, requires_grad=True)
    a, b, c = ops.split(x, 3, axis=1)
    (a.sum() + (b * 2.0).sum() + (c * 3.0).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.array([1.0, 2.0, 3.0])[:, None], (2, 3, 4)))


# ---- pad, concatenate, stack ------------------------------------------------------------------------------
@pytest.mark.parametrize("pad_width", [1, (1, 2), ((0, 1), (2, 0), (1, 1))])
def test_pad_accepts_numpy_pad_widths(pad_width):
    np.testing.assert_array_equal(ops.pad(A, pad_width, constant_values=2.5).numpy(),
                                  np.pad(A, pad_width, constant_values=2.5))


def test_pad_keeps_int_dtype_and_value():
    x = np.arange(4, dtype=np.int32).reshape(2, 2)
    out = ops.pad(x, ((1, 0), (0, 1)), constant_values=-3)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), np.pad(x, ((1, 0), (0, 1)), constant_values=-3))


@pytest.mark.parametrize("kwargs, message", [({"pad_width": -1}, "non-negative"),
                                             ({"pad_width": ((1, 1),) * 4}, "must broadcast"),
                                             ({"pad_width": 1, "mode": "reflect"}, "only mode='constant'")])
def test_pad_errors(kwargs, message):
    with pytest.raises(OpError, match=message):
        ops.pad(A, **kwargs)


def test_concatenate_promotes_dtypes_and_takes_negative_axis():
    out = ops.concatenate([np.zeros((2, 1), np.int32), np.ones((2, 2), np.float32)], axis=-1)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), [[0, 1, 1], [0, 1, 1]])


def test_concatenate_and_stack_errors_name_the_shapes():
    with pytest.raises(OpError, match=r"concatenate: .*Received: shapes=\[\(2, 3\), \(3, 3\)\]"):
        ops.concatenate([np.zeros((2, 3)), np.zeros((3, 3))], axis=1)
    with pytest.raises(OpError, match=r"stack: inputs need one shape"):
        ops.stack([np.zeros((2,)), np.zeros((3,))])
    with pytest.raises(OpError, match="non-empty list"):
        ops.concatenate([])


def test_stack_matches_numpy_on_every_axis():
    xs = [rng.standard_normal((2, 3)) for _ in range(4)]
    for axis in (0, 1, 2, -1):
        np.testing.assert_array_equal(ops.stack(xs, axis=axis).numpy(), np.stack(xs, axis=axis))


# ---- take, one_hot ---------------------------------------------------------------------------------------
def test_take_with_axis_none_flattens():
    np.testing.assert_array_equal(ops.take(A, [0, 23, -1]).numpy(), np.take(A, [0, 23, -1]))


def test_take_gradient_accumulates_repeated_rows():
    table = rng.standard_normal((5, 3))
    ids = np.array([[1, 1], [4, -4]], np.int32)
    g = rng.standard_normal((2, 2, 3))
    want = np.zeros_like(table)
    np.add.at(want, ids % 5, g)
    np.testing.assert_allclose(_grad(lambda t: ops.take(t, ids, axis=0), table, g), want)


def test_take_out_of_range_names_axis_index_and_size():
    with pytest.raises(OpError, match=r"take: index 5 is out of bounds for axis 1 with size 3"):
        ops.take(np.zeros((2, 3)), [0, 5], axis=1)
    with pytest.raises(OpError, match=r"indices must be integers"):
        ops.take(np.zeros(3), np.array([0.5]))


def test_one_hot_follows_keras():
    x = np.array([[0, 3], [-1, 2]], np.int32)
    out = ops.one_hot(x, 3)
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), [[[1, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 1]]])
    first = ops.one_hot(x, 3, axis=0, dtype="int32")
    assert first.shape == (3, 2, 2) and first.dtype == "int32"
    np.testing.assert_array_equal(first.numpy(), np.moveaxis(out.numpy(), -1, 0))
    with pytest.raises(OpError, match="one_hot: x must hold integers"):
        ops.one_hot(np.zeros(2), 3)


# ---- tile, repeat ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("reps", [2, (2, 1), (1, 2, 3), (2, 1, 1, 2), (0, 1)])
def test_tile_matches_numpy(reps):
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(ops.tile(x, reps).numpy(), np.tile(x, reps))


@pytest.mark.parametrize("repeats, axis", [(2, None), (3, 0), (2, -1), ([1, 0, 2], 1)])
def test_repeat_matches_numpy(repeats, axis):
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(ops.repeat(x, repeats, axis=axis).numpy(), np.repeat(x, repeats, axis=axis))


def test_tile_and_repeat_gradients_sum_the_copies():
    x = rng.standard_normal((2, 3))
    for fn in (lambda t: ops.tile(t, (2, 2)), lambda t: ops.repeat(t, 2, axis=0),
               lambda t: ops.repeat(t, [2, 0, 1], axis=1)):
        g = rng.standard_normal(fn(pyml.Tensor(x)).shape)
        np.testing.assert_allclose(_grad(fn, x, g), _numeric_grad(fn, x, g), atol=1e-8)


def test_gradients_of_movement_are_differentiable_again():
    """VJPs are written in pyml ops, so a second derivative flows through slice/pad/take."""
    x = pyml.Tensor(rng.standard_normal(6), requires_grad=True)
    with pyml.GradientTape() as outer:
        with pyml.GradientTape() as inner:
            y = (x[::-2] * x[::-2] * x[::-2]).sum()
        (dx,) = [inner.gradient(y, x)]
        z = (dx * dx).sum()
    d2 = outer.gradient(z, x).numpy()
    # y = Σ x_k³ over k in {5, 3, 1}; dx_k = 3 x_k²; z = Σ 9 x_k⁴; dz/dx_k = 36 x_k³
    want = np.zeros(6)
    want[[5, 3, 1]] = 36 * x.numpy()[[5, 3, 1]] ** 3
    np.testing.assert_allclose(d2, want, rtol=1e-6)


# ---- regressions ------------------------------------------------------------------------------------------
def test_take_refuses_float_index_lists_instead_of_truncating():
    with pytest.raises(OpError, match=r"take: indices must be integers"):
        ops.take(pyml.Tensor([1.0, 2.0, 3.0]), [1.7])
    assert ops.take(pyml.Tensor([1.0, 2.0, 3.0]), []).shape == (0,)  # an empty list is fine


def test_repeat_broadcasts_a_single_count_like_numpy():
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(ops.repeat(x, [2], axis=1).numpy(), np.repeat(x, [2], axis=1))


def test_broadcast_to_a_negative_dim_fails_in_the_shape_rule():
    with pytest.raises(OpError, match=r"broadcast_to: .*non-negative.*Received: shape=\(-1, 2\)"):
        ops.broadcast_to(pyml.Tensor([1.0, 2.0]), (-1, 2))


def test_non_int_axes_are_op_errors():
    with pytest.raises(OpError, match=r"expand_dims: axis must be an int.*Received: axis=1.0"):
        ops.expand_dims(pyml.Tensor([1.0, 2.0]), 1.0)
    with pytest.raises(OpError, match=r"squeeze: axis must be an int.*Received: axis='0'"):
        ops.squeeze(pyml.Tensor([[1.0, 2.0]]), "0")


def test_tensor_transpose_method_takes_varargs_or_a_tuple():
    x = pyml.Tensor(np.zeros((2, 3, 4)))
    assert x.transpose(2, 0, 1).shape == (4, 2, 3) and x.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert x.transpose().shape == (4, 3, 2)

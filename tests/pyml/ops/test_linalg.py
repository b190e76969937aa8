"""matmul, dot and tensordot against numpy: 1-D operands, broadcast batch dims, dtype promotion, errors,
gradients of the public ops, and second-order gradients through matmul."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyml
from pyml import ops
from pyml.errors import OpError

rng = np.random.default_rng(5)


def normal(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3,)), ((3,), (5, 3, 4)),
    ((2, 3), (3, 4)), ((4, 1, 2, 3), (5, 3, 2)), ((1, 2, 3), (6, 3, 1)),
])
def test_matmul_matches_numpy_including_1d_operands(a_shape, b_shape):
    a, b = normal(*a_shape, dtype=np.float32), normal(*b_shape, dtype=np.float32)
    out = ops.matmul(a, b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_matmul_operator_and_reflected_operator():
    a, b = normal(2, 3, dtype=np.float32), normal(3, 2, dtype=np.float32)
    np.testing.assert_allclose((pyml.Tensor(a) @ b).numpy(), a @ b, rtol=1e-6)
    np.testing.assert_allclose((b @ pyml.Tensor(a)).numpy(), b @ a, rtol=1e-6)


def test_matmul_promotes_dtypes():
    ints = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert ops.matmul(ints, ints.T).dtype == "int32"
    np.testing.assert_array_equal(ops.matmul(ints, ints.T).numpy(), ints @ ints.T)
    mixed = ops.matmul(ints, np.ones((3, 2), np.float32))
    assert mixed.dtype == "float32"
    np.testing.assert_allclose(mixed.numpy(), ints @ np.ones((3, 2)))


@settings(max_examples=25, deadline=None)
@given(batch_a=st.lists(st.sampled_from([1, 2, 3]), max_size=3), batch_b=st.lists(st.sampled_from([1, 2, 3]), max_size=3),
       m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), data=st.data())
def test_matmul_broadcasts_batch_dims_like_numpy(batch_a, batch_b, m, k, n, data):
    # Make the two batch shapes broadcastable: where both have an axis and they differ, one becomes 1.
    for i in range(1, min(len(batch_a), len(batch_b)) + 1):
        if batch_a[-i] != batch_b[-i] and 1 not in (batch_a[-i], batch_b[-i]):
            if data.draw(st.booleans()):
                batch_a[-i] = 1
            else:
                batch_b[-i] = 1
    a, b = normal(*batch_a, m, k), normal(*batch_b, k, n)
    np.testing.assert_allclose(ops.matmul(a, b).numpy(), np.matmul(a, b), rtol=1e-12, atol=1e-12)


def test_matmul_error_names_both_shapes_and_inner_sizes():
    with pytest.raises(OpError, match=r"^matmul: inner dimensions differ: a has shape \(2, 3\), b has shape \(4, 5\) "
                                      r"\(3 != 4\)$"):
        ops.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(OpError, match=r"inner dimensions differ: a has shape \(3,\), b has shape \(4,\)"):
        ops.matmul(np.ones(3), np.ones(4))


def test_matmul_errors_on_batch_mismatch_and_scalars():
    with pytest.raises(OpError, match=r"batch dimensions \(2,\) and \(3,\) do not broadcast"):
        ops.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(OpError, match=r"at least 1 dimension.*Received: x1.shape=\(\), x2.shape=\(3,\)"):
        ops.matmul(np.float32(2.0), np.ones(3, np.float32))


def _numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("a_shape, b_shape", [((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3, 2))])
def test_public_matmul_gradients_match_finite_differences(a_shape, b_shape):
    a, b, g = normal(*a_shape), normal(*b_shape), None
    g = normal(*np.matmul(a, b).shape)
    ta, tb = pyml.Tensor(a, requires_grad=True), pyml.Tensor(b, requires_grad=True)
    da, db = pyml.autodiff.grad([ops.matmul(ta, tb)], [ta, tb], [pyml.Tensor(g)])
    np.testing.assert_allclose(da.numpy(), _numeric_grad(lambda x: np.sum(np.matmul(x, b) * g), a), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db.numpy(), _numeric_grad(lambda y: np.sum(np.matmul(a, y) * g), b), rtol=1e-6, atol=1e-8)


def _input_gradient_norm(x, w):
    """||∇_x sum(tanh(x @ w))||², in numpy: ∇_x = (1 - tanh²(x @ w)) @ wᵀ."""
    t = np.tanh(x @ w)
    return np.sum(((1 - t * t) @ w.T) ** 2)


def test_second_order_gradient_through_matmul_with_nested_tapes():
    """d/dW ||∇_x f||² for f = sum(tanh(x @ W)): gradients of gradients, checked by finite differences."""
    x, w = normal(4, 3), normal(3, 2)
    tx, tw = pyml.Tensor(x), pyml.Variable(w)
    with pyml.GradientTape() as outer:
        with pyml.GradientTape() as inner:
            inner.watch(tx)
            f = ops.sum(ops.tanh(ops.matmul(tx, tw)))
        gx = inner.gradient(f, tx)
        penalty = ops.sum(gx * gx)
    dw = outer.gradient(penalty, tw)
    np.testing.assert_allclose(float(penalty), _input_gradient_norm(x, w), rtol=1e-10)
    np.testing.assert_allclose(dw.numpy(), _numeric_grad(lambda v: _input_gradient_norm(x, v), w), rtol=1e-5, atol=1e-7)


def test_second_order_gradient_through_matmul_with_create_graph():
    x, w = normal(2, 3), normal(3, 3)
    tx, tw = pyml.Tensor(x, requires_grad=True), pyml.Tensor(w, requires_grad=True)
    f = ops.sum(ops.tanh(ops.matmul(tx, tw)))
    (gx,) = pyml.autodiff.grad([f], [tx], create_graph=True)
    (dw,) = pyml.autodiff.grad([ops.sum(gx * gx)], [tw])
    np.testing.assert_allclose(dw.numpy(), _numeric_grad(lambda v: _input_gradient_norm(x, v), w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("a_shape, b_shape, axes", [
    ((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])), ((3, 4), (4, 5), 1),
    ((2, 3), (4, 5), 0), ((2, 3, 4), (5, 2), ([0], [1])),
])
def test_tensordot_matches_numpy(a_shape, b_shape, axes):
    a, b = normal(*a_shape), normal(*b_shape)
    np.testing.assert_allclose(ops.tensordot(a, b, axes=axes).numpy(), np.tensordot(a, b, axes=axes), rtol=1e-12)


def test_tensordot_errors_name_the_axes():
    with pytest.raises(OpError, match=r"tensordot: contracted sizes differ.*Received: axes=1"):
        ops.tensordot(np.ones((2, 3)), np.ones((4, 5)), axes=1)
    with pytest.raises(OpError, match=r"tensordot: axis 3 is out of bounds"):
        ops.tensordot(np.ones((2, 3)), np.ones((3, 5)), axes=([3], [0]))


@pytest.mark.parametrize("a_shape, b_shape", [((), (3,)), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (4,)),
                                              ((2, 3, 4), (5, 4, 2)), ((3,), (2, 3, 4))])
def test_dot_matches_numpy(a_shape, b_shape):
    a, b = normal(*a_shape), normal(*b_shape)
    np.testing.assert_allclose(ops.dot(a, b).numpy(), np.dot(a, b), rtol=1e-12)


def test_tensordot_over_an_empty_contracted_axis_gives_zeros():
    a, b = np.ones((2, 0, 3)), np.ones((0, 4))
    out = ops.tensordot(a, b, axes=([1], [0]))
    np.testing.assert_array_equal(out.numpy(), np.tensordot(a, b, axes=([1], [0])))
    assert out.shape == (2, 3, 4)

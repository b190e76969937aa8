"""The autodiff driver: GradientTape and backward() semantics, fan-out and broadcasting, no_grad, and
second-order gradients (VJPs are written in ops, so gradients are differentiable again)."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.errors import OpError

T = pyml.Tensor


def _tanh_second_derivative(x):
    t = np.tanh(x)
    return -2 * t * (1 - t * t)


# ---- second order ---------------------------------------------------------------------------------------
def test_second_derivative_of_tanh_with_nested_tapes():
    values = np.array([-1.5, -0.2, 0.0, 0.7, 2.0])
    x = pyml.Variable(values.astype(np.float64))
    with pyml.GradientTape() as outer:
        with pyml.GradientTape() as inner:
            y = ops.sum(ops.tanh(x))
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    np.testing.assert_allclose(dy.numpy(), 1 - np.tanh(values) ** 2, rtol=1e-12)
    np.testing.assert_allclose(d2y.numpy(), _tanh_second_derivative(values), rtol=1e-10, atol=1e-12)


def test_second_derivative_of_tanh_with_backward_create_graph():
    values = np.array([-0.9, 0.3, 1.1])
    x = T(values, requires_grad=True)
    ops.sum(ops.tanh(x)).backward(create_graph=True)
    first = x.grad
    assert first.requires_grad  # the gradient is itself recorded
    x.grad = None
    ops.sum(first).backward()
    np.testing.assert_allclose(x.grad.numpy(), _tanh_second_derivative(values), rtol=1e-10)


def test_hessian_vector_product_of_sum_exp_matmul():
    """f(x) = sum(exp(x @ W)) for a row x: the Hessian is W diag(exp(x W)) W^T."""
    rng = np.random.default_rng(1)
    x0, w0, v = rng.standard_normal((1, 4)), rng.standard_normal((4, 3)) * 0.5, rng.standard_normal((1, 4))
    x, w = pyml.Variable(x0), T(w0)
    with pyml.GradientTape() as outer:
        with pyml.GradientTape() as inner:
            y = ops.sum(ops.exp(x @ w))
        g = inner.gradient(y, x)
        directional = ops.sum(g * T(v))
    hv = outer.gradient(directional, x)
    hessian = w0 @ np.diag(np.exp(x0 @ w0)[0]) @ w0.T
    np.testing.assert_allclose(g.numpy(), np.exp(x0 @ w0) @ w0.T, rtol=1e-10)
    np.testing.assert_allclose(hv.numpy(), v @ hessian, rtol=1e-10)


def test_third_derivative_of_a_cube():
    x = pyml.Variable(np.array([2.0]))
    with pyml.GradientTape() as t3:
        with pyml.GradientTape() as t2:
            with pyml.GradientTape() as t1:
                y = x * x * x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    assert (float(d1), float(d2), float(d3)) == (12.0, 12.0, 6.0)


# ---- GradientTape ---------------------------------------------------------------------------------------
def test_persistent_tape_answers_more_than_once():
    x = pyml.Variable(3.0)
    with pyml.GradientTape(persistent=True) as tape:
        y = x * x
        z = y * x
    assert float(tape.gradient(y, x)) == 6.0
    assert float(tape.gradient(z, x)) == 27.0


def test_non_persistent_tape_refuses_a_second_call():
    x = pyml.Variable(3.0)
    with pyml.GradientTape() as tape:
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="only be called once on a non-persistent tape"):
        tape.gradient(y, x)


def test_watching_a_constant_gives_its_gradient():
    c = T([1.0, 2.0])
    with pyml.GradientTape() as tape:
        tape.watch(c)
        y = ops.sum(c * c)
    np.testing.assert_array_equal(tape.gradient(y, c).numpy(), [2.0, 4.0])


def test_unwatched_constant_and_unconnected_sources_get_none():
    x, unused = pyml.Variable([1.0]), pyml.Variable([5.0])
    c = T([2.0])
    with pyml.GradientTape() as tape:
        y = ops.sum(x * c)
    gx, gc, gu = tape.gradient(y, [x, c, unused])
    assert float(gx[0]) == 2.0
    assert gc is None and gu is None


def test_watch_accessed_variables_false_watches_only_what_is_asked():
    a, b = pyml.Variable([1.0]), pyml.Variable([2.0])
    with pyml.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(b)
        y = ops.sum(a * b)
    ga, gb = tape.gradient(y, (a, b))
    assert ga is None and float(gb[0]) == 1.0


def test_gradient_keeps_the_structure_of_sources():
    x = pyml.Variable([1.0])
    with pyml.GradientTape(persistent=True) as tape:
        y = ops.sum(x * 2.0)
    assert isinstance(tape.gradient(y, [x]), list)
    assert isinstance(tape.gradient(y, (x,)), tuple)
    assert isinstance(tape.gradient(y, x), pyml.Tensor)


def test_output_gradients_weight_the_outputs():
    x = pyml.Variable([1.0, 2.0])
    with pyml.GradientTape() as tape:
        y = x * x
    np.testing.assert_array_equal(tape.gradient(y, x, output_gradients=T([10.0, 1.0])).numpy(), [20.0, 4.0])


def test_int_sources_get_no_gradient():
    n = T([1, 2])
    with pyml.GradientTape() as tape:
        tape.watch(n)
        y = ops.sum(ops.cast(n, "float32") * 2.0)
    assert tape.gradient(y, n) is None


# ---- backward -------------------------------------------------------------------------------------------
def test_backward_on_a_non_scalar_needs_a_gradient_naming_the_shape():
    x = T([1.0, 2.0], requires_grad=True)
    with pytest.raises(OpError, match=r"non-scalar tensor of shape \(2,\)"):
        (x * 2.0).backward()
    (x * 2.0).backward(gradient=T([1.0, 3.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 6.0])


def test_backward_accumulates_into_grad():
    x = T([1.0, 2.0], requires_grad=True)
    ops.sum(x * x).backward()
    ops.sum(x * 3.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.zero_grad()
    assert x.grad is None


def test_fan_out_sums_cotangents():
    x = pyml.Variable([3.0])
    with pyml.GradientTape() as tape:
        y = x * x + x + ops.exp(x * 0.0)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [7.0])


def test_broadcast_operands_get_gradients_of_their_own_shape():
    x, b = pyml.Variable(np.ones((3, 1), np.float32)), pyml.Variable(np.ones((4,), np.float32))
    with pyml.GradientTape() as tape:
        y = ops.sum((x + b) * 2.0)
    gx, gb = tape.gradient(y, [x, b])
    np.testing.assert_array_equal(gx.numpy(), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(gb.numpy(), np.full((4,), 6.0))


# ---- no_grad --------------------------------------------------------------------------------------------
def test_no_grad_records_nothing():
    x = T([1.0], requires_grad=True)
    with pyml.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y._node is None
    z = x * 2.0
    assert z.requires_grad


def test_no_grad_as_a_decorator():
    x = T([1.0], requires_grad=True)

    @pyml.no_grad()
    def double(t):
        return t * 2.0

    assert not double(x).requires_grad
    assert (x * 2.0).requires_grad  # the mode is restored afterwards


def test_no_grad_inside_a_tape_hides_ops_from_it():
    x = pyml.Variable([2.0])
    with pyml.GradientTape() as tape:
        with pyml.no_grad():
            frozen = x * x
        y = ops.sum(frozen * x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [4.0])  # frozen counts as a constant


def test_gradient_of_a_non_differentiable_output_is_none():
    x = pyml.Variable([1.0, -1.0])
    with pyml.GradientTape(persistent=True) as tape:
        mask = ops.greater(x, 0.0)
        index = ops.argmax(x)
    assert tape.gradient(mask, x) is None
    assert tape.gradient(index, x) is None


def test_hessian_of_exp_of_matmul_matches_the_closed_form():
    """f(x) = sum(exp(x @ W)) has Hessian W diag(exp(x @ W)) Wᵀ; each row is a gradient of a gradient."""
    rng = np.random.default_rng(3)
    x0, w0 = rng.standard_normal((1, 3)), rng.standard_normal((3, 2)) * 0.5
    x, w = pyml.Tensor(x0, requires_grad=True), pyml.Tensor(w0)
    (g,) = pyml.autodiff.grad([ops.sum(ops.exp(ops.matmul(x, w)))], [x], create_graph=True)
    rows = [pyml.autodiff.grad([g[0, i]], [x])[0].numpy()[0] for i in range(3)]
    expected = w0 @ np.diag(np.exp(x0 @ w0)[0]) @ w0.T
    np.testing.assert_allclose(np.stack(rows), expected, rtol=1e-10)


# ---- regressions ------------------------------------------------------------------------------------------
def test_gradients_of_a_chain_deeper_than_the_recursion_limit():
    import sys

    depth = sys.getrecursionlimit() + 500  # an unrolled loop: the driver must not recurse per node
    x = pyml.Variable(np.array(1.0))
    with pyml.GradientTape() as tape:
        y = x
        for _ in range(depth):
            y = y * 1.001
    np.testing.assert_allclose(float(tape.gradient(y, x)), 1.001 ** depth, rtol=1e-9)
    y.backward()
    np.testing.assert_allclose(float(x.grad), 1.001 ** depth, rtol=1e-9)


def test_one_output_gradient_per_output_is_required():
    x = pyml.Variable(np.array([1.0, 2.0]))
    outputs = [x * 2.0, x * 3.0]
    with pytest.raises(OpError, match=r"one output gradient per output.*Received: 2 outputs and 1 output gradients"):
        pyml.autodiff.grad(outputs, [x], [None])


def test_sources_and_targets_must_be_tensors():
    x = pyml.Variable(np.array([1.0]))
    with pyml.GradientTape() as tape:
        y = x * 2.0
    with pytest.raises(OpError, match=r"sources\[1\].*Tensor.*Received: int"):
        tape.gradient(y, [x, 3])
    with pytest.raises(OpError, match=r"outputs\[0\].*Tensor.*Received: list"):
        pyml.autodiff.grad([[1.0]], [x])


def test_a_source_behind_another_source_gets_its_full_gradient():
    x = pyml.Variable(np.array([2.0]))
    with pyml.GradientTape() as tape:
        y = x * 3.0
        z = y * y
    dz_dy, dz_dx = tape.gradient(z, [y, x])
    np.testing.assert_allclose([float(dz_dy), float(dz_dx)], [12.0, 36.0])


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(pyml.autodiff, extraglobs={"np": np, "pyml": pyml},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

"""The fast paths of op dispatch (``registry.bind``, the wrappers' promotion) give the answers of the
general path: same values, dtypes and errors, with gradients and tracing intact."""
import warnings

import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.errors import OpError
from pyml.ops import registry


def test_a_failing_shape_rule_fails_every_time_after_the_same_op_succeeded():
    a, b = pyml.Tensor(np.ones((2, 3), "float32")), pyml.Tensor(np.ones((3, 2), "float32"))
    assert ops.matmul(a, b).shape == (2, 2)  # now memoised for these specs
    for _ in range(2):
        with pytest.raises(OpError, match=r"matmul: .*\(2, 3\).*\(2, 3\)"):
            ops.matmul(a, a)


def test_memoised_specs_do_not_leak_between_attributes():
    x = pyml.Tensor(np.arange(6, dtype="float32").reshape(2, 3))
    assert ops.sum(x, axis=0).shape == (3,)
    assert ops.sum(x, axis=1).shape == (2,)
    assert ops.sum(x, axis=1, keepdims=True).shape == (2, 1)
    assert registry.bind("sum", x, axes=(0, 1), keepdims=False).shape == ()


def test_bind_accepts_unhashable_attributes_and_arrays():
    x = np.arange(6, dtype="float32")
    out = registry.bind("reshape", x, shape=[2, 3])  # a list attribute cannot be memoised: the rule just runs
    np.testing.assert_array_equal(out.numpy(), x.reshape(2, 3))
    with pytest.raises(OpError, match="reshape"):
        registry.bind("reshape", x, shape=[4, 2])


def test_zero_d_results_are_arrays_of_the_rule_dtype():
    out = pyml.Tensor(3.0) / pyml.Tensor(2.0)
    assert isinstance(out.data, np.ndarray) and out.shape == () and out.dtype == "float32"
    assert float(out) == 1.5


@pytest.mark.parametrize("x, y, dtype, expected", [
    (pyml.Tensor([1.0, 2.0]), 2, "float32", [3.0, 4.0]),  # a Python int takes the float tensor's dtype
    (0.5, pyml.Tensor([1.0, 2.0], dtype="float64"), "float64", [1.5, 2.5]),  # a float never narrows float64
    (pyml.Tensor([1, 2]), 0.5, "float32", [1.5, 2.5]),  # int tensor + Python float: float32
    (pyml.Tensor([True, False]), True, "int32", [2, 1]),  # bools count as 0/1 ints
    (np.float64(0.5), pyml.Tensor([1.0]), "float64", [1.5]),  # a NumPy scalar is strongly typed
    (pyml.Tensor([1.0]), pyml.Tensor([2.0], dtype="float64"), "float64", [3.0]),
])
def test_add_promotes_as_documented(x, y, dtype, expected):
    out = ops.add(x, y)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), np.asarray(expected, dtype))


@pytest.mark.parametrize("value", [2**32 + 1, -2**31 - 1, np.array([2**40], np.int64)])
def test_ints_past_int32_are_refused_not_wrapped(value):
    # pyml's ints are int32: 2**32 + 1 used to wrap around to 1 (as NumPy's astype does), a silent wrong answer
    with pytest.raises(ValueError, match=r"must fit in int32"):
        ops.add(pyml.Tensor([1, 2]), value)


def test_gradients_flow_through_scalar_operands_and_broadcasts():
    x = pyml.Variable(np.array([[1.0], [2.0]], "float32"))  # (2, 1), broadcast against (2, 3)
    y = pyml.Variable(np.array([1.0, 2.0, 3.0], "float32"))
    with pyml.GradientTape() as tape:
        z = ops.sum((2 * x) * y - x / 4.0)
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_allclose(gx.numpy(), np.full((2, 1), 2 * 6.0 - 3 / 4.0))
    np.testing.assert_allclose(gy.numpy(), np.full(3, 2 * 3.0))


def test_quiet_ops_neither_warn_nor_change_numpy_error_state():
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ops.divide(pyml.Tensor([1.0, 0.0]), pyml.Tensor([0.0, 0.0])).numpy()
    assert np.isinf(out[0]) and np.isnan(out[1])
    assert np.geterr() == before


def test_recorded_nodes_are_read_only():
    x = pyml.Variable([1.0])
    node = (x * 2.0)._node
    assert node.prim.name == "mul" and node.inputs[0] is x
    with pytest.raises(AttributeError):
        node.prim = None


def test_a_traced_function_still_records_the_fast_path_ops():
    graph = pyml.trace(lambda x: ops.sum(x * 2.0 + 1, axis=-1), [registry.Spec((3, 4), "float32")])
    assert [n.target for n in graph.nodes if n.op == "call"] == ["mul", "add", "sum"]

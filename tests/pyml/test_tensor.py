"""Tensor and Variable basics: construction dtypes, repr, Python operators, numpy interop, comparisons,
conversions and Variable updates."""
import numpy as np
import pytest

import pyml
from pyml.errors import OpError

T = pyml.Tensor


@pytest.mark.parametrize("value, dtype", [
    (1.5, "float32"), ([1.0, 2.0], "float32"), (3, "int32"), ([1, 2], "int32"), (True, "bool"),
    ([True, False], "bool"), (np.ones(2, np.float64), "float64"), (np.ones(2, np.int64), "int32"),
    (np.float64(2.0), "float64"), (np.float32(2.0), "float32"), (np.arange(3, dtype=np.uint8), "int32"),
])
def test_default_dtypes(value, dtype):
    assert T(value).dtype == dtype


def test_explicit_dtype_and_unknown_dtype():
    assert T([1, 2], dtype="float32").dtype == "float32"
    with pytest.raises(TypeError, match=r"pyml supports float32, float64, int32, bool"):
        T([1.0], dtype="complex64")


def test_shape_properties():
    x = T(np.zeros((2, 3, 4), np.float32))
    assert (x.shape, x.ndim, x.size, len(x)) == ((2, 3, 4), 3, 24, 2)
    assert x.spec == pyml.ops.Spec((2, 3, 4), "float32")


def test_repr_shows_values_shape_and_dtype():
    text = repr(T([[1.0, 2.5]]))
    assert text.startswith("Tensor([[1. , 2.5]]") and "shape=(1, 2)" in text and "dtype=float32" in text
    assert "requires_grad=True" in repr(T([1.0], requires_grad=True))
    assert "<Variable 'dense/bias' shape=(2,) dtype=float32>" in repr(pyml.Variable([0.0, 0.0], name="dense/bias"))


def test_arithmetic_operators_and_reflections():
    x = T([1.0, 2.0, 4.0])
    np.testing.assert_array_equal((x + 1).numpy(), [2.0, 3.0, 5.0])
    np.testing.assert_array_equal((1 - x).numpy(), [0.0, -1.0, -3.0])
    np.testing.assert_array_equal((x * x).numpy(), [1.0, 4.0, 16.0])
    np.testing.assert_array_equal((2 / x).numpy(), [2.0, 1.0, 0.5])
    np.testing.assert_array_equal((x ** 2).numpy(), [1.0, 4.0, 16.0])
    np.testing.assert_array_equal((2 ** x).numpy(), [2.0, 4.0, 16.0])
    np.testing.assert_array_equal((-x).numpy(), [-1.0, -2.0, -4.0])
    np.testing.assert_array_equal(abs(T([-1.0, 2.0])).numpy(), [1.0, 2.0])
    assert (+x) is x


def test_numpy_array_on_the_left_gives_a_tensor():
    out = np.array([1.0, 1.0], np.float32) + T([1.0, 2.0])
    assert isinstance(out, T)
    np.testing.assert_array_equal(out.numpy(), [2.0, 3.0])


def test_matmul_operator_and_transpose():
    a = T([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal((a @ a.T).numpy(), np.array([[1, 2], [3, 4]]) @ np.array([[1, 3], [2, 4]]))


def test_comparisons_are_elementwise_and_hashing_is_by_identity():
    x = T([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((x == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal((x != 2.0).numpy(), [True, False, True])
    np.testing.assert_array_equal((x < 2.0).numpy(), [True, False, False])
    np.testing.assert_array_equal((x >= 2.0).numpy(), [False, True, True])
    assert (x > 1.0).dtype == "bool"
    assert len({x, T([1.0, 2.0, 3.0])}) == 2


def test_array_protocol():
    x = T([1.5, 2.5])
    assert np.asarray(x).dtype == np.float32
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.array(x), [1.5, 2.5])
    assert np.sum(np.asarray(x)) == 4.0


def test_scalar_conversions():
    assert float(T(2.5)) == 2.5 and int(T(3)) == 3 and T(7).item() == 7
    assert [1, 2, 3][T(1)] == 2  # __index__ on 0-d int32
    assert T([[1, 2]]).tolist() == [[1, 2]]
    assert bool(T([1.0])) is True
    with pytest.raises(ValueError, match=r"truth value of a tensor with shape \(2,\) is ambiguous"):
        bool(T([1.0, 2.0]))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(T(1.0))


def test_iteration_yields_rows():
    rows = [r.numpy() for r in T([[1.0, 2.0], [3.0, 4.0]])]
    np.testing.assert_array_equal(rows, [[1.0, 2.0], [3.0, 4.0]])


def test_astype_and_methods():
    x = T([1.7, -0.5])
    assert x.astype("int32").dtype == "int32"
    np.testing.assert_array_equal(x.astype("int32").numpy(), [1, 0])
    np.testing.assert_allclose(x.exp().numpy(), np.exp([1.7, -0.5]), rtol=1e-6)


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="Only float tensors can require grad. Received: dtype=int32"):
        T([1, 2], requires_grad=True)
    t = T([1, 2])
    with pytest.raises(TypeError, match="Only float tensors"):
        t.requires_grad = True


def test_detach_cuts_the_graph():
    x = T([2.0], requires_grad=True)
    y = (x * x).detach()
    assert not y.requires_grad and y._node is None
    np.testing.assert_array_equal(y.numpy(), [4.0])


# ---- Variable -------------------------------------------------------------------------------------------
def test_variable_is_trainable_by_default_and_int_variables_are_not():
    assert pyml.Variable([1.0]).requires_grad
    assert not pyml.Variable([1.0], trainable=False).requires_grad
    assert not pyml.Variable([1, 2]).requires_grad


def test_variable_assign_updates_in_place():
    v = pyml.Variable([1.0, 2.0], name="w")
    same = v.assign([5.0, 6.0])
    assert same is v
    np.testing.assert_array_equal(v.numpy(), [5.0, 6.0])
    v.assign_add(T([1.0, 1.0]))
    v.assign_sub(np.array([0.5, 0.5]))
    np.testing.assert_array_equal(v.numpy(), [5.5, 6.5])
    assert v.dtype == "float32"  # the update keeps the variable's dtype


def test_variable_assign_refuses_another_shape_naming_the_variable():
    v = pyml.Variable([1.0, 2.0], name="dense/kernel")
    with pytest.raises(OpError, match=r"assign: variable 'dense/kernel' has shape \(2,\); the new value has shape \(3,\)"):
        v.assign([1.0, 2.0, 3.0])


def test_variable_value_is_a_plain_tensor_snapshot():
    v = pyml.Variable([1.0])
    snapshot = v.value
    v.assign([9.0])
    assert float(snapshot) == 1.0 and not isinstance(snapshot, pyml.Variable)


@pytest.mark.parametrize("value, error, message", [
    (["a", "b"], ValueError, r"Tensor: cannot make a tensor from a list.*Received: \['a', 'b'\]"),
    ([[1.0, 2.0], [3.0]], ValueError, r"Tensor: cannot make a tensor from a list.*Received: \[\[1.0, 2.0\], \[3.0\]\]"),
    (None, TypeError, r"Tensor: cannot make a tensor from a NoneType.*Received: None"),
    ({"a": 1}, TypeError, r"Tensor: cannot make a tensor from a dict"),
])
def test_values_that_are_not_arrays_fail_naming_the_tensor(value, error, message):
    with pytest.raises(error, match=message):
        T(value)


def test_np_array_of_a_tensor_is_a_copy_as_numpy_promises():
    v = pyml.Variable([1.0, 2.0])
    copied = np.array(v)  # copy=True: writing to it must not change the variable
    copied[0] = 99.0
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    assert np.asarray(v) is v.numpy()  # asarray (copy=None) may share, as for ndarrays
    assert np.array(v, dtype=np.float64).dtype == np.float64


def test_setting_trainable_turns_gradients_off_and_on():
    v = pyml.Variable([1.0, 2.0])
    v.trainable = False
    assert not v.requires_grad
    with pyml.GradientTape() as tape:
        y = v * 2.0
    assert tape.gradient(y, v) is None  # a frozen variable is not watched
    v.trainable = True
    assert v.requires_grad


@pytest.mark.parametrize("module", [pyml.tensor, pyml.backend])
def test_docstring_examples_run(module):
    import doctest

    result = doctest.testmod(module, extraglobs={"np": np, "pyml": pyml},
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

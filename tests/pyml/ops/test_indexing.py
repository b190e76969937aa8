"""x[key] (ops.getitem) against NumPy for many keys, its gradient (a scatter-add of the cotangent), and its errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyml
from pyml.errors import OpError


def _expected_grad(shape, key, g):
    """Indexing is linear: its VJP sends each output's cotangent back to the element it came from."""
    size = int(np.prod(shape))
    source = np.arange(size).reshape(shape)[key]
    return np.bincount(np.ravel(source), weights=np.ravel(g), minlength=size).reshape(shape)


def _check(x, key):
    expected = x[key]
    t = pyml.Tensor(x, requires_grad=True)
    out = t[key]
    assert out.shape == expected.shape, f"key {key!r}: shape {out.shape} != {expected.shape}"
    np.testing.assert_array_equal(out.numpy(), expected)
    g = np.random.default_rng(0).standard_normal(expected.shape)
    (grad,) = pyml.autodiff.grad([out], [t], [pyml.Tensor(g, dtype=out.dtype)])
    want = np.zeros(x.shape) if grad is None else _expected_grad(x.shape, key, g)
    got = np.zeros(x.shape) if grad is None else grad.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


X = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)


@pytest.mark.parametrize("key", [
    0, -1, (1, 2), (-2, -3, -4, -5), slice(None), slice(1, None), (slice(None, None, -1),),
    (Ellipsis, 0), (0, Ellipsis, slice(None, None, 2)), (None, 1), (slice(None), None, 2, None),
    (Ellipsis, None), (1, slice(3, 0, -2), slice(None, None, 3), slice(-1, None)), (slice(5, 10),),
    (slice(None, None, -3), slice(-100, 100)), ([1, 0, 1],), (slice(None), [2, -1, 0]),
    (0, slice(None), [3, 3]), (0, slice(None), [[1], [2]], slice(1, 4)), (Ellipsis, [[0, 4], [1, -5]]),
    ([1], slice(None), 0), (1, [0, 2], 3), (None, [1, 0], None), (slice(None), [2]), (np.int64(1), np.array([0, 2])),
], ids=repr)
def test_getitem_matches_numpy(key):
    _check(X, key)


def _slices(n):
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    return st.builds(slice, bound, bound, st.one_of(st.none(), st.integers(-3, 3).filter(bool)))


def _entries(draw, sizes):
    """Key entries indexing axes of ``sizes`` in order, with None inserted at random."""
    entries = []
    for n in sizes:
        while draw(st.integers(0, 4)) == 0:
            entries.append(None)
        kind = draw(st.sampled_from(["int", "slice", "slice", "array"] if n else ["slice"]))
        if kind == "int":
            entries.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            entries.append(draw(_slices(n)))
        else:
            entries.append(draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=3)))
    return entries


@st.composite
def _keys(draw):
    """(shape, key): entries for a head and a tail of the axes, with an Ellipsis between them (or none and
    only a head), at most one integer array."""
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4)))
    head = draw(st.integers(0, len(shape)))
    tail = draw(st.integers(0, len(shape) - head))
    entries = _entries(draw, shape[:head])
    if tail or draw(st.booleans()):
        entries += [Ellipsis] + _entries(draw, shape[len(shape) - tail:])
    arrays = [i for i, e in enumerate(entries) if isinstance(e, list)]
    for i in arrays[1:]:  # one integer array at most: the others become ints
        entries[i] = entries[i][0] if entries[i] else slice(None)
    return shape, tuple(entries)


@settings(max_examples=150, deadline=None)
@given(_keys())
def test_getitem_matches_numpy_for_random_keys(case):
    shape, key = case
    _check(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape), key)


def test_int32_tensor_indices_take_like_numpy():
    x = pyml.Tensor(X)
    np.testing.assert_array_equal(x[:, pyml.Tensor([2, -3])].numpy(), X[:, [2, -3]])
    np.testing.assert_array_equal(x[pyml.Tensor(1), 2].numpy(), X[1, 2])


def test_getitem_keeps_dtype_of_int_and_bool_tensors():
    ints = pyml.Tensor(np.arange(6).reshape(2, 3))
    flags = pyml.Tensor(np.array([[True, False, True], [False, False, True]]))
    assert ints[1, ::-1].dtype == "int32" and ints[1, ::-1].tolist() == [5, 4, 3]
    assert flags[:, [2, 0]].dtype == "bool" and flags[:, [2, 0]].tolist() == [[True, True], [True, False]]


def test_repeated_indices_accumulate_gradient():
    x = pyml.Tensor(np.ones(3), requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


@pytest.mark.parametrize("key, message", [
    ((0, 3), r"index 3 is out of bounds for axis 1 with size 3"),
    ((-3,), r"index -3 is out of bounds for axis 0 with size 2"),
    ((slice(None), [0, 5]), r"index 5 is out of bounds for axis 1 with size 3"),
    ((np.array([True, False]),), r"boolean masks are not supported.*Received: mask of shape \(2,\)"),
    ((True,), r"boolean indices are not supported"),
    ((0, 0, 0), r"too many indices for a tensor of rank 2"),
    ((Ellipsis, Ellipsis), r"single Ellipsis"),
    (([0, 1], [1, 0]), r"more than one integer array"),
    ((0.5,), r"keys may be ints"),
    (([0.5],), r"index arrays must hold integers"),
])
def test_getitem_errors_name_the_problem(key, message):
    x = pyml.Tensor(np.zeros((2, 3)))
    with pytest.raises(OpError, match=message) as info:
        x[key]
    assert str(info.value).startswith(("getitem: ", "take: "))


def test_bool_tensor_mask_is_refused():
    x = pyml.Tensor(np.zeros((2, 3)))
    with pytest.raises(OpError, match="boolean masks are not supported"):
        x[x > 0]

"""to_categorical, normalize, pad_sequences and split_dataset against hand computation (Keras semantics)."""
import numpy as np
import pytest

from pyml.data import Dataset
from pyml.utils import normalize, pad_sequences, split_dataset, to_categorical


def test_to_categorical_is_one_hot_rows():
    labels = np.array([2, 0, 1, 2])
    expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    np.testing.assert_array_equal(to_categorical(labels), expected)
    assert to_categorical(labels).dtype == np.float64  # Keras returns float64 for NumPy input
    np.testing.assert_array_equal(to_categorical(labels[:, None], num_classes=4), np.eye(4)[labels])  # (n, 1) squeezed
    assert to_categorical(np.zeros((2, 3), int), 5).shape == (2, 3, 5)
    with pytest.raises(ValueError, match=r"\[0, num_classes=3\). Received: label 3"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="Received: label -1"):
        to_categorical([0, -1], num_classes=3)
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical([0.5])


def test_normalize_divides_by_the_norm_and_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0, 0], [2 ** -0.5, -2 ** -0.5]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [0.5, -0.5]])
    np.testing.assert_allclose(normalize(x, axis=0), x / np.sqrt((x ** 2).sum(axis=0)))


SEQUENCES = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]


@pytest.mark.parametrize("kwargs,expected", [
    ({}, [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [0] * 5, [5, 6, 7, 8, 9]]),  # maxlen: the longest; pads "pre"
    ({"maxlen": 3}, [[1, 2, 3], [0, 0, 4], [0, 0, 0], [7, 8, 9]]),
    ({"maxlen": 3, "truncating": "post"}, [[1, 2, 3], [0, 0, 4], [0, 0, 0], [5, 6, 7]]),
    ({"maxlen": 4, "padding": "post", "value": -1}, [[1, 2, 3, -1], [4, -1, -1, -1], [-1] * 4, [6, 7, 8, 9]]),
    ({"maxlen": 0}, [[], [], [], []]),
])
def test_pad_sequences_by_hand(kwargs, expected):
    out = pad_sequences(SEQUENCES, **kwargs)
    assert out.dtype == np.int32 and out.tolist() == expected


def test_pad_sequences_dtypes_values_and_element_shapes():
    out = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32", value=9.0)
    assert out.dtype == np.float32 and out.tolist() == [[9.0, 0.5, 1.5]]
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["a", "b"], ["<pad>", "c"]]
    vectors = pad_sequences([np.ones((1, 2)), np.full((2, 2), 3)], padding="post")
    assert vectors.shape == (2, 2, 2) and vectors[0].tolist() == [[1, 1], [0, 0]]
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match=r'padding must be "pre" or "post". Received: padding=\'left\''):
        pad_sequences([[1]], padding="left")
    with pytest.raises(ValueError, match=r"sequences\[1\] has elements of shape \(3,\)"):
        pad_sequences([np.ones((1, 2)), np.ones((1, 3))])
    with pytest.raises(ValueError, match=r"sequences\[0\]=5"):
        pad_sequences([5])


def test_split_dataset_sizes_order_and_seeded_shuffle():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    left, right = split_dataset((x, y), left_size=0.7)
    assert [int(b) for _, b in left] == list(range(7)) and [int(b) for _, b in right] == [7, 8, 9]
    left, right = split_dataset(Dataset.range(10), right_size=4, shuffle=True, seed=3)
    a, b = [int(v) for v in left], [int(v) for v in right]
    assert len(a) == 6 and len(b) == 4 and sorted(a + b) == list(range(10)) and a + b != list(range(10))
    assert ([int(v) for v in split_dataset(Dataset.range(10), right_size=4, shuffle=True, seed=3)[0]]) == a
    left, right = split_dataset({"x": x}, left_size=2, right_size=3)
    assert [e["x"].tolist() for e in left] == [[0, 1], [2, 3]] and len(list(right)) == 3
    with pytest.raises(ValueError, match="left_size or right_size"):
        split_dataset(x)
    with pytest.raises(ValueError, match=r"left_size must be a fraction in \(0, 1\) or a count in \(0, 10\)"):
        split_dataset(x, left_size=10)
    with pytest.raises(ValueError, match="together at most 10"):
        split_dataset(x, left_size=0.6, right_size=0.6)
    with pytest.raises(ValueError, match="finite"):
        split_dataset(Dataset.range(3).repeat(), left_size=0.5)

"""Merging layers against NumPy, symbolic shapes, and argument checks."""
import numpy as np
import pytest

import pyml
from pyml import layers


@pytest.mark.parametrize("cls, reference", [
    (layers.Add, lambda a, b, c: a + b + c),
    (layers.Multiply, lambda a, b, c: a * b * c),
    (layers.Maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    (layers.Minimum, lambda a, b, c: np.minimum(np.minimum(a, b), c)),
    (layers.Average, lambda a, b, c: (a + b + c) / 3),
    (layers.Concatenate, lambda a, b, c: np.concatenate([a, b, c], axis=-1)),
])
def test_merge_matches_numpy(cls, reference):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((2, 3)).astype("float32") for _ in range(3))
    np.testing.assert_allclose(cls()([a, b, c]).numpy(), reference(a, b, c), rtol=1e-6)


def test_subtract_and_concatenate_axis():
    a, b = np.ones((2, 3), "float32"), np.full((2, 3), 2.0, "float32")
    np.testing.assert_array_equal(layers.Subtract()([a, b]).numpy(), a - b)
    assert layers.Concatenate(axis=0)([a, b]).shape == (4, 3)
    with pytest.raises(ValueError, match="exactly 2 inputs. Received: 3"):
        layers.Subtract()([a, b, a])


def test_merge_needs_a_list_and_config_round_trips():
    with pytest.raises(ValueError, match="at least 2 tensors. Received: 1 input"):
        layers.Add(name="plus")(np.ones((2, 3), "float32"))
    layer = layers.Concatenate(axis=1, name="cat")
    assert layers.Concatenate.from_config(layer.get_config()).get_config() == layer.get_config()


def test_merge_on_keras_tensors_gives_shapes():
    a, b = pyml.Input(shape=(4, 2)), pyml.Input(shape=(4, 3))
    assert layers.Concatenate()([a, b]).shape == (None, 4, 5)
    assert layers.Add()([a, a]).shape == (None, 4, 2)

"""pyml.ops.image.rgb_to_grayscale against Keras's documented formula 0.2989 R + 0.5870 G + 0.1140 B (NumPy)."""
import numpy as np
import pytest

import pyml
from pyml.graph import trace

WEIGHTS = np.array([0.2989, 0.5870, 0.1140])


@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (5, 7, 3)])
def test_rgb_to_grayscale_is_the_weighted_sum_of_the_channels(shape):
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    y = pyml.ops.image.rgb_to_grayscale(x).numpy()
    assert y.shape == shape[:-1] + (1,) and y.dtype == np.float32
    np.testing.assert_allclose(y, (x.astype(np.float64) @ WEIGHTS)[..., None], rtol=1e-6, atol=1e-4)


def test_integer_images_come_back_in_their_dtype_and_one_channel_unchanged():
    x = np.array([[[200, 100, 50]]], np.int32)
    y = pyml.ops.image.rgb_to_grayscale(x).numpy()
    assert y.dtype == np.int32 and y[0, 0, 0] == int(200 * 0.2989 + 100 * 0.5870 + 50 * 0.1140)
    gray = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    np.testing.assert_array_equal(pyml.ops.image.rgb_to_grayscale(gray).numpy(), gray)


def test_gradient_is_the_weights_and_it_traces():
    x = pyml.Variable(np.ones((1, 2, 2, 3), np.float32))
    with pyml.GradientTape() as tape:
        y = pyml.ops.sum(pyml.ops.image.rgb_to_grayscale(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), np.broadcast_to(WEIGHTS, (1, 2, 2, 3)), rtol=1e-6)
    graph = trace(pyml.ops.image.rgb_to_grayscale, [((None, 4, 4, 3), "float32")])
    assert [n.target for n in graph.nodes if n.op == "call"] == ["matmul"]


@pytest.mark.parametrize("shape, words", [((4, 4), "rank 3 or 4"), ((1, 4, 4, 2), r"3 \(RGB\) or 1 channel")])
def test_bad_images_are_refused_naming_the_shape(shape, words):
    with pytest.raises(ValueError, match=words):
        pyml.ops.image.rgb_to_grayscale(np.zeros(shape, np.float32))

"""BatchNormalization (batch statistics, moving averages, inference mode) and LayerNormalization."""
import numpy as np
import pytest

import pyml
from pyml.layers import BatchNormalization, LayerNormalization
from tests.pyml.layers.testing import run_layer_test


def test_batch_normalization_layer_test():
    run_layer_test(BatchNormalization, {}, input_shape=(4, 3, 2), expected_output_shape=(4, 3, 2),
                   expected_num_trainable_weights=2, expected_num_non_trainable_weights=2)


def test_batch_normalization_training_uses_batch_statistics_and_updates_moving_averages():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 5, 3)) * 3 + 2).astype("float32")
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3)
    out = layer(x, training=True).numpy()
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)


def test_batch_normalization_inference_uses_moving_averages():
    layer = BatchNormalization(epsilon=1e-3, gamma_initializer=pyml.initializers.Constant(2.0),
                               beta_initializer=pyml.initializers.Constant(1.0))
    x = np.array([[1.0, 3.0], [5.0, 7.0]], "float32")
    layer.build(x.shape)
    layer.set_weights([np.full(2, 2.0), np.full(2, 1.0), np.array([1.0, 2.0]), np.array([4.0, 9.0])])
    expected = 2.0 * (x - [1.0, 2.0]) / np.sqrt(np.array([4.0, 9.0]) + 1e-3) + 1.0
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)
    layer.trainable = False  # a frozen layer stays in inference mode even while training (Keras)
    np.testing.assert_allclose(layer(x, training=True).numpy(), expected, rtol=1e-6)


def test_batch_normalization_other_axis():
    x = np.random.default_rng(1).standard_normal((8, 3, 4)).astype("float32")
    out = BatchNormalization(axis=1, epsilon=1e-5)(x, training=True).numpy()
    expected = (x - x.mean(axis=(0, 2), keepdims=True)) / np.sqrt(x.var(axis=(0, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_layer_normalization_layer_test():
    run_layer_test(LayerNormalization, {}, input_shape=(3, 4, 5), expected_output_shape=(3, 4, 5),
                   expected_num_trainable_weights=2)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_layer_normalization_matches_numpy(axis):
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype("float32")
    axes = (2,) if axis == -1 else (1, 2)
    expected = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-3)
    np.testing.assert_allclose(LayerNormalization(axis=axis)(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_normalization_argument_errors():
    with pytest.raises(ValueError, match="Received: momentum=2"):
        BatchNormalization(momentum=2)
    with pytest.raises(ValueError, match="Received: epsilon=0"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="out of range"):
        LayerNormalization(axis=3)(np.ones((2, 3), "float32"))

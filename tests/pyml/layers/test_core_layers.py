"""Activation, Flatten, Reshape, Dropout and Embedding."""
import numpy as np
import pytest

import pyml
from pyml.layers import Activation, Dropout, Embedding, Flatten, Reshape
from tests.pyml.layers.testing import run_layer_test


def test_activation_layer_test():
    run_layer_test(Activation, {"activation": "gelu"}, input_shape=(2, 3), expected_output_shape=(2, 3))


def test_activation_applies_named_function():
    x = np.array([[-2.0, 0.5]], "float32")
    np.testing.assert_allclose(Activation("relu")(x).numpy(), [[0.0, 0.5]])
    np.testing.assert_allclose(Activation("softplus")(x).numpy(), np.log1p(np.exp(x)), rtol=1e-6)


def test_flatten_layer_test():
    run_layer_test(Flatten, {}, input_shape=(2, 3, 4, 5), expected_output_shape=(2, 60))


def test_flatten_keeps_row_major_order():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(Flatten()(x).numpy(), x.reshape(2, 12))


def test_reshape_layer_test_with_inferred_axis():
    run_layer_test(Reshape, {"target_shape": (-1, 2)}, input_shape=(3, 4, 3), expected_output_shape=(3, 6, 2))


def test_reshape_matches_numpy_and_checks_sizes():
    x = np.arange(12, dtype="float32").reshape(1, 12)
    np.testing.assert_array_equal(Reshape((3, 4))(x).numpy(), x.reshape(1, 3, 4))
    with pytest.raises(ValueError, match="Received: target_shape=\\(0, 2\\)"):
        Reshape((0, 2))
    with pytest.raises(ValueError, match="must equal 12"):
        Reshape((5, 2))(x)


def test_dropout_is_identity_at_inference():
    x = np.ones((4, 10), "float32")
    np.testing.assert_array_equal(Dropout(0.5)(x).numpy(), x)
    np.testing.assert_array_equal(Dropout(0.5)(x, training=False).numpy(), x)


def test_dropout_training_drops_rate_and_rescales():
    pyml.set_random_seed(3)
    out = Dropout(0.25)(np.ones((100, 100), "float32"), training=True).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.75)


def test_dropout_noise_shape_drops_whole_rows():
    out = Dropout(0.5, noise_shape=(None, 1), seed=1)(np.ones((50, 8), "float32"), training=True).numpy()
    assert all(len(set(row)) == 1 for row in out)


def test_dropout_gradient_uses_the_same_mask():
    x = pyml.Variable(np.ones((20, 20), "float32"))
    with pyml.GradientTape() as tape:
        y = Dropout(0.5, seed=2)(x, training=True)
        total = pyml.ops.sum(y)
    grad = tape.gradient(total, x).numpy()
    np.testing.assert_array_equal(grad, y.numpy())  # d(sum(x * mask)) / dx = mask, and y = mask here


def test_dropout_rate_one_drops_everything_in_training_only():
    # Keras takes rate in [0, 1]; rate 1 zeroes every entry (no 1 / (1 - rate) blow-up) and its gradient
    x = pyml.Variable(np.full((4, 5), 3.0, "float32"))
    with pyml.GradientTape() as tape:
        y = Dropout(1.0)(x, training=True)
        total = pyml.ops.sum(y)
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_array_equal(y.numpy(), np.zeros((4, 5), "float32"))
    np.testing.assert_array_equal(tape.gradient(total, x).numpy(), np.zeros((4, 5), "float32"))
    np.testing.assert_array_equal(Dropout(1.0)(x, training=False).numpy(), x.numpy())


@pytest.mark.parametrize("rate", [1.5, -0.1, "half", True, None])
def test_dropout_rejects_rate_outside_zero_one(rate):
    with pytest.raises(ValueError, match=r"Dropout expects `rate` to be a finite number in \[0, 1\]. Received: rate="):
        Dropout(rate)


def test_embedding_layer_test():
    run_layer_test(Embedding, {"input_dim": 6, "output_dim": 3}, input_shape=(2, 4), input_dtype="int32",
                   expected_output_shape=(2, 4, 3), expected_num_trainable_weights=1)


def test_embedding_looks_up_rows():
    layer = Embedding(5, 2)
    ids = np.array([[4, 0], [1, 1]])
    out = layer(ids).numpy()
    np.testing.assert_array_equal(out, layer.embeddings.numpy()[ids])

"""Dense: x @ W + b with an activation, Keras layout (in, out), argument checks and input checks."""
import numpy as np
import pytest

from pyml.layers import Dense
from tests.pyml.layers.testing import run_layer_test


def test_dense_layer_test():
    run_layer_test(Dense, {"units": 4}, input_shape=(3, 5), expected_output_shape=(3, 4),
                   expected_num_trainable_weights=2)


def test_dense_without_bias_on_3d_input():
    run_layer_test(Dense, {"units": 2, "use_bias": False, "activation": "tanh"}, input_shape=(2, 3, 5),
                   expected_output_shape=(2, 3, 2), expected_num_trainable_weights=1)


@pytest.mark.parametrize("activation, reference", [
    (None, lambda z: z),
    ("relu", lambda z: np.maximum(z, 0)),
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("softmax", lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)),
])
def test_dense_matches_numpy(activation, reference):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5)).astype("float32")
    layer = Dense(3, activation=activation, bias_initializer="random_normal")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3) and bias.shape == (3,)
    np.testing.assert_allclose(out, reference(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_weight_names_and_count():
    layer = Dense(4, name="hidden")
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == ["hidden/kernel", "hidden/bias"]
    assert layer.count_params() == 3 * 4 + 4


def test_dense_rejects_bad_units():
    for units in (0, -2, 2.5, "8", True):
        with pytest.raises(ValueError, match=f"Received: units={units!r}"):
            Dense(units)


def test_dense_unknown_activation_lists_known_ones():
    with pytest.raises(ValueError, match=r"known ones are .*relu.*Received: activation='relux'"):
        Dense(3, activation="relux")


def test_dense_wrong_feature_size_names_layer_and_shapes():
    layer = Dense(3, name="classifier")
    layer(np.ones((2, 5), "float32"))
    with pytest.raises(ValueError, match=r'layer "classifier".*axis -1.*value 5.*Received: input shape \(2, 4\)'):
        layer(np.ones((2, 4), "float32"))


def test_dense_casts_float64_numpy_input_to_float32():
    out = Dense(2)(np.ones((1, 3)))
    assert out.dtype == "float32"


@pytest.mark.parametrize("x", [np.float32(1.0), np.ones(3, "float32")])
def test_dense_refuses_inputs_below_rank_2_before_building(x):
    layer = Dense(2, name="head")
    refusal = r'layer "head".*(expected min_ndim=2|a batch axis). Received: input shape \(3?,?\)'
    with pytest.raises(ValueError, match=refusal):
        layer(x)
    assert not layer.built and layer.weights == []  # a later call with good inputs builds it right
    assert layer(np.ones((1, 5), "float32")).shape == (1, 2)

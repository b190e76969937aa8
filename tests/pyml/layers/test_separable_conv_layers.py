"""SeparableConv1D/2D against a direct NumPy depthwise-then-pointwise convolution, and Conv ``groups`` of every
rank against NumPy (Keras kernel layouts, channels-last)."""
import numpy as np
import pytest

import pyml
from pyml.layers import Conv1D, Conv2D, Conv3D, SeparableConv1D, SeparableConv2D
from tests.pyml.layers.testing import numpy_conv, run_layer_test


def numpy_separable(x, depthwise, pointwise, bias, strides, padding, dilation):
    """Each input channel c convolved with each of its filters m (output channel c * multiplier + m), then
    the channels mixed by the pointwise kernel."""
    channels, multiplier = depthwise.shape[-2:]
    parts = [numpy_conv(x[..., c:c + 1], depthwise[..., c:c + 1, m:m + 1], strides, padding, dilation)
             for c in range(channels) for m in range(multiplier)]
    middle = np.concatenate(parts, axis=-1)
    return np.einsum("...c,cf->...f", middle, pointwise.reshape(pointwise.shape[-2:])) + bias


@pytest.mark.parametrize("cls, shape, kwargs", [
    (SeparableConv1D, (2, 9, 3), {"filters": 4, "kernel_size": 3}),
    (SeparableConv1D, (2, 10, 2), {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                                   "depth_multiplier": 3}),
    (SeparableConv2D, (2, 7, 6, 3), {"filters": 5, "kernel_size": (3, 2), "padding": "same", "depth_multiplier": 2}),
    (SeparableConv2D, (1, 8, 8, 2), {"filters": 3, "kernel_size": 3, "dilation_rate": 2}),
    (SeparableConv2D, (1, 7, 7, 4), {"filters": 2, "kernel_size": 3, "strides": 2, "activation": "relu"}),
])
def test_separable_conv_matches_numpy(cls, shape, kwargs):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    layer = cls(**kwargs, bias_initializer="random_normal")
    out = layer(x).numpy()
    depthwise, pointwise, bias = layer.get_weights()
    multiplier = kwargs.get("depth_multiplier", 1)
    assert depthwise.shape == layer.kernel_size + (shape[-1], multiplier)
    assert pointwise.shape == (1,) * cls.rank + (shape[-1] * multiplier, kwargs["filters"])
    expected = numpy_separable(x, depthwise, pointwise, bias, layer.strides, kwargs.get("padding", "valid"),
                               layer.dilation_rate)
    if kwargs.get("activation") == "relu":
        expected = np.maximum(expected, 0)
    assert out.shape == expected.shape == tuple(layer.compute_output_shape(shape))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_separable_conv_layer_tests():
    run_layer_test(SeparableConv2D, {"filters": 3, "kernel_size": 3, "padding": "same", "depth_multiplier": 2,
                                     "activation": "tanh"},
                   input_shape=(2, 5, 5, 2), expected_output_shape=(2, 5, 5, 3), expected_num_trainable_weights=3)
    run_layer_test(SeparableConv1D, {"filters": 2, "kernel_size": 2, "strides": 2, "use_bias": False},
                   input_shape=(2, 7, 3), expected_output_shape=(2, 3, 2), expected_num_trainable_weights=2)


def test_separable_conv_config_names_keras_arguments():
    config = SeparableConv2D(4, 3, depth_multiplier=2, pointwise_initializer="zeros").get_config()
    assert config["depth_multiplier"] == 2 and config["pointwise_initializer"]["class_name"] == "Zeros"
    assert "groups" not in config and "kernel_initializer" not in config and "depthwise_initializer" in config
    layer = SeparableConv2D.from_config(config)
    layer.build((None, 5, 5, 3))
    assert [w.name for w in layer.weights] == [f"{layer.name}/{n}" for n in
                                              ("depthwise_kernel", "pointwise_kernel", "bias")]
    assert not layer.pointwise_kernel.numpy().any()


def test_separable_conv_save_load_round_trip(tmp_path):
    model = pyml.Sequential([pyml.Input(shape=(6, 6, 2)), SeparableConv2D(3, 3, depth_multiplier=2, name="sep")])
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype("float32")
    model.save(tmp_path / "m.pyml")
    loaded = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("sep").depth_multiplier == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 2, "kernel_size": 3, "depth_multiplier": 0}, "depth_multiplier=0"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"}, "padding='causal'"),
    ({"filters": 0, "kernel_size": 3}, "filters=0"),
])
def test_separable_conv_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SeparableConv1D(**kwargs)


@pytest.mark.parametrize("cls, shape, kwargs", [
    (Conv1D, (2, 9, 6), {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "causal"}),
    (Conv2D, (2, 6, 6, 6), {"filters": 9, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same"}),
    (Conv3D, (1, 4, 4, 4, 4), {"filters": 4, "kernel_size": 2, "groups": 4}),
])
def test_conv_groups_of_every_rank(cls, shape, kwargs):
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    layer = cls(**kwargs)
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == layer.kernel_size + (shape[-1] // kwargs["groups"], kwargs["filters"])
    expected = numpy_conv(x, kernel, layer.strides, kwargs.get("padding", "valid"), layer.dilation_rate,
                          kwargs["groups"]) + bias
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    run_layer_test(cls, kwargs, input_shape=shape, expected_output_shape=out.shape, expected_num_trainable_weights=2)

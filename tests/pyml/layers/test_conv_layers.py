"""Conv1D/2D/3D and DepthwiseConv2D against a direct NumPy convolution (channels-last, Keras kernels)."""
import numpy as np
import pytest

import pyml
from pyml.layers import Conv1D, Conv2D, Conv3D, DepthwiseConv2D
from tests.pyml.layers.testing import numpy_conv, run_layer_test


@pytest.mark.parametrize("cls, shape, kwargs", [
    (Conv1D, (2, 9, 3), {"filters": 4, "kernel_size": 3}),
    (Conv1D, (2, 9, 3), {"filters": 2, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}),
    (Conv2D, (2, 7, 6, 3), {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same"}),
    (Conv2D, (1, 6, 6, 4), {"filters": 6, "kernel_size": 3, "groups": 2}),
    (Conv2D, (1, 8, 8, 2), {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}),
    (Conv3D, (1, 5, 4, 4, 2), {"filters": 3, "kernel_size": 2, "strides": (1, 2, 1)}),
])
def test_conv_matches_numpy(cls, shape, kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    layer = cls(**kwargs, bias_initializer="random_normal")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    rank = len(shape) - 2
    expected = numpy_conv(x, kernel, layer.strides, kwargs.get("padding", "valid"), layer.dilation_rate,
                          kwargs.get("groups", 1)) + bias
    assert out.shape == expected.shape == tuple(layer.compute_output_shape(shape))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert kernel.shape == layer.kernel_size + (shape[-1] // kwargs.get("groups", 1), kwargs["filters"])
    assert rank == cls.rank


def test_conv2d_layer_test():
    run_layer_test(Conv2D, {"filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh"},
                   input_shape=(2, 5, 5, 2), expected_output_shape=(2, 5, 5, 3), expected_num_trainable_weights=2)


def test_conv1d_and_conv3d_layer_tests():
    run_layer_test(Conv1D, {"filters": 2, "kernel_size": 2, "strides": 2}, input_shape=(2, 7, 3),
                   expected_output_shape=(2, 3, 2), expected_num_trainable_weights=2)
    run_layer_test(Conv3D, {"filters": 2, "kernel_size": 2, "use_bias": False}, input_shape=(1, 3, 3, 3, 2),
                   expected_output_shape=(1, 2, 2, 2, 2), expected_num_trainable_weights=1)


def test_depthwise_conv2d_matches_per_channel_convolution():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    layer = DepthwiseConv2D(3, depth_multiplier=2, padding="same", bias_initializer="random_normal")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 3, 2)
    for c in range(3):
        for m in range(2):
            expected = numpy_conv(x[..., c:c + 1], kernel[:, :, c:c + 1, m:m + 1], (1, 1), "same", (1, 1))[..., 0]
            np.testing.assert_allclose(out[..., c * 2 + m], expected + bias[c * 2 + m], rtol=1e-4, atol=1e-5)


def test_depthwise_conv2d_layer_test():
    run_layer_test(DepthwiseConv2D, {"kernel_size": 2, "depth_multiplier": 2}, input_shape=(2, 4, 4, 3),
                   expected_output_shape=(2, 3, 3, 6), expected_num_trainable_weights=2)


def test_conv_argument_errors():
    with pytest.raises(ValueError, match="Received: filters=0"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="Received: kernel_size=\\(3, 3, 3\\)"):
        Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="Received: padding='full'"):
        Conv2D(4, 3, padding="full")
    with pytest.raises(ValueError, match="Received: padding='causal'"):
        Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="Received: groups=3, filters=4"):
        Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="channels-last"):
        Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="strides > 1 together with dilation_rate > 1"):
        Conv2D(4, 3, strides=2, dilation_rate=2)


def test_conv_input_checks_name_layer():
    layer = Conv2D(2, 3, name="c")
    layer(np.ones((1, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r'layer "c".*Received: input shape \(1, 5, 5, 4\)'):
        layer(np.ones((1, 5, 5, 4), "float32"))
    with pytest.raises(ValueError, match="divisible by groups=2"):
        Conv2D(4, 3, groups=2)(np.ones((1, 5, 5, 3), "float32"))


def test_conv_in_model_trains():
    pyml.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((16, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    model = pyml.Sequential([pyml.Input(shape=(6, 6, 1)), Conv2D(4, 3, activation="relu"),
                             pyml.layers.GlobalAveragePooling2D(), pyml.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=pyml.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

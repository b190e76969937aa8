"""Transposed convolutions: the adjoint of a NumPy convolution with the same kernel, Keras' output sizes."""
import numpy as np
import pytest

from pyml.layers import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from tests.pyml.layers.testing import numpy_conv, run_layer_test


@pytest.mark.parametrize("cls, shape, kwargs", [
    (Conv1DTranspose, (2, 5, 3), {"filters": 2, "kernel_size": 3, "strides": 2}),
    (Conv2DTranspose, (2, 4, 3, 3), {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
    (Conv2DTranspose, (1, 3, 3, 2), {"filters": 2, "kernel_size": 2, "strides": 3}),
    (Conv2DTranspose, (1, 4, 4, 2), {"filters": 3, "kernel_size": 3, "dilation_rate": 2}),
    (Conv3DTranspose, (1, 2, 3, 2, 2), {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"}),
])
def test_transpose_is_the_adjoint_of_the_convolution(cls, shape, kwargs):
    """<T(y), x> = <y, conv(x)> where conv uses the same kernel, strides, padding and dilation."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal(shape).astype("float32")
    layer = cls(**kwargs, use_bias=False)
    z = layer(y).numpy()
    assert z.shape == tuple(layer.compute_output_shape(shape))
    kernel = layer.kernel.numpy()  # (*k, filters, channels): a conv from `filters` to `channels` channels
    assert kernel.shape == layer.kernel_size + (kwargs["filters"], shape[-1])
    x = rng.standard_normal(z.shape)
    conv = numpy_conv(x, kernel.astype("float64"), layer.strides, kwargs.get("padding", "valid"), layer.dilation_rate)
    assert conv.shape == y.shape
    assert np.sum(z * x) == pytest.approx(np.sum(y * conv), rel=1e-4)


@pytest.mark.parametrize("size, kernel, stride, padding, output_padding, expected", [
    (5, 3, 1, "valid", None, 7), (5, 3, 2, "valid", None, 11), (5, 2, 3, "valid", None, 15),
    (5, 3, 2, "same", None, 10), (5, 3, 2, "same", 1, 10), (5, 3, 2, "valid", 1, 12),
])
def test_output_sizes_follow_keras(size, kernel, stride, padding, output_padding, expected):
    layer = Conv1DTranspose(1, kernel, strides=stride, padding=padding, output_padding=output_padding)
    assert layer(np.ones((1, size, 1), "float32")).shape == (1, expected, 1)
    assert layer.compute_output_shape((None, size, 1)) == (None, expected, 1)


def test_conv2d_transpose_layer_test():
    run_layer_test(Conv2DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
                   input_shape=(2, 3, 3, 2), expected_output_shape=(2, 6, 6, 2), expected_num_trainable_weights=2)


def test_argument_errors():
    with pytest.raises(ValueError, match="Received: output_padding=2, strides=\\(2,\\)"):
        Conv1DTranspose(1, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="Received: filters=-1"):
        Conv2DTranspose(-1, 3)

"""ZeroPadding, Cropping and UpSampling against NumPy; activation layers against their formulas."""
import numpy as np
import pytest

from pyml import layers
from tests.pyml.layers.testing import run_layer_test

X2 = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype("float32")


def test_zero_padding_matches_numpy():
    out = layers.ZeroPadding2D(((1, 2), (0, 1)))(X2).numpy()
    np.testing.assert_array_equal(out, np.pad(X2, ((0, 0), (1, 2), (0, 1), (0, 0))))
    out = layers.ZeroPadding1D(2)(X2[:, 0]).numpy()
    np.testing.assert_array_equal(out, np.pad(X2[:, 0], ((0, 0), (2, 2), (0, 0))))
    assert layers.ZeroPadding3D(1)(np.ones((1, 2, 2, 2, 1), "float32")).shape == (1, 4, 4, 4, 1)


def test_cropping_matches_numpy():
    np.testing.assert_array_equal(layers.Cropping2D(((1, 0), (1, 2)))(X2).numpy(), X2[:, 1:, 1:-2])
    np.testing.assert_array_equal(layers.Cropping1D((1, 2))(X2[:, 0]).numpy(), X2[:, 0, 1:-2])
    with pytest.raises(ValueError, match="leaves nothing"):
        layers.Cropping2D(2)(X2)


def test_upsampling_matches_numpy():
    out = layers.UpSampling2D((2, 3))(X2).numpy()
    np.testing.assert_array_equal(out, X2.repeat(2, axis=1).repeat(3, axis=2))
    np.testing.assert_array_equal(layers.UpSampling1D(2)(X2[:, 0]).numpy(), X2[:, 0].repeat(2, axis=1))


def test_reshaping_layer_tests():
    run_layer_test(layers.ZeroPadding2D, {"padding": 1}, input_shape=(2, 3, 3, 2), expected_output_shape=(2, 5, 5, 2))
    run_layer_test(layers.Cropping2D, {"cropping": ((1, 0), (0, 1))}, input_shape=(2, 3, 3, 2),
                   expected_output_shape=(2, 2, 2, 2))
    run_layer_test(layers.UpSampling2D, {"size": 2}, input_shape=(2, 2, 3, 1), expected_output_shape=(2, 4, 6, 1))


def test_reshaping_argument_errors():
    with pytest.raises(ValueError, match="Received: padding=-1"):
        layers.ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="Received: size=0"):
        layers.UpSampling2D(0)


def test_activation_layers():
    x = np.array([-2.0, -0.5, 0.25, 1.0, 8.0], "float32")
    relu = layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5)
    np.testing.assert_allclose(relu(x).numpy(), np.minimum(np.where(x >= 0.5, x, 0.1 * (x - 0.5)), 6.0), rtol=1e-6)
    np.testing.assert_allclose(layers.LeakyReLU()(x).numpy(), np.where(x > 0, x, 0.3 * x), rtol=1e-6)
    np.testing.assert_allclose(layers.ELU(0.5)(x).numpy(), np.where(x > 0, x, 0.5 * np.expm1(x)), rtol=1e-6)
    m = np.array([[1.0, 2.0], [3.0, 5.0]], "float32")
    e = np.exp(m - m.max(0))
    np.testing.assert_allclose(layers.Softmax(axis=0)(m).numpy(), e / e.sum(0), rtol=1e-6)
    for cls, kwargs in ((layers.ReLU, {"max_value": 6.0}), (layers.LeakyReLU, {}), (layers.ELU, {}),
                        (layers.Softmax, {})):
        run_layer_test(cls, kwargs, input_shape=(2, 3), expected_output_shape=(2, 3))
    with pytest.raises(ValueError, match="Received: negative_slope=-1"):
        layers.ReLU(negative_slope=-1)


def test_activation_layer_arguments_of_the_wrong_type_are_named():
    # as Keras: a None slope or bound is refused with the argument's name, not a raw comparison TypeError
    with pytest.raises(ValueError, match="Received: negative_slope=None"):
        layers.ReLU(negative_slope=None)
    with pytest.raises(ValueError, match="Received: negative_slope=None"):
        layers.LeakyReLU(negative_slope=None)
    with pytest.raises(ValueError, match="Received: max_value='6'"):
        layers.ReLU(max_value="6")

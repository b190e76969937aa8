"""SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout: identity at inference; while training,
the Keras formulas checked on the drawn noise (recovered from the output) and its statistics; seeds."""
import math

import numpy as np
import pytest

import pyml
from pyml.layers import (AlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D,
                         SpatialDropout3D)
from tests.pyml.layers.testing import run_layer_test

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

ALL = [(SpatialDropout1D, {"rate": 0.3}, (2, 5, 4)), (SpatialDropout2D, {"rate": 0.3}, (2, 3, 3, 4)),
       (SpatialDropout3D, {"rate": 0.3}, (2, 2, 2, 2, 4)), (GaussianNoise, {"stddev": 0.5}, (3, 4)),
       (GaussianDropout, {"rate": 0.4}, (3, 4)), (AlphaDropout, {"rate": 0.2}, (3, 4))]


@pytest.mark.parametrize("cls, kwargs, shape", ALL)
def test_noise_layer_tests_and_identity_at_inference(cls, kwargs, shape):
    layer = run_layer_test(cls, {**kwargs, "seed": 3}, input_shape=shape, expected_output_shape=shape)
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    assert not np.array_equal(layer(x, training=True).numpy(), x)


@pytest.mark.parametrize("cls, kwargs, shape", ALL)
def test_seeded_layers_repeat_their_sequence_of_draws(cls, kwargs, shape):
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    first, second = cls(**kwargs, seed=7), cls(**kwargs, seed=7)
    a = [first(x, training=True).numpy() for _ in range(2)]
    b = [second(x, training=True).numpy() for _ in range(2)]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1]), "each call draws afresh"


@pytest.mark.parametrize("cls, rank", [(SpatialDropout1D, 1), (SpatialDropout2D, 2), (SpatialDropout3D, 3)])
def test_spatial_dropout_drops_whole_channels(cls, rank):
    rate, shape = 0.4, (50,) + (3,) * rank + (40,)
    x = np.random.default_rng(2).uniform(1, 2, shape).astype("float32")
    ratio = cls(rate, seed=0)(x, training=True).numpy() / x
    per_channel = ratio.reshape(50, -1, 40)
    assert np.allclose(per_channel, per_channel[:, :1], rtol=1e-6), "the same factor at every position"
    assert np.all((per_channel == 0) | np.isclose(per_channel, 1 / (1 - rate), rtol=1e-5))
    assert abs((per_channel[:, 0] == 0).mean() - rate) < 0.05


def test_gaussian_noise_adds_normal_noise_of_stddev():
    x = np.random.default_rng(3).standard_normal((200, 100)).astype("float32")
    noise = GaussianNoise(0.3, seed=1)(x, training=True).numpy() - x
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.3) < 0.01


def test_gaussian_dropout_multiplies_by_noise_of_mean_one():
    rate = 0.25
    x = np.random.default_rng(4).uniform(1, 2, (200, 100)).astype("float32")
    factor = GaussianDropout(rate, seed=1)(x, training=True).numpy() / x
    assert abs(factor.mean() - 1) < 0.01 and abs(factor.std() - math.sqrt(rate / (1 - rate))) < 0.01


def test_alpha_dropout_follows_the_keras_formula_and_keeps_mean_and_variance():
    rate = 0.2
    dropped = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * dropped ** 2)) ** -0.5
    b = -a * dropped * rate
    x = np.random.default_rng(5).standard_normal((400, 250)).astype("float32")
    out = AlphaDropout(rate, seed=2)(x, training=True).numpy()
    kept = np.isclose(out, a * x + b, rtol=1e-5, atol=1e-6)
    assert np.allclose(out[~kept], a * dropped + b, rtol=1e-5)
    assert abs((~kept).mean() - rate) < 0.01
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1) < 0.02  # self-normalizing: mean 0, variance 1 kept


def test_alpha_dropout_noise_shape_and_gradient():
    x = pyml.Tensor(np.random.default_rng(6).standard_normal((4, 6, 3)).astype("float32"), requires_grad=True)
    layer = AlphaDropout(0.5, noise_shape=(None, 1, 3), seed=0)
    out = layer(x, training=True)
    out.sum().backward()
    rate, dropped = 0.5, -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * dropped ** 2)) ** -0.5
    grad = x.grad.numpy()
    assert np.allclose(grad, grad[:, :1]) and np.all((grad == 0) | np.isclose(grad, a, rtol=1e-5))
    assert (grad == 0).any() and (grad != 0).any()


def test_gaussian_dropout_gradient_is_the_noise():
    x = pyml.Tensor(np.random.default_rng(7).uniform(1, 2, (5, 4)).astype("float32"), requires_grad=True)
    out = GaussianDropout(0.3, seed=0)(x, training=True)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), out.numpy() / x.numpy(), rtol=1e-5)


@pytest.mark.parametrize("build, kwargs, message", [
    (SpatialDropout1D, {"rate": 1.5}, "rate=1.5"),
    (SpatialDropout2D, {"rate": 0.1, "data_format": "channels_first"}, "data_format='channels_first'"),
    (GaussianNoise, {"stddev": -1}, "stddev=-1"),
    (GaussianDropout, {"rate": 1}, r"`rate` to be a finite number in \[0, 1\)\. Received: rate=1"),
    (AlphaDropout, {"rate": -0.1}, "rate=-0.1"),
])
def test_noise_argument_errors(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_spatial_dropout_rejects_inputs_of_another_rank():
    with pytest.raises(ValueError, match="ndim"):
        SpatialDropout2D(0.5)(np.ones((2, 4, 3), "float32"))

"""fit's compiled training step against the eager one (same weights and logs after 3 epochs) for models made of
issue #8's layers: the noise layers' draws are host inputs of the step, in the eager step's order."""
import numpy as np

import pyml
from pyml import layers
from tests.pyml.models.test_compiled_step import OPTIMIZERS, assert_same_training


def noisy_convnet():
    return pyml.Sequential([
        pyml.Input(shape=(6, 6, 2)), layers.GaussianNoise(0.1), layers.SeparableConv2D(4, 3, activation="relu"),
        layers.SpatialDropout2D(0.3), layers.Conv2D(4, 1, groups=2), layers.GroupNormalization(2),
        layers.PReLU(shared_axes=[1, 2]), layers.Flatten(), layers.GaussianDropout(0.2), layers.Dense(8, "selu"),
        layers.AlphaDropout(0.1), layers.RMSNormalization(), layers.UnitNormalization(),
        layers.Dense(3, activation="softmax")])


def test_compiled_step_matches_eager_with_every_new_layer():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 3, 40)
    x = rng.standard_normal((40, 6, 6, 2)).astype("float32") + y[:, None, None, None] * 0.5
    eager, compiled = assert_same_training(noisy_convnet, OPTIMIZERS["adam"], x, y, rtol=1e-4, atol=1e-5)
    graph = compiled._compiled_step.graph()
    assert len([n for n in graph.inputs if n[0] == "h" and n[1:].isdigit()]) == 4, "one host input per noise layer"


def sequence_model():
    """SeparableConv1D, Permute, RepeatVector, Dot (normalized) and SpatialDropout1D in one functional model."""
    inputs = pyml.Input(shape=(8, 3))
    x = layers.SeparableConv1D(4, 3, padding="same", depth_multiplier=2, activation="relu")(inputs)
    x = layers.SpatialDropout1D(0.25)(x)
    steps = layers.Permute((2, 1))(x)  # (4, 8)
    query = layers.RepeatVector(4)(layers.Dense(8)(layers.Flatten()(x)))  # (4, 8)
    scores = layers.Dot(axes=(2, 2), normalize=True)([query, steps])  # (4, 4)
    return pyml.Model(inputs, layers.Dense(3, activation="softmax")(layers.Flatten()(scores)))


def test_compiled_step_matches_eager_with_the_structure_layers():
    x, y = np.random.default_rng(9).standard_normal((40, 8, 3)).astype("float32"), np.arange(40) % 3
    assert_same_training(sequence_model, OPTIMIZERS["adam"], x, y, rtol=1e-4, atol=1e-5)

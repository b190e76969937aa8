"""The Layer base class: names, add_weight, tracking, trainable, build protocol, get/set_weights, errors."""
import numpy as np
import pytest

import pyml
from pyml.layers import Dense, Dropout, Layer


class Scale(Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
        self.offset = self.add_weight("offset", (input_shape[-1],), initializer="zeros", trainable=False)

    def call(self, inputs):
        return inputs * self.scale + self.offset


class Block(Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = Dense(4, name=f"{self.name}_first")
        self.parts = [Dense(2, name=f"{self.name}_second"), Dropout(0.5)]

    def call(self, inputs, training=None):
        return self.parts[1](self.parts[0](self.first(inputs)))


def test_default_names_are_snake_case_and_unique():
    pyml.layers.clear_session()
    names = [Dense(1).name, Dense(1).name, pyml.layers.MaxPooling2D().name, pyml.layers.Conv2D(1, 1).name]
    assert names == ["dense", "dense_1", "max_pooling2d", "conv2d"]


def test_add_weight_both_argument_orders_and_trainable_split():
    layer = Scale(name="s")
    layer(np.ones((2, 3), "float32"))
    assert [w.name for w in layer.weights] == ["s/scale", "s/offset"]
    assert [w.name for w in layer.trainable_weights] == ["s/scale"]
    assert [w.name for w in layer.non_trainable_weights] == ["s/offset"]
    assert layer.built and layer.count_params() == 6


def test_sublayers_in_attributes_and_lists_are_tracked():
    block = Block(name="blk")
    block(np.ones((1, 3), "float32"))
    assert [w.name for w in block.weights] == ["blk_first/kernel", "blk_first/bias", "blk_second/kernel",
                                               "blk_second/bias"]
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 4


def test_training_flag_reaches_nested_layers():
    block = Block()
    x = np.ones((200, 3), "float32")
    inference = block(x).numpy()
    np.testing.assert_array_equal(block(x, training=False).numpy(), inference)
    trained = block(x, training=True).numpy()
    assert (trained == 0).mean() > 0.3  # dropout ran inside the block


def test_count_params_before_build_is_an_error():
    with pytest.raises(ValueError, match="isn't built"):
        Dense(3, name="d").count_params()


def test_set_weights_checks_count_and_shapes():
    layer = Dense(2, name="d")
    layer.build((None, 3))
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"'d/kernel' has shape \(3, 2\).*Received: an array of shape \(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])
    layer.set_weights([np.ones((3, 2)), np.full(2, 0.5)])
    np.testing.assert_array_equal(layer(np.ones((1, 3))).numpy(), [[3.5, 3.5]])


def test_unknown_keyword_argument_is_an_error():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Dense: {'unit': 3}"):
        Dense(3, unit=3)


def test_build_called_directly_marks_built_and_records_shape():
    layer = Dense(2)
    layer.build((8, 3))
    assert layer.built and layer._build_shape == (None, 3)


def test_compute_output_spec_runs_symbolically():
    layer = Dense(5)
    spec = layer.compute_output_spec((None, 7))
    assert spec == ((None, 5), "float32")
    assert layer.kernel.shape == (7, 5)

"""Default layer and model names follow Keras 3, which names each object after its class in snake case and counts
per name: the first Dense is ``dense``, the next ``dense_1``; Input layers are ``input_layer``…; a Sequential builds
as a Functional model and so takes a ``functional`` name too. The expected names were read off Keras 3.15 by hand
(the same statements run there); the test itself imports no Keras."""
import numpy as np

import pyml
from pyml import layers


def input_name(model):
    return model._input_layer.name


def test_sequential_and_functional_default_names_follow_keras_3():
    pyml.layers.clear_session()
    with_input = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(2), layers.Dense(2)])
    with_input_shape = pyml.Sequential([layers.Dense(2, input_shape=(3,)), layers.Dense(2)])
    built = pyml.Sequential([layers.Dense(2)])
    built.build((None, 3))
    from_data = pyml.Sequential([layers.Dense(2)])
    from_data.predict(np.ones((2, 3), np.float32), verbose=0)
    a, image = pyml.Input(shape=(3,)), pyml.Input(shape=(4,), name="image")
    hidden = layers.Dense(2)(layers.Concatenate()([a, image]))
    functional = pyml.Model([a, image], [hidden, layers.Dense(1, name="probs")(hidden)])

    assert [(m.name, input_name(m), [l.name for l in m.layers]) for m in (with_input, with_input_shape, built, from_data)] == [
        ("sequential", "input_layer", ["dense", "dense_1"]),
        ("sequential_1", "input_layer_1", ["dense_2", "dense_3"]),
        ("sequential_2", "input_layer_2", ["dense_4"]),
        ("sequential_3", "input_layer_3", ["dense_5"])]
    # Keras 3 built each Sequential above as a Functional model: this one is the fifth "functional".
    assert functional.name == "functional_4"
    assert [l.name for l in functional.layers] == ["input_layer_4", "image", "concatenate", "dense_6", "probs"]
    assert functional.output_names == ["dense_6", "probs"]


def test_a_subclassed_model_is_named_after_its_class():
    class MyModel(pyml.Model):
        def call(self, x):
            return x

    pyml.layers.clear_session()
    assert [MyModel().name, MyModel().name] == ["my_model", "my_model_1"]


def test_a_saved_sequential_keeps_its_input_name(tmp_path):
    pyml.layers.clear_session()
    model = pyml.Sequential([pyml.Input(shape=(3,), name="pixels"), layers.Dense(2)])
    model.save(tmp_path / "m.pyml")
    assert input_name(pyml.load_model(tmp_path / "m.pyml")) == "pixels"
    config = model.get_config()
    del config["input_name"]  # as pyml wrote configs before it kept the name: a default name, as Keras gives
    pyml.layers.clear_session()
    assert input_name(pyml.Sequential.from_config(config)) == "input_layer"

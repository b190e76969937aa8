"""Functional models (Model(inputs, outputs)) and subclassed models (Model with call)."""
import numpy as np
import pytest

import pyml
from pyml import layers


def test_functional_chain_matches_its_layers():
    inputs = pyml.Input(shape=(5,), name="features")
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    outputs = layers.Dense(2, name="out")(hidden)
    model = pyml.Model(inputs, outputs, name="net")
    assert isinstance(model, pyml.models.Functional) and model.name == "net"
    assert [l.name for l in model.layers] == ["features", "hidden", "out"]
    x = np.random.default_rng(0).standard_normal((3, 5)).astype("float32")
    k0, b0, k1, b1 = model.get_weights()
    np.testing.assert_allclose(model(x).numpy(), np.maximum(x @ k0 + b0, 0) @ k1 + b1, rtol=1e-5, atol=1e-6)


def test_keyword_construction_and_branches_and_shared_layers():
    inputs = pyml.Input(shape=(3,))
    shared = layers.Dense(3, name="shared")
    left = shared(inputs)
    right = shared(layers.Activation("tanh")(inputs))
    model = pyml.Model(inputs=inputs, outputs=[left, right])
    assert len(model.weights) == 2  # one Dense, called twice
    x = np.ones((2, 3), "float32")
    out_left, out_right = model.predict(x, verbose=0)
    kernel, bias = shared.get_weights()
    np.testing.assert_allclose(out_left, x @ kernel + bias, rtol=1e-6)
    np.testing.assert_allclose(out_right, np.tanh(x) @ kernel + bias, rtol=1e-6)


def test_multiple_inputs_train():
    a, b = pyml.Input(shape=(2,), name="a"), pyml.Input(shape=(3,), name="b")
    out = layers.Dense(1)(layers.Concatenate()([layers.Dense(4, activation="relu")(a), layers.Dense(4)(b)]))
    model = pyml.Model([a, b], out)
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((32, 2)).astype("float32"), rng.standard_normal((32, 3)).astype("float32")
    y = xa[:, :1] - xa[:, 1:]
    with pytest.raises(ValueError, match="expects 2 inputs. Received: 1"):
        model(xa)
    model.compile(optimizer=pyml.optimizers.Adam(0.05), loss="mse")
    history = model.fit([xa, xb], y, epochs=10, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict([xa, xb], verbose=0).shape == (32, 1)


def test_functional_fit_and_trace():
    inputs = pyml.Input(shape=(4,))
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(8, activation="relu")(inputs))
    model = pyml.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype("float32")
    y = rng.integers(0, 3, 40)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss"]
    graph = model.trace()
    out = pyml.graph.run_graph(graph, [x])
    out = out[0] if isinstance(out, (list, tuple)) else out
    np.testing.assert_allclose(np.asarray(out), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_functional_config_round_trip_rebuilds_the_graph():
    inputs = pyml.Input(shape=(3,))
    shared = layers.Dense(3)
    outputs = layers.Dense(1)(shared(shared(inputs)))
    model = pyml.Model(inputs, outputs)
    clone = pyml.models.Functional.from_config(model.get_config())
    assert [type(l).__name__ for l in clone.layers] == ["InputLayer", "Dense", "Dense"]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).standard_normal((4, 3)).astype("float32")
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_disconnected_graph_is_an_error():
    a, b = pyml.Input(shape=(2,)), pyml.Input(shape=(2,))
    out = layers.Dense(1)(b)
    with pytest.raises(ValueError, match="Graph disconnected"):
        pyml.Model(a, out)


class TwoLayer(pyml.Model):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.head = layers.Dense(2)

    def call(self, inputs, training=None):
        return self.head(self.dropout(self.hidden(inputs), training=training))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_tracks_layers_trains_and_traces():
    model = TwoLayer()
    x = np.random.default_rng(0).standard_normal((16, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 2, 16)
    model.compile(optimizer="adam", loss=pyml.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    assert len(model.weights) == 4 and len(model.layers) == 3
    assert model.predict(x, verbose=0).shape == (16, 2)
    graph = model.trace()
    assert graph.node(graph.inputs[0]).shape == (None, 3)


def test_subclassed_model_build_creates_weights():
    model = TwoLayer(units=5)
    model.build((None, 7))
    assert model.built and model.hidden.kernel.shape == (7, 5)
    with pytest.raises(ValueError, match="needs an input shape"):
        TwoLayer().build()

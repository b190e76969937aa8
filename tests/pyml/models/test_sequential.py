"""Sequential: building (Input, input_shape=, lazily on data, build()), add/pop, calling, summary, trace."""
import numpy as np
import pytest

import pyml
from pyml import layers


def mlp(name=None):
    return pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(5, activation="relu", name="hidden"),
                            layers.Dense(3, activation="softmax", name="out")], name=name)


def test_input_builds_immediately():
    model = mlp()
    assert model.built and [l.name for l in model.layers] == ["hidden", "out"]
    assert model.count_params() == 6 * 5 + 5 + 5 * 3 + 3
    assert model.input_shape == (None, 6) and model.output_shape == (None, 3)


def test_input_shape_argument_on_first_layer_builds():
    model = pyml.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert model.built and model.layers[0].kernel.shape == (3, 4)


def test_unbuilt_model_builds_on_first_call_and_by_build():
    model = pyml.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not model.built
    out = model(np.ones((7, 3), "float32"))
    assert out.shape == (7, 2) and model.built and model.input_shape == (None, 3)
    other = pyml.Sequential([layers.Dense(4), layers.Dense(2)])
    other.build((None, 5))
    assert other.layers[0].kernel.shape == (5, 4)


def test_call_equals_layers_in_turn():
    model = mlp()
    x = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")
    kernel0, bias0, kernel1, bias1 = model.get_weights()
    hidden = np.maximum(x @ kernel0 + bias0, 0)
    logits = hidden @ kernel1 + bias1
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_add_and_pop_rebuild():
    model = pyml.Sequential([pyml.Input(shape=(4,))])
    model.add(layers.Dense(3))
    model.add(layers.Dense(2))
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.units == 2 and model.output_shape == (None, 3)


def test_add_errors():
    model = pyml.Sequential([layers.Dense(2, name="a")])
    with pytest.raises(ValueError, match="unique names.*'a'"):
        model.add(layers.Dense(2, name="a"))
    with pytest.raises(TypeError, match="Only instances of pyml.layers.Layer.*Received: 3"):
        model.add(3)
    with pytest.raises(ValueError, match="Input only as its first element"):
        model.add(pyml.Input(shape=(2,)))


def test_summary_table(capsys):
    model = mlp(name="digits")
    model.summary()
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == 'Model: "digits"'
    assert "Layer (type)" in lines[2] and "Output Shape" in lines[2] and "Param #" in lines[2]
    hidden = next(l for l in lines if "hidden (Dense)" in l)
    assert "(None, 5)" in hidden and hidden.rstrip(" │").endswith("35")
    assert " Total params: 53 (212.00 B)" in lines
    assert " Trainable params: 53 (212.00 B)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines
    assert "InputLayer" not in text


def test_summary_of_unbuilt_model_marks_layers():
    lines = []
    pyml.Sequential([layers.Dense(2, name="d")]).summary(print_fn=lines.append)
    row = next(l for l in lines if "d (Dense)" in l)
    assert "?" in row and "0 (unbuilt)" in row


def test_summary_counts_non_trainable(capsys):
    model = pyml.Sequential([pyml.Input(shape=(3,)), layers.BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 12 (48.00 B)" in lines and " Non-trainable params: 6 (24.00 B)" in lines


def test_trace_gives_a_graph_with_dynamic_batch_that_matches_predict():
    model = pyml.Sequential([pyml.Input(shape=(4, 4, 1)),
                             layers.Conv2D(2, 3, padding="same", activation="relu", name="conv"),
                             layers.Flatten(), layers.Dropout(0.5), layers.Dense(3, name="head")])
    graph = model.trace()
    assert graph.node(graph.inputs[0]).shape == (None, 4, 4, 1)
    labels = {n.attrs.get("label") for n in graph.nodes if n.op == "constant"}
    assert {"conv/kernel", "conv/bias", "head/kernel", "head/bias"} <= labels
    assert not any(n.op == "call" and n.target == "mul" for n in graph.nodes)  # no dropout at inference
    x = np.random.default_rng(0).standard_normal((5, 4, 4, 1)).astype("float32")
    out = pyml.graph.run_graph(graph, [x])
    out = out[0] if isinstance(out, (list, tuple)) else out
    np.testing.assert_allclose(np.asarray(out), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_get_layer():
    model = mlp()
    assert model.get_layer("out") is model.layers[1] and model.get_layer(index=0).name == "hidden"
    with pytest.raises(ValueError, match="known layers are hidden, out. Received: name='nope'"):
        model.get_layer("nope")


def test_keras2_spellings_of_the_input_shape():
    model = pyml.Sequential([layers.Dense(4, input_dim=3), layers.Dense(1)])
    assert model.built and model.input_shape == (None, 3)
    model = pyml.Sequential([layers.InputLayer(input_shape=(5,)), layers.Dense(2)])
    assert model.input_shape == (None, 5)

"""Seconds-long smoke test of the external API, top to bottom (in the spirit of tinygrad's test_tiny.py):
tensors, autodiff, a Keras-style model trained for one epoch, tracing to a graph, export to a bundle.

Nothing is skipped: while a piece is missing, its test fails and says which.
"""
import json

import numpy as np

import pyml


def test_tensor_ops_match_numpy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    x, w = pyml.Tensor(a), pyml.Tensor(b)
    np.testing.assert_allclose((x @ w).numpy(), a @ b, rtol=1e-6)
    np.testing.assert_allclose((x * 2 + 1).numpy(), a * 2 + 1)
    np.testing.assert_allclose(pyml.ops.sum(x, axis=1).numpy(), a.sum(axis=1))
    np.testing.assert_allclose(pyml.ops.softmax(w).numpy().sum(axis=-1), np.ones(3), rtol=1e-6)
    assert x.reshape(3, 2).shape == (3, 2)
    assert x.T.shape == (3, 2)


def test_autodiff_backward_and_gradient_tape_agree_with_calculus():
    x = pyml.Variable([1.0, -2.0, 3.0], name="x")
    y = pyml.ops.sum(x * x * x)  # dy/dx = 3x²
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.array([1.0, 4.0, 9.0]), rtol=1e-6)
    with pyml.GradientTape() as tape:
        z = pyml.ops.sum(pyml.ops.tanh(x))
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), 1 - np.tanh([1.0, -2.0, 3.0]) ** 2, rtol=1e-5, atol=1e-7)


def _model():
    pyml.set_random_seed(0)
    model = pyml.Sequential([
        pyml.Input(shape=(4,)),
        pyml.layers.Dense(8, activation="relu"),
        pyml.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0).astype(np.int32)


def test_dense_model_fits_one_epoch_and_predicts_probabilities():
    model, (x, y) = _model(), _data()
    before = [w.numpy().copy() for w in model.weights]
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert set(history.history) >= {"loss", "accuracy"} and np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights)), "fit changed no weight"
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (64, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_trace_gives_a_graph_the_interpreter_runs_like_the_model():
    from pyml.graph.interpreter import run_graph

    model, (x, _) = _model(), _data()
    graph = model.trace()
    assert [graph.node(name).shape for name in graph.inputs] == [(None, 4)]
    assert "matmul" in {node.target for node in graph.nodes}
    (out,) = run_graph(graph, [x[:5]])
    np.testing.assert_allclose(np.asarray(out), model.predict(x[:5], verbose=0), rtol=1e-5, atol=1e-6)


def test_export_writes_a_bundle_that_validates(tmp_path):
    import webexport

    model = _model()
    webexport.export(model, str(tmp_path / "bundle"))
    manifest = json.loads((tmp_path / "bundle" / "model.json").read_text())
    assert manifest["format"] == "pyml-bundle"
    assert manifest["inputs"][0]["shape"] == [None, 4] and manifest["outputs"][0]["shape"] == [None, 3]
    assert (tmp_path / "bundle" / "runtime" / "index.js").is_file()
    webexport.load_bundle(str(tmp_path / "bundle"))  # raises on any inconsistency

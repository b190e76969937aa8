"""trace_training_graph: the training step as one graph, run by the reference interpreter, against fit's
compiled step (train_on_batch) on the same model: same losses, weights, optimizer slots and BatchNormalization
statistics after several steps, with the same Dropout masks."""
import numpy as np
import pytest

import pyml
from pyml import layers, optimizers
from pyml.graph.interpreter import run_graph
from pyml.models.compiled_step import NotTraceable, trace_training_graph
from tests.pyml.models.test_compiled_step import convnet, data, mlp

OPTIMIZERS = {
    "sgd-momentum": lambda: optimizers.SGD(0.05, momentum=0.9),
    "sgd-nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.05),
}


def compiled(build, optimizer, seed=0):
    pyml.set_random_seed(seed)
    model = build()
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy")
    return model


def same_masks(model):
    """Make every Dropout layer draw from a queue the test fills (the graph's masks, for train_on_batch) and
    draw afresh when it is empty (for the graph): returns ``push(masks)``."""
    queue = []
    for layer in model.layers:
        if isinstance(layer, layers.Dropout):
            layer._draw_mask = (lambda draw: lambda shape, dtype: queue.pop(0) if queue else draw(shape, dtype))(
                layer._draw_mask)
    return queue.extend


def flat(variables):
    return np.concatenate([v.numpy().ravel() for v in variables])


def assert_steps_match(model, step, batches, atol=1e-5):
    """Run the graph on each batch (feeding its outputs back) and train_on_batch on ``model``; compare."""
    values = step.initial_inputs()
    push = same_masks(model)
    for x, y in batches:
        inputs = step.feed(x, y, values=values)
        masks = [inputs[step.graph.inputs.index(name)] for name in step.host_inputs]
        outputs = [o.numpy() for o in run_graph(step.graph, inputs)]
        push(masks)
        loss = model.train_on_batch(x, y)
        np.testing.assert_allclose(outputs[step.outputs.loss], loss, rtol=1e-5, atol=atol)
        values["parameters"] = outputs[step.outputs.parameters]
        values.update((f"slot_{name}", outputs[i]) for name, i in step.outputs.slots.items())
        values.update((f"state_{i}", outputs[j]) for i, j in step.outputs.state.items())
        np.testing.assert_allclose(values["parameters"], flat(step.state.trainable), rtol=1e-5, atol=atol)
        for i, variable in enumerate(step.state.others):
            np.testing.assert_allclose(values[f"state_{i}"], variable.numpy(), rtol=1e-5, atol=atol,
                                       err_msg=variable.name)
        for name in step.slot_names:
            slots = [model.optimizer.slot(v, name) for v in step.state.trainable]
            np.testing.assert_allclose(values[f"slot_{name}"], np.concatenate([np.ravel(s) for s in slots]),
                                       rtol=1e-5, atol=atol, err_msg=name)


def batches(x, y, sizes=(5, 7, 5, 7)):
    cut = np.cumsum((0,) + sizes)
    return [(x[lo:hi], y[lo:hi]) for lo, hi in zip(cut, cut[1:])]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_dynamic_graph_steps_like_train_on_batch(name):
    model = compiled(mlp, OPTIMIZERS[name])
    x, y = data(24)
    step = trace_training_graph(model, ((None, 6), "float32"), ((None,), "int64"))
    assert step.graph.inputs[:2] == ["x", "y"] and step.input_names == ["x", "y"]
    assert step.graph.node("x").shape == (None, 6) and step.graph.node("y").shape == (None,)
    assert step.hyper_names == sorted(model.optimizer.step_hyperparameters())
    assert_steps_match(model, step, batches(x, y))


def test_the_static_graph_steps_like_train_on_batch():
    model = compiled(mlp, OPTIMIZERS["adam"])
    x, y = data(15)
    step = trace_training_graph(model, ((5, 6), "float32"), ((5,), "int32"))
    assert step.graph.node("x").shape == (5, 6)
    assert_steps_match(model, step, batches(x, y, (5, 5, 5)))


@pytest.mark.parametrize("name", ["sgd-nesterov", "adamw"])
def test_the_convnet_with_batchnorm_and_dropout_steps_like_train_on_batch(name):
    model = compiled(convnet, OPTIMIZERS[name])
    x, y = data(24, shape=(8, 8, 1))
    step = trace_training_graph(model, ((None, 8, 8, 1), "float32"), ((None,), "int32"))
    assert len(step.host_inputs) == 2 and len(step.outputs.state) == 2  # two Dropout masks; the moving statistics
    assert [draw.rate for draw in step.host_inputs.values()] == [0.25, 0.25]
    assert_steps_match(model, step, batches(x, y))


def test_fine_tuning_the_last_layers_leaves_the_frozen_ones_as_static_inputs():
    model = compiled(convnet, OPTIMIZERS["adam"])
    for layer in model.layers[:-2]:
        layer.trainable = False  # the convolutions and BatchNormalization (then in inference mode, as Keras)
    model.compile(optimizer=OPTIMIZERS["adam"](), loss="sparse_categorical_crossentropy")
    x, y = data(24, shape=(8, 8, 1))
    step = trace_training_graph(model, ((None, 8, 8, 1), "float32"), ((None,), "int32"))
    assert [v.name for v in step.state.trainable] == [w.name for w in model.layers[-1].weights]
    assert not step.outputs.state  # frozen BatchNormalization keeps its moving statistics
    assert all(None not in step.graph.node(name).shape for name in step.graph.inputs if name.startswith("state_"))
    assert_steps_match(model, step, batches(x, y))


def test_sample_weights_are_a_batch_input():
    model = compiled(mlp, OPTIMIZERS["sgd-momentum"])
    x, y = data(12)
    weights = np.random.default_rng(3).uniform(0.5, 2, 12).astype("float32")
    step = trace_training_graph(model, ((None, 6), "float32"), ((None,), "int32"), sample_weight=True)
    assert step.input_names == ["x", "y", "sample_weight"]
    with pytest.raises(ValueError, match=r"takes the batch inputs \['x', 'y', 'sample_weight'\]"):
        step.feed(x, y)
    values = step.initial_inputs()
    for lo, hi in ((0, 5), (5, 12)):
        outputs = run_graph(step.graph, step.feed(x[lo:hi], y[lo:hi], weights[lo:hi], values=values))
        loss = model.train_on_batch(x[lo:hi], y[lo:hi], sample_weight=weights[lo:hi])
        np.testing.assert_allclose(outputs[step.outputs.loss].numpy(), loss, rtol=1e-5)
        values["parameters"] = outputs[step.outputs.parameters].numpy()
        values.update((f"slot_{n}", outputs[i].numpy()) for n, i in step.outputs.slots.items())
    np.testing.assert_allclose(values["parameters"], flat(step.state.trainable), rtol=1e-5, atol=1e-6)


class TransposedTied(layers.Layer):
    """Projects with its kernel and back with the kernel's transpose, scaled by a learnt vector: values derived from
    variables (``w.T``, a product with ``scale``) that a graph must recompute from the new weights at every step."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), initializer="glorot_uniform", name="w")
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return pyml.ops.tanh(x @ self.w) @ pyml.ops.transpose(self.w) * self.scale


def test_values_derived_from_variables_are_recomputed_every_step():
    def build():
        return pyml.Sequential([pyml.Input(shape=(6,)), TransposedTied(), layers.Dense(3, activation="softmax")])

    model = compiled(build, OPTIMIZERS["sgd-momentum"])
    x, y = data(24)
    step = trace_training_graph(model, ((None, 6), "float32"), ((None,), "int32"))
    labels = {n.attrs.get("label") for n in step.graph.nodes if n.op == "constant"}
    assert not labels - {None}, "no variable may be frozen into a constant"
    assert_steps_match(model, step, batches(x, y))  # a frozen w.T or scale would part from step 2 on


def test_tracing_leaves_the_model_as_it_was():
    model = compiled(convnet, OPTIMIZERS["sgd-momentum"])
    before = [(v._data, v.numpy().copy()) for v in model.weights]
    trace_training_graph(model, ((4, 8, 8, 1), "float32"), ((4,), "int32"))
    for variable, (array, value) in zip(model.weights, before):
        assert variable._data is array
        np.testing.assert_array_equal(variable.numpy(), value)


def test_an_uncompiled_model_is_refused():
    model = mlp()
    with pytest.raises(NotTraceable, match="compiled"):
        trace_training_graph(model, ((4, 6), "float32"), ((4,), "int32"))


class BatchMinusOne(layers.Layer):
    """Scales by ``batch - 1``: a number derived from the batch size that is neither ``k * batch`` nor ``k / batch``."""

    def call(self, x):
        return x * float(x.shape[0] - 1)


def test_what_cannot_take_a_dynamic_batch_is_refused_naming_the_node():
    def build():
        return pyml.Sequential([pyml.Input(shape=(6,)), BatchMinusOne(), layers.Dense(3, activation="softmax")])

    model = compiled(build, OPTIMIZERS["adam"])
    with pytest.raises(NotTraceable, match=r"%c\d+ : f32\[\] = constant .*holds 1.0 and 2.0 at batch 2 and 3"):
        trace_training_graph(model, ((None, 6), "float32"), ((None,), "int32"))
    step = trace_training_graph(model, ((4, 6), "float32"), ((4,), "int32"))  # a concrete batch traces
    assert step.graph.node("x").shape == (4, 6)


def test_a_host_input_drawn_at_one_shape_only_is_refused_naming_the_node():
    # GaussianNoise draws its noise at the traced shape (no draw(shape)): fine for a concrete batch only
    def build():
        return pyml.Sequential([pyml.Input(shape=(6,)), layers.GaussianNoise(0.1),
                                layers.Dense(3, activation="softmax")])

    model = compiled(build, OPTIMIZERS["adam"])
    with pytest.raises(NotTraceable, match=r"host input %h\d+ : f32\[N,6\] = placeholder is drawn by .* one shape"):
        trace_training_graph(model, ((None, 6), "float32"), ((None,), "int32"))
    assert trace_training_graph(model, ((3, 6), "float32"), ((3,), "int32")).host_inputs

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


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_static_graph_steps_like_train_on_batch(name):
    model = compiled(mlp, OPTIMIZERS[name])
    x, y = data(15)
    step = trace_training_graph(model, ((5, 6), "float32"), ((5,), "int64"))
    assert step.graph.inputs[:2] == ["x", "y"] and step.input_names == ["x", "y"]
    assert step.hyper_names == sorted(model.optimizer.step_hyperparameters())
    assert_steps_match(model, step, [(x[i:i + 5], y[i:i + 5]) for i in range(0, 15, 5)])


def test_the_convnet_with_batchnorm_and_dropout_steps_like_train_on_batch():
    model = compiled(convnet, OPTIMIZERS["adam"])
    x, y = data(10, shape=(8, 8, 1))
    step = trace_training_graph(model, ((5, 8, 8, 1), "float32"), ((5,), "int32"))
    assert len(step.host_inputs) == 2 and step.outputs.state  # two Dropout masks; the moving statistics
    assert_steps_match(model, step, [(x[:5], y[:5]), (x[5:], y[5:])])


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

"""A model's whole training step as one exportable graph: ``trace_training_graph`` (the step ``fit`` compiles,
with its inputs and outputs described, for ``webexport``'s training bundles and other runners of the IR).

    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")          # doctest: +SKIP
    >>> step = trace_training_graph(model, ((None, 64), "float32"), ((None,), "int32"))  # doctest: +SKIP
    >>> outputs = pyml.graph.run_graph(step.graph, step.feed(x, y))                       # doctest: +SKIP
    >>> loss, parameters = outputs[step.outputs.loss], outputs[step.outputs.parameters]   # doctest: +SKIP
"""
import inspect
from typing import NamedTuple

import numpy as np

from pyml import backend
from pyml.autodiff import no_grad
from pyml.graph.trace import TraceError, as_spec
from pyml.models.compiled_step import (BatchSpec, CompiledTrainStep, FlatState, NotTraceable, _data, step_graph,
                                       untraceable_reason)
from pyml.tensor import Tensor


class StepOutputs(NamedTuple):
    """Where each result of the training graph is, as indices into ``graph.outputs``."""

    loss: int  # the scalar loss the optimizer minimised (of the batch, before the update)
    output_losses: list  # each output's unweighted loss, for a model with several outputs (else empty)
    predictions: list  # the model's outputs (training=True), one per model output
    parameters: int  # the new flat parameters (write back into the ``parameters`` input)
    slots: dict  # slot name -> the new flat slot (write back into the ``slot_<name>`` input)
    state: dict  # i -> the new value of ``state.others[i]`` (the ``state_<i>`` input), for the ones the step
    #              assigns (BatchNormalization's moving statistics); the others stay as they are


class TrainingGraph(NamedTuple):
    """One optimizer step of a compiled model as a ``pyml.graph.ir.Graph`` (see ``trace_training_graph``).

    ``graph.inputs`` are, in order: ``input_names`` (the batch: ``x``, ``y`` and ``sample_weight`` when asked
    for; ``x0, x1, ...`` / ``y0, ...`` for several inputs or outputs), ``hyper_<name>`` for each of
    ``hyper_names`` (float scalars the host computes before each step: ``optimizer.step_hyperparameters()``),
    ``parameters`` (every trainable variable, flat, at ``state.offsets``), ``slot_<name>`` for each of
    ``slot_names`` (the optimizer's state, flat, in the parameters' layout), ``state_<i>`` for each of
    ``state.others`` (non-trainable variables, in their shapes), then the host inputs ``h<i>`` (Dropout's keep
    masks scaled by ``1 / (1 - rate)``: ``host_inputs[name]()`` draws one, as the eager step does).
    """

    graph: object  # pyml.graph.ir.Graph
    input_names: list  # the batch inputs' names (see above)
    hyper_names: list  # the hyperparameters' names, in the order of the ``hyper_<name>`` inputs
    slot_names: list  # the optimizer's slot names, in the order of the ``slot_<name>`` inputs
    state: FlatState  # the variables' layout; its buffers hold the values when traced (``initial_inputs``)
    outputs: StepOutputs  # which output is what
    host_inputs: dict  # host input name -> draw(): a fresh value for one step (Dropout masks); with the batch in
    #                    its shape, draw(shape) at the batch's size (a DropoutMask, with its ``rate``)

    def initial_inputs(self):
        """``{input name: array}`` for every non-batch, non-host input: the parameters, slots and other
        variables as they were when traced (a copy)."""
        state = self.state
        values = {"parameters": backend.to_numpy(state.parameters).copy()}  # NumPy also when training on a GPU
        values.update((f"slot_{name}", backend.to_numpy(state.slots[name]).copy()) for name in self.slot_names)
        values.update((f"state_{i}", backend.to_numpy(array).copy()) for i, array in enumerate(state.arrays))
        return values

    def feed(self, x, y, sample_weight=None, values=None, hyper=None):
        """Every graph input, in order, for one step on the batch ``(x, y, sample_weight)``: ``values``
        (``initial_inputs()`` by default) for the variables, the batch in the graph's dtypes, ``hyper`` (the
        model optimizer's ``step_hyperparameters()`` by default) and fresh host draws (at the batch's size)."""
        values = dict(values if values is not None else self.initial_inputs())
        nodes = self.graph.nodes_by_name()
        data = _data(x, y, sample_weight)
        if sorted(name for name, _ in data) != sorted(self.input_names):
            raise ValueError(f"the training graph takes the batch inputs {self.input_names}. Received: "
                             f"{[name for name, _ in data]}")
        values.update((name, np.asarray(a, nodes[name].dtype)) for name, a in data)
        hyper = hyper if hyper is not None else self.state.optimizer.step_hyperparameters()
        values.update((f"hyper_{name}", hyper[name]) for name in self.hyper_names)
        size = np.shape(values[self.input_names[0]])[0]
        for name, draw in self.host_inputs.items():
            shape = nodes[name].shape
            values[name] = draw(tuple(size if d is None else d for d in shape)) if None in shape else draw()
        return [values[name] for name in self.graph.inputs]


def trace_training_graph(model, x_spec, y_spec, sample_weight=False):
    """The training step ``fit`` compiles for ``model`` (forward with ``training=True``, the compiled loss,
    the backward pass and the optimizer's update), traced for one batch signature, as a ``TrainingGraph``.

    Args:
        model: a compiled model (``model.compile(optimizer=..., loss=...)``); it is built on a batch of zeros
            if it is not yet. Its ``trainable`` flags choose the parameters. The model's variables are not
            changed; the optimizer gets its slots for the trainable variables (as at its first step).
        x_spec, y_spec: ``(shape, dtype)`` (or a ``Spec``, or anything with ``.shape`` and ``.dtype``) of the
            batch's features and targets; a list of them for several inputs or outputs. Axis 0 is the batch.
        sample_weight: whether the step takes a ``sample_weight`` input (of shape ``(batch,)``, float32).

    Returns:
        A ``TrainingGraph``: ``graph``, ``input_names``, ``hyper_names``, ``slot_names``, ``state`` (the
        ``FlatState``: ``state.trainable`` at ``state.offsets`` of ``parameters``, ``state.others`` as
        ``state_<i>``), ``outputs`` (a ``StepOutputs``) and ``host_inputs``.

    Raises:
        NotTraceable: the step cannot be traced (the message says why).

    >>> model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(3, activation="softmax")])
    >>> model.compile(optimizer=pyml.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    >>> step = pyml.models.compiled_step.trace_training_graph(model, ((8, 4), "float32"), ((8,), "int32"))
    >>> step.graph.inputs, step.outputs.parameters
    (['x', 'y', 'hyper_learning_rate', 'parameters'], 2)
    """
    if getattr(model, "optimizer", None) is None or getattr(model, "_compile_loss", None) is None:
        raise NotTraceable("the model must be compiled with a loss and an optimizer (model.compile(...))")
    why = untraceable_reason(model)
    if why:
        raise NotTraceable(why)
    x, y = _specs(x_spec, "x_spec"), _specs(y_spec, "y_spec")
    weights = None
    if sample_weight:
        batch = (x[0] if isinstance(x, list) else x).shape[0]
        weights = BatchSpec((batch,), "float32")
    step = CompiledTrainStep(model)
    if not model.built:  # build on a batch of 2 zeros, so tracing meets every variable already made
        zeros = [Tensor(np.zeros((2,) + s.shape[1:], s.dtype)) for s in _leaves(x)]
        with no_grad():
            model(zeros if isinstance(x, list) else zeros[0], training=False)
    state = step._flat_state(x, y, weights)
    _fill(state)
    result, hyper_names, front = step._trace(x, y, weights)
    graph = step_graph(result, state)
    first = 1 + front["losses"] + front["predictions"]
    assigned = {key: first + 1 + len(state.slot_names) + j for j, key in enumerate(result.assigned)}
    outputs = StepOutputs(
        loss=0, output_losses=list(range(1, 1 + front["losses"])),
        predictions=list(range(1 + front["losses"], first)), parameters=first,
        slots={name: first + 1 + i for i, name in enumerate(state.slot_names)},
        state={i: assigned[id(v)] for i, v in enumerate(state.others) if id(v) in assigned})
    _check_host_draws(graph, result.host_inputs)
    return TrainingGraph(graph, [name for name, _ in _data(x, y, weights)], list(hyper_names),
                         list(state.slot_names), state, outputs, dict(result.host_inputs))


def _check_host_draws(graph, draws):
    """With a dynamic batch, every host input whose shape has the batch must be drawable at any batch
    (``draw(shape)``, as ``DropoutMask``); a draw of a fixed shape is refused, naming its node."""
    nodes = graph.nodes_by_name()
    for name, draw in draws.items():
        if None in nodes[name].shape and not _takes_shape(draw):
            raise NotTraceable(f"host input {nodes[name]} is drawn by {draw!r}, which draws one shape only: the layer "
                               "that makes it cannot take a dynamic batch (give a concrete batch size)")


def _takes_shape(draw):
    try:
        return bool(inspect.signature(draw).parameters)
    except (TypeError, ValueError):
        return False


def _specs(spec, what):
    """A ``BatchSpec`` (or a list of them) from the caller's ``(shape, dtype)`` description."""
    try:
        if isinstance(spec, list):
            return [BatchSpec(*as_spec(s, i)) for i, s in enumerate(spec)]
        return BatchSpec(*as_spec(spec))
    except TraceError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _leaves(spec):
    return spec if isinstance(spec, list) else [spec]


def _fill(state):
    """Copy the variables' and slots' current values into ``state``'s buffers without rebinding them (the model
    keeps its own arrays: tracing the graph changes nothing it trains with)."""
    slots = state.optimizer._slots
    for i, variable in enumerate(state.trainable):
        state.view(state.parameters, i)[...] = variable._data
        for name in state.slot_names:
            state.view(state.slots[name], i)[...] = slots[(id(variable), name)]
    for variable, array in zip(state.others, state.arrays):
        array[...] = variable._data


__all__ = ["StepOutputs", "TrainingGraph", "trace_training_graph"]

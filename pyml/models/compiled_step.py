"""``fit``'s compiled training step: forward, loss, backward and the optimizer update traced once into the
graph IR and run by ``pyml.graph.Executor``.

What one step is, traced (``print(step.graph(batch_size))`` shows it)::

    x, y[, sample_weight], hyperparameters (learning rate, ...), parameters, slots..., state..., masks...
      -> forward (the model, training=True) -> loss -> gradients (pyml ops, so they trace)
      -> one flat gradient -> optimizer update of the flat parameters and slots
    returns the loss, each output's loss, the predictions, and the new parameters, slots and state (written
    back in place)

A model with several inputs or outputs takes ``x0, x1, ...``, ``y0, y1, ...`` and ``sample_weight0, ...``
(an output with no targets or weights has no input); the loss is the sum of the outputs' weighted losses
(``compile_utils.CompileLoss``), whose unweighted values the step returns too, for the ``<output>_loss`` logs.

- **Variables are inputs, never constants.** Every trainable variable is a view into one flat float buffer
  (``FlatState.parameters``), and each optimizer slot a view into one flat buffer per slot name, so the
  optimizer's rule (``Optimizer._update``) runs once over every parameter: a handful of whole-buffer NumPy
  ops. Other variables (BatchNormalization's moving statistics, frozen weights) are inputs too, and the
  values ``assign``-ed to them while tracing are outputs written back after each run. While ``fit`` runs,
  each variable's array *is* its view of these buffers; at the end ``detach`` gives every variable (and
  slot) an array of its own again.
- **Numbers that change between steps are inputs**: the learning rate and the values derived from it
  (``Optimizer.step_hyperparameters``, float32 numbers computed on the host, as the eager step uses them), and the
  random masks of Dropout (``pyml.graph.trace.host_value``: drawn afresh before each run, in the order
  the eager step draws them, so both paths see the same numbers).
- **One plan per batch shape**: the last, smaller batch of an epoch gets its own trace and buffers.

A model that does not trace (Python control flow on tensor values, a custom ``train_step``, an optimizer
with only ``update_step``) raises ``NotTraceable`` with the reason; ``fit`` then warns once and runs eagerly.

    >>> step = CompiledTrainStep(model)                  # doctest: +SKIP
    >>> loss, y_pred = step(x_batch, y_batch, None)      # doctest: +SKIP
"""
from typing import NamedTuple

import numpy as np

from pyml import backend, dtypes, ops
from pyml.autodiff import GradientTape, no_grad
from pyml.errors import OpError
from pyml.graph.executor import Executor
from pyml.graph.passes import optimize
from pyml.graph.rewrites import rewrite_training_step
from pyml.graph.trace import substitute, trace_function
from pyml.optimizers import Optimizer
from pyml.tensor import Tensor


MAX_PLANS = 8  # compiled plans kept per model (each holds its buffers): the full batch, the last one, ...


class NotTraceable(Exception):
    """The training step cannot be compiled; the message says why."""


class FlatState:
    """The model's variables as views of buffers this object owns (see the module docstring).

    Args:
        trainable: the variables the optimizer updates (one float dtype).
        others: every other variable the step reads (non-trainable ones, trainable ones with no gradient).
        optimizer: its slots become views of one flat buffer per slot name.
    """

    def __init__(self, trainable, others, optimizer):
        kinds = {v.dtype for v in trainable}
        if len(kinds) > 1 or not kinds <= set(dtypes.FLOATS):
            raise NotTraceable(f"the trainable variables must share one float dtype; they have {sorted(kinds)}")
        self.trainable, self.others, self.optimizer = list(trainable), list(others), optimizer
        dtype = kinds.pop() if kinds else "float32"
        sizes = [int(np.prod(v.shape, dtype=np.int64)) for v in self.trainable]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()
        xp = self.xp = backend.xp()  # the flat buffers live on the device that trains (CuPy arrays on a GPU)
        self.parameters = xp.empty(self.offsets[-1], dtype)
        optimizer.track(self.trainable)
        self.slot_names = [name for name, _ in optimizer.slot_specs()]
        self.slots = {name: xp.empty(self.offsets[-1], dtype) for name in self.slot_names}
        self.arrays = [xp.empty(v.shape, v.dtype) for v in self.others]
        self._views = [self.view(self.parameters, i) for i in range(len(self.trainable))]
        self._slot_views = {name: [self.view(flat, i) for i in range(len(self.trainable))]
                            for name, flat in self.slots.items()}

    def decay_mask(self):
        """None when weight decay is off or applies to every parameter, else a flat 1/0 array that is 0 over the
        variables ``exclude_from_weight_decay`` names (a constant: the exclusions are fixed once built)."""
        uses = [self.optimizer.uses_weight_decay(v) for v in self.trainable]
        if not self.optimizer.weight_decay or all(uses):
            return None
        mask = self.xp.zeros_like(self.parameters)
        for i, use in enumerate(uses):
            mask[self.offsets[i]:self.offsets[i + 1]] = use
        return Tensor(mask)

    def unflatten(self, flat):
        """A flat traced tensor cut into one tensor per trainable variable, in its shape."""
        return [ops.reshape(ops.slice(flat, (self.offsets[i],), (self.offsets[i + 1] - self.offsets[i],)), v.shape)
                for i, v in enumerate(self.trainable)]

    def view(self, flat, index):
        """Variable ``index``'s part of the flat buffer ``flat``, in its shape."""
        return flat[self.offsets[index]:self.offsets[index + 1]].reshape(self.trainable[index].shape)

    def attach(self):
        """Make every variable's (and slot's) array its view of the buffers again where code outside the step
        replaced it (``Variable.assign``, ``set_weights``, an eager step), copying the new value in."""
        xp = self.xp
        for variable, view in zip(self.trainable, self._views):
            if variable._data is not view:
                xp.copyto(view, variable._data)
                variable._data = view
        slots = self.optimizer._slots
        for name, views in self._slot_views.items():
            for variable, view in zip(self.trainable, views):
                key = (id(variable), name)
                if slots[key] is not view:
                    xp.copyto(view, slots[key])
                    slots[key] = view
        for variable, array in zip(self.others, self.arrays):
            if variable._data is not array:
                xp.copyto(array, variable._data)
                variable._data = array

    def detach(self):
        """Give every variable and slot an array of its own (a copy of its view), so arrays handed out after
        training never change under the caller."""
        xp = self.xp
        for variable in self.trainable + self.others:
            variable._data = xp.array(variable._data)
        slots = self.optimizer._slots
        for name in self.slot_names:
            for variable in self.trainable:
                slots[(id(variable), name)] = xp.array(slots[(id(variable), name)])


class _Plan(NamedTuple):
    """One traced step for one batch signature: the graph, its executor, and how to feed it."""

    graph: object
    executor: Executor
    hyper_names: list  # the optimizer's step hyperparameters, in the order of the graph's inputs
    host_draws: list  # the functions that make the host inputs (Dropout masks), in the graph's order
    output_losses: int  # how many per-output losses follow the loss among the returned values
    several_outputs: bool  # whether the model returns a list or dict of outputs (the step returns a list)


class CompiledTrainStep:
    """``model``'s training step, compiled (see the module docstring). Call it with one batch of NumPy
    arrays ``(x, y, sample_weight or None)`` (lists for several inputs or outputs); it returns ``(loss as a
    float, predictions as an array or a list of them, each output's unweighted loss as a float)``."""

    def __init__(self, model):
        why = untraceable_reason(model)
        if why:
            raise NotTraceable(why)
        self.model = model
        self.state = None
        self._plans = {}

    gradients_only = False  # a subclass that reduces gradients between ranks traces up to the flat gradient

    def __call__(self, x, y, sample_weight=None):
        plan = self._plan(x, y, sample_weight)
        self.state.attach()
        optimizer = self.model.optimizer
        hyper = optimizer.step_hyperparameters()
        inputs = [array for _, array in _data(x, y, sample_weight)]
        inputs += [hyper[name] for name in plan.hyper_names] + [draw() for draw in plan.host_draws]
        loss, *values = plan.executor.run(*inputs)
        optimizer.finish_step(self.state.trainable)
        output_losses, y_pred = values[:plan.output_losses], values[plan.output_losses:]
        return float(loss), (y_pred if plan.several_outputs else y_pred[0]), [float(v) for v in output_losses]

    def _plan(self, x, y, sample_weight):
        """The plan for this batch's signature, traced on first use."""
        key = _signature(x, y, sample_weight)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:  # batches of ever new shapes: keep the latest few plans only
                del self._plans[next(iter(self._plans))]
            plan = self._plans[key] = self._compile(x, y, sample_weight)
        return plan

    def matches(self, model):
        """Whether the step was traced for ``model``'s current variables (freezing a layer changes them), and its
        buffers belong to the device in use (``pyml.set_device`` since: plan again)."""
        return self.state is None or (self._variables == _variable_ids(model) and self.state.xp is backend.xp())

    def graph(self, batch_size=None):
        """The traced step's graph (for the given batch size; the first one traced by default)."""
        plans = [p for key, p in self._plans.items() if batch_size is None or key[0][0][0] == batch_size]
        if not plans:
            raise ValueError(f"no step was compiled for batch size {batch_size}. "
                             f"Received: batch_size={batch_size}")
        return plans[0].graph

    def detach(self):
        """See ``FlatState.detach``: call when training stops."""
        if self.state is not None:
            self.state.detach()

    # ---- tracing ---------------------------------------------------------------------------------------
    def _compile(self, x, y, sample_weight):
        model = self.model
        if not model.built:
            with no_grad():  # build the layers on data, so tracing meets every variable already made
                model(_tensors(x), training=False)
        if self.state is None:
            self._variables = _variable_ids(model)
            self.state = self._flat_state(x, y, sample_weight)
        self.state.attach()
        result, hyper_names, front = self._trace(x, y, sample_weight, gradients_only=self.gradients_only)
        graph = step_graph(result, self.state)
        state, outputs = self.state, graph.outputs
        first = 1 + front["losses"] + front["predictions"]  # loss, output losses, predictions, then the state
        if self.gradients_only:  # the flat gradient is returned; the parameters are only read
            bindings, updated = {"parameters": (state.parameters, None)}, 1
        else:
            bindings = {"parameters": (state.parameters, outputs[first])}
            for i, name in enumerate(state.slot_names):
                bindings[f"slot_{name}"] = (state.slots[name], outputs[first + 1 + i])
            updated = 1 + len(state.slot_names)
        written = dict(zip(result.assigned, outputs[first + updated:]))
        for i, (variable, array) in enumerate(zip(state.others, state.arrays)):
            bindings[f"state_{i}"] = (array, written.get(id(variable)))
        return _Plan(graph, Executor(graph, state=bindings), hyper_names, list(result.host_inputs.values()),
                     front["losses"], front["several"])

    def _flat_state(self, x, y, sample_weight):
        """The variables' layout: one trace finds the trainable variables that get no gradient (eager
        ``apply_gradients`` skips them, so the step leaves them out of the flat buffer too)."""
        model = self.model
        trainable = model.trainable_weights
        others = [v for v in model.weights if all(v is not t for t in trainable)]
        self.state = FlatState(trainable, others, model.optimizer)
        unconnected = {}

        def probe(variables, grads):
            unconnected.update((id(v), v) for v, g in zip(variables, grads) if g is None)

        self._trace(x, y, sample_weight, probe=probe)
        if unconnected:
            others += [v for v in trainable if id(v) in unconnected]
            trainable = [v for v in trainable if id(v) not in unconnected]
            model.optimizer.untrack(unconnected.values())  # no slots for them, as in eager apply_gradients
            self.state = FlatState(trainable, others, model.optimizer)
        return self.state

    def _trace(self, x, y, sample_weight, probe=None, gradients_only=False):
        """Trace the step (see the module docstring); ``x``, ``y`` and ``sample_weight`` may be ``BatchSpec``s with
        ``None`` at axis 0 (the dynamic batch: ``trace_training_graph``); with ``probe``, only up to the
        gradients, which ``probe(variables, gradients)`` receives; with ``gradients_only``, a step that takes no hyperparameters
        or slots and returns the flat gradient where the new parameters and slots would be (for
        ``pyml.distribute.step``). Returns ``(TraceResult, hyperparameter names, {"losses": the number of
        per-output losses returned, "predictions": of predictions, "several": a list of them})``."""
        model, state, optimizer = self.model, self.state, self.model.optimizer
        hyper_names = sorted(optimizer.step_hyperparameters())
        data = _data(x, y, sample_weight)
        front = {}
        dtype = state.parameters.dtype.name
        inputs = [(name, _spec(a)) for name, a in data]
        if gradients_only:
            hyper_names = []
        inputs += [(f"hyper_{name}", ((), dtype)) for name in hyper_names]
        inputs += [("parameters", (state.parameters.shape, dtype))]
        inputs += [(f"slot_{name}", (state.parameters.shape, dtype)) for name in state.slot_names
                   if not gradients_only]
        inputs += [(f"state_{i}", (v.shape, v.dtype)) for i, v in enumerate(state.others)]

        def step(*args):
            named = dict(zip([name for name, _ in inputs], args))
            features, targets, weights = (_rebuild(value, named, prefix)
                                          for value, prefix in ((x, "x"), (y, "y"), (sample_weight, "sample_weight")))
            parameters = named["parameters"]
            values = dict(zip(state.trainable, state.unflatten(parameters)))
            values.update((v, named[f"state_{i}"]) for i, v in enumerate(state.others))
            with substitute(values):
                with GradientTape() as tape:
                    y_pred = model(features, training=True)
                    model._compile_loss.last_values = []  # a compute_loss that skips the compiled loss leaves it empty
                    loss = model.compute_loss(features, targets, y_pred, weights)
                grads = tape.gradient(loss, state.trainable)
                if probe is not None:
                    probe(state.trainable, grads)
                    return loss
                if gradients_only:
                    updated = [flatten(grads)]
                else:
                    hyper = {name: named[f"hyper_{name}"] for name in hyper_names}
                    slots = {name: named[f"slot_{name}"] for name in state.slot_names}
                    new_parameters, new_slots = apply_update(optimizer, state, parameters, grads, slots, hyper)
                    updated = [new_parameters] + [new_slots[name] for name in state.slot_names]
            assigned = [value for _, value in parameters._trace.tracer.assigned.values()]
            predictions = [y_pred[key] for key in sorted(y_pred)] if isinstance(y_pred, dict) else _as_list(y_pred)
            output_losses = model._compile_loss.last_values
            output_losses = list(output_losses) if len(output_losses) > 1 else []  # one: the loss itself
            front.update(losses=len(output_losses), predictions=len(predictions),
                         several=isinstance(y_pred, (list, tuple, dict)))
            return [loss, *output_losses, *predictions, *updated, *assigned]

        try:
            result = trace_function(step, [spec for _, spec in inputs], dynamic_batch=None,
                                    names=[name for name, _ in inputs])
        except (OpError, TypeError, ValueError, AttributeError) as exc:
            raise NotTraceable(f"tracing the step failed: {exc}") from exc
        finally:
            model._clear_losses()  # the traced add_loss values are graph nodes, not the losses of a call
        return result, hyper_names, front


def step_graph(result, state):
    """The traced step's graph (``result``: a ``TraceResult``), optimized and rewritten (``rewrite_training_step``);
    NotTraceable when it reads other variables than the model's or has no parameters to update."""
    if result.captures:
        names = sorted({v.name or "?" for v in result.captures.values()})
        raise NotTraceable(f"the step reads variables that are not the model's weights: {', '.join(names)}")
    if not state.trainable:
        raise NotTraceable("the model has no trainable variables with gradients")
    return optimize(rewrite_training_step(optimize(result.graph)))


def flatten(grads):
    """One flat traced tensor of ``grads`` (in the flat parameters' layout)."""
    return ops.concatenate([ops.reshape(g, (-1,)) for g in grads])


def apply_update(optimizer, state, parameters, grads, slots, hyper):
    """The traced optimizer update: ``(new flat parameters, {slot: new flat slot})`` from the flat
    ``parameters``, one gradient per trainable variable, the flat ``slots`` and the step's ``hyper``."""
    raw = None
    if optimizer.gradient_accumulation_steps:
        raw = flatten(grads)
        grads = optimizer.accumulated_gradients(grads, state.unflatten(slots["gradient_accumulator"]))
    grads = optimizer.clip_gradients(ops, grads)
    new_parameters, new_slots = optimizer.apply_rule(ops, parameters, flatten(grads), slots, hyper,
                                                     state.decay_mask(), raw_gradient=raw)
    return _constrained(new_parameters, state), new_slots


def _constrained(parameters, state):
    """The flat parameters after the update with each variable's ``constraint`` applied to its part (Keras 3
    projects constrained variables after every update; ``optimizers.apply_constraints`` is the eager path)."""
    if all(v.constraint is None for v in state.trainable):
        return parameters
    parts = []
    for i, variable in enumerate(state.trainable):
        part = ops.slice(parameters, (state.offsets[i],), (state.offsets[i + 1] - state.offsets[i],))
        if variable.constraint is not None:
            part = ops.reshape(variable.constraint(ops.reshape(part, variable.shape)), (-1,))
        parts.append(part)
    return ops.concatenate(parts)


def untraceable_reason(model):
    """Why ``model``'s training step cannot be compiled, or None."""
    from pyml.models.training import Trainer

    if type(model).train_step is not Trainer.train_step:
        return f"{type(model).__name__} overrides train_step (a custom step runs eagerly)"
    optimizer = model.optimizer
    if type(optimizer)._update is Optimizer._update:
        return f"optimizer {type(optimizer).__name__} defines update_step only (no _update rule to trace)"
    if type(optimizer).update_step is not Optimizer.update_step:
        return f"optimizer {type(optimizer).__name__} overrides update_step"
    return None


def _variable_ids(model):
    return [id(v) for v in model.trainable_weights], [id(v) for v in model.weights]


def _data(x, y, sample_weight):
    """``[(graph input name, array)]`` of a batch: ``x`` (``x0, x1, ...`` for a list), ``y``, ``sample_weight``
    (None and the None entries of a list left out)."""
    data = []
    for value, prefix in ((x, "x"), (y, "y"), (sample_weight, "sample_weight")):
        if isinstance(value, (list, tuple)):
            data += [(f"{prefix}{i}", a) for i, a in enumerate(value) if a is not None]
        elif value is not None:
            data.append((prefix, value))
    return data


def _rebuild(value, named, prefix):
    """The traced stand-ins for one batch part, in its structure (see ``_data``)."""
    if isinstance(value, (list, tuple)):
        return [None if a is None else named[f"{prefix}{i}"] for i, a in enumerate(value)]
    return None if value is None else named[prefix]


def _signature(x, y, sample_weight):
    """What a plan is traced for: each array's shape and dtype, then their names (the batch's structure)."""
    data = _data(x, y, sample_weight)
    return tuple((np.shape(a), _dtype(a)) for _, a in data) + (tuple(name for name, _ in data),)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _tensors(x):
    return [Tensor(a) for a in x] if isinstance(x, (list, tuple)) else Tensor(x)


class BatchSpec:
    """Stands for a batch array when tracing from shapes (``trace_training_graph``): ``None`` at axis 0 is the
    dynamic batch. Not a tuple, so the batch structures (``_data``) see one leaf."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype


def _spec(array):
    """``(shape, dtype)`` of a batch array, or of a ``BatchSpec``."""
    if isinstance(array, BatchSpec):
        return array.shape, array.dtype
    return np.shape(array), _dtype(array)


def _dtype(array):
    """The dtype a batch array has as a Tensor (float64 data stays float64, int64 labels become int32)."""
    array = np.asarray(array)
    if array.dtype.kind in "USO":
        raise NotTraceable("the batch holds strings; only text layers that start a Sequential or are called on "
                           "an Input run before the traced step (pyml.layers.host)")
    return dtypes.of_array(array)


__all__ = ["CompiledTrainStep", "FlatState", "NotTraceable", "StepOutputs", "TrainingGraph", "apply_update",
           "trace_training_graph", "untraceable_reason"]

# The step as an exportable graph (defined there, after this module's names, which it uses).
from pyml.models.training_graph import StepOutputs, TrainingGraph, trace_training_graph  # noqa: E402

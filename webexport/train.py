"""The training section of a bundle: ``export(model, out, train=...)`` (docs/internals.md §6, "train").

    >>> webexport.export(model, "site/model", train=dict(loss="sparse_categorical_crossentropy",
    ...                  optimizer=pyml.optimizers.Adam(1e-3), trainable="last 2"))    # doctest: +SKIP

and in the page ``await model.trainStep(x, y)`` (web/src/train.js). What is written:

- **The inference graph reads every variable as a weight of its own**, traced with each variable standing for
  a placeholder (``pyml.graph.trace.substitute``) that then becomes a labelled constant, so nothing derived from a
  variable (BatchNormalization's ``rsqrt(moving_variance + eps)``) is folded at trace time: after a training step
  the runtime copies the new values into those weights and ``predict`` computes with them.
- **The step graph** (``pyml.models.compiled_step``: forward, loss, backward, optimizer update) keeps only the
  loss, the new flat parameters, the new slots and the new state as outputs, and is lowered like any graph
  (fusion, WGSL kernels, memory plan, CPU program) into ``manifest["train"]``, itself shaped like a manifest
  (``webexport.validate`` and ``validateManifest`` check it whole) with its own weights file ``train.bin``: the
  step's constants and the initial flat parameters and state (``init_*`` entries).
- **What the host computes per step** is described, not traced: the optimizer's hyperparameters
  (``optimizer``: the constants ``hyper_values`` mirrors, as float32 arithmetic the JS runtime repeats) and
  Dropout masks (``host``: the rate).

The user's model is never changed: the step is traced on a clone (``trainable`` flags set there, compiled
there with a fresh optimizer).
"""
import json
import re

import numpy as np

from pyml import saving
from pyml.graph.ir import Graph, Node
from pyml.graph.passes import optimize
from pyml.graph.trace import substitute, trace_function
from pyml.layers import host, serialization
from webexport.kernels.common import ExportError

TRAIN_KEYS = ("loss", "optimizer", "trainable")
OPTIMIZERS = ("SGD", "Adam", "AdamW")  # the rules whose hyperparameters the runtimes compute (hyper_values)
HYPER_NAMES = {"learning_rate", "alpha", "weight_decay"}
F32 = np.float32


def training_model(model, train):
    """A compiled clone of ``model`` to trace the step on: ``train`` is True (the model's compiled loss and
    optimizer) or ``dict(loss=..., optimizer=..., trainable="last N" | [layer names])``. Checks what the
    runtimes support and raises ``ExportError`` naming what is not."""
    if train is True:
        if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
            raise ExportError("train=True uses the model's compiled loss and optimizer, but the model is not compiled: "
                              "compile it, or pass train=dict(loss=..., optimizer=...)")
        train = {"loss": model.loss, "optimizer": model.optimizer}
    if not isinstance(train, dict):
        raise ExportError(f"train must be True or a dict(loss=..., optimizer=..., trainable=...). "
                          f"Received: {type(train).__name__}")
    unknown = sorted(set(train) - set(TRAIN_KEYS))
    if unknown or "loss" not in train or "optimizer" not in train:
        raise ExportError(f"train takes loss, optimizer and optionally trainable. Received keys: {sorted(train)}")
    if not hasattr(model, "get_config") or not getattr(model, "built", False):
        raise ExportError("export(train=...) needs a built Sequential or Functional model (it is cloned from its "
                          f"config, so that export changes nothing in it). Received: {type(model).__name__}")
    if len(model.input_specs()) != 1 or len(getattr(model, "outputs", None) or [None]) != 1:
        raise ExportError("export(train=...) supports models with one input and one output (trainStep(x, y))")
    if host.chains(model):
        raise ExportError("export(train=...) does not support models that start with text layers (TextVectorization, "
                          "StringLookup): the page trains on the ids; export the model that takes them")
    clone = _clone(model)
    _set_trainable(clone, train.get("trainable"))
    clone.compile(optimizer=_fresh_optimizer(train["optimizer"]), loss=train["loss"])
    return clone


def _clone(model):
    try:
        clone = serialization.deserialize(serialization.serialize(model))
        shape = model.input_specs()[0][0]
        clone.build(shape)
        clone.set_weights(model.get_weights())
    except Exception as exc:  # any layer that does not round-trip its config: say which model and why
        raise ExportError(f"export(train=...) clones the model from its config and could not ({type(exc).__name__}: "
                          f"{exc})") from exc
    return clone


def _set_trainable(model, trainable):
    """``None``: as the model is; ``"last N"``: only the last N layers with weights; a list: those layers."""
    if trainable is None:
        return
    layers = [layer for layer in model.layers if layer.weights]
    if isinstance(trainable, str):
        match = re.fullmatch(r"last (\d+)", trainable.strip())
        if not match or not 1 <= int(match.group(1)) <= len(layers):
            raise ExportError(f'train["trainable"] must be "last N" with N in 1..{len(layers)} (the layers with '
                              f'weights) or a list of layer names. Received: {trainable!r}')
        chosen = {layer.name for layer in layers[-int(match.group(1)):]}
    elif isinstance(trainable, (list, tuple)) and all(isinstance(n, str) for n in trainable):
        names = [layer.name for layer in layers]
        missing = sorted(set(trainable) - set(names))
        if missing:
            raise ExportError(f'train["trainable"] names layers the model has no weighted layer of: {missing}. '
                              f"Its layers with weights: {names}")
        chosen = set(trainable)
    else:
        raise ExportError(f'train["trainable"] must be "last N" or a list of layer names. Received: {trainable!r}')
    for layer in layers:
        layer.trainable = layer.name in chosen


def _fresh_optimizer(optimizer):
    """A new optimizer of the same configuration (no slots, iteration 0), checked to be one the runtimes run."""
    from pyml import optimizers

    fresh = optimizers.get(optimizers.serialize(optimizer) if isinstance(optimizer, optimizers.Optimizer)
                           else optimizer)
    name = type(fresh).__name__
    if name not in OPTIMIZERS:
        raise ExportError(f"export(train=...) supports the optimizers {', '.join(OPTIMIZERS)}. Received: {name}")
    if callable(fresh._learning_rate):
        raise ExportError(f"export(train=...) needs a constant learning rate; {name} has a schedule "
                          f"({type(fresh._learning_rate).__name__}), which the runtimes do not evaluate")
    if fresh.use_ema or fresh.gradient_accumulation_steps:
        raise ExportError(f"export(train=...) does not support use_ema or gradient_accumulation_steps ({name})")
    return fresh


# ---- the inference graph, every variable a weight of its own -------------------------------------------
def inference_graph(model):
    """The inference graph (``training=False``, dynamic batch) with each variable of ``model.weights`` a
    labelled constant that the graph reads as is (see the module docstring); returns ``(graph, {constant name:
    variable index})``."""
    (shape, dtype), = model.input_specs()
    if any(d is None for d in shape[1:]):
        raise ExportError(f"export(train=...) needs a fixed input shape. Received: {tuple(shape)}")
    variables = model.weights
    names = ["x"] + [f"p{i}" for i in range(len(variables))]

    def forward(x, *values):
        with substitute(dict(zip(variables, values))):
            return model(x, training=False)

    specs = [(tuple(shape), dtype)] + [(v.shape, v.dtype) for v in variables]
    graph = trace_function(forward, specs, names=names).graph
    constants, nodes = dict(graph.constants), []
    for node in graph.nodes:
        if node.op == "placeholder" and node.name != "x":
            variable = variables[int(node.name[1:])]
            node = Node(node.name, "constant", node.shape, node.dtype, None, [], {"label": variable.name, "variable": True})
            constants[node.name] = np.array(variable.numpy())
        nodes.append(node)
    graph = optimize(Graph(nodes, ["x"], list(graph.outputs), constants))
    used = {n.name: int(n.name[1:]) for n in graph.nodes if n.op == "constant" and re.fullmatch(r"p\d+", n.name)}
    return graph, used


# ---- the step --------------------------------------------------------------------------------------------
def y_spec(output_shape, loss):
    """The targets' spec for a model output of ``output_shape`` (batch first): class ids (int32, the output's shape
    less its last axis) for a sparse loss, else the output's shape and float32."""
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    if "sparse" in str(name):
        return tuple(output_shape[:-1]), "int32"
    return tuple(output_shape), "float32"


def hyper_values(optimizer, t):
    """The ``hyper_<name>`` inputs of step ``t`` (1-based), from the section's ``optimizer`` record alone, in
    float32 as ``Optimizer.step_hyperparameters`` computes them; web/src/train.js repeats this arithmetic
    with ``Math.fround``."""
    lr = F32(optimizer["learning_rate"])
    out = {"learning_rate": lr}
    if optimizer["class"] in ("Adam", "AdamW"):
        step = F32(t)
        beta_1_power, beta_2_power = F32(optimizer["beta_1"]) ** step, F32(optimizer["beta_2"]) ** step
        out = {"alpha": lr * np.sqrt(F32(1) - beta_2_power) / (F32(1) - beta_1_power)}
    if optimizer["weight_decay"]:
        out.update(weight_decay=F32(optimizer["weight_decay"]), learning_rate=lr)
    return out


LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error"}


def loss_record(loss):
    """``{name, from_logits}``: the loss as ``evaluate`` in the page computes it (web/src/train.js ``LOSSES``);
    a name it does not know still trains (the step traced it) but ``evaluate`` refuses it."""
    if isinstance(loss, str):
        return {"name": LOSS_ALIASES.get(loss, loss), "from_logits": False}
    name = getattr(loss, "__name__", None) or re.sub(r"(?<!^)(?=[A-Z])", "_", type(loss).__name__).lower()
    return {"name": LOSS_ALIASES.get(name, name), "from_logits": bool(getattr(loss, "from_logits", False))}


def optimizer_record(optimizer):
    """What the runtimes need to compute the hyperparameters (``hyper_values``)."""
    record = {"class": type(optimizer).__name__, "learning_rate": float(optimizer.learning_rate),
              "weight_decay": float(optimizer.weight_decay) if optimizer.weight_decay else None}
    if record["class"] in ("Adam", "AdamW"):
        record.update(beta_1=float(optimizer.beta_1), beta_2=float(optimizer.beta_2))
    return record


def host_inputs(step):
    """``[{name, kind: "dropout", rate}]`` for the step's host inputs; other host values are refused."""
    from pyml.layers import Dropout

    out = []
    for name, draw in step.host_inputs.items():
        layer = getattr(draw, "layer", None)  # a DropoutMask names its layer
        if not isinstance(layer, Dropout):
            raise ExportError(f"the training step draws host input %{name} for a layer the runtimes cannot draw it "
                              "for (only Dropout masks are drawn in the browser)")
        out.append({"name": name, "kind": "dropout", "rate": layer.rate})
    return out


def step_graph(step):
    """The step graph with only what a runtime keeps as outputs: the loss, the new parameters, each new slot,
    each new state value; returns ``(graph, {input name: graph output that replaces it after a step})``."""
    graph, outs = step.graph, step.outputs
    updates = {"parameters": graph.outputs[outs.parameters]}
    updates.update((f"slot_{name}", graph.outputs[i]) for name, i in outs.slots.items())
    updates.update((f"state_{i}", graph.outputs[j]) for i, j in outs.state.items())
    kept = [graph.outputs[outs.loss]] + list(dict.fromkeys(updates.values()))
    return optimize(Graph(list(graph.nodes), list(graph.inputs), kept, dict(graph.constants))), updates


def variables_table(model, step, used):
    """Each of ``model.weights``: its name, shape, where the step keeps it (``parameters`` at an offset, or
    ``state_<i>``) and the inference weight that reads it (None when inference does not)."""
    state = step.state
    weight_of = {index: name for name, index in used.items()}
    table = []
    for i, variable in enumerate(model.weights):
        entry = {"name": variable.name, "shape": list(variable.shape), "dtype": variable.dtype,
                 "weight": weight_of.get(i)}
        where = next((k for k, v in enumerate(state.trainable) if v is variable), None)
        if where is not None:
            entry.update(source="parameters", offset=int(state.offsets[where]))
        else:
            k = next(k for k, v in enumerate(state.others) if v is variable)
            entry.update(source=f"state_{k}", offset=0)
        table.append(entry)
    return table


def save_metadata(model):
    """The safetensors ``__metadata__`` of ``pyml.saving.save_weights``, for the runtime's ``saveWeights``."""
    return {"format": saving.WEIGHTS_FORMAT, "format_version": str(saving.FORMAT_VERSION),
            "order": json.dumps([v.name for v in model.weights])}


# ---- the section ------------------------------------------------------------------------------------------
def training_section(model, inference, used):
    """``(section, shards)``: ``manifest["train"]`` for the compiled clone ``model`` (``training_model``) whose
    inference graph is ``inference`` (``inference_graph``, with ``used``), and the bytes of its weights files.
    The step takes any batch (``trace_training_graph`` with ``None`` at axis 0)."""
    from pyml.models.compiled_step import trace_training_graph
    from webexport.bundle import build_manifest
    from webexport.cpu_plan import plan_cpu
    from webexport.fusion import fuse
    from webexport.lower import lower
    from webexport.memory import plan_memory
    from webexport.weights import pack_weights

    x_spec = model.input_specs()[0]
    targets = y_spec(inference.node(inference.outputs[0]).shape, model.loss)
    try:
        step = trace_training_graph(model, x_spec, targets)
    except Exception as exc:  # NotTraceable and the tracer's errors: the step cannot be exported, say why
        raise ExportError(f"export(train=...): the training step does not trace: {exc}") from exc
    unknown = sorted(set(step.hyper_names) - HYPER_NAMES)
    if unknown:
        raise ExportError(f"export(train=...): the optimizer needs hyperparameters {unknown} the runtimes do not compute")
    graph, updates = step_graph(step)
    plan = lower(graph, fuse(graph), weights="float32")
    memory = plan_memory([(s.kernel.inputs, s.kernel.outputs) for s in plan.steps], plan.specs, graph.inputs,
                         graph.outputs, aliases=plan.aliases, external=[n for n in plan.specs if plan.is_weight(n)])
    # The starting values (NumPy even when pyml trains on a GPU); a slot starting at zero needs no bytes.
    initial = {f"init_{name}": array for name, array in step.initial_inputs().items()
               if not name.startswith("slot_") or np.any(array)}
    packed = Graph([n for n in plan.graph.nodes if n.op == "constant"]
                   + [Node(name, "constant", tuple(np.shape(a)), np.asarray(a).dtype.name) for name, a in initial.items()],
                   [], [], {**plan.graph.constants, **{k: np.asarray(a) for k, a in initial.items()}})
    shards, table = pack_weights(packed, "float32")
    for k, spec in enumerate(table["files"]):
        spec["file"] = "train.bin" if len(shards) == 1 else f"train-{k + 1}-of-{len(shards)}.bin"
    section = build_manifest(plan, memory, table)
    section["cpu"] = plan_cpu(plan.graph, dynamic_weights=True).to_json()
    section.update(
        loss=loss_record(model.loss), batch_inputs=list(step.input_names),
        optimizer=optimizer_record(model.optimizer), hyper=list(step.hyper_names),
        host=host_inputs(step), updates=updates,
        initial={name[len("init_"):]: name for name in initial},
        variables=variables_table(model, step, used), save_metadata=save_metadata(model))
    return section, shards


__all__ = ["hyper_values", "inference_graph", "loss_record", "optimizer_record", "step_graph", "training_model",
           "training_section", "y_spec"]

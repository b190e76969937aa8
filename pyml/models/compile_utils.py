"""What ``compile`` turns its arguments into, by Keras 3's rules: one loss and metric lists per model output.

- **Per output.** A single-output model takes one loss, a float ``loss_weights`` and flat metric lists. A
  model with several outputs takes one loss for every output, a list with one entry per output, or a dict
  keyed by output name (the output layer's name, ``model.output_names``); ``None`` leaves an output out of
  the loss. ``metrics``/``weighted_metrics`` are a list with one entry (a metric or a list of them) per
  output, or a dict naming some outputs.
- **Names in the logs.** ``loss`` is the weighted total; with two or more losses each output adds
  ``<output>_loss`` (unweighted). Metrics log as ``<metric>`` for one output, ``<output>_<metric>`` for
  several; a weighted metric whose name is taken already becomes ``weighted_<metric>``
  (``<output>_weighted_<metric>``).
- **Sample weights.** ``metrics`` ignore ``sample_weight``; ``weighted_metrics`` apply it; losses apply it.
- **Shape-resolved names.** ``"accuracy"``/``"acc"`` (metrics) and ``"crossentropy"``/``"ce"`` (losses)
  become their binary, sparse categorical or categorical form from the shapes of the targets and outputs,
  never from the loss: one output unit is binary; targets of lower rank, or one target column against
  several units, are sparse class ids; otherwise categorical.

    >>> from pyml.models.compile_utils import resolve_loss, resolve_metric
    >>> [type(resolve_metric("accuracy", np.zeros(shape), np.zeros((4, 3)))).__name__ for shape in [(4,), (4, 3)]]
    ['SparseCategoricalAccuracy', 'CategoricalAccuracy']
    >>> resolve_loss("ce", np.zeros((4, 1)), np.zeros((4, 1))).fn.__name__
    'binary_crossentropy'
"""
import math
import numbers

from pyml import losses, metrics
from pyml.losses.probabilistic import check_class_ids
from pyml.models import data_adapter


def model_output_names(model):
    """The names compile matches dict keys against: the keys of a functional model's dict of outputs, else the
    layers that made its outputs, a Sequential's last layer; None when the model does not say (subclassed)."""
    structure = getattr(model, "_outputs", None)
    if isinstance(structure, dict) and _symbolic(model, "outputs") is not None:
        return sorted(structure)
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    outputs = _symbolic(model, "outputs")
    if outputs is not None:
        return [t._producer.layer.name for t in outputs]
    layers = getattr(model, "_layers", None)
    if type(model).__name__ == "Sequential" and layers:
        return [layers[-1].name]
    return None


def model_input_names(model):
    """The names ``x`` given as a dict is matched against: the ``Input`` layers' names, or None."""
    inputs = _symbolic(model, "inputs")
    if inputs is not None:
        return [t._producer.layer.name for t in inputs]
    input_layer = getattr(model, "_input_layer", None)
    return [input_layer.name] if input_layer is not None else None


def _symbolic(model, attribute):
    from pyml.models.functional import Functional

    return getattr(model, attribute) if isinstance(model, Functional) else None


# ---- shape-resolved identifiers ------------------------------------------------------------------------
def _target_kind(y_true, y_pred):
    """``"binary"``, ``"sparse"`` or ``"categorical"``, from the shapes (Keras 3's rule, see the module doc)."""
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if pred_shape[-1:] == (1,):
        return "binary"
    if len(true_shape) < len(pred_shape) or (true_shape[-1:] == (1,) and pred_shape[-1:] != (1,)):
        return "sparse"
    return "categorical"


_ACCURACY = {"binary": metrics.BinaryAccuracy, "sparse": metrics.SparseCategoricalAccuracy,
             "categorical": metrics.CategoricalAccuracy}
_CROSSENTROPY = {"binary": losses.binary_crossentropy, "sparse": losses.sparse_categorical_crossentropy,
                 "categorical": losses.categorical_crossentropy}


def _is_alias(identifier, aliases):
    return isinstance(identifier, str) and identifier.lower() in aliases


class _FunctionLoss(losses.Loss):
    """A plain ``f(y_true, y_pred)`` used as a compiled loss: per-sample values, then the mean."""

    def __init__(self, fn, name=None):
        super().__init__(name=name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def resolve_loss(identifier, y_true, y_pred):
    """A ``Loss`` object for one output's ``compile(loss=...)`` entry (``"ce"`` resolved by the shapes)."""
    if _is_alias(identifier, ("crossentropy", "ce")):
        return _FunctionLoss(_CROSSENTROPY[_target_kind(y_true, y_pred)], name=identifier)
    fn = losses.get(identifier)
    return fn if isinstance(fn, losses.Loss) else _FunctionLoss(fn)


def resolve_metric(identifier, y_true, y_pred):
    """A ``Metric`` for one ``compile(metrics=...)`` entry (``"accuracy"`` resolved by the shapes)."""
    if _is_alias(identifier, ("accuracy", "acc")):
        return _ACCURACY[_target_kind(y_true, y_pred)](name=identifier)
    return metrics.get(identifier)


def metric_name(identifier):
    """The name a metric logs under: a string as given, else the metric's (or function's) own name."""
    if isinstance(identifier, str):
        return identifier
    return getattr(identifier, "name", None) or getattr(identifier, "__name__", "metric")


# ---- per-output structures -----------------------------------------------------------------------------
def _nested(value):
    return isinstance(value, (list, tuple, dict))


def _is_entry_dict(value):
    """A serialized loss or metric (``{"class_name": ...}``, ``{"function": ...}``), not a dict by output."""
    return isinstance(value, dict) and ("class_name" in value or "function" in value)


def map_entries(fn, value, with_path=False):
    """``fn`` applied to each loss or metric in a compile argument (nested lists and dicts by output name kept,
    None kept); ``with_path`` passes ``fn(entry, "[0]['name']")`` for error messages. Tuples become lists."""
    def visit(node, path):
        if node is None:
            return None
        if isinstance(node, dict) and not _is_entry_dict(node):
            return {key: visit(v, f"{path}[{key!r}]") for key, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [visit(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return fn(node, path) if with_path else fn(node)
    return visit(value, "")


def per_output(value, names, argument, partial_dict=False):
    """``value`` (one entry for all outputs, a list with one per output, or a dict by output name) as a list
    in output order. ``partial_dict``: a dict may name only some outputs (the others get None)."""
    n = len(names)
    if isinstance(value, dict):
        return data_adapter.dict_entries(value, names, argument, "output", allow_missing=partial_dict)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{argument} is a list, so it needs one entry per model output ({n}: {names}). "
                             f"Received: {argument}={value!r} ({len(value)} entries)")
        return list(value)
    return [value] * n


def loss_weights_config(loss_weights, n_outputs=1):
    """``compile(loss_weights=...)`` checked and made JSON-ready (a tuple becomes a list).

    One output takes a float, or a list/tuple/dict holding one float; several outputs take a float for all,
    a list with one per output, or a dict by output name.

    >>> from pyml.models.compile_utils import loss_weights_config
    >>> loss_weights_config((0.5,))
    [0.5]
    """
    if loss_weights is None:
        return None
    values = list(loss_weights.values()) if isinstance(loss_weights, dict) else (
        list(loss_weights) if isinstance(loss_weights, (list, tuple)) else [loss_weights])
    if _nested(loss_weights) and n_outputs == 1 and len(values) != 1:
        raise ValueError("A model with one output takes loss_weights as a float, or a one-element list or dict. "
                         f"Received: loss_weights={loss_weights!r}")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) for v in values):
        raise ValueError("loss_weights must hold finite floats (a float, or a list or dict of them). "
                         f"Received: loss_weights={loss_weights!r}")
    if isinstance(loss_weights, dict):
        return {str(key): float(value) for key, value in loss_weights.items()}
    return [float(v) for v in values] if isinstance(loss_weights, (list, tuple)) else float(values[0])


class CompileLoss:
    """The compiled loss: the sum of each output's loss times its weight.

    ``__call__(y_true, y_pred, sample_weight)`` takes lists with one entry per output (a single array for a
    one-output model); ``sample_weight`` is one array for every output or a list per output. The unweighted
    value of each output's loss is kept in ``last_values`` (Tensors, for the ``<output>_loss`` trackers).
    """

    def __init__(self, loss, loss_weights=None, output_names=None):
        self.loss, self.loss_weights, self.output_names = loss, loss_weights, output_names
        self.trackers = []
        self.last_values = []
        self._entries = None
        self._losses = None
        if output_names is not None:
            self._configure(output_names)
        else:  # the outputs are known at the first batch; the names can be checked now
            map_entries(_check_loss, loss)

    def _configure(self, names):
        single, loss = len(names) == 1, self.loss
        if single and self.output_names is None and isinstance(loss, dict) and len(loss) == 1:
            loss = list(loss.values())  # a subclassed model's one output has no name to match: any key
        entries = per_output(loss, names, "loss")
        weights = self.loss_weights
        if single and _nested(weights):
            weights = next(iter(weights.values())) if isinstance(weights, dict) else weights[0]
        weights = per_output(weights, names, "loss_weights", partial_dict=True)
        self._entries = [(e, 1.0 if w is None else float(w)) for e, w in zip(entries, weights)]
        for entry, _ in self._entries:  # fail at compile time on unknown names
            map_entries(_check_loss, entry)
        active = [name for name, (entry, _) in zip(names, self._entries) if entry is not None]
        if not active:
            raise ValueError(f"loss has no entry for any output of the model ({names}). Received: loss={self.loss!r}")
        self.names = names
        self.trackers = [metrics.Mean(name=f"{name}_loss") for name in active] if len(active) > 1 else []

    def __call__(self, y_true, y_pred, sample_weight=None):
        ys, preds = _as_outputs(y_true, y_pred)
        if self._entries is None:
            self._configure([None] if len(preds) == 1 else [f"output_{i}" for i in range(len(preds))])
        if len(preds) != len(self._entries):
            raise ValueError(f"The model returned {len(preds)} outputs, but loss was compiled for "
                             f"{len(self._entries)} ({self.names}).")
        if self._losses is None:
            self._losses = [None if entry is None else resolve_loss(entry, _need(t, n, "loss"), p)
                            for (entry, _), t, p, n in zip(self._entries, ys, preds, self.names)]
        weights = _weights_per_output(sample_weight, len(preds))
        total, self.last_values = None, []
        for loss, (_, weight), t, p, w, name in zip(self._losses, self._entries, ys, preds, weights, self.names):
            if loss is None:
                continue
            value = loss(_need(t, name, "loss"), p, w)
            self.last_values.append(value)
            value = value if weight == 1.0 else value * weight
            total = value if total is None else total + value
        return total

    def check_targets(self, y_true, y_pred):
        """The checks a loss makes on target values, for the compiled training step, whose traced loss sees no
        values: sparse class ids in range (``losses.probabilistic.check_class_ids``). Before the first batch
        has resolved the losses there is nothing to check."""
        if self._losses is None:
            return
        ys, preds = _as_outputs(y_true, y_pred)
        for loss, t, p in zip(self._losses, ys, preds):
            if t is not None and getattr(loss, "fn", None) is losses.sparse_categorical_crossentropy:
                options = getattr(loss, "_fn_kwargs", {})
                check_class_ids(t, p.shape[options.get("axis", -1)], options.get("ignore_class"))


def _check_loss(identifier):
    if not _is_alias(identifier, ("crossentropy", "ce")):
        losses.get(identifier)


def _check_metric(identifier):
    if not _is_alias(identifier, ("accuracy", "acc")):
        metrics.get(identifier)


def _as_outputs(y_true, y_pred):
    """``(targets, predictions)`` as lists with one entry per output (a dict of predictions by sorted key)."""
    if isinstance(y_pred, dict):
        keys = sorted(y_pred)
        y_pred = [y_pred[key] for key in keys]
        y_true = [y_true.get(key) for key in keys] if isinstance(y_true, dict) else y_true
    if isinstance(y_pred, (list, tuple)):
        if len(y_pred) == 1 and not isinstance(y_true, (list, tuple)):
            y_true = [y_true]
        if not isinstance(y_true, (list, tuple)) or len(y_true) != len(y_pred):
            given = f"{len(y_true)} arrays" if isinstance(y_true, (list, tuple)) else "one array"
            raise ValueError(f"The model has {len(y_pred)} outputs, so y needs one target per output, as a list "
                             f"or a dict by output name. Received: y with {given}")
        return list(y_true), list(y_pred)
    if isinstance(y_true, (list, tuple)) and len(y_true) == 1:
        y_true = y_true[0]
    return [y_true], [y_pred]


def _need(target, name, what):
    if target is None:
        raise ValueError(f"Output {name!r} has a {what} but no target: give y an entry for it. Received: y "
                         f"without {name!r}")
    return target


def _weights_per_output(sample_weight, n):
    if isinstance(sample_weight, (list, tuple)):
        if len(sample_weight) != n:
            raise ValueError(f"sample_weight as a list needs one entry per output ({n}). "
                             f"Received: {len(sample_weight)} entries")
        return list(sample_weight)
    return [sample_weight] * n


class CompileMetrics:
    """The compiled ``metrics`` and ``weighted_metrics``: per output, metric objects resolved on the first
    batch (``"accuracy"`` needs the shapes), logged under Keras 3's names (see the module docstring)."""

    def __init__(self, metrics_arg, weighted_metrics, output_names=None):
        for argument, value in (("metrics", metrics_arg), ("weighted_metrics", weighted_metrics)):
            if value and not _nested(value) and not isinstance(value, (str, metrics.Metric)) \
                    and not callable(value):
                raise ValueError(f"Expected {argument} to be a list or a dict. Received: {argument}={value!r}")
        self.user = {"metrics": metrics_arg, "weighted_metrics": weighted_metrics}
        self._identifiers = None  # {argument: per output, a list of identifiers}
        self._built = None  # {argument: per output, a list of Metric objects}
        if output_names is not None:
            self._configure(output_names)
        else:  # the outputs are known at the first batch; the names can be checked now
            map_entries(_check_metric, self.user)

    def _configure(self, names):
        self.names_by_output = names if len(names) > 1 else [None]
        self._identifiers = {arg: self._per_output(value, names, arg) for arg, value in self.user.items()}
        map_entries(_check_metric, self._identifiers)  # fail at compile time on unknown names
        self.log_names = self._log_names()

    @staticmethod
    def _per_output(value, names, argument):
        if not value:
            return [[] for _ in names]
        if len(names) == 1:  # one output: every metric applies to it, in whatever container
            flat = list(value.values()) if isinstance(value, dict) else (value if isinstance(value, (list, tuple))
                                                                         else [value])
            return [[m for entry in flat for m in (entry if isinstance(entry, (list, tuple)) else [entry])]]
        if not _nested(value) or (isinstance(value, (list, tuple)) and len(value) != len(names)):
            raise ValueError(f"The model has {len(names)} outputs ({names}): pass {argument} as a list with one "
                             f"entry (a metric or a list of metrics) per output, or a dict by output name. "
                             f"Received: {argument}={value!r}")
        entries = per_output(value, names, argument, partial_dict=True)
        return [[] if e is None else (list(e) if isinstance(e, (list, tuple)) else [e]) for e in entries]

    def _log_names(self):
        """Each metric's key in the logs, unweighted then weighted, as Keras 3 names them: a name taken
        already gets ``weighted_`` (weighted metrics) or a ``_1``, ``_2``... suffix."""
        counters, result = {}, []
        for argument in ("metrics", "weighted_metrics"):
            for output, identifiers in zip(self.names_by_output, self._identifiers[argument]):
                for identifier in identifiers:
                    base = metric_name(identifier)
                    name = f"{output}_{base}" if output else base
                    if name in counters and argument == "weighted_metrics":
                        name = f"{output}_weighted_{base}" if output else f"weighted_{base}"
                    if name in counters:
                        counters[name] += 1
                        name = f"{name}_{counters[name] - 1}"
                    else:
                        counters[name] = 1
                    result.append(name)
        return result

    @property
    def metrics(self):
        """The metric objects (empty before the first batch), unweighted then weighted."""
        if self._built is None:
            return []
        return [m for argument in ("metrics", "weighted_metrics") for ms in self._built[argument] for m in ms]

    @property
    def sub_names(self):
        """The metrics' own names (not prefixed), which Keras 3 orders ``evaluate``'s list by."""
        return [metric_name(i) for argument in ("metrics", "weighted_metrics")
                for ids in (self._identifiers or {}).get(argument, []) for i in ids]

    def update_state(self, y_true, y_pred, sample_weight=None):
        ys, preds = _as_outputs(y_true, y_pred)
        if self._identifiers is None:
            self._configure([None] if len(preds) == 1 else [f"output_{i}" for i in range(len(preds))])
        if self._built is None:
            self._built = {argument: [[resolve_metric(i, _need(t, n, "metric"), p) for i in ids]
                                      for ids, t, p, n in zip(lists, ys, preds, self.names_by_output)]
                           for argument, lists in self._identifiers.items()}
        weights = _weights_per_output(sample_weight, len(preds))
        for argument, use_weights in (("metrics", False), ("weighted_metrics", True)):
            for ms, t, p, w in zip(self._built[argument], ys, preds, weights):
                for metric in ms:
                    metric.update_state(t, p, sample_weight=w if use_weights else None)

    def reset_state(self):
        for metric in self.metrics:
            metric.reset_state()

    def result(self):
        return {name: metrics.log_value(m.result()) for name, m in zip(self.log_names, self.metrics)}


def ordered_names(names, sub_names, loss_tracker_names):
    """The order of ``evaluate``'s list, Keras 3's rule: ``loss``, the metrics' own names, the per-output
    losses (each where it is a log key), then every other key sorted by name."""
    first = [n for n in dict.fromkeys(["loss", *sub_names, *loss_tracker_names]) if n in names]
    return first + sorted(set(names) - set(first))

"""What ``compile`` turns its arguments into: one loss callable and a list of metric objects.

``"accuracy"`` means different things for different targets; as in Keras it becomes
``sparse_categorical_accuracy`` for a sparse cross-entropy loss, ``categorical_accuracy`` for a
categorical one and ``binary_accuracy`` for binary cross-entropy; with any other loss it is decided
from the shapes of the first batch (one output unit: binary; integer ids: sparse; else categorical).
"""
import math
import numbers

from pyml import losses, metrics

_ACCURACY_BY_LOSS = {
    "sparse_categorical_crossentropy": metrics.sparse_categorical_accuracy,
    "categorical_crossentropy": metrics.categorical_accuracy,
    "binary_crossentropy": metrics.binary_accuracy,
}


def loss_name(loss):
    """The Keras name of a loss given as a string, function or ``Loss`` instance (None if custom)."""
    if isinstance(loss, str):
        fn = losses.get(loss)
        return getattr(fn, "__name__", None) or getattr(fn, "name", None)
    if isinstance(loss, losses.LossFunctionWrapper):
        return type(loss).fn.__name__
    return getattr(loss, "__name__", None)


class _FunctionLoss(losses.Loss):
    """A plain ``f(y_true, y_pred)`` used as a compiled loss: per-sample values, then the mean."""

    def __init__(self, fn):
        super().__init__(name=getattr(fn, "__name__", "loss"))
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


def compiled_loss(loss):
    """A ``Loss`` object for ``compile(loss=...)``: a name, a function or a ``Loss`` instance."""
    fn = losses.get(loss)
    return fn if isinstance(fn, losses.Loss) else _FunctionLoss(fn)


def loss_weights_config(loss_weights):
    """``compile(loss_weights=...)`` checked for a single-output model and made JSON-ready.

    As in Keras, a single output takes a float, or a list/tuple/dict holding one float; the
    result keeps that form (a tuple becomes a list) so the compile config round-trips.

    >>> loss_weights_config((0.5,))
    [0.5]
    """
    if loss_weights is None:
        return None
    if isinstance(loss_weights, (list, tuple, dict)):
        if len(loss_weights) != 1:
            raise ValueError("pyml models have one output, so loss_weights must be a float or hold one float "
                             f"(a one-element list or dict). Received: loss_weights={loss_weights!r}")
        values = list(loss_weights.values()) if isinstance(loss_weights, dict) else list(loss_weights)
    else:
        values = [loss_weights]
    if isinstance(values[0], bool) or not isinstance(values[0], numbers.Real) or not math.isfinite(values[0]):
        raise ValueError("loss_weights must be a finite float, or a one-element list or dict of one. "
                         f"Received: loss_weights={loss_weights!r}")
    if isinstance(loss_weights, dict):
        return {str(key): float(value) for key, value in loss_weights.items()}
    return [float(values[0])] if isinstance(loss_weights, (list, tuple)) else float(values[0])


def loss_weight(config):
    """The single float a ``loss_weights_config`` result scales the loss by (1.0 for None)."""
    if config is None:
        return 1.0
    if isinstance(config, dict):
        return next(iter(config.values()))
    return config[0] if isinstance(config, list) else config


class CompiledMetrics:
    """The compiled metrics, resolved on the first batch (``"accuracy"`` needs the loss or the shapes)."""

    def __init__(self, identifiers, loss=None):
        if identifiers is None:
            identifiers = []
        if isinstance(identifiers, dict):
            raise ValueError("pyml models have one output: pass metrics as a list. "
                             f"Received: metrics={identifiers!r}")
        if not isinstance(identifiers, (list, tuple)):
            identifiers = [identifiers]
        self.identifiers = list(identifiers)
        self.loss_name = loss_name(loss) if loss is not None else None
        self.metrics = None
        for identifier in self.identifiers:  # fail at compile time on unknown names
            if not _is_accuracy(identifier):
                metrics.get(identifier)

    def build(self, y_true, y_pred):
        self.metrics = [self._resolve(identifier, y_true, y_pred) for identifier in self.identifiers]

    def _resolve(self, identifier, y_true, y_pred):
        if not _is_accuracy(identifier):
            return metrics.get(identifier)
        fn = _ACCURACY_BY_LOSS.get(self.loss_name)
        if fn is None:
            if y_pred.shape[-1] == 1:
                fn = metrics.binary_accuracy
            elif y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
                fn = metrics.sparse_categorical_accuracy
            else:
                fn = metrics.categorical_accuracy
        return metrics.MeanMetricWrapper(fn, name=identifier)

    @property
    def names(self):
        if self.metrics is not None:
            return [m.name for m in self.metrics]
        return [i if isinstance(i, str) else getattr(i, "name", getattr(i, "__name__", "metric"))
                for i in self.identifiers]

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.metrics is None:
            self.build(y_true, y_pred)
        for metric in self.metrics:
            metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def reset_state(self):
        for metric in self.metrics or []:
            metric.reset_state()

    def result(self):
        return {m.name: metrics.log_value(m.result()) for m in self.metrics or []}


def _is_accuracy(identifier):
    return isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc")

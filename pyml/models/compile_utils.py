"""What ``compile`` turns its arguments into: one loss callable and a list of metric objects.

``"accuracy"`` means different things for different targets; as in Keras it becomes
``sparse_categorical_accuracy`` for a sparse cross-entropy loss, ``categorical_accuracy`` for a
categorical one and ``binary_accuracy`` for binary cross-entropy; with any other loss it is decided
from the shapes of the first batch (one output unit: binary; integer ids: sparse; else categorical).
"""
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
        return {m.name: float(m.result()) for m in self.metrics or []}


def _is_accuracy(identifier):
    return isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc")

"""Metrics, Keras semantics: stateless functions (one value per sample) and stateful classes.

A metric object accumulates over batches with ``update_state``, reports with ``result`` and starts
over with ``reset_state``; ``fit`` and ``evaluate`` keep one per compiled metric.

    >>> m = pyml.metrics.SparseCategoricalAccuracy()
    >>> m.update_state(np.array([1, 0]), np.array([[0.1, 0.9], [0.3, 0.7]], "float32"))
    >>> m.result()
    0.5
    >>> pyml.metrics.sparse_categorical_accuracy(np.array([1]), np.array([[0.1, 0.9]], "float32")).numpy()
    array([1.], dtype=float32)
"""
import math
import numbers

from pyml import losses, ops


def _matches(a, b):
    if a.dtype != b.dtype:
        a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
    return ops.cast(ops.equal(a, b), "float32")


def accuracy(y_true, y_pred):
    """1 where ``y_pred == y_true`` exactly, else 0 (per element).

    >>> pyml.metrics.accuracy(np.array([1, 2]), np.array([1, 3])).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = losses.match_ranks(y_true, y_pred)
    return _matches(y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Fraction of entries where ``y_pred > threshold`` agrees with the 0/1 ``y_true`` (mean over the last axis).

    >>> pyml.metrics.binary_accuracy(np.array([[1.0], [0.0]]), np.array([[0.7], [0.6]], "float32")).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = losses.match_ranks(y_true, y_pred)
    predicted = ops.cast(ops.greater(y_pred, threshold), "float32")
    return ops.mean(_matches(ops.cast(y_true, "float32"), predicted), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets), per sample.

    >>> pyml.metrics.categorical_accuracy(np.array([[0, 1]]), np.array([[0.3, 0.7]], "float32")).numpy()
    array([1.], dtype=float32)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    return _matches(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1))


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where ``argmax(y_pred) == y_true`` (integer class ids), per sample.

    >>> pyml.metrics.sparse_categorical_accuracy(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]])).numpy()
    array([1., 0.], dtype=float32)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return _matches(y_true, ops.argmax(y_pred, axis=-1))


class Metric:
    """Base class: ``update_state(...)`` accumulates, ``result()`` reports a Python float, ``reset_state()``.

    Calling a metric updates it and returns the result.

    Args:
        name: the name in logs and History.
        dtype: kept for Keras compatibility (results are Python floats).

    >>> class Count(pyml.metrics.Metric):
    ...     def __init__(self, name="count"):
    ...         super().__init__(name=name)
    ...         self.reset_state()
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.seen += len(y_true)
    ...     def result(self):
    ...         return float(self.seen)
    ...     def reset_state(self):
    ...         self.seen = 0
    >>> Count()([1, 0, 1], [1, 1, 1])
    3.0
    """

    def __init__(self, name=None, dtype=None):
        from pyml.layers.base import to_snake_case

        self.name = name or to_snake_case(type(self).__name__)
        self.dtype = dtype or "float32"

    def update_state(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """Running (weighted) mean of the values passed to ``update_state``.

    >>> m = pyml.metrics.Mean()
    >>> m.update_state([1.0, 3.0]); m.update_state([5.0])
    >>> m.result()
    3.0
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0.0

    def update_state(self, values, sample_weight=None):
        if isinstance(values, (int, float)) and isinstance(sample_weight, (int, float, type(None))):
            weight = 1.0 if sample_weight is None else float(sample_weight)
            self.total += float(values) * weight
            self.count += weight
            return
        values = ops.convert_to_tensor(values)
        if sample_weight is None:
            self.total += float(ops.sum(values))
            self.count += values.size
            return
        weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        while weight.ndim > values.ndim and weight.shape[-1] == 1:
            weight = ops.squeeze(weight, -1)
        while weight.ndim < values.ndim:
            weight = ops.expand_dims(weight, -1)
        weight = ops.broadcast_to(weight, values.shape)
        self.total += float(ops.sum(ops.multiply(ops.cast(values, "float32"), weight)))
        self.count += float(ops.sum(weight))

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)`` over all samples seen.

    >>> m = pyml.metrics.MeanMetricWrapper(pyml.metrics.accuracy, name="acc")
    >>> m.update_state(np.array([1, 2]), np.array([1, 2]))
    >>> m.result()
    1.0
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric"), dtype=dtype)
        self._fn, self._fn_kwargs = fn, kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


def _wrapper_class(class_name, fn, default_name, doc, example, **defaults):
    def __init__(self, name=default_name, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})

    y_true, y_pred, result = example
    doc += (f"\n\n    >>> m = pyml.metrics.{class_name}()\n    >>> m.update_state({y_true}, {y_pred})\n"
            f"    >>> m.result()\n    {result}\n    ")
    return type(class_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Accuracy = _wrapper_class("Accuracy", accuracy, "accuracy", "How often predictions equal targets exactly.",
                          ("[1, 2, 3, 4]", "[1, 2, 0, 4]", "0.75"))
BinaryAccuracy = _wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                                "How often ``y_pred > threshold`` matches 0/1 targets (``threshold=0.5``).",
                                ("[[1.0], [0.0]]", "[[0.7], [0.6]]", "0.5"), threshold=0.5)
CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy",
                                     "How often the arg-max prediction matches one-hot targets.",
                                     ("[[0, 1], [1, 0]]", "[[0.3, 0.7], [0.4, 0.6]]", "0.5"))
SparseCategoricalAccuracy = _wrapper_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                           "sparse_categorical_accuracy",
                                           "How often the arg-max prediction matches integer class ids.",
                                           ("[1, 0]", "[[0.3, 0.7], [0.4, 0.6]]", "0.5"))
MeanSquaredError = _wrapper_class("MeanSquaredError", losses.mean_squared_error, "mean_squared_error",
                                  "Running mean of ``mean_squared_error`` over samples.",
                                  ("[[0.0, 1.0]]", "[[1.0, 1.0]]", "0.5"))
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", losses.mean_absolute_error, "mean_absolute_error",
                                   "Running mean of ``mean_absolute_error`` over samples.",
                                   ("[[0.0, 1.0]]", "[[1.0, 3.0]]", "1.5"))


class RootMeanSquaredError(Mean):
    """``sqrt`` of the running mean of squared errors.

    >>> m = pyml.metrics.RootMeanSquaredError()
    >>> m.update_state(np.array([0.0, 0.0]), np.array([3.0, 4.0]))
    >>> round(m.result(), 4)
    3.5355
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = losses.match_ranks(y_true, ops.cast(ops.convert_to_tensor(y_pred), "float32"))
        super().update_state(ops.square(ops.subtract(y_pred, ops.cast(y_true, "float32"))), sample_weight)

    def result(self):
        return math.sqrt(super().result())


class _ConfusionRatio(Metric):
    """Shared by ``Precision`` and ``Recall``: running (weighted) counts of thresholded binary predictions.

    A prediction is positive when ``y_pred > thresholds``; a target is positive when it is nonzero.
    """

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if thresholds is not None and (isinstance(thresholds, bool) or not isinstance(thresholds, numbers.Real)):
            raise ValueError(f"{type(self).__name__} takes one threshold (a float, default 0.5); lists of thresholds "
                             f"are not supported yet. Received: thresholds={thresholds!r}")
        self.thresholds = 0.5 if thresholds is None else float(thresholds)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.predicted_positives = self.actual_positives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = losses.match_ranks(y_true, y_pred)
        predicted = ops.cast(ops.greater(y_pred, self.thresholds), "float32")
        # as Keras (metrics_utils casts y_true to bool), any nonzero target counts as positive
        actual = ops.cast(ops.not_equal(ops.cast(y_true, "float32"), 0.0), "float32")
        if sample_weight is not None:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            while weight.ndim < actual.ndim:
                weight = ops.expand_dims(weight, -1)
            actual = ops.multiply(actual, weight)  # weights each sample once in every count below
            self.predicted_positives += float(ops.sum(ops.multiply(predicted, weight)))
        else:
            self.predicted_positives += float(ops.sum(predicted))
        self.true_positives += float(ops.sum(ops.multiply(predicted, actual)))
        self.actual_positives += float(ops.sum(actual))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds}


class Precision(_ConfusionRatio):
    """Of the entries predicted positive (``y_pred > thresholds``, default 0.5), the fraction truly positive.

    >>> m = pyml.metrics.Precision()
    >>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]))
    >>> m.result()
    0.5
    """

    def __init__(self, thresholds=None, name="precision", dtype=None):
        super().__init__(thresholds, name, dtype)

    def result(self):
        return self.true_positives / self.predicted_positives if self.predicted_positives else 0.0


class Recall(_ConfusionRatio):
    """Of the truly positive entries, the fraction predicted positive (``y_pred > thresholds``).

    >>> m = pyml.metrics.Recall()
    >>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]))
    >>> m.result()
    0.5
    """

    def __init__(self, thresholds=None, name="recall", dtype=None):
        super().__init__(thresholds, name, dtype)

    def result(self):
        return self.true_positives / self.actual_positives if self.actual_positives else 0.0


_FUNCTIONS = {fn.__name__: fn for fn in (accuracy, binary_accuracy, categorical_accuracy,
                                         sparse_categorical_accuracy)}
_CLASSES = {cls.__name__: cls for cls in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, RootMeanSquaredError, Precision, Recall)}
_NAMES = {"accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy,
          "categorical_accuracy": CategoricalAccuracy, "sparse_categorical_accuracy": SparseCategoricalAccuracy,
          "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
          "mae": MeanAbsoluteError, "root_mean_squared_error": RootMeanSquaredError, "precision": Precision,
          "recall": Recall}


def serialize(metric):
    """A JSON-ready description: a name, or ``{"class_name", "config"}`` for a metric object.

    >>> pyml.metrics.serialize(pyml.metrics.Accuracy())
    {'class_name': 'Accuracy', 'config': {'name': 'accuracy', 'dtype': 'float32'}}
    """
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    return getattr(metric, "__name__", str(metric))


def get(identifier, custom_objects=None):
    """A ``Metric`` object from a name (``"accuracy"``, ``"mae"``, a loss name, a class name), a dict,
    a ``Metric``, or a function ``f(y_true, y_pred)`` (wrapped in ``MeanMetricWrapper``).

    ``compile`` resolves ``"accuracy"`` from the shapes of targets and outputs (``pyml.models.compile_utils``).

    >>> pyml.metrics.get("mae")
    <MeanAbsoluteError name=mae>
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = custom_objects.get(name) or _CLASSES.get(name)
        if cls is None:
            raise ValueError(f"Unknown metric class: known ones are {', '.join(sorted(_CLASSES))}. "
                             f"Received: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or _NAMES.get(identifier) or _CLASSES.get(identifier)
        if isinstance(found, type):
            return found(name=identifier) if identifier in _NAMES else found()
        if callable(found):
            return MeanMetricWrapper(found, name=identifier)
        try:
            return MeanMetricWrapper(losses.get(identifier), name=identifier)
        except ValueError:
            pass
        known = sorted(set(_NAMES) | set(_CLASSES) | {"binary_crossentropy", "categorical_crossentropy",
                                                      "sparse_categorical_crossentropy"})
        raise ValueError(f"Unknown metric: known ones are {', '.join(known)}. Received: metric={identifier!r}")
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    raise ValueError(f"Expected a metric name, a Metric or a function. Received: metric={identifier!r}")

"""Metrics, Keras semantics: stateless functions (one value per sample) and stateful classes.

A metric object accumulates over batches with ``update_state``, reports with ``result`` and starts
over with ``reset_state``; ``fit`` and ``evaluate`` keep one per compiled metric. Results are Python
floats, or NumPy arrays for vector results (``F1Score(average=None)``, ``Precision(thresholds=[...])``).

    >>> m = pyml.metrics.SparseCategoricalAccuracy()
    >>> m.update_state(np.array([1, 0]), np.array([[0.1, 0.9], [0.3, 0.7]], "float32"))
    >>> m.result()
    0.5
    >>> pyml.metrics.sparse_categorical_accuracy(np.array([1]), np.array([[0.1, 0.9]], "float32")).numpy()
    array([1.], dtype=float32)

Modules: ``base`` (Metric, Mean, MeanMetricWrapper), ``accuracy``, ``regression``, ``probabilistic``
(cross-entropies, KL, Poisson, hinges), ``confusion`` (counters, Precision, Recall, X-at-Y), ``auc``, ``iou``,
``f_score``; ``thresholds`` holds the shared confusion counting.
"""
from pyml import configurable, losses
from pyml.layers.base import to_snake_case
from pyml.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                   SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, accuracy, binary_accuracy,
                                   categorical_accuracy, sparse_categorical_accuracy,
                                   sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from pyml.metrics.auc import AUC
from pyml.metrics.base import Mean, MeanMetricWrapper, Metric, log_value
from pyml.metrics.confusion import (FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
                                    RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity,
                                    TrueNegatives, TruePositives)
from pyml.metrics.f_score import F1Score, FBetaScore
from pyml.metrics.iou import IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from pyml.metrics.probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, Hinge,
                                        KLDivergence, Poisson, SparseCategoricalCrossentropy, SquaredHinge,
                                        categorical_hinge, hinge, kl_divergence, poisson, squared_hinge)
from pyml.metrics.regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError,
                                     MeanSquaredError, MeanSquaredLogarithmicError, R2Score, RootMeanSquaredError,
                                     cosine_similarity, log_cosh, mean_absolute_percentage_error,
                                     mean_squared_logarithmic_error)

_FUNCTIONS = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, mean_absolute_percentage_error, mean_squared_logarithmic_error, log_cosh,
    cosine_similarity, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge)}
_CLASSES = {cls.__name__: cls for cls in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, CosineSimilarity, LogCoshError, R2Score, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, TruePositives, FalsePositives, TrueNegatives, FalseNegatives, Precision, Recall,
    PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, AUC, F1Score,
    FBetaScore, IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU)}
# as Keras: every class by its snake-case name ("auc", "f1_score", "mean_io_u"), plus the short aliases
_NAMES = {**{to_snake_case(name): cls for name, cls in _CLASSES.items()},
          "acc": Accuracy, "mse": MeanSquaredError, "mae": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
          "msle": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "logcosh": LogCoshError}


def serialize(metric):
    """A JSON-ready description: a name, or ``{"class_name", "config"}`` for a metric object.

    >>> pyml.metrics.serialize(pyml.metrics.Accuracy())
    {'class_name': 'Accuracy', 'config': {'name': 'accuracy', 'dtype': 'float32'}}
    """
    if isinstance(metric, Metric):
        return configurable.serialize(metric)
    return getattr(metric, "__name__", str(metric))


def _construct(cls, identifier, **kwargs):
    try:
        return cls(**kwargs)
    except TypeError as exc:  # e.g. "mean_io_u": MeanIoU needs num_classes
        raise ValueError(f"Metric {identifier!r} ({cls.__name__}) needs arguments: pass an instance such as "
                         f"pyml.metrics.{cls.__name__}(...) ({exc})") from None


def get(identifier, custom_objects=None):
    """A ``Metric`` object from a name (``"accuracy"``, ``"mae"``, ``"auc"``, a loss name, a class name), a dict,
    a ``Metric``, or a function ``f(y_true, y_pred)`` (wrapped in ``MeanMetricWrapper``).

    A snake-case name or alias becomes the metric's name in logs (``"mae"`` logs as ``mae``).
    ``compile`` resolves ``"accuracy"`` from the shapes of targets and outputs (``pyml.models.compile_utils``).

    >>> pyml.metrics.get("mae")
    <MeanAbsoluteError name=mae>
    >>> pyml.metrics.get("auc")
    <AUC name=auc>
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return configurable.from_class_dict(identifier, "metric", _CLASSES, custom_objects)
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or _NAMES.get(identifier) or _CLASSES.get(identifier)
        if isinstance(found, type):
            return _construct(found, identifier, **({"name": identifier} if identifier in _NAMES else {}))
        if callable(found):
            return MeanMetricWrapper(found, name=identifier)
        try:
            return MeanMetricWrapper(losses.get(identifier), name=identifier)
        except ValueError:
            pass
        known = sorted(set(_NAMES) | set(_CLASSES))
        raise ValueError(f"Unknown metric: known ones are {', '.join(known)}. Received: metric={identifier!r}")
    if callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return _construct(identifier, identifier.__name__)
    raise ValueError(f"Expected a metric name, a Metric or a function. Received: metric={identifier!r}")


__all__ = ["Metric", "Mean", "MeanMetricWrapper", "log_value", "serialize", "get",
           *sorted(_CLASSES.keys() - {"Mean"}), *sorted(_FUNCTIONS)]

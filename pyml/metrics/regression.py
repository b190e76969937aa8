"""Regression metrics: running means of per-sample errors, ``RootMeanSquaredError`` and ``R2Score``.

The per-sample functions (``mean_absolute_percentage_error``, ``log_cosh``, ...) are NumPy formulas with Keras'
epsilons; metrics need values, not gradients.
"""
import warnings

import numpy as np

from pyml import losses, ops
from pyml.metrics.base import EPSILON, Metric, Mean, broadcast_weights, match_ranks, to_numpy, wrapper_class


def _pair(y_true, y_pred):
    y_pred = to_numpy(y_pred, "float64")
    return match_ranks(to_numpy(y_true, "float64"), y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7))`` over the last axis, per sample.

    >>> pyml.metrics.mean_absolute_percentage_error(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]])).numpy()
    array([37.5], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    error = np.abs(y_true - y_pred) / np.maximum(np.abs(y_true), EPSILON)
    return ops.convert_to_tensor((100.0 * np.mean(error, axis=-1)).astype("float32"))


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(1 + y_pred) - log(1 + y_true))**2)`` over the last axis, values below 1e-7 clipped to it.

    >>> np.round(pyml.metrics.mean_squared_logarithmic_error(np.array([[0.0]]), np.array([[np.e - 1]])).numpy(), 4)
    array([1.], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    diff = np.log1p(np.maximum(y_pred, EPSILON)) - np.log1p(np.maximum(y_true, EPSILON))
    return ops.convert_to_tensor(np.mean(np.square(diff), axis=-1).astype("float32"))


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)))`` over the last axis, written to stay finite for large errors.

    >>> np.round(pyml.metrics.log_cosh(np.array([[0.0, 0.0]]), np.array([[1.0, -1.0]])).numpy(), 4)
    array([0.4338], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    # log(cosh(x)) = x + log(1 + exp(-2x)) - log(2); logaddexp keeps it finite for |x| in the hundreds
    return ops.convert_to_tensor(np.mean(x + np.logaddexp(0.0, -2.0 * x) - np.log(2.0), axis=-1).astype("float32"))


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``, per sample (1: same direction).

    >>> pyml.metrics.cosine_similarity(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])).numpy()
    array([0., 1.], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)

    def normalize(x):  # as l2_normalize: a zero vector stays zero
        return x / np.sqrt(np.maximum(np.sum(np.square(x), axis=axis, keepdims=True), 1e-12))

    return ops.convert_to_tensor(np.sum(normalize(y_true) * normalize(y_pred), axis=axis).astype("float32"))


MeanSquaredError = wrapper_class("MeanSquaredError", losses.mean_squared_error, "mean_squared_error",
                                 "Running mean of ``mean_squared_error`` over samples.",
                                 ("[[0.0, 1.0]]", "[[1.0, 1.0]]", "0.5"), __name__)
MeanAbsoluteError = wrapper_class("MeanAbsoluteError", losses.mean_absolute_error, "mean_absolute_error",
                                  "Running mean of ``mean_absolute_error`` over samples.",
                                  ("[[0.0, 1.0]]", "[[1.0, 3.0]]", "1.5"), __name__)
MeanAbsolutePercentageError = wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, "mean_absolute_percentage_error",
    "Running mean of ``mean_absolute_percentage_error`` (percent) over samples.",
    ("[[2.0, 4.0]]", "[[1.0, 5.0]]", "37.5"), __name__)
MeanSquaredLogarithmicError = wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, "mean_squared_logarithmic_error",
    "Running mean of ``mean_squared_logarithmic_error`` over samples.", ("[[0.0]]", "[[1.0]]", "0.4805"), __name__)
LogCoshError = wrapper_class("LogCoshError", log_cosh, "logcosh", "Running mean of ``log_cosh`` over samples.",
                             ("[[0.0, 0.0]]", "[[1.0, -1.0]]", "0.4338"), __name__)
CosineSimilarity = wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity",
                                 "Running mean of ``cosine_similarity`` along ``axis`` (default -1).",
                                 ("[[0.0, 1.0], [1.0, 1.0]]", "[[1.0, 0.0], [1.0, 1.0]]", "0.5"), __name__, axis=-1)


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
        y_true, y_pred = _pair(y_true, y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight)

    def result(self):
        return float(np.sqrt(super().result()))


_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """The coefficient of determination, ``1 - sum(w (y - y_pred)^2) / sum(w (y - mean_w(y))^2)`` per output
    column, over all batches seen.

    Args:
        class_aggregation: ``"uniform_average"`` (mean over columns), ``"variance_weighted_average"`` (weighted
            by each column's variance) or None (one score per column, an array).
        num_regressors: when > 0, the adjusted R² ``1 - (1 - r2) (n - 1) / (n - p - 1)``, where ``n`` counts
            the entries of ``y_true`` seen (Keras counts entries, not rows).

    Targets and predictions are ``(batch, outputs)``; ``(batch,)`` targets against ``(batch, 1)`` match.

    >>> m = pyml.metrics.R2Score()
    >>> m.update_state(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [2.0]]))
    >>> m.result()
    0.5
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in _AGGREGATIONS:
            raise ValueError(f"R2Score: invalid `class_aggregation`; expected one of {_AGGREGATIONS}. "
                             f"Received: class_aggregation={class_aggregation!r}")
        if isinstance(num_regressors, bool) or not isinstance(num_regressors, int) or num_regressors < 0:
            raise ValueError(f"R2Score: `num_regressors` must be an integer >= 0. "
                             f"Received: num_regressors={num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self.reset_state()

    def reset_state(self):
        self.sum = self.squared_sum = self.residual = self.count = None
        self.num_samples = 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _pair(y_true, y_pred)
        if y_true.ndim != 2 or y_pred.shape != y_true.shape:
            raise ValueError("R2Score expects y_true and y_pred of one shape (batch_size, outputs). Received: "
                             f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        if self.sum is not None and self.sum.shape[0] != y_true.shape[1]:
            raise ValueError(f"R2Score saw {self.sum.shape[0]} outputs before and {y_true.shape[1]} now "
                             "(call reset_state between data sets)")
        weight = broadcast_weights(sample_weight, y_true.shape)
        parts = (np.sum(weight * y_true, 0), np.sum(weight * y_true ** 2, 0), np.sum(weight * (y_true - y_pred) ** 2, 0),
                 np.sum(weight, 0))
        if self.sum is None:
            self.sum, self.squared_sum, self.residual, self.count = parts
        else:
            self.sum, self.squared_sum, self.residual, self.count = (
                a + b for a, b in zip((self.sum, self.squared_sum, self.residual, self.count), parts))
        self.num_samples += y_true.size

    def result(self):
        if self.sum is None:
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            total = self.squared_sum - self.sum * (self.sum / self.count)
            raw = 1.0 - self.residual / total
        raw = np.where(np.isinf(raw), 0.0, raw)  # a constant column: Keras reports 0 rather than -inf
        if self.class_aggregation == "uniform_average":
            r2 = np.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = np.sum(total * raw) / np.sum(total)
        else:
            r2 = raw
        n, p = self.num_samples, self.num_regressors
        if p and p >= n - 1:
            warnings.warn(f"R2Score: num_regressors={p} needs more than {p + 1} samples for the adjusted score "
                          f"(seen {n}); reporting the plain R2", stacklevel=2)
        elif p:
            r2 = 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)
        return float(r2) if np.ndim(r2) == 0 else r2

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}

"""``FBetaScore`` and ``F1Score``: the F-score of multi-label or one-hot predictions, per class or averaged."""
import numpy as np

from pyml.metrics.base import EPSILON, Metric, broadcast_weights, check_real, to_numpy

AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """``(1 + beta²) · precision · recall / (beta² · precision + recall)`` over all batches seen.

    Args:
        average: None (one score per class, an array), ``"micro"`` (counts pooled over classes), ``"macro"``
            (mean of the per-class scores) or ``"weighted"`` (weighted by each class's true count).
        beta: how much more recall weighs than precision (a float > 0).
        threshold: an entry is predicted positive when ``y_pred > threshold``; None marks each row's highest
            score(s) instead (single-label data).

    Targets and predictions are ``(batch, classes)``: one-hot or multi-hot targets, scores.
    As Keras, 1e-7 is added to each denominator, so an empty class scores 0.

    >>> m = pyml.metrics.FBetaScore(beta=2.0, threshold=0.5)
    >>> m.update_state(np.array([[1, 0], [1, 1]]), np.array([[0.7, 0.6], [0.2, 0.9]]))
    >>> np.round(m.result(), 4)
    array([0.5556, 0.8333])
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if average not in AVERAGES:
            raise ValueError(f"{owner}: invalid `average`; expected one of {AVERAGES}. Received: average={average!r}")
        self.average = average
        self.beta = check_real(beta, "beta", owner, 0.0, None, low_open=True)
        self.threshold = None if threshold is None else check_real(threshold, "threshold", owner, 0.0, 1.0,
                                                                   low_open=True)
        self.reset_state()

    def reset_state(self):
        self.true_positives = self.false_positives = self.false_negatives = self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = to_numpy(y_true, "float64"), to_numpy(y_pred, "float32")
        if y_true.ndim != 2 or y_pred.shape != y_true.shape:
            raise ValueError(f"{type(self).__name__} expects y_true and y_pred of one shape (batch_size, classes). "
                             f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        if self.true_positives is not None and self.true_positives.shape[-1:] not in ((), y_pred.shape[-1:]):
            raise ValueError(f"{type(self).__name__} saw {self.true_positives.shape[-1]} classes before and "
                             f"{y_pred.shape[-1]} now (call reset_state between data sets)")
        if self.threshold is None:
            # the row's maximum (all of its ties) is the prediction; an all-zero row predicts nothing
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype("float64")
        weight = broadcast_weights(sample_weight, y_true.shape)
        axis = None if self.average == "micro" else 0
        parts = [np.sum(v * weight, axis=axis) for v in (predicted * y_true, predicted * (1 - y_true),
                                                         (1 - predicted) * y_true, y_true)]
        if self.true_positives is None:
            self.true_positives, self.false_positives, self.false_negatives, self.intermediate_weights = parts
        else:
            self.true_positives, self.false_positives, self.false_negatives, self.intermediate_weights = (
                a + b for a, b in zip((self.true_positives, self.false_positives, self.false_negatives,
                                       self.intermediate_weights), parts))

    def result(self):
        if self.true_positives is None:
            return 0.0
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + EPSILON)
        recall = tp / (tp + self.false_negatives + EPSILON)
        beta2 = self.beta ** 2
        score = (1 + beta2) * precision * recall / (beta2 * precision + recall + EPSILON)
        if self.average == "weighted":
            weights = self.intermediate_weights / (np.sum(self.intermediate_weights) + EPSILON)
            return float(np.sum(score * weights))
        if self.average is not None:
            return float(np.mean(score))
        return score

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """``FBetaScore`` with ``beta=1``: the harmonic mean of precision and recall.

    >>> m = pyml.metrics.F1Score(average="micro", threshold=0.5)
    >>> m.update_state(np.array([[1, 0], [1, 1]]), np.array([[0.7, 0.6], [0.2, 0.9]]))
    >>> round(m.result(), 4)
    0.6667
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config

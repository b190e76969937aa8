"""Metrics over thresholded confusion counts: the four counters, Precision, Recall, and the
"X at fixed Y" family (PrecisionAtRecall, RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity).

With one threshold the result is a Python float; with a list of thresholds it is a NumPy array, one value per
threshold, as Keras returns a vector.
"""
import numbers

import numpy as np

from pyml.metrics.base import Metric, check_real
from pyml.metrics.thresholds import (NEG_INF, ConfusionState, check_thresholds, confusion_counts, divide_no_nan,
                                     evenly_spaced)


def _per_threshold(values):
    return float(values[0]) if values.shape == (1,) else values


class _ThresholdedMetric(Metric):
    """Running confusion counts at ``self.thresholds`` (a list), with optional ``top_k`` and ``class_id``."""

    top_k = class_id = None

    def _set_thresholds(self, thresholds, default=0.5):
        self.thresholds = [default] if thresholds is None else check_thresholds(thresholds, type(self).__name__)
        # the config keeps the form given (None, one float or a list) as Keras' does, JSON-ready
        self.init_thresholds = thresholds if thresholds is None else (
            self.thresholds if isinstance(thresholds, (list, tuple, np.ndarray)) else self.thresholds[0])
        self._clip = evenly_spaced(self.thresholds)
        self._state = ConfusionState()

    def _check_slicing(self, top_k, class_id):
        for argument, value in (("top_k", top_k), ("class_id", class_id)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                      or value < (1 if argument == "top_k" else 0)):
                raise ValueError(f"{type(self).__name__}: `{argument}` must be None or an integer "
                                 f"{'>= 1' if argument == 'top_k' else '>= 0'}. Received: {argument}={value!r}")
        self.top_k, self.class_id = top_k, class_id

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._state.add(confusion_counts(y_true, y_pred, self.thresholds, sample_weight, top_k=self.top_k,
                                         class_id=self.class_id, clip=self._clip, owner=type(self).__name__))

    def reset_state(self):
        self._state.reset()

    def _counts(self):
        if self._state.tp is None:
            zeros = np.zeros(len(self.thresholds))
            return zeros, zeros, zeros, zeros
        return self._state.tp, self._state.fp, self._state.tn, self._state.fn


class _Counter(_ThresholdedMetric):
    _field = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._set_thresholds(thresholds)

    def result(self):
        return _per_threshold(self._counts()[self._field])

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


def _counter(class_name, field, what):
    doc = (f"The weighted count of {what} at ``thresholds`` (a float or a list, default 0.5; an array per "
           f"threshold for a list).\n\n    >>> m = pyml.metrics.{class_name}()\n"
           f"    >>> m.update_state([0, 1, 1, 0], [0.2, 0.9, 0.3, 0.7])\n    >>> m.result()\n    1.0\n    ")
    return type(class_name, (_Counter,), {"_field": field, "__doc__": doc, "__module__": __name__})


TruePositives = _counter("TruePositives", 0, "true positives (``y_true`` nonzero, ``y_pred > threshold``)")
FalsePositives = _counter("FalsePositives", 1, "false positives (``y_true`` zero, ``y_pred > threshold``)")
TrueNegatives = _counter("TrueNegatives", 2, "true negatives (``y_true`` zero, ``y_pred <= threshold``)")
FalseNegatives = _counter("FalseNegatives", 3, "false negatives (``y_true`` nonzero, ``y_pred <= threshold``)")


class _PrecisionRecall(_ThresholdedMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._check_slicing(top_k, class_id)
        # with top_k and no thresholds, every entry in the top k is a positive prediction
        self._set_thresholds(thresholds, default=0.5 if top_k is None else NEG_INF)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """Of the entries predicted positive (``y_pred > threshold``), the weighted fraction truly positive.

    Args:
        thresholds: a float in [0, 1] or a list of them (default 0.5; the result is then one value per threshold).
        top_k: only each row's ``k`` highest scores can be predicted positive.
        class_id: only that class (column of the last axis) counts.

    >>> m = pyml.metrics.Precision()
    >>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]))
    >>> m.result()
    0.5
    >>> m = pyml.metrics.Precision(thresholds=[0.0, 0.85])
    >>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]))
    >>> m.result()
    array([0.66666667, 1.        ])
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        tp, fp, _, _ = self._counts()
        return _per_threshold(divide_no_nan(tp, tp + fp))


class Recall(_PrecisionRecall):
    """Of the truly positive entries (nonzero ``y_true``), the weighted fraction predicted positive.

    Arguments as ``Precision``.

    >>> m = pyml.metrics.Recall()
    >>> m.update_state(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]))
    >>> m.result()
    0.5
    """

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        tp, _, _, fn = self._counts()
        return _per_threshold(divide_no_nan(tp, tp + fn))


class _AtFixed(_ThresholdedMetric):
    """The best value of one rate among the thresholds where another rate reaches ``value``.

    Thresholds are ``num_thresholds`` evenly spaced in [0, 1] (0.5 alone for ``num_thresholds=1``).
    """

    _argument = None

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        self.value = check_real(value, self._argument, owner, 0.0, 1.0)
        if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, numbers.Integral) or num_thresholds < 1:
            raise ValueError(f"{owner}: `num_thresholds` must be an integer > 0. "
                             f"Received: num_thresholds={num_thresholds!r}")
        self.num_thresholds = int(num_thresholds)
        self._check_slicing(None, class_id)
        self._set_thresholds([0.5] if num_thresholds == 1 else list(np.linspace(0.0, 1.0, num_thresholds)))

    def _rates(self):
        tp, fp, tn, fn = self._counts()
        return {"precision": divide_no_nan(tp, tp + fp), "recall": divide_no_nan(tp, tp + fn),
                "sensitivity": divide_no_nan(tp, tp + fn), "specificity": divide_no_nan(tn, tn + fp)}

    def _best(self, constrained, dependent):
        rates = self._rates()
        feasible = rates[constrained] >= self.value
        return float(np.max(np.where(feasible, rates[dependent], 0.0), initial=0.0))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, self._argument: self.value,
                "class_id": self.class_id}


class PrecisionAtRecall(_AtFixed):
    """The best precision among the thresholds whose recall is at least ``recall``.

    >>> m = pyml.metrics.PrecisionAtRecall(recall=0.5, num_thresholds=11)
    >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8]))
    >>> m.result()
    1.0
    """

    _argument = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("recall", "precision")


class RecallAtPrecision(_AtFixed):
    """The best recall among the thresholds whose precision is at least ``precision``.

    >>> m = pyml.metrics.RecallAtPrecision(precision=0.6, num_thresholds=11)
    >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8]))
    >>> m.result()
    1.0
    """

    _argument = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("precision", "recall")


class SensitivityAtSpecificity(_AtFixed):
    """The best sensitivity (recall) among the thresholds whose specificity is at least ``specificity``.

    >>> m = pyml.metrics.SensitivityAtSpecificity(specificity=1.0, num_thresholds=11)
    >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8]))
    >>> m.result()
    0.5
    """

    _argument = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("specificity", "sensitivity")


class SpecificityAtSensitivity(_AtFixed):
    """The best specificity among the thresholds whose sensitivity (recall) is at least ``sensitivity``.

    >>> m = pyml.metrics.SpecificityAtSensitivity(sensitivity=1.0, num_thresholds=11)
    >>> m.update_state(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.8]))
    >>> m.result()
    0.5
    """

    _argument = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self):
        return self._best("sensitivity", "specificity")

"""``AUC``: the area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

The curve is known only at the thresholds, so the area is a Riemann sum over them (Keras' scheme):
``summation_method="interpolation"`` uses the trapezoid rule for ROC and, for PR, integrates precision exactly
along straight lines between the (tp, tp+fp) points (Davis & Goadrich); ``"minoring"`` takes the lower and
``"majoring"`` the higher end of each interval. With few thresholds the result approximates the exact area
(``sklearn.metrics.roc_auc_score``); the error shrinks as ``num_thresholds`` grows.
"""
import numbers

import numpy as np

from pyml.metrics.base import EPSILON, Metric, to_numpy
from pyml.metrics.thresholds import ConfusionState, check_thresholds, confusion_counts, divide_no_nan, evenly_spaced

CURVES = ("ROC", "PR")
SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Area under the ROC curve (true against false positive rate) or the PR curve (precision against recall).

    Args:
        num_thresholds: how many thresholds, evenly spaced over [0, 1] (default 200; more is closer to exact).
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"`` (default), ``"minoring"`` or ``"majoring"``.
        thresholds: explicit thresholds in [0, 1] instead of ``num_thresholds`` (-1e-7 and 1 + 1e-7 are added).
        multi_label: keep the last axis apart: one curve per label, the result their (``label_weights``-weighted)
            mean. Otherwise every entry is one sample of a single curve, each weighted by its ``label_weights``.
        num_labels: the labels of ``multi_label`` data (taken from the first batch when None).
        label_weights: a weight per label.
        from_logits: apply a sigmoid to ``y_pred`` first.

    >>> m = pyml.metrics.AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9])
    >>> m.result()
    0.75
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve = str(curve).upper() if isinstance(curve, str) else curve
        if curve not in CURVES:
            raise ValueError(f"AUC: invalid `curve`; expected one of {CURVES}. Received: curve={curve!r}")
        summation = summation_method.lower() if isinstance(summation_method, str) else summation_method
        if summation not in SUMMATIONS:
            raise ValueError(f"AUC: invalid `summation_method`; expected one of {SUMMATIONS}. "
                             f"Received: summation_method={summation_method!r}")
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(check_thresholds(thresholds, "AUC"))
            self._clip = evenly_spaced([0.0] + inner + [1.0])
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, numbers.Integral) \
                    or num_thresholds <= 1:
                raise ValueError(f"AUC: `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._clip = True
        # the end points sit just outside [0, 1] so that scores of exactly 0 and 1 fall inside the curve
        self.thresholds = [0.0 - EPSILON] + inner + [1.0 + EPSILON]
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method = curve, summation
        self.multi_label, self.num_labels, self.from_logits = bool(multi_label), num_labels, bool(from_logits)
        if num_labels is not None and not multi_label:
            raise ValueError(f"AUC: `num_labels` is needed only when `multi_label` is True. "
                             f"Received: num_labels={num_labels!r}")
        self.label_weights = None
        if label_weights is not None:
            self.label_weights = to_numpy(label_weights, "float64").reshape(-1)
            if np.any(self.label_weights < 0):
                raise ValueError(f"AUC: `label_weights` must be >= 0. Received: label_weights={label_weights!r}")
        self._state = ConfusionState()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = to_numpy(y_pred, "float32")
        if self.from_logits:
            with np.errstate(over="ignore"):  # exp(1000) = inf gives the right limit, 0
                y_pred = (1.0 / (1.0 + np.exp(-y_pred.astype("float64")))).astype("float32")
        labels = y_pred.shape[-1] if y_pred.ndim else 1
        expected = self.num_labels if self.num_labels is not None else (
            self._state.tp.shape[1] if self.multi_label and self._state.tp is not None else None)
        if self.multi_label and expected is not None and labels != expected:
            raise ValueError(f"AUC: expected {expected} labels (num_labels) but y_pred has {labels} "
                             f"(shape {y_pred.shape})")
        if self.label_weights is not None and not self.multi_label and y_pred.ndim and \
                self.label_weights.size not in (1, labels):
            raise ValueError(f"AUC: {self.label_weights.size} label_weights for y_pred with {labels} labels")
        self._state.add(confusion_counts(
            y_true, y_pred, self.thresholds, sample_weight, multi_label=self.multi_label,
            label_weights=None if self.multi_label else self.label_weights, clip=self._clip, owner="AUC"))

    def reset_state(self):
        self._state.reset()

    def _by_label(self, terms):
        if not self.multi_label:
            return float(np.sum(terms))
        by_label = np.sum(terms, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolated_pr(self, tp, fp, fn):
        # precision varies along the straight line between neighbouring (tp, p = tp + fp) points as
        # (slope * p + intercept) / p; integrating it against recall gives the closed form below
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        ratio = np.where(ratio > 0, ratio, 1.0)
        increment = divide_no_nan(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return self._by_label(increment)

    def result(self):
        if self._state.tp is None:
            return 0.0
        tp, fp, tn, fn = self._state.tp, self._state.fp, self._state.tn, self._state.fn
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr(tp, fp, fn)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._by_label((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "from_logits": self.from_logits,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist()}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

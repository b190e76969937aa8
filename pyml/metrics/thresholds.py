"""Thresholded confusion counts, the state behind Precision, Recall, AUC and the true/false positive counters.

For each threshold ``t`` an entry is predicted positive when ``y_pred > t`` and is truly positive when
``y_true`` is nonzero (Keras casts targets to bool). ``confusion_counts`` returns the weighted counts of
true/false positives/negatives for every threshold at once: it sorts the thresholds, finds for every prediction
how many lie below it (``searchsorted``), histograms those positions and sums the histogram from the top, so a
batch costs O(n log T + T) rather than O(n T).
"""
import numbers

import numpy as np

from pyml.metrics.base import EPSILON, broadcast_weights, match_ranks, to_numpy

NEG_INF = -1e10  # the threshold Precision/Recall use with top_k, and the score given to entries outside the top k


def check_thresholds(thresholds, owner):
    """``thresholds`` (a number or a list of numbers in [0, 1]) as a list, or a ValueError naming the bad ones."""
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    bad = [t for t in values if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t <= 1]
    if bad or not values:
        raise ValueError(f"{owner}: `thresholds` must be a float or a non-empty list of floats in [0, 1]. "
                         f"Received: thresholds={thresholds!r}")
    return [float(t) for t in values]


def evenly_spaced(thresholds):
    """Whether ``thresholds`` are ``i / (n - 1)`` for ``i = 0..n-1`` (n >= 3); Keras then clips predictions to
    [0, 1] before counting, which changes the counts only for predictions outside that range."""
    values = np.asarray(thresholds, "float64")
    return values.size >= 3 and np.allclose(values, np.linspace(0.0, 1.0, values.size), atol=EPSILON)


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, top_k=None, class_id=None, multi_label=False,
                     label_weights=None, clip=False, owner="metric"):
    """Weighted ``(tp, fp, tn, fn)`` at each threshold: arrays of shape ``(T,)``, or ``(T, labels)`` when
    ``multi_label`` keeps the last axis apart.

    Args:
        top_k: only the ``k`` highest scores of each row can be positive (the others become ``NEG_INF``).
        class_id: only that column of the last axis counts (after ``top_k``).
        label_weights: per-column weights multiplied into ``sample_weight`` (not with ``multi_label``).
        clip: clip predictions to [0, 1] first (Keras does for evenly spaced thresholds).
    """
    y_pred = to_numpy(y_pred, "float32")
    y_true, y_pred = match_ranks(to_numpy(y_true), y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{owner}: y_true and y_pred must have one shape. Received: y_true.shape={y_true.shape}, "
                         f"y_pred.shape={y_pred.shape}")
    positive = y_true.astype("float64") != 0
    weight = broadcast_weights(sample_weight, y_pred.shape)
    if label_weights is not None:
        weight = weight * np.asarray(label_weights, "float64")
    if top_k is not None:
        keep = np.argsort(-y_pred, axis=-1, kind="stable")[..., :top_k]  # ties: the lower index, as top_k
        mask = np.zeros(y_pred.shape, bool)
        np.put_along_axis(mask, keep, True, axis=-1)
        y_pred = np.where(mask, y_pred, np.float32(NEG_INF))
    if class_id is not None:
        if y_pred.ndim < 2 or not -y_pred.shape[-1] <= class_id < y_pred.shape[-1]:
            raise ValueError(f"{owner}: class_id={class_id} needs y_pred of shape (batch, classes) with more than "
                             f"{class_id} classes. Received: y_pred.shape={y_pred.shape}")
        y_pred, positive, weight = y_pred[..., class_id], positive[..., class_id], weight[..., class_id]
    if clip:
        y_pred = np.clip(y_pred, 0.0, 1.0)
    if multi_label:
        if y_pred.ndim != 2:
            raise ValueError(f"{owner}: multi_label=True needs y_pred of shape (batch, labels). "
                             f"Received: y_pred.shape={y_pred.shape}")
        labels = y_pred.shape[1]
    else:
        y_pred, positive, weight, labels = y_pred.reshape(-1, 1), positive.reshape(-1, 1), weight.reshape(-1, 1), 1
    thresholds = np.asarray(thresholds, "float32")  # compared in float32, as Keras compares
    order = np.argsort(thresholds, kind="stable")
    count = thresholds.size
    # below[i, j]: how many (sorted) thresholds lie strictly below y_pred[i, j]; NaN scores are never positive
    below = np.where(np.isnan(y_pred), 0, np.searchsorted(thresholds[order], y_pred, side="left"))
    slots = (below + (count + 1) * np.arange(labels)).reshape(-1)

    def split_at_each_threshold(w):
        hist = np.bincount(slots, weights=w.reshape(-1), minlength=labels * (count + 1)).reshape(labels, count + 1)
        # threshold k (sorted) is exceeded by the predictions with below > k (a suffix sum), not by the rest
        # (a prefix sum); two sums rather than total - above, so that an empty count is exactly 0
        above = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
        rest = np.cumsum(hist, axis=1)[:, :-1]
        unsorted = np.empty((2,) + above.shape)
        unsorted[:, :, order] = above, rest
        return unsorted.transpose(0, 2, 1)  # 2 x (T, labels)

    tp, fn = split_at_each_threshold(np.where(positive, weight, 0.0))
    fp, tn = split_at_each_threshold(np.where(positive, 0.0, weight))
    if not multi_label:
        tp, fp, tn, fn = tp[:, 0], fp[:, 0], tn[:, 0], fn[:, 0]
    return tp, fp, tn, fn


def divide_no_nan(a, b):
    """``a / b``, 0 where ``b`` is 0."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


class ConfusionState:
    """The four running count arrays a thresholded metric keeps (``tp``, ``fp``, ``tn``, ``fn``)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.tp = self.fp = self.tn = self.fn = None

    def add(self, counts):
        if self.tp is None:
            self.tp, self.fp, self.tn, self.fn = (np.array(c) for c in counts)
        else:
            self.tp, self.fp, self.tn, self.fn = (s + c for s, c in zip((self.tp, self.fp, self.tn, self.fn), counts))

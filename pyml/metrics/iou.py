"""Intersection-over-union metrics (segmentation, classification), from a running confusion matrix.

For a class ``c``, ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``: the overlap of the entries predicted ``c`` and those
truly ``c`` over their union. A class never seen (neither predicted nor true) does not enter the mean.
"""
import numbers

import numpy as np

from pyml.metrics.base import EPSILON, Metric, broadcast_weights, check_real, to_numpy


def _check_class_ids(ids, num_classes, owner, argument):
    ids = list(ids)
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < num_classes]
    if bad or not ids:
        raise ValueError(f"{owner}: `{argument}` must be a non-empty list of class ids in [0, {num_classes}) "
                         f"(num_classes={num_classes}). Received: {argument}={ids!r}")
    return [int(i) for i in ids]


class IoU(Metric):
    """The mean IoU over ``target_class_ids``, from the confusion matrix of all batches seen.

    Args:
        num_classes: how many classes the data can hold; a class id outside ``[0, num_classes)`` (other than
            ``ignore_class``) raises a ValueError naming ``num_classes`` (Keras drops such entries silently).
        target_class_ids: the classes to average over.
        ignore_class: entries whose true class is this id do not count (e.g. a "void" label).
        sparse_y_true, sparse_y_pred: True for integer class ids; False for scores/one-hot along ``axis``
            (the arg-max is taken).
        axis: the class axis of non-sparse inputs.

    Sample weights weigh each entry's count in the confusion matrix (float weights are kept as floats).

    >>> m = pyml.metrics.IoU(num_classes=2, target_class_ids=[0])
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(m.result(), 4)
    0.3333
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype)
        owner = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise ValueError(f"{owner}: `num_classes` must be an integer >= 1. Received: num_classes={num_classes!r}")
        self.num_classes = int(num_classes)
        self.target_class_ids = _check_class_ids(target_class_ids, self.num_classes, owner, "target_class_ids")
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = (
            ignore_class, bool(sparse_y_true), bool(sparse_y_pred), axis)
        self.reset_state()

    def reset_state(self):
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def _class_ids(self, values, sparse, argument):
        values = to_numpy(values)
        if sparse:
            return values
        if values.shape[self.axis] != self.num_classes:
            raise ValueError(f"{type(self).__name__}: {argument} has {values.shape[self.axis]} classes along axis "
                             f"{self.axis} but num_classes={self.num_classes}. Received: {argument}.shape="
                             f"{values.shape}")
        return np.argmax(values, axis=self.axis)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = self._class_ids(y_true, self.sparse_y_true, "y_true")
        y_pred = self._class_ids(y_pred, self.sparse_y_pred, "y_pred").reshape(-1)
        weight = broadcast_weights(sample_weight, y_true.shape).reshape(-1)  # per sample or per entry
        y_true = y_true.reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{type(self).__name__}: y_true holds {y_true.size} class ids and y_pred "
                             f"{y_pred.size}; they must match one for one")
        keep = np.ones(y_true.shape, bool) if self.ignore_class is None else y_true != self.ignore_class
        y_true, y_pred = y_true.astype("int64"), y_pred.astype("int64")
        for argument, ids in (("y_true", y_true[keep]), ("y_pred", y_pred[keep])):
            if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
                bad = ids[(ids < 0) | (ids >= self.num_classes)][0]
                raise ValueError(f"{type(self).__name__}: {argument} holds class id {bad}, outside [0, "
                                 f"{self.num_classes}): `num_classes`={self.num_classes} does not match the data")
        cells = y_true[keep] * self.num_classes + y_pred[keep]
        self.total_cm += np.bincount(cells, weights=weight[keep],
                                     minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)

    def result(self):
        tp = np.diag(self.total_cm)
        union = self.total_cm.sum(axis=0) + self.total_cm.sum(axis=1) - tp
        tp, union = tp[self.target_class_ids], union[self.target_class_ids]
        valid = union > 1e-9
        iou = np.where(valid, tp / (union + EPSILON), 0.0)
        return float(np.sum(iou) / (np.sum(valid) + EPSILON))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """The IoU averaged over all ``num_classes`` classes (those seen); arguments as ``IoU``.

    >>> m = pyml.metrics.MeanIoU(num_classes=2)
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(m.result(), 4)
    0.3333
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        ok = isinstance(num_classes, numbers.Integral) and not isinstance(num_classes, bool) and num_classes >= 1
        super().__init__(num_classes, range(num_classes) if ok else [0], name, dtype, ignore_class, sparse_y_true,
                         sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """The IoU of 0/1 targets against thresholded scores (``y_pred >= threshold`` is class 1), averaged over
    ``target_class_ids`` (default both classes).

    >>> m = pyml.metrics.BinaryIoU(target_class_ids=[1], threshold=0.5)
    >>> m.update_state([0, 1, 1, 1], [0.2, 0.5, 0.7, 0.1])
    >>> round(m.result(), 4)
    0.6667
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = check_real(threshold, "threshold", "BinaryIoU")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = to_numpy(y_true).astype("int64")  # as Keras' cast to int: 0.7 is class 0
        y_pred = (to_numpy(y_pred, "float32") >= self.threshold).astype("int64")
        super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "target_class_ids": self.target_class_ids,
                "threshold": self.threshold}


class OneHotIoU(IoU):
    """``IoU`` for one-hot targets and score predictions (``sparse_y_pred=True`` for integer predictions).

    >>> m = pyml.metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    >>> m.update_state(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 1]])
    >>> round(m.result(), 4)
    0.6667
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """``MeanIoU`` for one-hot targets and score predictions.

    >>> m = pyml.metrics.OneHotMeanIoU(num_classes=2)
    >>> m.update_state(np.eye(2)[[0, 0, 1, 1]], np.eye(2)[[0, 1, 0, 1]])
    >>> round(m.result(), 4)
    0.3333
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config

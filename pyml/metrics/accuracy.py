"""Accuracy metrics: how often predictions match targets, exactly, after a threshold, by arg-max or in the top k.

Each function returns one value per sample (a Tensor); each class keeps their running mean.
"""
import numpy as np

from pyml import losses, ops
from pyml.losses.probabilistic import check_class_axis
from pyml.metrics.base import to_numpy, wrapper_class


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
    check_class_axis(y_pred, "sparse_categorical_accuracy")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return _matches(y_true, ops.argmax(y_pred, axis=-1))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the class id ``y_true`` is among the ``k`` highest scores of ``y_pred``, per sample.

    As in Keras, a score tied with the k-th highest counts as in the top k. With ``from_sorted_ids=True``,
    ``y_pred`` already holds class ids sorted by score (e.g. from ``ops.top_k``) and only its first ``k``
    columns are read.

    >>> pyml.metrics.sparse_top_k_categorical_accuracy(np.array([2, 0]), np.array([[0.1, 0.5, 0.4],
    ...                                                                          [0.1, 0.5, 0.4]]), k=2).numpy()
    array([1., 0.], dtype=float32)
    """
    y_pred = to_numpy(y_pred)
    check_class_axis(y_pred, "top_k_categorical_accuracy")
    shape = to_numpy(y_true).shape
    y_true = to_numpy(y_true).reshape(-1)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    if y_true.shape[0] != y_pred.shape[0]:  # (batch, 1) targets against (batch, classes) scores
        raise ValueError(f"sparse_top_k_categorical_accuracy: y_true of shape {shape} does not hold one class id "
                         f"per row of y_pred (shape {y_pred.shape})")
    if from_sorted_ids:
        found = np.any(y_pred[:, :k] == y_true[:, None], axis=1)
    else:
        ids = y_true.astype("int64")
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= y_pred.shape[1]:
            raise ValueError(f"sparse_top_k_categorical_accuracy: class ids must lie in [0, {y_pred.shape[1]}) "
                             f"(the classes of y_pred). Received ids from {ids.min()} to {ids.max()}")
        score = np.take_along_axis(y_pred, ids[:, None], axis=1)
        score = np.where(np.isnan(score), -np.inf, score)
        found = np.sum(y_pred > score, axis=1) < k  # rank of the true class, ties in its favour
    found = found.astype("float32").reshape(shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape)
    return ops.convert_to_tensor(found)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the arg-max of one-hot ``y_true`` is among the ``k`` highest scores of ``y_pred``, per sample.

    >>> pyml.metrics.top_k_categorical_accuracy(np.array([[0, 0, 1]]), np.array([[0.1, 0.5, 0.4]]), k=2).numpy()
    array([1.], dtype=float32)
    """
    return sparse_top_k_categorical_accuracy(np.argmax(to_numpy(y_true), axis=-1), y_pred, k=k)


Accuracy = wrapper_class("Accuracy", accuracy, "accuracy", "How often predictions equal targets exactly.",
                         ("[1, 2, 3, 4]", "[1, 2, 0, 4]", "0.75"), __name__)
BinaryAccuracy = wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                               "How often ``y_pred > threshold`` matches 0/1 targets (``threshold=0.5``).",
                               ("[[1.0], [0.0]]", "[[0.7], [0.6]]", "0.5"), __name__, threshold=0.5)
CategoricalAccuracy = wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy",
                                    "How often the arg-max prediction matches one-hot targets.",
                                    ("[[0, 1], [1, 0]]", "[[0.3, 0.7], [0.4, 0.6]]", "0.5"), __name__)
SparseCategoricalAccuracy = wrapper_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                          "sparse_categorical_accuracy",
                                          "How often the arg-max prediction matches integer class ids.",
                                          ("[1, 0]", "[[0.3, 0.7], [0.4, 0.6]]", "0.5"), __name__)
TopKCategoricalAccuracy = wrapper_class(
    "TopKCategoricalAccuracy", top_k_categorical_accuracy, "top_k_categorical_accuracy",
    "How often the one-hot target's class is among the ``k`` highest scores (``k=5``).",
    ("[[0, 0, 1], [0, 1, 0]]", "[[0.1, 0.5, 0.4], [0.5, 0.1, 0.4]]", "1.0"), __name__, k=5)
SparseTopKCategoricalAccuracy = wrapper_class(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy",
    "How often the integer target is among the ``k`` highest scores (``k=5``; ``from_sorted_ids=True`` when "
    "``y_pred`` holds class ids sorted by score).",
    ("[2, 1]", "[[0.1, 0.5, 0.4], [0.5, 0.1, 0.4]]", "1.0"), __name__, k=5, from_sorted_ids=False)

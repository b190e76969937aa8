"""Probabilistic and hinge metrics: running means of cross-entropies, KL divergence, Poisson and hinge losses.

The cross-entropies reuse ``pyml.losses``; the others are NumPy formulas with Keras' epsilons (metrics need
values, not gradients).
"""
import numpy as np

from pyml import losses, ops
from pyml.metrics.base import EPSILON, match_ranks, to_numpy, wrapper_class


def _pair(y_true, y_pred):
    return match_ranks(to_numpy(y_true, "float64"), to_numpy(y_pred, "float64"))


def _tensor(values):
    return ops.convert_to_tensor(values.astype("float32"))


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to ``[1e-7, 1]``.

    >>> np.round(pyml.metrics.kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])).numpy(), 4)
    array([0.1438], dtype=float32)
    """
    y_true, y_pred = (np.clip(v, EPSILON, 1.0) for v in _pair(y_true, y_pred))
    return _tensor(np.sum(y_true * np.log(y_true / y_pred), axis=-1))


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + 1e-7))`` over the last axis.

    >>> np.round(pyml.metrics.poisson(np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]])).numpy(), 4)
    array([1.5], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _tensor(np.mean(y_pred - y_true * np.log(y_pred + EPSILON), axis=-1))


def _signed(y_true):
    # as Keras: 0/1 targets become -1/1; targets already in -1/1 stay
    return 2.0 * y_true - 1.0 if np.all((y_true == 0) | (y_true == 1)) else y_true


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis; 0/1 targets are read as -1/1.

    >>> pyml.metrics.hinge(np.array([[1.0, 0.0]]), np.array([[0.5, -2.0]])).numpy()
    array([0.25], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _tensor(np.mean(np.maximum(1.0 - _signed(y_true) * y_pred, 0.0), axis=-1))


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)**2)`` over the last axis; 0/1 targets are read as -1/1.

    >>> pyml.metrics.squared_hinge(np.array([[1.0, 0.0]]), np.array([[0.5, -2.0]])).numpy()
    array([0.125], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _tensor(np.mean(np.square(np.maximum(1.0 - _signed(y_true) * y_pred, 0.0)), axis=-1))


def categorical_hinge(y_true, y_pred):
    """``max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` per sample (one-hot targets).

    >>> pyml.metrics.categorical_hinge(np.array([[0.0, 1.0]]), np.array([[0.6, 0.4]])).numpy()
    array([1.2], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    positive = np.sum(y_true * y_pred, axis=-1)
    negative = np.max((1.0 - y_true) * y_pred, axis=-1)
    return _tensor(np.maximum(negative - positive + 1.0, 0.0))


BinaryCrossentropy = wrapper_class(
    "BinaryCrossentropy", losses.binary_crossentropy, "binary_crossentropy",
    "Running mean of ``binary_crossentropy`` (``from_logits``, ``label_smoothing`` as the loss).",
    ("[[1.0], [0.0]]", "[[0.9], [0.2]]", "0.1643"), __name__, from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = wrapper_class(
    "CategoricalCrossentropy", losses.categorical_crossentropy, "categorical_crossentropy",
    "Running mean of ``categorical_crossentropy`` (``from_logits``, ``label_smoothing``, ``axis``).",
    ("[[0.0, 1.0]]", "[[0.5, 0.5]]", "0.6931"), __name__, from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = wrapper_class(
    "SparseCategoricalCrossentropy", losses.sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
    "Running mean of ``sparse_categorical_crossentropy`` (``from_logits``, ``ignore_class``, ``axis``).",
    ("[1]", "[[0.5, 0.5]]", "0.6931"), __name__, from_logits=False, ignore_class=None, axis=-1)
KLDivergence = wrapper_class("KLDivergence", kl_divergence, "kl_divergence", "Running mean of ``kl_divergence``.",
                             ("[[0.5, 0.5]]", "[[0.25, 0.75]]", "0.1438"), __name__)
Poisson = wrapper_class("Poisson", poisson, "poisson", "Running mean of ``poisson``.",
                        ("[[1.0, 0.0]]", "[[1.0, 2.0]]", "1.5"), __name__)
Hinge = wrapper_class("Hinge", hinge, "hinge", "Running mean of ``hinge``.",
                      ("[[1.0, 0.0]]", "[[0.5, -2.0]]", "0.25"), __name__)
SquaredHinge = wrapper_class("SquaredHinge", squared_hinge, "squared_hinge", "Running mean of ``squared_hinge``.",
                             ("[[1.0, 0.0]]", "[[0.5, -2.0]]", "0.125"), __name__)
CategoricalHinge = wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge",
                                 "Running mean of ``categorical_hinge``.",
                                 ("[[0.0, 1.0]]", "[[0.6, 0.4]]", "1.2"), __name__)

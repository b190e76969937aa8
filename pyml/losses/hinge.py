"""Hinge losses for maximum-margin classifiers (Keras 3 names and formulas).

``hinge`` and ``squared_hinge`` expect targets in {-1, 1}; targets that are all 0 or 1 are mapped to
{-1, 1} first (``2 y - 1``), as Keras does. ``categorical_hinge`` takes one-hot targets.

    >>> float(pyml.losses.Hinge()(np.array([[0.0, 1.0]]), np.array([[-0.5, 0.5]], "float32")))
    0.5
"""
from pyml import ops
from pyml.losses.base import LossFunctionWrapper, pair


def binary_to_signed(y_true):
    """``2 y - 1`` when every entry of ``y_true`` is 0 or 1, else ``y_true`` unchanged (chosen by a select on
    the data, so it traces into a graph as Keras' ``ops.cond`` does).

    >>> pyml.losses.binary_to_signed(pyml.Tensor([0.0, 1.0])).numpy()
    array([-1.,  1.], dtype=float32)
    """
    binary = ops.all(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)))
    return ops.where(binary, ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)


def _margins(y_true, y_pred):
    """``max(1 - y_true * y_pred, 0)`` with ``y_true`` in {-1, 1}."""
    y_true, y_pred = pair(y_true, y_pred)
    return ops.relu(ops.subtract(1.0, ops.multiply(binary_to_signed(y_true), y_pred)))


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``.

    >>> pyml.losses.hinge(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]], "float32")).numpy()
    array([1.], dtype=float32)
    """
    return ops.mean(_margins(y_true, y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(square(max(1 - y_true * y_pred, 0)), axis=-1)``.

    >>> pyml.losses.squared_hinge(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]], "float32")).numpy()
    array([1.25], dtype=float32)
    """
    return ops.mean(ops.square(_margins(y_true, y_pred)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` (the true class' score) and
    ``neg = max((1 - y_true) * y_pred)`` (the best other score), over the last axis.

    >>> pyml.losses.categorical_hinge(np.array([[0.0, 1.0]]), np.array([[0.3, 0.8]], "float32")).numpy()
    array([0.5], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    positive = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    negative = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.relu(ops.add(ops.subtract(negative, positive), 1.0))


class Hinge(LossFunctionWrapper):
    """Hinge loss (see ``hinge``).

    >>> float(pyml.losses.Hinge()(np.array([[1.0]]), np.array([[0.25]], "float32")))
    0.75
    """

    fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge"):
        super().__init__(name=name, reduction=reduction)


class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss (see ``squared_hinge``).

    >>> float(pyml.losses.SquaredHinge()(np.array([[1.0]]), np.array([[0.5]], "float32")))
    0.25
    """

    fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge"):
        super().__init__(name=name, reduction=reduction)


class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss for one-hot targets (see ``categorical_hinge``).

    >>> float(pyml.losses.CategoricalHinge()(np.array([[0.0, 1.0]]), np.array([[0.25, 0.5]], "float32")))
    0.75
    """

    fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(name=name, reduction=reduction)

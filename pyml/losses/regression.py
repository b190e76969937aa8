"""Regression losses (Keras 3 names and formulas): each a function returning one value per sample (the mean
over the last axis) and a ``Loss`` class around it.

    >>> y_true, y_pred = np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")
    >>> float(pyml.losses.Huber()(y_true, y_pred)), round(float(pyml.losses.LogCosh()(y_true, y_pred)), 4)
    (0.25, 0.2169)
"""
from pyml import ops
from pyml.losses.base import EPSILON, LossFunctionWrapper, pair

LOG_2 = 0.6931471805599453


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``.

    >>> pyml.losses.mean_squared_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")).numpy()
    array([0.5], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``.

    >>> pyml.losses.mean_absolute_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")).numpy()
    array([0.5], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)``.

    >>> pyml.losses.mean_absolute_percentage_error(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]], "float32")).numpy()
    array([37.5], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    error = ops.divide(ops.subtract(y_true, y_pred), ops.maximum(ops.abs(y_true), EPSILON))
    return ops.multiply(ops.mean(ops.abs(error), axis=-1), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean(square(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1)), axis=-1)``.

    >>> y_true, y_pred = np.array([[np.e - 1]]), np.array([[0.0]], "float32")
    >>> pyml.losses.mean_squared_logarithmic_error(y_true, y_pred).numpy().round(4)
    array([1.], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    log_pred = ops.log(ops.add(ops.maximum(y_pred, EPSILON), 1.0))
    log_true = ops.log(ops.add(ops.maximum(y_true, EPSILON), 1.0))
    return ops.mean(ops.square(ops.subtract(log_pred, log_true)), axis=-1)


def l2_normalize(x, axis=-1):
    """``x / max(norm(x), 1e-7)`` along ``axis`` (a zero vector stays zero). The maximum is taken under the
    square root, so the gradient at a zero vector is 0, not NaN."""
    squares = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.divide(x, ops.sqrt(ops.maximum(squares, EPSILON * EPSILON)))


def cosine_similarity(y_true, y_pred, axis=-1):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis)``: -1 for vectors pointing the same way, 0 for
    orthogonal ones (or a zero vector), so minimising it aligns the predictions with the targets.

    >>> pyml.losses.cosine_similarity(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [2.0, 2.0]],
    ...                               "float32")).numpy().round(4)
    array([-0., -1.], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    return ops.negative(ops.sum(ops.multiply(l2_normalize(y_true, axis), l2_normalize(y_pred, axis)), axis=axis))


def huber(y_true, y_pred, delta=1.0):
    """``mean(0.5 x²  if |x| <= delta  else delta |x| - 0.5 delta², axis=-1)`` with ``x = y_pred - y_true``.

    >>> pyml.losses.huber(np.array([[0.0, 0.0]]), np.array([[0.5, 3.0]], "float32")).numpy()
    array([1.3125], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    size = ops.abs(error)
    quadratic = ops.multiply(ops.square(error), 0.5)
    linear = ops.subtract(ops.multiply(size, delta), 0.5 * delta * delta)
    return ops.mean(ops.where(ops.less_equal(size, delta), quadratic, linear), axis=-1)


def log_cosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed as ``x + softplus(-2x) - log 2`` so that large
    errors do not overflow (about ``x²/2`` for small errors, ``|x| - log 2`` for large ones).

    >>> pyml.losses.log_cosh(np.array([[0.0]]), np.array([[1.0]], "float32")).numpy().round(4)
    array([0.4338], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    error = ops.subtract(y_pred, y_true)
    return ops.mean(ops.subtract(ops.add(error, ops.softplus(ops.multiply(error, -2.0))), LOG_2), axis=-1)


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squares of errors (see ``mean_squared_error``).

    >>> float(pyml.losses.MeanSquaredError()(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")))
    0.5
    """

    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(name=name, reduction=reduction)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors (see ``mean_absolute_error``).

    >>> float(pyml.losses.MeanAbsoluteError()(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")))
    0.5
    """

    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(name=name, reduction=reduction)


class MeanAbsolutePercentageError(LossFunctionWrapper):
    """Mean absolute error in percent of the target (see ``mean_absolute_percentage_error``).

    >>> float(pyml.losses.MeanAbsolutePercentageError()(np.array([[2.0]]), np.array([[3.0]], "float32")))
    50.0
    """

    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error"):
        super().__init__(name=name, reduction=reduction)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean squared error of ``log(1 + y)`` (see ``mean_squared_logarithmic_error``).

    >>> round(float(pyml.losses.MeanSquaredLogarithmicError()(np.array([[1.0]]), np.array([[0.0]], "float32"))), 4)
    0.4805
    """

    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error"):
        super().__init__(name=name, reduction=reduction)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis`` (see ``cosine_similarity``).

    >>> float(pyml.losses.CosineSimilarity()(np.array([[3.0, 4.0]]), np.array([[6.0, 8.0]], "float32")))
    -1.0
    """

    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(name=name, reduction=reduction, axis=axis)


class Huber(LossFunctionWrapper):
    """Quadratic for errors up to ``delta``, linear beyond (see ``huber``).

    Args:
        delta: where the loss turns from quadratic to linear (default 1.0).

    >>> float(pyml.losses.Huber(delta=2.0)(np.array([[0.0]]), np.array([[3.0]], "float32")))
    4.0
    """

    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(name=name, reduction=reduction, delta=float(delta))


class LogCosh(LossFunctionWrapper):
    """Logarithm of the hyperbolic cosine of the error (see ``log_cosh``).

    >>> round(float(pyml.losses.LogCosh()(np.array([[0.0]]), np.array([[1.0]], "float32"))), 4)
    0.4338
    """

    fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh"):
        super().__init__(name=name, reduction=reduction)

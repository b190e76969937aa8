"""Probabilistic losses (Keras 3 names and formulas): cross-entropies, their focal forms, KL divergence, Poisson.

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` like Keras; with ``from_logits=True`` the cross-entropies
work on logits (through ``log_softmax`` / a stable sigmoid form; the focal ones through softmax / sigmoid,
as Keras computes them).

    >>> y_true = np.array([1, 0])
    >>> y_pred = np.array([[0.1, 0.9], [0.8, 0.2]], "float32")
    >>> loss = pyml.losses.SparseCategoricalCrossentropy()
    >>> round(float(loss(y_true, y_pred)), 4)          # mean of -log(0.9), -log(0.8)
    0.1643
"""
import numpy as np

from pyml import ops
from pyml.losses.base import EPSILON, LossFunctionWrapper, pair


def _smooth(y_true, label_smoothing, num_classes):
    if not label_smoothing:
        return y_true
    return ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / num_classes)


def _clipped_binary_crossentropy(y_true, p):
    """``-(y log p + (1 - y) log(1 - p))`` per entry, ``p`` clipped to ``[1e-7, 1 - 1e-7]``."""
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    return ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y log p + (1 - y) log(1 - p)), axis)``, with ``p`` clipped to ``[1e-7, 1 - 1e-7]``.

    With ``from_logits=True``, ``y_pred`` are logits and the loss is ``max(x, 0) - x y + log(1 + exp(-|x|))``.
    ``label_smoothing`` moves the targets towards 0.5: ``y (1 - s) + s / 2``.

    >>> pyml.losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.5]], "float32")).numpy().round(4)
    array([0.6931], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, 2)
    if from_logits:
        # softplus(x) - x y is max(x, 0) - x y + log(1 + exp(-|x|)) computed branch by branch, so its gradient at
        # x = 0 is sigmoid(0) - y; relu's and abs's subgradients (0 at 0) gave -y there, a wrong first step for a
        # zero-initialised output layer.
        per_entry = ops.subtract(ops.softplus(y_pred), ops.multiply(y_pred, y_true))
    else:
        per_entry = _clipped_binary_crossentropy(y_true, y_pred)
    return ops.mean(per_entry, axis=axis)


def check_class_axis(y_pred, what):
    """Refuse predictions without a class axis (a scalar), which have no class to pick or compare."""
    if len(y_pred.shape) == 0:
        raise ValueError(f"{what} expects predictions with a class axis, shape (..., num_classes). "
                         f"Received: y_pred.shape={tuple(y_pred.shape)}")


def _check_one_hot(y_true, y_pred, what):
    check_class_axis(y_pred, what)
    if y_true.shape[-1:] != y_pred.shape[-1:]:
        raise ValueError(f"{what} expects one-hot targets shaped like the predictions; "
                         "for integer class ids use sparse_categorical_crossentropy. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")


def _probabilities(y_pred, axis):
    """``y_pred`` renormalised to sum to 1 along ``axis`` and clipped to ``[1e-7, 1 - 1e-7]`` (Keras)."""
    p = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
    return ops.clip(p, EPSILON, 1.0 - EPSILON)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y * log(p), axis)`` over one-hot (or soft) targets.

    Probabilities are renormalised to sum to 1 and clipped to ``[1e-7, 1 - 1e-7]`` (Keras); with
    ``from_logits=True``, ``log p = log_softmax(y_pred)``. ``label_smoothing`` mixes the targets with the
    uniform distribution: ``y (1 - s) + s / num_classes``.

    >>> y_true = np.array([[0.0, 1.0]])
    >>> pyml.losses.categorical_crossentropy(y_true, np.array([[0.2, 0.8]], "float32")).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    _check_one_hot(y_true, y_pred, "categorical_crossentropy")
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[axis])
    log_p = ops.log_softmax(y_pred, axis=axis) if from_logits else ops.log(_probabilities(y_pred, axis))
    return ops.negative(ops.sum(ops.multiply(y_true, log_p), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Categorical cross-entropy with integer class ids as targets: ``-log(p[y_true])``.

    Args:
        y_true: ids of shape ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: probabilities (or logits) of shape ``(batch, ..., num_classes)``.
        from_logits: whether ``y_pred`` are logits.
        ignore_class: optional id whose entries get loss 0; the result carries a mask of the others, so a
            ``Loss`` averages over the entries that count (as Keras does).

    >>> pyml.losses.sparse_categorical_crossentropy(np.array([1]), np.array([[0.2, 0.8]], "float32")).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    check_class_axis(y_pred, "sparse_categorical_crossentropy")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_true.ndim != y_pred.ndim - 1 or y_true.shape != y_pred.shape[:-1]:
        raise ValueError("sparse_categorical_crossentropy expects one class id per prediction row: y_true of shape "
                         f"{y_pred.shape[:-1]} for y_pred of shape {y_pred.shape}. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    if not y_true.is_symbolic:
        check_class_ids(y_true.numpy(), y_pred.shape[axis], ignore_class)
    if y_true.dtype != "int32":
        y_true = ops.cast(y_true, "int32")
    one_hot = ops.one_hot(y_true, y_pred.shape[axis], axis=axis, dtype=y_pred.dtype)
    loss = categorical_crossentropy(one_hot, y_pred, from_logits=from_logits, axis=axis)
    if ignore_class is not None:
        valid = ops.not_equal(y_true, int(ignore_class))
        loss = ops.multiply(loss, ops.cast(valid, loss.dtype))
        loss._keras_mask = valid  # pyml.layers.call_args.set_mask: Loss.__call__ weighs by it
    return loss


def check_class_ids(values, num_classes, ignore_class=None):
    """Refuse ids outside ``[0, num_classes)`` (``ignore_class`` aside): their one-hot row is all zeros, so the
    loss would silently be 0 (TensorFlow refuses them too); and float ids that are not whole numbers, which the
    cast to int would silently truncate. ``values``: the NumPy targets (the compiled training step checks its
    batches with this on the host, as its traced loss cannot)."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.array_equal(values, np.floor(values)):
        raise ValueError("sparse_categorical_crossentropy expects whole-number class ids. "
                         f"Received: y_true holds {values[values != np.floor(values)].flat[0]}")
    bad = (values < 0) | (values >= num_classes)
    if ignore_class is not None:
        bad &= values != int(ignore_class)
    if bad.any():
        raise ValueError(f"sparse_categorical_crossentropy expects class ids in [0, {num_classes}) for predictions "
                         f"over {num_classes} classes (labels counted from 1 must be shifted down). "
                         f"Received: y_true holds {values[bad].flat[0]}")


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Binary cross-entropy scaled by ``(1 - p_t) ** gamma`` (Lin et al. 2017), which down-weighs the entries
    the model already gets right; ``p_t = y p + (1 - y)(1 - p)``. With ``apply_class_balancing``, entries of
    class 1 are also weighed by ``alpha`` and those of class 0 by ``1 - alpha``. The mean over ``axis``.

    With ``from_logits=True``, ``p = sigmoid(y_pred)`` (then clipped, as Keras computes it).

    >>> pyml.losses.binary_focal_crossentropy(np.array([[1.0]]), np.array([[0.5]], "float32")).numpy().round(4)
    array([0.1733], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, 2)
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    bce = _clipped_binary_crossentropy(y_true, p)
    p_t = ops.add(ops.multiply(y_true, p), ops.multiply(ops.subtract(1.0, y_true), ops.subtract(1.0, p)))
    focal = ops.multiply(ops.power(ops.subtract(1.0, p_t), float(gamma)), bce)
    if apply_class_balancing:
        focal = ops.multiply(ops.add(ops.multiply(y_true, alpha), ops.multiply(ops.subtract(1.0, y_true), 1.0 - alpha)),
                             focal)
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """``sum(-alpha (1 - p) ** gamma y log p, axis)``: categorical cross-entropy with the focal factor; ``alpha``
    is a float or one weight per class.

    >>> y_true = np.array([[0.0, 1.0]])
    >>> pyml.losses.categorical_focal_crossentropy(y_true, np.array([[0.5, 0.5]], "float32")).numpy().round(4)
    array([0.0433], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    _check_one_hot(y_true, y_pred, "categorical_focal_crossentropy")
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[-1])
    p = _probabilities(ops.softmax(y_pred, axis=axis) if from_logits else y_pred, axis)
    alpha = ops.convert_to_tensor(alpha, dtype=p.dtype) if isinstance(alpha, (list, tuple)) else float(alpha)
    weight = ops.multiply(ops.power(ops.subtract(1.0, p), float(gamma)), alpha)
    return ops.sum(ops.multiply(weight, ops.negative(ops.multiply(y_true, ops.log(p)))), axis=axis)


def kl_divergence(y_true, y_pred):
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[1e-7, 1]`` (Kullback-Leibler).

    >>> pyml.losses.kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]], "float32")).numpy().round(4)
    array([0.1438], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    y_true, y_pred = ops.clip(y_true, EPSILON, 1.0), ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(ops.multiply(y_true, ops.log(ops.divide(y_true, y_pred))), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)``: the negative log-likelihood of counts
    ``y_true`` under Poisson rates ``y_pred`` (up to a term without ``y_pred``).

    >>> pyml.losses.poisson(np.array([[1.0]]), np.array([[1.0]], "float32")).numpy().round(4)
    array([1.], dtype=float32)
    """
    y_true, y_pred = pair(y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, EPSILON)))), axis=-1)


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy for 0/1 targets (see ``binary_crossentropy``).

    >>> bce = pyml.losses.BinaryCrossentropy(from_logits=True)
    >>> round(float(bce(np.array([[1.0]]), np.array([[0.0]], "float32"))), 4)
    0.6931
    """

    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(name=name, reduction=reduction, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy with the focal factor (see ``binary_focal_crossentropy``).

    Args:
        apply_class_balancing: weigh class 1 by ``alpha`` and class 0 by ``1 - alpha``.
        alpha: the weight of class 1 (0.25); gamma: the focusing exponent (2.0; 0 gives binary cross-entropy).
        from_logits, label_smoothing, axis: as ``BinaryCrossentropy``.

    >>> loss = pyml.losses.BinaryFocalCrossentropy(gamma=0.0)
    >>> round(float(loss(np.array([[1.0]]), np.array([[0.5]], "float32"))), 4)
    0.6931
    """

    fn = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy"):
        super().__init__(name=name, reduction=reduction, apply_class_balancing=bool(apply_class_balancing),
                         alpha=float(alpha), gamma=float(gamma), from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for one-hot targets (see ``categorical_crossentropy``).

    >>> cce = pyml.losses.CategoricalCrossentropy()
    >>> round(float(cce(np.array([[0.0, 1.0]]), np.array([[0.2, 0.8]], "float32"))), 4)
    0.2231
    """

    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Categorical cross-entropy with the focal factor (see ``categorical_focal_crossentropy``).

    Args:
        alpha: a float, or one weight per class (0.25); gamma: the focusing exponent (2.0).
        from_logits, label_smoothing, axis: as ``CategoricalCrossentropy``.

    >>> loss = pyml.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=0.0)
    >>> round(float(loss(np.array([[0.0, 1.0]]), np.array([[0.2, 0.8]], "float32"))), 4)
    0.2231
    """

    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy"):
        alpha = [float(a) for a in alpha] if isinstance(alpha, (list, tuple)) else float(alpha)
        super().__init__(name=name, reduction=reduction, alpha=alpha, gamma=float(gamma),
                         from_logits=bool(from_logits), label_smoothing=float(label_smoothing), axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer class ids (see ``sparse_categorical_crossentropy``).

    With ``ignore_class``, ignored entries count 0 and the mean is taken over the others (as Keras'
    masking does).

    >>> scce = pyml.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(scce(np.array([0]), np.array([[0.0, 0.0]], "float32"))), 4)
    0.6931
    """

    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, axis=-1, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction, from_logits=bool(from_logits),
                         ignore_class=ignore_class, axis=axis)


class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence of ``y_pred`` from ``y_true`` (see ``kl_divergence``).

    >>> round(float(pyml.losses.KLDivergence()(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]], "float32"))), 4)
    0.1438
    """

    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(name=name, reduction=reduction)


class Poisson(LossFunctionWrapper):
    """Poisson negative log-likelihood (see ``poisson``).

    >>> round(float(pyml.losses.Poisson()(np.array([[2.0]]), np.array([[1.0]], "float32"))), 4)
    1.0
    """

    fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson"):
        super().__init__(name=name, reduction=reduction)

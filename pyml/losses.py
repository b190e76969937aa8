"""Losses, Keras semantics: a stateless function per loss (one value per sample) plus a class that reduces.

    >>> y_true = np.array([1, 0])
    >>> y_pred = np.array([[0.1, 0.9], [0.8, 0.2]], "float32")
    >>> loss = pyml.losses.SparseCategoricalCrossentropy()
    >>> round(float(loss(y_true, y_pred)), 4)          # mean of -log(0.9), -log(0.8)
    0.1643
    >>> pyml.losses.sparse_categorical_crossentropy(y_true, y_pred).shape
    (2,)

Functions reduce the last axis (the mean for regression losses, the sum over classes for
cross-entropies) and return one loss per sample. Classes apply ``reduction`` over the batch:
``"sum_over_batch_size"`` (the mean, Keras' default), ``"sum"`` or ``None`` (per-sample values).
Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` like Keras; with ``from_logits=True`` the
cross-entropies work on logits through ``log_softmax`` / a stable sigmoid form.
"""
from pyml import ops

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def match_ranks(y_true, y_pred):
    """Tensors for ``(y_true, y_pred)``, ``y_true`` reshaped when the ranks differ by a trailing axis of 1:
    ``(batch,)`` targets against ``(batch, 1)`` predictions and the reverse (Keras'
    ``squeeze_or_expand_to_same_rank``).

    >>> y_true, y_pred = pyml.losses.match_ranks(np.array([1.0, 0.0]), np.array([[0.9], [0.2]]))
    >>> y_true.shape
    (2, 1)
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = ops.expand_dims(y_true, -1)
    elif y_pred.ndim == y_true.ndim - 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return y_true, y_pred


def _pair(y_true, y_pred):
    """Tensors for (y_true, y_pred): float predictions, y_true cast to their dtype, ranks matched like Keras."""
    y_pred = ops.convert_to_tensor(y_pred)
    if not y_pred.dtype.startswith("float"):
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.convert_to_tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    return match_ranks(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """``mean(square(y_true - y_pred), axis=-1)``.

    >>> pyml.losses.mean_squared_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")).numpy()
    array([0.5], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(abs(y_true - y_pred), axis=-1)``.

    >>> pyml.losses.mean_absolute_error(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")).numpy()
    array([0.5], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


def _smooth(y_true, label_smoothing, num_classes):
    if not label_smoothing:
        return y_true
    return ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / num_classes)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``mean(-(y log p + (1 - y) log(1 - p)), axis)``, with ``p`` clipped to ``[1e-7, 1 - 1e-7]``.

    With ``from_logits=True``, ``y_pred`` are logits and the loss is ``max(x, 0) - x y + log(1 + exp(-|x|))``.

    >>> pyml.losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.5]], "float32")).numpy().round(4)
    array([0.6931], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing) if label_smoothing \
        else y_true
    if from_logits:
        stable = ops.log(ops.add(ops.exp(ops.negative(ops.abs(y_pred))), 1.0))
        per_entry = ops.add(ops.subtract(ops.relu(y_pred), ops.multiply(y_pred, y_true)), stable)
    else:
        p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        per_entry = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                         ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))
    return ops.mean(per_entry, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """``-sum(y * log(p), axis)`` over one-hot (or soft) targets.

    Probabilities are renormalised to sum to 1 and clipped to ``[1e-7, 1 - 1e-7]`` (Keras); with
    ``from_logits=True``, ``log p = log_softmax(y_pred)``.

    >>> y_true = np.array([[0.0, 1.0]])
    >>> pyml.losses.categorical_crossentropy(y_true, np.array([[0.2, 0.8]], "float32")).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.shape[-1:] != y_pred.shape[-1:]:
        raise ValueError("categorical_crossentropy expects one-hot targets shaped like the predictions; "
                         "for integer class ids use sparse_categorical_crossentropy. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[axis])
    if from_logits:
        log_p = ops.log_softmax(y_pred, axis=axis)
    else:
        p = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
        log_p = ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))
    return ops.negative(ops.sum(ops.multiply(y_true, log_p), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Categorical cross-entropy with integer class ids as targets: ``-log(p[y_true])``.

    Args:
        y_true: ids of shape ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: probabilities (or logits) of shape ``(batch, ..., num_classes)``.
        from_logits: whether ``y_pred`` are logits.
        ignore_class: optional id whose samples get loss 0.

    >>> pyml.losses.sparse_categorical_crossentropy(np.array([1]), np.array([[0.2, 0.8]], "float32")).numpy().round(4)
    array([0.2231], dtype=float32)
    """
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if y_true.ndim != y_pred.ndim - 1 or y_true.shape != y_pred.shape[:-1]:
        raise ValueError("sparse_categorical_crossentropy expects one class id per prediction row: y_true of shape "
                         f"{y_pred.shape[:-1]} for y_pred of shape {y_pred.shape}. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    if y_true.dtype != "int32":
        y_true = ops.cast(y_true, "int32")
    if not y_true.is_symbolic:
        _check_class_ids(y_true, y_pred.shape[axis], ignore_class)
    one_hot = ops.one_hot(y_true, y_pred.shape[axis], axis=axis, dtype=y_pred.dtype)
    loss = categorical_crossentropy(one_hot, y_pred, from_logits=from_logits, axis=axis)
    if ignore_class is not None:
        loss = ops.multiply(loss, ops.cast(ops.not_equal(y_true, int(ignore_class)), loss.dtype))
    return loss


def _check_class_ids(ids, num_classes, ignore_class):
    """Refuse ids outside ``[0, num_classes)`` (``ignore_class`` aside): their one-hot row is all zeros, so the
    loss would silently be 0 (TensorFlow refuses them too)."""
    values = ids.numpy()
    bad = (values < 0) | (values >= num_classes)
    if ignore_class is not None:
        bad &= values != int(ignore_class)
    if bad.any():
        raise ValueError(f"sparse_categorical_crossentropy expects class ids in [0, {num_classes}) for predictions "
                         f"over {num_classes} classes (labels counted from 1 must be shifted down). "
                         f"Received: y_true holds {values[bad].flat[0]}")


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss (a scalar Tensor).

    Subclasses implement ``call(y_true, y_pred)`` (on Tensors) returning one loss per sample.

    Args:
        reduction: ``"sum_over_batch_size"`` (mean, default), ``"sum"`` or None (no reduction).
        name: name used in logs.

    >>> class Hinge(pyml.losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         return pyml.ops.mean(pyml.ops.relu(1.0 - y_true * y_pred), axis=-1)
    >>> float(Hinge()(np.array([[1.0], [-1.0]]), np.array([[0.5], [0.5]], "float32")))
    1.0
    """

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid reduction: expected one of {REDUCTIONS}. Received: reduction={reduction!r}")
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true, y_pred):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None)  # a masked model output (pyml.layers.call_args)
        losses = self.call(ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred))  # Tensors, as in Keras
        if mask is not None:
            sample_weight = _mask_weights(mask, sample_weight, losses, self.reduction)
        if sample_weight is not None:
            weight = ops.convert_to_tensor(sample_weight)
            weight = ops.cast(weight, losses.dtype) if weight.dtype != losses.dtype else weight
            while weight.ndim > losses.ndim and weight.shape[-1] == 1:
                weight = ops.squeeze(weight, -1)
            while weight.ndim < losses.ndim:
                weight = ops.expand_dims(weight, -1)
            losses = ops.multiply(losses, weight)
        return reduce_values(losses, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _mask_weights(mask, sample_weight, losses, reduction):
    """Keras 3's rule for the mask of ``y_pred``: masked entries weigh 0; for a mean, the others weigh
    ``mask.size / count(mask)``, so the mean runs over the unmasked entries (0 when there are none)."""
    mask = ops.convert_to_tensor(mask)
    if mask.dtype != "bool":
        mask = ops.cast(mask, "bool")
    weight = 1.0
    if reduction in ("sum_over_batch_size", "mean"):
        valid = ops.sum(ops.cast(mask, losses.dtype))
        weight = ops.divide(float(mask.size), ops.maximum(valid, 1.0))
    weights = ops.where(mask, weight, ops.zeros_like(mask, dtype=losses.dtype))
    if sample_weight is None:
        return weights
    sample_weight = ops.convert_to_tensor(sample_weight)
    while sample_weight.ndim < weights.ndim:
        sample_weight = ops.expand_dims(sample_weight, -1)
    return ops.multiply(ops.cast(sample_weight, losses.dtype), weights)


def reduce_values(values, reduction="sum_over_batch_size"):
    """Reduce per-sample losses: the mean (``"sum_over_batch_size"``/``"mean"``), the sum, or nothing.

    >>> values = pyml.Tensor([1.0, 3.0])
    >>> float(pyml.losses.reduce_values(values)), float(pyml.losses.reduce_values(values, "sum"))
    (2.0, 4.0)
    """
    if reduction in (None, "none"):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    return ops.divide(total, float(max(values.size, 1)))


def _snake(name):
    from pyml.layers.base import to_snake_case

    return to_snake_case(name)


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a loss function and its keyword arguments: subclasses set ``fn``.

    >>> class Squared(pyml.losses.LossFunctionWrapper):
    ...     fn = staticmethod(pyml.losses.mean_squared_error)
    >>> float(Squared()(np.array([[0.0, 1.0]]), np.array([[1.0, 1.0]], "float32")))
    0.5
    """

    fn = None

    def __init__(self, name=None, reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction)
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


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

    def __call__(self, y_true, y_pred, sample_weight=None):
        loss = super().__call__(y_true, y_pred, sample_weight)
        ignore_class = self._fn_kwargs["ignore_class"]
        if ignore_class is None or self.reduction not in ("sum_over_batch_size", "mean"):
            return loss
        # Keras masks the ignored entries, so the mean runs over the entries that count: rescale
        # sum / all entries to sum / valid entries (0 when none counts, as Keras' divide_no_nan)
        ids = ops.convert_to_tensor(y_true)
        valid = ops.sum(ops.cast(ops.not_equal(ids, ignore_class), loss.dtype))
        return ops.divide(ops.multiply(loss, float(ids.size)), ops.maximum(valid, 1.0))


# Keras' short names
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_FUNCTIONS = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, BinaryCrossentropy,
                                          CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def serialize(loss):
    """A JSON-ready description: the name of a built-in function, or ``{"class_name", "config"}``.

    >>> pyml.losses.serialize(pyml.losses.mean_squared_error)
    'mean_squared_error'
    """
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return getattr(loss, "__name__", str(loss))


def get(identifier, custom_objects=None):
    """A loss callable from a name (``"mse"``, ``"sparse_categorical_crossentropy"``, ``"MeanSquaredError"``),
    a serialized dict, a ``Loss`` or any function ``f(y_true, y_pred)``.

    >>> pyml.losses.get("mse") is pyml.losses.mean_squared_error
    True
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Loss) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = custom_objects.get(name) or _CLASSES.get(name)
        if cls is None:
            raise ValueError(f"Unknown loss class: known ones are {', '.join(sorted(_CLASSES))}. "
                             f"Received: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or _FUNCTIONS.get(identifier) or _CLASSES.get(identifier)
        if isinstance(found, type):
            return found()
        if found is not None:
            return found
    known = sorted(set(_FUNCTIONS) | set(_CLASSES))
    raise ValueError(f"Unknown loss: known ones are {', '.join(known)}. Received: loss={identifier!r}")


__all__ = ["Loss", "LossFunctionWrapper", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "mean_squared_error",
           "mean_absolute_error", "binary_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy", "mse", "mae", "MSE", "MAE", "get", "serialize", "reduce_values",
           "match_ranks"]

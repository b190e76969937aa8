"""The ``Loss`` base class and Keras 3's reduction rules (``reduce_weighted_values``).

A loss function returns one value per sample (per entry, for sequences); a ``Loss`` object weighs them by
``sample_weight`` and by the mask of ``y_pred`` (and of its own result, e.g. ``ignore_class``), then reduces:

    ====================================  =====================================================================
    ``reduction``                         result
    ====================================  =====================================================================
    ``"sum_over_batch_size"``, ``"mean"``  ``sum(values * weights) / values.size``; masked entries weigh 0 and the
                                          others ``size / count(mask)``, so it is the mean over unmasked entries
    ``"mean_with_sample_weight"``         ``sum(values * weights) / sum(weights)`` (0 when the weights sum to 0)
    ``"sum"``                             ``sum(values * weights)``
    ``"none"``, None                      ``values * weights``, unreduced
    ====================================  =====================================================================

    >>> values = pyml.Tensor([1.0, 3.0])
    >>> float(pyml.losses.reduce_weighted_values(values, sample_weight=[1.0, 3.0], reduction="mean_with_sample_weight"))
    2.5
"""
from pyml import ops
from pyml.errors import OpError
from pyml.layers import call_args

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


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


def pair(y_true, y_pred):
    """Tensors for (y_true, y_pred): float predictions, y_true cast to their dtype, ranks matched like Keras
    (``match_ranks``; for every loss, also those whose Keras function skips it and would broadcast ``(batch,)``
    targets against ``(batch, 1)`` predictions into a ``(batch, batch)`` loss)."""
    y_pred = ops.convert_to_tensor(y_pred)
    if not y_pred.dtype.startswith("float"):
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.convert_to_tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    return match_ranks(y_true, y_pred)


def divide_no_nan(x, y):
    """``x / y``, 0 where ``y == 0`` (with a clean gradient there too)."""
    zero = ops.equal(y, 0.0)
    return ops.where(zero, 0.0, ops.divide(x, ops.where(zero, 1.0, y)))


def _weights_like(values, weights):
    """``(values, weights)`` with ranks matched: first Keras' rule (a trailing axis of 1 squeezed from the
    longer one, or a rank-1 weight expanded), then per-sample weights expanded over the remaining trailing axes
    (``(batch,)`` weights for ``(batch, steps)`` values, which Keras refuses to broadcast)."""
    if values.ndim == weights.ndim + 1 and values.shape[-1] == 1:
        if weights.ndim == 1:
            weights = ops.expand_dims(weights, -1)
        else:
            values = ops.squeeze(values, -1)
    elif weights.ndim == values.ndim + 1 and weights.shape[-1] == 1:
        if values.ndim == 1:
            values = ops.expand_dims(values, -1)
        else:
            weights = ops.squeeze(weights, -1)
    while 0 < weights.ndim < values.ndim:  # weights index samples (axis 0), even when a later axis has their size
        weights = ops.expand_dims(weights, -1)
    return values, weights


def _mask_weights(mask, dtype, reduction):
    """Keras 3's weights for the mask: 0 where masked; for the mean reductions the others weigh
    ``mask.size / count(mask)``, so the mean runs over the unmasked entries (0 when there are none)."""
    mask = ops.convert_to_tensor(mask)
    if mask.dtype != "bool":
        mask = ops.cast(mask, "bool")
    if reduction not in ("sum_over_batch_size", "mean"):
        return ops.cast(mask, dtype)
    valid = ops.sum(ops.cast(mask, dtype))
    return ops.where(mask, divide_no_nan(float(mask.size), valid), ops.zeros_like(mask, dtype=dtype))


def reduce_values(values, reduction="sum_over_batch_size", sample_weight=None):
    """Reduce (already weighted) losses: the mean (``"sum_over_batch_size"``/``"mean"``), the mean by the weights'
    sum (``"mean_with_sample_weight"`` given ``sample_weight``), the sum, or nothing (also for a 0-d ``values``).

    >>> values = pyml.Tensor([1.0, 3.0])
    >>> float(pyml.losses.reduce_values(values)), float(pyml.losses.reduce_values(values, "sum"))
    (2.0, 4.0)
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: expected one of {REDUCTIONS}. Received: reduction={reduction!r}")
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return divide_no_nan(total, ops.sum(sample_weight))
    return ops.divide(total, float(max(values.size, 1)))


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras 3's ``reduce_weighted_values``: merge ``mask`` into ``sample_weight`` (see the module docstring),
    weigh ``values`` and reduce them (``reduce_values``)."""
    values = ops.convert_to_tensor(values)
    if mask is not None:
        weights = _mask_weights(mask, values.dtype, reduction)
        if sample_weight is not None:
            weights, sample_weight = _weights_like(weights, _as_float(sample_weight, values.dtype))
            weights = ops.multiply(sample_weight, weights)
        sample_weight = weights
    if sample_weight is not None:
        values, sample_weight = _weights_like(values, _as_float(sample_weight, values.dtype))
        values = ops.multiply(values, sample_weight)
    return reduce_values(values, reduction, sample_weight)


def _as_float(value, dtype):
    value = ops.convert_to_tensor(value)
    return value if value.dtype == dtype else ops.cast(value, dtype)


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss (a scalar Tensor).

    Subclasses implement ``call(y_true, y_pred)`` (on Tensors) returning one loss per sample.

    Args:
        reduction: one of ``"sum_over_batch_size"`` (the mean, default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or None (see the module docstring).
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
        in_mask = call_args.get_mask(y_pred)  # a masked model output (pyml.layers.call_args)
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)  # Tensors, as in Keras
        try:
            losses = self.call(y_true, y_pred)
        except OpError as exc:  # shapes the loss cannot pair: say which loss, not only which op
            raise ValueError(f"Loss {self.name!r} cannot compare y_true of shape {y_true.shape} with y_pred of shape "
                             f"{y_pred.shape} ({exc})") from exc
        out_mask = call_args.get_mask(losses)  # entries the loss itself leaves out (ignore_class)
        if in_mask is not None and out_mask is not None:
            mask = ops.logical_and(ops.cast(in_mask, "bool"), ops.cast(out_mask, "bool"))
        else:
            mask = in_mask if in_mask is not None else out_mask
        return reduce_weighted_values(losses, sample_weight, mask, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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

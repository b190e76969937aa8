"""Losses, Keras semantics: a stateless function per loss (one value per sample) plus a class that reduces.

    >>> y_true = np.array([1, 0])
    >>> y_pred = np.array([[0.1, 0.9], [0.8, 0.2]], "float32")
    >>> loss = pyml.losses.SparseCategoricalCrossentropy()
    >>> round(float(loss(y_true, y_pred)), 4)          # mean of -log(0.9), -log(0.8)
    0.1643
    >>> pyml.losses.sparse_categorical_crossentropy(y_true, y_pred).shape
    (2,)

Functions reduce the last axis (the mean for regression losses, the sum over classes for
cross-entropies) and return one loss per sample. Classes weigh them by ``sample_weight`` and masks and
apply ``reduction`` (``pyml.losses.base``: ``"sum_over_batch_size"`` (the mean, Keras' default), ``"sum"``,
``"mean"``, ``"mean_with_sample_weight"``, ``"none"`` or None).

The families live in ``regression`` (MSE, MAE, MAPE, MSLE, cosine similarity, Huber, log-cosh),
``probabilistic`` (the cross-entropies and their focal forms, KL divergence, Poisson) and ``hinge``.
Every loss is written in pyml ops, so it differentiates and traces into ``fit``'s compiled step.
"""
from pyml import configurable
from pyml.losses.base import (EPSILON, REDUCTIONS, Loss, LossFunctionWrapper, match_ranks,  # noqa: F401
                              reduce_values, reduce_weighted_values)
from pyml.losses.hinge import (CategoricalHinge, Hinge, SquaredHinge, binary_to_signed, categorical_hinge, hinge,
                               squared_hinge)
from pyml.losses.probabilistic import (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
                                       CategoricalFocalCrossentropy, KLDivergence, Poisson,
                                       SparseCategoricalCrossentropy, binary_crossentropy, binary_focal_crossentropy,
                                       categorical_crossentropy, categorical_focal_crossentropy, kl_divergence,
                                       poisson, sparse_categorical_crossentropy)
from pyml.losses.regression import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError, MeanAbsolutePercentageError,
                                    MeanSquaredError, MeanSquaredLogarithmicError, cosine_similarity, huber, log_cosh,
                                    mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                                    mean_squared_logarithmic_error)

# Keras' short names
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
bce = BCE = binary_crossentropy

_FUNCTION_LIST = [mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                  mean_squared_logarithmic_error, cosine_similarity, huber, log_cosh, binary_crossentropy,
                  binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
                  sparse_categorical_crossentropy, kl_divergence, poisson, hinge, squared_hinge, categorical_hinge]
_FUNCTIONS = {fn.__name__: fn for fn in _FUNCTION_LIST}
_FUNCTIONS.update({"mse": mse, "MSE": mse, "mae": mae, "MAE": mae, "mape": mape, "MAPE": mape, "msle": msle,
                   "MSLE": msle, "kld": kld, "KLD": kld, "kullback_leibler_divergence": kld, "logcosh": log_cosh,
                   "bce": bce, "BCE": bce})
_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity,
    Huber, LogCosh, BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
    CategoricalFocalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge)}


def serialize(loss):
    """A JSON-ready description: the name of a built-in function, or ``{"class_name", "config"}``.

    >>> pyml.losses.serialize(pyml.losses.mean_squared_error)
    'mean_squared_error'
    >>> pyml.losses.serialize(pyml.losses.Huber(delta=2.0))["config"]["delta"]
    2.0
    """
    if isinstance(loss, Loss):
        return configurable.serialize(loss)
    return getattr(loss, "__name__", str(loss))


def get(identifier, custom_objects=None):
    """A loss callable from a name (``"mse"``, ``"huber"``, ``"kld"``, ``"MeanSquaredError"``), a serialized dict,
    a ``Loss`` or any function ``f(y_true, y_pred)``. Unknown names raise a ValueError listing the known ones.

    >>> pyml.losses.get("mse") is pyml.losses.mean_squared_error
    True
    >>> pyml.losses.get("logcosh") is pyml.losses.log_cosh
    True
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Loss) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, dict):
        return configurable.from_class_dict(identifier, "loss", _CLASSES, custom_objects)
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or _FUNCTIONS.get(identifier) or _CLASSES.get(identifier)
        if isinstance(found, type):
            return found()
        if found is not None:
            return found
    known = sorted(set(_FUNCTIONS) | set(_CLASSES))
    raise ValueError(f"Unknown loss: known ones are {', '.join(known)}. Received: loss={identifier!r}")


__all__ = ["Loss", "LossFunctionWrapper", "get", "serialize", "reduce_values", "reduce_weighted_values",
           "match_ranks", "binary_to_signed", *_CLASSES, *_FUNCTIONS]

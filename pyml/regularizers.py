"""Weight and activity regularizers (Keras 3): a penalty ``regularizer(x) -> scalar`` added to the loss.

A layer takes them as ``kernel_regularizer``, ``bias_regularizer`` (and ``recurrent_regularizer``,
``embeddings_regularizer``, ``depthwise_regularizer``, ``beta_regularizer``/``gamma_regularizer`` where Keras
has them) and ``activity_regularizer``. ``layer.losses`` / ``model.losses`` list the current penalties, and the
training step adds their sum to the loss (see ``pyml.layers.Layer.losses``). Penalties are written in pyml ops,
so they differentiate and trace into ``fit``'s compiled step.

    >>> layer = pyml.layers.Dense(2, kernel_initializer="ones", kernel_regularizer=pyml.regularizers.L2(0.1))
    >>> _ = layer(np.ones((1, 3), "float32"))
    >>> [round(float(p), 4) for p in layer.losses]       # 0.1 * sum(kernel²) = 0.1 * 6
    [0.6]
"""
import numpy as np

from pyml import configurable, ops
from pyml.configurable import Configurable


class Regularizer(Configurable):
    """Base class: ``__call__(x)`` returns a scalar penalty for the tensor ``x``; ``get_config`` its arguments.

    >>> class Sum(pyml.regularizers.Regularizer):
    ...     def __call__(self, x):
    ...         return pyml.ops.sum(x)
    >>> float(Sum()(pyml.Tensor([1.0, 2.0])))
    3.0
    """

    def __call__(self, x):
        return ops.zeros_like(ops.sum(x))


def _factor(cls, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise ValueError(f"{cls} expects {name} to be a non-negative float. Received: {name}={value!r}")
    return float(value)


class L1L2(Regularizer):
    """``l1 * sum(abs(x)) + l2 * sum(square(x))``.

    >>> float(pyml.regularizers.L1L2(l1=0.5, l2=0.25)(pyml.Tensor([1.0, -2.0])))
    2.75
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        penalty = ops.zeros_like(ops.sum(x))
        if self.l1:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.abs(x)), self.l1))
        if self.l2:
            penalty = ops.add(penalty, ops.multiply(ops.sum(ops.square(x)), self.l2))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(abs(x))`` (default ``l1=0.01``).

    >>> float(pyml.regularizers.L1(0.5)(pyml.Tensor([1.0, -2.0])))
    1.5
    """

    def __init__(self, l1=0.01):
        self.l1 = _factor("L1", "l1", 0.01 if l1 is None else l1)

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.abs(x)), self.l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(square(x))`` (default ``l2=0.01``).

    >>> float(pyml.regularizers.L2(0.5)(pyml.Tensor([1.0, -2.0])))
    2.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _factor("L2", "l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        return ops.multiply(ops.sum(ops.square(x)), self.l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (``mode="rows"``) or columns (``mode="columns"``) of a 2-D weight towards orthogonality:
    ``factor * 0.5 * sum(|u_i . u_j|, i != j) / (n (n - 1) / 2)`` over the L2-normalised rows or columns ``u``.

    >>> round(float(pyml.regularizers.OrthogonalRegularizer(1.0)(pyml.Tensor([[1.0, 0.0], [1.0, 1.0]]))), 4)
    0.7071
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f'OrthogonalRegularizer expects mode "rows" or "columns". Received: mode={mode!r}')
        self.mode = mode

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer applies to 2-D weights (a Dense kernel). "
                             f"Received: a weight of shape {x.shape}")
        vectors = x if self.mode == "rows" else ops.transpose(x)
        squares = ops.sum(ops.square(vectors), axis=1, keepdims=True)
        unit = ops.divide(vectors, ops.sqrt(ops.maximum(squares, 1e-14)))  # Keras' normalize, eps = 1e-7
        size = vectors.shape[0]
        products = ops.abs(ops.matmul(unit, ops.transpose(unit)))
        off_diagonal = ops.subtract(ops.sum(products), ops.sum(ops.multiply(products, _eye(size, x.dtype))))
        return ops.multiply(off_diagonal, self.factor * 0.5 / (size * (size - 1) / 2.0))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def _eye(size, dtype):
    return ops.convert_to_tensor(np.eye(size, dtype=dtype))


def add_penalties(loss, penalties):
    """``loss + sum(sum(p) for p in penalties)``: how the training step adds ``model.losses`` (Keras 3 sums each
    one, so a non-scalar ``add_loss`` counts whole).

    >>> float(pyml.regularizers.add_penalties(pyml.Tensor(1.0), [pyml.Tensor(0.5), pyml.Tensor([0.25, 0.25])]))
    2.0
    """
    for penalty in penalties:
        penalty = ops.convert_to_tensor(penalty)
        penalty = penalty if penalty.dtype == loss.dtype else ops.cast(penalty, loss.dtype)
        loss = ops.add(loss, ops.sum(penalty) if penalty.ndim else penalty)
    return loss


# Keras' names: class names, their snake_case forms, and the lower-case aliases
_CLASSES = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(l1=0.01, l2=0.01), "l1l2": lambda: L1L2(l1=0.01, l2=0.01),
          "orthogonal_regularizer": OrthogonalRegularizer}


def serialize(regularizer):
    """``{"class_name", "config"}`` for a ``Regularizer``, None for None, the name of a plain function.

    >>> pyml.regularizers.serialize(pyml.regularizers.L2(0.1))
    {'class_name': 'L2', 'config': {'l2': 0.1}}
    """
    if regularizer is None:
        return None
    if isinstance(regularizer, Regularizer):
        return configurable.serialize(regularizer)
    return getattr(regularizer, "__name__", str(regularizer))


def get(identifier, custom_objects=None):
    """A regularizer from None, a name (``"l1"``, ``"l2"``, ``"l1_l2"`` — the strings use 0.01 as in Keras'
    documentation — or a class name), a serialized dict, an instance or any callable ``f(x) -> scalar``.

    >>> pyml.regularizers.get("l1_l2")
    L1L2(l1=0.01, l2=0.01)
    """
    return configurable.resolve(identifier, "regularizer", Regularizer, _NAMES, _CLASSES, custom_objects)


l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2", "orthogonal_regularizer",
           "get", "serialize", "add_penalties"]

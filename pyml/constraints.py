"""Weight constraints (Keras 3): a projection ``constraint(w) -> w'`` applied to a variable after each optimizer
update (eager ``apply_gradients`` and ``fit``'s compiled step alike).

A layer takes them as ``kernel_constraint``, ``bias_constraint`` (and ``recurrent_constraint``,
``embeddings_constraint``, ``depthwise_constraint``, ``beta_constraint``/``gamma_constraint`` where Keras has
them); ``layer.add_weight(constraint=...)`` sets ``variable.constraint``. Norms are taken along ``axis`` (0 by
default: for a Dense kernel ``(in, units)``, the incoming weights of each unit; ``[0, 1, 2]`` for a Conv2D kernel).

    >>> w = pyml.Tensor([[3.0, -1.0], [4.0, 0.5]])
    >>> pyml.constraints.MaxNorm(1.0)(w).numpy().round(3)       # column norms 5 and 1.118 scaled to 1
    array([[ 0.6  , -0.894],
           [ 0.8  ,  0.447]], dtype=float32)
"""
from pyml import configurable, ops
from pyml.configurable import Configurable

EPSILON = 1e-7


class Constraint(Configurable):
    """Base class: ``__call__(w)`` returns the projected tensor (the default: ``w`` unchanged).

    >>> class Clip(pyml.constraints.Constraint):
    ...     def __call__(self, w):
    ...         return pyml.ops.clip(w, -1.0, 1.0)
    >>> Clip()(pyml.Tensor([2.0, -0.5])).numpy()
    array([ 1. , -0.5], dtype=float32)
    """

    def __call__(self, w):
        return w


def _axis(axis):
    return tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)


def _norms(w, axis):
    return ops.sqrt(ops.sum(ops.square(w), axis=axis, keepdims=True))


class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to ``max_value``:
    ``w * clip(norm, 0, max_value) / (1e-7 + norm)``.

    >>> pyml.constraints.MaxNorm(2.0, axis=1)(pyml.Tensor([[3.0, 4.0]])).numpy()
    array([[1.2, 1.6]], dtype=float32)
    """

    def __init__(self, max_value=2.0, axis=0):
        self.max_value, self.axis = float(max_value), _axis(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        return ops.multiply(w, ops.divide(ops.clip(norms, 0.0, self.max_value), ops.add(norms, EPSILON)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """``maximum(w, 0)``: non-negative weights.

    >>> pyml.constraints.NonNeg()(pyml.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """

    def __call__(self, w):
        return ops.maximum(w, 0.0)


class UnitNorm(Constraint):
    """``w / (1e-7 + norm(w, axis))``: unit L2 norm along ``axis``.

    >>> pyml.constraints.UnitNorm(axis=1)(pyml.Tensor([[3.0, 4.0]])).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def __call__(self, w):
        return ops.divide(w, ops.add(_norms(w, self.axis), EPSILON))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves the L2 norm of each slice along ``axis`` into ``[min_value, max_value]`` at ``rate``:
    ``desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm``; ``w * desired / (1e-7 + norm)``.

    >>> pyml.constraints.MinMaxNorm(1.0, 2.0, rate=0.5, axis=1)(pyml.Tensor([[3.0, 4.0]])).numpy()
    array([[2.1, 2.8]], dtype=float32)
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate = float(min_value), float(max_value), float(rate)
        if self.min_value > self.max_value:
            raise ValueError(f"MinMaxNorm expects min_value <= max_value. Received: min_value={min_value}, "
                             f"max_value={max_value}")
        self.axis = _axis(axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = ops.add(ops.multiply(ops.clip(norms, self.min_value, self.max_value), self.rate),
                          ops.multiply(norms, 1.0 - self.rate))
        return ops.multiply(w, ops.divide(desired, ops.add(norms, EPSILON)))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


_CLASSES = {cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_NAMES = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm,
          "constraint": Constraint}


def serialize(constraint):
    """``{"class_name", "config"}`` for a ``Constraint``, None for None, the name of a plain function.

    >>> pyml.constraints.serialize(pyml.constraints.NonNeg())
    {'class_name': 'NonNeg', 'config': {}}
    """
    if constraint is None:
        return None
    if isinstance(constraint, Constraint):
        return configurable.serialize(constraint)
    return getattr(constraint, "__name__", str(constraint))


def get(identifier, custom_objects=None):
    """A constraint from None, a name (``"non_neg"``, ``"max_norm"``, ``"unit_norm"``, ``"min_max_norm"`` or a
    class name), a serialized dict, an instance or any callable ``f(w) -> w'``.

    >>> pyml.constraints.get("max_norm")
    MaxNorm(max_value=2.0, axis=0)
    """
    return configurable.resolve(identifier, "constraint", Constraint, _NAMES, _CLASSES, custom_objects)


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm",
           "min_max_norm", "get", "serialize"]

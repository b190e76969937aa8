"""Merging layers for functional models: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` (elementwise, with broadcasting) and ``Concatenate`` (along an axis).

    >>> a, b = pyml.Input(shape=(4,)), pyml.Input(shape=(4,))
    >>> pyml.layers.Add()([a, b]).shape
    (None, 4)
    >>> pyml.layers.Concatenate()([a, b]).shape
    (None, 8)
"""
import functools

from pyml import ops
from pyml.layers.base import Layer


class Merge(Layer):
    """Base class: ``call`` takes a list of at least two tensors and combines them with ``merge``."""

    min_inputs = 2

    def _check(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < self.min_inputs:
            count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects a list of at least "
                             f"{self.min_inputs} tensors. Received: {count} input(s)")

    def call(self, inputs):
        self._check(inputs)
        return self.merge(list(inputs))

    def merge(self, tensors):
        raise NotImplementedError


def _elementwise(name, op, doc):
    def merge(self, tensors):
        return functools.reduce(op, tensors)

    return type(name, (Merge,), {"merge": merge, "__doc__": doc, "__module__": __name__})


Add = _elementwise("Add", ops.add, "Sum of the inputs, elementwise: ``Add()([a, b, c]) = a + b + c``.")
Multiply = _elementwise("Multiply", ops.multiply, "Product of the inputs, elementwise.")
Maximum = _elementwise("Maximum", ops.maximum, "Elementwise maximum of the inputs.")
Minimum = _elementwise("Minimum", ops.minimum, "Elementwise minimum of the inputs.")


class Subtract(Merge):
    """``Subtract()([a, b]) = a - b`` (exactly two inputs)."""

    def merge(self, tensors):
        if len(tensors) != 2:
            raise ValueError(f"Layer {self.name!r} (Subtract) expects exactly 2 inputs. Received: {len(tensors)}")
        return ops.subtract(tensors[0], tensors[1])


class Average(Merge):
    """Mean of the inputs, elementwise."""

    def merge(self, tensors):
        return ops.divide(functools.reduce(ops.add, tensors), float(len(tensors)))


class Concatenate(Merge):
    """Joins the inputs along ``axis`` (default -1); the other axes must match.

    Args:
        axis: the axis to join along.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Concatenate expects an int axis. Received: axis={axis!r}")
        self.axis = axis

    def merge(self, tensors):
        return ops.concatenate(tensors, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

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


def _doc(summary, name, output):
    return (f"{summary}\n\n    >>> pyml.layers.{name}()([np.array([[1.0, 2.0]], 'float32'), "
            f"np.array([[3.0, 1.0]], 'float32')]).numpy()\n    {output}\n    ")


Add = _elementwise("Add", ops.add, _doc("Sum of the inputs, elementwise: ``Add()([a, b, c]) = a + b + c``.", "Add",
                                        "array([[4., 3.]], dtype=float32)"))
Multiply = _elementwise("Multiply", ops.multiply, _doc("Product of the inputs, elementwise.", "Multiply",
                                                       "array([[3., 2.]], dtype=float32)"))
Maximum = _elementwise("Maximum", ops.maximum, _doc("Elementwise maximum of the inputs.", "Maximum",
                                                    "array([[3., 2.]], dtype=float32)"))
Minimum = _elementwise("Minimum", ops.minimum, _doc("Elementwise minimum of the inputs.", "Minimum",
                                                    "array([[1., 1.]], dtype=float32)"))


class Subtract(Merge):
    """``Subtract()([a, b]) = a - b`` (exactly two inputs).

    >>> pyml.layers.Subtract()([np.array([[1.0, 2.0]], "float32"), np.array([[3.0, 1.0]], "float32")]).numpy()
    array([[-2.,  1.]], dtype=float32)
    """

    def merge(self, tensors):
        if len(tensors) != 2:
            raise ValueError(f"Layer {self.name!r} (Subtract) expects exactly 2 inputs. Received: {len(tensors)}")
        return ops.subtract(tensors[0], tensors[1])


class Average(Merge):
    """Mean of the inputs, elementwise.

    >>> pyml.layers.Average()([np.array([[1.0, 2.0]], "float32"), np.array([[3.0, 1.0]], "float32")]).numpy()
    array([[2. , 1.5]], dtype=float32)
    """

    def merge(self, tensors):
        return ops.divide(functools.reduce(ops.add, tensors), float(len(tensors)))


class Concatenate(Merge):
    """Joins the inputs along ``axis`` (default -1); the other axes must match.

    Args:
        axis: the axis to join along.

    >>> pyml.layers.Concatenate()([np.array([[1.0, 2.0]], "float32"), np.array([[3.0]], "float32")]).numpy()
    array([[1., 2., 3.]], dtype=float32)
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

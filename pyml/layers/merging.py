"""Merging layers for functional models: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` (elementwise, with broadcasting), ``Concatenate`` (along an axis) and ``Dot`` (a batched dot product).

    >>> a, b = pyml.Input(shape=(4,)), pyml.Input(shape=(4,))
    >>> pyml.layers.Add()([a, b]).shape
    (None, 4)
    >>> pyml.layers.Concatenate()([a, b]).shape
    (None, 8)

Masks (Keras 3's rules): the output of ``Add``, ``Subtract``, ``Average`` is masked where every input is
(the OR of the input masks), and carries no mask unless every input has one. ``Maximum``/``Minimum`` take a
masked input's entries from the others, ``Multiply`` counts them as 1 (and zeroes entries masked in every
input). ``Concatenate`` joins the masks along its axis (an input without a mask counts as unmasked).
"""
import functools

from pyml import ops
from pyml.checks import boolean
from pyml.layers.base import Layer
from pyml.layers.call_args import get_mask, set_mask
from pyml.layers.normalization_extra import l2_normalize


class Merge(Layer):
    """Base class: ``call`` takes a list of at least two tensors and combines them with ``merge``."""

    min_inputs = 2

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        return functools.reduce(ops.logical_or, mask)

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


def _expanded_mask(x):
    """``x``'s (batch, steps) mask broadcast to its shape, or None."""
    mask = get_mask(x)
    return None if mask is None else ops.broadcast_to(ops.expand_dims(mask, -1), tuple(x.shape))


def _or_masked(op, tensors):
    """Keras's Maximum/Minimum with masks: a masked entry takes the other operand's value; the output is
    masked where every input is."""
    output, output_mask = tensors[0], _expanded_mask(tensors[0])
    for x in tensors[1:]:
        mask = _expanded_mask(x)
        if mask is not None:
            x = ops.where(mask, x, output)
        if output_mask is not None:
            output = ops.where(output_mask, output, x)
        output_mask = ops.logical_or(output_mask, mask) if mask is not None and output_mask is not None else None
        output = op(output, x)
    if output_mask is not None:
        set_mask(output, ops.any(output_mask, axis=-1))
    return output


def _multiply_masked(tensors):
    """Keras's Multiply with masks: masked entries count as 1; entries masked in every input become 0."""
    masks = [_expanded_mask(x) for x in tensors]
    output = functools.reduce(ops.multiply, [x if m is None else ops.where(m, x, 1.0) for x, m in zip(tensors, masks)])
    if all(m is not None for m in masks):
        output_mask = functools.reduce(ops.logical_or, masks)
        output = ops.where(output_mask, output, 0.0)
        set_mask(output, ops.any(output_mask, axis=-1))
    return output


def _elementwise(name, op, doc, masked=None):
    def merge(self, tensors):
        if masked is not None and any(get_mask(x) is not None for x in tensors):
            return masked(tensors)
        return functools.reduce(op, tensors)

    return type(name, (Merge,), {"merge": merge, "__doc__": doc, "__module__": __name__})


def _doc(summary, name, output):
    return (f"{summary}\n\n    >>> pyml.layers.{name}()([np.array([[1.0, 2.0]], 'float32'), "
            f"np.array([[3.0, 1.0]], 'float32')]).numpy()\n    {output}\n    ")


Add = _elementwise("Add", ops.add, _doc("Sum of the inputs, elementwise: ``Add()([a, b, c]) = a + b + c``.", "Add",
                                        "array([[4., 3.]], dtype=float32)"))
Multiply = _elementwise("Multiply", ops.multiply, _doc("Product of the inputs, elementwise.", "Multiply",
                                                       "array([[3., 2.]], dtype=float32)"), _multiply_masked)
Maximum = _elementwise("Maximum", ops.maximum, _doc("Elementwise maximum of the inputs.", "Maximum",
                                                    "array([[3., 2.]], dtype=float32)"),
                       functools.partial(_or_masked, ops.maximum))
Minimum = _elementwise("Minimum", ops.minimum, _doc("Elementwise minimum of the inputs.", "Minimum",
                                                    "array([[1., 1.]], dtype=float32)"),
                       functools.partial(_or_masked, ops.minimum))


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

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        full = []  # each mask at its input's rank, so they concatenate along the layer's axis
        for x, m in zip(inputs, mask):
            if m is None:
                m = ops.ones_like(x, dtype="bool")
            elif m.ndim < x.ndim:
                m = ops.broadcast_to(ops.expand_dims(m, -1), tuple(x.shape))
            full.append(m)
        return ops.any(ops.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Dot product of two samples along one axis each: ``Dot(axes=(a, b))([x, y])[n, ...] = sum_k
    x[n, ..., k (at a), ...] * y[n, ..., k (at b), ...]``, Keras's ``batch_dot``.

    The output's shape is ``x``'s without axis ``a``, then ``y``'s without the batch axis and axis ``b``;
    a result with the batch axis only becomes ``(batch, 1)``. With ``normalize=True`` both are first scaled
    to unit L2 norm along their axis, so the result is the cosine similarity. Masks are not passed on.

    Args:
        axes: an int (the same axis of both) or a pair of ints; the batch axis 0 cannot be used.
        normalize: whether to L2-normalize both inputs along ``axes`` first.

    >>> x = np.array([[1.0, 2.0]], "float32")
    >>> pyml.layers.Dot(axes=1)([x, np.array([[3.0, 4.0]], "float32")]).numpy()
    array([[11.]], dtype=float32)
    >>> a, b = pyml.Input(shape=(3, 4)), pyml.Input(shape=(5, 4))
    >>> pyml.layers.Dot(axes=(2, 2))([a, b]).shape
    (None, 3, 5)
    """

    min_inputs = 2
    NORMALIZE_EPSILON = 1e-7  # Keras's backend epsilon, the floor of the norm

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = [axes, axes] if isinstance(axes, int) else axes
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or any(
                isinstance(a, bool) or not isinstance(a, int) for a in pair):
            raise ValueError(f"Dot expects `axes` to be an int or a pair of ints. Received: axes={axes!r}")
        self.axes = axes if isinstance(axes, int) else list(axes)
        self.normalize = boolean(self, "normalize", normalize)

    def compute_mask(self, inputs, mask=None):
        return None

    def merge(self, tensors):
        if len(tensors) != 2:
            raise ValueError(f"Layer {self.name!r} (Dot) expects exactly 2 inputs. Received: {len(tensors)}")
        x, y = tensors
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        a, b = (axis % t.ndim if -t.ndim <= axis < t.ndim else None for axis, t in zip(pair, tensors))
        if x.ndim < 2 or y.ndim < 2 or not a or not b or x.shape[a] != y.shape[b]:
            raise ValueError(f"Layer {self.name!r} (Dot): `axes`={self.axes} must name one non-batch axis of each "
                             "input, of equal sizes. Received: input shapes "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if self.normalize:
            x, y = l2_normalize(x, (a,), self.NORMALIZE_EPSILON), l2_normalize(y, (b,), self.NORMALIZE_EPSILON)
        x_rest = tuple(d for i, d in enumerate(x.shape) if i not in (0, a))
        y_rest = tuple(d for i, d in enumerate(y.shape) if i not in (0, b))
        batch, depth = x.shape[0], x.shape[a]
        if not x_rest and not y_rest:  # two vectors per sample: an elementwise product and a sum, which fuse
            return ops.sum(ops.multiply(x, y), axis=-1, keepdims=True)
        # x as (batch, rows, depth) and y as (batch, depth, columns): one batched matmul
        x = ops.reshape(ops.moveaxis(x, a, -1), (batch, -1, depth))
        y = ops.reshape(ops.moveaxis(y, b, 1), (batch, depth, -1))
        return ops.reshape(ops.matmul(x, y), (batch,) + x_rest + y_rest)

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}

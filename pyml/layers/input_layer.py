"""Model inputs: ``Input(shape=...)`` returns a ``KerasTensor``; ``InputLayer`` is the layer behind it.

A ``KerasTensor`` is a placeholder with a shape (``None`` for the batch) and a dtype but no value.
Calling layers on it records which layer made which tensor, so a functional ``Model(inputs, outputs)``
can replay the calls later; ``Sequential`` takes it as its first element to learn the input shape.

    >>> x = pyml.Input(shape=(64,))
    >>> x.shape
    (None, 64)
    >>> y = pyml.layers.Dense(10)(x)
    >>> y.shape
    (None, 10)
"""
from pyml import dtypes
from pyml.layers.base import Layer
from pyml.ops.registry import Spec


class Node:
    """One call of a layer on KerasTensors: the layer, its input structure, keyword arguments, and outputs.

    A model input is a node of its ``InputLayer`` with ``inputs=None``.
    """

    def __init__(self, layer, inputs=None, kwargs=None):
        self.layer, self.inputs, self.kwargs = layer, inputs, dict(kwargs or {})
        self.outputs = []

    def input_tensors(self):
        if self.inputs is None:
            return []
        return list(self.inputs) if isinstance(self.inputs, (list, tuple)) else [self.inputs]


class KerasTensor:
    """A symbolic model tensor: ``shape`` (batch as None), ``dtype``, ``name``, and the ``Node`` that made it."""

    def __init__(self, shape, dtype="float32", name=None, producer=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = string_or_canonical(dtype)
        self.name = name
        self._producer = producer

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "A KerasTensor is a symbolic placeholder for a model input and has no value; "
            "call layers on it to build a model, or call the model on data. Received: a KerasTensor "
            f"with shape {self.shape}")


def string_or_canonical(dtype):
    """``"string"`` (what text layers take, never a pyml tensor: pyml.layers.host) or a pyml dtype's name."""
    return "string" if dtype in ("string", "str", str) else dtypes.canonical(dtype)


def _shape_and_dtype(inputs):
    flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    for t in flat:
        if not isinstance(t, KerasTensor):
            raise ValueError("When a layer is called on KerasTensors (functional API), every input must be "
                             f"a KerasTensor. Received: {type(t).__name__}")
    shapes = [t.shape for t in flat] if isinstance(inputs, (list, tuple)) else flat[0].shape
    return shapes, flat[0].dtype


def call_symbolic(layer, inputs, *args, training=None, **kwargs):
    """Apply ``layer`` to KerasTensors: build it, infer the output spec, and record the call."""
    if args:
        raise ValueError(f"Layer {layer.name!r}: on KerasTensors, pass extra call arguments by keyword. "
                         f"Received: {len(args)} extra positional arguments")
    shapes, dtype = _shape_and_dtype(inputs)
    from pyml.layers.host import HostLayer

    if dtype == "string" and not isinstance(layer, HostLayer):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) computes on numbers, but its input is a "
                         "string tensor: put a TextVectorization or StringLookup layer first.")
    spec = layer.compute_output_spec(shapes, input_dtype=dtype, **kwargs)
    node = Node(layer, inputs, dict(kwargs, training=training) if training is not None else kwargs)

    def wrap(s):
        tensor = KerasTensor(s.shape, s.dtype, name=layer.name, producer=node)
        node.outputs.append(tensor)
        return tensor

    if isinstance(spec, Spec):
        layer._summary_output_shape = spec.shape
        return wrap(spec)
    layer._summary_output_shape = [s.shape for s in spec]
    return type(spec)(wrap(s) for s in spec)


class InputLayer(Layer):
    """The layer that stands for a model input; ``Input()`` makes one and returns its output.

    Args:
        shape: shape of one sample, without the batch axis, e.g. ``(28, 28, 1)``.
        batch_size: fixed batch size, or None (dynamic).
        dtype: dtype of the input (``"float32"``; ``"int32"`` for token ids; ``"string"`` for text, which only a
            ``TextVectorization`` or ``StringLookup`` layer takes).
        batch_shape: alternatively, the full shape including the batch axis.
        name: optional name.

    >>> layer = pyml.layers.InputLayer(shape=(3,))
    >>> layer.output.shape
    (None, 3)
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        if shape is None and "input_shape" in kwargs:  # Keras 2's InputLayer(input_shape=...)
            shape = kwargs.pop("input_shape")
        text = string_or_canonical(dtype) == "string" if dtype is not None else False
        super().__init__(name=name, dtype=None if text else dtype, **kwargs)
        if text:
            self.dtype = "string"
        if shape is not None and batch_shape is not None:
            raise ValueError(f"InputLayer takes shape or batch_shape, not both. "
                             f"Received: shape={shape}, batch_shape={batch_shape}")
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer needs shape= (one sample, no batch axis). Received: shape=None")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size,) + tuple(shape)
        batch_shape = tuple(batch_shape)
        if any(d is not None and (not isinstance(d, int) or d < 0) for d in batch_shape) or \
                any(d is None for d in batch_shape[1:]):
            raise ValueError("InputLayer shapes must be non-negative ints, with None only for the batch. "
                             f"Received: batch_shape={batch_shape}")
        self.batch_shape = batch_shape
        self.built = True
        self._build_shape = batch_shape
        node = Node(self)
        self.output = KerasTensor(batch_shape, self.dtype, name=self.name, producer=node)
        node.outputs.append(self.output)
        self._summary_output_shape = batch_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):  # noqa: N802 (Keras name)
    """A symbolic model input: ``Input(shape=(64,))`` is a ``KerasTensor`` of shape ``(None, 64)``.

    Use it as the first element of a ``Sequential`` or as the start of a functional ``Model``.

    Args:
        shape: shape of one sample, without the batch axis.
        batch_size: fixed batch size, or None (dynamic, the default).
        dtype: ``"float32"`` (default), ``"int32"`` (token ids) or ``"string"`` (text, for a first layer
            ``TextVectorization`` or ``StringLookup``).
        batch_shape: alternatively, the full shape including the batch axis.
        name: optional name (becomes the exported input's name).

    >>> inputs = pyml.Input(shape=(28, 28, 1))
    >>> inputs.shape
    (None, 28, 28, 1)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output

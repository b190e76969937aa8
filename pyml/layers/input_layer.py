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
from pyml.graph.trace import Tracer
from pyml.layers.base import _SHAPE_STEPS, Layer, has_variable_axis, stand_in_shape, symbolic_shape
from pyml.layers.call_args import get_mask, set_mask
from pyml.ops import registry
from pyml.ops.registry import Spec


class Node:
    """One call of a layer on KerasTensors: the layer, its first argument (``inputs``, a tensor or a list),
    further positional ``args``, keyword arguments (KerasTensors may be among both), and outputs.

    A model input is a node of its ``InputLayer`` with ``inputs=None``.
    """

    def __init__(self, layer, inputs=None, kwargs=None, args=()):
        self.layer, self.inputs, self.kwargs, self.args = layer, inputs, dict(kwargs or {}), tuple(args)
        self.outputs = []

    def input_tensors(self):
        """Every KerasTensor the call reads, in argument order."""
        if self.inputs is None:
            return []
        return keras_tensors((self.inputs, self.args, self.kwargs))


def keras_tensors(structure):
    """The KerasTensors in ``structure`` (nested lists, tuples and dict values), in order."""
    if isinstance(structure, KerasTensor):
        return [structure]
    if isinstance(structure, dict):
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [t for v in structure for t in keras_tensors(v)]
    return []


def map_tensors(fn, structure):
    """``structure`` with each KerasTensor ``t`` replaced by ``fn(t)`` (lists, tuples and dicts rebuilt)."""
    if isinstance(structure, KerasTensor):
        return fn(structure)
    if isinstance(structure, dict):
        return {k: map_tensors(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_tensors(fn, v) for v in structure)
    return structure


def is_symbolic_call(inputs, args, kwargs):
    """Whether a layer call is on KerasTensors (building a functional model) rather than on data."""
    if isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple)) and any(
            isinstance(t, KerasTensor) for t in inputs)):
        return True
    return bool((args or kwargs) and keras_tensors((args, kwargs)))


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


def _call_host_symbolic(layer, inputs, training, kwargs):
    """A host layer (text) on KerasTensors: strings have no symbolic tensor to trace, so the layer states its
    output spec (``compute_output_spec``) instead of running."""
    flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    shapes = [t.shape for t in flat] if isinstance(inputs, (list, tuple)) else flat[0].shape
    spec = layer.compute_output_spec(shapes, input_dtype=flat[0].dtype, **kwargs)
    node = Node(layer, inputs, dict(kwargs, training=training) if training is not None else kwargs)
    tensor = KerasTensor(spec.shape, spec.dtype, name=layer.name, producer=node)
    node.outputs.append(tensor)
    layer._summary_output_shape = spec.shape
    return tensor


def call_symbolic(layer, inputs, *args, training=None, **kwargs):
    """Apply ``layer`` to KerasTensors: build it, infer the outputs (and their masks), and record the call.

    The layer runs on symbolic tensors of a throwaway trace (stand-ins with the KerasTensors' shapes, batch
    ``_SHAPE_BATCH``, and their masks), so it computes only shapes, exactly as it will on data; twice when an
    input has a variable length (``Input(shape=(None, 8))``), to see which output dims follow it.
    """
    flat = keras_tensors(inputs)
    if not flat or len(flat) != len(inputs if isinstance(inputs, (list, tuple)) else [inputs]):
        raise ValueError(f"Layer {layer.name!r}: when a layer is called on KerasTensors (functional API), its "
                         f"first argument must be a KerasTensor or a list of them. Received: {inputs!r}")
    from pyml.layers.host import HostLayer

    if isinstance(layer, HostLayer):
        return _call_host_symbolic(layer, inputs, training, kwargs)
    if any(t.dtype == "string" for t in keras_tensors((inputs, args, kwargs))):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) computes on numbers, but its input is a "
                         "string tensor: put a TextVectorization or StringLookup layer first.")
    dynamic = any(t.shape and t.shape[0] is None for t in keras_tensors((inputs, args, kwargs)))
    variable = any(has_variable_axis(t.shape) for t in keras_tensors((inputs, args, kwargs)))
    out = _run_on_stand_ins(layer, inputs, args, kwargs, _SHAPE_STEPS[0])
    # A variable length (a None beyond the batch): a second run with another stand-in length tells which output
    # dims follow it (base._SHAPE_STEPS).
    other = {} if not variable else {id(t): u.shape for t, u in zip(
        _with_masks(out), _with_masks(_run_on_stand_ins(layer, inputs, args, kwargs, _SHAPE_STEPS[1])))}
    node = Node(layer, inputs, dict(kwargs, training=training) if training is not None else kwargs, args)

    def shape(t):
        return symbolic_shape(t.shape, other.get(id(t)), dynamic)

    def wrap(t):
        tensor = KerasTensor(shape(t), t.dtype, name=layer.name, producer=node)
        if get_mask(t) is not None:
            set_mask(tensor, KerasTensor(shape(get_mask(t)), "bool", name=f"{layer.name}_mask"))
        node.outputs.append(tensor)
        return tensor

    if isinstance(out, (list, tuple)):
        layer._summary_output_shape = [shape(t) for t in out]
        return type(out)(wrap(t) for t in out)
    layer._summary_output_shape = shape(out)
    return wrap(out)


def _run_on_stand_ins(layer, inputs, args, kwargs, steps):
    """``layer`` called on symbolic stand-ins of the KerasTensors (and their masks) of a throwaway trace, each None
    axis made ``steps`` long (the batch ``_SHAPE_BATCH``): only shapes are computed."""
    tracer = Tracer()
    stand_ins = {}

    def stand_in(t):
        if id(t) not in stand_ins:
            name = f"x{len(stand_ins)}"
            symbolic = tracer.placeholder(name, Spec(stand_in_shape(t.shape, steps), t.dtype))
            if get_mask(t) is not None:
                mask = Spec(stand_in_shape(get_mask(t).shape, steps), "bool")
                set_mask(symbolic, tracer.placeholder(name + "_mask", mask))
            stand_ins[id(t)] = symbolic
        return stand_ins[id(t)]

    old = registry.set_tracer(tracer)
    try:
        return layer(map_tensors(stand_in, inputs), *map_tensors(stand_in, args), training=False,
                     **map_tensors(stand_in, kwargs))
    finally:
        registry.set_tracer(old)
        layer._clear_losses()  # penalties of stand-ins, not of data


def _with_masks(out):
    """The tensors of ``out`` (one or a list) in the order ``call_symbolic`` wraps them: each, then its mask."""
    flat = out if isinstance(out, (list, tuple)) else [out]
    return [x for t in flat for x in ([t] if get_mask(t) is None else [t, get_mask(t)])]


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
        if any(d is not None and (not isinstance(d, int) or d < 0) for d in batch_shape):
            raise ValueError("InputLayer shapes must be non-negative ints or None (any size: the batch, a variable "
                             f"sequence length). Received: batch_shape={batch_shape}")
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
        shape: shape of one sample, without the batch axis; None where any size goes (``(None,)``: sequences of
            any length; export then takes ``sequence_length``).
        batch_size: fixed batch size, or None (dynamic, the default).
        dtype: ``"float32"`` (default), ``"int32"`` (token ids) or ``"string"`` (text, for a first layer
            ``TextVectorization`` or ``StringLookup``).
        batch_shape: alternatively, the full shape including the batch axis.
        name: optional name (becomes the exported input's name).

    >>> inputs = pyml.Input(shape=(28, 28, 1))
    >>> inputs.shape
    (None, 28, 28, 1)
    >>> pyml.layers.LSTM(8)(pyml.layers.Embedding(100, 4)(pyml.Input(shape=(None,), dtype="int32"))).shape
    (None, 8)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name).output

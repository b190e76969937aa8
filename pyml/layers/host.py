"""Layers that compute on the host, in NumPy, before a model's traced graph: ``TextVectorization``,
``StringLookup``, ``IntegerLookup``.

Strings are not pyml tensors, and a vocabulary lookup is no tensor op, so these layers never trace. A model
may start with them (the leading layers of a ``Sequential``, or layers called straight on a functional
model's ``Input``); then:

- ``model(["some text"])`` runs them eagerly on the host, and the rest of the model on their output;
- ``fit``/``evaluate``/``predict`` run them on each batch first (``preprocess``), then run the model with
  them skipped (``skipping``), so the compiled training step and ``model.trace()`` start at the ids;
- export writes what they do into the bundle (``inputs[i].text``, docs/internals.md §6), and the JS runtime
  does the same before running the graph.

    >>> vectorize = pyml.layers.TextVectorization(output_sequence_length=4)
    >>> vectorize.adapt(["the cat sat", "the dog"])
    >>> model = pyml.Sequential([pyml.Input(shape=(1,), dtype="string"), vectorize,
    ...                          pyml.layers.Embedding(10, 2), pyml.layers.GlobalAveragePooling1D()])
    >>> model.predict(["the bird"], verbose=0).shape
    (1, 2)
"""
import contextlib

import numpy as np

from pyml.layers.base import Layer
from pyml.ops.registry import Spec
from pyml.tensor import Tensor

_SKIPPED = []  # ids of host layers whose output the caller already computed (see `skipping`)


class HostLayer(Layer):
    """Base class of layers that compute on the host: ``preprocess(array) -> np.ndarray`` does the work.

    Subclasses define ``preprocess`` and ``output_spec(input_shape) -> Spec`` (batch axis first, None for any).
    ``host_input_dtype`` is the dtype a model input feeding the layer has (``"string"``, or ``"int32"``).
    """

    host_input_dtype = "string"
    _takes_strings = True

    def __call__(self, inputs, *args, training=None, **kwargs):
        from pyml.layers.input_layer import KerasTensor, call_symbolic

        if isinstance(inputs, KerasTensor):
            return call_symbolic(self, inputs, *args, training=training, **kwargs)
        if id(self) in _SKIPPED:
            return inputs
        if isinstance(inputs, Tensor) and inputs.is_symbolic:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) computes on the host, in NumPy, so it "
                             "cannot run inside a traced graph: make it the first layer of the model (called on the "
                             "model's Input), or call it on the data before the model.")
        self.built = True
        out = self.preprocess(inputs)
        return out if out.dtype == object else Tensor(out)  # strings (an inverting lookup) stay NumPy

    def compute_output_spec(self, input_shape, input_dtype=None, **kwargs):
        out = self.output_spec(tuple(input_shape))
        self.built = True  # no weights: knowing the vocabulary is all a host layer needs
        return out

    def compute_output_shape(self, input_shape):
        return self.output_spec(tuple(input_shape)).shape


@contextlib.contextmanager
def skipping(layers):
    """Within, calling one of ``layers`` returns its input unchanged (the caller ran ``preprocess`` already)."""
    ids = [id(layer) for layer in layers]
    _SKIPPED.extend(ids)
    try:
        yield
    finally:
        del _SKIPPED[len(_SKIPPED) - len(ids):]


def chains(model):
    """``{input index: [host layers]}``: what runs on the host for each model input, in order.

    A ``Sequential``'s leading host layers; for a functional model, the host layer called on each ``Input``.
    Other models (subclassed) run host layers eagerly inside ``call`` only (``fit`` then runs eagerly).
    """
    from pyml.models.functional import Functional
    from pyml.models.sequential import Sequential

    if isinstance(model, Sequential):
        leading = []
        for layer in model.layers:
            if not isinstance(layer, HostLayer):
                break
            leading.append(layer)
        return {0: leading} if leading else {}
    if isinstance(model, Functional):
        found = {}
        for i, tensor in enumerate(model.inputs):
            readers = [node.layer for node in model._nodes if node.inputs is not None
                       and any(t is tensor for t in node.input_tensors())]
            hosts = [layer for layer in readers if isinstance(layer, HostLayer)]
            if hosts and len(readers) > 1:
                raise ValueError(f"Model {model.name!r}: input {tensor.name!r} feeds {hosts[0].name!r}, which computes "
                                 "on the host, and other layers too; give the host layer an Input of its own. "
                                 f"Received: readers {[layer.name for layer in readers]}")
            if hosts:
                found[i] = hosts
        return found
    return {}


def input_dtype(layers, default):
    """The dtype a model input feeding ``layers`` (a Sequential's list) needs: the first host layer's input dtype."""
    return layers[0].host_input_dtype if layers and isinstance(layers[0], HostLayer) else default


def preprocess(model, x):
    """Run the model's host layers on the batch ``x`` (an array, or a list of arrays for several inputs).

    Returns ``(x with each host-fed input replaced by the host layers' output, the layers to skip)``; ``x``
    unchanged and ``[]`` for a model without host layers.
    """
    if not isinstance(model, Layer):
        return x, []
    if not model.built and chains(model) and not isinstance(x, list):
        model._maybe_build(np.shape(x))  # from the raw data's shape, before the ids replace it
    found = chains(model)
    if not found:
        return x, []
    several = isinstance(x, list)
    values = list(x) if several else [x]
    for i, layers in found.items():
        for layer in layers:
            values[i] = np.asarray(layer.preprocess(values[i]))
    return (values if several else values[0]), [layer for layers in found.values() for layer in layers]


def output_specs(model, specs):
    """``specs`` (``[(shape, dtype)]`` of the model inputs) after the host layers: the traced graph's inputs."""
    specs = list(specs)
    for i, layers in chains(model).items():
        shape = tuple(specs[i][0])
        for layer in layers:
            spec = layer.output_spec(shape)
            shape, dtype = spec.shape, spec.dtype
        if any(d is None for d in shape[1:]):
            raise ValueError(f"Layer {layers[-1].name!r} gives outputs of shape {shape}, whose size depends on the "
                             "data; a traced graph needs static shapes (set output_sequence_length).")
        specs[i] = (shape, dtype)
    return specs


def spec(shape, dtype):
    """A ``Spec`` for ``shape`` (tuple, None for unknown sizes)."""
    return Spec(tuple(shape), dtype)

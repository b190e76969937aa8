"""``Layer``: the base class of every layer and model (Keras ``keras.layers.Layer``).

A layer validates its arguments in ``__init__``, creates its weights in ``build(input_shape)`` the
first time it is called, and computes in ``call(inputs, training=None)`` with pyml ops only, so a
model made of layers runs eagerly, differentiates, and traces to a graph for export.

    >>> class Scale(pyml.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")
    ...     def call(self, inputs):
    ...         return inputs * self.scale
    >>> layer = Scale()
    >>> layer(np.ones((2, 3))).shape
    (2, 3)
    >>> [w.name for w in layer.weights]
    ['scale/scale']
"""
import inspect
import math
import re

import numpy as np

from pyml import constraints, dtypes, initializers, ops, regularizers
from pyml.checks import boolean, positive_int
from pyml.graph.trace import Tracer
from pyml.layers import call_args
from pyml.layers.budget import charge as charge_weight_budget
from pyml.layers.layer_losses import LossTracking
from pyml.ops import registry
from pyml.tensor import Tensor, Variable

_UIDS = {}
_BUILTIN_CLASSES = {}
_CALL_CONTEXT = []  # the `training` flag of the outermost layer call, inherited by nested calls
_SHAPE_BATCH = 2  # stand-in batch size when inferring shapes symbolically
# Stand-in sizes of the other None axes (a variable sequence length, Input(shape=(None, 8))): shapes are inferred
# twice, once with each, and a dim that differs between the two runs varies with the input (None). Two runs rather
# than one recognisable value, so a Conv1D's "valid" length (steps - 2) is None too, never a wrong number.
_SHAPE_STEPS = (16, 17)


def stand_in_shape(shape, steps=_SHAPE_STEPS[0]):
    """``shape`` with its symbolic sizes made concrete: a None batch (axis 0) as ``_SHAPE_BATCH``, other None
    axes as ``steps``."""
    return tuple(d if d is not None else _SHAPE_BATCH if k == 0 else steps for k, d in enumerate(shape))


def has_variable_axis(shape):
    """Whether ``shape`` has a None beyond the batch axis (a variable length)."""
    return any(d is None for d in tuple(shape)[1:])


def symbolic_shape(shape, other, dynamic):
    """The shape a symbolic output has: ``shape`` from the first stand-in run, ``other`` from the second (None
    without one), each dim that differs None; axis 0 None when the batch is ``dynamic`` and it is the stand-in."""
    dims = tuple(shape) if other is None else tuple(None if d != o else d for d, o in zip(shape, other))
    return (None,) + dims[1:] if dynamic and dims and dims[0] == _SHAPE_BATCH else dims


def to_snake_case(name):
    """``"MaxPooling2D"`` -> ``"max_pooling2d"`` (Keras' rule for default layer names)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ... (per Python session)."""
    count = _UIDS.get(prefix, 0)
    _UIDS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def clear_session():
    """Reset automatic layer names, so the next ``Dense()`` is named ``dense`` again."""
    _UIDS.clear()


def builtin_classes():
    """Layer classes defined by pyml, by class name (what ``load_model`` can rebuild without help)."""
    return dict(_BUILTIN_CLASSES)


class InputSpec:
    """What a built layer accepts: a rank (``ndim`` / ``min_ndim``) and fixed sizes on some ``axes``.

    >>> InputSpec(min_ndim=2, axes={-1: 64})
    InputSpec(min_ndim=2, axes={-1: 64})
    """

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim, self.min_ndim, self.axes = ndim, min_ndim, dict(axes or {})

    def check(self, layer_name, shape):
        """Raise a ValueError naming the layer, the expectation and the received shape."""
        where = f'Input of layer "{layer_name}" is incompatible with the layer'
        if self.ndim is not None and len(shape) != self.ndim:
            raise ValueError(f"{where}: expected ndim={self.ndim}. Received: input shape {shape}")
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ValueError(f"{where}: expected min_ndim={self.min_ndim}. Received: input shape {shape}")
        for axis, size in self.axes.items():
            if shape[axis] is not None and shape[axis] != size:
                raise ValueError(f"{where}: expected axis {axis} of input shape to have value {size}. "
                                 f"Received: input shape {shape}")

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("ndim", self.ndim), ("min_ndim", self.min_ndim)) if v is not None]
        if self.axes:
            parts.append(f"axes={self.axes}")
        return f"InputSpec({', '.join(parts)})"


def _map_structure(fn, value):
    if isinstance(value, (list, tuple)) and not isinstance(value, registry.Spec):
        return type(value)(_map_structure(fn, v) for v in value)
    return fn(value)


def _flatten(value):
    if isinstance(value, (list, tuple)) and not isinstance(value, registry.Spec):
        return [t for v in value for t in _flatten(v)]
    return [value]


def _strings_as_array(value):
    """A (nested) list of str as one object array of str: one input of strings, not several inputs."""
    first = value
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return np.array(value, dtype=object) if isinstance(first, (str, bytes)) and value is not first else value


def _shape_of(value):
    return _map_structure(lambda t: tuple(np.shape(t)), value)


def _build_wrapper(build):
    """Every ``build`` marks the layer built and remembers the shape (batch as None), as in Keras 3."""
    if getattr(build, "_is_build_wrapper", False):
        return build

    def wrapped(self, *shapes, **named_shapes):
        # build(input_shape), or build(query_shape, value_shape, ...) for several call arguments
        shapes = [None if s is None else normalize_shape(s) for s in shapes]
        named_shapes = {k: None if s is None else normalize_shape(s) for k, s in named_shapes.items()}
        first = next((s for s in [*shapes, *named_shapes.values()] if s is not None), None)
        if first is not None:
            self._build_shape = batchless_shape(first)  # build() itself may refine it
        build(self, *(shapes or ([] if named_shapes else [None])), **named_shapes)
        self.built = True

    wrapped._is_build_wrapper = True
    wrapped.__wrapped__ = build
    wrapped.__doc__, wrapped.__name__ = build.__doc__, build.__name__
    return wrapped


def normalize_shape(shape):
    """A shape as a tuple of ints/None; a list of shapes (several inputs) as a list of tuples."""
    if isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, (int, np.integer)) for d in shape):
        return tuple(None if d is None else int(d) for d in shape)
    if isinstance(shape, (list, tuple)):
        return [normalize_shape(s) for s in shape]
    raise ValueError(f"Expected a shape (a tuple of ints or None). Received: {shape!r}")


def batchless_shape(shape):
    """``shape`` with the batch axis (axis 0) set to None; each shape of a list likewise."""
    if isinstance(shape, list):
        return [batchless_shape(s) for s in shape]
    shape = tuple(shape)
    return (None,) + shape[1:] if shape else shape


class Layer(LossTracking):
    """Base class for layers: weights, lazy building, config, and the ``__call__`` protocol.

    Args:
        name: unique name; defaults to the snake_case class name (``dense``, ``dense_1``, ...).
        trainable: whether the layer's weights are updated by training.
        dtype: the dtype of weights and computation (``"float32"``).
        activity_regularizer: a penalty on the layer's outputs (``pyml.regularizers``), divided by the batch
            size and listed in ``losses`` after each call.
        input_shape: shape of one sample (no batch axis), for the first layer of a ``Sequential``.

    Subclasses override ``build``, ``call``, ``compute_output_shape`` and ``get_config``.

    >>> class Double(pyml.layers.Layer):
    ...     def call(self, inputs):
    ...         return inputs * 2.0
    >>> Double(name="double")(np.ones((1, 2), "float32")).numpy()
    array([[2., 2.]], dtype=float32)
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("pyml."):
            _BUILTIN_CLASSES[cls.__name__] = cls
        cls._accepts_training = None
        if "build" in cls.__dict__:
            cls.build = _build_wrapper(cls.__dict__["build"])

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_size=None,
                 activity_regularizer=None, **kwargs):
        if "input_dim" in kwargs and input_shape is None:  # Keras 2's Dense(64, input_dim=20)
            input_shape = (kwargs.pop("input_dim"),)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"A layer name must be a non-empty string without '/'. Received: name={name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.trainable = boolean(self, "trainable", trainable)
        self.dtype = dtypes.canonical(dtype or "float32")
        self.built = False
        self.input_spec = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._losses = []  # add_loss() of the latest call (activity penalties), cleared by each outermost call
        self._own_weights = []
        self._layers = []
        self._build_shape = None
        self._input_shape_arg = None
        self._batch_size_arg = None if batch_size is None else positive_int(self, "batch_size", batch_size)
        if input_shape is not None:
            sizes = input_shape if isinstance(input_shape, (list, tuple)) else (input_shape,)
            if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0)
                       for d in sizes):
                raise ValueError(f"{type(self).__name__} expects `input_shape` to be a tuple of non-negative ints and "
                                 f"None (one sample's shape). Received: input_shape={input_shape!r}")
            self._input_shape_arg = tuple(None if d is None else int(d) for d in sizes)

    _takes_strings = False  # host layers (pyml.layers.host) and models, which pass text on to them

    # ---- tracking -----------------------------------------------------------------------------
    _untracked = ("_layers",)  # attributes that hold layers without making them sublayers
    _accepts_training = None  # whether call() takes `training`; found once per class

    def __setattr__(self, key, value):
        # sublayers assigned as attributes (or in a list) are tracked, so their weights are ours too
        if key not in self._untracked and "_layers" in self.__dict__:
            found = value if isinstance(value, (list, tuple)) else [value]
            for item in found:
                if isinstance(item, Layer) and item is not self and all(item is not l for l in self._layers):
                    self._layers.append(item)
        super().__setattr__(key, value)

    def add_weight(self, *args, **kwargs):
        """Create a ``Variable`` named ``"<layer>/<name>"`` and track it.

        Args (Keras 3 order; Keras 2's ``add_weight(name, shape, dtype, initializer, ...)`` works too):
            shape: the weight's shape (Keras layouts: Dense kernel ``(in, out)``).
            initializer: name, instance or callable; default ``glorot_uniform`` (``zeros`` for ints).
            dtype: defaults to the layer's dtype.
            trainable: whether optimizers update it.
            name: short name, e.g. ``"kernel"``.
            regularizer: a penalty on the weight (``pyml.regularizers``), listed in ``losses`` while the weight
                is trainable.
            constraint: a projection applied to the weight after each optimizer update (``pyml.constraints``).
        """
        order = ("name", "shape", "dtype", "initializer") if args and isinstance(args[0], str) else (
            "shape", "initializer", "dtype", "trainable", "name")
        if len(args) > len(order):
            raise TypeError(f"add_weight takes at most {len(order)} positional arguments. Received: {len(args)}")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"add_weight got two values for {key!r}")
            kwargs[key] = value
        unknown = sorted(set(kwargs) - {"shape", "initializer", "dtype", "trainable", "name", "regularizer",
                                        "constraint"})
        if unknown:
            raise TypeError(f"add_weight got unexpected arguments {unknown}")
        shape, initializer, name = kwargs.get("shape"), kwargs.get("initializer"), kwargs.get("name")
        dtype, trainable = kwargs.get("dtype"), kwargs.get("trainable", True)
        if shape is None:
            raise ValueError(f"Layer {self.name!r}: add_weight needs a shape. Received: shape=None, name={name!r}")
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"Layer {self.name!r}: add_weight got a negative size. Received: shape={shape}, "
                             f"name={name!r}")
        charge_weight_budget(self.name, name, shape)
        dtype = dtypes.canonical(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtypes.is_float(dtype) else "zeros"
        name = name or f"variable_{len(self._own_weights)}"
        value = self._initial_value(initializer, shape, dtype, name)
        variable = Variable(value, trainable=trainable, name=f"{self.name}/{name}", dtype=dtype)
        variable.regularizer = regularizers.get(kwargs.get("regularizer"))
        variable.constraint = constraints.get(kwargs.get("constraint"))
        self._own_weights.append(variable)
        return variable

    def _initial_value(self, initializer, shape, dtype, name):
        """The initializer's array, or a ValueError naming the layer and the weight when it does not fit in memory
        (a ``Dense(10**12)`` is a slip: say where, not just NumPy's "Unable to allocate 29 TiB")."""
        try:
            return initializers.get(initializer)(shape, dtype)
        except MemoryError as exc:
            failure = exc
        except ValueError as exc:  # NumPy: "array is too big", for sizes past what an index can hold
            if math.prod(shape) * 8 < 2**62:
                raise
            failure = exc
        raise ValueError(f"Layer {self.name!r}: weight {name!r} of shape {shape} ({math.prod(shape):,} values) does "
                         f"not fit in memory ({failure}); check the layer's sizes") from failure

    @property
    def weights(self):
        """Every variable of this layer and its sublayers, in creation order."""
        seen, out = set(), []
        for w in self._own_weights + [w for layer in self._layers for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        found = [w for w in self._own_weights if w.trainable] + [
            w for layer in self._layers for w in layer.trainable_weights]
        return list({id(w): w for w in found}.values())

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self):
        return self.weights

    def count_params(self):
        """Number of scalars in all weights (the layer must be built)."""
        if not self.built:
            raise ValueError(f"You tried to call count_params on layer {self.name!r}, but the layer isn't built. "
                             "Build it first with layer.build(input_shape) or by calling it on data.")
        return sum(math.prod(w.shape) for w in self.weights)

    def get_weights(self):
        """The weights as a list of NumPy arrays (copies)."""
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Assign NumPy arrays to the weights, in ``weights`` order; counts and shapes must match."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer {self.name!r} expects {len(mine)} weight arrays. "
                             f"Received: a list of {len(weights)} arrays")
        for variable, value in zip(mine, weights):
            value = np.asarray(value)
            if tuple(value.shape) != variable.shape:
                raise ValueError(f"Layer {self.name!r}: weight {variable.name!r} has shape {variable.shape}. "
                                 f"Received: an array of shape {tuple(value.shape)}")
            variable.assign(value.astype(variable.dtype))

    # ---- building and calling -----------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included). Default: none."""
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement call()")

    def _call_accepts_training(self):
        cls = type(self)
        if cls._accepts_training is None:
            params = inspect.signature(cls.call).parameters
            cls._accepts_training = "training" in params or any(
                p.kind == p.VAR_KEYWORD for p in params.values())
        return cls._accepts_training

    def _to_tensor(self, value):
        if isinstance(value, Tensor):
            if dtypes.is_float(value.dtype) and value.dtype != self.dtype:
                return ops.cast(value, self.dtype)
            return value
        array = np.asarray(value)
        if array.dtype.kind in "USO":  # strings: only a host layer (pyml.layers.host) takes them, as NumPy
            if self._takes_strings:
                return value
            raise TypeError(f'Layer "{self.name}" takes numbers; text goes to a TextVectorization or StringLookup '
                            f"layer first. Received: an input of dtype {array.dtype}")
        return Tensor(array, dtype=self.dtype if array.dtype.kind == "f" else None)

    def _convert_input(self, value):
        """``_to_tensor``, keeping the mask of a tensor it casts."""
        tensor, mask = self._to_tensor(value), call_args.get_mask(value)
        if tensor is not value and mask is not None:
            call_args.set_mask(tensor, mask)
        return tensor

    def _convert_argument(self, value):
        """Arrays and tensors among the further call arguments as the layer's tensors; other values as they are."""
        return self._convert_input(value) if isinstance(value, (Tensor, np.ndarray)) else value

    def __call__(self, inputs, *args, training=None, **kwargs):
        from pyml.layers.input_layer import call_symbolic, is_symbolic_call

        if is_symbolic_call(inputs, args, kwargs):
            return call_symbolic(self, inputs, *args, training=training, **kwargs)
        inputs = _map_structure(self._convert_input, _strings_as_array(inputs))
        if args:
            args = tuple(_map_structure(self._convert_argument, a) for a in args)
        if kwargs:
            kwargs = {k: _map_structure(self._convert_argument, v) for k, v in kwargs.items()}
        previous_mask, tensor_arguments = call_args.populate_masks(self, inputs, args, kwargs)
        shape = _shape_of(inputs)
        single = not isinstance(shape, list)
        if shape == () or not single and () in shape:
            raise ValueError(f'Input of layer "{self.name}" is incompatible with the layer: it needs a batch axis. '
                             f"Received: input shape {shape}")
        if not self.built:
            if self.input_spec is not None and single:  # what __init__ declared, before build makes weights
                self.input_spec.check(self.name, shape)
            shapes = call_args.build_shapes(self, tensor_arguments)
            if shapes:
                self.build(**shapes)
            else:
                self._maybe_build(shape)
        if self.input_spec is not None and single:  # build may have declared more (the feature size)
            self.input_spec.check(self.name, shape)
        if not _CALL_CONTEXT:  # the outermost call: the losses of the previous call go
            self._clear_losses()
        if training is None and _CALL_CONTEXT:
            training = _CALL_CONTEXT[-1]
        if self._call_accepts_training():
            kwargs["training"] = training
        _CALL_CONTEXT.append(training)
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            _CALL_CONTEXT.pop()
        # Keras adds activity penalties on every call; a symbolic inference trace (export, shape inference) is
        # left out: it has no loss to add them to, and their batch divisor would tie the graph to one batch size
        if self.activity_regularizer is not None and (training or not any(
                isinstance(t, Tensor) and t.is_symbolic for t in _flatten(outputs))):
            self._add_activity_losses(_flatten(outputs))
        # no mask came in and compute_mask is the default (which returns it): no mask goes out
        if not self._masks_from_sublayers and (previous_mask is not None or
                                               type(self).compute_mask is not Layer.compute_mask):
            call_args.attach_masks(self, inputs, outputs, previous_mask)
        return outputs

    # ---- masks (Keras 3: see pyml.layers.call_args) ----------------------------------------------
    _masks_from_sublayers = False  # models: their sublayers attach the masks, the model adds none

    @property
    def supports_masking(self):
        """Whether ``compute_mask`` gives this layer's output mask; by default, whether it is overridden.

        A layer that passes masks on unchanged sets ``self.supports_masking = True`` in ``__init__``.
        """
        value = self.__dict__.get("_supports_masking")
        return value if value is not None else type(self).compute_mask is not Layer.compute_mask

    @supports_masking.setter
    def supports_masking(self, value):
        self.__dict__["_supports_masking"] = bool(value)

    def compute_mask(self, inputs, mask=None):
        """The mask of the output for ``inputs`` and their ``mask``: by default the input mask, unchanged."""
        return mask

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis included, may be None).

        The default runs ``call`` on symbolic tensors (no values are computed), building the layer.
        """
        return _map_structure(lambda s: s.shape, self.compute_output_spec(input_shape))

    def compute_output_spec(self, input_shape, input_dtype=None, **kwargs):
        """``Spec(shape, dtype)`` of the output for inputs of ``input_shape``, found by a symbolic run."""
        dtype = input_dtype or self.dtype
        input_shape = normalize_shape(input_shape)
        nested = isinstance(input_shape, list)
        shapes = input_shape if nested else [input_shape]
        unknown = [s[0] is None for s in shapes]

        def run(steps):  # on a throwaway graph trace: ops on its symbolic tensors record nodes and compute only specs
            tracer = Tracer()
            symbolic = [tracer.placeholder(f"x{i}", registry.Spec(stand_in_shape(s, steps), dtype))
                        for i, s in enumerate(shapes)]
            old = registry.set_tracer(tracer)
            try:
                return self(symbolic if nested else symbolic[0], training=False, **kwargs)
            finally:
                registry.set_tracer(old)
                self._clear_losses()  # penalties of stand-ins, not of data

        out = run(_SHAPE_STEPS[0])
        others = iter(_flatten(run(_SHAPE_STEPS[1]))) if any(has_variable_axis(s) for s in shapes) else None
        dynamic = any(unknown)

        def spec(t):
            other = None if others is None else tuple(next(others).shape)
            return registry.Spec(symbolic_shape(t.shape, other, dynamic), t.dtype)

        return _map_structure(spec, out)

    # ---- config -------------------------------------------------------------------------------
    def get_config(self):
        """The constructor arguments as a JSON-ready dict (weights not included)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        """Recreate a layer from ``get_config()`` output."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


Layer.build = _build_wrapper(Layer.build)

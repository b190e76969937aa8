"""``Model``: a layer that trains (``compile``/``fit``/``evaluate``/``predict``), saves, and traces for export.

Three ways to make one, as in Keras:

    >>> model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(2)])   # a stack
    >>> inputs = pyml.Input(shape=(4,))                                            # functional
    >>> model = pyml.Model(inputs, pyml.layers.Dense(2)(inputs))
    >>> class MyModel(pyml.Model):                                                 # subclassed
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.dense = pyml.layers.Dense(2)
    ...     def call(self, inputs):
    ...         return self.dense(inputs)
"""
from pyml.layers import host
from pyml.layers.base import Layer, batchless_shape, normalize_shape
from pyml.models.training import Trainer


class Model(Trainer, Layer):
    """Groups layers into an object with training, saving and export.

    ``Model(inputs, outputs)`` builds a functional model from ``pyml.Input`` tensors; subclass it and
    define ``call`` for anything else. Sublayers assigned as attributes are tracked.

    Args:
        name: model name (default, as in Keras 3: ``functional``, ``functional_1``, ... for ``Model(inputs, outputs)``;
            the class name in snake case, ``my_model``, for a subclass).
        trainable: whether ``fit`` updates the weights.

    >>> inputs = pyml.Input(shape=(3,))
    >>> model = pyml.Model(inputs, pyml.layers.Dense(2)(inputs), name="tiny")
    >>> model.predict(np.ones((4, 3)), verbose=0).shape
    (4, 2)
    """

    _masks_from_sublayers = True  # a model's output carries the mask its last layer attached
    _takes_strings = True  # text on to its host layers (pyml.layers.host)

    def __new__(cls, *args, **kwargs):
        if cls is Model and (len(args) >= 2 or "outputs" in kwargs or ("inputs" in kwargs and args)):
            from pyml.models.functional import Functional

            return object.__new__(Functional)  # Python then runs Functional.__init__(*args, **kwargs)
        return object.__new__(cls)

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if args:
            raise TypeError(f"Model() takes (inputs, outputs) for a functional model, or no positional arguments "
                            f"when subclassed. Received: {len(args)} positional arguments")
        Layer.__init__(self, name=name, trainable=trainable, dtype=dtype, **kwargs)
        self._init_training()

    @property
    def layers(self):
        """The model's direct sublayers, in order."""
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        """A sublayer by ``name`` or by position ``index``."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Model {self.name!r} has {len(self.layers)} layers. Received: index={index}")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer in model {self.name!r}: known layers are "
                         f"{', '.join(l.name for l in self.layers)}. Received: name={name!r}")

    def build(self, input_shape=None):
        """Create every weight by running ``call`` symbolically on inputs of ``input_shape`` (batch included)."""
        if input_shape is None:
            raise ValueError(f"Model {self.name!r}: build() needs an input shape, e.g. build((None, 64)). "
                             "Received: input_shape=None")
        self.built = True  # before the symbolic call, whose __call__ would otherwise build again
        self.compute_output_spec(normalize_shape(input_shape))

    def _maybe_build(self, input_shape):
        # called with data: sublayers build themselves during call, so only remember the shape
        if not self.built:
            self.built = True
            self._build_shape = batchless_shape(input_shape)

    # ---- introspection ------------------------------------------------------------------------
    def input_specs(self):
        """``[(shape, dtype)]`` of the model's inputs (batch as None), for tracing and export."""
        if self._build_shape is None:
            raise ValueError(f"Model {self.name!r} has no known input shape: build it, call it on data, or give "
                             "its first layer an Input. Received: an unbuilt model")
        shapes = self._build_shape if isinstance(self._build_shape, list) else [self._build_shape]
        return [(tuple(s), self.dtype) for s in shapes]

    def trace(self, input_shape=None):
        """The inference graph of this model (``training=False``) as a ``pyml.graph.Graph``.

        Args:
            input_shape: full input shape, batch first (None for a dynamic batch); defaults to the
                shape the model was built with.

        >>> graph = model.trace()          # doctest: +SKIP
        >>> print(graph)                   # doctest: +SKIP
        """
        from pyml import graph as graph_module

        if input_shape is not None:
            shapes = normalize_shape(input_shape)
            shapes = shapes if isinstance(shapes, list) else [shapes]
            # The declared dtypes (int32 ids stay ids) where the model has as many inputs, else the model's.
            declared = [d for _, d in self.input_specs()] if self._build_shape is not None else []
            dtypes = declared if len(declared) == len(shapes) else [self.dtype] * len(shapes)
            specs = list(zip(shapes, dtypes))
        else:
            specs = self.input_specs()
        # Host layers (text: pyml.layers.host) run before the graph, which starts at their output.
        specs = host.output_specs(self, specs)
        with host.skipping([layer for chain in host.chains(self).values() for layer in chain]):
            if len(specs) == 1:
                return graph_module.trace(lambda x: self(x, training=False), specs)
            return graph_module.trace(lambda *xs: self(list(xs), training=False), specs)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
        """Print a table of layers (name and type, output shape, parameter count) and the totals.

        ``line_length`` widens the table and ``print_fn`` receives each line instead of ``print``;
        ``positions``, ``expand_nested`` and ``show_trainable`` are accepted so Keras calls run, and ignored.

        >>> lines = []
        >>> pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(2)], name="mlp").summary(print_fn=lines.append)
        >>> lines[0], lines[-3]
        ('Model: "mlp"', ' Total params: 8 (32.00 B)')
        """
        from pyml.models.summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn)

    # ---- saving -------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True):
        """Save architecture, weights and compile settings to one ``.pyml`` file (see ``pyml.saving``)."""
        from pyml import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Save the weights to a safetensors file (``*.weights.safetensors``)."""
        from pyml import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (or the weights of a ``.pyml`` file)."""
        from pyml import saving

        saving.load_weights(self, filepath)

    def get_build_config(self):
        """``{"input_shape": ...}``, the shape the model was built for (batch as None), or None if unbuilt.

        ``load_model`` passes it to ``build_from_config`` for a model its config alone does not build
        (a subclassed model), as Keras does.
        """
        if not self.built or self._build_shape is None:
            return None
        shape = self._build_shape
        return {"input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)}

    def build_from_config(self, config):
        """Build the model from ``get_build_config()`` output."""
        self.build(config["input_shape"])

    def get_compile_config(self):
        """The ``compile`` arguments, JSON-ready (None if not compiled)."""
        from pyml import saving

        return saving.serialize_compile_config(self) if getattr(self, "compiled", False) else None

    def compile_from_config(self, config, custom_objects=None):
        """``compile`` the model from ``get_compile_config()`` output."""
        from pyml import saving

        saving.compile_from_config(self, config, custom_objects)

"""``Sequential``: a plain stack of layers, each feeding the next (Keras ``keras.Sequential``)."""
from pyml.layers import host
from pyml.layers.base import Layer, batchless_shape, normalize_shape, unique_name
from pyml.layers.input_layer import InputLayer, KerasTensor
from pyml.models.model import Model


class Sequential(Model):
    """A model that applies its layers one after another.

    Args:
        layers: list of layers; the first may be ``pyml.Input(shape=...)`` (or a layer given
            ``input_shape=``), which builds the model straight away.
        name: model name.
        trainable: whether ``fit`` updates the weights.

    >>> model = pyml.Sequential([
    ...     pyml.Input(shape=(64,)),
    ...     pyml.layers.Dense(32, activation="relu"),
    ...     pyml.layers.Dense(10, activation="softmax"),
    ... ])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.count_params()
    2410
    """

    _untracked = ("_layers", "_input_layer")  # the input layer is not one of `layers` (as in Keras)

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        self._input_layer = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild=True):
        """Append a layer (or, first, an ``Input``); rebuilds the model when its input shape is known."""
        if isinstance(layer, KerasTensor):
            producer = layer._producer
            if producer is None or not isinstance(producer.layer, InputLayer):
                raise ValueError("Sequential accepts a KerasTensor only when it comes straight from pyml.Input(). "
                                 f"Received: {layer!r}")
            layer = producer.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential model {self.name!r} takes an Input only as its first element. "
                                 f"Received: {layer.name!r} after {len(self._layers)} layers")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError("Only instances of pyml.layers.Layer can be added to a Sequential model. "
                            f"Received: {layer!r} (of type {type(layer).__name__})")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"All layers added to a Sequential model should have unique names. Name {layer.name!r} "
                             "is already the name of a layer in this model. Pass a unique `name` to the layer.")
        if not self._layers and self._input_layer is None and layer._input_shape_arg is not None:
            self._input_layer = InputLayer(shape=layer._input_shape_arg, batch_size=layer._batch_size_arg)
        self._layers.append(layer)
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise TypeError(f"There are no layers in model {self.name!r} to pop.")
        layer = self._layers.pop()
        self.built = False
        self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        if self._input_layer is not None and self._layers:
            self.build(self._input_layer.batch_shape)

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)

    def build(self, input_shape=None):
        """Build every layer in turn for inputs of ``input_shape`` (batch axis first, None for any batch)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential model {self.name!r} has no input shape: pass one to build(), start "
                                 "the model with pyml.Input(shape=...), or call it on data. Received: input_shape=None")
            input_shape = self._input_layer.batch_shape
        shape = normalize_shape(input_shape)
        if isinstance(shape, list):
            raise ValueError(f"Sequential model {self.name!r} takes one input. Received: input shapes {shape}")
        keep_batch = self._input_layer is not None and self._input_layer.batch_shape[0] is not None
        shape = shape if keep_batch else batchless_shape(shape)
        if self._input_layer is None or self._input_layer.batch_shape[1:] != shape[1:]:
            dtype = self._input_layer.dtype if self._input_layer is not None else host.input_dtype(self._layers,
                                                                                                   self.dtype)
            self._input_layer = InputLayer(batch_shape=shape, dtype=dtype)  # named as Keras 3 does: input_layer_N
        # Keras 3 builds a Sequential as a Functional model, which takes the next default "functional" name; taking it
        # here too keeps the default names of the functional models a ported script makes after it as Keras gives them.
        unique_name("functional")
        self.built = True
        spec_shape, dtype = shape, self._input_layer.dtype
        for layer in self._layers:
            spec = layer.compute_output_spec(spec_shape, input_dtype=dtype)
            layer._summary_output_shape = spec.shape
            spec_shape, dtype = spec.shape, spec.dtype
        self._build_shape = shape

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def input_specs(self):
        if not self.built or self._input_layer is None:
            return super().input_specs()
        return [(self._build_shape, self._input_layer.dtype)]

    def _declared_input_shape(self):
        return self._build_shape if self.built else None

    @property
    def input_shape(self):
        return self._build_shape

    @property
    def output_shape(self):
        if not self.built:
            raise ValueError(f"Sequential model {self.name!r} is not built yet, so it has no output shape.")
        return self.compute_output_shape(self._build_shape)

    def get_config(self):
        from pyml.layers import serialization

        config = {**Layer.get_config(self), "layers": [serialization.serialize(layer) for layer in self._layers]}
        if self.built and self._build_shape is not None:
            config["build_input_shape"] = list(self._build_shape)
            config["input_dtype"] = self._input_layer.dtype
            config["input_name"] = self._input_layer.name  # a bundle's input keeps it through save and load
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from pyml.layers import serialization

        config = dict(config)
        layer_configs = config.pop("layers", [])
        build_shape = config.pop("build_input_shape", None)
        input_dtype = config.pop("input_dtype", None)
        input_name = config.pop("input_name", None)  # None in configs saved before pyml kept it: a default name
        model = cls(**config)
        for i, layer_config in enumerate(layer_configs):
            model.add(serialization.deserialize(layer_config, custom_objects, where=f"layers[{i}]"), rebuild=False)
        if build_shape is not None:
            model._input_layer = InputLayer(batch_shape=tuple(build_shape), dtype=input_dtype, name=input_name)
            model.build(tuple(build_shape))
        return model

"""Core layers: ``Dense``, ``Activation``, ``Flatten``, ``Reshape``, ``Dropout``, ``Identity``."""
import math

import numpy as np

from pyml import activations, initializers, ops, random
from pyml.checks import boolean, positive_int, real  # noqa: F401  (positive_int: layers import it from here)
from pyml.graph.trace import host_value
from pyml.layers.base import InputSpec, Layer
from pyml.layers import weight_options


# Dense and the convolution layers all end in ``activation(op(inputs, kernel) + bias)``: these two helpers are
# that shared tail, for a layer with ``use_bias``, ``bias_initializer``, ``bias_regularizer``, ``bias_constraint``,
# ``activation`` and (once built) ``bias``.
def optional_bias(layer, units):
    """A ``(units,)`` weight named ``bias`` from ``layer.bias_initializer``, or None when ``layer.use_bias`` is off."""
    if not layer.use_bias:
        return None
    return layer.add_weight(shape=(units,), initializer=layer.bias_initializer, name="bias",
                            **weight_options.options(layer, "bias"))


def bias_and_activation(layer, x):
    """``layer.activation(x + layer.bias)``, the bias left out when the layer has none."""
    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    return layer.activation(x)


class Dense(Layer):
    """Densely connected layer: ``output = activation(inputs @ kernel + bias)``.

    Args:
        units: positive int, size of the last output axis.
        activation: name or callable; None means linear.
        use_bias: whether to add ``bias``.
        kernel_initializer: initializer for the ``(in, units)`` kernel.
        bias_initializer: initializer for the ``(units,)`` bias.
        kernel_regularizer, bias_regularizer: penalties on the weights (``pyml.regularizers``).
        kernel_constraint, bias_constraint: projections after each update (``pyml.constraints``).
        activity_regularizer: a penalty on the output (see ``Layer``).

    Input shape:
        ``(batch, ..., in)``.
    Output shape:
        ``(batch, ..., units)``.

    >>> layer = pyml.layers.Dense(4, activation="relu")
    >>> layer(np.ones((2, 3))).shape
    (2, 4)
    >>> [w.shape for w in layer.weights]
    [(3, 4), (4,)]
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = boolean(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_options.set_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True  # a (batch, steps) mask still describes (batch, steps, units)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(in_dim, self.units), initializer=self.kernel_initializer, name="kernel",
                                      **weight_options.options(self, "kernel"))
        self.bias = optional_bias(self, self.units)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        return bias_and_activation(self, ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options.options_config(self, "kernel", "bias")}


class Activation(Layer):
    """Applies an activation function: ``output = activation(inputs)``.

    Args:
        activation: name (``"relu"``, ``"softmax"``, ...) or callable.

    >>> pyml.layers.Activation("relu")(pyml.Tensor([-1.0, 1.0])).numpy()
    array([0., 1.], dtype=float32)
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Flattens every axis but the batch: ``(batch, d1, d2, ...)`` to ``(batch, d1 * d2 * ...)``.

    Output shape:
        ``(batch, prod(input_shape[1:]))``; a 1-D input becomes ``(batch, 1)``.

    >>> pyml.layers.Flatten()(np.ones((2, 3, 4))).shape
    (2, 12)
    """

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    Args:
        target_shape: shape of one output sample; one entry may be -1 (inferred).

    >>> pyml.layers.Reshape((3, 4))(np.ones((2, 12))).shape
    (2, 3, 4)
    >>> pyml.layers.Reshape((-1, 2))(np.ones((2, 12))).shape
    (2, 6, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape) if isinstance(target_shape, (list, tuple)) else (target_shape,)
        bad = [d for d in target_shape if isinstance(d, bool) or not isinstance(d, (int, np.integer))
               or (d <= 0 and d != -1)]
        if bad or list(target_shape).count(-1) > 1:
            raise ValueError("Reshape expects target_shape of positive ints with at most one -1. "
                             f"Received: target_shape={target_shape}")
        self.target_shape = tuple(int(d) for d in target_shape)

    def _resolve(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(f"Layer {self.name!r}: cannot reshape samples of shape {tuple(input_shape[1:])} "
                                 f"into {self.target_shape}. Received: input shape {tuple(input_shape)}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(f"Layer {self.name!r}: total size of the new shape {self.target_shape} must equal "
                             f"{size}, the size of one sample. Received: input shape {tuple(input_shape)}")
        return self.target_shape

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0],) + self._resolve(inputs.shape))

    def compute_output_shape(self, input_shape):
        if None in input_shape[1:]:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + self._resolve(input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def check_noise_shape(layer, noise_shape):
    """``noise_shape`` as a tuple of None and positive ints, or None; a ValueError naming ``layer`` otherwise."""
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (list, tuple)) or not all(d is None or (
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0) for d in noise_shape):
        raise ValueError(f"{type(layer).__name__} expects `noise_shape` to be None or a tuple of positive ints and "
                         f"None. Received: noise_shape={noise_shape!r}")
    return tuple(None if d is None else int(d) for d in noise_shape)


def concrete_noise_shape(noise_shape, shape):
    """``noise_shape`` with its None entries taken from ``shape`` (all of ``shape`` when it is None); each entry
    must be 1 or the input's size, so that the mask broadcasts."""
    if noise_shape is None:
        return tuple(shape)
    concrete = tuple(shape[i] if d is None else d for i, d in enumerate(noise_shape))
    if len(noise_shape) != len(shape) or any(d not in (1, n) for d, n in zip(concrete, shape)):
        raise ValueError(f"noise_shape needs one entry per axis of the inputs (shape {tuple(shape)}), each None, 1 "
                         f"or the input's size. Received: noise_shape={noise_shape}")
    return concrete


class Dropout(Layer):
    """Randomly zeroes a fraction ``rate`` of the inputs while training, scaling the rest by ``1 / (1 - rate)``.

    With ``rate=1`` every input is dropped (the output is zeros). At inference (``training=False``, as in ``predict`` and exported models) it passes inputs through.

    Args:
        rate: float in [0, 1], the fraction of inputs to drop.
        noise_shape: optional shape of the keep mask, broadcast against the input (None entries
            take the input's size), e.g. ``(None, 1, None)`` to drop whole time steps.
        seed: optional int for a reproducible mask sequence.

    >>> layer = pyml.layers.Dropout(0.5)
    >>> x = np.ones((1, 4), "float32")
    >>> layer(x, training=False).numpy()
    array([[1., 1., 1., 1.]], dtype=float32)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = real(self, "rate", rate, low=0, high=1)
        self.noise_shape = check_noise_shape(self, noise_shape)
        self.seed = seed
        self._generator = random.generator(seed) if seed is not None else None
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        shape = concrete_noise_shape(self.noise_shape, inputs.shape)
        dtype = inputs.dtype
        # The mask is data drawn on the host, like a batch; the multiply is a pyml op, so it differentiates.
        # A traced training step gets it as an input drawn afresh before every run (host_value).
        mask = host_value(inputs, shape, dtype, DropoutMask(self, shape, dtype))
        return ops.multiply(inputs, mask)

    def _draw_mask(self, shape, dtype):
        """Keep each element with probability ``1 - rate``, scaled by ``1 / (1 - rate)`` (all zeros at rate 1)."""
        rng = self._generator or random.generator()
        keep = rng.random(size=shape) >= self.rate
        # With rate 1 nothing is kept, and the mask is all zeros (no division by 1 - rate = 0).
        scale = 0.0 if self.rate == 1 else 1.0 / (1.0 - self.rate)
        return keep.astype(dtype) * scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}


class DropoutMask:
    """The host draw (``pyml.graph.trace.host_value``) of one Dropout mask: ``draw()`` at the traced shape, or
    ``draw(shape)`` at another (a dynamic batch: ``pyml.models.compiled_step.trace_training_graph``). ``rate``
    tells a runtime that draws masks itself what to draw.

    >>> draw = pyml.layers.core.DropoutMask(pyml.layers.Dropout(1.0), (2, 3), "float32")
    >>> draw().shape, draw((5, 3)).shape, draw.rate
    ((2, 3), (5, 3), 1.0)
    """

    def __init__(self, layer, shape, dtype):
        self.layer, self.shape, self.dtype = layer, tuple(shape), dtype

    @property
    def rate(self):
        return self.layer.rate

    def __call__(self, shape=None):
        return self.layer._draw_mask(self.shape if shape is None else tuple(shape), self.dtype)


class Identity(Layer):
    """Returns its inputs unchanged (masks pass through); a placeholder in a model, absent from exports.

    >>> pyml.layers.Identity()(np.ones((2, 3), "float32")).shape
    (2, 3)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

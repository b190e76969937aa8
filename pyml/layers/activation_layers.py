"""Activation functions as layers (Keras ``layers.ReLU``, ``Softmax``, ``LeakyReLU``, ``ELU``, ``PReLU``)."""

from pyml import activations, initializers, ops
from pyml.checks import axes, real
from pyml.layers import weight_options
from pyml.layers.base import InputSpec, Layer


LARGE_NEGATIVE = -1e9  # Keras 3's stand-in for masked logits (float32; layers/activations/softmax.py)


def masked_softmax(layer, inputs, mask, axis=-1):
    """Keras 3's masked softmax: ``where(mask, softmax(where(mask, x, -1e9)), 0)``; ``mask`` broadcasts to
    ``inputs`` from the right (each of its axes 1 or the input's size), or a ValueError names ``layer``."""
    mask = ops.convert_to_tensor(mask)
    if mask.ndim > inputs.ndim or any(m != 1 and m != i for m, i in zip(mask.shape[::-1], inputs.shape[::-1])):
        raise ValueError(f"Layer {layer.name!r}: the mask must be broadcastable to the inputs (each axis 1 or the "
                         f"input's size, counted from the right). Received: inputs.shape={tuple(inputs.shape)}, "
                         f"mask.shape={tuple(mask.shape)}")
    if mask.dtype != "bool":
        mask = ops.greater(mask, 0.5)
    outputs = activations.softmax(ops.where(mask, inputs, LARGE_NEGATIVE), axis=axis)
    return ops.where(mask, outputs, 0.0)


class ReLU(Layer):
    """``min(max(x, 0), max_value)`` with an optional slope below ``threshold``:
    ``negative_slope * (x - threshold)`` for ``x < threshold``.

    Args:
        max_value: optional upper bound.
        negative_slope: slope below the threshold (default 0).
        threshold: where the function turns on (default 0).

    >>> pyml.layers.ReLU(max_value=1.0)(np.array([-1.0, 0.5, 2.0], "float32")).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else real(self, "max_value", max_value, low=0)
        self.negative_slope = real(self, "negative_slope", negative_slope, low=0)
        self.threshold = real(self, "threshold", threshold)
        self.supports_masking = True

    def call(self, inputs):
        if self.negative_slope == 0 and self.threshold == 0:
            x = ops.relu(inputs)
        else:
            above = ops.greater_equal(inputs, self.threshold)
            x = ops.where(above, inputs, ops.multiply(ops.subtract(inputs, self.threshold), self.negative_slope))
        return x if self.max_value is None else ops.minimum(x, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (default slope 0.3, as Keras' layer).

    >>> pyml.layers.LeakyReLU(0.5)(np.array([-2.0, 3.0], "float32")).numpy()
    array([-1.,  3.], dtype=float32)
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = real(self, "negative_slope", negative_slope, low=0)
        self.supports_masking = True

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> pyml.layers.ELU()(np.array([0.0, 1.0], "float32")).numpy()
    array([0., 1.], dtype=float32)
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = real(self, "alpha", alpha)
        self.supports_masking = True

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """``exp(x) / sum(exp(x))`` along ``axis`` (default -1).

    With a ``mask`` (bool, broadcastable to the inputs from the right, True = keep), as Keras 3: masked
    inputs are replaced by -1e9 before the softmax and masked outputs set to 0 (so a row with every entry
    masked is all zeros).

    >>> pyml.layers.Softmax()(np.array([[0.0, 0.0]], "float32")).numpy()
    array([[0.5, 0.5]], dtype=float32)
    >>> pyml.layers.Softmax()(np.array([[1.0, 2.0, 3.0]], "float32"), mask=np.array([[True, True, False]])).numpy()
    array([[0.2689414, 0.7310586, 0.       ]], dtype=float32)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axes(self, "axis", axis)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return activations.softmax(inputs, axis=self.axis)
        return masked_softmax(self, inputs, mask, self.axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: ``x`` for ``x >= 0``, else ``alpha * x``, with ``alpha`` learned per entry
    (computed as Keras does: ``relu(x) - alpha * relu(-x)``).

    Args:
        alpha_initializer: initializer of ``alpha`` (default zeros: a plain ReLU to start with).
        alpha_regularizer, alpha_constraint: a penalty and a projection on ``alpha`` (``pyml.regularizers``,
            ``pyml.constraints``).
        shared_axes: axes (1-based, counting the batch axis as 0) along which ``alpha`` is shared, e.g.
            ``[1, 2]`` for one slope per channel of an image. ``alpha`` has the input's shape without the
            batch axis, with 1 on the shared axes.

    >>> layer = pyml.layers.PReLU(alpha_initializer=pyml.initializers.Constant(0.1), shared_axes=[1])
    >>> layer(np.array([[[-2.0, 3.0]]], "float32")).numpy()
    array([[[-0.2,  3. ]]], dtype=float32)
    >>> layer.alpha.shape
    (1, 2)
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        weight_options.set_options(self, alpha_regularizer=alpha_regularizer, alpha_constraint=alpha_constraint)
        axes = [shared_axes] if isinstance(shared_axes, int) else shared_axes
        if axes is not None and (not isinstance(axes, (list, tuple)) or any(
                isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes)):
            raise ValueError("PReLU expects `shared_axes` to be None, a positive int or a list of positive ints (the "
                             f"batch axis 0 cannot be shared). Received: shared_axes={shared_axes!r}")
        self.shared_axes = None if axes is None else sorted(set(axes))
        self.supports_masking = True

    def build(self, input_shape):
        shared = self.shared_axes or []
        if any(a >= len(input_shape) for a in shared):
            raise ValueError(f"Layer {self.name!r}: `shared_axes` {self.shared_axes} must be axes of the inputs, "
                             f"1 to {len(input_shape) - 1}. Received: input shape {tuple(input_shape)}")
        shape = tuple(1 if a in shared else input_shape[a] for a in range(1, len(input_shape)))
        self.alpha = self.add_weight(shape=shape, initializer=self.alpha_initializer, name="alpha",
                                     **weight_options.options(self, "alpha"))
        self.input_spec = InputSpec(ndim=len(input_shape), axes={
            a: input_shape[a] for a in range(1, len(input_shape)) if a not in shared})

    def call(self, inputs):
        return ops.subtract(ops.relu(inputs), ops.multiply(self.alpha, ops.relu(ops.negative(inputs))))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                **weight_options.options_config(self, "alpha"), "shared_axes": self.shared_axes}

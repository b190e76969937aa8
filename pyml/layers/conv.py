"""Convolution layers, channels-last: ``Conv1D``, ``Conv2D``, ``Conv3D``, ``DepthwiseConv2D``.

Kernels use Keras layouts: ``(*kernel_size, in_channels // groups, filters)`` for ``ConvND`` and
``(*kernel_size, in_channels, depth_multiplier)`` for ``DepthwiseConv2D``.
"""
import numpy as np

from pyml import activations, initializers, ops
from pyml.checks import boolean
from pyml.layers import weight_options
from pyml.layers.base import InputSpec, Layer
from pyml.layers.core import bias_and_activation, optional_bias, positive_int


def normalize_tuple(value, rank, arg, layer):
    """``3`` -> ``(3, 3)`` for rank 2; a sequence must have ``rank`` positive ints."""
    values = (value,) * rank if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != rank or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 for v in values):
        raise ValueError(f"{layer} expects `{arg}` to be a positive int or a tuple of {rank} positive ints. "
                         f"Received: {arg}={value!r}")
    return tuple(int(v) for v in values)


def normalize_padding(padding, layer, allowed=("valid", "same")):
    """``padding`` lower-cased, or a ValueError naming ``layer`` and the ``allowed`` values."""
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in allowed:
        raise ValueError(f"{layer} expects padding in {allowed}. Received: padding={padding!r}")
    return padding


def check_data_format(data_format, layer):
    """Refuse anything but channels-last (``None`` or ``"channels_last"``), naming ``layer``."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer} supports only channels-last inputs (NHWC), as exported models use. "
                         f"Received: data_format={data_format!r}")


def conv_output_length(length, kernel, padding, stride, dilation=1):
    """One spatial dim of a convolution or pooling output (None stays None)."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return -(-length // stride)
    span = dilation * (kernel - 1) + 1
    return max(0, (length - span) // stride + 1)


class BaseConv(Layer):
    """Shared by ``Conv1D``/``Conv2D``/``Conv3D``; ``rank`` is the number of spatial axes."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        filters = positive_int(layer, "filters", filters)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0 or filters % groups:
            raise ValueError(f"{layer} expects `groups` to be a positive integer that divides filters. "
                             f"Received: groups={groups!r}, filters={filters}")
        check_data_format(data_format, layer)
        self.filters, self.groups = filters, int(groups)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", layer)
        self.strides = normalize_tuple(strides, self.rank, "strides", layer)
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        self.padding = normalize_padding(padding, layer, allowed)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", layer)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{layer} does not support strides > 1 together with dilation_rate > 1. "
                             f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = boolean(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_options.set_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"Layer {self.name!r} needs input channels divisible by groups={self.groups}. "
                             f"Received: input shape {tuple(input_shape)}")
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight(shape=shape, initializer=self.kernel_initializer, name="kernel",
                                      **weight_options.options(self, "kernel"))
        self.bias = optional_bias(self, self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})

    def call(self, inputs):
        x = ops.conv(inputs, self.kernel, strides=self.strides, padding=self.padding,
                     dilation_rate=self.dilation_rate, groups=self.groups)
        return bias_and_activation(self, x)

    def _spatial_output(self, input_shape):
        return tuple(conv_output_length(d, k, self.padding, s, r) for d, k, s, r in
                     zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._spatial_output(input_shape) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "groups": self.groups, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options.options_config(self, "kernel", "bias")}


_CONV_DOC = """{rank}-D convolution over channels-last inputs: ``activation(conv(inputs, kernel) + bias)``.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints (default 1).
        padding: ``"valid"`` (no padding) or ``"same"`` (output size ``ceil(input / stride)``){causal}.
        data_format: only ``"channels_last"`` (or None).
        dilation_rate: int or tuple of {rank} ints; > 1 cannot be combined with strides > 1.
        groups: split channels into this many groups, each convolved separately.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            kernel_constraint, bias_constraint, activity_regularizer: as in ``Dense``.

    Input shape:
        ``(batch, {dims}, channels)``.
    Output shape:
        ``(batch, {new_dims}, filters)``; kernel ``({ks}, channels // groups, filters)``.

    >>> pyml.layers.{name}(8, 3)(np.ones({example_in}, "float32")).shape
    {example_out}
    """


class Conv1D(BaseConv):
    rank = 1
    __doc__ = _CONV_DOC.format(rank=1, dims="steps", new_dims="new_steps", ks="k", name="Conv1D",
                               causal=', or ``"causal"`` (left-padded: step t sees steps <= t)',
                               example_in=(2, 10, 3), example_out=(2, 8, 8))


class Conv2D(BaseConv):
    rank = 2
    __doc__ = _CONV_DOC.format(rank=2, dims="height, width", new_dims="new_height, new_width", ks="kh, kw",
                               name="Conv2D", causal="", example_in=(2, 10, 10, 3), example_out=(2, 8, 8, 8))


class Conv3D(BaseConv):
    rank = 3
    __doc__ = _CONV_DOC.format(rank=3, dims="d1, d2, d3", new_dims="new_d1, new_d2, new_d3", ks="k1, k2, k3",
                               name="Conv3D", causal="", example_in=(2, 5, 5, 5, 3), example_out=(2, 3, 3, 3, 8))


class DepthwiseConv2D(BaseConv):
    """Depthwise 2-D convolution: each input channel is convolved with its own ``depth_multiplier`` filters.

    Args:
        kernel_size: int or tuple of 2 ints.
        strides, padding, data_format, dilation_rate, activation, use_bias: as in ``Conv2D``.
        depth_multiplier: output channels per input channel.
        depthwise_initializer: initializer for the ``(kh, kw, channels, depth_multiplier)`` kernel.
        bias_initializer: initializer for the ``(channels * depth_multiplier,)`` bias.
        depthwise_regularizer, bias_regularizer, depthwise_constraint, bias_constraint, activity_regularizer:
            as ``Dense``'s kernel and bias ones.

    Input shape:
        ``(batch, height, width, channels)``.
    Output shape:
        ``(batch, new_height, new_width, channels * depth_multiplier)``.

    >>> pyml.layers.DepthwiseConv2D(3, depth_multiplier=2)(np.ones((2, 8, 8, 3), "float32")).shape
    (2, 6, 6, 6)
    """

    rank = 2

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        depth_multiplier = positive_int("DepthwiseConv2D", "depth_multiplier", depth_multiplier)
        super().__init__(1, kernel_size, strides, padding, data_format, dilation_rate, 1, activation, use_bias,
                         depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         depthwise_constraint, bias_constraint, **kwargs)
        self.depth_multiplier = depth_multiplier

    def build(self, input_shape):
        channels = input_shape[-1]
        self.filters = channels * self.depth_multiplier
        shape = self.kernel_size + (channels, self.depth_multiplier)
        self.kernel = self.add_weight(shape=shape, initializer=self.kernel_initializer, name="kernel",
                                      **weight_options.options(self, "kernel"))
        self.bias = optional_bias(self, self.filters)
        self.input_spec = InputSpec(ndim=4, axes={-1: channels})

    def call(self, inputs):
        x = ops.depthwise_conv(inputs, self.kernel, strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate)
        return bias_and_activation(self, x)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (input_shape[0],) + self._spatial_output(input_shape) + (
            None if channels is None else channels * self.depth_multiplier,)

    def get_config(self):
        config = super().get_config()
        for key in ("filters", "groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config["depth_multiplier"] = self.depth_multiplier
        config["depthwise_initializer"] = initializers.serialize(self.kernel_initializer)
        config.update(weight_options.options_config(self, "kernel", names={"kernel": "depthwise"}))
        return config

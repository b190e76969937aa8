"""Transposed convolutions (channels-last): ``Conv1DTranspose``, ``Conv2DTranspose``, ``Conv3DTranspose``.

A transposed convolution is the gradient of a convolution with respect to its input: it maps
``(batch, *spatial, channels)`` to ``(batch, *spatial * strides (about), filters)``, which makes it the
usual upsampling layer of decoders. The kernel has Keras' layout ``(*kernel_size, filters, channels)``:
the kernel of the ``ConvND`` (from ``filters`` to ``channels``) whose input gradient this is.
"""
import numpy as np

from pyml import activations, initializers, ops
from pyml.checks import boolean
from pyml.layers import weight_options
from pyml.layers.base import InputSpec, Layer
from pyml.layers.conv import check_data_format, normalize_padding, normalize_tuple
from pyml.layers.core import bias_and_activation, optional_bias, positive_int


def deconv_output_length(length, kernel, padding, stride, dilation=1, output_padding=None):
    """One spatial dim of a transposed convolution's output (Keras' ``deconv_output_length``)."""
    if length is None:
        return None
    span = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        return length * stride + max(span - stride, 0) if padding == "valid" else length * stride
    pad = span // 2 if padding == "same" else 0
    return (length - 1) * stride + span - 2 * pad + output_padding


class BaseConvTranspose(Layer):
    """Shared by the ``ConvNDTranspose`` layers; ``rank`` is the number of spatial axes."""

    rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        self.filters = positive_int(layer, "filters", filters)
        check_data_format(data_format, layer)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size", layer)
        self.strides = normalize_tuple(strides, self.rank, "strides", layer)
        self.padding = normalize_padding(padding, layer)
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate", layer)
        self.output_padding = None
        if output_padding is not None:
            values = tuple(output_padding) if isinstance(output_padding, (list, tuple)) else (
                (output_padding,) * self.rank)
            if len(values) != self.rank or any(isinstance(p, bool) or not isinstance(p, (int, np.integer))
                                               or not 0 <= p < s for p, s in zip(values, self.strides)):
                raise ValueError(f"{layer} expects output_padding to be {self.rank} ints, each in [0, stride). "
                                 f"Received: output_padding={output_padding!r}, strides={self.strides}")
            self.output_padding = tuple(int(p) for p in values)
        self.activation = activations.get(activation)
        self.use_bias = boolean(self, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_options.set_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = self.add_weight(shape=self.kernel_size + (self.filters, channels),
                                      initializer=self.kernel_initializer, name="kernel",
                                      **weight_options.options(self, "kernel"))
        self.bias = optional_bias(self, self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})

    def call(self, inputs):
        x = ops.conv_transpose(inputs, self.kernel, strides=self.strides, padding=self.padding,
                               output_padding=self.output_padding, dilation_rate=self.dilation_rate)
        return bias_and_activation(self, x)

    def compute_output_shape(self, input_shape):
        extra = self.output_padding or (None,) * self.rank
        spatial = tuple(deconv_output_length(d, k, self.padding, s, r, p) for d, k, s, r, p in
                        zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, extra))
        return (input_shape[0],) + spatial + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "output_padding": None if self.output_padding is None else list(self.output_padding),
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **weight_options.options_config(self, "kernel", "bias")}


_DOC = """{rank}-D transposed convolution (a learned upsampling), channels-last.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints; the output is about ``strides`` times larger.
        padding: ``"valid"`` (output ``input * stride + max(kernel - stride, 0)``) or ``"same"``
            (output ``input * stride``).
        output_padding: optional int(s) below the strides: the exact output size
            ``(input - 1) * stride + kernel - 2 * pad + output_padding``.
        data_format: only ``"channels_last"`` (or None).
        dilation_rate: int or tuple of {rank} ints.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            kernel_constraint, bias_constraint, activity_regularizer: as in ``Dense``.

    Input shape:
        ``(batch, {dims}, channels)``; kernel ``({ks}, filters, channels)``.

    >>> pyml.layers.{name}(4, 3, strides=2, padding="same")(np.ones({example_in}, "float32")).shape
    {example_out}
    """


class Conv1DTranspose(BaseConvTranspose):
    rank = 1
    __doc__ = _DOC.format(rank=1, dims="steps", ks="k", name="Conv1DTranspose", example_in=(2, 5, 3),
                          example_out=(2, 10, 4))


class Conv2DTranspose(BaseConvTranspose):
    rank = 2
    __doc__ = _DOC.format(rank=2, dims="height, width", ks="kh, kw", name="Conv2DTranspose",
                          example_in=(2, 5, 5, 3), example_out=(2, 10, 10, 4))


class Conv3DTranspose(BaseConvTranspose):
    rank = 3
    __doc__ = _DOC.format(rank=3, dims="d1, d2, d3", ks="k1, k2, k3", name="Conv3DTranspose",
                          example_in=(1, 2, 3, 2, 3), example_out=(1, 4, 6, 4, 4))

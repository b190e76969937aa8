"""Separable convolutions, channels-last: ``SeparableConv1D`` and ``SeparableConv2D``.

A separable convolution is a depthwise convolution (each input channel convolved with its own
``depth_multiplier`` filters) followed by a pointwise (1x1) convolution that mixes the channels. Both are
the ``conv`` primitive (the depthwise one with ``groups = channels``), so training, the compiled step and
export reuse the grouped/direct and implicit-GEMM conv kernels; no kernel of its own is needed.

Weights use Keras layouts: ``depthwise_kernel`` ``(*kernel_size, channels, depth_multiplier)``,
``pointwise_kernel`` ``(*ones, channels * depth_multiplier, filters)`` and ``bias`` ``(filters,)``.
"""
from pyml import initializers, ops
from pyml.layers import weight_options
from pyml.layers.base import InputSpec
from pyml.layers.conv import BaseConv
from pyml.layers.core import bias_and_activation, optional_bias, positive_int


class BaseSeparableConv(BaseConv):
    """Shared by ``SeparableConv1D``/``SeparableConv2D``; ``rank`` is the number of spatial axes."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, depthwise_constraint=None, pointwise_constraint=None, **kwargs):
        layer = type(self).__name__
        self.depth_multiplier = positive_int(layer, "depth_multiplier", depth_multiplier)
        if isinstance(padding, str) and padding.lower() == "causal":  # BaseConv allows it for rank 1; Keras does not
            raise ValueError(f"{layer} expects padding in ('valid', 'same'). Received: padding={padding!r}")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, depthwise_initializer, bias_initializer, **kwargs)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        weight_options.set_options(self, depthwise_regularizer=depthwise_regularizer,
                                   pointwise_regularizer=pointwise_regularizer, depthwise_constraint=depthwise_constraint,
                                   pointwise_constraint=pointwise_constraint)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Layer {self.name!r} needs a known number of input channels. "
                             f"Received: input shape {tuple(input_shape)}")
        middle = channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(shape=self.kernel_size + (channels, self.depth_multiplier),
                                                initializer=self.kernel_initializer, name="depthwise_kernel",
                                                **weight_options.options(self, "depthwise"))
        self.pointwise_kernel = self.add_weight(shape=(1,) * self.rank + (middle, self.filters),
                                                initializer=self.pointwise_initializer, name="pointwise_kernel",
                                                **weight_options.options(self, "pointwise"))
        self.bias = optional_bias(self, self.filters)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})

    def call(self, inputs):
        x = ops.depthwise_conv(inputs, self.depthwise_kernel, strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate)
        return bias_and_activation(self, ops.conv(x, self.pointwise_kernel))

    def get_config(self):
        config = super().get_config()
        for key in ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config.update(depth_multiplier=self.depth_multiplier,
                      depthwise_initializer=initializers.serialize(self.kernel_initializer),
                      pointwise_initializer=initializers.serialize(self.pointwise_initializer),
                      **weight_options.options_config(self, "depthwise", "pointwise"))
        return config


_DOC = """{rank}-D separable convolution: a depthwise convolution, then a pointwise (1x1) one, then bias and
    activation: ``activation(conv(depthwise_conv(inputs, depthwise_kernel), pointwise_kernel) + bias)``.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints (the depthwise window).
        strides, padding (``"valid"`` or ``"same"``), data_format, dilation_rate: of the depthwise step,
            as in ``Conv{rank}D``.
        depth_multiplier: depthwise output channels per input channel (default 1).
        activation, use_bias: as in ``Dense``.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializers of the three weights.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer, and the three ``*_constraint``
            arguments: penalties and projections on them (``pyml.regularizers``, ``pyml.constraints``).

    Input shape:
        ``(batch, {dims}, channels)``.
    Output shape:
        ``(batch, {new_dims}, filters)``.

    >>> layer = pyml.layers.SeparableConv{rank}D(8, 3, depth_multiplier=2)
    >>> layer(np.ones({example_in}, "float32")).shape
    {example_out}
    >>> [w.shape for w in layer.weights]
    {weights}
    """


class SeparableConv1D(BaseSeparableConv):
    rank = 1
    __doc__ = _DOC.format(rank=1, dims="steps", new_dims="new_steps", example_in=(2, 10, 3), example_out=(2, 8, 8),
                          weights=[(3, 3, 2), (1, 6, 8), (8,)])


class SeparableConv2D(BaseSeparableConv):
    rank = 2
    __doc__ = _DOC.format(rank=2, dims="height, width", new_dims="new_height, new_width", example_in=(2, 10, 10, 3),
                          example_out=(2, 8, 8, 8), weights=[(3, 3, 3, 2), (1, 1, 6, 8), (8,)])

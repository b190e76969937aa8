"""Per-sample normalization layers: ``UnitNormalization``, ``GroupNormalization``, ``RMSNormalization``.

Each is a few reductions and elementwise ops (no state, no moving statistics), so training and inference
compute the same thing and the export runs them on the reduction and fused elementwise kernels.
"""
from pyml import initializers, ops
from pyml.checks import boolean
from pyml.layers import weight_options
from pyml.layers.base import InputSpec, Layer
from pyml.layers.normalization import _axes, _check_axis, _check_epsilon


def l2_normalize(x, axes, epsilon):
    """``x / max(||x||_2, epsilon)`` over ``axes`` (Keras ``ops.normalize(x, axis, order=2, epsilon)``).

    Written as ``x / sqrt(max(sum(x^2), epsilon^2))`` so an all-zero vector gives zeros with a finite
    gradient (a square root of 0 would make it infinite).
    """
    squares = ops.sum(ops.square(x), axis=axes, keepdims=True)
    return ops.divide(x, ops.sqrt(ops.maximum(squares, epsilon * epsilon)))


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``: ``x / max(||x||, 1e-12)`` (Keras's ``epsilon``).

    Args:
        axis: int or list of ints (default -1).

    >>> pyml.layers.UnitNormalization()(np.array([[3.0, 4.0]], "float32")).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """

    EPSILON = 1e-12

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "UnitNormalization")
        self.supports_masking = True

    def build(self, input_shape):
        self._norm_axes = tuple(_axes(self.axis, len(input_shape), self.name))

    def call(self, inputs):
        return l2_normalize(inputs, self._norm_axes, self.EPSILON)

    def compute_output_shape(self, input_shape):
        _axes(self.axis, len(input_shape), self.name)
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """Root-mean-square normalization: ``x / sqrt(mean(x^2 over axis) + epsilon) * scale``, with a learned
    ``scale`` shaped like the normalized axes (initialized to ones). No centering, unlike ``LayerNormalization``.

    Args:
        axis: int or list of ints to normalize over (default -1).
        epsilon: added to the mean square (default 1e-6).

    >>> out = pyml.layers.RMSNormalization()(np.array([[3.0, 4.0]], "float32"))
    >>> out.numpy().round(3)
    array([[0.849, 1.131]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "RMSNormalization")
        self.epsilon = _check_epsilon(epsilon, "RMSNormalization")

    def build(self, input_shape):
        ndim = len(input_shape)
        self._norm_axes = tuple(_axes(self.axis, ndim, self.name))
        self.scale = self.add_weight(shape=tuple(input_shape[a] for a in self._norm_axes), initializer="ones",
                                     name="scale")
        self._broadcast = None if self._norm_axes == (ndim - 1,) else tuple(
            input_shape[a] if a in self._norm_axes else 1 for a in range(ndim))
        self.input_spec = InputSpec(ndim=ndim, axes={a: input_shape[a] for a in self._norm_axes})

    def call(self, inputs):
        mean_square = ops.mean(ops.square(inputs), axis=self._norm_axes, keepdims=True)
        x = ops.divide(inputs, ops.sqrt(ops.add(mean_square, self.epsilon)))
        return ops.multiply(x, self.scale if self._broadcast is None else ops.reshape(self.scale, self._broadcast))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels: the ``axis`` channels are split into ``groups``
    consecutive groups, and each group is normalized with the mean and variance of its channels at every
    position: ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` (``gamma``, ``beta`` per channel).
    ``groups=1`` normalizes over everything but the batch; ``groups=-1`` (one channel per group) is instance
    normalization.

    Args:
        groups: positive int dividing the channels, or -1 (default 32).
        axis: the channel axis (default -1).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to learn ``beta`` / ``gamma`` (shape ``(channels,)``).
        beta_initializer, gamma_initializer; beta_regularizer, gamma_regularizer, beta_constraint,
            gamma_constraint (``pyml.regularizers``, ``pyml.constraints``).

    >>> x = np.array([[[1.0, 2.0, 10.0, 20.0]]], "float32")
    >>> pyml.layers.GroupNormalization(groups=2, epsilon=1e-6)(x).numpy().round(3)
    array([[[-1.,  1., -1.,  1.]]], dtype=float32)
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        weight_options.set_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                                   beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError("GroupNormalization expects `groups` to be a positive integer (or -1 for instance "
                             f"normalization). Received: groups={groups!r}")
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"GroupNormalization expects `axis` to be an int. Received: axis={axis!r}")
        self.groups, self.axis = groups, axis
        self.epsilon = _check_epsilon(epsilon, "GroupNormalization")
        self.center = boolean(self, "center", center)
        self.scale = boolean(self, "scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        (axis,) = _axes(self.axis, ndim, self.name)
        if axis == 0:
            raise ValueError(f"Layer {self.name!r}: `axis` cannot be the batch axis. Received: axis={self.axis}")
        channels = input_shape[axis]
        groups = channels if self.groups == -1 else self.groups
        if channels is None or channels % groups:
            raise ValueError(f"Layer {self.name!r}: `groups`={self.groups} must divide the {channels} channels of "
                             f"axis {self.axis}. Received: input shape {tuple(input_shape)}")
        self._axis, self._groups = axis, groups
        self.gamma = self.add_weight(shape=(channels,), initializer=self.gamma_initializer, name="gamma",
                                     **weight_options.options(self, "gamma")) \
            if self.scale else None
        self.beta = self.add_weight(shape=(channels,), initializer=self.beta_initializer, name="beta",
                                    **weight_options.options(self, "beta")) \
            if self.center else None
        self._broadcast = None if axis == ndim - 1 else tuple(channels if a == axis else 1 for a in range(ndim))
        self.input_spec = InputSpec(ndim=ndim, axes={axis: channels})

    def call(self, inputs):
        shape, axis, groups = tuple(inputs.shape), self._axis, self._groups
        # (..., channels, ...) -> (..., groups, channels per group, ...): statistics over all but batch and group
        grouped = ops.reshape(inputs, shape[:axis] + (groups, shape[axis] // groups) + shape[axis + 1:])
        reduce = tuple(a for a in range(1, len(shape) + 1) if a != axis)
        mean = ops.mean(grouped, axis=reduce, keepdims=True)
        centered = ops.subtract(grouped, mean)
        variance = ops.mean(ops.square(centered), axis=reduce, keepdims=True)
        x = ops.reshape(ops.divide(centered, ops.sqrt(ops.add(variance, self.epsilon))), shape)
        for weight, op in ((self.gamma, ops.multiply), (self.beta, ops.add)):
            if weight is not None:
                x = op(x, weight if self._broadcast is None else ops.reshape(weight, self._broadcast))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **weight_options.options_config(self, "beta", "gamma")}

"""Normalization layers: ``BatchNormalization`` and ``LayerNormalization``."""
from pyml import initializers, ops
from pyml.layers import weight_options
from pyml.autodiff import no_grad
from pyml.checks import axes, boolean, real
from pyml.graph.trace import assign
from pyml.layers.base import InputSpec, Layer
from pyml.layers.call_args import check_mask


def _axes(axis, ndim, layer):
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"Layer {layer!r}: axis {a} is out of range for inputs of rank {ndim}. "
                             f"Received: axis={axis}")
        out.append(a % ndim)
    return sorted(set(out))


def _check_axis(axis, layer):
    return axes(layer, "axis", axis)


def _check_epsilon(epsilon, layer):
    return real(layer, "epsilon", epsilon, low=0, low_open=True)


class BatchNormalization(Layer):
    """Normalizes each feature with batch statistics while training and moving averages at inference.

    ``output = gamma * (x - mean) / sqrt(var + epsilon) + beta``. While training (``fit``), ``mean``
    and ``var`` are the batch's and the moving averages move toward them:
    ``moving = moving * momentum + batch * (1 - momentum)``; otherwise the moving averages are used.
    A layer with ``trainable=False`` always runs in inference mode (as in Keras).

    Args:
        axis: the feature axis (default -1, channels-last).
        momentum: moving-average momentum (default 0.99).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: penalties (``pyml.regularizers``)
            and projections (``pyml.constraints``) of the trainable weights.

    >>> layer = pyml.layers.BatchNormalization()
    >>> layer(np.ones((4, 3), "float32"), training=True).shape
    (4, 3)
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "BatchNormalization")
        self.momentum = real(self, "momentum", momentum, low=0, high=1)
        self.epsilon = _check_epsilon(epsilon, "BatchNormalization")
        self.center = boolean(self, "center", center)
        self.scale = boolean(self, "scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        weight_options.set_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                                   beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        self._feature_axes = _axes(self.axis, ndim, self.name)
        shape = tuple(input_shape[a] for a in self._feature_axes)
        self._broadcast = tuple(input_shape[a] if a in self._feature_axes else 1 for a in range(ndim))
        self._reduce = tuple(a for a in range(ndim) if a not in self._feature_axes)
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma",
                                     **weight_options.options(self, "gamma")) if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta",
                                    **weight_options.options(self, "beta")) if self.center else None
        self.moving_mean = self.add_weight(shape=shape, initializer=self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=shape, initializer=self.moving_variance_initializer,
                                               trainable=False, name="moving_variance")
        self.input_spec = InputSpec(ndim=ndim, axes={a: input_shape[a] for a in self._feature_axes})

    def _shaped(self, weight):
        # features on the last axis broadcast as they are (and keep their names in traced graphs)
        return weight if self._feature_axes == [len(self._broadcast) - 1] else ops.reshape(weight, self._broadcast)

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            mean, variance = self._moments(inputs, mask)
            self._update_moving_statistics(mean, variance)
        else:
            mean, variance = self._shaped(self.moving_mean), self._shaped(self.moving_variance)
        x = ops.divide(ops.subtract(inputs, mean), ops.sqrt(ops.add(variance, self.epsilon)))
        if self.gamma is not None:
            x = ops.multiply(x, self._shaped(self.gamma))
        if self.beta is not None:
            x = ops.add(x, self._shaped(self.beta))
        return x

    def _moments(self, inputs, mask):
        """Batch mean and variance; with a mask (shape ``inputs.shape[:-1]``) only unmasked steps count, as in
        Keras 3: ``sum(where(mask, x, 0)) / (count + 1e-7)``."""
        if mask is None:
            mean = ops.mean(inputs, axis=self._reduce, keepdims=True)
            return mean, ops.mean(ops.square(ops.subtract(inputs, mean)), axis=self._reduce, keepdims=True)
        if mask.ndim != inputs.ndim - 1:
            raise ValueError(f"Layer {self.name!r}: the mask should have one axis less than the inputs. "
                             f"Received: mask.shape={tuple(mask.shape)}, inputs.shape={tuple(inputs.shape)}")
        keep = ops.expand_dims(check_mask(self, mask, inputs), -1)
        count = ops.add(ops.sum(ops.where(keep, 1.0, ops.zeros_like(inputs)), axis=self._reduce, keepdims=True),
                        1e-7)
        mean = ops.divide(ops.sum(ops.where(keep, inputs, 0.0), axis=self._reduce, keepdims=True), count)
        squares = ops.square(ops.where(keep, ops.subtract(inputs, mean), 0.0))
        return mean, ops.divide(ops.sum(squares, axis=self._reduce, keepdims=True), count)

    def _update_moving_statistics(self, mean, variance):
        # Moving statistics are state, updated outside autodiff; ``assign`` also works while a training
        # step is traced, where the new values become outputs of the step.
        m = self.momentum
        with no_grad():
            for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
                assign(moving, ops.add(ops.multiply(moving, m), ops.multiply(ops.reshape(batch, moving.shape), 1 - m)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                **weight_options.options_config(self, "beta", "gamma")}


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis``: ``gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    Statistics are per sample (no moving averages), so training and inference compute the same thing.

    Args:
        axis: int or list of ints to normalize over (default -1).
        epsilon: added to the variance (default 1e-3).
        center, scale: whether to learn ``beta`` / ``gamma`` (shaped like the normalized axes).
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint:
            as ``BatchNormalization``.

    >>> out = pyml.layers.LayerNormalization()(np.array([[1.0, 2.0, 3.0]], "float32"))
    >>> out.numpy().round(3)
    array([[-1.224,  0.   ,  1.224]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = _check_axis(axis, "LayerNormalization")
        self.epsilon = _check_epsilon(epsilon, "LayerNormalization")
        self.center = boolean(self, "center", center)
        self.scale = boolean(self, "scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        weight_options.set_options(self, beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
                                   beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        self._norm_axes = tuple(_axes(self.axis, ndim, self.name))
        shape = tuple(input_shape[a] for a in self._norm_axes)
        self._broadcast = tuple(input_shape[a] if a in self._norm_axes else 1 for a in range(ndim))
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma",
                                     **weight_options.options(self, "gamma")) if self.scale else None
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta",
                                    **weight_options.options(self, "beta")) if self.center else None
        self.input_spec = InputSpec(ndim=ndim, axes={a: input_shape[a] for a in self._norm_axes})

    def call(self, inputs):
        mean = ops.mean(inputs, axis=self._norm_axes, keepdims=True)
        centered = ops.subtract(inputs, mean)
        variance = ops.mean(ops.square(centered), axis=self._norm_axes, keepdims=True)
        x = ops.divide(centered, ops.sqrt(ops.add(variance, self.epsilon)))
        last_axis_only = self._norm_axes == (len(self._broadcast) - 1,)
        if self.gamma is not None:
            x = ops.multiply(x, self.gamma if last_axis_only else ops.reshape(self.gamma, self._broadcast))
        if self.beta is not None:
            x = ops.add(x, self.beta if last_axis_only else ops.reshape(self.beta, self._broadcast))
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **weight_options.options_config(self, "beta", "gamma")}

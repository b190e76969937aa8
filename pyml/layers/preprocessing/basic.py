"""Deterministic preprocessing layers (Keras 3 names and arguments), channels-last: ``Rescaling``,
``Normalization`` (with ``adapt``), ``CenterCrop``, ``Resizing``.

They compute in pyml ops, in training and inference alike, so an exported bundle carries them: a page feeds the
raw pixels and the model rescales, normalises, crops and resizes them itself.

    >>> model = pyml.Sequential([pyml.Input(shape=(8, 8, 3)), pyml.layers.Resizing(4, 4),
    ...                          pyml.layers.Rescaling(1 / 255)])
    >>> float(model.predict(np.full((1, 8, 8, 3), 255, "float32"), verbose=0).max())
    1.0
"""
import numpy as np

from pyml import dtypes, ops
from pyml.checks import boolean, real
from pyml.layers.base import Layer
from pyml.layers.conv import check_data_format

EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest standard deviation Normalization divides by


def _float_input(layer, inputs):
    return inputs if dtypes.is_float(inputs.dtype) else ops.cast(inputs, layer.dtype)


def _number_or_list(value, name, layer):
    """A float, or a list of floats (one per channel), as Keras's scale/offset/mean/variance may be."""
    try:
        array = None if isinstance(value, (bool, str)) else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"{layer} expects `{name}` as a finite number or a list of them. Received: {name}={value!r}")
    return float(array) if array.ndim == 0 else array.tolist()


class Rescaling(Layer):
    """Multiplies by ``scale`` and adds ``offset``: ``inputs * scale + offset`` (integer inputs become floats).

    Args:
        scale: a number, or one per channel (a list broadcast against the last axis).
        offset: a number or one per channel; default 0.

    >>> pyml.layers.Rescaling(1 / 127.5, offset=-1)(np.array([[0.0, 255.0]], "float32")).numpy()
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(scale, "scale", "Rescaling")
        self.offset = _number_or_list(offset, "offset", "Rescaling")
        self.supports_masking = True

    def call(self, inputs):
        x = _float_input(self, inputs)
        scale, offset = (np.asarray(v, x.dtype) for v in (self.scale, self.offset))
        return ops.add(ops.multiply(x, scale), offset)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and variance 1 per feature: ``(x - mean) / max(sqrt(variance), 1e-7)``;
    with ``invert=True``, the inverse ``mean + x * max(sqrt(variance), 1e-7)``.

    The statistics are given (``mean``, ``variance``) or learnt by ``adapt(data)`` before training (then they are
    non-trainable weights, saved with the model: ``mean``, ``variance``, ``count``).

    Args:
        axis: the axis or axes that keep separate statistics (default -1: one per feature of the last axis); None
            for one mean and variance over everything.
        mean, variance: given statistics (both or neither), broadcast to the kept axes.
        invert: apply the inverse transformation.

    >>> layer = pyml.layers.Normalization()
    >>> layer.adapt(np.array([[0.0, 10.0], [2.0, 30.0]], "float32"))
    >>> layer(np.array([[1.0, 20.0]], "float32")).numpy()
    array([[0., 0.]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        axis = () if axis is None else tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
            raise ValueError(f"Normalization expects `axis` as an int, a list of ints or None. Received: axis={axis!r}")
        self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: set both `mean` and `variance`, or neither (and call adapt). "
                             f"Received: mean={mean!r}, variance={variance!r}")
        if mean is not None:
            mean, variance = (_number_or_list(v, n, "Normalization") for v, n in ((mean, "mean"), (variance, "variance")))
            if np.any(np.asarray(variance) < 0):
                raise ValueError(f"Normalization expects `variance` >= 0. Received: variance={variance!r}")
            if np.shape(mean) != np.shape(variance) or np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization: `mean` and `variance` must have one shape, of at most {len(self.axis)} "
                                 f"dims (axis={self.axis}). Received: shapes {np.shape(mean)} and {np.shape(variance)}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = boolean(self, "invert", invert)
        self.supports_masking = True

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization: every `axis` must be in [-{ndim}, {ndim}) for inputs of shape "
                             f"{tuple(input_shape)}. Received: axis={self.axis}")
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in self._keep):
            raise ValueError(f"Normalization: the kept axes {self._keep} need a known size. Received: input shape "
                             f"{tuple(input_shape)}")
        self._reduce = tuple(a for a in range(ndim) if a not in self._keep)
        self._stats_shape = tuple(int(input_shape[a]) for a in self._keep)
        self._broadcast = tuple(int(input_shape[a]) if a in self._keep else 1 for a in range(ndim))
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=self._stats_shape, initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=self._stats_shape, initializer="ones",
                                                  trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32", initializer="zeros", trainable=False)
        self.built = True

    def adapt(self, data):
        """Learn ``mean`` and ``variance`` from ``data``: an array (whole), or any iterable of batches (arrays,
        ``(x, y)`` tuples whose ``x`` is used, a ``pyml.data.Dataset``), combined batch by batch exactly."""
        if self.input_mean is not None:
            raise ValueError(f"Layer {self.name!r}: adapt() learns the statistics, but `mean` and `variance` were given")
        batches = [data] if isinstance(data, np.ndarray) or hasattr(data, "numpy") else data
        mean = variance = None
        total = 0
        for batch in batches:
            batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, dtype=np.float64)
            if not self.built:
                self.build(batch.shape)
            if batch.ndim != len(self._broadcast) or any(batch.shape[a] != self._broadcast[a] for a in self._keep):
                raise ValueError(f"Layer {self.name!r}: adapt() got a batch of shape {batch.shape}; the layer keeps "
                                 f"axes {self._keep} of sizes {self._stats_shape}")
            count = int(np.prod([batch.shape[a] for a in self._reduce], dtype=np.int64))
            batch_mean, batch_var = batch.mean(axis=self._reduce), batch.var(axis=self._reduce)
            if mean is None:
                mean, variance, total = batch_mean, batch_var, count
                continue
            total += count
            weight = count / total  # the pooled mean and variance (Chan et al.)
            new_mean = mean * (1 - weight) + batch_mean * weight
            variance = ((variance + (mean - new_mean) ** 2) * (1 - weight)
                        + (batch_var + (batch_mean - new_mean) ** 2) * weight)
            mean = new_mean
        if mean is None:
            raise ValueError(f"Layer {self.name!r}: adapt() received no data (an empty iterable of batches)")
        self.adapt_mean.assign(np.reshape(mean, self._stats_shape).astype(self.dtype))
        self.adapt_variance.assign(np.reshape(variance, self._stats_shape).astype(self.dtype))
        self.count.assign(np.asarray(min(total, 2**31 - 1), np.int32))

    def call(self, inputs):
        x = _float_input(self, inputs)
        if self.input_mean is not None:
            mean = np.broadcast_to(np.reshape(self.input_mean, self._given_shape()), self._broadcast).astype(x.dtype)
            std = np.maximum(np.sqrt(np.broadcast_to(np.reshape(self.input_variance, self._given_shape()),
                                                     self._broadcast)), EPSILON).astype(x.dtype)
        else:
            mean = ops.reshape(self.adapt_mean, self._broadcast)
            std = ops.maximum(ops.sqrt(ops.reshape(self.adapt_variance, self._broadcast)), EPSILON)
        if self.invert:
            return ops.add(mean, ops.multiply(x, std))
        return ops.divide(ops.subtract(x, mean), std)

    def _given_shape(self):
        """Given statistics of rank r fill the last r kept axes (Keras's rule); size-1 elsewhere."""
        shape = [1] * len(self._broadcast)
        for axis, size in zip(self._keep[::-1], np.shape(self.input_mean)[::-1]):
            shape[axis] = size
        return shape

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        axis = self.axis[0] if len(self.axis) == 1 else list(self.axis) if self.axis else None
        return {**super().get_config(), "axis": axis, "mean": self.input_mean, "variance": self.input_variance,
                "invert": self.invert}


def _size(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer} expects `{name}` as a positive int. Received: {name}={value!r}")
    return int(value)


def _images(layer, inputs):
    if inputs.ndim not in (3, 4):
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) expects images of rank 3 or 4 "
                         f"(channels-last). Received: inputs.shape={inputs.shape}")
    return _float_input(layer, inputs)


class CenterCrop(Layer):
    """Crops the centre ``height x width`` of each image; an image smaller than that along an axis is instead
    cropped to the target's aspect ratio and resized (bilinear), as Keras's ``smart_resize``.

    Args:
        height, width: the output size.

    >>> pyml.layers.CenterCrop(2, 2)(np.arange(16, dtype="float32").reshape(1, 4, 4, 1)).numpy()[0, :, :, 0]
    array([[ 5.,  6.],
           [ 9., 10.]], dtype=float32)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, "CenterCrop")
        self.height, self.width = _size(height, "height", "CenterCrop"), _size(width, "width", "CenterCrop")

    def call(self, inputs):
        x = _images(self, inputs)
        height, width = x.shape[-3:-1]
        if height < self.height or width < self.width:
            return ops.image.resize(x, (self.height, self.width), crop_to_aspect_ratio=True)
        top, left = (height - self.height) // 2, (width - self.width) // 2
        return x[..., top:top + self.height, left:left + self.width, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": "channels_last"}


class Resizing(Layer):
    """Resizes images to ``height x width`` (``pyml.ops.image.resize``: half-pixel centres, as Keras on JAX).

    Args:
        height, width: the output size.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``; Keras's ``"bicubic"``, ``"lanczos3"``,
            ``"lanczos5"`` and ``"area"`` raise NotImplementedError.
        crop_to_aspect_ratio: first crop the largest centred window of the output's aspect ratio.
        pad_to_aspect_ratio: first pad to the output's aspect ratio with ``fill_value``, centred.
        fill_mode: ``"constant"`` (Keras's only mode). fill_value: the padding value.
        antialias: must be False (NotImplementedError otherwise).

    >>> pyml.layers.Resizing(4, 6)(np.ones((2, 8, 8, 3), "float32")).shape
    (2, 4, 6, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, "Resizing")
        self.height, self.width = _size(height, "height", "Resizing"), _size(width, "width", "Resizing")
        self.interpolation, self.fill_mode = interpolation, fill_mode
        self.fill_value = real(self, "fill_value", fill_value)
        self.crop_to_aspect_ratio = boolean(self, "crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = boolean(self, "pad_to_aspect_ratio", pad_to_aspect_ratio)
        self.antialias = boolean(self, "antialias", antialias)
        ops.image.check_options(interpolation, self.antialias, self.crop_to_aspect_ratio, self.pad_to_aspect_ratio,
                                fill_mode, where="Resizing")

    def _options(self):
        return {"interpolation": self.interpolation, "antialias": self.antialias, "fill_mode": self.fill_mode,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_value": self.fill_value}

    def call(self, inputs):
        return ops.image.resize(_images(self, inputs), (self.height, self.width), **self._options())

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, **self._options(),
                "data_format": "channels_last"}

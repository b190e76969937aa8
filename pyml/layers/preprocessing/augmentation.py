"""Image augmentation layers (Keras 3 names, arguments and transforms), channels-last: ``RandomFlip``,
``RandomRotation``, ``RandomZoom``, ``RandomTranslation``, ``RandomContrast``, ``RandomBrightness``.

They change the images only while training (``fit``, or a call with ``training=True``; as in Keras, a direct call
without ``training`` counts as training). ``predict``, ``evaluate``, ``model.trace()`` and export see the identity,
so an exported model carries no trace of them. The random parameters are drawn on the host, per image, from the
distributions Keras draws them from (not the same numbers: the generators differ); a traced training step takes
them as host inputs drawn before every run (``pyml.graph.trace.host_value``), so ``fit`` stays compiled.

    >>> flip = pyml.layers.RandomFlip("horizontal", seed=1)
    >>> x = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    >>> bool((flip(x, training=False).numpy() == x).all())
    True
"""
import math

import numpy as np

from pyml import dtypes, ops, random
from pyml.checks import real
from pyml.graph.trace import host_value
from pyml.layers.base import Layer
from pyml.layers.conv import check_data_format
from pyml.layers.preprocessing import sampling


def factor_range(factor, name, layer, bounds=(-1.0, 1.0)):
    """Keras's factor: a number ``f`` -> ``(-f, f)`` (lower clipped at ``bounds[0]``), a pair -> sorted; anything
    else, or a value outside ``bounds``, a ValueError naming the argument."""
    def bad():
        return ValueError(f"{layer} expects `{name}` as a number or a pair of numbers in [{bounds[0]}, {bounds[1]}]. "
                          f"Received: {name}={factor!r}")

    if isinstance(factor, (list, tuple)):
        if len(factor) != 2 or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in factor):
            raise bad()
        if not all(bounds[0] <= f <= bounds[1] for f in factor):
            raise bad()
        return tuple(sorted(float(f) for f in factor))
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not bounds[0] <= factor <= bounds[1]:
        raise bad()
    return max(-abs(float(factor)), bounds[0]), abs(float(factor))


class BaseAugmentation(Layer):
    """An image augmentation: subclasses define ``augment(images)`` on a rank-4 batch, drawing their random
    parameters with ``self.host(images, shape, draw)``; ``call`` runs it in training only."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{type(self).__name__} expects `seed` as an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.data_format = "channels_last"
        self._generator = random.generator(seed) if seed is not None else None

    def call(self, inputs, training=True):
        if not dtypes.is_float(inputs.dtype):  # integer pixels come out as floats, trained or not (as Keras)
            inputs = ops.cast(inputs, self.dtype)
        if training is False:  # None: a direct call, which Keras counts as training
            return inputs
        if inputs.ndim not in (3, 4):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects images of rank 3 or 4 "
                             f"(channels-last). Received: inputs.shape={inputs.shape}")
        if inputs.ndim == 3:
            return ops.squeeze(self.augment(ops.expand_dims(inputs, 0)), 0)
        return self.augment(inputs)

    def rng(self):
        return self._generator or random.generator()

    def host(self, images, shape, draw):
        """A host value of ``shape`` (the images' dtype) drawn by ``draw()`` afresh at every run (module docstring)."""
        return host_value(images, shape, images.dtype, lambda: np.asarray(draw(), np.float32))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(BaseAugmentation):
    """Flips each image with probability 1/2 while training.

    Args:
        mode: ``"horizontal"`` (left-right), ``"vertical"`` (up-down) or ``"horizontal_and_vertical"`` (as Keras 3:
            one draw per image flips both axes or neither).
        seed: optional int for a reproducible sequence of flips.

    >>> out = pyml.layers.RandomFlip("vertical")(np.ones((2, 4, 4, 3), "float32"), training=True)
    >>> out.shape
    (2, 4, 4, 3)
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in self.MODES:
            raise ValueError(f"RandomFlip expects `mode` in {self.MODES}. Received: mode={mode!r}")
        self.mode = mode

    def augment(self, images):
        rows = slice(None, None, -1) if self.mode != "horizontal" else slice(None)
        cols = slice(None, None, -1) if self.mode != "vertical" else slice(None)
        flips = self.host(images, (images.shape[0], 1, 1, 1),
                          lambda: self.rng().random((images.shape[0], 1, 1, 1)) <= 0.5)
        return ops.where(ops.greater(flips, 0.5), images[:, rows, cols, :], images)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _Geometric(BaseAugmentation):
    """An affine resampling per image (``transforms(batch, height, width)`` -> ``(batch, 6)``, see sampling.py).
    The images get no gradient through it: it is input preprocessing (put it before trainable layers)."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        sampling.check_fill_mode(type(self).__name__, fill_mode, interpolation)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = real(self, "fill_value", fill_value)

    def augment(self, images):
        batch, height, width, _ = images.shape

        def draw():
            return sampling.table(self.transforms(batch, height, width), height, width, self.interpolation,
                                  self.fill_mode)

        rows = 8 if self.interpolation == "bilinear" else 2  # 4 taps or 1, cells then weights
        return sampling.apply(images, self.host(images, (rows, batch, height, width), draw), self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}

    def _factor_config(self):
        """``height_factor`` and ``width_factor`` as given (a pair as a list, for JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in
                (("height_factor", self.height_factor), ("width_factor", self.width_factor))}


class RandomRotation(_Geometric):
    """Rotates each image by a random angle about its centre while training.

    Args:
        factor: a fraction of a full turn: ``f`` draws angles in ``[-f, f] * 360°``, ``(lower, upper)`` in
            ``[lower, upper] * 360°`` (positive: counter-clockwise on screen).
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or ``"nearest"`` (module ``sampling``).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        seed: optional int. fill_value: the value of ``"constant"`` filling.

    >>> pyml.layers.RandomRotation(0.1)(np.ones((2, 8, 8, 1), "float32"), training=True).shape
    (2, 8, 8, 1)
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomRotation")

    def transforms(self, batch, height, width):
        lower, upper = self.factor
        angle = np.deg2rad(self.rng().uniform(lower * 360.0, upper * 360.0, batch))
        return rotation(angle, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


def rotation(angle, height, width):
    """Keras's rotation about the image centre ``((width - 1) / 2, (height - 1) / 2)``, output to input."""
    cos, sin = np.cos(angle), np.sin(angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos], axis=1)


class RandomZoom(_Geometric):
    """Zooms each image in or out about its centre while training.

    Args:
        height_factor: ``f`` draws a vertical zoom in ``[-f, f]``, ``(lower, upper)`` in that range (each in
            ``(-1, 1]``): an input span of ``1 + zoom`` times the output's, so negative values zoom in (``-0.5``:
            2x larger) and positive ones zoom out.
        width_factor: the same horizontally; None (default) uses the vertical zoom drawn for the image.
        fill_mode, interpolation, seed, fill_value: as ``RandomRotation``.

    >>> pyml.layers.RandomZoom(-0.5)(np.ones((2, 8, 8, 1), "float32"), training=True).shape
    (2, 8, 8, 1)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _zoom_range(height_factor, "height_factor")
        self.width_range = None if width_factor is None else _zoom_range(width_factor, "width_factor")

    def transforms(self, batch, height, width):
        rng = self.rng()
        zoom_y = 1.0 + rng.uniform(*self.height_range, batch)
        zoom_x = zoom_y if self.width_range is None else 1.0 + rng.uniform(*self.width_range, batch)
        zeros = np.zeros(batch)
        return np.stack([zoom_x, zeros, (width - 1) / 2 * (1 - zoom_x), zeros, zoom_y, (height - 1) / 2 * (1 - zoom_y)],
                        axis=1)

    def get_config(self):
        return {**super().get_config(), **self._factor_config()}


def _zoom_range(factor, name):
    """``factor_range``, refusing a given -1 as Keras does (``f = 1`` still draws down to -1, as in Keras)."""
    lower, upper = factor_range(factor, name, "RandomZoom")
    if -1.0 in (factor if isinstance(factor, (list, tuple)) else (factor,)):
        raise ValueError(f"RandomZoom expects `{name}` in (-1, 1] (a zoom of -1 shrinks the input span to "
                         f"nothing). Received: {name}={factor!r}")
    return lower, upper


class RandomTranslation(_Geometric):
    """Shifts each image by a random fraction of its size while training.

    Args:
        height_factor: ``f`` shifts by ``[-f, f] * height`` pixels (positive: down), or a ``(lower, upper)`` pair;
            within ``[-1, 1]``.
        width_factor: the same for ``width`` (positive: right).
        fill_mode, interpolation, seed, fill_value: as ``RandomRotation``.

    >>> pyml.layers.RandomTranslation(0.2, 0.2)(np.ones((2, 8, 8, 1), "float32"), training=True).shape
    (2, 8, 8, 1)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = factor_range(height_factor, "height_factor", "RandomTranslation")
        self.width_range = factor_range(width_factor, "width_factor", "RandomTranslation")

    def transforms(self, batch, height, width):
        rng = self.rng()
        dy = rng.uniform(*self.height_range, batch) * height
        dx = rng.uniform(*self.width_range, batch) * width
        ones, zeros = np.ones(batch), np.zeros(batch)
        return np.stack([ones, zeros, -dx, zeros, ones, -dy], axis=1)

    def get_config(self):
        return {**super().get_config(), **self._factor_config()}


class RandomContrast(BaseAugmentation):
    """Scales each image's deviation from its per-channel mean by a random factor while training, then clips to
    ``value_range``: ``(x - mean) * c + mean``.

    Args:
        factor: in ``[0, 1]``. As Keras 3 computes it, ``f`` gives ``factor = (0, f)`` and ``c`` in ``[1, 1 + f]``;
            a pair ``(lower, upper)`` gives ``c`` in ``[1 - lower, 1 + upper]``.
        value_range: ``(low, high)`` of the images (default ``(0, 255)``).
        seed: optional int.

    >>> pyml.layers.RandomContrast(0.5, value_range=(0, 1))(np.ones((2, 4, 4, 3), "float32"), training=True).shape
    (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomContrast", bounds=(0.0, 1.0))
        self.value_range = _value_range(value_range, "RandomContrast")

    def augment(self, images):
        lower, upper = self.factor
        shape = (images.shape[0], 1, 1, 1)
        contrast = self.host(images, shape, lambda: self.rng().uniform(1.0 - lower, 1.0 + upper, shape))
        mean = ops.mean(images, axis=(1, 2), keepdims=True)
        return ops.clip(ops.add(ops.multiply(ops.subtract(images, mean), contrast), mean), *self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(BaseAugmentation):
    """Adds a random amount to each image while training, then clips to ``value_range``: the amount is drawn in
    ``factor`` times the width of ``value_range``.

    Args:
        factor: ``f`` in ``[-1, 1]`` draws in ``[-f, f]``; a pair ``(lower, upper)`` in that range.
        value_range: ``(low, high)`` of the images (default ``(0, 255)``).
        seed: optional int.

    >>> pyml.layers.RandomBrightness(0.2, value_range=(0, 1))(np.ones((2, 4, 4, 3), "float32"), training=True).shape
    (2, 4, 4, 3)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomBrightness")
        self.value_range = _value_range(value_range, "RandomBrightness")

    def augment(self, images):
        low, high = self.value_range
        shape = (images.shape[0], 1, 1, 1)
        delta = self.host(images, shape, lambda: self.rng().uniform(*self.factor, shape) * (high - low))
        return ops.clip(ops.add(images, delta), low, high)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


def _value_range(value_range, layer):
    if (not isinstance(value_range, (list, tuple)) or len(value_range) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value_range)):
        raise ValueError(f"{layer} expects `value_range` as two finite numbers (low, high). "
                         f"Received: value_range={value_range!r}")
    return tuple(sorted(float(v) for v in value_range))

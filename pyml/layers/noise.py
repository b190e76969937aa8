"""Regularization layers that act only while training: ``SpatialDropout1D/2D/3D``, ``GaussianNoise``,
``GaussianDropout``, ``AlphaDropout``.

At inference (``predict``, ``training=False``) each returns its inputs, so exported models hold no trace of
them. While training, the noise is drawn on the host with NumPy (``pyml.graph.trace.host_value``, as for
``Dropout``): eagerly a fresh array per call, in a traced training step an input drawn afresh before every run,
in the same order, so compiled and eager steps see the same numbers. A ``seed`` gives the layer a generator of
its own (a reproducible sequence of draws); without one it draws from pyml's shared generator
(``pyml.set_random_seed``).
"""
import math

from pyml import ops, random
from pyml.checks import real
from pyml.graph.trace import host_value
from pyml.layers.base import InputSpec, Layer
from pyml.layers.conv import check_data_format
from pyml.layers.core import Dropout, check_noise_shape, concrete_noise_shape


class _SpatialDropout(Dropout):
    """``Dropout`` whose keep mask is shared by every spatial position: whole channels are dropped."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        check_data_format(data_format, type(self).__name__)
        super().__init__(rate, noise_shape=(None,) + (1,) * self.rank + (None,), seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape")
        if self.rank > 1:
            config["data_format"] = "channels_last"
        return config


_SPATIAL_DOC = """Drops whole channels while training: each sample's channel is zeroed with probability
    ``rate`` at every {where} at once, the kept ones scaled by ``1 / (1 - rate)`` (neighbouring positions are
    strongly correlated, so dropping single entries would barely regularize). Identity at inference.

    Args:
        rate: float in [0, 1], the fraction of channels to drop.{data_format}
        seed: optional int for a reproducible sequence of masks.

    Input shape:
        ``(batch, {dims}, channels)``.

    >>> layer = pyml.layers.SpatialDropout{rank}D(0.5, seed=1)
    >>> out = layer(np.ones({example}, "float32"), training=True).numpy()
    >>> sorted(set(out.ravel().tolist()))  # each channel all 0 or all 2
    [0.0, 2.0]
    """
_FORMAT = "\n        data_format: only ``\"channels_last\"`` (or None)."


class SpatialDropout1D(_SpatialDropout):
    rank = 1
    __doc__ = _SPATIAL_DOC.format(where="step", data_format="", dims="steps", rank=1, example=(2, 5, 8))

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


class SpatialDropout2D(_SpatialDropout):
    rank = 2
    __doc__ = _SPATIAL_DOC.format(where="pixel", data_format=_FORMAT, dims="height, width", rank=2,
                                  example=(2, 3, 3, 8))


class SpatialDropout3D(_SpatialDropout):
    rank = 3
    __doc__ = _SPATIAL_DOC.format(where="voxel", data_format=_FORMAT, dims="d1, d2, d3", rank=3,
                                  example=(2, 2, 2, 2, 8))


class _Noise(Layer):
    """Shared by the noise layers: a ``seed``'s own generator, masks passed on, the input shape kept."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._generator = random.generator(seed) if seed is not None else None
        self.supports_masking = True

    def _rng(self):
        return self._generator or random.generator()

    def _draw(self, inputs, shape, sample):
        """``sample(rng, shape)`` as a host value of the inputs' dtype (see the module docstring)."""
        dtype = inputs.dtype
        return host_value(inputs, shape, dtype, lambda: sample(self._rng(), shape).astype(dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """Adds zero-mean normal noise of standard deviation ``stddev`` while training; identity at inference.

    Args:
        stddev: non-negative float, the noise's standard deviation.
        seed: optional int for a reproducible sequence of draws.

    >>> layer = pyml.layers.GaussianNoise(0.1)
    >>> layer(np.ones((2, 3), "float32")).numpy()  # inference: unchanged
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = real(self, "stddev", stddev, low=0)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        noise = self._draw(inputs, inputs.shape, lambda rng, shape: rng.normal(0.0, self.stddev, size=shape))
        return ops.add(inputs, noise)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiplies the inputs by normal noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))`` while
    training (the variance of ``Dropout(rate)``'s scaled mask); identity at inference.

    Args:
        rate: float in [0, 1), the drop probability whose variance the noise matches.
        seed: optional int for a reproducible sequence of draws.

    >>> pyml.layers.GaussianDropout(0.2)(np.ones((1, 3), "float32")).numpy()
    array([[1., 1., 1.]], dtype=float32)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = real(self, "rate", rate, low=0, high=1, high_open=True)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = self._draw(inputs, inputs.shape, lambda rng, shape: rng.normal(1.0, stddev, size=shape))
        return ops.multiply(inputs, noise)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


# SELU's constants: AlphaDropout sets dropped entries to SELU's negative saturation value.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_Noise):
    """Dropout for self-normalizing (SELU) networks: while training, each entry is set with probability
    ``rate`` to SELU's saturation value ``alpha' = -SELU_ALPHA * SELU_SCALE``, then everything goes through the
    affine map ``a * x + b`` that restores zero mean and unit variance:
    ``a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5``, ``b = -a * alpha' * rate``. Identity at inference.

    Args:
        rate: float in [0, 1), the fraction of entries to drop.
        noise_shape: optional shape of the keep mask, broadcast against the inputs (None: the input's size).
        seed: optional int for a reproducible sequence of masks.

    >>> pyml.layers.AlphaDropout(0.1)(np.ones((1, 3), "float32")).numpy()
    array([[1., 1., 1.]], dtype=float32)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = real(self, "rate", rate, low=0, high=1, high_open=True)
        self.noise_shape = check_noise_shape(self, noise_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        shape = concrete_noise_shape(self.noise_shape, inputs.shape)
        keep = self._draw(inputs, shape, lambda rng, size: rng.random(size=size) >= self.rate)
        dropped = -SELU_ALPHA * SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * dropped ** 2)) ** -0.5
        b = -a * dropped * self.rate
        # a * (x * keep + dropped * (1 - keep)) + b with the constants folded:
        # x * (a keep) + (a dropped + b - a dropped keep)
        return ops.add(ops.multiply(inputs, ops.multiply(keep, a)),
                       ops.add(ops.multiply(keep, -a * dropped), a * dropped + b))

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape}

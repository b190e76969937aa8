"""Reshaping layers: spatial, channels-last ``ZeroPadding1D/2D/3D``, ``UpSampling1D/2D/3D``, ``Cropping1D/2D/3D``;
and ``Permute``, ``RepeatVector`` (a transpose and a broadcast, so they export as the movement kernels)."""
import numpy as np

from pyml import ops
from pyml.layers.base import InputSpec, Layer
from pyml.layers.conv import check_data_format, normalize_tuple


def normalize_pairs(value, rank, arg, layer):
    """``1`` -> ``((1, 1),) * rank``; ``(1, 2)`` -> ``((1, 1), (2, 2))``; pairs stay pairs."""
    def bad():
        return ValueError(f"{layer} expects `{arg}` as an int, {rank} ints or {rank} (before, after) pairs of "
                          f"non-negative ints. Received: {arg}={value!r}")

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pairs = ((int(value), int(value)),) * rank
    elif isinstance(value, (list, tuple)) and len(value) == rank:
        pairs = tuple((v, v) if isinstance(v, (int, np.integer)) else tuple(v) for v in value)
    elif rank == 1 and isinstance(value, (list, tuple)) and len(value) == 2:
        pairs = (tuple(value),)
    else:
        raise bad()
    if any(len(p) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in p)
           for p in pairs):
        raise bad()
    return tuple((int(a), int(b)) for a, b in pairs)


class BaseZeroPadding(Layer):
    """Pads the spatial axes with zeros; ``padding`` per axis as ``(before, after)``."""

    rank = None

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.padding = normalize_pairs(padding, self.rank, "padding", type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if d is None else d + a + b for d, (a, b) in zip(input_shape[1:-1], self.padding))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class BaseCropping(Layer):
    """Removes ``cropping = (before, after)`` cells from each spatial axis."""

    rank = None

    def __init__(self, cropping=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.cropping = normalize_pairs(cropping, self.rank, "cropping", type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        for d, (a, b) in zip(inputs.shape[1:-1], self.cropping):
            if a + b >= d:
                raise ValueError(f"Layer {self.name!r}: cropping {self.cropping} leaves nothing of an axis of size "
                                 f"{d}. Received: input shape {inputs.shape}")
        return inputs[(slice(None),) + tuple(slice(a, d - b) for d, (a, b) in zip(inputs.shape[1:-1], self.cropping))]

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if d is None else d - a - b for d, (a, b) in zip(input_shape[1:-1], self.cropping))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class BaseUpSampling(Layer):
    """Repeats each spatial cell ``size`` times along each spatial axis (nearest-neighbour upsampling)."""

    rank = None

    def __init__(self, size=2, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.size = normalize_tuple(size, self.rank, "size", type(self).__name__)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        x = inputs
        for axis, factor in enumerate(self.size, start=1):
            if factor > 1:
                x = ops.repeat(x, factor, axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        spatial = tuple(None if d is None else d * f for d, f in zip(input_shape[1:-1], self.size))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}


_EXAMPLES = {1: ((2, 4, 3), "steps"), 2: ((2, 4, 4, 3), "height, width"), 3: ((2, 4, 4, 4, 3), "d1, d2, d3")}


def _make(base, kind, rank, doc):
    example, dims = _EXAMPLES[rank]
    name = f"{kind}{rank}D"
    full_doc = (f"{doc}\n\n    Input shape:\n        ``(batch, {dims}, channels)``.\n\n"
                f"    >>> pyml.layers.{name}()(np.ones({example}, \"float32\")).shape\n"
                f"    {tuple(_example_output(base, rank, example))}\n    ")
    return type(name, (base,), {"rank": rank, "__doc__": full_doc, "__module__": __name__})


def _example_output(base, rank, example):
    """The output shape of the docstring example (padding/cropping 1 on each side, size 2)."""
    if base is BaseZeroPadding:
        return (example[0],) + tuple(d + 2 for d in example[1:-1]) + (example[-1],)
    if base is BaseCropping:
        return (example[0],) + tuple(d - 2 for d in example[1:-1]) + (example[-1],)
    return (example[0],) + tuple(d * 2 for d in example[1:-1]) + (example[-1],)


_PAD_DOC = "Zero-pads the spatial axes: ``padding`` is an int, one int per axis, or (before, after) pairs."
_CROP_DOC = "Crops the spatial axes: ``cropping`` is an int, one int per axis, or (before, after) pairs."
_UP_DOC = "Repeats every cell ``size`` times along each spatial axis (``size`` an int or one per axis)."
ZeroPadding1D, ZeroPadding2D, ZeroPadding3D = (_make(BaseZeroPadding, "ZeroPadding", r, _PAD_DOC) for r in (1, 2, 3))
Cropping1D, Cropping2D, Cropping3D = (_make(BaseCropping, "Cropping", r, _CROP_DOC) for r in (1, 2, 3))
UpSampling1D, _NearestUpSampling2D, UpSampling3D = (_make(BaseUpSampling, "UpSampling", r, _UP_DOC) for r in (1, 2, 3))


class UpSampling2D(_NearestUpSampling2D):
    """Upsamples images ``size`` times along height and width (``size`` an int or one per axis).

    Args:
        size: an int or ``(rows, cols)``.
        interpolation: ``"nearest"`` repeats each pixel; ``"bilinear"`` interpolates with half-pixel centres,
            as Keras's ``ops.image.resize`` (``pyml.ops.image.resize``).

    Input shape:
        ``(batch, height, width, channels)``.

    >>> layer = pyml.layers.UpSampling2D(interpolation="bilinear")
    >>> layer(np.arange(4, dtype="float32").reshape(1, 2, 2, 1)).numpy()[0, 0, :, 0]
    array([0.  , 0.25, 0.75, 1.  ], dtype=float32)
    """

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size=size, data_format=data_format, **kwargs)
        ops.image.check_options(interpolation, where="UpSampling2D")
        self.interpolation = interpolation

    def call(self, inputs):
        if self.interpolation == "nearest":
            return super().call(inputs)
        size = (inputs.shape[1] * self.size[0], inputs.shape[2] * self.size[1])
        return ops.image.resize(inputs, size, interpolation=self.interpolation)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` lists, for each output axis, the input axis it takes (1-based,
    the batch axis not counted), as in Keras.

    Args:
        dims: a permutation of ``1 .. rank - 1``.

    >>> pyml.layers.Permute((2, 1))(np.ones((2, 3, 4), "float32")).shape
    (2, 4, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)) or any(isinstance(d, bool) for d in dims):
            raise ValueError("Permute expects `dims` to be a permutation of 1..n (the batch axis not counted). "
                             f"Received: dims={dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Args:
        n: how many times to repeat (a positive int).

    >>> pyml.layers.RepeatVector(3)(np.ones((2, 4), "float32")).shape
    (2, 3, 4)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"RepeatVector expects `n` to be a positive integer. Received: n={n!r}")
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return ops.broadcast_to(ops.expand_dims(inputs, 1), (inputs.shape[0], self.n, inputs.shape[1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}

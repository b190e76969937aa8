"""Image ops (Keras ``keras.ops.image`` names): the ``resize`` primitive and the public ``pyml.ops.image.resize``;
``rgb_to_grayscale`` (a composite).

``resize(x; size, interpolation)`` resizes the two spatial axes of a channels-last batch ``(batch, height,
width, channels)`` to ``size = (out_height, out_width)``, as Keras 3 on JAX (``jax.image.resize`` without
antialiasing) does, axis by axis with half-pixel centres. For output index ``i`` of an axis of ``n`` input and
``m`` output cells:

- ``"nearest"``: input cell ``floor((i + 0.5) * n / m)``;
- ``"bilinear"``: source coordinate ``s = (i + 0.5) * n / m - 0.5``, clamped to ``[0, n - 1]``, and the two
  cells around it weighted linearly (past an edge the edge cell takes the whole weight).

Both are computed in integers where exactness matters: ``s = ((2i + 1) n - m) / 2m``, so ``floor(s)`` is an
integer division (the kernels on every backend agree on the cell they read) and only the fraction is a float.
The VJP is the transpose of this linear map, one product with a small ``(n, m)`` matrix per spatial axis (pyml
ops: exact, traceable, differentiable again).

    >>> x = pyml.Tensor(np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1))
    >>> pyml.ops.image.resize(x, (4, 4)).numpy()[0, :, :, 0]
    array([[0.  , 0.25, 0.75, 1.  ],
           [0.5 , 0.75, 1.25, 1.5 ],
           [1.5 , 1.75, 2.25, 2.5 ],
           [2.  , 2.25, 2.75, 3.  ]], dtype=float32)
"""
import numpy as np

from pyml import dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.registry import Spec, bind, primitive

__all__ = []  # reached as pyml.ops.image.resize, as keras.ops.image.resize

INTERPOLATIONS = ("bilinear", "nearest")  # what the primitive computes
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)  # Keras's (and tf.image's) luma weights of R, G, B
KERAS_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area")


def axis_taps(n, m, interpolation):
    """For an axis resized from ``n`` to ``m`` cells: ``(lo, hi, frac)`` arrays of length ``m``; output ``i`` is
    ``(1 - frac[i]) * x[lo[i]] + frac[i] * x[hi[i]]`` (nearest: ``lo == hi``, ``frac == 0``)."""
    i = np.arange(m, dtype=np.int64)
    if interpolation == "nearest":
        lo = np.minimum((2 * i + 1) * n // (2 * m), n - 1)
        return lo, lo, np.zeros(m)
    numerator = np.clip((2 * i + 1) * n - m, 0, 2 * m * (n - 1))  # s * 2m, clamped to [0, n - 1]
    lo = numerator // (2 * m)
    frac = (numerator - lo * 2 * m) / (2 * m)
    return lo, np.minimum(lo + 1, n - 1), frac


def axis_matrix(n, m, interpolation):
    """The ``(m, n)`` matrix of one axis's resize: ``out = matrix @ x`` along that axis."""
    lo, hi, frac = axis_taps(n, m, interpolation)
    matrix = np.zeros((m, n))
    np.add.at(matrix, (np.arange(m), lo), 1.0 - frac)
    np.add.at(matrix, (np.arange(m), hi), frac)
    return matrix


# ---- resize ------------------------------------------------------------------------------------------------
def _resize_rule(x, *, size, interpolation):
    if len(x.shape) != 4 or x.dtype not in dtypes.FLOATS:
        raise OpError("resize", f"x must be a float (batch, height, width, channels) tensor. "
                                f"Received: x.shape={x.shape}, dtype={x.dtype}")
    if interpolation not in INTERPOLATIONS:
        raise OpError("resize", f"interpolation must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}")
    if len(size) != 2 or min(size) < 1 or min(x.shape[1:3]) < 1:
        raise OpError("resize", f"size must be two positive ints and the input non-empty. Received: size={size}, "
                                f"x.shape={x.shape}")
    return Spec((x.shape[0], *size, x.shape[3]), x.dtype)


def _lerp(xp, x, axis, taps):
    lo, hi, frac = taps  # host arrays (computed once per shape): the indices go to the device explicitly
    low = xp.take(x, xp.asarray(lo), axis=axis)
    if not frac.any():
        return low
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = xp.asarray(frac.reshape(shape), dtype=x.dtype)
    return low + (xp.take(x, xp.asarray(hi), axis=axis) - low) * frac


def _resize_forward(xp, x, *, size, interpolation):
    for axis, m in ((1, size[0]), (2, size[1])):
        x = _lerp(xp, x, axis, axis_taps(x.shape[axis], m, interpolation))
    return x


def _resize_vjp(g, inputs, out, attrs):
    """dx = Aᵀ g along each axis (A the axis's matrix): two batched products with small constant matrices."""
    from pyml.ops.linalg import matmul
    from pyml.ops.movement import reshape
    from pyml.tensor import Tensor

    x = inputs[0]
    batch, height, width, channels = x.shape
    (out_height, out_width), kind = attrs["size"], attrs["interpolation"]
    rows_t = Tensor(axis_matrix(height, out_height, kind).T, dtype=g.dtype)  # (height, out_height)
    cols_t = Tensor(axis_matrix(width, out_width, kind).T, dtype=g.dtype)  # (width, out_width)
    g = matmul(rows_t, reshape(g, (batch, out_height, out_width * channels)))  # (batch, height, out_w * c)
    g = matmul(cols_t, reshape(g, (batch * height, out_width, channels)))  # (batch * height, width, c)
    return (reshape(g, (batch, height, width, channels)),)


resize_p = primitive(
    "resize",
    shape=_resize_rule,
    forward=_resize_forward,
    vjp=_resize_vjp,
    doc="Resize the spatial axes of (batch, height, width, channels) to size, bilinear or nearest, half-pixel "
        "centres (jax.image.resize without antialiasing).",
)


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resizes images to ``size = (height, width)`` (Keras ``keras.ops.image.resize``), channels-last.

    Args:
        images: ``(batch, height, width, channels)`` or one ``(height, width, channels)`` image.
        size: ``(height, width)`` of the output.
        interpolation: ``"bilinear"`` or ``"nearest"`` (half-pixel centres, as Keras on JAX).
        antialias: must be False (filtering before downsampling is not implemented).
        crop_to_aspect_ratio: first crop the largest centred window of the output's aspect ratio.
        pad_to_aspect_ratio: first pad (with ``fill_value``) to the output's aspect ratio, centred.
        fill_mode: ``"constant"``, the only mode Keras has.
        fill_value: the padding value for ``pad_to_aspect_ratio``.

    >>> pyml.ops.image.resize(np.ones((2, 8, 6, 3), "float32"), (4, 4), crop_to_aspect_ratio=True).shape
    (2, 4, 4, 3)
    """
    from pyml.ops.movement import expand_dims, pad, squeeze

    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"resize supports channels_last images only. Received: data_format={data_format!r}")
    check_options(interpolation, antialias, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_mode)
    size = tuple(size) if isinstance(size, (list, tuple)) else size
    if (not isinstance(size, tuple) or len(size) != 2
            or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in size)):
        raise ValueError(f"resize: `size` must be two positive ints (height, width). Received: size={size!r}")
    size = (int(size[0]), int(size[1]))
    x = convert_to_tensor(images)
    if not dtypes.is_float(x.dtype):
        x = cast(x, "float32")
    if x.ndim not in (3, 4):
        raise ValueError(f"resize: images must have rank 3 or 4 (channels-last). Received: images.shape={x.shape}")
    single = x.ndim == 3
    if single:
        x = expand_dims(x, 0)
    height, width = x.shape[1:3]
    if crop_to_aspect_ratio:
        (top, crop_h), (left, crop_w) = aspect_crop(height, width, *size)
        x = x[:, top:top + crop_h, left:left + crop_w, :]
    elif pad_to_aspect_ratio:
        (top, pad_h), (left, pad_w) = aspect_pad(height, width, *size)
        if top or left:
            x = pad(x, ((0, 0), (top, pad_h - height - top), (left, pad_w - width - left), (0, 0)),
                    constant_values=fill_value)
    if tuple(x.shape[1:3]) != size:
        x = bind(resize_p, x, size=size, interpolation=interpolation)
    return squeeze(x, 0) if single else x


def check_options(interpolation, antialias=False, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                  fill_mode="constant", where="resize"):
    """The errors of ``resize``'s options, each naming its argument (``where``: the op or layer asking)."""
    if interpolation not in KERAS_INTERPOLATIONS:
        raise ValueError(f"{where}: `interpolation` must be one of {KERAS_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation!r}")
    if interpolation not in INTERPOLATIONS:
        raise NotImplementedError(f"{where}: interpolation={interpolation!r} is not implemented; use one of "
                                  f"{INTERPOLATIONS}")
    if antialias:
        raise NotImplementedError(f"{where}: antialias=True is not implemented (Keras's default is False)")
    if fill_mode != "constant":
        raise ValueError(f"{where}: `fill_mode` must be 'constant'. Received: fill_mode={fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{where}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True")


def aspect_crop(height, width, target_height, target_width):
    """``((top, crop_height), (left, crop_width))``: the centred window of the target's aspect ratio (Keras's)."""
    crop_h = max(min(height, int(width * target_height / target_width)), 1)
    crop_w = max(min(width, int(height * target_width / target_height)), 1)
    return ((height - crop_h) // 2, crop_h), ((width - crop_w) // 2, crop_w)


def aspect_pad(height, width, target_height, target_width):
    """``((top, padded_height), (left, padded_width))``: Keras pads one axis only, the image centred."""
    pad_h = max(height, int(width * target_height / target_width))
    pad_w = max(width, int(height * target_width / target_height))
    top, left = (pad_h - height) // 2, (pad_w - width) // 2
    if top:  # Keras pads the height when it must, else the width, the same amount on both sides
        return (top, height + 2 * top), (0, width)
    return (0, height), (left, width + 2 * left)


def rgb_to_grayscale(images, data_format=None):
    """Grayscale images ``0.2989 R + 0.5870 G + 0.1140 B`` (Keras ``keras.ops.image.rgb_to_grayscale``),
    channels-last, keeping a channel axis of 1; one-channel images come back unchanged.

    Computed in floats (integer images are cast to float32 first and the result back to their dtype, as Keras
    does); a product with a constant (3, 1) matrix, so it differentiates and exports as any ``matmul``. The
    browser's ``fromImage({channels: 1})`` (web/src/image-input.js) uses the same weights.

    Args:
        images: ``(batch, height, width, 3)`` or one ``(height, width, 3)`` image (or 1 channel).
        data_format: ``"channels_last"`` or None.

    >>> pyml.ops.image.rgb_to_grayscale(np.array([[[255.0, 0.0, 0.0], [0.0, 0.0, 100.0]]], "float32")).numpy()
    array([[[76.219505],
            [11.4     ]]], dtype=float32)
    """
    from pyml.ops.linalg import matmul

    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"rgb_to_grayscale supports channels_last images only. Received: data_format={data_format!r}")
    x = convert_to_tensor(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"rgb_to_grayscale: images must have rank 3 or 4 (channels-last). Received: images.shape={x.shape}")
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: images must have 3 (RGB) or 1 channel. Received: images.shape={x.shape}")
    if x.shape[-1] == 1:
        return x
    dtype = x.dtype
    floats = x if dtypes.is_float(dtype) else cast(x, "float32")
    gray = matmul(floats, np.asarray(GRAY_WEIGHTS, dtype=floats.dtype).reshape(3, 1))
    return gray if gray.dtype == dtype else cast(gray, dtype)

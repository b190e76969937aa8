"""Affine resampling of image batches for the geometric augmentation layers (``RandomRotation``, ``RandomZoom``,
``RandomTranslation``), as Keras 3's ``ops.image.affine_transform`` computes it on JAX.

Each image ``b`` has a transform ``[a0, a1, a2, b0, b1, b2]`` mapping an output pixel ``(x, y)`` (integer
coordinates, no half-pixel shift) to the input point ``x_in = a0 x + a1 y + a2``, ``y_in = b0 x + b1 y + b2``,
read with bilinear or nearest interpolation (``jax.scipy.ndimage.map_coordinates`` with order 1 or 0; nearest
rounds halves away from zero). A cell outside the image is found by ``fill_mode``:

- ``"reflect"``: ``d c b a | a b c d | d c b a`` (the edge cell repeated: NumPy's ``pad`` mode "symmetric");
- ``"wrap"``: ``a b c d | a b c d | a b c d``;
- ``"nearest"``: ``a a a a | a b c d | d d d d``;
- ``"constant"``: ``fill_value`` (each outside cell's weight goes to ``fill_value``).

The random parameters and the cells/weights they give are computed on the host, in NumPy (``table``); the
graph then gathers and blends (``apply``), so a traced training step takes the table as a host input drawn
afresh before every run (``pyml.graph.trace.host_value``), as Dropout takes its mask.
"""
import numpy as np

from pyml import ops

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


def _fix(index, n, fill_mode):
    """Cell indices made valid for an axis of ``n`` cells; also whether each was inside (only "constant" cares)."""
    inside = (index >= 0) & (index < n)
    if fill_mode == "nearest":
        return np.clip(index, 0, n - 1), inside
    if fill_mode == "wrap":
        return np.mod(index, n), inside
    if fill_mode == "reflect":  # period 2n: i and 2n - 1 - i read the same cell
        folded = np.mod(index, 2 * n)
        return np.where(folded < n, folded, 2 * n - 1 - folded), inside
    return np.clip(index, 0, n - 1), inside  # constant: the weight is moved to fill_value below


def _taps(coordinate, n, interpolation, fill_mode):
    """``[(cells, weights)]`` along one axis: two taps (bilinear) or one (nearest), outside weights zeroed for
    "constant"."""
    if interpolation == "nearest":
        nearest = (np.sign(coordinate) * np.floor(np.abs(coordinate) + 0.5)).astype(np.int64)
        pairs = [(nearest, np.ones_like(coordinate))]
    else:
        low = np.floor(coordinate)
        upper = coordinate - low
        pairs = [(low.astype(np.int64), 1.0 - upper), (low.astype(np.int64) + 1, upper)]
    taps = []
    for cells, weights in pairs:
        cells, inside = _fix(cells, n, fill_mode)
        taps.append((cells, weights * inside if fill_mode == "constant" else weights))
    return taps


def table(transforms, height, width, interpolation, fill_mode):
    """``(batch, height, width, 8)`` float32: per output pixel 4 cells (``y * width + x`` within its image) then
    their 4 weights, for ``transforms`` of shape ``(batch, 6)``. Nearest sampling pads with zero-weight taps."""
    t = np.asarray(transforms, np.float64)[:, :, None, None]
    y, x = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    x_in = t[:, 0] * x + t[:, 1] * y + t[:, 2]
    y_in = t[:, 3] * x + t[:, 4] * y + t[:, 5]
    rows = _taps(y_in, height, interpolation, fill_mode)
    cols = _taps(x_in, width, interpolation, fill_mode)
    cells = [r * width + c for r, _ in rows for c, _ in cols]
    weights = [wr * wc for _, wr in rows for _, wc in cols]
    while len(cells) < 4:
        cells.append(cells[0])
        weights.append(np.zeros_like(weights[0]))
    return np.concatenate([np.stack(cells, -1), np.stack(weights, -1)], axis=-1).astype(np.float32)


def apply(images, sampled, fill_value):
    """The images resampled by ``sampled`` (a ``table``, as a tensor): gather 4 cells per pixel and blend, adding
    ``fill_value`` times the weight that fell outside. No gradient flows to ``images`` (see RandomRotation)."""
    batch, height, width, channels = images.shape
    pixels = height * width
    # The cells count within each image (exact in float32 below 2^24 pixels); add each image's offset.
    offsets = np.arange(batch, dtype=np.int32).reshape(batch, 1, 1, 1) * pixels
    cells = ops.add(ops.cast(sampled[..., :4], "int32"), offsets)
    weights = sampled[..., 4:]
    flat = ops.reshape(ops.stop_gradient(images), (batch * pixels, channels))
    gathered = ops.reshape(ops.take(flat, ops.reshape(cells, (-1,)), axis=0), (batch, height, width, 4, channels))
    out = ops.sum(ops.multiply(gathered, ops.expand_dims(weights, -1)), axis=3)
    if fill_value:
        out = ops.add(out, ops.multiply(ops.subtract(1.0, ops.sum(weights, axis=-1, keepdims=True)), fill_value))
    return out


def check_fill_mode(layer, fill_mode, interpolation):
    """Keras's errors for an unknown ``fill_mode`` or ``interpolation`` (NotImplementedError), naming the layer."""
    if fill_mode not in FILL_MODES:
        raise NotImplementedError(f"{layer}: unknown `fill_mode` {fill_mode!r}. Expected one of {FILL_MODES}.")
    if interpolation not in INTERPOLATIONS:
        raise NotImplementedError(f"{layer}: unknown `interpolation` {interpolation!r}. Expected one of "
                                  f"{INTERPOLATIONS}.")

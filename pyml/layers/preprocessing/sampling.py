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
    """``(2 * taps, batch, height, width)`` float32 for ``transforms`` of shape ``(batch, 6)``: per output pixel the
    cells it reads (``y * width + x`` within its image; 4 taps bilinear, 1 nearest), then their weights. Tap-major,
    so the graph gathers each tap's cells as one contiguous slice."""
    t = np.asarray(transforms, np.float64)[:, :, None, None]
    y, x = np.arange(height, dtype=np.float64)[:, None], np.arange(width, dtype=np.float64)[None, :]
    if t[:, 1].any() or t[:, 3].any():  # rotated: each coordinate depends on both axes
        y_in, x_in = t[:, 3] * x + t[:, 4] * y + t[:, 5], t[:, 0] * x + t[:, 1] * y + t[:, 2]
    else:  # zoom, translation: rows on y alone, columns on x alone, (batch, height, 1) and (batch, 1, width)
        y_in, x_in = t[:, 4] * y + t[:, 5], t[:, 0] * x + t[:, 2]
    rows = _taps(y_in, height, interpolation, fill_mode)
    cols = _taps(x_in, width, interpolation, fill_mode)
    taps = len(rows) * len(cols)
    out = np.empty((2 * taps, len(t), height, width), np.float32)
    for k, ((r, wr), (c, wc)) in enumerate((row, col) for row in rows for col in cols):
        np.add(r * width, c, out=out[k], casting="unsafe")
        np.multiply(wr, wc, out=out[taps + k], casting="unsafe")
    return out


def apply(images, sampled, fill_value):
    """The images resampled by ``sampled`` (a ``table``, as a tensor): gather each tap's cells and blend, adding
    ``fill_value`` times the weight that fell outside. No gradient flows to ``images`` (see ``_Geometric``).

    One gather per tap of whole pixels (``channels`` values each), each weighted and added: 5x faster in NumPy
    than one gather of all taps reduced over a taps axis."""
    batch, height, width, channels = images.shape
    pixels = batch * height * width
    taps = sampled.shape[0] // 2
    # The cells count within each image (exact in float32 below 2^24 pixels); add each image's offset.
    offsets = np.arange(batch, dtype=np.int32).reshape(batch, 1, 1) * (height * width)
    flat = ops.reshape(ops.stop_gradient(images), (pixels, channels))
    out = total = None
    for k in range(taps):
        cells = ops.reshape(ops.add(ops.cast(sampled[k], "int32"), offsets), (pixels,))
        weight = ops.reshape(sampled[taps + k], (pixels, 1))
        term = ops.multiply(ops.take(flat, cells, axis=0), weight)
        out = term if out is None else ops.add(out, term)
        total = weight if total is None else ops.add(total, weight)
    if fill_value:
        out = ops.add(out, ops.multiply(ops.subtract(1.0, total), fill_value))
    return ops.reshape(out, (batch, height, width, channels))


def check_fill_mode(layer, fill_mode, interpolation):
    """Keras's errors for an unknown ``fill_mode`` or ``interpolation`` (NotImplementedError), naming the layer."""
    if fill_mode not in FILL_MODES:
        raise NotImplementedError(f"{layer}: unknown `fill_mode` {fill_mode!r}. Expected one of {FILL_MODES}.")
    if interpolation not in INTERPOLATIONS:
        raise NotImplementedError(f"{layer}: unknown `interpolation` {interpolation!r}. Expected one of "
                                  f"{INTERPOLATIONS}.")

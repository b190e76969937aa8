"""Samples for the image primitives (pyml/ops/image.py): ``resize``, bilinear and nearest, up and down, each
checked against a loop over output pixels written from the half-pixel formula (Keras on JAX), in floats."""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(11)


def _f(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def _resize_ref(x, size, interpolation):
    """out[b, i, j] from the source coordinates s = (i + 0.5) * n / m - 0.5 (float arithmetic, per pixel)."""
    batch, n_h, n_w, channels = x.shape
    out = np.zeros((batch, *size, channels), np.float64)

    def taps(o, n, m):
        if interpolation == "nearest":
            return [(min(int(np.floor((o + 0.5) * n / m)), n - 1), 1.0)]
        s = min(max((o + 0.5) * n / m - 0.5, 0.0), n - 1.0)
        lo = int(np.floor(s))
        return [(lo, 1.0 - (s - lo)), (min(lo + 1, n - 1), s - lo)]

    for i in range(size[0]):
        for j in range(size[1]):
            for yi, wy in taps(i, n_h, size[0]):
                for xi, wx in taps(j, n_w, size[1]):
                    out[:, i, j] += wy * wx * x[:, yi, xi].astype(np.float64)
    return out.astype(x.dtype)


def _resize(x, size, interpolation, note):
    return Sample("resize", [x], {"size": size, "interpolation": interpolation}, _resize_ref, note=note)


SAMPLES = [
    _resize(_f(2, 4, 4, 3), (8, 8), "bilinear", "bilinear-2x"),
    _resize(_f(2, 5, 7, 2), (3, 11), "bilinear", "bilinear-down-and-up"),
    _resize(_f(1, 1, 3, 4), (5, 2), "bilinear", "bilinear-one-row"),
    _resize(_f(2, 4, 6, 3), (8, 3), "nearest", "nearest"),
    _resize(_f(1, 7, 5, 1), (3, 9), "nearest", "nearest-odd"),
]

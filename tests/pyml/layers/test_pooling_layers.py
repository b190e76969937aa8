"""Max/average pooling 1-3D and global pooling against NumPy."""
import itertools
import math

import numpy as np
import pytest

from pyml import layers
from tests.pyml.layers.testing import run_layer_test


def numpy_pool(x, window, strides, padding, reduce):
    """Reference pooling; "same" pads with values that never win and are not counted (TF/Keras)."""
    rank = x.ndim - 2
    pads = []
    for d in range(rank):
        if padding == "same":
            out = math.ceil(x.shape[1 + d] / strides[d])
            total = max((out - 1) * strides[d] + window[d] - x.shape[1 + d], 0)
            pads.append((total // 2, total - total // 2))
        else:
            pads.append((0, 0))
    xp = np.pad(x.astype("float64"), [(0, 0)] + pads + [(0, 0)], constant_values=np.nan)
    sizes = [(xp.shape[1 + d] - window[d]) // strides[d] + 1 for d in range(rank)]
    out = np.zeros((x.shape[0], *sizes, x.shape[-1]))
    for pos in itertools.product(*[range(n) for n in sizes]):
        block = xp[(slice(None),) + tuple(slice(p * s, p * s + w) for p, s, w in zip(pos, strides, window))]
        flat = block.reshape(x.shape[0], -1, x.shape[-1])
        out[(slice(None),) + pos] = reduce(flat, axis=1)
    return out


@pytest.mark.parametrize("cls, reduce", [
    (layers.MaxPooling1D, np.nanmax), (layers.MaxPooling2D, np.nanmax), (layers.MaxPooling3D, np.nanmax),
    (layers.AveragePooling1D, np.nanmean), (layers.AveragePooling2D, np.nanmean),
    (layers.AveragePooling3D, np.nanmean)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_matches_numpy(cls, reduce, padding):
    rank = cls.rank
    shape = (2,) + (5,) * rank + (3,)
    x = np.random.default_rng(rank).standard_normal(shape).astype("float32")
    layer = cls(pool_size=2 if rank == 3 else 3, strides=2, padding=padding)
    out = layer(x).numpy()
    expected = numpy_pool(x, layer.pool_size, layer.strides, padding, reduce)
    assert out.shape == expected.shape == tuple(layer.compute_output_shape(shape))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_pooling_layer_tests():
    run_layer_test(layers.MaxPooling2D, {"pool_size": 2}, input_shape=(2, 4, 6, 3), expected_output_shape=(2, 2, 3, 3))
    run_layer_test(layers.AveragePooling1D, {"pool_size": 2, "padding": "same"}, input_shape=(2, 5, 3),
                   expected_output_shape=(2, 3, 3))


@pytest.mark.parametrize("cls, reduce, rank", [
    (layers.GlobalAveragePooling1D, np.mean, 1), (layers.GlobalAveragePooling2D, np.mean, 2),
    (layers.GlobalAveragePooling3D, np.mean, 3), (layers.GlobalMaxPooling2D, np.max, 2)])
def test_global_pooling_matches_numpy(cls, reduce, rank):
    shape = (2,) + (3,) * rank + (4,)
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    axes = tuple(range(1, rank + 1))
    np.testing.assert_allclose(cls()(x).numpy(), reduce(x, axis=axes), rtol=1e-6)
    kept = cls(keepdims=True)(x)
    assert kept.shape == (2,) + (1,) * rank + (4,)


def test_global_average_pooling_layer_test():
    run_layer_test(layers.GlobalAveragePooling2D, {}, input_shape=(2, 3, 4, 5), expected_output_shape=(2, 5))


def test_pooling_argument_errors():
    with pytest.raises(ValueError, match="Received: pool_size=0"):
        layers.MaxPooling2D(0)
    with pytest.raises(ValueError, match="Received: padding='causal'"):
        layers.AveragePooling1D(padding="causal")
    with pytest.raises(ValueError, match=r"expected ndim=4. Received: input shape \(2, 3\)"):
        layers.MaxPooling2D()(np.ones((2, 3), "float32"))

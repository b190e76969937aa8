"""The chunked convolution and strided-view pooling forwards (pyml/ops/conv.py, pooling.py) against loop
references (tests/op_samples/conv.py): several chunks with a short last one, non-contiguous outputs, ties and
NaN in max pooling's gradient, overlapping windows and padding."""
import sys

import numpy as np
import pytest

import pyml
from pyml.ops.conv import conv_filter_grad_into, conv_into, conv_transpose_into
from pyml.ops.pooling import max_pool_grad_into, max_pool_into
from tests.op_samples.conv import (conv_filter_grad_reference, conv_reference, conv_transpose_reference,
                                   max_pool_grad_reference, pool_reference)

conv_module = sys.modules["pyml.ops.conv"]  # the module (pyml.ops.conv is the public function)
rng = np.random.default_rng(5)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 1500)  # a few samples per chunk: exercises the chunk loop


@pytest.mark.parametrize("strides, padding, dilation", [
    ((1, 1), ((0, 0), (0, 0)), (1, 1)),
    ((2, 1), ((1, 2), (0, 1)), (1, 1)),
    ((1, 2), ((2, 2), (1, 1)), (2, 1)),
])
def test_chunked_convolutions_match_the_references(small_chunks, strides, padding, dilation):
    x, w = rng.standard_normal((7, 9, 8, 3)), rng.standard_normal((3, 2, 3, 4))
    attrs = dict(strides=strides, padding=padding, dilation=dilation, groups=1)
    expected = conv_reference(x, w, **attrs)
    out = np.empty(expected.shape)
    conv_into(out, x, w, **attrs)
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    y = rng.standard_normal(expected.shape)
    grad_w = np.empty(w.shape)[..., ::-1]  # a non-contiguous output array
    conv_filter_grad_into(grad_w, x, y, kernel_shape=(3, 2), **attrs)
    np.testing.assert_allclose(grad_w, conv_filter_grad_reference(x, y, kernel_shape=(3, 2), **attrs), rtol=1e-10)
    grad_x = np.empty(x.shape)
    conv_transpose_into(grad_x, y, w, spatial_shape=(9, 8), **attrs)
    np.testing.assert_allclose(grad_x, conv_transpose_reference(y, w, spatial_shape=(9, 8), **attrs), rtol=1e-10)


@pytest.mark.parametrize("multiplier, strides, padding, dilation", [
    (1, (1, 1), ((1, 1), (1, 1)), (1, 1)),
    (3, (2, 1), ((1, 2), (0, 1)), (1, 1)),
    (1, (1, 2), ((2, 2), (1, 1)), (2, 1)),
])
def test_depthwise_kernels_in_blocks_and_threads_match_the_references(monkeypatch, multiplier, strides, padding,
                                                                    dilation):
    """The per-tap depthwise kernels (pyml/ops/depthwise_numpy.py) with samples split among 2 threads and blocks of
    a few samples, into non-contiguous outputs."""
    depthwise = sys.modules["pyml.ops.depthwise_numpy"]
    monkeypatch.setattr(depthwise, "BLOCK_BYTES", 3000)
    monkeypatch.setattr(sys.modules["pyml.threads"], "MIN_ELEMENTS", 1)
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(2)
    try:
        channels = 4
        x, w = rng.standard_normal((9, 8, 7, channels)), rng.standard_normal((3, 2, 1, channels * multiplier))
        attrs = dict(strides=strides, padding=padding, dilation=dilation, groups=channels)
        expected = conv_reference(x, w, **attrs)
        out = np.empty(expected.shape[::-1]).T  # non-contiguous
        conv_into(out, x, w, **attrs)
        np.testing.assert_allclose(out, expected, rtol=1e-10)
        y = rng.standard_normal(expected.shape)
        grad_w = np.empty(w.shape)[..., ::-1]
        conv_filter_grad_into(grad_w, x, y, kernel_shape=(3, 2), **attrs)
        np.testing.assert_allclose(grad_w, conv_filter_grad_reference(x, y, kernel_shape=(3, 2), **attrs),
                                   rtol=1e-10)
        grad_x = np.empty(x.shape[::-1]).T
        conv_transpose_into(grad_x, y, w, spatial_shape=(8, 7), **attrs)
        np.testing.assert_allclose(grad_x, conv_transpose_reference(y, w, spatial_shape=(8, 7), **attrs), rtol=1e-10)
    finally:
        pyml.threads.set_num_threads(previous)


@pytest.mark.parametrize("shape, window, strides, padding", [
    ((2, 5, 7, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),  # the Keras convnet's pooling, the last row/column unused
    ((2, 6, 8, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),  # windows that tile the input exactly
    ((2, 6, 9, 3), (3, 3), (3, 3), ((0, 0), (0, 0))),
    ((2, 5, 7, 3), (3, 3), (1, 2), ((1, 1), (0, 2))),  # overlapping windows and padding
    ((2, 5, 7, 3), (2, 2), (2, 2), ((0, 1), (0, 1))),  # "same" on an odd size
])
def test_max_pool_and_its_gradient_with_ties_and_nan(shape, window, strides, padding):
    x = rng.integers(0, 3, shape).astype("float64")  # few distinct values: many ties
    x[0, 1, 2, 0] = np.nan
    expected = pool_reference("max")(x, window=window, strides=strides, padding=padding)
    out = np.empty(expected.shape)
    max_pool_into(out, x, window=window, strides=strides, padding=padding)
    np.testing.assert_array_equal(out, expected)
    g = rng.standard_normal(expected.shape)
    grad = np.empty(x.shape)
    max_pool_grad_into(grad, x, g, window=window, strides=strides, padding=padding)
    np.testing.assert_allclose(grad, max_pool_grad_reference(x, g, window=window, strides=strides, padding=padding),
                               rtol=1e-12)


@pytest.mark.parametrize("shape, window", [((3, 8, 2), (2,)), ((2, 4, 6, 3), (2, 3)), ((1, 2, 4, 2, 2), (2, 2, 1))])
def test_max_pool_gradient_over_tiling_windows_routes_every_bit_of_g(shape, window):
    x = rng.integers(0, 2, shape).astype("float32")  # ties in most windows: only the first maximum gets g
    attrs = {"window": window, "strides": window, "padding": ((0, 0),) * len(window)}
    pooled = pool_reference("max")(x, **attrs)
    g = rng.standard_normal(pooled.shape).astype("float32")
    g.flat[:4] = [-0.0, np.inf, -np.inf, np.nan]
    grad = np.full(x.shape, 7.0, "float32")
    max_pool_grad_into(grad, x, g, **attrs)
    expected = np.zeros(x.shape, "float32")  # +0.0 wherever nothing is routed
    for index in np.ndindex(*pooled.shape):  # the first maximum of each window, in row-major window order
        n, o, c = index[0], index[1:-1], index[-1]
        cells = [tuple(i * k + d for i, k, d in zip(o, window, offset)) for offset in np.ndindex(*window)]
        first = next(cell for cell in cells if x[(n, *cell, c)] == pooled[index])
        expected[(n, *first, c)] = g[index]
    np.testing.assert_array_equal(grad.view("u4"), expected.view("u4"))

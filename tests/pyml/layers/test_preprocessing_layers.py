"""Deterministic preprocessing layers (Rescaling, Normalization, CenterCrop, Resizing, bilinear UpSampling2D) against
NumPy references of Keras 3's formulas: resizes against the per-pixel loop of tests/op_samples/image.py (the
half-pixel formula in floats), crops against NumPy slicing, Normalization.adapt against np.mean/np.var."""
import numpy as np
import pytest

import pyml
from pyml import layers
from tests.op_samples.image import _resize_ref
from tests.pyml.layers.testing import run_layer_test

rng = np.random.default_rng(3)


def _images(*shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---- the layer contract: config round trip, shapes, weights ---------------------------------------------
@pytest.mark.parametrize("cls, kwargs, input_shape, output_shape, non_trainable", [
    (layers.Rescaling, {"scale": 0.5, "offset": [1.0, 2.0]}, (2, 3, 3, 2), (2, 3, 3, 2), 0),
    (layers.Normalization, {}, (2, 5), (2, 5), 3),
    (layers.Normalization, {"axis": (1, 2), "mean": 1.0, "variance": 4.0, "invert": True}, (2, 3, 4), (2, 3, 4), 0),
    (layers.CenterCrop, {"height": 2, "width": 3}, (2, 5, 6, 1), (2, 2, 3, 1), 0),
    (layers.Resizing, {"height": 7, "width": 3, "interpolation": "nearest", "crop_to_aspect_ratio": True},
     (2, 5, 6, 2), (2, 7, 3, 2), 0),
    (layers.UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"}, (2, 3, 2, 2), (2, 6, 6, 2), 0),
])
def test_layer_contract(cls, kwargs, input_shape, output_shape, non_trainable):
    run_layer_test(cls, kwargs, input_shape, output_shape, expected_num_non_trainable_weights=non_trainable)


# ---- Rescaling ----------------------------------------------------------------------------------------------
def test_rescaling_is_x_times_scale_plus_offset_per_channel_and_makes_ints_float():
    x = rng.integers(0, 256, (2, 3, 3, 3)).astype(np.int32)
    out = layers.Rescaling([1 / 255, 2 / 255, 1.0], offset=[-1.0, 0.0, 0.5])(x)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), x * np.array([1 / 255, 2 / 255, 1.0]) + [-1.0, 0.0, 0.5], rtol=1e-6)


def test_rescaling_refuses_a_scale_that_is_not_a_number():
    with pytest.raises(ValueError, match="`scale`.*Received: scale='big'"):
        layers.Rescaling("big")


# ---- Normalization ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis, reduce", [(-1, (0, 1, 2)), (None, None), ((1, 3), (0, 2))])
def test_adapt_learns_numpy_mean_and_variance(axis, reduce):
    x = (rng.standard_normal((40, 3, 4, 2)) * [2.0, 0.5] + [1.0, -3.0]).astype(np.float32)
    layer = layers.Normalization(axis=axis)
    layer.adapt(x)
    mean, var = x.astype(np.float64).mean(axis=reduce), x.astype(np.float64).var(axis=reduce)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.adapt_variance.numpy(), var, rtol=1e-5)
    keep = mean if reduce is None else np.expand_dims(mean, reduce)
    std = np.sqrt(var if reduce is None else np.expand_dims(var, reduce))
    np.testing.assert_allclose(layer(x).numpy(), (x - keep) / std, rtol=1e-4, atol=1e-5)


def test_adapt_over_batches_equals_adapt_over_the_whole_array():
    x = rng.standard_normal((50, 3)).astype(np.float32) * 3 + 2
    whole, batched, pairs = layers.Normalization(), layers.Normalization(), layers.Normalization()
    whole.adapt(x)
    batched.adapt([x[:7], x[7:30], x[30:]])  # unequal batches
    pairs.adapt((x[i:i + 16], np.zeros(len(x[i:i + 16]))) for i in range(0, 50, 16))  # (x, y) from a generator
    for layer in (batched, pairs):
        np.testing.assert_allclose(layer.adapt_mean.numpy(), whole.adapt_mean.numpy(), rtol=1e-5)
        np.testing.assert_allclose(layer.adapt_variance.numpy(), whole.adapt_variance.numpy(), rtol=1e-5)
    assert int(whole.count.numpy()) == 50


def test_given_statistics_and_invert():
    x = _images(2, 3, 3, 2)
    layer = layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.0])  # variance 0: divide by 1e-7's floor
    np.testing.assert_allclose(layer(x).numpy(), (x - [1.0, -2.0]) / [2.0, 1e-7], rtol=1e-5)
    inverse = layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 9.0], invert=True)
    np.testing.assert_allclose(inverse(x).numpy(), x * [2.0, 3.0] + [1.0, -2.0], rtol=1e-6, atol=1e-6)


def test_normalization_errors_name_the_argument():
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="no data"):
        layers.Normalization().adapt([])
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape \(4, 5\)"):
        layer.adapt(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="`axis`"):
        layers.Normalization(axis=5)(np.ones((2, 3), np.float32))


def test_an_adapted_model_saves_and_loads_its_statistics(tmp_path):
    x = rng.standard_normal((30, 4)).astype(np.float32) * 5 + 1
    normalize = layers.Normalization()
    normalize.adapt(x)
    model = pyml.Sequential([pyml.Input(shape=(4,)), layers.Rescaling(2.0), normalize, layers.Dense(2)])
    model.save(tmp_path / "m.pyml")
    restored = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- CenterCrop and Resizing ----------------------------------------------------------------------------
@pytest.mark.parametrize("size, target", [((6, 7), (3, 4)), ((5, 5), (5, 2)), ((4, 4), (4, 4))])
def test_center_crop_takes_the_centre(size, target):
    x = _images(2, *size, 3)
    top, left = (size[0] - target[0]) // 2, (size[1] - target[1]) // 2
    np.testing.assert_array_equal(layers.CenterCrop(*target)(x).numpy(),
                                  x[:, top:top + target[0], left:left + target[1]])


def test_center_crop_of_a_smaller_image_crops_to_the_aspect_ratio_and_resizes():
    x = _images(1, 4, 6, 2)  # target 8x4 (aspect 2:1): keep a 4x2 window, columns 2..3, then upsample
    expected = _resize_ref(x[:, :, 2:4], (8, 4), "bilinear")
    np.testing.assert_allclose(layers.CenterCrop(8, 4)(x).numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("target", [(9, 4), (2, 3)])
def test_resizing_matches_the_half_pixel_formula(interpolation, target):
    x = _images(2, 5, 6, 3)
    out = layers.Resizing(*target, interpolation=interpolation)(x)
    np.testing.assert_allclose(out.numpy(), _resize_ref(x, target, interpolation), rtol=1e-5, atol=1e-6)


def test_resizing_one_image_and_aspect_ratio_options():
    x = _images(6, 4, 2)  # one image, rank 3
    crop = layers.Resizing(2, 2, crop_to_aspect_ratio=True)(x).numpy()
    np.testing.assert_allclose(crop, _resize_ref(x[None, 1:5], (2, 2), "bilinear")[0], rtol=1e-5, atol=1e-6)
    padded = np.concatenate([np.full((1, 6, 1, 2), 7.0), x[None], np.full((1, 6, 1, 2), 7.0)], axis=2)
    pad = layers.Resizing(3, 3, pad_to_aspect_ratio=True, fill_value=7.0)(x).numpy()
    np.testing.assert_allclose(pad, _resize_ref(padded.astype(np.float32), (3, 3), "bilinear")[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"interpolation": "cubic"}, ValueError, "`interpolation`.*Received: interpolation='cubic'"),
    ({"interpolation": "bicubic"}, NotImplementedError, "interpolation='bicubic'"),
    ({"antialias": True}, NotImplementedError, "antialias"),
    ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, ValueError, "crop_to_aspect_ratio"),
    ({"height": 0}, ValueError, "`height`.*Received: height=0"),
    ({"fill_mode": "reflect"}, ValueError, "`fill_mode`"),
])
def test_resizing_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        layers.Resizing(**{"height": 2, "width": 2, **kwargs})


def test_upsampling2d_bilinear_is_a_resize_by_the_size_factors():
    x = _images(2, 3, 4, 2)
    out = layers.UpSampling2D((2, 3), interpolation="bilinear")(x)
    np.testing.assert_allclose(out.numpy(), _resize_ref(x, (6, 12), "bilinear"), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="UpSampling2D: `interpolation`.*Received: interpolation='cubic'"):
        layers.UpSampling2D(interpolation="cubic")
    with pytest.raises(NotImplementedError, match="UpSampling2D: interpolation='bicubic' is not implemented"):
        layers.UpSampling2D(interpolation="bicubic")


def test_resize_gradient_is_the_transposed_interpolation():
    """<resize(x), g> == <x, resize_vjp(g)> for random x and g (the VJP is the adjoint of a linear map)."""
    x = pyml.Variable(_images(2, 3, 5, 2))
    g = _images(2, 7, 4, 2)
    with pyml.GradientTape() as tape:
        y = pyml.ops.image.resize(x, (7, 4))
        loss = pyml.ops.sum(y * g)
    dx = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(float(np.sum(dx * x.numpy())), float(np.sum(y.numpy() * g)), rtol=1e-5)


def test_a_preprocessing_model_trains_and_reloads(tmp_path):
    """Rescaling → Resizing → CenterCrop → UpSampling2D bilinear → Conv2D: fit lowers the loss, and the saved model
    predicts what it did."""
    x = rng.integers(0, 256, (64, 6, 6, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) / 255.0).astype(np.float32)[:, None]
    model = pyml.Sequential([
        pyml.Input(shape=(6, 6, 1)), layers.Rescaling(1 / 255), layers.Resizing(8, 8), layers.CenterCrop(4, 4),
        layers.UpSampling2D(interpolation="bilinear"), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer=pyml.optimizers.Adam(0.01), loss="mse")
    losses = model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "p.pyml")
    np.testing.assert_array_equal(pyml.load_model(tmp_path / "p.pyml").predict(x, verbose=0), model.predict(x, verbose=0))

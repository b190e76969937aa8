"""Image augmentation layers: each transform at a FIXED parameter against an independent NumPy reference (np.rot90,
np.pad with the matching mode, a per-pixel bilinear loop), the random parameters' ranges and spread (seeded), the
identity at inference, in ``model.trace()`` and in export, and ``fit`` applying them only while training."""
import numpy as np
import pytest

import pyml
from pyml import layers

rng = np.random.default_rng(5)
AUGMENTATIONS = [
    (layers.RandomFlip, {"mode": "vertical", "seed": 3}),
    (layers.RandomRotation, {"factor": (-0.2, 0.3), "fill_mode": "constant", "fill_value": 1.5, "seed": 1}),
    (layers.RandomZoom, {"height_factor": (0.5, 0.8), "width_factor": (-0.2, 0.1), "interpolation": "nearest"}),
    (layers.RandomTranslation, {"height_factor": 0.2, "width_factor": [0.1, 0.3], "fill_mode": "wrap"}),
    (layers.RandomContrast, {"factor": 0.4, "value_range": (0, 1)}),
    (layers.RandomBrightness, {"factor": (-0.1, 0.3), "value_range": [-1, 1], "seed": 2}),
]


def _images(*shape):
    return rng.random(shape).astype(np.float32)


# ---- identity outside training -------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", AUGMENTATIONS)
def test_identity_at_inference_in_trace_and_after_a_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config
    x = _images(4, 6, 6, 2)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    assert not np.array_equal(layer(x).numpy(), x)  # a direct call counts as training, as in Keras
    model = pyml.Sequential([pyml.Input(shape=(6, 6, 2)), layer, layers.Flatten()])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x.reshape(4, -1))
    assert [node.target for node in model.trace().nodes if node.op == "call"] == ["reshape"]


def test_one_image_of_rank_3_is_augmented_as_a_batch_of_one():
    x = _images(4, 4, 1)
    out = layers.RandomFlip("horizontal", seed=0)
    results = {tuple(out(x, training=True).numpy().ravel()) for _ in range(20)}
    assert results == {tuple(x.ravel()), tuple(x[:, ::-1].ravel())}


# ---- RandomFlip -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, flip", [("horizontal", lambda x: x[:, ::-1]), ("vertical", lambda x: x[::-1]),
                                        ("horizontal_and_vertical", lambda x: x[::-1, ::-1])])
def test_random_flip_flips_half_the_images(mode, flip):
    x = _images(400, 3, 4, 2)
    out = layers.RandomFlip(mode, seed=7)(x, training=True).numpy()
    same = np.all(out == x, axis=(1, 2, 3))
    flipped = np.array([np.array_equal(o, flip(i)) for o, i in zip(out, x)])
    assert np.all(same ^ flipped)  # every image is itself or its flip, never both (random images have no symmetry)
    assert 160 < flipped.sum() < 240  # p = 1/2: 200 ± 4 standard deviations


def test_seeds_repeat_and_differ():
    x = _images(16, 5, 5, 1)
    first, again = layers.RandomRotation(0.3, seed=4), layers.RandomRotation(0.3, seed=4)
    np.testing.assert_array_equal(first(x, training=True).numpy(), again(x, training=True).numpy())
    assert not np.array_equal(first(x, training=True).numpy(), layers.RandomRotation(0.3, seed=5)(x, training=True).numpy())


# ---- geometric transforms at fixed parameters -------------------------------------------------------------
def _bilinear(image, y, x, fill_mode, fill_value=0.0):
    """One output value at input point (y, x): a loop over the 4 neighbours, each index fixed by ``fill_mode``."""
    height, width = image.shape[:2]

    def fix(i, n):
        if fill_mode == "nearest":
            return min(max(i, 0), n - 1)
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "reflect":  # symmetric: -1 -> 0, n -> n - 1
            i = i % (2 * n)
            return i if i < n else 2 * n - 1 - i
        return i if 0 <= i < n else None

    y0, x0 = int(np.floor(y)), int(np.floor(x))
    total = np.zeros(image.shape[2])
    for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            fy, fx = fix(yi, height), fix(xi, width)
            total += wy * wx * (fill_value if fy is None or fx is None else image[fy, fx])
    return total


@pytest.mark.parametrize("turns, k", [(0.25, 1), (0.5, 2), (-0.25, 3)])
def test_rotation_by_quarter_turns_is_rot90(turns, k):
    x = _images(3, 5, 5, 2)
    out = layers.RandomRotation((turns, turns))(x, training=True).numpy()
    np.testing.assert_allclose(out, np.rot90(x, k, axes=(1, 2)), atol=1e-5)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
def test_zoom_in_2x_and_out_match_the_bilinear_loop(fill_mode):
    x = _images(2, 5, 6, 2)
    for zoom in (-0.5, 0.4):  # input spans 0.5x (2x larger) and 1.4x (the borders read outside)
        out = layers.RandomZoom((zoom, zoom), fill_mode=fill_mode, fill_value=0.25)(x, training=True).numpy()
        scale = 1 + zoom
        for b in range(2):
            for i in range(5):
                for j in range(6):
                    expected = _bilinear(x[b], scale * i + 2 * (1 - scale), scale * j + 2.5 * (1 - scale), fill_mode,
                                         0.25)
                    np.testing.assert_allclose(out[b, i, j], expected, atol=1e-5, err_msg=f"zoom {zoom} at {i, j}")


@pytest.mark.parametrize("fill_mode, pad_mode", [("reflect", "symmetric"), ("wrap", "wrap"), ("nearest", "edge"),
                                                 ("constant", "constant")])
@pytest.mark.parametrize("dy, dx", [(2, -1), (-3, 4)])
def test_translation_by_whole_pixels_is_a_shift_of_the_padded_image(fill_mode, pad_mode, dy, dx):
    height, width, p = 5, 6, 6
    x = _images(2, height, width, 3)
    layer = layers.RandomTranslation((dy / height,) * 2, (dx / width,) * 2, fill_mode=fill_mode, fill_value=-2.0)
    out = layer(x, training=True).numpy()
    extra = {"constant_values": -2.0} if pad_mode == "constant" else {}
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=pad_mode, **extra)
    np.testing.assert_allclose(out, padded[:, p - dy:p - dy + height, p - dx:p - dx + width], atol=1e-5)


def test_nearest_interpolation_reads_whole_pixels():
    x = _images(2, 6, 6, 1)
    out = layers.RandomRotation(0.2, interpolation="nearest", seed=1)(x, training=True).numpy()
    assert np.isin(out, x).all()


# ---- the random parameters ------------------------------------------------------------------------------
def test_rotation_angles_cover_the_factor_range():
    transforms = layers.RandomRotation((-0.1, 0.2), seed=0).transforms(2000, 9, 9)
    angle = np.degrees(np.arctan2(transforms[:, 3], transforms[:, 0])) / 360
    assert -0.1 <= angle.min() < -0.098 and 0.198 < angle.max() <= 0.2
    assert abs(angle.mean() - 0.05) < 0.01  # uniform: mean 0.05, standard error 0.002


def test_zoom_and_translation_parameters_cover_their_ranges():
    zoom = layers.RandomZoom(0.3, seed=0).transforms(2000, 8, 8)
    np.testing.assert_array_equal(zoom[:, 0], zoom[:, 4])  # width_factor None: the height's zoom
    assert 0.7 <= zoom[:, 0].min() < 0.71 and 1.29 < zoom[:, 0].max() <= 1.3
    both = layers.RandomZoom(0.3, (0.1, 0.2), seed=0).transforms(2000, 8, 8)
    assert 1.1 <= both[:, 0].min() < 1.11 and 1.19 < both[:, 0].max() <= 1.2
    shift = layers.RandomTranslation(0.25, (-0.5, 0.0), seed=0).transforms(2000, 8, 10)
    assert -2.0 <= (-shift[:, 5]).min() < -1.95 and 1.95 < (-shift[:, 5]).max() <= 2.0  # rows: 0.25 * 8
    assert -5.0 <= (-shift[:, 2]).min() < -4.95 and -0.05 < (-shift[:, 2]).max() <= 0.0  # columns: 10 * [-0.5, 0]


def test_contrast_scales_each_image_about_its_channel_means():
    x = _images(500, 4, 4, 3) * 0.5 + 0.25  # values inside (0, 1) stay unclipped for factors up to 1.5
    out = layers.RandomContrast(0.5, value_range=(-10, 10), seed=0)(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    factor = ((out - mean) * (x - mean)).sum(axis=(1, 2, 3)) / ((x - mean) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out, (x - mean) * factor[:, None, None, None] + mean, atol=1e-5)
    # Keras 3 reads a single factor f as (0, f): the contrast is drawn in [1 - 0, 1 + f]
    assert 1.0 <= factor.min() < 1.01 and 1.49 < factor.max() <= 1.5
    clipped = layers.RandomContrast((0.0, 1.0), value_range=(0.3, 0.6))(x, training=True).numpy()
    assert clipped.min() >= 0.3 and clipped.max() <= 0.6


def test_brightness_adds_a_fraction_of_the_value_range_and_clips():
    x = _images(500, 3, 3, 2)
    out = layers.RandomBrightness((-0.1, 0.3), value_range=(-5, 5), seed=0)(x, training=True).numpy()
    delta = out - x
    np.testing.assert_allclose(delta, delta[:, :1, :1, :1] * np.ones_like(x), atol=1e-6)  # one amount per image
    assert -1.0 <= delta.min() < -0.95 and 2.95 < delta.max() <= 3.0  # [-0.1, 0.3] * 10
    clipped = layers.RandomBrightness(1.0, value_range=(0, 1))(x, training=True).numpy()
    assert clipped.min() >= 0 and clipped.max() <= 1 and ((clipped == 0) | (clipped == 1)).any()


# ---- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.RandomRotation(1.5), ValueError, r"`factor`.*Received: factor=1.5"),
    (lambda: layers.RandomRotation("big"), ValueError, "`factor`"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), NotImplementedError, "`fill_mode` 'mirror'"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), NotImplementedError, "`interpolation` 'bicubic'"),
    (lambda: layers.RandomZoom(-1.0), ValueError, r"`height_factor` in \(-1, 1\]"),
    (lambda: layers.RandomTranslation(0.1, (0.1, 2.0)), ValueError, "`width_factor`"),
    (lambda: layers.RandomContrast(-0.2), ValueError, r"`factor`.*\[0.0, 1.0\]"),
    (lambda: layers.RandomBrightness(0.2, value_range=(0,)), ValueError, "`value_range`"),
    (lambda: layers.RandomFlip("diagonal"), ValueError, "`mode`.*Received: mode='diagonal'"),
    (lambda: layers.RandomFlip(seed="a"), ValueError, "`seed`"),
])
def test_errors_name_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_batch_that_is_not_images_is_refused():
    with pytest.raises(ValueError, match=r"rank 3 or 4.*\(2, 5\)"):
        layers.RandomFlip()(np.ones((2, 5), np.float32), training=True)


# ---- fit ------------------------------------------------------------------------------------------------
def _linear_model(augmentation):
    """augmentation → Flatten → Dense(1) with fixed weights, so a loss tells exactly what the Dense saw."""
    model = pyml.Sequential([pyml.Input(shape=(2, 3, 1)), augmentation, layers.Flatten(),
                             layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")])
    model.compile(optimizer=pyml.optimizers.SGD(learning_rate=0.0), loss="mse", jit_compile=True)
    return model


def test_fit_augments_the_batch_and_evaluate_does_not():
    x, y = _images(8, 2, 3, 1), np.zeros((8, 1), np.float32)
    model = _linear_model(layers.RandomBrightness((0.5, 0.5), value_range=(0, 10)))  # always + 5, no clipping
    trained = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
    np.testing.assert_allclose(trained, np.mean((x + 5).sum(axis=(1, 2, 3)) ** 2), rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean(x.sum(axis=(1, 2, 3)) ** 2), rtol=1e-5)


def test_the_compiled_step_draws_new_parameters_every_run():
    x, y = _images(1, 2, 3, 1), np.zeros((1, 1), np.float32)
    model = _linear_model(layers.RandomTranslation(0.0, (-1 / 3, 1 / 3), fill_mode="constant", seed=0))
    losses = {round(float(model.train_on_batch(x, y)), 4) for _ in range(30)}
    assert len(losses) > 10  # a continuous shift: (nearly) every step sees another image

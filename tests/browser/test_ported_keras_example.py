"""A Keras image-classification script ported by changing its imports, from a folder of PNGs to Chromium.

The script below follows Keras' "image classification from scratch" example: ``image_dataset_from_directory``
with a seeded validation split, augmentation layers in a nested ``Sequential``, ``Rescaling`` inside the model, a
small CNN, ``AUC`` among the metrics, ``ReduceLROnPlateau`` and ``ModelCheckpoint(save_best_only=True)``. The
best checkpoint is loaded, exported with its preprocessing inside the bundle (the page feeds raw 0–255 pixels),
and run in Chromium on WebGPU and WebAssembly, where it must give ``predict``'s numbers.

The references are independent of pyml's training: the labels are the folders the test wrote, the AUC is
scikit-learn's ``roc_auc_score`` on ``predict``, and the images fed to the page are read back with Pillow.
"""
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

import pyml as keras
from pyml import layers
from webexport import export

IMAGE_SIZE = (16, 16)
PER_CLASS = 48


def write_image_folder(root, seed=0):
    """Two classes of noisy 20×20 RGB PNGs: a bright top half ("sky") or a bright bottom half ("ground")."""
    rng = np.random.default_rng(seed)
    for name, rows in (("ground", slice(10, 20)), ("sky", slice(0, 10))):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = rng.integers(0, 90, size=(20, 20, 3))
            pixels[rows] += rng.integers(100, 160)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i:03d}.png")


def ported_script(data_dir, checkpoint):
    """The Keras example's code; only the imports differ (``import pyml as keras``, ``from pyml import layers``)."""
    keras.utils.set_random_seed(1337)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        data_dir, validation_split=0.25, subset="both", seed=1337, image_size=IMAGE_SIZE, batch_size=16)

    data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.05)])
    inputs = keras.Input(shape=IMAGE_SIZE + (3,))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)

    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.AUC(name="auc")])
    callbacks = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
                 keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True)]
    history = model.fit(train_ds, epochs=12, validation_data=val_ds, callbacks=callbacks, verbose=0)
    return train_ds, val_ds, history


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    root = tmp_path_factory.mktemp("ported")
    write_image_folder(root / "images")
    train_ds, val_ds, history = ported_script(root / "images", root / "best.pyml")
    model = keras.load_model(root / "best.pyml")
    return root, train_ds, val_ds, history, model


def test_the_ported_script_learns_and_its_metrics_are_right(ported):
    root, train_ds, val_ds, history, model = ported
    assert train_ds.class_names == val_ds.class_names == ["ground", "sky"]
    assert sum(1 for _ in val_ds.unbatch()) == PER_CLASS * 2 // 4  # the validation quarter
    images, labels = (np.concatenate(parts) for parts in zip(*val_ds.as_numpy_iterator()))
    scores = model.predict(images, verbose=0)[:, 0]
    assert roc_auc_score(labels, scores) >= 0.95
    assert np.mean((scores > 0.5) == labels) >= 0.9
    # the logged AUC is the thresholded ROC AUC of the same predictions (200 thresholds: close, not equal)
    best = int(np.argmin(history.history["val_loss"]))
    assert history.history["val_auc"][best] == pytest.approx(roc_auc_score(labels, scores), abs=0.02)
    # ModelCheckpoint(save_best_only=True) kept the epoch with the lowest val_loss: the loaded model scores it
    assert model.evaluate(val_ds, verbose=0)[0] == pytest.approx(min(history.history["val_loss"]), rel=1e-5)
    # ReduceLROnPlateau logged the rate of every epoch, each a halving of the last or the same
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(3e-2) and len(rates) == 12
    assert all(b == pytest.approx(a) or b == pytest.approx(a / 2) for a, b in zip(rates, rates[1:]))
    assert rates[-1] < rates[0]  # the validation loss flattens out within 12 epochs on this data


@pytest.mark.parametrize("backend", ["webgpu", "wasm"])
def test_the_exported_bundle_carries_the_preprocessing_and_matches_predict(ported, shared_page, web_server, backend):
    root, _, val_ds, _, model = ported
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    out = web_server.path("models/ported")
    if not (out / "model.json").exists():
        export(model, out, include_runtime=False)
    # raw pixels as a page would read them from the PNGs: 0..255, resized to the model's size
    paths = sorted((root / "images").rglob("*.png"))[::8]
    raw = np.stack([np.asarray(Image.open(p).convert("RGB").resize(IMAGE_SIZE[::-1], Image.BILINEAR), "float32")
                    for p in paths])
    (actual,), info = harness.run(web_server.url("models/ported/model.json"), backend, [raw])
    assert info["backend"] == backend
    expected = model.predict(raw, verbose=0)
    assert float(np.abs(actual - expected).max()) <= 1e-4
    labels = np.array([p.parent.name == "sky" for p in paths])
    assert np.mean((actual[:, 0] > 0.5) == labels) >= 0.9
    assert not errors.unexpected(), errors.unexpected()

"""The digits demo: train a small MLP on scikit-learn's 8x8 digits, export it for the web, copy the page.

    $ pyml demo digits                                  # builds build/digits-demo/ and serves it
    $ python demos/digits/train.py --out site           # the same, without the server

The output folder holds everything a static host needs:

    digits.pyml       the trained model (model.save), reloadable with pyml.load_model
    model/            the web bundle (model.json, weights.bin, runtime/) from webexport.export, with a training
                      step (fine_tune_options) for the page's "Teach it your handwriting" panel
    samples.json      a few test-split digits with the Python model's probabilities, for the page's
                      "Test digit" button and for parity checks
    index.html, app.js, teach.js, style.css   the page: draw a digit, watch the prediction update live;
                      keep drawings as examples and fine-tune the model on them in the page
    manifest.webmanifest, icon*, offline.js, sw.js   what makes the page installable and work offline
                      (webexport.app.make_offline: a service worker caching all of the above)

The model sees the dataset's pixels (0..16) divided by 16; app.js does the same division.
"""
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "app.js", "teach.js", "style.css")
PIXEL_MAX = 16.0  # load_digits counts on-pixels in 4x4 blocks of a 32x32 bitmap: values 0..16
EPOCHS = 20
NUM_SAMPLES = 20  # test digits written to samples.json


def fine_tune_options():
    """``webexport.export``'s ``train=`` for the page's fine-tuning: the output layer learns a writer's hand
    from a few examples a digit (Adam at 1e-2 takes about 30 epochs of 40 examples), the hidden layer's
    features stay as the dataset taught them."""
    import pyml

    return dict(loss="sparse_categorical_crossentropy", optimizer=pyml.optimizers.Adam(1e-2), trainable="last 1")


def load_data(seed=0, test_size=0.2):
    """scikit-learn's digits (bundled with scikit-learn, no download), split 80/20, stratified and seeded.

    Returns ``(x_train, x_test, y_train, y_test)``: float32 inputs of shape (n, 64) scaled to 0..1,
    int32 labels.
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError(f"the digits demo needs scikit-learn: pip install -e '.[demos]' ({exc})") from None

    digits = load_digits()
    x = (digits.data / PIXEL_MAX).astype(np.float32)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)


def build_model():
    """Dense 64 relu → Dense 10 softmax: the model the page runs (4,810 parameters)."""
    import pyml
    from pyml import layers

    model = pyml.Sequential([
        pyml.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train(epochs=EPOCHS, seed=0):
    """Fit the model on the training split; returns ``(model, (x_train, x_test, y_train, y_test), accuracy)``."""
    import pyml

    pyml.set_random_seed(seed)
    data = load_data(seed)
    x_train, x_test, y_train, y_test = data
    model = build_model()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    probabilities = np.asarray(model.predict(x_test, verbose=0))
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    return model, data, accuracy


def write_samples(path, model, x_test, y_test, count=NUM_SAMPLES):
    """The first ``count`` test digits (pixels 0..16), their labels and the Python model's probabilities."""
    x = x_test[:count]
    probabilities = np.asarray(model.predict(x, verbose=0))
    samples = [{"pixels": [int(round(v)) for v in row * PIXEL_MAX], "label": int(label),
                "probabilities": [round(float(p), 6) for p in probs]}
               for row, label, probs in zip(x, y_test[:count], probabilities)]
    path.write_text(json.dumps({"pixel_max": PIXEL_MAX, "samples": samples}))


def build_demo(out, epochs=EPOCHS, seed=0, log=print):
    """Train, save, export and copy the page into ``out``; returns a dict with the model, data and accuracy."""
    import webexport
    import webexport.app

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, data, accuracy = train(epochs, seed)
    x_train, x_test, y_train, y_test = data
    log(f"trained on {len(x_train)} digits for {epochs} epochs in {time.perf_counter() - start:.1f} s: "
        f"test accuracy {accuracy:.1%} on {len(x_test)} digits")
    if accuracy < 0.95:
        log(f"warning: test accuracy {accuracy:.1%} is below the 95% this demo expects; try more --epochs")
    model.save(str(out / "digits.pyml"))
    webexport.export(model, str(out / "model"), train=fine_tune_options())
    write_samples(out / "samples.json", model, x_test, y_test)
    for name in PAGE_FILES:
        shutil.copyfile(HERE / name, out / name)
    offline = webexport.app.make_offline(out, "pyml digits", short_name="Digits",
                                         description="Draw a digit; a network trained with pyml reads it, offline too")
    log(f"wrote {out}/: digits.pyml, model/ (web bundle), samples.json, {', '.join(PAGE_FILES)}, and the offline "
        f"app's manifest, icons and service worker ({len(offline['files'])} files cached)")
    return {"model": model, "data": data, "accuracy": accuracy, "out": out}


if __name__ == "__main__":  # the same as `pyml demo digits --no-serve [--out DIR] [--epochs N] [--seed N]`
    from pyml.cli import main

    sys.exit(main(["demo", "digits", "--no-serve", *sys.argv[1:]]))

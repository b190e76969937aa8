"""The textgen demo: a character-level LSTM trained on Python standard-library sources writes Python in the page.

    $ pyml demo textgen                                 # builds build/textgen-demo/ and serves it
    $ python demos/textgen/train.py --out site          # the same, without the server

Nothing is downloaded: the text is a fixed list of modules of the running Python's standard library, read in
order and cut to ``TEXT_CHARS`` characters, so a build is deterministic for one Python version.

The model reads strings. Its first layer, ``TextVectorization(split="character", standardize=None)``, turns
each character into an id (0 padding, 1 out of vocabulary, then the ``MAX_TOKENS - 2`` most frequent
characters); the bundle carries that vocabulary, and the page's ``model.tokenize`` gives the same ids. An
``LSTM`` with ``return_sequences=True`` and a softmax ``Dense`` then predict, at every position of a window of
``SEQUENCE_LENGTH`` characters, the character that follows it: the model is causal, so its output at position
``k`` sees characters ``0..k`` only. To continue a text, feed its last ``SEQUENCE_LENGTH`` characters (a
shorter text is padded on the right, which the positions before the padding never see) and read the output at
its last character.

The output folder holds everything a static host needs:

    textgen.pyml      the trained model (model.save), reloadable with pyml.load_model
    model/            the web bundle (model.json with the vocabulary, weights.bin, runtime/) from webexport
    index.html, app.js, style.css   the page: type a prompt, watch the model write
"""
import shutil
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PAGE_FILES = ("index.html", "app.js", "style.css")
# Pure-Python modules present in every CPython 3.9+, mostly code with some docstrings.
SOURCES = ("textwrap.py", "string.py", "fnmatch.py", "shlex.py", "glob.py", "queue.py", "bisect.py", "heapq.py",
           "abc.py", "contextlib.py", "functools.py", "copy.py", "random.py", "csv.py", "json/encoder.py",
           "json/decoder.py", "pprint.py", "tokenize.py", "fractions.py", "dataclasses.py", "pathlib.py")
TEXT_CHARS = 300_000
SEQUENCE_LENGTH = 64
MAX_TOKENS = 100  # padding, [UNK] and the 98 most frequent characters (printable ASCII and newline among them)
UNITS = 256
EMBEDDING = 32
EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 0.01  # few steps in a few minutes: a large step, with clipping against exploding gradients
CLIPNORM = 5.0
SAMPLE_LENGTH = 200  # characters build_demo prints after training
SPECIAL_IDS = 2  # ids 0 (padding) and 1 ([UNK]) are never generated
MIN_TEMPERATURE = 0.01  # below it sampling is argmax, the limit of sharpening (app.js: the same)
EXPECTED_LOSS = 1.2  # nats per character the default training reaches or beats (uniform guessing: ln 98 = 4.6)


def load_text(chars=TEXT_CHARS, sources=SOURCES):
    """The first ``chars`` characters of the ``sources`` modules of this Python's standard library, in order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    pieces, total = [], 0
    for name in sources:
        path = stdlib / name
        if not path.is_file():
            raise FileNotFoundError(f"the textgen demo reads the standard library's {name}, which is not in {stdlib}")
        pieces.append(path.read_text(encoding="utf-8"))
        total += len(pieces[-1])
        if total >= chars:
            break
    return "\n".join(pieces)[:chars]


def build_model(vectorize, units=UNITS, embedding=EMBEDDING):
    """Strings → character ids → Embedding → LSTM(units, return_sequences) → next-character softmax per position."""
    import pyml
    from pyml import layers

    vocabulary = vectorize.vocabulary_size()
    model = pyml.Sequential([
        pyml.Input(shape=(1,), dtype="string"),
        vectorize,
        layers.Embedding(vocabulary, embedding),
        layers.LSTM(units, return_sequences=True),
        layers.Dense(vocabulary, activation="softmax"),
    ])
    optimizer = pyml.optimizers.Adam(learning_rate=LEARNING_RATE, global_clipnorm=CLIPNORM)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def make_vectorizer(text, sequence_length=SEQUENCE_LENGTH, max_tokens=MAX_TOKENS):
    """A character ``TextVectorization`` adapted on ``text``: no standardization, ids padded to the window."""
    from pyml import layers

    vectorize = layers.TextVectorization(max_tokens=max_tokens, standardize=None, split="character",
                                         output_sequence_length=sequence_length)
    vectorize.adapt([text])
    return vectorize


def windows(text, vectorize, sequence_length=SEQUENCE_LENGTH):
    """Non-overlapping windows: ``x`` the strings ``text[s:s+T]``, ``y`` the ids of ``text[s+1:s+T+1]``."""
    starts = range(0, len(text) - sequence_length - 1, sequence_length)
    x = np.array([text[s:s + sequence_length] for s in starts], dtype=object)
    y = np.asarray(vectorize([text[s + 1:s + sequence_length + 1] for s in starts])).astype(np.int32)
    return x, y


def train(epochs=EPOCHS, seed=0, chars=TEXT_CHARS, units=UNITS, sequence_length=SEQUENCE_LENGTH,
          batch_size=BATCH_SIZE):
    """Fit the model on the text; returns ``(model, text, history)`` (``history.history["loss"]`` per epoch)."""
    import pyml

    pyml.set_random_seed(seed)
    text = load_text(chars)
    vectorize = make_vectorizer(text, sequence_length)
    model = build_model(vectorize, units)
    x, y = windows(text, vectorize, sequence_length)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return model, text, history


def next_probabilities(model, text):
    """The model's distribution over the next character of ``text`` (non-empty): its last ``T`` characters go
    in, padded on the right, and the output at the last of them comes out."""
    sequence_length = model.layers[0].output_sequence_length
    context = text[-sequence_length:]
    return np.asarray(model.predict(np.array([context], dtype=object), verbose=0))[0, len(context) - 1]


def generate(model, prompt, length, temperature=0.0, rng=None):
    """``length`` characters after ``prompt`` (empty: a new line), one at a time: the most likely at
    ``temperature`` 0 (greedy), else drawn from the softmax sharpened by ``1 / temperature`` with the numpy
    Generator ``rng``. Ids 0 and 1 are never drawn.
    """
    vocabulary = model.layers[0].get_vocabulary()
    rng = rng or np.random.default_rng()
    text = prompt or "\n"
    for _ in range(length):
        p = next_probabilities(model, text)[SPECIAL_IDS:].astype(np.float64)
        if temperature < MIN_TEMPERATURE:
            choice = int(np.argmax(p))
        else:
            logits = np.log(np.maximum(p, 1e-30)) / temperature
            weights = np.exp(logits - logits.max())
            choice = int(rng.choice(len(p), p=weights / weights.sum()))
        text += vocabulary[SPECIAL_IDS + choice]
    return text[len(prompt or "\n"):]


def build_demo(out, epochs=EPOCHS, seed=0, log=print, **sizes):
    """Train, save, export and copy the page into ``out``; returns a dict with the model, the text and the loss.

    ``sizes`` go to ``train`` (``chars``, ``units``, ``sequence_length``, ``batch_size``): tests build a tiny model.
    """
    import webexport

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, text, history = train(epochs, seed, **sizes)
    loss = history.history["loss"][-1]
    log(f"trained on {len(text):,} characters of the standard library for {epochs} epochs in "
        f"{time.perf_counter() - start:.0f} s: loss {loss:.2f} nats per character")
    if loss > EXPECTED_LOSS and not sizes:
        log(f"warning: the loss is above the {EXPECTED_LOSS} this demo expects; try more --epochs")
    sample = generate(model, "def ", SAMPLE_LENGTH, temperature=0.5, rng=np.random.default_rng(seed))
    log(f"a sample at temperature 0.5:\n\ndef {sample}\n")
    model.save(str(out / "textgen.pyml"))
    webexport.export(model, str(out / "model"))
    for name in PAGE_FILES:
        shutil.copyfile(HERE / name, out / name)
    log(f"wrote {out}/: textgen.pyml, model/ (web bundle), {', '.join(PAGE_FILES)}")
    return {"model": model, "text": text, "loss": loss, "out": out}


if __name__ == "__main__":  # the same as `pyml demo textgen --no-serve [--out DIR] [--epochs N] [--seed N]`
    from pyml.cli import main

    sys.exit(main(["demo", "textgen", "--no-serve", *sys.argv[1:]]))

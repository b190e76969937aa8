"""The textgen demo in Python: its text is the standard library's sources, its windows teach the next character,
its model is causal (a short prompt padded on the right reads the same as with any other characters after it),
a tiny version of it learns (the loss falls below a stated bound and below the entropy of the character
frequencies, the best any context-free guess can do), and `pyml demo textgen --no-serve` writes the site.
The full demo's training runs only in `pyml demo textgen`; its browser side is tests/browser/test_textgen.py."""
import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from pyml import cli
from pyml.cli import load_demo

# A model trained in seconds: 24,000 characters, windows of 32, LSTM(64), 3 epochs of batches of 16.
TINY = {"chars": 24_000, "units": 64, "sequence_length": 32, "batch_size": 16}
TINY_EPOCHS = 3
# Cross-entropy in nats per character. Uniform guessing over the 98 characters costs ln 98 = 4.58; the
# character frequencies alone (unigram entropy of this text) about 3.2. Below 2.6 the model uses context.
LOSS_BOUND = 2.6


@pytest.fixture(scope="module")
def demo():
    return load_demo("textgen")


@pytest.fixture(scope="module")
def tiny(demo):
    model, text, history = demo.train(TINY_EPOCHS, seed=0, **TINY)
    return {"model": model, "text": text, "loss": history.history["loss"]}


def test_text_is_the_start_of_the_listed_standard_library_modules(demo):
    text = demo.load_text(30_000)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    first = (stdlib / demo.SOURCES[0]).read_text(encoding="utf-8")
    second = (stdlib / demo.SOURCES[1]).read_text(encoding="utf-8")
    assert len(text) == 30_000 and len(first) < 30_000
    assert text == (first + "\n" + second)[:30_000]
    assert demo.load_text(30_000) == text  # deterministic


def test_windows_pair_each_character_with_the_next(demo):
    text = "def f(x):\n    return x + 1\n" * 8
    vectorize = demo.make_vectorizer(text, sequence_length=10)
    vocabulary = vectorize.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and set(vocabulary[2:]) == set(text)
    x, y = demo.windows(text, vectorize, sequence_length=10)
    assert len(x) == len(y) == (len(text) - 11) // 10 + 1
    for i, (window, targets) in enumerate(zip(x, y)):
        assert window == text[10 * i:10 * i + 10]
        assert "".join(vocabulary[t] for t in targets) == text[10 * i + 1:10 * i + 11]


def test_tiny_model_learns_the_text(tiny):
    text, loss = tiny["text"], tiny["loss"]
    counts = np.unique(np.array(list(text)), return_counts=True)[1]
    frequencies = counts / counts.sum()
    unigram_entropy = float(-(frequencies * np.log(frequencies)).sum())
    assert 2.8 < unigram_entropy < 3.6, unigram_entropy  # the bound's premise: the text is what we think
    assert loss[0] > loss[-1], loss
    assert loss[-1] < LOSS_BOUND < unigram_entropy, (loss, unigram_entropy)


def test_output_at_the_last_prompt_character_never_sees_the_padding(demo, tiny):
    """Causality, which lets the page pad a short prompt on the right: the output at position k of the window
    is the same whatever follows position k (here: the padding, or more text)."""
    model = tiny["model"]
    prompt = "    def __init__(self"
    padded = demo.next_probabilities(model, prompt)
    followed = np.asarray(model.predict(np.array([prompt + "):\n        self.x = x"], dtype=object), verbose=0))
    np.testing.assert_allclose(padded, followed[0, len(prompt) - 1], atol=1e-6)
    assert padded.shape == (model.layers[0].vocabulary_size(),)
    np.testing.assert_allclose(padded.sum(), 1.0, atol=1e-5)


def test_greedy_generation_takes_the_likeliest_character_after_the_last_window(demo, tiny):
    model = tiny["model"]
    vocabulary = model.layers[0].get_vocabulary()
    prompt = "x" * 5 + "class Text:\n    def __init__(self, text):\n        self.text = "  # longer than the window
    text = prompt
    for _ in range(6):
        window = text[-TINY["sequence_length"]:]
        probabilities = np.asarray(model.predict(np.array([window], dtype=object), verbose=0))[0, len(window) - 1]
        text += vocabulary[2 + int(np.argmax(probabilities[2:]))]
    assert demo.generate(model, prompt, 6) == text[len(prompt):]
    rng = np.random.default_rng(0)
    sampled = demo.generate(model, prompt, 30, temperature=1.0, rng=rng)
    assert len(sampled) == 30 and set(sampled) <= set(vocabulary[2:])


def test_demo_command_writes_the_model_the_bundle_and_the_page(demo, tmp_path, monkeypatch, capsys):
    """`pyml demo textgen --no-serve`, with the demo's sizes shrunk so it builds in seconds."""
    def tiny_demo(name):
        assert name == "textgen"
        module = load_demo(name)
        real = module.build_demo
        module.build_demo = lambda out, **options: real(out, **options, **TINY)
        return module

    monkeypatch.setattr(cli, "load_demo", tiny_demo)
    out = tmp_path / "site"
    assert cli.main(["demo", "textgen", "--no-serve", "--out", str(out), "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "for 1 epochs" in printed and f"serve it with: pyml serve {out}" in printed
    for name in ("textgen.pyml", "index.html", "app.js", "style.css", "model/model.json", "model/weights.bin",
                 "model/runtime/index.js", "model/runtime/text.js"):
        assert (out / name).is_file(), name
    import pyml
    import webexport

    webexport.load_bundle(str(out / "model"))
    model = pyml.load_model(str(out / "textgen.pyml"))
    manifest = json.loads((out / "model" / "model.json").read_text())
    (signature,) = manifest["inputs"]
    assert signature["dtype"] == "int32" and signature["shape"] == [None, 32]
    assert signature["text"]["split"] == "character" and signature["text"]["standardize"] is None
    assert signature["text"]["output_sequence_length"] == 32
    assert signature["text"]["vocabulary"] == model.layers[0].get_vocabulary()
    assert manifest["outputs"][0]["shape"] == [None, 32, len(signature["text"]["vocabulary"])]


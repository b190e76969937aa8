"""The digits demo's "Teach it your handwriting" flow, driven like a user in Chromium on WebGPU and on the CPU.

A writer with a strong slant (every digit sheared by 0.6, with a little jitter) keeps four examples of each
digit: some drawn with the mouse and kept with the digit's button or key, the rest through the page's
``pymlDigits.teach`` hook (the same code path, strokes in). The pre-trained model reads about half of them
wrong. "Fine-tune" trains the bundle's last layer in the page; then the accuracy on those examples must rise
to (nearly) all of them, the losses fall, and the page's probabilities equal Python's predictions with the
downloaded weights (``model.load_weights`` of "Save weights") within 1e-4; the layer that did not train is
unchanged. "Reset" brings back the pre-trained predictions.
"""
import json

import numpy as np
import pytest

import pyml
from pyml import cli
from tests.browser.test_demo_page import PIXEL_MAX, TOLERANCE, open_demo, settle, shown, stroke

PER_DIGIT = 4
SLANT = 0.6  # x += SLANT * y (y downwards): a forward-leaning hand


def _arc(cx, cy, rx, ry, t0, t1, n=16):
    """Points on an ellipse, angle 0 at the top, clockwise (pad coordinates, y downwards)."""
    return [(cx + rx * np.sin(t), cy - ry * np.cos(t)) for t in np.linspace(t0, t1, n)]


# One upright template per digit (0..1 pad coordinates, a list of strokes); the pre-trained model reads each
# of them right when drawn as is.
TEMPLATES = {
    0: [_arc(0.5, 0.5, 0.2, 0.32, 0, 2 * np.pi, 40)],
    1: [[(0.42, 0.22), (0.52, 0.12), (0.52, 0.5), (0.52, 0.88)]],
    2: [_arc(0.5, 0.33, 0.2, 0.17, -1.4, 2.2, 14) + [(0.3, 0.85), (0.75, 0.85)]],
    3: [_arc(0.5, 0.32, 0.2, 0.16, -1.3, 3.1, 14) + _arc(0.5, 0.66, 0.21, 0.18, 0.1, 4.4, 14)],
    4: [[(0.6, 0.15), (0.25, 0.62), (0.78, 0.62)], [(0.62, 0.35), (0.62, 0.9)]],
    5: [[(0.7, 0.15), (0.34, 0.15), (0.32, 0.45)] + _arc(0.5, 0.64, 0.21, 0.2, -1.0, 4.3, 14)],
    6: [[(0.65, 0.15), (0.45, 0.3)] + _arc(0.5, 0.66, 0.2, 0.2, 4.5, 4.5 - 2 * np.pi - 0.6, 20)],
    7: [[(0.28, 0.18), (0.75, 0.18), (0.45, 0.88)], [(0.4, 0.52), (0.7, 0.52)]],  # crossed, as in the dataset
    8: [[(0.5 + 0.2 * np.sin(2 * t), 0.5 - 0.34 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    9: [_arc(0.5, 0.32, 0.18, 0.17, 1.6, 1.6 + 2 * np.pi, 24) + [(0.66, 0.5), (0.62, 0.88)]],
}


def slanted(digit, rng):
    """The writer's ``digit``: the template sheared by SLANT about the pad's centre, jittered by ~1% of the pad."""
    lines = []
    for line in TEMPLATES[digit]:
        points = np.asarray(line) - 0.5
        points[:, 0] += SLANT * points[:, 1]
        points += rng.normal(0, 0.01, points.shape)
        lines.append((points * 0.8 + 0.5).tolist())
    return lines


@pytest.fixture(scope="module")
def demo_site(web_server):
    out = web_server.path("digits-finetune")
    assert cli.main(["demo", "digits", "--no-serve", "--out", str(out)]) == 0
    return out


def load(site, weights=None):
    model = pyml.load_model(str(site / "digits.pyml"))
    if weights is not None:
        model.load_weights(str(weights))
    return model


def predict(model, pixels):
    return np.asarray(model.predict(np.asarray(pixels, np.float32) / PIXEL_MAX, verbose=0))


def draw(page, lines):
    """Draw ``lines`` with the mouse (the pad scrolled into view first: the panel's buttons sit below it)."""
    page.locator("#pad").scroll_into_view_if_needed()
    for line in lines:
        stroke(page, line)
    settle(page)


def keep_examples(page, rng):
    """Four slanted examples of each digit: the first of 0..4 drawn and kept with the digit's button, of 5..9
    drawn and kept with the digit's key on the pad, the others through the teach hook. Returns (pixels, labels)."""
    for digit in range(10):
        draw(page, slanted(digit, rng))
        if digit < 5:
            page.locator(f'#teach .keep button[data-digit="{digit}"]').click()
        else:
            page.locator("#pad").focus()
            page.keyboard.press(str(digit))
        page.wait_for_function("n => pymlDigits.teaching && pymlDigits.teaching.examples.length === n", arg=digit + 1)
        settle(page)
        assert page.evaluate("pymlDigits.input").count(0) == 64, "the pad was not cleared for the next example"
    for digit in range(10):
        for _ in range(PER_DIGIT - 1):
            page.evaluate("([d, s]) => pymlDigits.teach(d, s)", [digit, slanted(digit, rng)])
    examples = page.evaluate("pymlDigits.teaching.examples")
    return np.array([e["pixels"] for e in examples], np.float32), np.array([e["digit"] for e in examples])


@pytest.mark.parametrize("backend", ["webgpu", "wasm"])
def test_fine_tuning_on_a_slanted_hand_raises_its_accuracy_and_saves_weights_python_loads(
        demo_site, page, web_server, backend, tmp_path):
    open_demo(page, web_server, backend, demo_site.name)
    assert page.evaluate("pymlDigits.canTrain") is True
    assert page.locator("#finetune").is_disabled()
    pixels, labels = keep_examples(page, np.random.default_rng(0))
    assert sorted(np.bincount(labels)) == [PER_DIGIT] * 10
    counts = page.locator("#teach .keep .count").all_inner_texts()
    assert counts == [str(PER_DIGIT)] * 10
    assert page.locator("#teach-summary").inner_text() == f"{10 * PER_DIGIT} examples of 10 digits."

    pretrained = load(demo_site)
    python_before = predict(pretrained, pixels)
    page.get_by_role("button", name="Fine-tune").click()
    page.wait_for_function("pymlDigits.teaching.after !== null && !pymlDigits.teaching.training")
    teaching = page.evaluate("pymlDigits.teaching")
    assert teaching["error"] is None
    before, after, losses = teaching["before"], teaching["after"], teaching["losses"]
    # "before" is the pre-trained model on the examples, as Python predicts them
    assert np.abs(np.array(before["probabilities"]) - python_before).max() <= TOLERANCE
    assert before["correct"] == int(np.sum(python_before.argmax(axis=1) == labels))
    assert before["accuracy"] <= 0.8, f"the slanted hand is read too well to need teaching ({before['accuracy']:.0%})"
    assert after["accuracy"] >= 0.95 and after["correct"] > before["correct"]
    assert len(losses) >= 10 and losses[-1] < 0.5 * losses[0]
    assert page.locator("#accuracy-before").inner_text().startswith(f"{before['correct']} of {10 * PER_DIGIT}")
    assert page.locator("#accuracy-after").inner_text().startswith(f"{after['correct']} of {10 * PER_DIGIT}")
    assert page.locator("#train-status").inner_text().startswith(f"Fine-tuned for {len(losses)} epochs")
    assert page.locator("#examples li.wrong").count() == 10 * PER_DIGIT - after["correct"]
    page.screenshot(path=str(tmp_path / f"fine-tuned-{backend}.png"), full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Save weights").click()
    download = download_info.value
    assert download.suggested_filename == "digits.weights.safetensors"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    tuned = load(demo_site, saved)
    python_after = predict(tuned, pixels)
    assert np.abs(np.array(after["probabilities"]) - python_after).max() <= TOLERANCE
    assert np.mean(python_after.argmax(axis=1) == labels) == after["accuracy"]
    hidden, output = (layer.get_weights() for layer in tuned.layers)
    np.testing.assert_array_equal(hidden[0], pretrained.layers[0].get_weights()[0])  # "last 1": frozen
    assert np.abs(output[0] - pretrained.layers[1].get_weights()[0]).max() > 1e-3  # the output layer trained

    # The pad now predicts with the fine-tuned weights, and after Reset with the pre-trained ones again.
    for model in (tuned, pretrained):
        draw(page, slanted(8, np.random.default_rng(1)))
        result = shown(page)
        assert np.abs(result["bars"] - predict(model, result["input"][None])[0]).max() <= TOLERANCE
        page.click("#clear")
        if model is tuned:
            page.get_by_role("button", name="Reset").click()
            page.wait_for_function("!pymlDigits.teaching.tuned && !pymlDigits.teaching.training")
            settle(page)
    assert page.locator("#accuracy-after").inner_text() == "–"


def test_a_bundle_without_a_training_step_says_it_cannot_learn(web_server, page, tmp_path):
    """The page built from an inference-only export keeps predicting and disables the teaching panel."""
    import shutil

    import webexport

    site = web_server.path("digits-no-train")
    demo = cli.load_demo("digits")
    model, _, _ = demo.train(epochs=1)
    webexport.export(model, str(site / "model"))
    for name in demo.PAGE_FILES:
        shutil.copyfile(demo.HERE / name, site / name)
    (site / "samples.json").write_text(json.dumps({"pixel_max": PIXEL_MAX, "samples": []}))
    webexport.app.make_offline(site, "pyml digits")  # the page loads offline.js, as build_demo's does
    page.goto(web_server.url("digits-no-train/index.html?backend=js"))
    page.wait_for_function("window.pymlDigits && (window.pymlDigits.ready || window.pymlDigits.error)")
    assert page.evaluate("[pymlDigits.error, pymlDigits.canTrain]") == [None, False]
    assert "cannot learn" in page.locator("#teach-summary").inner_text()
    buttons = page.locator("#teach button")
    assert buttons.count() == 14 and all(buttons.nth(i).is_disabled() for i in range(14))

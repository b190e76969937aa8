"""The digits demo page, driven like a user: `pyml demo digits --no-serve` builds the site, then we draw
digits with the mouse in Chromium and read what the page shows. Its prediction and bars must equal what
the Python model predicts on the 8x8 input the page reports (window.pymlDigits.input), on WebGPU, on
WebAssembly and on plain JavaScript; a drawn 1 and 0 must be read as 1 and 0. Screenshots land in the test's tmp_path."""
import json
import re

import numpy as np
import pytest

import pyml
from pyml import cli

TOLERANCE = 1e-4
PIXEL_MAX = 16.0
# Strokes in pad coordinates (0..1), as a person would draw them.
ONE = [[(0.42, 0.22), (0.52, 0.12), (0.52, 0.5), (0.52, 0.88)]]
ZERO = [[(0.5 + 0.2 * np.sin(t), 0.5 - 0.32 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]]


@pytest.fixture(scope="module")
def demo_site(web_server):
    """The demo built by the CLI, straight into the test server's root; returns its folder."""
    out = web_server.path("digits-demo")
    assert cli.main(["demo", "digits", "--no-serve", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def demo_model(demo_site):
    return pyml.load_model(str(demo_site / "digits.pyml"))


def open_demo(page, web_server, backend, folder="digits-demo"):
    """Open the demo (under ``folder`` of the server) with ``?backend=``; checks the status line names where it
    runs (a name loadModel takes, or None for the page's default, "auto", which runs on the CPU here: the
    adapter is SwiftShader)."""
    page.goto(web_server.url(f"{folder}/index.html?backend={backend or 'auto'}"))
    page.wait_for_function("window.pymlDigits && (window.pymlDigits.ready || window.pymlDigits.error)")
    state = page.evaluate("({error: pymlDigits.error, backend: pymlDigits.backend, loadMs: pymlDigits.loadMs})")
    assert state["error"] is None, state["error"]
    assert state["backend"] == (backend or "wasm")
    status = page.locator("#status").inner_text()
    assert f"loaded in {state['loadMs']} ms" in status
    assert {"webgpu": "WebGPU", "wasm": "CPU (WebAssembly SIMD)", "js": "CPU (plain JavaScript)"}[state["backend"]] in status
    return state


def stroke(page, points, release=True):
    """Drag the mouse through ``points`` (0..1 pad coordinates), in small steps like a hand does."""
    box = page.locator("#pad").bounding_box()
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=6)
    if release:
        page.mouse.up()


def settle(page):
    page.evaluate("window.pymlDigits.idle()")


def shown(page):
    """What the page shows (the big digit, the bars) and the 8x8 input it reports."""
    state = page.evaluate("({input: pymlDigits.input, prediction: pymlDigits.prediction, count: pymlDigits.predictions})")
    bars = page.locator("#bars li").evaluate_all("items => items.map(li => Number(li.dataset.probability))")
    drawn = page.locator("#bars li").evaluate_all(  # the fraction of each bar's track that is filled
        "items => items.map(li => li.querySelector('.fill').getBoundingClientRect().width /"
        "                         li.querySelector('.track').getBoundingClientRect().width)")
    np.testing.assert_allclose(drawn, bars, atol=0.01, err_msg="the bar chart does not show the probabilities")
    return {"digit": page.locator("#prediction").inner_text(), "bars": np.array(bars),
            "input": np.array(state["input"], np.float32), "prediction": state["prediction"], "count": state["count"]}


def python_probabilities(model, pixels):
    return np.asarray(model.predict((pixels / PIXEL_MAX).reshape(1, 64), verbose=0))[0]


def test_demo_command_writes_the_model_the_bundle_and_the_page(demo_site):
    import webexport

    for name in ("digits.pyml", "index.html", "app.js", "teach.js", "style.css", "samples.json", "model/model.json",
                 "model/weights.bin", "model/runtime/index.js"):
        assert (demo_site / name).is_file(), name
    webexport.load_bundle(str(demo_site / "model"))
    samples = json.loads((demo_site / "samples.json").read_text())["samples"]
    assert len(samples) == 20 and all(len(s["pixels"]) == 64 and 0 <= min(s["pixels"]) <= max(s["pixels"]) <= 16
                                      for s in samples)


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_drawn_digits_are_predicted_live_like_the_python_model(demo_site, demo_model, page, web_server, backend,
                                                               tmp_path):
    open_demo(page, web_server, backend)
    for name, strokes, digit in (("one", ONE, 1), ("zero", ZERO, 0)):
        page.click("#clear")
        settle(page)
        # Half a stroke with the button still down: the prediction already shows (live, while drawing).
        first = strokes[0]
        stroke(page, first[: len(first) // 2 + 1], release=False)
        settle(page)
        partial = shown(page)
        assert partial["input"].sum() > 0 and partial["digit"] != "–"
        for x, y in first[len(first) // 2 + 1:]:
            box = page.locator("#pad").bounding_box()
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=6)
        page.mouse.up()
        for rest in strokes[1:]:
            stroke(page, rest)
        settle(page)
        page.screenshot(path=str(tmp_path / f"{name}-{backend}.png"))
        result = shown(page)
        assert result["count"] > partial["count"], "the prediction did not update as the stroke went on"
        pixels = result["input"]
        assert pixels.shape == (64,) and pixels.max() <= 16 and np.array_equal(pixels, np.round(pixels))
        expected = python_probabilities(demo_model, pixels)
        assert np.abs(result["bars"] - expected).max() <= TOLERANCE
        assert result["digit"] == str(result["prediction"]) == str(int(expected.argmax()))
        assert result["prediction"] == digit, f"a drawn {digit} was read as {result['prediction']}:\n" \
                                              f"{pixels.reshape(8, 8).astype(int)}"


def test_clear_resets_the_pad_the_input_and_the_bars(demo_site, page, web_server):
    open_demo(page, web_server, None)  # auto: the CPU, since WebGPU here is a software adapter
    stroke(page, ONE[0])
    settle(page)
    assert shown(page)["digit"] == "1"
    page.get_by_role("button", name="Clear").click()  # found by its accessible name, as a screen reader would
    settle(page)
    result = shown(page)
    assert result["digit"] == "–" and result["prediction"] is None
    assert not result["input"].any() and not result["bars"].any()
    pad = page.get_by_role("img", name=re.compile("Drawing pad"))
    stroke(page, ZERO[0])
    pad.focus()
    settle(page)
    page.keyboard.press("Escape")  # keyboard users can clear too
    settle(page)
    assert shown(page)["digit"] == "–"


def test_test_digit_button_shows_a_dataset_digit_with_pythons_probabilities(demo_site, page, web_server, tmp_path):
    open_demo(page, web_server, "webgpu")
    samples = json.loads((demo_site / "samples.json").read_text())["samples"]
    for sample in samples[:3]:
        page.click("#sample")
        settle(page)
        result = shown(page)
        assert result["input"].tolist() == sample["pixels"]
        assert np.abs(result["bars"] - np.array(sample["probabilities"])).max() <= TOLERANCE
        assert result["prediction"] == int(np.argmax(sample["probabilities"]))
        assert f"label is {sample['label']}" in page.locator("#confidence").inner_text()
    page.screenshot(path=str(tmp_path / "test-digit.png"))

"""The digits demo as a phone app: installable, offline after one visit, drawn on with a finger.

A phone-sized, touch-only browser profile (Playwright's ``is_mobile``, ``has_touch``) opens the demo built by
`pyml demo digits --no-serve` once online; then the network goes (``context.set_offline(True)``, and the folder
is moved off the server) and the page is reloaded. A finger (touch events sent through the DevTools protocol, as
a touch screen sends them) draws a 1 on the pad: the page predicts it, with the probabilities Python computes on the
8x8 input the page reports, and its "Test digit" button still shows Python's probabilities. On WebGPU and on the
CPU (WebAssembly)."""
import json

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import pyml
from pyml import cli
from tests.browser.harness import offline

TOLERANCE = 1e-4
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
ONE = [(0.42, 0.22), (0.52, 0.12), (0.52, 0.5), (0.52, 0.88)]  # pad coordinates 0..1, as test_demo_page draws


@pytest.fixture(scope="module")
def demo_site(web_server):
    out = web_server.path("digits-offline")
    assert cli.main(["demo", "digits", "--no-serve", "--out", str(out)]) == 0
    return out


def open_demo(page, url):
    page.goto(url)
    page.wait_for_function("window.pymlDigits && (pymlDigits.ready || pymlDigits.error)")
    assert page.evaluate("pymlDigits.error") is None


def draw_with_a_finger(page, points):
    """One touch stroke through ``points`` (0..1 pad coordinates): touchStart, small touchMoves, touchEnd."""
    box = page.locator("#pad").bounding_box()
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    path = [xy[0]] + [(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
                      for a, b in zip(xy, xy[1:]) for t in np.linspace(0.125, 1, 8)]
    cdp = page.context.new_cdp_session(page)
    for kind, (x, y) in zip(["touchStart"] + ["touchMove"] * (len(path) - 1), path):
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def tap_until(page, selector, condition, tries=3):
    """Tap ``selector`` until ``condition`` holds. A finger takes a moment to move from the pad to the button, and
    Chromium's gesture detector drops a tap within its double-tap timeout (300 ms) of the stroke's end, or reads
    one as a long press when a busy machine delays the touchEnd; a person taps again."""
    for _ in range(tries):
        page.wait_for_timeout(500)
        page.locator(selector).tap()
        try:
            page.wait_for_function(condition, timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{tries} taps on {selector} did not make {condition} true")


@pytest.mark.parametrize("backend", ["webgpu", "wasm"])
def test_digits_demo_installs_works_offline_and_draws_by_touch(demo_site, new_context, web_server, backend):
    model = pyml.load_model(str(demo_site / "digits.pyml"))
    url = web_server.url(f"digits-offline/index.html?backend={backend}")
    page = new_context(**PHONE).new_page()
    open_demo(page, url)
    first = page.evaluate("pymlOffline.ready")
    assert first is not None, page.evaluate("pymlOffline.error")
    manifest = json.loads((demo_site / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["icons"]

    with offline(page.context, demo_site) as moved:
        page.reload()
        open_demo(page, url)
        assert page.evaluate("pymlDigits.backend") == backend
        assert page.evaluate("pymlOffline.ready")["version"] == first["version"]
        pad = page.locator("#pad").bounding_box()
        assert pad["x"] >= 0 and pad["x"] + pad["width"] <= PHONE["viewport"]["width"], "the pad does not fit a phone"

        draw_with_a_finger(page, ONE)
        page.evaluate("pymlDigits.idle()")
        state = page.evaluate("({input: pymlDigits.input, probabilities: pymlDigits.probabilities,"
                              " prediction: pymlDigits.prediction})")
        pixels = np.array(state["input"], np.float32)
        assert pixels.sum() > 0, "the touch stroke drew nothing"
        expected = np.asarray(model.predict((pixels / 16).reshape(1, 64), verbose=0))[0]
        assert np.abs(np.array(state["probabilities"]) - expected).max() <= TOLERANCE
        assert state["prediction"] == int(expected.argmax()) == 1

        assert page.locator("#sample").is_enabled(), "samples.json did not load offline"
        tap_until(page, "#sample", "pymlDigits.sample !== null")
        page.evaluate("pymlDigits.idle()")
        sample = json.loads((moved / "samples.json").read_text())["samples"][0]
        shown = page.evaluate("pymlDigits.probabilities")
        assert np.abs(np.array(shown) - np.array(sample["probabilities"])).max() <= TOLERANCE

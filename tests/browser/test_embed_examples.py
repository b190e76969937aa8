"""The embedding examples of demos/embed/, built by `pyml demo embed --no-serve`, in Chromium: the plain page (five
lines of JavaScript) shows the probabilities Python computes for its digit, the worker page runs the model in a Web
Worker like Python, and the offline app (`export(..., app=True)`) predicts the same digit like Python, online and,
after one visit, offline. On WebGPU and on the CPU."""
import re

import numpy as np
import pytest

import pyml
from pyml import cli
from tests.browser.harness import offline
from tests.browser.test_offline_app import open_app, predict

BACKENDS = ["webgpu", "wasm"]


@pytest.fixture(scope="module")
def embed_site(web_server):
    out = web_server.path("embed-demo")
    assert cli.main(["demo", "embed", "--no-serve", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def digit(embed_site):
    """The digit the plain page shows, read from its <pre>, and the model's probabilities for it in Python."""
    html = (embed_site / "index.html").read_text()
    pixels = np.array(re.search(r'<pre id="digit">(.*?)</pre>', html, re.S).group(1).split(), np.float32)
    model = pyml.load_model(str(embed_site / "digits.pyml"))
    return {"pixels": pixels, "probabilities": np.asarray(model.predict((pixels / 16).reshape(1, 64), verbose=0))[0]}


def test_the_plain_page_takes_five_lines_of_javascript():
    script = re.search(r'<script type="module">(.*?)</script>', (cli.DEMOS_DIR / "embed" / "index.html").read_text(),
                       re.S).group(1)
    lines = [line for line in script.strip().splitlines() if line.strip()]
    assert len(lines) <= 5, lines


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_plain_page_predicts_its_digit_like_python(embed_site, digit, new_context, web_server, backend):
    page = new_context().new_page()
    page.goto(web_server.url(f"embed-demo/index.html?backend={backend}"))
    page.wait_for_function("document.getElementById('probabilities').value !== 'computing…'")
    shown = np.array(page.locator("#probabilities").inner_text().split(), np.float64)
    assert shown.shape == (10,)
    assert np.abs(shown - digit["probabilities"]).max() <= 1e-5
    assert shown.argmax() == 7 and digit["pixels"].shape == (64,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_offline_app_predicts_like_python_online_and_offline(embed_site, digit, new_context, web_server, backend):
    page = new_context().new_page()
    url = web_server.url("embed-demo/app/")
    first = open_app(page, url, backend)
    x = digit["pixels"] / 16
    assert np.abs(predict(page, x)[0] - digit["probabilities"]).max() <= 1e-5
    with offline(page.context, embed_site):
        page.reload()
        assert open_app(page, url, backend)["version"] == first["version"]
        assert np.abs(predict(page, x)[0] - digit["probabilities"]).max() <= 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_worker_page_runs_the_digits_model_in_a_worker_like_python(embed_site, new_context, web_server, backend):
    """worker.html (copied into the built site with the other pages) on the digits bundle: its fixed pattern batch,
    element i = ((i * 7919) mod 1009) / 1009, predicted in the Web Worker as in Python."""
    page = new_context().new_page()
    page.goto(web_server.url(f"embed-demo/worker.html?backend={backend}"))
    page.wait_for_function("window.pymlWorkerDemo && (pymlWorkerDemo.ready || pymlWorkerDemo.error)")
    assert page.evaluate("pymlWorkerDemo.error") is None
    assert page.evaluate("pymlWorkerDemo.backend") == backend
    last = page.evaluate("async () => { await pymlWorkerDemo.run('worker', 4); return pymlWorkerDemo.last; }")
    x = (((np.arange(4 * 64) * 7919) % 1009) / 1009).astype(np.float32).reshape(4, 64)
    expected = pyml.load_model(str(embed_site / "digits.pyml")).predict(x, verbose=0)
    assert last["where"] == "worker" and last["output"]["shape"] == [4, 10]
    np.testing.assert_allclose(np.array(last["output"]["data"], np.float32).reshape(4, 10), expected, atol=1e-5)

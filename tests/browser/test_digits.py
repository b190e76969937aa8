"""The digits demo model end to end: trained in Python on scikit-learn's digits (≥ 95 % test accuracy),
exported, and run in Chromium on WebGPU, WebAssembly and plain JavaScript over the whole test split in one
``predict`` call each, through the runtime copied into the bundle, as a web page uses it. The browser's
probabilities equal Python's within 1e-4, with the same predicted digit everywhere."""
import numpy as np
import pytest

from pyml.cli import load_demo
from tests.browser.harness import decode, encode
from webexport import export

TOLERANCE = 1e-4
# The three lines a page needs (import, loadModel, predict), plus moving arrays in and out as base64.
PREDICT_IN_PAGE = """async ([runtimeUrl, modelUrl, backend, x]) => {
  const { loadModel } = await import(runtimeUrl);
  const model = await loadModel(modelUrl, { backend });
  const bytes = Uint8Array.from(atob(x.b64), (c) => c.charCodeAt(0));
  const { data, shape } = await model.predict(new Float32Array(bytes.buffer), x.shape);
  const out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = "";
  for (let i = 0; i < out.length; i += 8192) text += String.fromCharCode(...out.subarray(i, i + 8192));
  model.dispose();
  return { output: { b64: btoa(text), shape, dtype: "float32" }, backend: model.info.backend };
}"""


@pytest.fixture(scope="module")
def digits(web_server):
    """The demo's model trained as `pyml demo digits` trains it, exported under the test server's root."""
    demo = load_demo("digits")
    model, (_, x_test, _, y_test), accuracy = demo.train()
    export(model, web_server.path("digits/model"))
    return {"model": model, "x_test": x_test, "y_test": y_test, "accuracy": accuracy,
            "url": web_server.url("digits/model/model.json"),
            "runtime": web_server.url("digits/model/runtime/index.js"),
            "probabilities": np.asarray(model.predict(x_test, verbose=0))}


def test_demo_model_reaches_95_percent_test_accuracy(digits):
    assert len(digits["x_test"]) == 360  # 20 % of load_digits' 1,797, stratified
    assert np.bincount(digits["y_test"]).min() >= 35, "the split is not stratified"
    assert digits["accuracy"] >= 0.95
    assert digits["accuracy"] == np.mean(digits["probabilities"].argmax(axis=1) == digits["y_test"])


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_browser_predicts_the_whole_test_split_like_python(digits, harness, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    result = harness.evaluate(PREDICT_IN_PAGE, [digits["runtime"], digits["url"], backend, encode(digits["x_test"])])
    assert result["backend"] == backend
    probabilities = decode(result["output"])
    expected = digits["probabilities"]
    assert probabilities.shape == expected.shape == (360, 10)
    assert np.abs(probabilities - expected).max() <= TOLERANCE
    assert np.array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

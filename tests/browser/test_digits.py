"""The digits demo model end to end: trained in Python on scikit-learn's digits (≥ 95 % test accuracy),
exported, and run in Chromium on WebGPU and on the CPU backend over the whole test split in one call
each. The browser's probabilities equal Python's within 1e-4, with the same predicted digit everywhere."""
import numpy as np
import pytest

from pyml.cli import load_demo
from webexport import export

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def digits(web_server):
    """The demo's model trained as `pyml demo digits` trains it, exported under the test server's root."""
    demo = load_demo("digits")
    model, (_, x_test, _, y_test), accuracy = demo.train()
    export(model, web_server.path("digits/model"))
    return {"model": model, "x_test": x_test, "y_test": y_test, "accuracy": accuracy,
            "url": web_server.url("digits/model/model.json"),
            "probabilities": np.asarray(model.predict(x_test, verbose=0))}


def test_demo_model_reaches_95_percent_test_accuracy(digits):
    assert len(digits["x_test"]) == 360  # 20 % of load_digits' 1,797, stratified
    assert np.bincount(digits["y_test"]).min() >= 35, "the split is not stratified"
    assert digits["accuracy"] >= 0.95
    assert digits["accuracy"] == np.mean(digits["probabilities"].argmax(axis=1) == digits["y_test"])


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
def test_browser_predicts_the_whole_test_split_like_python(digits, harness, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    (probabilities,), info = harness.run(digits["url"], backend, [digits["x_test"]])
    assert info["backend"] == backend
    expected = digits["probabilities"]
    assert probabilities.shape == expected.shape == (360, 10)
    assert np.abs(probabilities - expected).max() <= TOLERANCE
    assert np.array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

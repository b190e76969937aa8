"""Logits of ±1e4 in Chromium, on the WebGPU, WebAssembly and plain-JavaScript backends: the bundles of
tests/webexport/test_extreme_logits_native.py (softmax, log-softmax, log-sum-exp, sigmoid, softplus alone, and
after a Dense as a classifier head) give finite outputs equal to their float64 references."""
import numpy as np
import pytest

from tests import extreme_logits as ref
from tests.webexport.test_extreme_logits_native import FUNCTIONS, graph_bundle, head_bundle

BACKENDS = ["webgpu", "wasm", "js"]


@pytest.fixture(scope="module")
def urls(web_server):
    """The bundles, exported once under the server's root: ``{"functions": url, activation: url, ...}``."""
    graph_bundle(web_server.path("extreme/functions"))
    found = {"functions": web_server.url("extreme/functions/model.json")}
    for activation in ("softmax", "log_softmax", "sigmoid"):
        head_bundle(web_server.path(f"extreme/{activation}"), activation)
        found[activation] = web_server.url(f"extreme/{activation}/model.json")
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_function_of_extreme_logits_matches_float64_in_the_browser(shared_page, urls, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    outputs, _ = harness.run(urls["functions"], backend, [ref.LOGITS])
    assert len(outputs) == len(FUNCTIONS)
    for (name, (_, reference)), actual in zip(FUNCTIONS.items(), outputs):
        assert np.isfinite(actual).all(), f"{name} on {backend}: {actual}"
        np.testing.assert_allclose(actual, reference(ref.z64()), rtol=1e-6, atol=1e-6, err_msg=f"{name} on {backend}")
    assert not errors.unexpected(), errors.unexpected()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["softmax", "log_softmax", "sigmoid"])
def test_a_dense_head_with_extreme_logits_matches_float64_in_the_browser(shared_page, urls, backend, activation):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    (actual,), _ = harness.run(urls[activation], backend, [ref.LOGITS])
    assert np.isfinite(actual).all(), f"{activation} on {backend}: {actual}"
    np.testing.assert_allclose(actual, getattr(ref, activation)(ref.z64()), rtol=1e-6, atol=1e-6,
                               err_msg=f"{activation} on {backend}")
    assert not errors.unexpected(), errors.unexpected()

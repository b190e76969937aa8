"""Keras-style models in Chromium: each model of ``tests/webexport/keras_models.py`` (CNN, depthwise conv,
Batch/LayerNormalization, causal Conv1D, int32 Embedding, a functional model with Add/Concatenate,
Conv2DTranspose, Conv3D, Dropout, Embedding(mask_zero) with masked pooling, causal MultiHeadAttention with an
attention_mask input, a small transformer, and recurrent models: SimpleRNN, stacked LSTMs with go_backwards, GRU
with reset_after true and false, an LSTM's return_sequences/return_state, LSTM and GRU under an explicit mask,
Bidirectional LSTM and GRU (concat, ave), a masked Bidirectional SimpleRNN (sum) and Embedding(mask_zero) →
Bidirectional LSTM; and issue #8's layers: SeparableConv1D/2D, grouped Conv1D/2D/3D, PReLU, Group/RMS/Unit
normalization, Permute, RepeatVector, Dot, Identity and the training-only noise layers) is trained briefly in
Python, exported with a dynamic batch, and run in one page session on the WebGPU, WebAssembly and
plain-JavaScript backends, as a web page runs it.

Each model is loaded once per backend and run at batch 5 then batch 1 (so the WebGPU backend rebuilds
its buffers, and the wasm backend its arena, for a new batch size between calls); the outputs must equal ``model.predict`` within 1e-4
(max abs) with the same class decisions for classifiers. Two more checks use the public entry points:
``predict`` on nested JavaScript arrays of int32 token ids, and a WebGPU batch large enough (8,192 digits)
that a dispatch passes 65,535 workgroups and must be folded.
"""
import numpy as np
import pytest

from tests.browser.harness import BrowserError
from tests.webexport.keras_models import MODELS, NUM_TEST, decisions, digits, predict, trained
from webexport import export

TOLERANCE = 1e-4
BATCHES = (NUM_TEST, 1)


@pytest.fixture(scope="module")
def bundle_url(web_server):
    """Export each model on first use under the server's root; ``bundle_url(name)`` is its model.json URL.
    The page loads the runtime from /runtime/ (web/src), so the bundles skip their own copy."""
    urls = {}

    def get(name):
        if name not in urls:
            export(trained(name).model, web_server.path(f"models/{name}"), include_runtime=False)
            urls[name] = web_server.url(f"models/{name}/model.json")
        return urls[name]

    return get


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
@pytest.mark.parametrize("name", MODELS)
def test_browser_matches_predict(shared_page, bundle_url, name, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    case = trained(name)
    series = [[x[:batch] for x in case.x] for batch in BATCHES]
    results, info = harness.run_series(bundle_url(name), backend, series)
    assert info["backend"] == backend
    assert [spec["dtype"] for spec in info["inputs"]] == [str(x.dtype) for x in case.x]
    for batch, (actual,) in zip(BATCHES, results):
        expected = predict(case, batch)
        assert actual.shape == expected.shape and actual.dtype == np.float32, f"{name} at batch {batch}"
        difference = float(np.abs(actual - expected).max())
        assert difference <= TOLERANCE, f"{name} on {backend} at batch {batch}: max abs diff {difference:.3g}"
        if case.kind != "regression":
            np.testing.assert_array_equal(decisions(case, actual), decisions(case, expected),
                                          err_msg=f"{name} on {backend} at batch {batch}: class decisions differ")
    assert not errors.unexpected(), errors.unexpected()


# A page's own call: plain nested JavaScript arrays of token ids into predict(), as in the README.
PREDICT_NESTED = """async ([url, backend, ids]) => {
  const model = await harness.runtime.loadModel(url, { backend });
  try {
    const { data, shape, dtype } = await model.predict(ids);
    return { data: Array.from(data), shape, dtype };
  } finally {
    model.dispose();
  }
}"""


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_predict_takes_nested_arrays_of_token_ids(shared_page, bundle_url, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    case = trained("embedding")
    ids = case.x[0][:3]
    result = harness.evaluate(PREDICT_NESTED, [bundle_url("embedding"), backend, ids.tolist()])
    assert result["shape"] == [3, 2] and result["dtype"] == "float32"
    actual = np.asarray(result["data"], np.float32).reshape(3, 2)
    assert np.abs(actual - predict(case, 3)).max() <= TOLERANCE
    assert not errors.unexpected(), errors.unexpected()


def test_webgpu_folds_a_dispatch_past_65535_workgroups(shared_page, bundle_url):
    # the CNN's first conv runs 512 threads per example: 8,192 examples need 65,536 workgroups of 64, past
    # WebGPU's per-dimension cap, so the runtime dispatches (65535, 2) and the kernels unfold it
    harness, errors = shared_page
    harness.require_webgpu()
    case = trained("cnn")
    x = np.resize(digits()[0], (8192, 64)).reshape(8192, 8, 8, 1)
    (actual,), _ = harness.run(bundle_url("cnn"), "webgpu", [x])
    expected = np.asarray(case.model.predict(x, verbose=0))
    assert np.abs(actual - expected).max() <= TOLERANCE
    np.testing.assert_array_equal(actual.argmax(axis=1), expected.argmax(axis=1))
    assert not errors.unexpected(), errors.unexpected()


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
@pytest.mark.parametrize("steps", [30, 10])
def test_a_sequence_of_another_length_is_refused_naming_the_input_and_both_lengths(shared_page, bundle_url, backend, steps):
    """Export fixes the number of time steps (static shapes); a longer (or shorter) sequence is refused before
    anything runs (Python's loader: tests/webexport/test_models_native.py)."""
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    x = np.zeros((2, steps, 3), np.float32)
    with pytest.raises(BrowserError, match=rf'input "\w+": a sequence of {steps} steps, but the model was exported '
                                           rf"for sequences of 20 steps .*{'cut' if steps > 20 else 'pad'} the sequence"):
        harness.run_series(bundle_url("bidirectional"), backend, [[x]])
    assert not errors.unexpected(), errors.unexpected()

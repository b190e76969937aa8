"""Shorter sequences in the browser (issue #7: "any sequence length up to the one exported"): a bundle exported with
``sequence_length=20`` from a model that masks its padding (Embedding(mask_zero=True) -> LSTM -> Dense, and
Embedding(mask_zero=True) -> GlobalAveragePooling1D) takes sequences of 1, 7 and 20 steps at batch 1 and 3 on WebGPU,
WebAssembly and plain JavaScript, padding them to 20 in the runtime, and gives the numbers the Python model gives on
the sequence as it is (max abs 1e-4). One page load runs every length and batch in an interleaved order, so the
runtime's reused padding array is refilled between calls. An unmasked LSTM refuses 7 steps, saying how to get
shorter sequences accepted. (Python's side: tests/webexport/test_sequence_length.py.)"""
import numpy as np
import pytest

from tests.browser.harness import BrowserError
from tests.webexport.test_sequence_length import STEPS, VOCABULARY, masked_average, masked_lstm
from webexport import export

TOLERANCE = 1e-4
# (batch, steps) in the order one loaded model runs them
SERIES = [(3, 7), (3, 1), (1, 20), (1, 7), (3, 20), (1, 1)]
MODELS = {"lstm": masked_lstm, "average": masked_average, "unmasked": lambda: masked_lstm(mask_zero=False)}


@pytest.fixture(scope="module")
def exported(web_server):
    """``exported(name)``: (the model, its bundle's model.json URL), exported with sequence_length=20 on first use."""
    done = {}

    def get(name):
        if name not in done:
            model = MODELS[name]()
            export(model, web_server.path(f"seqlen/{name}"), include_runtime=False, sequence_length=STEPS)
            done[name] = model, web_server.url(f"seqlen/{name}/model.json")
        return done[name]

    return get


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
@pytest.mark.parametrize("name", ["lstm", "average"])
def test_shorter_sequences_give_pythons_numbers(shared_page, exported, name, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    model, url = exported(name)
    rng = np.random.default_rng(7)
    inputs = [rng.integers(1, VOCABULARY, (batch, steps)).astype(np.int32) for batch, steps in SERIES]
    results, info = harness.run_series(url, backend, [[ids] for ids in inputs])
    assert info["backend"] == backend and info["inputs"][0]["shape"] == [None, STEPS]
    for ids, (actual,) in zip(inputs, results):
        expected = np.asarray(model(ids, training=False))
        assert actual.shape == expected.shape, f"{name} on {backend}, shape {ids.shape}"
        difference = float(np.abs(actual - expected).max())
        assert difference <= TOLERANCE, f"{name} on {backend}, input shape {ids.shape}: max abs diff {difference:.3g}"
    assert not errors.unexpected(), errors.unexpected()


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
def test_an_unmasked_lstm_refuses_a_shorter_sequence_saying_how_to_get_it_accepted(shared_page, exported, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    _, url = exported("unmasked")
    with pytest.raises(BrowserError, match=rf'input "\w+": a sequence of 7 steps, but the model was exported for '
                                           rf"sequences of {STEPS} steps \(its recurrent layers run that many\): "
                                           rf"pad the sequence to {STEPS} steps; .*mask the padding "
                                           r"\(Embedding\(mask_zero=True\) or a Masking layer\)"):
        harness.run_series(url, backend, [[np.ones((2, 7), np.int32)]])
    assert not errors.unexpected(), errors.unexpected()


@pytest.mark.parametrize("steps, hint", [(STEPS + 1, f"cut the sequence to {STEPS} steps"),
                                         (0, "a sequence needs at least 1 step")])
def test_a_marked_input_refuses_a_longer_or_empty_sequence(shared_page, exported, steps, hint):
    harness, errors = shared_page
    _, url = exported("lstm")
    with pytest.raises(BrowserError, match=rf"a sequence of {steps} steps, but the model was exported for sequences "
                                           rf"of 1 to {STEPS} steps: {hint}"):
        harness.run_series(url, "cpu", [[np.ones((2, steps), np.int32)]])
    assert not errors.unexpected(), errors.unexpected()

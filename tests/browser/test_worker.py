"""The worker runtime (web/src/worker-client.js, worker.js) in headless Chromium: a model loaded with
``loadModel(url, {worker})`` gives the numbers the main-thread runtime and eager pyml give, on WebGPU (inside the
worker) and on the CPU paths; typed-array inputs are transferred (detached after the call), partial views copied;
two models share one worker; errors cross with their name and message; ``dispose`` ends a worker the model owns and
only that; and the page stays responsive: a requestAnimationFrame loop sees no gap over 100 ms while a large convnet
batch runs in the worker, and over 100 ms while the same batch runs on the main thread."""
import numpy as np
import pytest

import pyml
from pyml import layers
from pyml.graph import trace
from tests.browser.harness import Harness, open_harness_page
from webexport.export import export

FEATURES, UNITS = 8, 5
RNG = np.random.default_rng(11)
KERNEL = RNG.standard_normal((FEATURES, UNITS)).astype(np.float32)
BIAS = RNG.standard_normal(UNITS).astype(np.float32)

# Records every Worker the page starts and every terminate() called on one, before the page's scripts run.
SPY_ON_WORKERS = """
window.workerLog = { started: [], terminated: 0 };
const PageWorker = window.Worker;
window.Worker = class extends PageWorker {
  constructor(...args) { super(...args); window.workerLog.started.push(String(args[0])); }
  terminate() { window.workerLog.terminated += 1; super.terminate(); }
};
"""


def dense(x):
    """relu(x @ W + b), as in test_runtime.py."""
    w = pyml.Variable(KERNEL, name="dense/kernel")
    b = pyml.Variable(BIAS, name="dense/bias")
    return pyml.ops.relu(pyml.ops.add(pyml.ops.matmul(x, w), b))


def eager(x):
    return dense(pyml.Tensor(x)).numpy()


def inputs(batch, seed=0):
    return np.random.default_rng(seed + batch).standard_normal((batch, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def worker_page(browser, web_server):
    """One harness page (with the Worker spy) for the module: ``(Harness, PageErrors)``."""
    page, errors = open_harness_page(browser, web_server, init_script=SPY_ON_WORKERS)
    try:
        yield Harness(page), errors
    finally:
        page.close()
    errors.check()


@pytest.fixture(scope="module")
def dense_url(web_server):
    export(trace(dense, [((None, FEATURES), "float32")]), web_server.path("worker-tests/dense"), include_runtime=False)
    return web_server.url("worker-tests/dense/model.json")


def worker_log(harness):
    return harness.evaluate("({ started: workerLog.started.length, terminated: workerLog.terminated })")


# --- Same numbers ------------------------------------------------------------------------------------------

COMPARE = """async ([url, backend, batches]) => {
    const { loadModel } = harness.runtime;
    const x = (b) => Float32Array.from({ length: b * 8 }, (_, i) => Math.cos(i * 0.37 + b) * 2);
    const main = await loadModel(url, { backend });
    const inWorker = await loadModel(url, { backend, worker: true });
    const out = [];
    for (const b of batches) {
        const m = await main.predict(x(b), [b, 8]);
        const w = await inWorker.predict(x(b), [b, 8]);
        out.push({ x: Array.from(x(b)), main: Array.from(m.data), worker: Array.from(w.data), shape: w.shape,
                   type: w.data.constructor.name });
    }
    main.dispose(); inWorker.dispose();
    return { out, main: main.info, worker: inWorker.info };
}"""


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_worker_gives_the_main_thread_numbers_and_eager_pyml(worker_page, dense_url, backend):
    harness, _ = worker_page
    if backend == "webgpu":
        harness.require_webgpu()  # and the worker itself must find navigator.gpu, or loading with "webgpu" fails
    result = harness.evaluate(COMPARE, [dense_url, backend, [1, 33, 4]])
    assert result["worker"] == result["main"] and result["worker"]["backend"] == backend
    for run in result["out"]:
        x = np.array(run["x"], np.float32).reshape(-1, FEATURES)
        assert run["shape"] == [len(x), UNITS] and run["type"] == "Float32Array"
        np.testing.assert_array_equal(run["worker"], run["main"])
        np.testing.assert_allclose(np.array(run["worker"], np.float32).reshape(-1, UNITS), eager(x), rtol=1e-5, atol=1e-5)


def test_auto_in_a_worker_chooses_as_on_the_page(worker_page, dense_url):
    harness, _ = worker_page
    info = harness.evaluate("""async (url) => {
        const m = await harness.runtime.loadModelInWorker(url);
        m.dispose();
        return m.info;
    }""", dense_url)
    assert info["backend"] == "wasm" and "swiftshader" in info["reason"], info  # the worker sees the same adapter


# --- Transfer ------------------------------------------------------------------------------------------------

def test_inputs_are_transferred_partial_views_copied_outputs_moved(worker_page, dense_url):
    harness, _ = worker_page
    result = harness.evaluate("""async (url) => {
        const m = await harness.runtime.loadModel(url, { worker: true, backend: "wasm" });
        const whole = Float32Array.from({ length: 16 }, (_, i) => i / 4 - 2);
        const kept = Array.from(whole);
        const pending = m.predict(whole, [2, 8]);
        const detached = whole.byteLength === 0 && whole.buffer.byteLength === 0;  // at once, before the answer
        const y = (await pending).data;
        const big = Float32Array.from({ length: 24 }, (_, i) => i / 4 - 2);
        const named = await m.run({ x: { data: big.subarray(8), shape: [2, 8] } });  // rows 1..2 of a kept buffer
        m.dispose();
        const z = Object.values(named)[0].data;
        return { detached, kept, y: Array.from(y), yOwnBuffer: y.buffer.byteLength === y.byteLength,
                 big: Array.from(big), z: Array.from(z), names: Object.keys(named) };
    }""", dense_url)
    assert result["detached"], "a whole-buffer input must be transferred: detached once the call is sent"
    assert result["yOwnBuffer"], "each output comes back in a buffer of its own"
    kept = np.array(result["kept"], np.float32).reshape(2, FEATURES)
    np.testing.assert_allclose(np.array(result["y"]).reshape(2, UNITS), eager(kept), rtol=1e-5, atol=1e-5)
    big = np.array(result["big"], np.float32)
    assert big.shape == (24,) and big[0] == -2, "a partial view is copied: the caller keeps its whole buffer"
    assert len(result["names"]) == 1
    np.testing.assert_allclose(np.array(result["z"]).reshape(2, UNITS), eager(big[8:].reshape(2, FEATURES)),
                               rtol=1e-5, atol=1e-5)

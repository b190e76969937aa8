"""Long-running pages in Chromium: thousands of predicts at mixed batch sizes and hundreds of load/dispose cycles
leave the live GPU buffer count, the WebAssembly memory and the JS heap where they were; a lost WebGPU device
makes calls reject with a clear error, and loading again works; a dynamic batch at which a value would pass
2^31 - 1 elements (32-bit index math) is refused naming it.

Live GPU buffers are counted by an init script that wraps ``GPUDevice.prototype.createBuffer`` and
``GPUBuffer.prototype.destroy`` before the runtime loads (a buffer of a destroyed device counts as freed: the
device frees it); live wasm memories by WeakRefs to every instance's exported memory; the heap by CDP
(``HeapProfiler.collectGarbage`` then ``Runtime.getHeapUsage``), exact after a full collection.

The counts are the issue's own (10,000 predicts, 200 cycles per backend): they fit in about a minute.
"""
import re

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from tests.browser.harness import decode, open_harness_page
from webexport.export import export

FEATURES, HIDDEN, UNITS = 16, 32, 4
BATCHES = [1, 7, 32, 3, 16, 64, 2]  # 7 sizes > the 4 each backend caches: buffers are freed and remade all along
# The 10,000 predicts (rounded up to a multiple of len(BATCHES)) and 200 cycles: ~30 s on WebGPU through
# SwiftShader, ~20 s of cycles, 5 s on wasm, on a loaded 2-core machine.
PREDICTS = {"wasm": 10_003, "webgpu": 10_003}
CYCLES = {"wasm": 200, "webgpu": 200}
# Measured growth is 0.09-0.2 MB whatever the count (3,500 or 10,003 predicts, 100 or 200 cycles): code and inline
# caches warming. Leaking one result per predict ({data, shape, dtype} + its typed array, ~250 B of V8 heap) over
# 10,003 predicts is ~2.5 MB, one Model per cycle (its manifest alone is kilobytes) more: 1 MiB catches both.
HEAP_MARGIN = 2**20

RNG = np.random.default_rng(3)
W1 = RNG.standard_normal((FEATURES, HIDDEN)).astype(np.float32) / 4
B1 = RNG.standard_normal(HIDDEN).astype(np.float32)
W2 = RNG.standard_normal((HIDDEN, UNITS)).astype(np.float32) / 4
B2 = RNG.standard_normal(UNITS).astype(np.float32)

COUNTING = """
(() => {
  const live = new Set(), devices = [], memories = [];
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (descriptor) {
    const buffer = create.call(this, descriptor);
    buffer.__device = this;
    live.add(buffer);
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function () { live.delete(this); return destroy.call(this); };
  const destroyDevice = GPUDevice.prototype.destroy;
  GPUDevice.prototype.destroy = function () {
    for (const b of [...live]) if (b.__device === this) live.delete(b);
    return destroyDevice.call(this);
  };
  const request = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await request.apply(this, args);
    devices.push(device);
    return device;
  };
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async function (...args) {
    const result = await instantiate.apply(this, args);
    const instance = result.instance || result;
    if (instance.exports && instance.exports.memory) memories.push(new WeakRef(instance.exports.memory));
    return result;
  };
  window.probe = {
    buffers: () => live.size,
    lastDevice: () => devices[devices.length - 1],
    memories: () => memories.map((m) => m.deref()).filter(Boolean).map((m) => m.buffer.byteLength),
  };
})();
"""

# Predict `count` times cycling through `batches`; each result is checked for its shape (the numbers are checked
# against numpy on the last round, returned encoded).
PREDICT_LOOP = """async ([model, count, batches, features]) => {
  const m = window.models[model];
  const xs = batches.map((b) => Float32Array.from({ length: b * features }, (_, i) => Math.sin(i + b)));
  let last = [];
  for (let i = 0; i < count; i++) {
    const k = i % batches.length;
    const y = await m.predict(xs[k], [batches[k], features]);
    if (y.shape[0] !== batches[k]) throw new Error(`predict ${i}: shape ${y.shape} for batch ${batches[k]}`);
    if (i >= count - batches.length) last.push(y);
  }
  return last.map(harness.encodeForTest);
}"""

CYCLE_LOOP = """async ([url, backend, count]) => {
  for (let i = 0; i < count; i++) {
    const m = await harness.runtime.loadModel(url, { backend });
    await m.predict(new Float32Array(%d), [1, %d]);
    m.dispose();
  }
  await new Promise((r) => setTimeout(r, 50)); // dispose frees after the queue drains
}""" % (FEATURES, FEATURES)


def mlp(x):
    h = pyml.ops.relu(pyml.ops.add(pyml.ops.matmul(x, pyml.Variable(W1, name="d1/kernel")), pyml.Variable(B1, name="d1/bias")))
    return pyml.ops.add(pyml.ops.matmul(h, pyml.Variable(W2, name="d2/kernel")), pyml.Variable(B2, name="d2/bias"))


def reference(batch):
    x = np.sin(np.arange(batch * FEATURES, dtype=np.float64) + batch).astype(np.float32).reshape(batch, FEATURES)
    return np.maximum(x @ W1 + B1, 0) @ W2 + B2


@pytest.fixture(scope="module")
def mlp_bundle(web_server):
    export(trace(mlp, [((None, FEATURES), "float32")]), web_server.path("long-runs/mlp"))
    return web_server.url("long-runs/mlp/model.json")


@pytest.fixture
def probe_page(browser, web_server, page_errors):
    page, _ = open_harness_page(browser, web_server, page_errors, init_script=COUNTING)
    page.evaluate("""() => {
      window.models = {};
      harness.encodeForTest = ({ data, shape, dtype }) => {
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        return { b64: btoa(String.fromCharCode(...bytes)), shape, dtype };
      };
    }""")
    cdp = page.context.new_cdp_session(page)

    def heap():
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("HeapProfiler.collectGarbage")
        return cdp.send("Runtime.getHeapUsage")["usedSize"]

    try:
        yield page, heap
    finally:
        page.close()
    page_errors.check()


def snapshot(page, heap):
    used = heap()
    return {"buffers": page.evaluate("probe.buffers()"), "memories": page.evaluate("probe.memories()"), "heap": used}


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_mixed_batch_predicts_keep_buffers_memory_and_heap_flat(probe_page, mlp_bundle, harness_backend_check, backend):
    page, heap = probe_page
    harness_backend_check(page, backend)
    page.evaluate("async ([url, backend]) => { window.models.m = await harness.runtime.loadModel(url, { backend }); }",
                  [mlp_bundle, backend])
    assert page.evaluate("models.m.info.backend") == backend
    page.evaluate(PREDICT_LOOP, ["m", 2 * len(BATCHES), BATCHES, FEATURES])  # warm-up: every batch size seen
    before = snapshot(page, heap)
    last = page.evaluate(PREDICT_LOOP, ["m", PREDICTS[backend], BATCHES, FEATURES])
    after = snapshot(page, heap)
    for encoded, batch in zip(last, BATCHES):
        np.testing.assert_allclose(decode(encoded), reference(batch), rtol=1e-4, atol=1e-4)
    print(f"\n{backend}: {PREDICTS[backend]} predicts: before {before}, after {after}")
    assert after["buffers"] == before["buffers"], (before, after)
    assert after["memories"] == before["memories"], (before, after)
    assert after["heap"] - before["heap"] < HEAP_MARGIN, (before, after)
    page.evaluate("models.m.dispose()")


@pytest.mark.parametrize("backend", ["wasm", "webgpu"])
def test_load_dispose_cycles_return_to_baseline(probe_page, mlp_bundle, harness_backend_check, backend):
    page, heap = probe_page
    harness_backend_check(page, backend)
    page.evaluate(CYCLE_LOOP, [mlp_bundle, backend, 3])  # warm-up: modules fetched and compiled once
    before = snapshot(page, heap)
    page.evaluate(CYCLE_LOOP, [mlp_bundle, backend, CYCLES[backend]])
    after = snapshot(page, heap)
    print(f"\n{backend}: {CYCLES[backend]} load/dispose cycles: before {before}, after {after}")
    assert before["buffers"] == after["buffers"] == 0, (before, after)
    # Every model's wasm memory is collectable once disposed (a WeakRef kept per instance sees it go).
    assert len(after["memories"]) <= 1, (before, after)
    assert after["heap"] - before["heap"] < HEAP_MARGIN, (before, after)


@pytest.fixture
def harness_backend_check():
    def check(page, backend):
        if backend == "webgpu" and page.evaluate("harness.adapterInfo()") is None:
            raise AssertionError("no WebGPU adapter in headless Chromium (see tests/browser/harness.py CHROMIUM_ARGS)")
    return check


LOSE_DEVICE = """async ([url, batch, features]) => {
  const x = Float32Array.from({ length: batch * features }, (_, i) => Math.sin(i + batch));
  const settle = (p) => p.then((y) => harness.encodeForTest(y), (e) => ({ error: String(e.message) }));
  const m = await harness.runtime.loadModel(url, { backend: "webgpu" });
  const before = await settle(m.predict(x, [batch, features]));
  const inflight = settle(m.predict(x, [batch, features])); // queued before the loss: may finish or be cut off
  probe.lastDevice().destroy();
  const queued = settle(m.predict(x, [batch, features]));
  const results = { before, inflight: await inflight, queued: await queued };
  await new Promise((r) => setTimeout(r, 50));
  results.later = await settle(m.run([{ data: x, shape: [batch, features] }]).then(([y]) => y));
  m.dispose();
  m.dispose();
  const again = await harness.runtime.loadModel(url, { backend: "webgpu" });
  results.again = await settle(again.predict(x, [batch, features]));
  results.backend = again.info.backend;
  again.dispose();
  await new Promise((r) => setTimeout(r, 50));
  results.buffers = probe.buffers();
  return results;
}"""
LOST = r"this Model cannot run: its WebGPU device was lost \(destroyed: .*\); load the model again with loadModel"


def test_lost_webgpu_device_rejects_clearly_and_loading_again_works(probe_page, mlp_bundle, harness_backend_check):
    page, _ = probe_page
    harness_backend_check(page, "webgpu")
    batch = 7
    r = page.evaluate(LOSE_DEVICE, [mlp_bundle, batch, FEATURES])
    expected = reference(batch)
    np.testing.assert_allclose(decode(r["before"]), expected, rtol=1e-4, atol=1e-4)
    if "error" in r["inflight"]:  # cut off mid-run: the same clear error, not the readback's AbortError
        assert re.fullmatch(LOST + ".*", r["inflight"]["error"]), r["inflight"]
    else:
        np.testing.assert_allclose(decode(r["inflight"]), expected, rtol=1e-4, atol=1e-4)
    for key in ("queued", "later"):
        assert "error" in r[key] and re.fullmatch(LOST + ".*", r[key]["error"]), (key, r[key])
    assert r["backend"] == "webgpu"
    np.testing.assert_allclose(decode(r["again"]), expected, rtol=1e-4, atol=1e-4)
    assert r["buffers"] == 0


OUTER = 1024  # a [batch, 1024, 1024] product, fused into its sum and never stored: 2^31 elements at batch 2048


def outer_sum(x):
    return pyml.ops.sum(pyml.ops.multiply(pyml.ops.expand_dims(x, 2), pyml.ops.expand_dims(x, 1)), axis=1)


def test_a_batch_whose_fused_values_overflow_32_bit_indices_is_refused(page, web_server):
    graph = trace(outer_sum, [((None, OUTER), "float32")])
    export(graph, web_server.path("long-runs/outer"))
    product = next(n.name for n in graph.nodes if n.target == "mul")
    results = page.evaluate("""async ([url, side]) => {
      const out = {};
      for (const backend of ["webgpu", "wasm"]) {
        const m = await harness.runtime.loadModel(url, { backend });
        const ok = await m.predict(Float32Array.from({ length: 2 * side }, (_, i) => (i % 7) - 3), [2, side]);
        let refused = null;
        try { await m.predict(new Float32Array(2048 * side), [2048, side]); } catch (e) { refused = e.message; }
        out[backend] = { ok: Array.from(ok.data), refused };
        m.dispose();
      }
      return out;
    }""", [web_server.url("long-runs/outer/model.json"), OUTER])
    x = (np.arange(2 * OUTER) % 7 - 3).astype(np.float32).reshape(2, OUTER)
    expected = x * x.sum(axis=1, keepdims=True)  # sum_i x[b, i] x[b, j]
    for backend, r in results.items():
        np.testing.assert_allclose(np.reshape(r["ok"], (2, OUTER)), expected, rtol=1e-5, err_msg=backend)
        assert r["refused"] == (f"batch 2048: %{product} (mul) would hold 2147483648 elements, past 2^31 - 1, the most "
                                "the kernels' 32-bit index math reaches: predict in smaller batches"), (backend, r)

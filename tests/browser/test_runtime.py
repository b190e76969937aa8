"""The JS runtime (web/src) in headless Chromium: WebGPU and CPU results equal eager pyml, for any batch,
from nested arrays and from nested folders; dispose and info; damaged bundles refused with clear errors;
and the three-lines-of-JS usage page works."""
import json
import re
import shutil

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from tests.browser.harness import ROOT, BrowserError, watch
from webexport.export import export

BACKENDS = ["webgpu", "cpu"]
FEATURES, UNITS = 8, 5
RNG = np.random.default_rng(7)
KERNEL = RNG.standard_normal((FEATURES, UNITS)).astype(np.float32)
BIAS = RNG.standard_normal(UNITS).astype(np.float32)


def dense(x):
    """The model under test: relu(x @ W + b)."""
    w = pyml.Variable(KERNEL, name="dense/kernel")
    b = pyml.Variable(BIAS, name="dense/bias")
    return pyml.ops.relu(pyml.ops.add(pyml.ops.matmul(x, w), b))


def eager(x):
    return dense(pyml.Tensor(x)).numpy()


def inputs(batch, seed=0):
    return np.random.default_rng(seed + batch).standard_normal((batch, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def dense_bundle(web_server):
    """relu(x @ W + b) with a dynamic batch, exported under the server root; returns its model.json URL."""
    graph = trace(dense, [((None, FEATURES), "float32")])
    export(graph, web_server.path("runtime-tests/dense"))
    return web_server.url("runtime-tests/dense/model.json")


def damaged_copy(web_server, name, change):
    """Copy the dense bundle to runtime-tests/<name>, let ``change(folder, manifest)`` damage it; returns its URL."""
    src, dst = web_server.path("runtime-tests/dense"), web_server.path(f"runtime-tests/{name}")
    shutil.copytree(src, dst, dirs_exist_ok=True)
    manifest = json.loads((dst / "model.json").read_text())
    change(dst, manifest)
    (dst / "model.json").write_text(json.dumps(manifest))
    return web_server.url(f"runtime-tests/{name}/model.json")


def test_webgpu_adapter_exists(harness):
    info = harness.require_webgpu()
    assert info["vendor"], f"the adapter reports no vendor: {info}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_matches_eager_at_batch_1_4_33(harness, dense_bundle, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    batches = [1, 4, 33, 4]  # back to 4: the cached buffers and bind groups of an earlier batch size
    series = [[inputs(b)] for b in batches]
    outputs, info = harness.run_series(dense_bundle, backend, series)
    assert info["backend"] == backend
    for b, (y,) in zip(batches, outputs):
        assert y.shape == (b, UNITS)
        np.testing.assert_allclose(y, eager(inputs(b)), rtol=1e-5, atol=1e-5, err_msg=f"{backend} batch {b}")


def test_auto_backend_picks_webgpu_when_an_adapter_exists(harness, dense_bundle):
    harness.require_webgpu()
    info = harness.evaluate("async (url) => { const m = await harness.runtime.loadModel(url); m.dispose(); return m.info; }",
                            dense_bundle)
    assert info["backend"] == "webgpu"


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_array_input_has_its_shape_inferred(harness, dense_bundle, backend):
    x = inputs(3)
    result = harness.evaluate("""async ([url, backend, x]) => {
        const m = await harness.runtime.loadModel(url, { backend });
        const y = await m.predict(x);
        m.dispose();
        return { data: Array.from(y.data), shape: y.shape };
    }""", [dense_bundle, backend, x.tolist()])
    assert result["shape"] == [3, UNITS]
    np.testing.assert_allclose(np.array(result["data"], np.float32).reshape(3, UNITS), eager(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_predicts_each_get_their_own_result(harness, dense_bundle, backend):
    xs = [inputs(b, seed=11) for b in (2, 5, 2)]
    results = harness.evaluate("""async ([url, backend, xs]) => {
        const m = await harness.runtime.loadModel(url, { backend });
        const ys = await Promise.all(xs.map((x) => m.predict(x)));
        m.dispose();
        return ys.map((y) => Array.from(y.data));
    }""", [dense_bundle, backend, [x.tolist() for x in xs]])
    for x, y in zip(xs, results):
        np.testing.assert_allclose(np.array(y, np.float32).reshape(len(x), UNITS), eager(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bundle_in_a_nested_folder_resolves_files_relative_to_the_manifest(harness, web_server, backend):
    graph = trace(dense, [((None, FEATURES), "float32")])
    export(graph, web_server.path("runtime-tests/deeply/nested/folder/model"))
    (y,), _ = harness.run("runtime-tests/deeply/nested/folder/model/model.json", backend, [inputs(2)])
    np.testing.assert_allclose(y, eager(inputs(2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_describes_backend_adapter_and_signature(harness, dense_bundle, backend):
    info = harness.evaluate("async ([url, backend]) => { const m = await harness.runtime.loadModel(url, { backend }); "
                            "m.dispose(); return m.info; }", [dense_bundle, backend])
    assert info["backend"] == backend
    assert info["format_version"] == 1
    assert [v["shape"] for v in info["inputs"]] == [[None, FEATURES]]
    assert [(v["shape"], v["dtype"]) for v in info["outputs"]] == [([None, UNITS], "float32")]
    if backend == "webgpu":
        assert set(info["adapter"]) == {"vendor", "architecture", "description"} and info["adapter"]["vendor"]
    else:
        assert info["adapter"] is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_dispose_makes_later_predicts_reject(harness, dense_bundle, backend):
    message = harness.evaluate("""async ([url, backend]) => {
        const m = await harness.runtime.loadModel(url, { backend });
        await m.predict(new Float32Array(8), [1, 8]);
        m.dispose();
        m.dispose();  // harmless twice
        try { await m.predict(new Float32Array(8), [1, 8]); return null; } catch (e) { return e.message; }
    }""", [dense_bundle, backend])
    assert message is not None and "disposed" in message


def test_on_progress_reports_weights_and_ready(harness, dense_bundle):
    events = harness.evaluate("""async (url) => {
        const events = [];
        const m = await harness.runtime.loadModel(url, { backend: "webgpu", onProgress: (e) => events.push(e) });
        m.dispose();
        return events;
    }""", dense_bundle)
    weights = [e for e in events if e["stage"] == "weights"]
    assert weights and weights[-1]["loaded"] == weights[-1]["total"] > 0
    assert events[-1]["stage"] == "ready"


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_input_shape_is_refused_naming_expected_and_received(harness, dense_bundle, backend):
    message = harness.evaluate("""async ([url, backend]) => {
        const m = await harness.runtime.loadModel(url, { backend });
        try { await m.predict(new Float32Array(4 * 7), [4, 7]); return null; } catch (e) { return e.message; }
        finally { m.dispose(); }
    }""", [dense_bundle, backend])
    assert message is not None
    assert 'input "x"' in message and "[null, 8]" in message and "[4, 7]" in message


def test_fixed_batch_model_refuses_another_batch(harness, web_server):
    graph = trace(dense, [((2, FEATURES), "float32")])
    export(graph, web_server.path("runtime-tests/fixed"))
    url = web_server.url("runtime-tests/fixed/model.json")
    (y,), _ = harness.run(url, "cpu", [inputs(2)])
    np.testing.assert_allclose(y, eager(inputs(2)), rtol=1e-5, atol=1e-5)
    with pytest.raises(BrowserError, match=r"expected shape \[2, 8\].*received \[3, 8\]"):
        harness.run(url, "cpu", [inputs(3)])


def test_ragged_nested_arrays_are_refused(harness, dense_bundle):
    message = harness.evaluate("""async (url) => {
        const m = await harness.runtime.loadModel(url, { backend: "cpu" });
        try { await m.predict([[1, 2, 3, 4, 5, 6, 7, 8], [1, 2]]); return null; } catch (e) { return e.message; }
        finally { m.dispose(); }
    }""", dense_bundle)
    assert message is not None and "ragged" in message


def _truncate(folder, manifest):
    path = folder / "weights.bin"
    path.write_bytes(path.read_bytes()[:-8])


def _wrong_entry_sha(folder, manifest):
    manifest["weights"]["entries"][1]["sha256"] = "0" * 64


def _flip_a_weight_byte(folder, manifest):
    raw = bytearray((folder / "weights.bin").read_bytes())
    raw[0] ^= 0xFF
    (folder / "weights.bin").write_bytes(bytes(raw))


def _shape_mismatch(folder, manifest):
    entry = next(e for e in manifest["weights"]["entries"] if e["shape"] == [FEATURES, UNITS])
    entry["shape"] = [FEATURES, UNITS + 1]


def _unknown_op(folder, manifest):
    node = next(n for n in manifest["graph"]["nodes"] if n["op"] == "call")
    node["target"] = "foo"


def _newer_format(folder, manifest):
    manifest["format_version"] = 2


DAMAGES = {
    "truncated-weights": (_truncate, r"weights\.bin is \d+ bytes but model\.json says weights\.byte_length = \d+ \(truncated"),
    "wrong-entry-sha256": (_wrong_entry_sha, r"weights\.entries\[1\]\.sha256 does not match"),
    "corrupted-weights": (_flip_a_weight_byte, r"SHA-256 does not match weights\.sha256"),
    "shape-mismatch": (_shape_mismatch, r"weights\.entries\[\d+\]\.byte_length must be 192 for float32\[8, 6\]"),
    "unknown-op": (_unknown_op, r'unknown op "foo" in node %v\d+'),
    "newer-format": (_newer_format, r"bundle format version 2 is newer than this runtime supports \(1\); update pyml"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_bundles_are_refused_with_a_clear_message(harness, web_server, dense_bundle, damage, backend):
    change, expected = DAMAGES[damage]
    url = damaged_copy(web_server, f"damaged-{damage}", change)
    message = harness.load_error(url, backend)
    assert re.search(expected, message), f"{damage}: unexpected message {message!r}"


def test_missing_weights_file_names_the_url(harness, page_errors, web_server, dense_bundle):
    page_errors.allow(r"404")
    url = damaged_copy(web_server, "damaged-missing-file", lambda folder, m: (folder / "weights.bin").unlink())
    message = harness.load_error(url, "cpu")
    assert "damaged-missing-file/weights.bin" in message and "404" in message


def test_wgsl_error_is_reported_with_the_kernel_label(harness, page_errors, web_server, dense_bundle):
    harness.require_webgpu()
    page_errors.allow(r"WGSL|shader|Invalid|error")

    def break_kernel(folder, manifest):
        manifest["kernels"][0]["wgsl"] = manifest["kernels"][0]["wgsl"].replace("fn main", "fn main_renamed", 1)

    url = damaged_copy(web_server, "damaged-wgsl", break_kernel)
    message = harness.load_error(url, "webgpu")
    assert message.startswith("kernel 0 (") and "WGSL failed to compile" in message, message


def test_three_lines_of_js_usage_page(browser, web_server, page_errors):
    """The README's usage, on a page beside the exported bundle, importing the bundle's own runtime copy."""
    graph = trace(dense, [((None, FEATURES), "float32")])
    export(graph, web_server.path("usage/model"))
    x = inputs(2)
    (web_server.path("usage/index.html")).write_text(f"""<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">
<script type="module">
import {{ loadModel }} from "./model/runtime/index.js";
const model = await loadModel("model/model.json");
const y = await model.predict({json.dumps(x.tolist())});
window.result = {{ data: Array.from(y.data), shape: y.shape, backend: model.info.backend }};
</script>""")
    page = browser.new_page()
    watch(page, page_errors)
    try:
        page.goto(web_server.url("usage/index.html"))
        page.wait_for_function("window.result !== undefined", timeout=60_000)
        result = page.evaluate("window.result")
    finally:
        page.close()
    page_errors.check()
    assert result["backend"] == "webgpu" and result["shape"] == [2, UNITS]
    np.testing.assert_allclose(np.array(result["data"], np.float32).reshape(2, UNITS), eager(x), rtol=1e-5, atol=1e-5)


def test_dispatch_past_65535_workgroups_is_folded(harness, web_server):
    """70,000 x 64 elements need 70,000 workgroups of 64: the runtime folds them into (65535, 2)."""
    harness.require_webgpu()
    graph = trace(lambda x: pyml.ops.add(pyml.ops.multiply(x, 2.0), 1.0), [((None, 64), "float32")])
    export(graph, web_server.path("runtime-tests/affine"))
    worst = harness.evaluate("""async (url) => {
        const { loadModel, computeDispatch } = harness.runtime;
        const m = await loadModel(url, { backend: "webgpu" });
        const n = 70000 * 64, x = new Float32Array(n);
        for (let i = 0; i < n; i++) x[i] = (i % 1000) / 7;
        const y = await m.predict(x, [70000, 64]);
        m.dispose();
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(y.data[i] - Math.fround(Math.fround(x[i] * 2) + 1)));
        return { worst, folded: computeDispatch(n, 64) };
    }""", web_server.url("runtime-tests/affine/model.json"))
    assert worst["folded"] == [65535, 2]
    assert worst["worst"] == 0


def test_types_declare_exactly_the_runtime_exports(harness):
    """web/types/index.d.ts mirrors web/src/index.js: the same exported names, no more, no fewer."""
    declared = set(re.findall(r"^export (?:declare )?(?:function|const|class) (\w+)",
                              (ROOT / "web" / "types" / "index.d.ts").read_text(), re.M))
    exported = set(harness.evaluate("Object.keys(harness.runtime)"))
    assert declared == exported, f"only in index.d.ts: {declared - exported}; only in index.js: {exported - declared}"

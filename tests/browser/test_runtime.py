"""The JS runtime (web/src) in headless Chromium: WebGPU, WebAssembly and plain-JS results equal eager pyml,
for any batch, from nested arrays and from nested folders; dispose and info; damaged bundles refused with
clear errors; the three-lines-of-JS usage page works; how "auto" and "cpu" choose (a software adapter or none
takes the CPU path, wasm SIMD where the browser has it); and what a page downloads: no CPU kernels and no
wasm on WebGPU, one wasm build and only the kernel families its graph's js steps use on the CPU."""
import gzip
import json
import re
import shutil
from urllib.parse import urlparse

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from tests.browser.harness import ROOT, RUNTIME_SRC, BrowserError, watch
from webexport.bundle import copy_runtime
from webexport.export import export
from webexport.validate import FORMAT_VERSION

BACKENDS = ["webgpu", "wasm", "js"]
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


def test_auto_backend_takes_the_cpu_on_a_software_adapter(harness, dense_bundle):
    adapter = harness.require_webgpu()
    assert "swiftshader" in f"{adapter['vendor']} {adapter['architecture']}".lower(), adapter
    info = harness.evaluate("async (url) => { const m = await harness.runtime.loadModel(url); m.dispose(); return m.info; }",
                            dense_bundle)
    assert info["backend"] == "wasm" and info["adapter"] is None
    assert "swiftshader" in info["reason"] and "the CPU path outruns" in info["reason"], info["reason"]


# Make the page's adapter look like another one: its info (vendor, isFallbackAdapter), as a browser reports it.
FAKE_ADAPTER = """Object.defineProperty(GPUAdapter.prototype, "info", { configurable: true, get() {
    return { vendor: %s, architecture: "gen-12", description: "", isFallbackAdapter: %s }; } });"""


@pytest.mark.parametrize("vendor, fallback, expected", [("acme", "false", "webgpu"), ("acme", "true", "wasm"),
                                                        ("llvmpipe", "false", "wasm")],
                         ids=["hardware", "fallback-flag", "software-name"])
def test_auto_backend_follows_the_adapter_facts(recording_page, dense_bundle, vendor, fallback, expected):
    recorded = recording_page(init_script=FAKE_ADAPTER % (f'"{vendor}"', fallback))
    info = recorded.page.evaluate("async (url) => { const m = await harness.runtime.loadModel(url); m.dispose(); "
                                  "return m.info; }", dense_bundle)
    assert info["backend"] == expected, info
    assert ("fallback adapter" in info["reason"]) == (fallback == "true"), info["reason"]
    assert ("runs in software" in info["reason"]) == (vendor == "llvmpipe"), info["reason"]
    assert ("hardware WebGPU adapter" in info["reason"]) == (expected == "webgpu"), info["reason"]


@pytest.mark.parametrize("asked, expected", [("cpu", "wasm"), ("wasm", "wasm"), ("js", "js")])
def test_cpu_backends_say_what_runs_and_why(harness, dense_bundle, asked, expected):
    info = harness.evaluate("async ([url, backend]) => { const m = await harness.runtime.loadModel(url, { backend }); "
                            "m.dispose(); return m.info; }", [dense_bundle, asked])
    assert info["backend"] == expected
    assert f'backend "{asked}" was asked for' in info["reason"]
    assert ("WebAssembly relaxed SIMD" in info["reason"]) == (expected == "wasm"), info["reason"]


def test_without_wasm_simd_cpu_runs_plain_js_and_wasm_refuses(recording_page, dense_bundle):
    recorded = recording_page(init_script="WebAssembly.validate = () => false;")
    used, y = recorded.predict(dense_bundle, "cpu", inputs(3))
    assert used == "js"
    np.testing.assert_allclose(y, eager(inputs(3)), rtol=1e-5, atol=1e-5)
    assert recorded.families() == DENSE_FAMILIES and not recorded.wasm_files()
    message = recorded.page.evaluate("(url) => harness.loadError(url, 'wasm')", dense_bundle)
    assert message is not None and "no WebAssembly SIMD" in message and 'backend "js"' in message, message


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
    assert info["format_version"] == 2 and info["reason"]  # format 3 only where weights are packed
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_input_holding_other_numbers_is_read_as_true(harness, web_server, backend):
    """Kernels compare bools as 0/1: a Uint8Array 2 fed to a bool input must count as true, as numpy casts it."""
    if backend == "webgpu":
        harness.require_webgpu()
    from pyml.graph.ir import Graph, Node

    nodes = [Node("a", "placeholder", (None, 3), "bool"), Node("b", "placeholder", (None, 3), "bool"),
             Node("v", "call", (None, 3), "bool", "equal", ["a", "b"])]
    export(Graph(nodes, ["a", "b"], ["v"]), web_server.path("runtime-tests/bool-equal"))
    result = harness.evaluate("""async ([url, backend]) => {
        const m = await harness.runtime.loadModel(url, { backend });
        const [y] = await m.run([{ data: new Uint8Array([2, 0, 7]), shape: [1, 3] }, new Uint8Array([1, 0, 1])]);
        m.dispose();
        return Array.from(y.data);
    }""", [web_server.url("runtime-tests/bool-equal/model.json"), backend])
    assert result == [1, 1, 1]


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
    manifest["format_version"] = FORMAT_VERSION + 1


DAMAGES = {
    "truncated-weights": (_truncate, r"weights\.bin is \d+ bytes but model\.json says weights\.files\[0\]\.byte_length = \d+ \(truncated"),
    "wrong-entry-sha256": (_wrong_entry_sha, r"weights\.entries\[1\]\.sha256 does not match"),
    "corrupted-weights": (_flip_a_weight_byte, r"SHA-256 does not match weights\.files\[0\]\.sha256"),
    "shape-mismatch": (_shape_mismatch, r"weights\.entries\[\d+\]\.byte_length must be 192 for float32\[8, 6\]"),
    "unknown-op": (_unknown_op, r'unknown op "foo" in node %v\d+'),
    "newer-format": (_newer_format, rf"bundle format version {FORMAT_VERSION + 1} is newer than this runtime supports "
                                    rf"\({FORMAT_VERSION}\); update pyml"),
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
    assert result["backend"] == "wasm" and result["shape"] == [2, UNITS]  # auto: SwiftShader is a software adapter
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


# --- What a page downloads -------------------------------------------------------------------------------

# The performance issue's targets (#6): at most 20 KB of runtime JS for a WebGPU page, and 40 KB of JS and wasm
# for a page on the CPU path, counted as a server sends them: each file the page fetches gzip -9 on its own, as
# the bundle carries it (comment lines dropped, webexport.jsstrip).
WEBGPU_RUNTIME_GZIP_BUDGET = 20_000
CPU_RUNTIME_GZIP_BUDGET = 40_000
# What the dense model (matmul, add, maximum) needs on plain JS: its two kernel families (on wasm: none).
DENSE_FAMILIES = {"elementwise", "linalg"}

LOAD_AND_PREDICT = """async ([url, backend, x]) => {
    const m = await harness.runtime.loadModel(url, backend === null ? {} : { backend });
    const y = await m.predict(x);
    m.dispose();
    return { data: Array.from(y.data), shape: y.shape, backend: m.info.backend };
}"""


class RecordingPage:
    """A fresh harness page (so no runtime module is cached yet) that records every URL it fetches."""

    def __init__(self, browser, web_server, page_errors, init_script=None):
        self.requests = []
        self.page = browser.new_page()
        self.page.set_default_timeout(60_000)
        if init_script:
            self.page.add_init_script(init_script)
        self.page.on("request", lambda request: self.requests.append(urlparse(request.url).path))
        watch(self.page, page_errors)
        self.page.goto(web_server.url("harness.html"))
        self.page.wait_for_function("window.harness !== undefined || window.harnessError !== undefined")
        assert self.page.evaluate("window.harnessError") is None, self.page.evaluate("window.harnessError")

    def runtime_files(self):
        """The runtime modules fetched so far, relative to /runtime/ (e.g. "cpu/linalg.js")."""
        return {path[len("/runtime/"):] for path in self.requests if path.startswith("/runtime/")}

    def families(self):
        return {name[len("cpu/"):-len(".js")] for name in self.runtime_files() if name.startswith("cpu/")}

    def wasm_files(self):
        return {name for name in self.runtime_files() if name.endswith(".wasm")}

    def predict(self, url, backend, x):
        result = self.page.evaluate(LOAD_AND_PREDICT, [url, backend, x.tolist()])
        return result["backend"], np.array(result["data"], np.float32).reshape(result["shape"])


@pytest.fixture
def recording_page(browser, web_server, page_errors):
    pages = []

    def open_page(init_script=None):
        pages.append(RecordingPage(browser, web_server, page_errors, init_script))
        return pages[-1]

    yield open_page
    for recorded in pages:
        recorded.page.close()
    page_errors.check()


def test_webgpu_load_fetches_no_cpu_kernels(harness, recording_page, dense_bundle):
    harness.require_webgpu()
    recorded = recording_page()
    used, y = recorded.predict(dense_bundle, "webgpu", inputs(3))
    assert used == "webgpu"
    np.testing.assert_allclose(y, eager(inputs(3)), rtol=1e-5, atol=1e-5)
    files = recorded.runtime_files()
    assert "index.js" in files and "webgpu.js" in files, files
    assert not recorded.families(), f"a WebGPU load fetched CPU kernel families: {sorted(files)}"
    assert "wasm.js" not in files and not recorded.wasm_files(), f"a WebGPU load fetched the wasm backend: {sorted(files)}"
    assert "cpu.js" not in files, f"a WebGPU load fetched the JS interpreter: {sorted(files)}"


def served_gzip_bytes(web_server, files):
    return sum(len(gzip.compress(web_server.path(f"runtime/{name}").read_bytes(), compresslevel=9, mtime=0))
               for name in files)


def test_webgpu_path_runtime_stays_within_its_gzip_budget(harness, recording_page, dense_bundle, web_server):
    harness.require_webgpu()
    recorded = recording_page()
    recorded.predict(dense_bundle, "webgpu", inputs(1))
    files = sorted(recorded.runtime_files())
    size = served_gzip_bytes(web_server, files)
    assert size <= WEBGPU_RUNTIME_GZIP_BUDGET, f"the WebGPU path fetches {size:,} bytes of gzip -9 JS: {files}"


def test_cpu_path_runtime_stays_within_its_gzip_budget(recording_page, dense_bundle, web_server):
    recorded = recording_page()
    assert recorded.predict(dense_bundle, None, inputs(1))[0] == "wasm"
    files = sorted(recorded.runtime_files())
    size = served_gzip_bytes(web_server, files)
    assert size <= CPU_RUNTIME_GZIP_BUDGET, f"the CPU path fetches {size:,} bytes of gzip -9 JS and wasm: {files}"


def test_wasm_backend_fetches_one_wasm_build_and_no_kernel_family_it_has_no_js_step_for(recording_page, dense_bundle):
    recorded = recording_page()
    used, y = recorded.predict(dense_bundle, "cpu", inputs(4))
    assert used == "wasm"
    np.testing.assert_allclose(y, eager(inputs(4)), rtol=1e-5, atol=1e-5)
    assert recorded.wasm_files() == {"wasm/relaxed.wasm"}  # Chromium has relaxed SIMD
    assert recorded.families() == set()  # matmul + add + maximum: one wasm step


def test_js_backend_fetches_only_the_kernel_families_its_graph_uses(recording_page, dense_bundle):
    recorded = recording_page()
    used, y = recorded.predict(dense_bundle, "js", inputs(4))
    assert used == "js"
    np.testing.assert_allclose(y, eager(inputs(4)), rtol=1e-5, atol=1e-5)
    assert recorded.families() == DENSE_FAMILIES and not recorded.wasm_files()


def test_wasm_compiles_from_bytes_when_the_server_sends_another_mime_type(recording_page, dense_bundle):
    recorded = recording_page()
    served = []

    def octet_stream(route):
        served.append(route.request.url)
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-type": "application/octet-stream"})

    recorded.page.route("**/*.wasm", octet_stream)
    used, y = recorded.predict(dense_bundle, "wasm", inputs(2))
    assert used == "wasm" and served
    np.testing.assert_allclose(y, eager(inputs(2)), rtol=1e-5, atol=1e-5)


def test_a_bundle_without_a_cpu_program_runs_on_js_under_cpu_and_wasm_refuses_it(harness, web_server, dense_bundle):
    url = damaged_copy(web_server, "without-cpu", lambda folder, manifest: manifest.pop("cpu"))
    info = harness.evaluate("async (url) => { const m = await harness.runtime.loadModel(url, { backend: 'cpu' }); "
                            "await m.predict(new Float32Array(8), [1, 8]); m.dispose(); return m.info; }", url)
    assert info["backend"] == "js" and "the bundle has no CPU program" in info["reason"], info["reason"]
    message = harness.load_error(url, "wasm")
    assert "the bundle has no CPU program" in message and "export it again" in message, message


def test_auto_falls_back_to_the_cpu_when_navigator_gpu_is_missing(recording_page, dense_bundle):
    recorded = recording_page(init_script="delete Navigator.prototype.gpu;")
    assert recorded.page.evaluate("navigator.gpu") is None
    x = inputs(5)
    used, y = recorded.predict(dense_bundle, None, x)
    assert used == "wasm"
    assert recorded.families() == set()
    np.testing.assert_allclose(y, eager(x), rtol=1e-5, atol=1e-5)
    info = recorded.page.evaluate("async (url) => { const m = await harness.runtime.loadModel(url); m.dispose(); "
                                  "return m.info; }", dense_bundle)
    assert "no WebGPU adapter" in info["reason"]
    message = recorded.page.evaluate("(url) => harness.loadError(url, 'webgpu')", dense_bundle)
    assert message is not None and "navigator.gpu is undefined" in message and 'backend "cpu"' in message


def test_kernel_family_table_lists_exactly_each_family_modules_kernels(page):
    """cpu.js names every kernel without importing it (for validation and `kernels`): it must match the families."""
    tables = page.evaluate("""async () => {
        const { KERNEL_FAMILIES } = await import("/runtime/cpu.js");
        const modules = {};
        for (const family of Object.keys(KERNEL_FAMILIES)) {
            modules[family] = Object.keys((await import(`/runtime/cpu/${family}.js`)).kernels);
        }
        return { listed: KERNEL_FAMILIES, modules };
    }""")
    on_disk = {path.stem for path in (RUNTIME_SRC / "cpu").glob("*.js")}
    assert set(tables["listed"]) == on_disk, "KERNEL_FAMILIES in web/src/cpu.js must name every web/src/cpu/*.js"
    for family, names in tables["listed"].items():
        assert sorted(names) == sorted(tables["modules"][family]), \
            f"KERNEL_FAMILIES.{family} in web/src/cpu.js differs from the kernels of web/src/cpu/{family}.js"
    names = page.evaluate('import("/runtime/cpu.js").then((cpu) => Object.keys(cpu.kernels))')
    assert set(names) == {n for names in tables["listed"].values() for n in names}


def test_kernels_run_once_their_family_is_loaded(page):
    result = page.evaluate("""async () => {
        const { kernels, loadKernels } = await import("/runtime/cpu.js");
        const x = { data: new Float32Array([1, 2, 3]), shape: [3], dtype: "float32" };
        const out = { shape: [3], dtype: "float32" };
        let before = null, unknown = null;
        try { kernels.add([x, x], {}, out); } catch (e) { before = e.message; }
        const table = await loadKernels(["add"]);
        try { await loadKernels(["add", "no_such_op"]); } catch (e) { unknown = e.message; }
        return { before, after: Array.from(table.add([x, x], {}, out)), same: table === kernels, unknown };
    }""")
    assert result["before"] == 'CPU kernel "add" is not loaded: await loadKernels(["add"]) first'
    assert result["after"] == [2, 4, 6] and result["same"]
    assert result["unknown"] == 'unknown op "no_such_op": this runtime has no CPU kernel for it'


def test_a_missing_kernel_family_file_is_named(page, page_errors, web_server, dense_bundle):
    page_errors.allow(r"404|Failed to fetch dynamically imported module")
    web_server.install_runtime("runtime-without-linalg")
    web_server.path("runtime-without-linalg/cpu/linalg.js").unlink()
    message = page.evaluate("""async (url) => {
        const { loadModel } = await import("/runtime-without-linalg/index.js");
        try { await loadModel(url, { backend: "js" }); return null; } catch (e) { return e.message; }
    }""", dense_bundle)
    assert message is not None and message.startswith("could not load the CPU kernels of cpu/linalg.js: "), message


def test_bundles_carry_every_runtime_module_and_nothing_else(tmp_path):
    """The CPU path may import any kernel family and either wasm build, so all ship; notes, dotfiles and the
    wasm build record do not."""
    source = tmp_path / "src"
    shutil.copytree(RUNTIME_SRC, source)
    for extra in ("NOTES.md", ".index.js.swp", "cpu/README.txt"):
        (source / extra).write_text("not a module")
    copy_runtime(source, tmp_path / "runtime")
    copied = sorted(p.relative_to(tmp_path / "runtime").as_posix() for p in (tmp_path / "runtime").rglob("*") if p.is_file())
    modules = sorted(p.relative_to(RUNTIME_SRC).as_posix() for p in RUNTIME_SRC.rglob("*") if p.suffix in (".js", ".wasm"))
    assert copied == modules and "cpu/conv.js" in copied and "wasm/simd.wasm" in copied and "wasm/relaxed.wasm" in copied

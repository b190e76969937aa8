"""Weight storage tiers and shard files in Chromium: float16 and int8 bundles, a bundle in many shards and a
format-1 bundle run on every backend like the reference interpreter on the weights Python's loader reads
(webexport.load_bundle), so the page and Python widen the stored weights to the same float32 values. On WebGPU,
the kernels that read float16/int8 weights as stored (every matmul and conv program) give those values too, and
the weights' buffers hold only the stored bytes."""
import json

import numpy as np
import pytest

import pyml
import webexport.weights
from pyml.graph import trace
from pyml.graph.interpreter import run_graph
from tests.webexport import weight_models
from webexport import export, load_bundle

BACKENDS = ["webgpu", "cpu"]
RNG = np.random.default_rng(5)
KERNEL = RNG.standard_normal((48, 40)).astype(np.float32)
BIAS = RNG.standard_normal(40).astype(np.float32)
HEAD = RNG.standard_normal((40, 40)).astype(np.float32)
X = RNG.standard_normal((3, 48)).astype(np.float32)


def mlp(x):
    hidden = pyml.ops.tanh(pyml.ops.matmul(x, pyml.Variable(KERNEL, name="dense/kernel")) + pyml.Variable(BIAS, name="dense/bias"))
    return pyml.ops.matmul(hidden, pyml.Variable(HEAD, name="head/kernel"))


def as_format_1(folder):
    """Rewrite a one-file float32 bundle as format 1 wrote it (one weights file, no storage field)."""
    manifest = json.loads((folder / "model.json").read_text())
    (spec,) = manifest["weights"].pop("files")
    manifest["weights"].update(spec)
    for entry in manifest["weights"]["entries"]:
        entry.pop("storage")
    manifest["format_version"] = 1
    (folder / "model.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def bundles(web_server):
    """name -> (model.json URL, the interpreter's output on X with the weights load_bundle reads)."""
    graph = trace(mlp, [((None, 48), "float32")])
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        for name, tier, shard in [("float16", "float16", None), ("int8", "int8", None), ("shards", "float32", 1000),
                                  ("format-1", "float32", None)]:
            if shard:
                patch.setattr(webexport.weights, "SHARD_BYTES", shard)
            folder = web_server.path(f"weights-tests/{name}")
            export(graph, folder, weights=tier, include_runtime=False)
            patch.undo()
            if name == "format-1":
                as_format_1(folder)
            stored = load_bundle(folder).weights
            out[name] = (web_server.url(f"weights-tests/{name}/model.json"), run_graph(graph, [X], constants=stored)[0].numpy())
    assert len(json.loads((web_server.path("weights-tests/shards/model.json")).read_text())["weights"]["files"]) > 10
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["float16", "int8", "shards", "format-1"])
def test_stored_weights_run_in_the_browser_as_python_reads_them(harness, bundles, name, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    url, expected = bundles[name]
    (y,), _ = harness.run(url, backend, [X])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5, err_msg=f"{name} on {backend}")


def test_progress_counts_the_bytes_of_every_shard(harness, bundles, web_server):
    url, _ = bundles["shards"]
    manifest = json.loads(web_server.path("weights-tests/shards/model.json").read_text())
    total = sum(f["byte_length"] for f in manifest["weights"]["files"])
    events = harness.evaluate("""async (url) => {
        const events = [];
        const m = await harness.runtime.loadModel(url, { backend: "cpu", onProgress: (e) => events.push(e) });
        m.dispose();
        return events.filter((e) => e.stage === "weights");
    }""", url)
    assert events and all(e["total"] == total for e in events)
    assert events[-1]["loaded"] == total
    assert [e["loaded"] for e in events] == sorted(e["loaded"] for e in events)


def test_a_missing_shard_is_refused_naming_its_file(harness, bundles, web_server, page_errors):
    page_errors.allow(r"404")
    manifest = json.loads(web_server.path("weights-tests/shards/model.json").read_text())
    shard = web_server.path(f"weights-tests/shards/{manifest['weights']['files'][3]['file']}")
    moved = shard.with_name("moved.bin")
    shard.rename(moved)
    try:
        message = harness.load_error(bundles["shards"][0])
    finally:
        moved.rename(shard)
    assert shard.name in message and "404" in message, message


# Loads a bundle with webgpu.js itself, compiles every step's variants (the runtime would compile them in the
# background), runs each input, and returns the outputs and the size of every weight's GPU buffer.
RUN_WITH_VARIANTS = """async ([url, runs]) => {
    const { fetchBundle } = await import("/runtime/bundle.js");
    const gpu = await import("/runtime/webgpu.js");
    const { manifest, weights } = await fetchBundle(url);
    const { device } = await gpu.requestGpuDevice(manifest, await gpu.findAdapter());
    const state = await gpu.createGpu(device, manifest, weights);
    await Promise.all(manifest.steps.flatMap((s) => (s.variants || []).map((v) => state.compile(v.kernel))));
    const outputs = [];
    for (const [data, batch] of runs) {
        const [y] = await gpu.runSteps(state, [{ data: new Float32Array(data), dtype: "float32" }], batch);
        outputs.push(Array.from(y.data));
    }
    const sizes = Object.fromEntries([...state.weightBuffers].map(([name, buffer]) => [name, buffer.size]));
    gpu.destroyGpu(state);
    return { outputs, sizes };
}"""


@pytest.mark.parametrize("tier", ["float16", "int8"])
@pytest.mark.parametrize("name, batches", [("mlp", (1, 7)), ("convnet", (1, 7)), ("shared", (2,)),
                                           ("recurrent", (1, 9))])
def test_webgpu_kernels_unpack_stored_weights_as_python_reads_them(harness, web_server, name, batches, tier):
    harness.require_webgpu()
    graph = weight_models.graph(name)
    folder = web_server.path(f"weights-tests/{name}-{tier}")
    export(graph, folder, weights=tier, include_runtime=False)
    bundle = load_bundle(folder)
    feeds = [weight_models.inputs(name, batch) for batch in batches]
    result = harness.evaluate(RUN_WITH_VARIANTS, [web_server.url(f"weights-tests/{name}-{tier}/model.json"),
                                                  [[x[0].ravel().tolist(), batch] for x, batch in zip(feeds, batches)]])
    for x, batch, y in zip(feeds, batches, result["outputs"]):
        expected = run_graph(graph, x, constants=bundle.weights)[0].numpy()
        np.testing.assert_allclose(np.asarray(y, np.float32).reshape(expected.shape), expected, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{name} {tier} batch {batch}")
    packed = {v["weight"] for v in bundle.manifest["values"].values() if v.get("packed")}
    assert packed == (set() if name == "shared" else set(bundle.stored))
    for entry in bundle.manifest["weights"]["entries"]:  # stored bytes (rounded up to 4), else float32 (to 16)
        stored, widened = -(-entry["byte_length"] // 4) * 4, -(-4 * np.prod(entry["shape"]) // 16) * 16
        assert result["sizes"][entry["name"]] == max(16, stored if entry["name"] in packed else widened), entry["name"]

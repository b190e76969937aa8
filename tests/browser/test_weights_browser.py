"""Weight storage tiers and shard files in Chromium: float16 and int8 bundles, a bundle in many shards and a
format-1 bundle run on every backend like the reference interpreter on the weights Python's loader reads
(webexport.load_bundle), so the page and Python widen the stored weights to the same float32 values."""
import json

import numpy as np
import pytest

import pyml
import webexport.weights
from pyml.graph import trace
from pyml.graph.interpreter import run_graph
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

"""The WebGPU runtime's per-batch kernel variants (docs/internals.md §6, ``steps[].variants``) in Chromium: a batch
that wants a variant runs the step's own kernel until the variant has compiled, then the variant, and both give
numpy's result; going back to a small batch goes back to the step's own kernel."""
import numpy as np
import pytest

from pyml import ops
from pyml.graph import trace
from pyml.ops.registry import Spec
from webexport import export
from webexport.kernels import linalg

rng = np.random.default_rng(21)
W = rng.standard_normal((70, 130)).astype(np.float32) / np.float32(np.sqrt(70))
BIAS = rng.standard_normal(130).astype(np.float32)

# Runs the bundle through webgpu.js directly at each batch in `batches`, awaiting every started compilation
# after a run when `settle` says so; returns per run the outputs and the kernel each step ran.
RUN_DIRECTLY = """async ([url, batches, settle]) => {
    const { fetchBundle } = await import("/runtime/bundle.js");
    const gpu = await import("/runtime/webgpu.js");
    const { manifest, weights } = await fetchBundle(url);
    const { device } = await gpu.requestGpuDevice(manifest, await gpu.findAdapter());
    const state = await gpu.createGpu(device, manifest, weights);
    const compiledAtLoad = [...state.pipelines.keys()];
    const runs = [];
    for (const [i, batch] of batches.entries()) {
        const x = new Float32Array(batch * 70).map((_, j) => Math.sin(j * 0.37 + batch));
        const ready = manifest.steps.map((s) => (s.variants || []).filter((v) => v.min_batch <= batch && state.pipelines.has(v.kernel)).map((v) => v.kernel).pop() ?? s.kernel);
        const [y] = await gpu.runSteps(state, [{ data: x, dtype: "float32" }], batch);
        runs.push({ batch, ran: ready, y: Array.from(y.data) });
        if (settle[i]) for (const s of manifest.steps) for (const v of s.variants || []) if (v.min_batch <= batch) await state.compile(v.kernel);
    }
    gpu.destroyGpu(state);
    return { runs, compiledAtLoad, steps: manifest.steps };
}"""


@pytest.fixture(scope="module")
def variant_bundle(web_server):
    graph = trace(lambda x: ops.relu(ops.matmul(x, W) + BIAS), [Spec((None, 70), "float32")])
    export(graph, web_server.path("variants/dense"))
    return web_server.url("variants/dense/model.json")


def expected(batch):
    x = np.sin(np.arange(batch * 70) * 0.37 + batch).astype(np.float32).reshape(batch, 70)
    return np.maximum(x.astype(np.float64) @ W + BIAS, 0)


def test_a_variant_compiles_when_a_batch_first_wants_it_and_runs_once_ready(harness, variant_bundle):
    harness.require_webgpu()
    big = linalg.TILED_MIN_BATCH + 27
    batches = [1, big, big, linalg.TILED_MIN_BATCH - 1, linalg.TILED_MIN_BATCH, 1]
    result = harness.evaluate(RUN_DIRECTLY, [variant_bundle, batches, [False, True, False, False, False, False]])
    (step,) = result["steps"]
    (variant,) = step["variants"]
    assert result["compiledAtLoad"] == [step["kernel"]]  # load compiles no variant
    ran = [run["ran"][0] for run in result["runs"]]
    # The first big batch starts the variant's compilation and runs the step's own kernel; once compiled, every
    # batch from min_batch on runs the variant, and smaller ones the step's own kernel.
    assert ran == [step["kernel"], step["kernel"], variant["kernel"], step["kernel"], variant["kernel"],
                   step["kernel"]], ran
    for run in result["runs"]:
        actual = np.asarray(run["y"], np.float32).reshape(run["batch"], 130)
        np.testing.assert_allclose(actual, expected(run["batch"]), rtol=1e-5, atol=1e-5,
                                   err_msg=f"batch {run['batch']} on kernel {run['ran'][0]}")


def test_k_read_from_a_weight_whose_length_is_no_multiple_of_four(harness, web_server):
    """Buffers are rounded up to 16 bytes, so the kernel's K = length / n must floor away the padding."""
    harness.require_webgpu()
    w = rng.standard_normal((7, 5)).astype(np.float32)
    graph = trace(lambda x: ops.matmul(x, w), [Spec((None, 7), "float32")])
    export(graph, web_server.path("variants/k7n5"))
    for batch in (1, linalg.TILED_MIN_BATCH + 1):
        x = rng.standard_normal((batch, 7)).astype(np.float32)
        (y,), _ = harness.run(web_server.url("variants/k7n5/model.json"), "webgpu", [x])
        np.testing.assert_allclose(y, x.astype(np.float64) @ w, rtol=1e-5, atol=1e-5, err_msg=f"batch {batch}")

"""Fused kernels in Chromium (webexport/fusion.py, webexport/kernels/fused.py): graphs whose exports rely on
each fused kernel shape run on WebGPU (Tint compiles them, barriers included), on WebAssembly (matmul epilogue
programs, softmax kernels) and on plain JavaScript (which interprets the unfused graph), at two batch sizes,
against eager pyml.

- a softmax over 1000 classes and a layer norm over 256 features: one workgroup per row, tree reductions;
- log-softmax with a prologue, a softmax over the batch axis: one invocation per row, a dynamic row length;
- Dense + GELU as one matmul epilogue that reads its input twice; a broadcasting elementwise DAG.
"""
import numpy as np
import pytest

import pyml
from pyml.graph import trace
from pyml.graph.passes import optimize
from webexport import export, fuse, lower

TOLERANCE = 1e-5
BATCHES = (3, 1)


def _dense_gelu():
    model = pyml.Sequential([pyml.layers.Dense(12, activation="gelu", name="dense")])
    model.build((None, 7))
    return model, (None, 7)


def _layer_norm():
    model = pyml.Sequential([pyml.layers.LayerNormalization(name="layer_normalization")])
    model.build((None, 2, 256))
    model.layers[0].gamma.assign(np.linspace(0.5, 1.5, 256, dtype=np.float32))
    model.layers[0].beta.assign(np.linspace(-1, 1, 256, dtype=np.float32))
    return model, (None, 2, 256)


SCALE = pyml.Tensor(np.linspace(-2, 2, 5, dtype=np.float32))
CASES = {
    # name: (function of one tensor or a model, input shape with the dynamic batch, steps after fusion)
    "softmax_1000": (lambda x: pyml.ops.softmax(x * 2.0), (None, 1000), 1),
    "layer_norm_256": (_layer_norm, None, 1),
    "log_softmax": (lambda x: pyml.ops.log_softmax(pyml.ops.tanh(x) * 4.0), (None, 9), 1),
    "softmax_over_batch": (lambda x: pyml.ops.softmax(x, axis=0), (None, 4), 1),
    "dense_gelu": (_dense_gelu, None, 1),
    "broadcast_dag": (lambda x: pyml.ops.where(pyml.ops.greater(x, 0.0), x * SCALE, pyml.ops.exp(x) - 1.0) / 3.0,
                      (None, 4, 5), 1),
}


@pytest.fixture(scope="module")
def bundles(web_server):
    """Export each case under the server's root: ``{name: (model.json URL, eager function, input shape)}``."""
    out = {}
    for name, (fn, shape, steps) in CASES.items():
        if shape is None:
            model, shape = fn()
            graph, fn = model.trace(shape), model
        else:
            graph = trace(fn, [(shape, "float32")])
        optimized = optimize(graph)
        assert len(lower(optimized, fuse(optimized)).steps) == steps, name
        export(graph, web_server.path(f"fusion/{name}"), include_runtime=False)
        out[name] = (web_server.url(f"fusion/{name}/model.json"), fn, shape)
    return out


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
@pytest.mark.parametrize("name", CASES)
def test_fused_export_matches_eager(harness, bundles, name, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    url, fn, shape = bundles[name]
    rng = np.random.default_rng(len(name))
    series = [[(rng.standard_normal((batch,) + tuple(shape[1:])) * 3).astype(np.float32)] for batch in BATCHES]
    results, info = harness.run_series(url, backend, series)
    assert info["backend"] == backend
    for (x,), (actual,) in zip(series, results):
        expected = fn(pyml.Tensor(x)).numpy()
        assert actual.shape == expected.shape, name
        np.testing.assert_allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE,
                                   err_msg=f"{name} on {backend} at batch {len(x)}")

"""The training step with a dynamic batch (pyml.models.compiled_step.trace_training_graph) as a bundle in Chromium,
on the WebGPU, WebAssembly and plain-JavaScript backends, at batch 5 then 7 (buffers and arena rebuilt between):
the loss, predictions, new parameters, optimizer slots and BatchNormalization statistics equal the reference
interpreter's on the same inputs, Dropout masks included. The runtime's training API (web/src/train.js) builds on
these graphs; this checks the graphs' lowering on every backend."""
import numpy as np
import pytest

from pyml.graph.interpreter import run_graph
from pyml.models.compiled_step import trace_training_graph
from tests.pyml.models.test_compiled_step import convnet, data, mlp
from tests.pyml.models.test_training_graph import OPTIMIZERS, compiled
from webexport import export

CASES = {"mlp": (mlp, (6,), "adamw"), "convnet": (convnet, (8, 8, 1), "sgd-nesterov")}


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_training_graph_runs_in_the_browser_like_the_interpreter(shared_page, web_server, name, backend):
    harness, errors = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    build, features, optimizer = CASES[name]
    model = compiled(build, OPTIMIZERS[optimizer])
    step = trace_training_graph(model, ((None, *features), "float32"), ((None,), "int32"))
    folder = f"training/{name}-{backend}"
    export(step.graph, web_server.path(folder), include_runtime=False)
    x, y = data(12, shape=features)
    series = [step.feed(x[lo:hi], y[lo:hi]) for lo, hi in ((0, 5), (5, 12))]
    results, info = harness.run_series(web_server.url(f"{folder}/model.json"), backend, series)
    assert info["backend"] == backend
    for feeds, actual in zip(series, results):
        expected = [o.numpy() for o in run_graph(step.graph, feeds)]
        for i, (a, e) in enumerate(zip(actual, expected)):
            np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} on {backend}, output {i} at batch {len(feeds[0])}")
    assert not errors.unexpected(), errors.unexpected()

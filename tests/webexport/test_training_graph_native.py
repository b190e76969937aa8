"""The training step with a dynamic batch (pyml.models.compiled_step.trace_training_graph), exported as a bundle
and run natively (webexport.native: wgpu-py, lavapipe on CPU machines) at two batch sizes: the loss, predictions,
new parameters, slots and BatchNormalization statistics equal the reference interpreter's on the same inputs
(Dropout masks included), and the CPU program sends what the wasm kernels cannot read (a transposed operand) to
the JS kernels."""
import numpy as np
import pytest

import pyml
from pyml import layers
from pyml.graph.interpreter import run_graph
from pyml.models.compiled_step import trace_training_graph
from tests.pyml.models.test_compiled_step import convnet, data, mlp
from tests.pyml.models.test_training_graph import OPTIMIZERS, compiled
from webexport import export, load_bundle, run_bundle

pytest.importorskip("wgpu", reason="native WebGPU tests need wgpu-py")



def regularized_mlp():
    """Weight penalties add their gradients to the weight gradients: an epilogue fused after xᵀ @ dy."""
    return pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(16, activation="relu", kernel_regularizer="l2"),
                            layers.Dense(3, activation="softmax", kernel_regularizer=pyml.regularizers.L2(0.1))])


CASES = {"mlp": (mlp, (6,), "adam"), "convnet": (convnet, (8, 8, 1), "sgd-momentum"),
         "regularized_mlp": (regularized_mlp, (6,), "adamw")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_training_bundle_steps_like_the_interpreter_at_two_batch_sizes(name, tmp_path):
    build, features, optimizer = CASES[name]
    model = compiled(build, OPTIMIZERS[optimizer])
    step = trace_training_graph(model, ((None, *features), "float32"), ((None,), "int32"))
    export(step.graph, tmp_path, include_runtime=False)
    bundle = load_bundle(tmp_path)  # validated, the CPU program included
    assert bundle.manifest["inputs"][0]["shape"] == [None, *features]
    transposed = {n.name for n in step.graph.nodes if n.attrs.get("transpose_a")}
    assert transposed, "the weight gradients read x transposed"
    fused = [s["label"] for s in bundle.manifest["steps"] if s["nodes"][0] in transposed and len(s["nodes"]) > 1]
    assert bool(fused) == (name == "regularized_mlp"), fused  # matmul+add+add: the penalties' gradients
    cpu_kernels = {s["nodes"][0]: s["kernel"] for s in bundle.manifest["cpu"]["steps"]}
    assert all(cpu_kernels[n] == "js" for n in transposed)
    values = step.initial_inputs()
    x, y = data(12, shape=features)
    for lo, hi in ((0, 5), (5, 12)):
        feeds = step.feed(x[lo:hi], y[lo:hi], values=values)
        expected = [o.numpy() for o in run_graph(step.graph, feeds)]
        actual = list(run_bundle(bundle, feeds).values())
        for i, (a, e) in enumerate(zip(actual, expected)):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6, err_msg=f"output {i} at batch {hi - lo}")
        values["parameters"] = expected[step.outputs.parameters]
        values.update((f"slot_{n}", expected[i]) for n, i in step.outputs.slots.items())
        values.update((f"state_{i}", expected[j]) for i, j in step.outputs.state.items())

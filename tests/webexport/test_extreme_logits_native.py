"""Exported bundles under logits of ±1e4 (tests/extreme_logits.py), run natively (wgpu-py on Vulkan) as the
browser's WebGPU backend runs them: softmax, log-softmax, log-sum-exp, sigmoid and softplus stay finite and equal
their float64 references, alone and fused after a Dense as a classifier's head exports."""
import numpy as np
import pytest

import pyml
import webexport
from pyml import ops
from tests import extreme_logits as ref

FUNCTIONS = {
    "softmax": (lambda z: ops.softmax(z), ref.softmax),
    "log_softmax": (lambda z: ops.log_softmax(z), ref.log_softmax),
    "logsumexp": (lambda z: ops.logsumexp(z, axis=-1), ref.logsumexp),
    "sigmoid": (lambda z: ops.sigmoid(z), ref.sigmoid),
    "softplus": (lambda z: ops.softplus(z), ref.softplus),
}


def graph_bundle(path):
    """One bundle whose outputs are every function of FUNCTIONS, in order, on one (batch, 3) input."""
    graph = pyml.graph.trace(lambda z: [f(z) for f, _ in FUNCTIONS.values()], [((None, 3), "float32")])
    webexport.export(graph, path, include_runtime=False)
    return webexport.load_bundle(str(path))


def head_bundle(path, activation):
    """Dense(3) with an identity kernel then ``activation``: the logits reach the activation as they are."""
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(3, activation=activation)])
    model.set_weights([np.eye(3, dtype=np.float32), np.zeros(3, np.float32)])
    webexport.export(model, path, include_runtime=False)
    return webexport.load_bundle(str(path)), model


def test_each_function_of_extreme_logits_matches_float64(tmp_path):
    outputs = list(webexport.run_bundle(graph_bundle(tmp_path / "functions"), ref.LOGITS).values())
    assert len(outputs) == len(FUNCTIONS)
    for (name, (_, reference)), actual in zip(FUNCTIONS.items(), outputs):
        assert np.isfinite(actual).all(), name
        np.testing.assert_allclose(actual, reference(ref.z64()), rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("activation", ["softmax", "log_softmax", "sigmoid", "softplus"])
def test_a_dense_head_with_extreme_logits_matches_float64_and_predict(tmp_path, activation):
    bundle, model = head_bundle(tmp_path / activation, activation)
    (actual,) = webexport.run_bundle(bundle, ref.LOGITS).values()
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, getattr(ref, activation)(ref.z64()), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(actual, model.predict(ref.LOGITS, verbose=0), rtol=1e-6, atol=1e-6)

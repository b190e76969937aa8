"""The dynamic-batch merge's repairs (pyml/graph/merge.py), each run by the interpreter at batch sizes other than
the traced 2 and 3 against numpy: numbers derived from the batch size computed at run time, weight gradients
read transposed so the batch stays on axis 0, and the errors that remain, naming the node."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.graph import trace
from pyml.graph.interpreter import run_graph
from pyml.graph.trace import TraceError

F32 = "float32"
rng = np.random.default_rng(4)


def test_a_mean_over_the_batch_divides_by_the_batch_of_the_run():
    graph = trace(lambda x: ops.sum(x, axis=0) / x.shape[0], [((None, 3), F32)])
    assert [n.attrs for n in graph.nodes if n.target == "broadcast_to"] == [{"shape": (None,)}]  # the count
    assert all(np.ravel(value)[0] not in (2.0, 3.0) for value in graph.constants.values() if np.size(value) == 1)
    for batch in (1, 5, 7):
        x = rng.standard_normal((batch, 3)).astype(F32)
        np.testing.assert_allclose(run_graph(graph, [x])[0].numpy(), x.mean(axis=0), rtol=1e-6)


def test_a_count_of_batch_times_other_axes_scales_with_the_batch():
    # BatchNormalization's statistics: a mean over (batch, H, W) divides by batch * H * W
    graph = trace(lambda x: ops.sum(x, axis=(0, 1, 2)) / (x.shape[0] * x.shape[1] * x.shape[2]),
                  [((None, 4, 5, 2), F32)])
    x = rng.standard_normal((6, 4, 5, 2)).astype(F32)
    np.testing.assert_allclose(run_graph(graph, [x])[0].numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-6)


def gradients(x, w):
    """d mean(tanh(x @ w)) / d(x, w): the gradient of a mean over the batch (rows of 1 / batch) and a weight
    gradient xᵀ @ dy."""
    with pyml.GradientTape() as tape:
        tape.watch([x, w])
        loss = ops.mean(ops.tanh(x @ w))
    return tape.gradient(loss, [x, w])


def test_weight_gradients_are_read_transposed_and_equal_numpy_at_any_batch():
    graph = trace(gradients, [((None, 4), F32), ((4, 3), F32)])
    products = [n for n in graph.nodes if n.target == "matmul"]
    assert any(n.attrs.get("transpose_a") for n in products)
    assert all(None not in n.shape[1:] for n in graph.nodes), "the batch stays on axis 0"
    w = rng.standard_normal((4, 3)).astype(F32)
    for batch in (1, 5, 7):
        x = rng.standard_normal((batch, 4)).astype(F32)
        dx, dw = (g.numpy() for g in run_graph(graph, [x, w]))
        dy = (1 - np.tanh(x.astype(np.float64) @ w) ** 2) / (batch * 3)
        np.testing.assert_allclose(dx, dy @ w.T, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(dw, x.T @ dy, rtol=1e-5, atol=1e-7)


def test_a_transposed_batch_read_by_something_else_is_still_an_error_naming_it():
    with pytest.raises(TraceError, match=r"%v1 : f32\[4,2\] = transpose.*has shape \(4, 2\) and \(4, 3\).*only a "
                                         r"transpose that matmuls read as their first operand is repaired"):
        trace(lambda x: ops.exp(ops.transpose(x)), [((None, 4), F32)])


def test_a_number_of_another_form_is_an_error_naming_its_node():
    with pytest.raises(TraceError, match=r"%c1 : f32\[\] = constant \(used by %v2 .*\) holds 4.0 and 9.0"):
        trace(lambda x: x / float(x.shape[0] ** 2), [((None, 4), F32)])


def test_the_executor_kernel_reads_a_transposed_operand_too():
    from pyml.graph.kernels import kernel

    x, dy = rng.standard_normal((9, 70)).astype(F32), rng.standard_normal((9, 40)).astype(F32)
    out = np.empty((70, 40), F32)
    kernel("matmul", [x, dy], out, {"transpose_a": True}, xp=np)()
    np.testing.assert_allclose(out, x.T.astype(np.float64) @ dy, rtol=1e-5, atol=1e-6)

"""The reference interpreter (pyml/graph/interpreter.py): graph runs equal eager runs, the dynamic batch
resolves at run time, and errors name the input or node."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.graph import Graph, GraphError, Interpreter, Node, last_uses, run_graph, trace

F32 = "float32"


def _params():
    rng = np.random.default_rng(1)
    return {
        "w1": pyml.Variable(rng.standard_normal((6, 8)).astype(F32), name="hidden/kernel"),
        "b1": pyml.Variable(rng.standard_normal(8).astype(F32), name="hidden/bias"),
        "w2": pyml.Variable(rng.standard_normal((8, 3)).astype(F32), name="out/kernel"),
    }


def _model(p):
    """A small network using several op families: matmul, elementwise, reductions, movement, composites."""

    def fn(x, mask):
        h = ops.tanh(ops.matmul(x, p["w1"]) + p["b1"])
        h = ops.where(mask, h, 0.0)
        pairs = ops.reshape(h, (h.shape[0], 4, 2))
        pooled = ops.mean(pairs, axis=2)  # (N, 4)
        h = ops.concatenate([pooled, pooled * 2.0], axis=1)  # (N, 8)
        logits = ops.matmul(h, p["w2"])
        return ops.softmax(logits, axis=-1), ops.max(logits, axis=1)

    return fn


def _inputs(batch, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, 6)).astype(F32), rng.random((batch, 8)) > 0.3


@pytest.mark.parametrize("batch", [1, 5, 7])
def test_dynamic_batch_graph_matches_eager_at_any_batch(batch):
    p = _params()
    fn = _model(p)
    graph = trace(fn, [((None, 6), F32), ((None, 8), "bool")])
    assert graph.node("x").shape == (None, 6)
    x, mask = _inputs(batch, seed=batch)
    got = run_graph(graph, [x, mask])
    expected = fn(pyml.Tensor(x), pyml.Tensor(mask))
    assert len(got) == 2
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6, atol=1e-6)


def test_static_graph_matches_numpy_reference():
    graph = trace(lambda a, b: ops.sum(ops.exp(a) * b, axis=0), [((3, 2), F32), ((2,), F32)])
    a = np.random.default_rng(2).standard_normal((3, 2)).astype(F32)
    b = np.array([0.5, -1.0], F32)
    np.testing.assert_allclose(run_graph(graph, {"a": a, "b": b})[0].numpy(), (np.exp(a) * b).sum(0), rtol=1e-6)


def test_inputs_must_share_the_batch():
    graph = trace(lambda x, y: x + y, [((None, 2), F32), ((None, 2), F32)])
    with pytest.raises(GraphError, match=r"inputs 'x' and 'y' must share the batch size \(axis 0\). Received: 3 and 4"):
        run_graph(graph, [np.zeros((3, 2), F32), np.zeros((4, 2), F32)])


def test_input_shape_and_dtype_are_checked_by_name():
    graph = trace(lambda x: x * 2.0, [((None, 2), F32)])
    with pytest.raises(GraphError, match=r"input 'x' expects float32\[N, 2\]. Received: float32\[3, 5\]"):
        run_graph(graph, [np.zeros((3, 5), F32)])
    with pytest.raises(GraphError, match=r"input 'x' expects float32\[N, 2\]. Received: float64\[3, 2\]"):
        run_graph(graph, [np.zeros((3, 2))])
    with pytest.raises(GraphError, match=r"takes 1 inputs \(x\). Received: 2 inputs"):
        Interpreter(graph).run(np.zeros((3, 2), F32), np.zeros((3, 2), F32))
    with pytest.raises(GraphError, match=r"missing graph inputs \['x'\]"):
        run_graph(graph, {"y": np.zeros((3, 2), F32)})


def test_python_lists_take_the_placeholder_dtype():
    graph = trace(lambda x: x * 2.0, [((2,), F32)])
    np.testing.assert_array_equal(run_graph(graph, [[1, 2]])[0].numpy(), np.array([2.0, 4.0], F32))


def _hand_graph(target="matmul", attrs=None, shape=(2, 4)):
    nodes = [Node("x", "placeholder", (2, 3), F32), Node("w", "constant", (3, 4), F32),
             Node("v2", "call", shape, F32, target, ["x", "w"], attrs or {})]
    return Graph(nodes, ["x"], ["v2"], {"w": np.ones((3, 4), F32)})


def test_an_error_inside_a_node_names_the_node():
    graph = _hand_graph(target="add")  # (2, 3) + (3, 4) does not broadcast
    with pytest.raises(GraphError, match=r"node %v2 : f32\[2,4\] = add\(%x, %w\) failed: add: shapes"):
        run_graph(graph, [np.zeros((2, 3), F32)])


def test_a_node_whose_result_disagrees_with_the_graph_is_named():
    graph = _hand_graph(shape=(2, 5))
    with pytest.raises(GraphError, match=r"node %v2 : f32\[2,5\] = matmul\(%x, %w\) gave float32\[2, 4\], but the "
                                         r"graph says float32\[2, 5\]"):
        run_graph(graph, [np.zeros((2, 3), F32)])


def test_constants_are_checked_and_can_be_overridden():
    graph = _hand_graph()
    x = np.ones((2, 3), F32)
    np.testing.assert_array_equal(run_graph(graph, [x])[0].numpy(), np.full((2, 4), 3.0, F32))
    w = pyml.Variable(np.full((3, 4), 2.0, F32))
    np.testing.assert_array_equal(run_graph(graph, [x], constants={"w": w})[0].numpy(), np.full((2, 4), 6.0, F32))
    with pytest.raises(GraphError, match=r"constant %w should be float32\[3, 4\]. Received: float32\[4, 3\]"):
        Interpreter(graph, constants={"w": np.ones((4, 3), F32)})
    graph.constants.clear()
    with pytest.raises(GraphError, match=r"constant %w has no value"):
        Interpreter(graph)


def test_gradients_flow_through_an_interpreted_graph_into_variable_constants():
    w = pyml.Variable(np.array([1.0, 2.0], F32), name="w")
    graph = trace(lambda x: ops.sum(x * w), [((2,), F32)])
    with pyml.GradientTape() as tape:
        y = run_graph(graph, [np.array([3.0, 4.0], F32)], constants={"w1": w})[0]
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), np.array([3.0, 4.0], F32))


def test_last_uses_maps_each_value_to_the_last_node_reading_it():
    graph = trace(lambda x, unused: ops.exp(x) + x, [((2,), F32), ((2,), F32)])
    assert [str(n) for n in graph.nodes] == ["%x : f32[2] = placeholder", "%unused : f32[2] = placeholder",
                                              "%v2 : f32[2] = exp(%x)", "%v3 : f32[2] = add(%v2, %x)"]
    assert last_uses(graph) == {"x": 3, "unused": 1, "v2": 3, "v3": 4}


class _Recording(Interpreter):
    """Overriding one opcode's method changes how it runs (torch.fx style)."""

    def __init__(self, graph):
        super().__init__(graph)
        self.seen = []

    def call(self, node, args):
        out = super().call(node, args)
        self.seen.append((node.name, out.shape))
        return out


def test_interpreter_methods_can_be_overridden_per_opcode():
    graph = trace(lambda x: ops.exp(x) * 2.0, [((None, 2), F32)])
    interp = _Recording(graph)
    interp.run(np.zeros((4, 2), F32))
    assert interp.seen == [("v1", (4, 2)), ("v3", (4, 2))]

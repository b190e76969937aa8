"""pyml.function (pyml/graph/function.py): traces once per input signature, caches, and runs the graph."""
import functools

import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.graph import TraceError

F32 = "float32"


def _counting(fn):
    """``fn`` wrapped so that ``calls[0]`` counts how often its Python body runs (once per trace)."""
    calls = [0]

    @functools.wraps(fn)  # keeps fn's signature, which names the graph's inputs
    def body(*args, **kwargs):
        calls[0] += 1
        return fn(*args, **kwargs)

    return body, calls


def test_traces_once_per_signature_and_reuses_the_graph():
    body, calls = _counting(lambda x, y: ops.tanh(x) * y)
    f = pyml.function(body)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, y = rng.standard_normal((4, 3)).astype(F32), rng.standard_normal((3,)).astype(F32)
        out = f(pyml.Tensor(x), y)
        assert isinstance(out, pyml.Tensor)
        np.testing.assert_allclose(out.numpy(), np.tanh(x) * y, rtol=1e-6)
    assert calls[0] == 1 and len(f.graphs) == 1
    assert f.graphs[0].node("x").shape == (4, 3)  # exact shapes, as tf.function


def test_a_new_shape_or_dtype_traces_again():
    body, calls = _counting(lambda x: x * 2)
    f = pyml.function(body)
    f(np.ones((2, 3), F32))
    f(np.ones((5, 3), F32))
    f(np.ones((5, 3), F32))
    out = f(np.ones((5, 3), "int32"))
    assert out.dtype == "int32" and out.numpy().tolist() == [[2] * 3] * 5
    assert calls[0] == 3
    assert [g.node("x").shape for g in f.graphs] == [(2, 3), (5, 3), (5, 3)]
    assert [g.node("x").dtype for g in f.graphs] == [F32, F32, "int32"]


def test_python_arguments_are_static_and_part_of_the_key():
    body, calls = _counting(lambda x, scale, training=False: x * scale if training else x)
    f = pyml.function(body)
    x = np.ones((2,), F32)
    assert f(x, 3.0, training=True).numpy().tolist() == [3.0, 3.0]
    assert f(x, 3.0, training=False).numpy().tolist() == [1.0, 1.0]
    assert f(x, 4.0, training=True).numpy().tolist() == [4.0, 4.0]
    f(x, 4.0, training=True)
    assert calls[0] == 3
    with pytest.raises(TraceError, match=r"argument scale is neither a tensor nor hashable.*Received: set"):
        f(x, {1.0})


def test_nested_arguments_and_structured_results():
    @pyml.function
    def f(batch, weights):
        a, b = batch
        return {"total": a + b * weights["scale"], "parts": (a, None)}

    a, b = np.array([1.0, 2.0], F32), np.array([3.0, 4.0], F32)
    out = f((a, b), {"scale": np.float32(2.0) * np.ones((2,), F32)})
    assert sorted(out) == ["parts", "total"] and out["parts"][1] is None
    np.testing.assert_allclose(out["total"].numpy(), a + 2 * b)
    np.testing.assert_allclose(out["parts"][0].numpy(), a)
    assert f.graphs[0].inputs == ["batch_0", "batch_1", "weights_scale"]


def test_get_graph_from_specs_and_cache_sharing():
    body, calls = _counting(lambda x: ops.exp(x) + 1.0)
    f = pyml.function(body)
    graph = f.get_graph(((2, 2), F32))
    assert str(graph) == "\n".join(["%x : f32[2,2] = placeholder", "%v1 : f32[2,2] = exp(%x)",
                                    "%c2 : f32[] = constant 1.0", "%v3 : f32[2,2] = add(%v1, %c2)",
                                    "return %v3"])
    f(np.zeros((2, 2), F32))
    assert calls[0] == 1 and f.graphs == [graph]
    f.clear()
    f(np.zeros((2, 2), F32))
    assert calls[0] == 2


def test_graphs_are_optimized_unless_asked_not_to():
    def body(x):
        unused = ops.exp(x)  # noqa: F841 - dead code the optimizer drops
        return ops.tanh(x) + ops.tanh(x)

    optimized, raw = pyml.function(body), pyml.function(body, optimize=False)
    x = np.array([0.5, -1.0], F32)
    np.testing.assert_allclose(optimized(x).numpy(), raw(x).numpy())
    assert [n.target for n in optimized.graphs[0].nodes] == [None, "tanh", "add"]
    assert [n.target for n in raw.graphs[0].nodes] == [None, "exp", "tanh", "tanh", "add"]


def test_variables_are_read_live_without_retracing():
    w = pyml.Variable(np.array([1.0, 2.0], F32), name="w")
    body, calls = _counting(lambda x: x * w)
    f = pyml.function(body)
    x = np.array([3.0, 3.0], F32)
    assert f(x).numpy().tolist() == [3.0, 6.0]
    w.assign(np.array([10.0, 20.0], F32))
    assert f(x).numpy().tolist() == [30.0, 60.0]
    assert calls[0] == 1
    np.testing.assert_array_equal(f.graphs[0].constants["w1"], [1.0, 2.0])  # the graph keeps its snapshot


def test_gradients_flow_through_a_function_into_variables():
    w = pyml.Variable(np.array([[1.0], [2.0]], F32), name="w")
    f = pyml.function(lambda x: ops.sum(ops.tanh(ops.matmul(x, w))))
    x = np.array([[0.1, 0.2], [0.3, -0.4]], F32)
    with pyml.GradientTape() as tape:
        loss = f(x)
    expected = x.T @ (1 - np.tanh(x @ w.numpy()) ** 2)
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), expected, rtol=1e-5)


def test_a_traced_training_gradient_matches_eager():
    w = pyml.Variable(np.random.default_rng(3).standard_normal((4, 2)).astype(F32), name="w")

    @pyml.function
    def loss_and_grad(x):
        loss = ops.mean(ops.square(ops.matmul(x, w)))
        return loss, pyml.autodiff.grad([loss], [w])[0]

    x = np.random.default_rng(4).standard_normal((6, 4)).astype(F32)
    loss, g = loss_and_grad(x)
    with pyml.GradientTape() as tape:
        eager = ops.mean(ops.square(ops.matmul(pyml.Tensor(x), w)))
    np.testing.assert_allclose(loss.numpy(), eager.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), tape.gradient(eager, w).numpy(), rtol=1e-5)


class _Scaler:
    def __init__(self, factor):
        self.factor = pyml.Variable(np.float32(factor), name="factor")
        self.traces = 0

    @pyml.function
    def __call__(self, x):
        self.traces += 1
        return x * self.factor


def test_as_a_method_decorator_each_instance_has_its_own_cache():
    two, three = _Scaler(2.0), _Scaler(3.0)
    x = np.ones((2,), F32)
    assert two(x).numpy().tolist() == [2.0, 2.0] and three(x).numpy().tolist() == [3.0, 3.0]
    two(x)
    assert (two.traces, three.traces) == (1, 1)


def test_calling_a_function_inside_a_trace_inlines_it():
    inner = pyml.function(lambda x: ops.exp(x))
    graph = pyml.trace(lambda x: inner(x) * 2.0, [((None, 2), F32)])
    assert [n.target for n in graph.nodes if n.op == "call"] == ["exp", "mul"]
    assert inner.graphs == []


def test_get_graph_with_a_batch_none_spec_traces_a_dynamic_batch_graph():
    f = pyml.function(lambda x: ops.reshape(x, (x.shape[0], 2, 2)))
    graph = f.get_graph(((None, 4), F32))
    assert graph.node("x").shape == (None, 4) and graph.node("v1").attrs == {"shape": (None, 2, 2)}
    assert f(np.ones((3, 4), F32)).shape == (3, 2, 2)  # a call traces its own exact-shape graph
    assert len(f.graphs) == 2


def test_argument_paths_that_clean_to_one_name_get_distinct_inputs():
    # x[0] is named x_0, like the parameter x_0; dict keys "a b" and "a_b" both clean to a_b
    f = pyml.function(lambda x, x_0: x[0] + x[1] * 10.0 + x_0 * 100.0)
    ones = np.ones(2, F32)
    np.testing.assert_array_equal(f([ones, 2 * ones], 3 * ones).numpy(), [321.0, 321.0])
    g = pyml.function(lambda d: d["a b"] + d["a_b"] * 10.0)
    np.testing.assert_array_equal(g({"a b": ones, "a_b": 2 * ones}).numpy(), [21.0, 21.0])
    assert len(set(f.graphs[0].inputs)) == 3 and len(set(g.graphs[0].inputs)) == 2

"""Tracing (pyml/graph/trace.py): graphs recorded from Python functions, the dynamic batch, and the errors
for what a static graph cannot express."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.autodiff import grad
from pyml.graph import Graph, TraceError, run_graph, trace, trace_function
from pyml.ops.registry import Spec, _TRACING

F32 = "float32"


def _rng():
    return np.random.default_rng(0)


def test_traces_a_composite_function_into_call_nodes():
    w = pyml.Variable(_rng().standard_normal((4, 3)).astype(F32), name="dense/kernel")
    b = pyml.Variable(np.zeros(3, F32), name="dense/bias")

    def dense_tanh(x):
        return ops.tanh(ops.matmul(x, w) + b) * 2.0

    graph = trace(dense_tanh, [((None, 4), F32)])
    assert str(graph) == "\n".join([
        "%x : f32[N,4] = placeholder",
        "%w1 : f32[4,3] = constant dense/kernel",
        "%v2 : f32[N,3] = matmul(%x, %w1)",
        "%w3 : f32[3] = constant dense/bias",
        "%v4 : f32[N,3] = add(%v2, %w3)",
        "%v5 : f32[N,3] = tanh(%v4)",
        "%c6 : f32[] = constant 2.0",
        "%v7 : f32[N,3] = mul(%v5, %c6)",
        "return %v7",
    ])
    assert graph.inputs == ["x"] and graph.outputs == ["v7"]
    np.testing.assert_array_equal(graph.constants["w1"], w.numpy())
    assert graph.node("w1").attrs == {"label": "dense/kernel"}


def test_a_tensor_used_twice_becomes_one_constant_node():
    w = pyml.Variable(np.ones((3,), F32), name="scale")
    graph = trace(lambda x: x * w + w, [((2, 3), F32)])
    constants = [n for n in graph.nodes if n.op == "constant"]
    assert [n.name for n in constants] == ["w1"]
    assert graph.node("v3").inputs == ["v2", "w1"]


def test_constants_snapshot_variables_at_trace_time():
    w = pyml.Variable(np.ones((3,), F32), name="w")
    graph = trace(lambda x: x * w, [((3,), F32)])
    w.assign(np.full((3,), 5.0, F32))
    np.testing.assert_array_equal(graph.constants["w1"], np.ones(3, F32))


def test_outputs_keep_the_returned_structure():
    result = trace_function(lambda x, y: {"sum": x + y, "pair": (x * y, None, x)},
                            [((2,), F32), ((2,), F32)])
    graph = result.graph
    assert graph.outputs == ["v2", "v3", "x"]  # dict order kept: "sum", then the tuple's tensors
    x, y = np.array([1.0, 2.0], F32), np.array([3.0, 4.0], F32)
    outs = run_graph(graph, [x, y])
    rebuilt = pyml.graph.unflatten(result.structure, outs)
    assert list(rebuilt) == ["sum", "pair"]
    np.testing.assert_allclose(rebuilt["sum"].numpy(), x + y)
    assert rebuilt["pair"][1] is None
    np.testing.assert_allclose(rebuilt["pair"][0].numpy(), x * y)


def test_returning_a_constant_or_an_input_is_allowed():
    graph = trace(lambda x: (x, pyml.Tensor([1.0, 2.0])), [((2,), F32)])
    assert graph.outputs == ["x", "c1"]
    assert graph.node("c1").op == "constant"


def test_returning_a_non_tensor_is_an_error_naming_it():
    with pytest.raises(TraceError, match=r"output\[1\] is not one. Received: str"):
        trace(lambda x: [x, "oops"], [((2,), F32)])


def test_input_specs_accept_pairs_specs_and_input_like_objects():
    class InputLike:
        shape, dtype, name = (None, 3), "float32", "pixels"

    graph = trace(lambda a, b, c: a + b + c, [((None, 3), F32), Spec((1, 3), F32), InputLike()])
    assert graph.inputs == ["a", "b", "pixels"]
    assert [graph.node(n).shape for n in graph.inputs] == [(None, 3), (1, 3), (None, 3)]


def test_input_specs_reject_none_past_axis_0():
    with pytest.raises(TraceError, match=r"None only at axis 0"):
        trace(lambda x: x, [((3, None), F32)])


def test_dynamic_batch_flag():
    forced = trace(lambda x: x * 2.0, [((4, 3), F32)], dynamic_batch=True)
    assert forced.node("x").shape == (None, 3)
    with pytest.raises(TraceError, match=r"dynamic_batch=False"):
        trace(lambda x: x, [((None, 3), F32)], dynamic_batch=False)


def test_batch_sized_shape_attributes_become_none():
    graph = trace(lambda x: ops.reshape(x, (x.shape[0], 2, 2)), [((None, 4), F32)])
    assert graph.node("v1").attrs == {"shape": (None, 2, 2)}
    out = run_graph(graph, [np.arange(20, dtype=F32).reshape(5, 4)])[0]
    np.testing.assert_array_equal(out.numpy(), np.arange(20, dtype=F32).reshape(5, 2, 2))


def test_batch_dependent_constant_is_an_error_at_trace_time():
    # x.shape[0] itself is repaired (pyml/graph/merge.py, tests/pyml/graph/test_merge.py); batch - 1 is not k * batch
    with pytest.raises(TraceError, match=r"%c1 .*used by %v2.*div.*holds 1.0 and 2.0 at batch 2 and 3.*: it depends "
                                         r"on the batch size in a way export cannot express"):
        trace(lambda x: x / (x.shape[0] - 1), [((None, 4), F32)])


def test_batch_moved_off_axis_0_is_an_error_naming_the_node():
    with pytest.raises(TraceError, match=r"transpose.*has shape \(4, 2\) and \(4, 3\) at batch 2 and 3"):
        trace(lambda x: ops.transpose(x), [((None, 4), F32)])


def test_control_flow_on_the_batch_size_is_an_error():
    def fn(x):
        return x * 2.0 if x.shape[0] == 2 else x

    with pytest.raises(TraceError, match=r"different graphs.*control flow depends on the batch size"):
        trace(fn, [((None, 4), F32)])


def test_batch_sized_fill_constants_become_broadcasts():
    graph = trace(lambda x: ops.ones_like(x) * x, [((None, 3), F32)])
    assert graph.node("c1").op == "call" and graph.node("c1").target == "broadcast_to"
    assert graph.node("c1").attrs == {"shape": (None, 3)}
    x = _rng().standard_normal((7, 3)).astype(F32)
    np.testing.assert_allclose(run_graph(graph, [x])[0].numpy(), x)


def test_branching_on_a_symbolic_value_names_the_op_and_asks_for_static_control_flow():
    def fn(x):
        if ops.sum(x) > 0:
            return x
        return -x

    with pytest.raises(TraceError, match=r"^greater: bool\(\).*%v3 : bool\[\] = greater\(%v1, %c2\).*tracing needs "
                                         r"static control flow"):
        trace(fn, [((3,), F32)])


@pytest.mark.parametrize("action", [lambda t: t.numpy(), float, lambda t: t.item(), np.asarray])
def test_reading_a_symbolic_value_is_a_clear_error(action):
    with pytest.raises(TraceError, match=r"^exp: .*%v1 : f32\[1\] = exp\(%x\).*tracing needs static control flow"):
        trace(lambda x: action(ops.exp(x)), [((1,), F32)])


def test_the_tracer_is_removed_after_tracing_even_on_error():
    with pytest.raises(TraceError):
        trace(lambda x: float(x), [((1,), F32)])
    assert _TRACING["tracer"] is None


def test_a_symbolic_tensor_leaked_from_another_trace_is_an_error():
    leaked = []
    trace(lambda x: leaked.append(x) or x, [((2,), F32)])
    with pytest.raises(TraceError, match=r"^add: got a symbolic tensor from another trace"):
        trace(lambda y: y + leaked[0], [((2,), F32)])


def _loss_grad(x, w):
    return grad([ops.sum(ops.tanh(ops.matmul(x, w)))], [w])[0]


def test_traced_gradient_matches_eager_autodiff():
    rng = _rng()
    x, w = rng.standard_normal((5, 4)).astype(F32), rng.standard_normal((4, 3)).astype(F32)
    graph = trace(_loss_grad, [((5, 4), F32), ((4, 3), F32)])
    assert {n.target for n in graph.nodes if n.op == "call"} >= {"matmul", "tanh", "transpose"}
    traced = run_graph(graph, [x, w])[0].numpy()

    w_eager = pyml.Tensor(w, requires_grad=True)
    expected = pyml.autodiff.grad([ops.sum(ops.tanh(ops.matmul(pyml.Tensor(x), w_eager)))], [w_eager])[0].numpy()
    np.testing.assert_allclose(traced, expected, rtol=1e-5, atol=1e-6)
    # and against the closed form: d/dw sum(tanh(xw)) = x^T (1 - tanh(xw)^2)
    np.testing.assert_allclose(traced, x.T @ (1 - np.tanh(x @ w) ** 2), rtol=1e-4, atol=1e-5)


def test_traced_gradient_with_respect_to_a_variable_under_an_active_tape():
    rng = _rng()
    w = pyml.Variable(rng.standard_normal((4, 3)).astype(F32), name="w")
    x = rng.standard_normal((5, 4)).astype(F32)
    with pyml.GradientTape() as outer:
        graph = trace(lambda x: grad([ops.sum(ops.tanh(ops.matmul(x, w)))], [w])[0], [((5, 4), F32)])
        assert outer.watched_variables() == []  # tracing leaves nothing on the tape
    assert graph.node("w1").attrs == {"label": "w"}
    traced = run_graph(graph, [x])[0].numpy()
    np.testing.assert_allclose(traced, x.T @ (1 - np.tanh(x @ w.numpy()) ** 2), rtol=1e-4, atol=1e-5)


def test_tracing_records_no_autodiff_links_onto_concrete_tensors():
    w = pyml.Variable(np.ones((2,), F32))
    trace(lambda x: x * w, [((2,), F32)])
    assert w._node is None and w.grad is None


def test_graph_round_trips_through_json():
    w = pyml.Variable(np.ones((4, 2), F32), name="k")
    graph = trace(lambda x: ops.reshape(ops.matmul(x, w), (x.shape[0], 2, 1)), [((None, 4), F32)])
    data = graph.to_json()
    assert data["nodes"][-1]["attrs"] == {"shape": [None, 2, 1]}
    import json

    again = Graph.from_json(json.loads(json.dumps(data)), graph.constants)
    assert again.nodes == graph.nodes and again.inputs == graph.inputs and again.outputs == graph.outputs
    x = _rng().standard_normal((3, 4)).astype(F32)
    np.testing.assert_array_equal(run_graph(again, [x])[0].numpy(), run_graph(graph, [x])[0].numpy())


def test_an_unnamed_variable_is_still_a_labelled_weight():
    w = pyml.Variable(np.ones((3,), F32))
    graph = trace(lambda x: x * w, [((3,), F32)])
    assert graph.node("w1").attrs == {"label": "w1"}


# ---- state and randomness inside traced functions ---------------------------------------------------------
def test_host_value_is_a_placeholder_drawn_afresh_at_every_run():
    from pyml.graph.trace import host_value

    draws = iter([np.full((2, 3), 2.0, F32), np.full((2, 3), 3.0, F32)])
    result = trace_function(lambda x: x * host_value(x, (2, 3), F32, lambda: next(draws)), [((2, 3), F32)])
    assert result.graph.inputs == ["x", "h1"] and list(result.host_inputs) == ["h1"]
    assert result.graph.node("h1").op == "placeholder"
    f = pyml.function(lambda x: x * host_value(x, (2, 3), F32, lambda: next(draws)))
    ones = np.ones((2, 3), F32)
    np.testing.assert_array_equal(f(ones).numpy(), np.full((2, 3), 2.0))  # each call draws its own value
    np.testing.assert_array_equal(f(ones).numpy(), np.full((2, 3), 3.0))
    eager = host_value(pyml.Tensor(ones), (2, 3), F32, lambda: np.full((2, 3), 7.0))
    np.testing.assert_array_equal(eager.numpy(), np.full((2, 3), 7.0))


def test_assign_records_the_new_value_and_later_reads_see_it():
    from pyml.graph.trace import assign, substitute

    v = pyml.Variable(np.zeros(3, F32), name="count")

    def step(state, x):
        with substitute({v: state}):
            assign(v, v + x)
            return v * 2.0  # reads the assigned value

    result = trace_function(step, [((3,), F32), ((3,), F32)])
    (variable, value), = result.assigned.values()
    assert variable is v and value.shape == (3,)
    outputs = run_graph(result.graph, [np.ones(3, F32), np.full(3, 2.0, F32)])
    np.testing.assert_array_equal(outputs[0].numpy(), [6.0, 6.0, 6.0])
    np.testing.assert_array_equal(v.numpy(), [0.0, 0.0, 0.0]), "the variable itself is untouched by tracing"
    with pytest.raises(TraceError, match=r"variable 'count' is float32\[3\]; the new value is float32\[2\]"):
        trace_function(lambda s: assign(v, s) and s, [((2,), F32)])


def test_substitute_makes_variables_graph_values_and_gradients_flow_to_them():
    from pyml.graph.trace import substitute

    w = pyml.Variable(np.ones((3, 2), F32), name="kernel")

    def step(x, weight):
        with substitute({w: weight}):
            with pyml.GradientTape() as tape:
                loss = ops.sum(ops.matmul(x, w) ** 2.0)
            return tape.gradient(loss, w)

    graph = trace(step, [((4, 3), F32), ((3, 2), F32)])
    assert not [n for n in graph.nodes if n.op == "constant" and "label" in n.attrs]
    x, weight = _rng().standard_normal((4, 3)).astype(F32), _rng().standard_normal((3, 2)).astype(F32)
    np.testing.assert_allclose(run_graph(graph, [x, weight])[0].numpy(), 2 * x.T @ (x @ weight), rtol=1e-5)
    assert w._data is not None and not w.is_symbolic  # restored after the block

    def read_value(s):
        with substitute({w: s}):
            return w.numpy()

    with pytest.raises(pyml.errors.OpError, match=r"a symbolic tensor \(shape=\(3, 2\), dtype=float32\) has no value"):
        trace(read_value, [((3, 2), F32)])
    np.testing.assert_array_equal(w.numpy(), np.ones((3, 2)))

"""Graph passes (pyml/graph/passes.py), each tested by its printed before/after, plus: passes never change
their input graph, and an optimized graph computes what the original computes."""
import copy

import numpy as np
import pytest

from pyml.graph import (Graph, Node, eliminate_common_subexpressions, eliminate_dead_code, fold_constants, optimize,
                        run_graph)

F32 = "float32"


def _graph(lines, inputs, outputs, constants):
    """A graph from (name, op, shape, target, inputs, attrs) tuples; all float32."""
    nodes = [Node(name, op, shape, F32, target, list(ins), attrs) for name, op, shape, target, ins, attrs in lines]
    return Graph(nodes, inputs, outputs, {k: np.asarray(v, F32) for k, v in constants.items()})


def _lines(text):
    return "\n".join(line.strip() for line in text.strip().splitlines())


def _check_pure(graph_pass, graph, **kwargs):
    before = (str(graph), copy.deepcopy(graph.to_json()), dict(graph.constants))
    after = graph_pass(graph, **kwargs)
    assert (str(graph), graph.to_json(), dict(graph.constants)) == before, "the pass changed its input graph"
    return after


def _fold_example():
    return _graph([
        ("x", "placeholder", (3,), None, [], {}),
        ("c1", "constant", (3,), None, [], {}),
        ("c2", "constant", (), None, [], {}),
        ("v3", "call", (3,), "mul", ["c1", "c2"], {}),
        ("v4", "call", (3,), "add", ["x", "v3"], {}),
    ], ["x"], ["v4"], {"c1": [1.0, 2.0, 3.0], "c2": 2.0})


def test_fold_constants_before_after():
    graph = _fold_example()
    assert str(graph) == _lines("""
        %x : f32[3] = placeholder
        %c1 : f32[3] = constant [1.0, 2.0, 3.0]
        %c2 : f32[] = constant 2.0
        %v3 : f32[3] = mul(%c1, %c2)
        %v4 : f32[3] = add(%x, %v3)
        return %v4""")
    folded = _check_pure(fold_constants, graph)
    assert str(folded) == _lines("""
        %x : f32[3] = placeholder
        %c1 : f32[3] = constant [1.0, 2.0, 3.0]
        %c2 : f32[] = constant 2.0
        %v3 : f32[3] = constant [2.0, 4.0, 6.0]
        %v4 : f32[3] = add(%x, %v3)
        return %v4""")
    assert folded.constants["v3"].dtype == np.float32


def test_fold_constants_keeps_weights_batch_dependent_nodes_and_big_broadcasts():
    graph = _graph([
        ("x", "placeholder", (None, 4), None, [], {}),
        ("w1", "constant", (4, 4), None, [], {"label": "dense/kernel"}),
        ("v2", "call", (4, 4), "transpose", ["w1"], {"perm": (1, 0)}),
        ("c3", "constant", (1, 4), None, [], {}),
        ("v4", "call", (None, 4), "broadcast_to", ["c3"], {"shape": (None, 4)}),
        ("c5", "constant", (), None, [], {}),
        ("v6", "call", (64, 64), "broadcast_to", ["c5"], {"shape": (64, 64)}),
        ("v7", "call", (None, 4), "matmul", ["x", "v2"], {}),
    ], ["x"], ["v7", "v4", "v6"], {"w1": np.eye(4), "c3": np.ones((1, 4)), "c5": 0.5})
    assert str(fold_constants(graph)) == str(graph)
    grown = fold_constants(graph, growth_limit=64 * 64)
    assert grown.node("v6").op == "constant" and grown.constants["v6"].shape == (64, 64)
    assert grown.node("v2").op == "call"


def test_eliminate_dead_code_before_after():
    graph = _graph([
        ("x", "placeholder", (2,), None, [], {}),
        ("unused", "placeholder", (2,), None, [], {}),
        ("c2", "constant", (), None, [], {}),
        ("v3", "call", (2,), "exp", ["x"], {}),
        ("v4", "call", (2,), "mul", ["v3", "c2"], {}),
        ("v5", "call", (2,), "tanh", ["x"], {}),
    ], ["x", "unused"], ["v5"], {"c2": 3.0})
    after = _check_pure(eliminate_dead_code, graph)
    assert str(after) == _lines("""
        %x : f32[2] = placeholder
        %unused : f32[2] = placeholder
        %v5 : f32[2] = tanh(%x)
        return %v5""")
    assert after.constants == {}


def test_eliminate_common_subexpressions_before_after():
    graph = _graph([
        ("x", "placeholder", (2, 3), None, [], {}),
        ("v1", "call", (2, 3), "exp", ["x"], {}),
        ("v2", "call", (2, 3), "exp", ["x"], {}),
        ("c3", "constant", (), None, [], {}),
        ("c4", "constant", (), None, [], {}),
        ("v5", "call", (2, 3), "mul", ["v1", "c3"], {}),
        ("v6", "call", (2, 3), "mul", ["v2", "c4"], {}),
        ("v7", "call", (3,), "sum", ["v5"], {"axes": (0,), "keepdims": False}),
        ("v8", "call", (2,), "sum", ["v6"], {"axes": (1,), "keepdims": False}),
        ("w9", "constant", (), None, [], {"label": "a"}),
        ("w10", "constant", (), None, [], {"label": "b"}),
    ], ["x"], ["v7", "v8", "v6", "w9", "w10"], {"c3": 2.0, "c4": 2.0, "w9": 1.0, "w10": 1.0})
    after = _check_pure(eliminate_common_subexpressions, graph)
    assert str(after) == _lines("""
        %x : f32[2,3] = placeholder
        %v1 : f32[2,3] = exp(%x)
        %c3 : f32[] = constant 2.0
        %v5 : f32[2,3] = mul(%v1, %c3)
        %v7 : f32[3] = sum(%v5, axes=(0,), keepdims=False)
        %v8 : f32[2] = sum(%v5, axes=(1,), keepdims=False)
        %w9 : f32[] = constant a
        %w10 : f32[] = constant b
        return %v7, %v8, %v5, %w9, %w10""")
    assert sorted(after.constants) == ["c3", "w10", "w9"]


def test_common_constants_must_match_dtype_and_bytes():
    graph = Graph([Node("c0", "constant", (), F32), Node("c1", "constant", (), F32),
                   Node("c2", "constant", (), "int32")], [], ["c0", "c1", "c2"],
                  {"c0": np.float32(0.0), "c1": np.float32(-0.0), "c2": np.int32(0)})
    assert eliminate_common_subexpressions(graph).outputs == ["c0", "c1", "c2"]


def test_optimize_before_after_and_same_results():
    graph = _graph([
        ("x", "placeholder", (None, 3), None, [], {}),
        ("c1", "constant", (3,), None, [], {}),
        ("c2", "constant", (), None, [], {}),
        ("v3", "call", (3,), "mul", ["c1", "c2"], {}),
        ("v4", "call", (3,), "mul", ["c1", "c2"], {}),
        ("v5", "call", (None, 3), "add", ["x", "v3"], {}),
        ("v6", "call", (None, 3), "add", ["x", "v4"], {}),
        ("v7", "call", (None, 3), "mul", ["v5", "v6"], {}),
        ("v8", "call", (None, 3), "exp", ["v7"], {}),
    ], ["x"], ["v7"], {"c1": [1.0, 2.0, 3.0], "c2": 2.0})
    after = _check_pure(optimize, graph)
    assert str(after) == _lines("""
        %x : f32[N,3] = placeholder
        %v3 : f32[3] = constant [2.0, 4.0, 6.0]
        %v5 : f32[N,3] = add(%x, %v3)
        %v7 : f32[N,3] = mul(%v5, %v5)
        return %v7""")
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(F32)
    np.testing.assert_array_equal(run_graph(after, [x])[0].numpy(), run_graph(graph, [x])[0].numpy())


@pytest.mark.parametrize("graph_pass", [fold_constants, eliminate_dead_code, eliminate_common_subexpressions,
                                        optimize])
def test_passes_are_idempotent_on_their_output(graph_pass):
    once = graph_pass(_fold_example())
    assert str(graph_pass(once)) == str(once)

"""Epilogue fusion: which chains fold into their matmul/conv, read from before/after printouts, and the fused
kernel computing what eager pyml computes."""
import json

import numpy as np

import pyml
from pyml.graph import trace
from pyml.graph.ir import Graph, Node
from tests.webexport.helpers import assert_matches, export_and_run
from webexport import fuse, lower
from webexport.fusion import format_fusion


def fused_lowering(node, ctx, epilogue=()):  # only its signature matters to fuse()
    return []


def plain_lowering(node, ctx):
    return []


TABLE = {"matmul": fused_lowering, "conv": fused_lowering, "add": plain_lowering}


def dense_graph(activation=True, extra_reader=False, output_inside=False):
    """x @ kernel + bias, then relu as maximum(v, 0); optional extra reader of the matmul result."""
    f32 = "float32"
    nodes = [Node("x", "placeholder", (None, 3), f32),
             Node("k", "constant", (3, 4), f32, attrs={"label": "dense/kernel"}),
             Node("b", "constant", (4,), f32, attrs={"label": "dense/bias"}),
             Node("zero", "constant", (), f32),
             Node("v1", "call", (None, 4), f32, "matmul", ["x", "k"]),
             Node("v2", "call", (None, 4), f32, "add", ["v1", "b"])]
    if activation:
        nodes.append(Node("v3", "call", (None, 4), f32, "maximum", ["v2", "zero"]))
    if extra_reader:
        nodes.append(Node("v4", "call", (None, 4), f32, "exp", ["v1"]))
    outputs = [nodes[-1].name] + (["v2"] if output_inside else [])
    rng = np.random.default_rng(0)
    constants = {"k": rng.standard_normal((3, 4)).astype(f32), "b": rng.standard_normal(4).astype(f32),
                 "zero": np.float32(0)}
    return Graph(nodes, ["x"], outputs, constants)


def test_dense_relu_chain_becomes_one_step_printout():
    graph = dense_graph()
    before = format_fusion(graph, {})
    after = format_fusion(graph, fuse(graph, TABLE))
    assert before == "dense/matmul  %v1\ndense/add  %v2\nv3/maximum  %v3"
    assert after == "dense/matmul+add+maximum  %v1 %v2 %v3"


def test_chain_stops_at_a_value_with_two_readers():
    groups = fuse(dense_graph(activation=False, extra_reader=True), TABLE)
    assert groups == {}


def test_chain_stops_before_a_graph_output():
    graph = dense_graph(output_inside=True)  # v2 must be stored: it is an output
    assert [n.name for n in fuse(graph, TABLE)["v1"]] == ["v2"]


def test_chain_stops_at_a_non_constant_operand_or_a_shape_change():
    f32 = "float32"
    nodes = [Node("x", "placeholder", (2, 3), f32), Node("y", "placeholder", (2, 4), f32),
             Node("k", "constant", (3, 4), f32, attrs={"label": "dense/kernel"}),
             Node("v1", "call", (2, 4), f32, "matmul", ["x", "k"]),
             Node("v2", "call", (2, 4), f32, "tanh", ["v1"]),
             Node("v3", "call", (2, 4), f32, "add", ["v2", "y"]),  # residual: y is an activation
             Node("v4", "call", (2, 4), f32, "exp", ["v3"])]
    assert [n.name for n in fuse(Graph(nodes, ["x", "y"], ["v4"], {"k": np.ones((3, 4), f32)}), TABLE)["v1"]] == ["v2"]
    nodes = nodes[:4] + [Node("c", "constant", (3, 2, 4), f32),
                         Node("v2", "call", (3, 2, 4), f32, "add", ["v1", "c"])]  # broadcasting grows the shape
    graph = Graph(nodes, ["x"], ["v2"], {"k": np.ones((3, 4), f32), "c": np.ones((3, 2, 4), f32)})
    assert fuse(graph, TABLE) == {}


def test_comparison_is_not_an_epilogue():
    f32 = "float32"
    nodes = [Node("x", "placeholder", (2, 3), f32), Node("k", "constant", (3, 4), f32),
             Node("zero", "constant", (), f32),
             Node("v1", "call", (2, 4), f32, "matmul", ["x", "k"]),
             Node("v2", "call", (2, 4), "bool", "greater", ["v1", "zero"])]
    graph = Graph(nodes, ["x"], ["v2"], {"k": np.ones((3, 4), f32), "zero": np.float32(0)})
    assert fuse(graph, TABLE) == {}


def test_ops_whose_lowering_takes_no_epilogue_are_not_anchors():
    assert fuse(dense_graph(), {"matmul": plain_lowering}) == {}


def test_matmul_bias_relu_is_one_step_and_matches_eager(tmp_path):
    graph = dense_graph()
    plan = lower(graph, fuse(graph))
    assert [s.label for s in plan.steps] == ["dense/matmul+add+maximum"]
    assert plan.steps[0].nodes == ["v1", "v2", "v3"]
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    (out,), bundle = export_and_run(graph, [x], tmp_path / "b")
    assert [s["label"] for s in bundle.manifest["steps"]] == ["dense/matmul+add+maximum"]
    k, b = (pyml.Tensor(graph.constants[n]) for n in ("k", "b"))
    expected = pyml.ops.maximum(pyml.ops.add(pyml.ops.matmul(pyml.Tensor(x), k), b), 0.0).numpy()
    assert_matches(out, expected, "dense+relu")


def test_traced_dense_layer_fuses(tmp_path):
    rng = np.random.default_rng(2)
    kernel = pyml.Variable(rng.standard_normal((6, 5)).astype(np.float32), name="dense_1/kernel")
    bias = pyml.Variable(rng.standard_normal(5).astype(np.float32), name="dense_1/bias")

    def dense(x):
        return pyml.ops.tanh(pyml.ops.matmul(x, kernel) + bias)

    graph = trace(dense, [((None, 6), "float32")])
    x = rng.standard_normal((3, 6)).astype(np.float32)
    (out,), bundle = export_and_run(graph, [x], tmp_path / "b")
    labels = [s["label"] for s in bundle.manifest["steps"]]
    assert labels == ["dense_1/matmul+add+tanh"], labels
    assert_matches(out, dense(pyml.Tensor(x)).numpy(), "traced dense")
    json.dumps(bundle.manifest)  # still plain JSON

"""validate_graph_json (pyml/graph/validate.py): every malformed graph fails with one error naming the
node and the field; Graph.from_json validates first."""
import copy

import pytest

from pyml.graph import Graph, GraphError, validate_graph_json

GOOD = {
    "version": 1, "inputs": ["x"], "outputs": ["v2"],
    "nodes": [
        {"name": "x", "op": "placeholder", "target": None, "inputs": [], "attrs": {}, "shape": [None, 4],
         "dtype": "float32"},
        {"name": "w1", "op": "constant", "target": None, "inputs": [], "attrs": {"label": "dense/kernel"},
         "shape": [4, 2], "dtype": "float32"},
        {"name": "v2", "op": "call", "target": "matmul", "inputs": ["x", "w1"], "attrs": {}, "shape": [None, 2],
         "dtype": "float32"},
    ],
}


def _bad(**changes):
    """GOOD with changes: keys like "nodes.2.target" set a field, "version" a top-level one."""
    data = copy.deepcopy(GOOD)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value
    return data


def test_a_well_formed_graph_passes_and_loads():
    validate_graph_json(GOOD)
    graph = Graph.from_json(GOOD)
    assert [n.name for n in graph.nodes] == ["x", "w1", "v2"] and graph.node("x").shape == (None, 4)


@pytest.mark.parametrize("data, message", [
    (_bad(version=2), r"^graph format version 2 is newer than supported 1; update pyml$"),
    (_bad(version="1"), r"graph.version: expected a positive int. Received: '1'"),
    ({"version": 1, "inputs": [], "outputs": []}, r"graph.nodes: missing"),
    (_bad(**{"nodes.2.target": "foo"}), r"unknown op 'foo' in node %v2 \(graph.nodes\[2\] \(%v2\).target\)"),
    (_bad(**{"nodes.2.op": "apply"}), r"graph.nodes\[2\] \(%v2\).op: expected one of placeholder, constant, call. "
                                      r"Received: 'apply'"),
    (_bad(**{"nodes.1.name": "x"}), r"graph.nodes\[1\] \(%x\).name: the name is already used by graph.nodes\[0\]"),
    (_bad(**{"nodes.2.inputs": ["x", "w9"]}), r"graph.nodes\[2\] \(%v2\).inputs\[1\]: %w9 is not defined by an "
                                              r"earlier node"),
    (_bad(**{"nodes.2.shape": [None, "2"]}), r"graph.nodes\[2\] \(%v2\).shape: expected a list of non-negative "
                                             r"ints \(null for the batch\). Received: \[None, '2'\]"),
    (_bad(**{"nodes.2.shape": [2, None]}), r"graph.nodes\[2\] \(%v2\).shape: only axis 0 may be the dynamic batch"),
    (_bad(**{"nodes.2.shape": [-1, 2]}), r"graph.nodes\[2\] \(%v2\).shape: expected a list of non-negative ints"),
    (_bad(**{"nodes.2.dtype": "float16"}), r"graph.nodes\[2\] \(%v2\).dtype: expected one of float32, float64, "
                                           r"int32, bool. Received: 'float16'"),
    (_bad(**{"nodes.1.target": "matmul"}), r"graph.nodes\[1\] \(%w1\).target: only call nodes have a target"),
    (_bad(**{"nodes.1.inputs": ["x"]}), r"graph.nodes\[1\] \(%w1\).inputs: a constant node takes no inputs"),
    (_bad(**{"nodes.2.attrs": []}), r"graph.nodes\[2\] \(%v2\).attrs: expected an object"),
    (_bad(**{"nodes.2.name": ""}), r"graph.nodes\[2\].name: expected a non-empty string"),
    (_bad(inputs=["w1"]), r"graph.inputs: must list each placeholder once \(placeholders: \['x'\]\)"),
    (_bad(outputs=["v3"]), r"graph.outputs\[0\]: no node is named 'v3'"),
    (_bad(outputs="v2"), r"graph.outputs: expected a list of value names"),
    ([], r"graph: expected a JSON object. Received: list"),
])
def test_malformed_graphs_name_the_node_and_field(data, message):
    with pytest.raises(GraphError, match=message):
        validate_graph_json(data)
    with pytest.raises(GraphError, match=message):
        Graph.from_json(data)

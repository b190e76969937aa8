"""Checks a graph's JSON form (docs/internals.md §3) before anything is built from it.

``Graph.from_json`` calls ``validate_graph_json`` first, so a bad file fails with one error that names
the node and the field, never with a KeyError deep inside the interpreter or the exporter:

    >>> validate_graph_json({"version": 9, "inputs": [], "outputs": [], "nodes": []})
    Traceback (most recent call last):
    ...
    pyml.graph.validate.GraphError: graph format version 9 is newer than supported 1; update pyml
"""
from pyml.dtypes import DTYPES
from pyml.graph.ir import FORMAT_VERSION, OPCODES


class GraphError(ValueError):
    """A graph that is malformed, or that failed while running: the message names the node and field."""


def validate_graph_json(data):
    """Raise ``GraphError`` unless ``data`` is a well-formed graph (the output of ``Graph.to_json``).

    Checks, in order: the top-level fields and ``version`` (a newer version than this pyml supports is
    its own error), then every node: ``name`` unique, ``op`` one of ``placeholder constant call``,
    ``target`` a registered primitive for ``call`` nodes (and null otherwise), ``inputs`` defined by
    earlier nodes, ``attrs`` an object, ``shape`` a list of non-negative ints with ``null`` only at
    axis 0 (the dynamic batch), ``dtype`` one pyml knows. Last, graph ``inputs`` must list exactly the
    placeholders and ``outputs`` must name defined values.

    Args:
        data: a dict, as parsed from JSON.

    >>> validate_graph_json({"version": 1, "inputs": ["x"], "outputs": ["x"], "nodes": [
    ...     {"name": "x", "op": "placeholder", "target": None, "inputs": [], "attrs": {},
    ...      "shape": [None, 4], "dtype": "float32"}]})
    """
    from pyml.ops.registry import primitives

    if not isinstance(data, dict):
        raise GraphError(f"graph: expected a JSON object. Received: {type(data).__name__}")
    for key in ("version", "inputs", "outputs", "nodes"):
        if key not in data:
            raise GraphError(f"graph.{key}: missing. Received keys: {sorted(data)}")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GraphError(f"graph.version: expected a positive int. Received: {version!r}")
    if version > FORMAT_VERSION:
        raise GraphError(f"graph format version {version} is newer than supported {FORMAT_VERSION}; update pyml")
    if not isinstance(data["nodes"], list):
        raise GraphError(f"graph.nodes: expected a list. Received: {type(data['nodes']).__name__}")

    known_ops = primitives()
    defined = {}
    for index, node in enumerate(data["nodes"]):
        where = f"graph.nodes[{index}]"
        if not isinstance(node, dict):
            raise GraphError(f"{where}: expected an object. Received: {type(node).__name__}")
        name = node.get("name")
        if not isinstance(name, str) or not name:
            raise GraphError(f"{where}.name: expected a non-empty string. Received: {name!r}")
        where = f"{where} (%{name})"
        if name in defined:
            raise GraphError(f"{where}.name: the name is already used by graph.nodes[{defined[name][0]}]")
        _check_node(node, where, defined, known_ops)
        defined[name] = (index, node["op"])

    placeholders = [n for n, (_, op) in defined.items() if op == "placeholder"]
    inputs = _name_list(data["inputs"], "graph.inputs")
    if sorted(inputs) != sorted(placeholders) or len(set(inputs)) != len(inputs):
        raise GraphError(f"graph.inputs: must list each placeholder once (placeholders: {placeholders}). "
                         f"Received: {inputs}")
    for i, name in enumerate(_name_list(data["outputs"], "graph.outputs")):
        if name not in defined:
            raise GraphError(f"graph.outputs[{i}]: no node is named {name!r}")


def _check_node(node, where, defined, known_ops):
    op = node.get("op")
    if op not in OPCODES:
        raise GraphError(f"{where}.op: expected one of {', '.join(OPCODES)}. Received: {op!r}")
    target = node.get("target")
    if op == "call":
        if not isinstance(target, str):
            raise GraphError(f"{where}.target: a call node needs the primitive's name. Received: {target!r}")
        if target not in known_ops:
            raise GraphError(f"unknown op {target!r} in node %{node['name']} ({where}.target)")
    elif target is not None:
        raise GraphError(f"{where}.target: only call nodes have a target. Received: {target!r}")

    inputs = _name_list(node.get("inputs"), f"{where}.inputs")
    if op != "call" and inputs:
        raise GraphError(f"{where}.inputs: a {op} node takes no inputs. Received: {inputs}")
    for i, value in enumerate(inputs):
        if value not in defined:
            raise GraphError(f"{where}.inputs[{i}]: %{value} is not defined by an earlier node")

    attrs = node.get("attrs", {})
    if not isinstance(attrs, dict):
        raise GraphError(f"{where}.attrs: expected an object. Received: {attrs!r}")

    shape = node.get("shape")
    if not isinstance(shape, list) or not all(_is_dim(d) for d in shape):
        raise GraphError(f"{where}.shape: expected a list of non-negative ints (null for the batch). "
                         f"Received: {shape!r}")
    if any(d is None for d in shape[1:]):
        raise GraphError(f"{where}.shape: only axis 0 may be the dynamic batch (null). Received: {shape!r}")

    dtype = node.get("dtype")
    if dtype not in DTYPES:
        raise GraphError(f"{where}.dtype: expected one of {', '.join(DTYPES)}. Received: {dtype!r}")


def _is_dim(d):
    return d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)


def _name_list(value, where):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GraphError(f"{where}: expected a list of value names. Received: {value!r}")
    return value

"""The graph IR: the contract between Python and the web runtime (documented in docs/internals.md).

A ``Graph`` is a topologically ordered list of ``Node``s. Three opcodes, as in torch.fx:

- ``placeholder``: a graph input;
- ``constant``: a value known at trace time (a weight, or a small literal); its array lives in
  ``Graph.constants[name]``, never in the JSON node;
- ``call``: a primitive from ``pyml.ops.primitives()``, named by ``target``, applied to ``inputs``.

Every node names the one value it produces (``name``) and carries its static ``shape`` and ``dtype``.
A ``None`` in a shape marks the dynamic batch dimension (only ever axis 0). The printout reads like:

    %x : f32[N,64] = placeholder
    %w0 : f32[64,10] = constant dense/kernel
    %v1 : f32[N,10] = matmul(%x, %w0)
"""
from dataclasses import dataclass, field

import numpy as np

FORMAT_VERSION = 1
OPCODES = ("placeholder", "constant", "call")
_SHORT = {"float32": "f32", "float64": "f64", "int32": "i32", "bool": "bool"}


@dataclass
class Node:
    """One graph value: ``op`` (placeholder, constant or call) makes ``name``, of ``shape`` and ``dtype``;
    a call applies primitive ``target`` to the values ``inputs`` with ``attrs``.

    >>> print(Node("v1", "call", (None, 10), "float32", "matmul", ["x", "w0"]))
    %v1 : f32[N,10] = matmul(%x, %w0)
    """

    name: str
    op: str
    shape: tuple
    dtype: str
    target: str | None = None
    inputs: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)

    def __str__(self):
        dims = ",".join("N" if d is None else str(d) for d in self.shape)
        head = f"%{self.name} : {_SHORT.get(self.dtype, self.dtype)}[{dims}] = "
        if self.op == "call":
            args = ", ".join(f"%{i}" for i in self.inputs)
            attrs = "".join(f", {k}={v}" for k, v in self.attrs.items())
            return head + f"{self.target}({args}{attrs})"
        if self.op == "constant":
            return head + f"constant {self.attrs.get('label', '')}".rstrip()
        return head + self.op


@dataclass
class Graph:
    """Topologically ordered ``nodes``, the names of its ``inputs`` (placeholders) and ``outputs``, and the
    ``constants``' arrays by node name. ``print(graph)`` shows it, ``to_json``/``from_json`` save it.

    >>> x = Node("x", "placeholder", (None, 2), "float32")
    >>> print(Graph([x, Node("v1", "call", (None, 2), "float32", "exp", ["x"])], ["x"], ["v1"]))
    %x : f32[N,2] = placeholder
    %v1 : f32[N,2] = exp(%x)
    return %v1
    """

    nodes: list
    inputs: list
    outputs: list
    constants: dict = field(default_factory=dict)

    def node(self, name):
        """The node named ``name`` (a KeyError naming it otherwise)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"graph has no value named {name!r}")

    def nodes_by_name(self):
        """``{name: node}`` for every node."""
        return {n.name: n for n in self.nodes}

    def __str__(self):
        lines = [str(n) + self._value_note(n) for n in self.nodes]
        lines.append("return " + ", ".join(f"%{o}" for o in self.outputs))
        return "\n".join(lines)

    def _value_note(self, node):
        """Small unlabelled constants show their value in the printout: ``%c1 : f32[] = constant 2.0``."""
        value = self.constants.get(node.name) if node.op == "constant" and "label" not in node.attrs else None
        if value is None or np.size(value) > 6:
            return ""
        return " " + repr(np.asarray(value).tolist())

    # ---- JSON ---------------------------------------------------------------------------------
    def to_json(self):
        """A JSON-ready dict; constants' arrays are left out (see ``constants``)."""
        return {
            "version": FORMAT_VERSION,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "nodes": [
                {"name": n.name, "op": n.op, "target": n.target, "inputs": list(n.inputs),
                 "attrs": _jsonable(n.attrs), "shape": list(n.shape), "dtype": n.dtype}
                for n in self.nodes
            ],
        }

    @classmethod
    def from_json(cls, data, constants=None):
        """Rebuild a graph from ``to_json`` output; ``constants`` maps constant names to arrays."""
        from pyml.graph.validate import validate_graph_json

        validate_graph_json(data)
        nodes = [
            Node(d["name"], d["op"], tuple(d["shape"]), d["dtype"], d.get("target"), list(d["inputs"]),
                 _from_jsonable(d.get("attrs", {})))
            for d in data["nodes"]
        ]
        return cls(nodes, list(data["inputs"]), list(data["outputs"]), dict(constants or {}))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _from_jsonable(value):
    """Lists become tuples, so attrs compare equal to the ones tracing recorded."""
    if isinstance(value, dict):
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_from_jsonable(v) for v in value)
    return value

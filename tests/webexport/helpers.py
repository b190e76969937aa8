"""Shared helpers for the webexport tests: small graphs, export-and-run, and comparisons with eager pyml."""
import numpy as np

import pyml
from pyml.graph.ir import Graph, Node
from pyml.ops import registry
from webexport import export, load_bundle, run_bundle
from webexport.kernels.common import LOWERINGS, ExportError
from webexport.lower import LoweringContext
from webexport.native import run_kernels

RTOL = ATOL = 1e-5  # float32 parity between WGSL and numpy (docs/internals.md §4)


def one_node_graph(op, inputs, attrs, constant_inputs=()):
    """A graph applying primitive ``op`` once: placeholders ``x0, x1, ...`` for the array inputs (graph
    constants for the indices in ``constant_inputs``), the call node named ``out``."""
    spec = registry.infer(registry.get(op), [pyml.Tensor(x) for x in inputs], attrs)
    nodes, constants, placeholders = [], {}, []
    for i, x in enumerate(inputs):
        name, dtype = f"x{i}", pyml.dtypes.of_array(np.asarray(x))
        if i in constant_inputs:
            nodes.append(Node(name, "constant", tuple(np.shape(x)), dtype, attrs={"label": f"sample/{name}"}))
            constants[name] = np.asarray(x)
        else:
            nodes.append(Node(name, "placeholder", tuple(np.shape(x)), dtype))
            placeholders.append(name)
    nodes.append(Node("out", "call", spec.shape, spec.dtype, op, [f"x{i}" for i in range(len(inputs))], dict(attrs)))
    return Graph(nodes, placeholders, ["out"], constants)


def eager(op, inputs, attrs):
    """The eager pyml result of one primitive, as a numpy array."""
    return registry.bind(op, *[pyml.Tensor(x) for x in inputs], **attrs).numpy()


def export_and_run(graph, feeds, folder, batch=None, **export_args):
    """Export ``graph`` to ``folder`` (no JS runtime copy), reload it validated, run it natively.

    Returns ``(outputs, bundle)``: outputs as a list in graph output order."""
    export_args.setdefault("include_runtime", False)
    export(graph, folder, **export_args)
    bundle = load_bundle(folder)
    out = run_bundle(bundle, feeds, batch=batch)
    return list(out.values()), bundle  # keyed by the output names, in order


def assert_matches(actual, expected, what=""):
    """Float: rtol/atol 1e-5; int32 and bool: exact. Shapes must agree exactly."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != eager {expected.shape}"
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected.astype(actual.dtype), err_msg=what)


def movement_graph():
    """A small static graph with a labelled weight, using only movement ops:
    ``out = transpose(concatenate([x, layer/c], axis=0))`` and ``flat = reshape(out, (-1,))``."""
    c = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    nodes = [Node("x", "placeholder", (2, 3), "float32"),
             Node("c", "constant", (2, 3), "float32", attrs={"label": "layer/c"}),
             Node("v1", "call", (4, 3), "float32", "concatenate", ["x", "c"], {"axis": 0}),
             Node("v2", "call", (3, 4), "float32", "transpose", ["v1"], {"perm": (1, 0)}),
             Node("v3", "call", (12,), "float32", "reshape", ["v2"], {"shape": (12,)})]
    return Graph(nodes, ["x"], ["v2", "v3"], {"c": c})


def movement_reference(x, c):
    out = np.concatenate([x, c], axis=0).T
    return [out, out.reshape(-1)]


def lower_and_run_graph(graph, feeds, batch=1, epilogue=()):
    """Lower the graph's first call node (with the ``epilogue`` nodes fused, for lowerings that take one) and
    run its kernels; returns ``(kernels, {value name: array})``."""
    ctx = LoweringContext(graph)
    node = next(n for n in graph.nodes if n.op == "call")
    fused = [graph.node(n) for n in epilogue]
    kernels = LOWERINGS[node.target](node, ctx, epilogue=fused) if fused else LOWERINGS[node.target](node, ctx)
    values = dict(zip(graph.inputs, feeds))
    values.update(graph.constants)
    return kernels, run_kernels(kernels, values, ctx.specs, batch=batch)


def cap_matmul_epilogue(monkeypatch, longest):
    """Make the matmul lowering refuse epilogues of more than ``longest`` nodes, as a stricter lowering would."""
    real = LOWERINGS["matmul"]

    def picky(node, ctx, epilogue=()):
        if len(epilogue) > longest:
            raise ExportError("too long")
        return real(node, ctx, epilogue=epilogue)

    monkeypatch.setitem(LOWERINGS, "matmul", picky)

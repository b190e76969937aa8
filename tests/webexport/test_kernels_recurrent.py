"""The ``rnn_scan`` WGSL lowering (webexport/kernels/recurrent.py) run natively (wgpu-py on lavapipe) against the
numpy reference of the contract's equations (tests/webexport/recurrent_reference.py): every cell, both GRU
variants, go_backwards, masks, every activation, one and several rows per workgroup, the dynamic batch, and the
limits refused at export."""
import numpy as np
import pytest

from pyml.graph.ir import Graph, Node
from tests.webexport.recurrent_reference import GATES, random_case, rnn_scan
from webexport.kernels.common import LOWERINGS, ExportError
from webexport.lower import LoweringContext, check_limits, Plan, Step
from webexport.native import run_kernels

NAMES = {"simple": ["xp", "u", "h0"], "gru": ["xp", "u", "b_rec", "h0"], "lstm": ["xp", "u", "h0", "c0"]}


def scan_graph(cell, inputs, attrs, dynamic=False, constant_u=False):
    """One ``rnn_scan`` node named ``out`` over placeholders (``u`` a constant when ``constant_u``)."""
    names = NAMES[cell] + (["mask"] if attrs.get("masked") else [])
    batch, steps = inputs[0].shape[:2]
    states = 2 if cell == "lstm" else 1
    nodes, constants, placeholders = [], {}, []
    for name, x in zip(names, inputs):
        shape = tuple(x.shape)
        if dynamic and name in ("xp", "h0", "c0", "mask"):
            shape = (None,) + shape[1:]
        if constant_u and name == "u":
            nodes.append(Node(name, "constant", shape, "float32", attrs={"label": "lstm/recurrent_kernel"}))
            constants[name] = x
        else:
            nodes.append(Node(name, "placeholder", shape, "float32"))
            placeholders.append(name)
    out_shape = (None if dynamic else batch, steps, states * attrs["units"])
    nodes.append(Node("out", "call", out_shape, "float32", "rnn_scan", names, dict(attrs)))
    return Graph(nodes, placeholders, ["out"], constants)


def attrs_for(cell, units, **extra):
    attrs = {"cell": cell, "units": units, "activation": "tanh", "recurrent_activation": "sigmoid",
             "go_backwards": False, "reset_after": cell == "gru", "masked": False}
    attrs.update(extra)
    return attrs


def run_scan(cell, inputs, attrs, dynamic=False, packed=None):
    graph = scan_graph(cell, inputs, attrs, dynamic)
    ctx = LoweringContext(graph, packed)
    kernels = LOWERINGS["rnn_scan"](graph.node("out"), ctx)
    values = dict(zip(graph.inputs, [x for n, x in zip(NAMES[cell] + ["mask"], inputs) if n in graph.inputs]))
    values.update(graph.constants)
    out = run_kernels(kernels, values, ctx.specs, batch=inputs[0].shape[0])["out"]
    return out, kernels


CASES = [
    ("simple", {}), ("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
    ("lstm", {"go_backwards": True}), ("gru", {"go_backwards": True, "reset_after": False}),
    ("simple", {"masked": True}), ("lstm", {"masked": True, "go_backwards": True}),
    ("gru", {"masked": True}), ("gru", {"masked": True, "reset_after": False}),
]


@pytest.mark.parametrize("cell, extra", CASES, ids=lambda v: v if isinstance(v, str) else "-".join(
    f"{k}={w}" for k, w in v.items()))
@pytest.mark.parametrize("batch, units", [(1, 7), (3, 12)])
def test_kernel_matches_reference(cell, extra, batch, units):
    """Keras semantics (gate orders LSTM i,f,c,o and GRU z,r,h; a masked step carries the state; go_backwards
    returns states in processing order) over 21 steps, one dispatch for the whole sequence; 7 units run the
    scalar program, 12 the vec4 one."""
    attrs = attrs_for(cell, units, **extra)
    inputs = random_case(cell, batch, 21, units, masked=attrs["masked"], seed=batch)
    out, kernels = run_scan(cell, inputs, attrs)
    assert len(kernels) == 1
    assert ("array<vec4<f32>>" in kernels[0].wgsl) == (units % 4 == 0)
    np.testing.assert_allclose(out, rnn_scan(*inputs, **attrs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation, recurrent", [("relu", "hard_sigmoid"), ("linear", "softsign"),
                                                    ("softsign", "tanh"), ("sigmoid", "linear")])
def test_activations(activation, recurrent):
    attrs = attrs_for("lstm", 8, activation=activation, recurrent_activation=recurrent)
    inputs = random_case("lstm", 2, 20, 8, scale=0.3)
    out, _ = run_scan("lstm", inputs, attrs)
    np.testing.assert_allclose(out, rnn_scan(*inputs, **attrs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell, extra, units", [("lstm", {}, 20), ("gru", {"reset_after": False}, 9),
                                                ("simple", {"masked": True}, 20)])
@pytest.mark.parametrize("batch", [1, 9])
def test_dynamic_batch_and_multi_row_variant(cell, extra, units, batch):
    """Batch rows past 8 run the variant with 4 rows per workgroup; 9 leaves 3 rows of the last one idle."""
    attrs = attrs_for(cell, units, **extra)
    inputs = random_case(cell, batch, 20, units, masked=attrs["masked"], seed=4)
    out, kernels = run_scan(cell, inputs, attrs, dynamic=True)
    assert [v.min_batch for v in kernels[0].variants] == [8]
    np.testing.assert_allclose(out, rnn_scan(*inputs, **attrs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell, units, size", [("gru", 302, 160), ("simple", 1028, 160)])
def test_units_past_one_invocation_each(cell, units, size):
    """More units (or quads of units) than 256 invocations: each invocation owns two (slots), the second only for
    some invocations; 302 units run the scalar program, 1028 the vec4 one (257 quads)."""
    attrs = attrs_for(cell, units, reset_after=False)
    inputs = random_case(cell, 2, 20, units, seed=1)
    out, kernels = run_scan(cell, inputs, attrs)
    assert kernels[0].workgroup_size == size
    np.testing.assert_allclose(out, rnn_scan(*inputs, **attrs), rtol=1e-5, atol=1e-5)


def test_workgroup_memory_within_limits():
    attrs = attrs_for("lstm", 2048)
    graph = scan_graph("lstm", random_case("lstm", 1, 2, 4), attrs)  # shapes only matter through specs
    ctx = LoweringContext(graph)
    ctx.specs["xp"] = ctx.specs["xp"]._replace(shape=(1, 2, 4 * 2048))
    kernels = LOWERINGS["rnn_scan"](graph.node("out"), ctx)
    check_limits(Plan(graph, [Step("scan", kernels[0], ["out"])], ctx.specs))
    graph.node("out").attrs["units"] = 2049
    ctx.specs["xp"] = ctx.specs["xp"]._replace(shape=(1, 2, 4 * 2049))
    with pytest.raises(ExportError, match=r"%out \(rnn_scan\): 2049 units need 16392 bytes .*at most 2048 units"):
        LOWERINGS["rnn_scan"](graph.node("out"), ctx)


@pytest.mark.parametrize("key, value, message", [
    ("activation", "gelu", r"activation 'gelu' has no kernel"),
    ("recurrent_activation", "swish", r"recurrent_activation 'swish' has no kernel"),
    ("cell", "peephole", r"unknown cell 'peephole'"),
])
def test_refuses_unknown_cells_and_activations(key, value, message):
    attrs = attrs_for("lstm", 4)
    attrs[key] = value
    graph = scan_graph("lstm", random_case("lstm", 1, 3, 4), attrs)
    with pytest.raises(ExportError, match=message):
        LOWERINGS["rnn_scan"](graph.node("out"), LoweringContext(graph))

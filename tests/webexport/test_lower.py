"""The lowering driver: what lowerings see (ctx), what the plan records (steps, temps, aliases, weights),
and the errors that name the node and op."""
import numpy as np
import pytest

from pyml.graph.ir import Graph, Node
from tests.webexport.helpers import assert_matches, cap_matmul_epilogue, export_and_run
from webexport import ExportError, fuse, lower
from webexport.kernels.common import LOWERINGS, Kernel
from webexport.kernels.copy import copy_kernel
from webexport.lower import workgroup_storage_bytes

F32 = "float32"


def tanh_graph(shape=(None, 4)):
    nodes = [Node("x", "placeholder", shape, F32),
             Node("w", "constant", (4,), F32, attrs={"label": "layer/w"}),
             Node("s", "constant", (), F32),
             Node("v1", "call", shape, F32, "tanh", ["x"])]
    return Graph(nodes, ["x"], ["v1"], {"w": np.arange(4, dtype=np.float32), "s": np.float32(2)})


def test_context_answers_specs_constants_nodes_and_temps(monkeypatch):
    seen = {}

    def spy(node, ctx):
        seen["spec"] = ctx.spec("x")
        seen["w"] = ctx.constant("w")
        seen["s"] = ctx.constant("s")
        seen["x"] = ctx.constant("x")
        seen["node"] = ctx.node("v1")
        seen["temps"] = [ctx.temp((None, 8), "int32"), ctx.temp((3,), F32)]
        seen["temp_spec"] = ctx.spec(seen["temps"][0])
        return [copy_kernel("x", "v1", ctx.spec("v1"), "v1/copy")]

    monkeypatch.setitem(LOWERINGS, "tanh", spy)
    plan = lower(tanh_graph())
    assert seen["spec"] == ((None, 4), F32)
    np.testing.assert_array_equal(seen["w"], [0, 1, 2, 3])
    assert seen["s"] == 2 and seen["x"] is None
    assert seen["node"].target == "tanh"
    assert seen["temps"] == ["v1_t0", "v1_t1"] and seen["temp_spec"] == ((None, 8), "int32")
    assert [s.label for s in plan.steps] == ["v1/tanh"] and plan.steps[0].nodes == ["v1"]


def test_multi_kernel_lowering_uses_a_temp_buffer(monkeypatch, tmp_path):
    def two_copies(node, ctx):
        temp = ctx.temp(ctx.spec(node.name).shape, F32)
        return [copy_kernel(node.inputs[0], temp, ctx.spec(temp), "a"), copy_kernel(temp, node.name, ctx.spec(temp), "b")]

    monkeypatch.setitem(LOWERINGS, "tanh", two_copies)
    plan = lower(tanh_graph())
    assert [s.label for s in plan.steps] == ["v1/tanh.0", "v1/tanh.1"]
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    (out,), bundle = export_and_run(tanh_graph(), [x], tmp_path / "b")
    np.testing.assert_array_equal(out, x)  # what the two copies compute
    values = bundle.manifest["values"]
    assert values["v1_t0"]["buffer"] not in (values["x"]["buffer"], values["v1"]["buffer"])


def test_op_without_a_lowering_is_refused(monkeypatch):
    monkeypatch.delitem(LOWERINGS, "tanh")
    with pytest.raises(ExportError, match=r"%v1.*'tanh'.*no WGSL lowering"):
        lower(tanh_graph())


def test_float64_constant_is_refused_naming_it():
    graph = tanh_graph()
    graph.nodes[1].dtype = "float64"
    with pytest.raises(ExportError, match=r"constant %w is float64"):
        lower(graph)


def test_failing_lowering_is_reported_with_its_node(monkeypatch):
    def broken(node, ctx):
        raise KeyError("oops")

    monkeypatch.setitem(LOWERINGS, "tanh", broken)
    with pytest.raises(ExportError, match=r"node %v1 \(tanh\): lowering failed: KeyError"):
        lower(tanh_graph())


def test_empty_lowering_must_be_declared_zero_copy(monkeypatch):
    monkeypatch.setitem(LOWERINGS, "tanh", lambda node, ctx: [])
    with pytest.raises(ExportError, match=r"%v1 \(tanh\).*not declared zero-copy"):
        lower(tanh_graph())


def test_kernel_reading_an_undefined_value_is_refused(monkeypatch):
    monkeypatch.setitem(LOWERINGS, "tanh", lambda node, ctx: [Kernel("", ["ghost"], ["v1"], (4, 0), "k")])
    with pytest.raises(ExportError, match=r"%v1 \(tanh\).*reads %ghost"):
        lower(tanh_graph())


def test_kernel_writing_a_weight_is_refused(monkeypatch):
    monkeypatch.setitem(LOWERINGS, "tanh", lambda node, ctx: [Kernel("", ["x"], ["w"], (4, 0), "k")])
    with pytest.raises(ExportError, match=r"writes %w"):
        lower(tanh_graph())


def test_lowering_that_never_writes_its_node_is_refused(monkeypatch):
    def writes_temp_only(node, ctx):
        return [Kernel("", ["x"], [ctx.temp((None, 4), F32)], (4, 0), "k")]

    monkeypatch.setitem(LOWERINGS, "tanh", writes_temp_only)
    with pytest.raises(ExportError, match=r"did not write %v1"):
        lower(tanh_graph())


# ---- limits ---------------------------------------------------------------------------------------------
def test_more_than_eight_storage_buffers_is_refused(monkeypatch):
    monkeypatch.setitem(LOWERINGS, "tanh", lambda node, ctx: [Kernel("", ["x"] * 8, ["v1"], (4, 0), "k")])
    with pytest.raises(ExportError, match=r"binds 9 storage buffers; WebGPU guarantees 8"):
        lower(tanh_graph())


def test_binding_over_128_mib_is_refused():
    graph = tanh_graph(shape=(2**25 + 1,))
    with pytest.raises(ExportError, match=r"%x .*134217732 bytes.*storage binding limit"):
        lower(graph)


def test_workgroup_storage_over_16_kib_is_refused(monkeypatch):
    wgsl = "var<workgroup> tile_a: array<f32, 2049>;\nvar<workgroup> tile_b: array<array<f32, 64>, 32>;\n"
    monkeypatch.setitem(LOWERINGS, "tanh", lambda node, ctx: [Kernel(wgsl, ["x"], ["v1"], (4, 0), "k")])
    with pytest.raises(ExportError, match=r"declares 16388 bytes of workgroup storage; WebGPU guarantees 16384"):
        lower(tanh_graph())


def test_workgroup_storage_is_measured_from_the_wgsl():
    assert workgroup_storage_bytes("var<workgroup> a: array<f32, 256>;") == 1024
    assert workgroup_storage_bytes("var<workgroup> a : array<vec4<f32>, 16u>;\nvar<workgroup> n: u32;") == 260
    assert workgroup_storage_bytes("var<workgroup> t: array<array<i32, 17>, 16>;") == 16 * 17 * 4
    assert workgroup_storage_bytes("var<storage, read> x: array<f32>;") == 0


# ---- zero-copy aliases -----------------------------------------------------------------------------------
def reshape_chain():
    nodes = [Node("x", "placeholder", (None, 2, 3), F32),
             Node("v1", "call", (None, 2, 3), F32, "tanh", ["x"]),
             Node("v2", "call", (None, 6), F32, "reshape", ["v1"], {"shape": (None, 6)}),
             Node("v3", "call", (None, 3, 2), F32, "reshape", ["v2"], {"shape": (None, 3, 2)}),
             Node("v4", "call", (None, 3, 2), F32, "exp", ["v3"])]
    return Graph(nodes, ["x"], ["v4"])


def test_reshape_aliases_resolve_to_the_root_value(tmp_path):
    plan = lower(reshape_chain())
    assert plan.aliases == {"v2": "v1", "v3": "v1"}
    assert [s.label for s in plan.steps] == ["v1/tanh", "v4/exp"]
    assert plan.steps[1].kernel.inputs == ["v3"]
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    (out,), bundle = export_and_run(reshape_chain(), [x], tmp_path / "b")
    assert_matches(out, np.exp(np.tanh(x).reshape(4, 3, 2)), "tanh→reshape→exp")
    values = bundle.manifest["values"]
    assert values["v2"] == values["v3"] == values["v1"]


def test_output_aliasing_an_intermediate_needs_no_copy():
    graph = reshape_chain()
    graph.outputs = ["v2"]
    graph.nodes = graph.nodes[:3]
    plan = lower(graph)
    assert [s.label for s in plan.steps] == ["v1/tanh"] and plan.aliases == {"v2": "v1"}


def test_two_outputs_sharing_storage_get_a_copy():
    graph = reshape_chain()
    graph.outputs = ["v1", "v3"]
    plan = lower(graph)
    assert plan.steps[-1].label == "v3/copy" and "v3" not in plan.aliases


# ---- fusion meets lowering ------------------------------------------------------------------------------
def dense_relu():
    nodes = [Node("x", "placeholder", (None, 3), F32),
             Node("k", "constant", (3, 4), F32, attrs={"label": "dense/kernel"}),
             Node("b", "constant", (4,), F32, attrs={"label": "dense/bias"}),
             Node("zero", "constant", (), F32),
             Node("v1", "call", (None, 4), F32, "matmul", ["x", "k"]),
             Node("v2", "call", (None, 4), F32, "add", ["v1", "b"]),
             Node("v3", "call", (None, 4), F32, "maximum", ["v2", "zero"])]
    rng = np.random.default_rng(3)
    return Graph(nodes, ["x"], ["v3"], {"k": rng.standard_normal((3, 4)).astype(F32),
                                        "b": rng.standard_normal(4).astype(F32), "zero": np.float32(0)})


def test_epilogue_the_lowering_refuses_is_shortened(monkeypatch, tmp_path):
    cap_matmul_epilogue(monkeypatch, 1)
    graph = dense_relu()
    plan = lower(graph, fuse(graph))
    assert [s.label for s in plan.steps] == ["dense/matmul+add", "v3/maximum"]
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32)
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    c = graph.constants
    assert_matches(out, np.maximum(x @ c["k"] + c["b"], 0), "shortened epilogue")


def test_plan_prints_one_step_per_line():
    graph = dense_relu()
    text = str(lower(graph, fuse(graph)))
    assert text.startswith("step 0  dense/matmul+add+maximum  (%x, %k, %b) -> (%v3)  threads ")

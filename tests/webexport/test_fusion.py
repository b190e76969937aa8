"""Fusion: which nodes one kernel computes, read from before/after printouts, and fused kernels computing what
eager pyml (and the unfused kernels) compute: epilogues, elementwise DAGs, softmax/log-softmax/layer-norm rows."""
import json

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from pyml.graph.ir import Graph, Node
from pyml.graph.passes import optimize
from tests.webexport.helpers import assert_matches, cap_matmul_epilogue, export_and_run
from webexport import fuse, lower
from webexport.fusion import format_fusion
from webexport.kernels.fused import COOPERATIVE_MIN
from webexport.native import run_kernels

F32 = "float32"


def fused_lowering(node, ctx, epilogue=()):  # only its signature matters to fuse()
    return []


def plain_lowering(node, ctx):
    return []


TABLE = {"matmul": fused_lowering, "conv": fused_lowering, "add": plain_lowering}


def groups_of(graph, table=None):
    return [(g.kind, g.names) for g in fuse(graph, table)]


def labels(graph):
    return [s.label for s in lower(graph, fuse(graph)).steps]


def run_unfused(graph, feeds, batch):
    """Every node on its own kernel (no fusion), run natively: the numbers fusion must keep."""
    plan = lower(graph)
    values = dict(zip(graph.inputs, feeds))
    values.update(graph.constants)
    out = run_kernels([s.kernel for s in plan.steps], values, plan.specs, batch=batch)
    return [out[name] for name in graph.outputs]


def traced(fn, *shapes):
    return optimize(trace(fn, [(s, F32) for s in shapes]))


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- epilogues ---------------------------------------------------------------------------------------
def dense_graph(activation=True, extra_reader=False, output_inside=False):
    """x @ kernel + bias, then relu as maximum(v, 0); optional extra reader of the matmul result."""
    nodes = [Node("x", "placeholder", (None, 3), F32),
             Node("k", "constant", (3, 4), F32, attrs={"label": "dense/kernel"}),
             Node("b", "constant", (4,), F32, attrs={"label": "dense/bias"}),
             Node("zero", "constant", (), F32),
             Node("v1", "call", (None, 4), F32, "matmul", ["x", "k"]),
             Node("v2", "call", (None, 4), F32, "add", ["v1", "b"])]
    if activation:
        nodes.append(Node("v3", "call", (None, 4), F32, "maximum", ["v2", "zero"]))
    if extra_reader:
        nodes.append(Node("v4", "call", (None, 4), F32, "exp", ["v1"]))
    outputs = [nodes[-1].name] + (["v2"] if output_inside else [])
    rng = np.random.default_rng(0)
    constants = {"k": rng.standard_normal((3, 4)).astype(F32), "b": rng.standard_normal(4).astype(F32),
                 "zero": np.float32(0)}
    return Graph(nodes, ["x"], outputs, constants)


def test_dense_relu_chain_becomes_one_step_printout():
    graph = dense_graph()
    before = format_fusion(graph, [])
    after = format_fusion(graph, fuse(graph, TABLE))
    assert before == "dense/matmul  %v1\ndense/add  %v2\nv3/maximum  %v3"
    assert after == "dense/matmul+add+maximum  %v1 %v2 %v3"


def test_epilogue_stops_at_a_value_read_by_two_stored_values():
    graph = dense_graph(activation=False, extra_reader=True, output_inside=True)  # v2 and exp(v1) are outputs
    assert groups_of(graph, TABLE) == []


@pytest.mark.parametrize("activation", ["gelu", "swish", "leaky_relu", "elu"])
def test_epilogue_takes_an_activation_that_reads_its_input_twice(tmp_path, activation):
    model = pyml.Sequential([pyml.layers.Dense(6, activation=activation, name="dense")])
    model.build((None, 5))
    graph = optimize(model.trace((None, 5)))
    (label,) = labels(graph)
    assert label.startswith("dense/matmul+add+"), label
    x = normal(4, 5, seed=7) * 2
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, model(pyml.Tensor(x)).numpy(), f"dense + {activation}")


def test_epilogue_stops_before_a_graph_output():
    graph = dense_graph(output_inside=True)  # v2 must be stored: it is an output
    assert groups_of(graph, TABLE) == [("epilogue", ["v1", "v2"])]


def test_epilogue_takes_a_residual_operand_but_not_a_shape_change(tmp_path):
    nodes = [Node("x", "placeholder", (2, 3), F32), Node("y", "placeholder", (2, 4), F32),
             Node("k", "constant", (3, 4), F32, attrs={"label": "dense/kernel"}),
             Node("v1", "call", (2, 4), F32, "matmul", ["x", "k"]),
             Node("v2", "call", (2, 4), F32, "tanh", ["v1"]),
             Node("v3", "call", (2, 4), F32, "add", ["v2", "y"]),  # residual: y is an activation
             Node("v4", "call", (2, 4), F32, "exp", ["v3"])]
    graph = Graph(nodes, ["x", "y"], ["v4"], {"k": normal(3, 4)})
    assert groups_of(graph, TABLE) == [("epilogue", ["v1", "v2", "v3", "v4"])]
    x, y = normal(2, 3, seed=1), normal(2, 4, seed=2)
    assert labels(graph) == ["dense/matmul+tanh+add+exp"]
    (out,), _ = export_and_run(graph, [x, y], tmp_path / "b")
    assert_matches(out, np.exp(np.tanh(x @ graph.constants["k"]) + y), "residual epilogue")
    nodes = nodes[:4] + [Node("c", "constant", (3, 2, 4), F32),
                         Node("v2", "call", (3, 2, 4), F32, "add", ["v1", "c"])]  # broadcasting grows the shape
    graph = Graph(nodes, ["x"], ["v2"], {"k": np.ones((3, 4), F32), "c": normal(3, 2, 4)})
    assert groups_of(graph, TABLE) == []


def test_comparison_is_not_an_epilogue():
    nodes = [Node("x", "placeholder", (2, 3), F32), Node("k", "constant", (3, 4), F32),
             Node("zero", "constant", (), F32),
             Node("v1", "call", (2, 4), F32, "matmul", ["x", "k"]),
             Node("v2", "call", (2, 4), "bool", "greater", ["v1", "zero"])]
    graph = Graph(nodes, ["x"], ["v2"], {"k": np.ones((3, 4), F32), "zero": np.float32(0)})
    assert groups_of(graph, TABLE) == []


def test_ops_whose_lowering_takes_no_epilogue_are_not_anchors():
    assert groups_of(dense_graph(), {"matmul": plain_lowering}) == [("elementwise", ["v2", "v3"])]


def test_refused_dag_epilogue_keeps_a_prefix_whose_inner_values_nothing_else_reads(monkeypatch, tmp_path):
    cap_matmul_epilogue(monkeypatch, 2)
    model = pyml.Sequential([pyml.layers.Dense(6, activation="gelu", name="dense")])
    model.build((None, 5))
    graph = optimize(model.trace((None, 5)))
    # [add, mul] would leave the add's value unstored though erf's branch reads it: only [add] is kept
    assert labels(graph)[0] == "dense/matmul+add" and len(labels(graph)) == 6, labels(graph)
    x = normal(3, 5, seed=8)
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, model(pyml.Tensor(x)).numpy(), "shortened gelu epilogue")


def test_matmul_bias_relu_is_one_step_and_matches_eager(tmp_path):
    graph = dense_graph()
    plan = lower(graph, fuse(graph))
    assert [s.label for s in plan.steps] == ["dense/matmul+add+maximum"]
    assert plan.steps[0].nodes == ["v1", "v2", "v3"]
    x = normal(5, 3, seed=1)
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
    labels_ = [s["label"] for s in bundle.manifest["steps"]]
    assert labels_ == ["dense_1/matmul+add+tanh"], labels_
    assert_matches(out, dense(pyml.Tensor(x)).numpy(), "traced dense")
    json.dumps(bundle.manifest)  # still plain JSON


# ---- elementwise DAGs --------------------------------------------------------------------------------
def test_five_node_elementwise_chain_is_one_step(tmp_path):
    def chain(x, y):
        return pyml.ops.sqrt(pyml.ops.tanh(x * y + 1.0) + 1.5)

    graph = traced(chain, (None, 6), (None, 6))
    assert len(format_fusion(graph, []).splitlines()) == 5
    assert format_fusion(graph, fuse(graph)) == "v2/mul+add+tanh+add+sqrt  %v2 %v4 %v5 %v7 %v8"
    for batch in (1, 4):
        x, y = normal(batch, 6, seed=batch), normal(batch, 6, seed=10 + batch)
        (out,), bundle = export_and_run(graph, [x, y], tmp_path / f"b{batch}")
        assert len(bundle.manifest["steps"]) == 1
        assert_matches(out, chain(pyml.Tensor(x), pyml.Tensor(y)).numpy(), f"chain at batch {batch}")


def test_intermediate_read_inside_the_group_twice_stays_inside(tmp_path):
    def swish_of_shift(x):
        t = x - 0.25
        return t * pyml.ops.sigmoid(t)

    graph = traced(swish_of_shift, (None, 5))
    assert [kind for kind, _ in groups_of(graph)] == ["elementwise"]
    assert len(labels(graph)) == 1
    x = normal(3, 5)
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, swish_of_shift(pyml.Tensor(x)).numpy(), "swish")


def test_intermediate_with_a_reader_outside_the_group_is_split(tmp_path):
    def two_branches(x):
        t = pyml.ops.exp(x * 0.5)                    # read by both branches: stored once
        a = pyml.ops.cast(pyml.ops.greater(t, 1.0), "float32") * 3.0
        b = pyml.ops.tanh(t) + pyml.ops.sin(t)       # read twice inside this branch
        return a, b

    graph = traced(two_branches, (None, 4))
    before = format_fusion(graph, [])
    after = format_fusion(graph, fuse(graph))
    print(f"before:\n{before}\nafter:\n{after}")
    assert len(before.splitlines()) == 8
    assert [line.split()[0] for line in after.splitlines()] == ["v2/mul+exp", "v5/greater+cast+mul", "v9/tanh+sin+add"]
    x = normal(2, 4)
    (out_a, out_b), _ = export_and_run(graph, [x], tmp_path / "b")
    expected_a, expected_b = two_branches(pyml.Tensor(x))
    assert_matches(out_a, expected_a.numpy(), "branch a")
    assert_matches(out_b, expected_b.numpy(), "branch b")


def test_intermediate_graph_output_is_kept(tmp_path):
    def two_outputs(x):
        h = pyml.ops.tanh(x * 2.0)
        return h, pyml.ops.exp(-h) + 1.0

    graph = traced(two_outputs, (None, 3))
    h = graph.outputs[0]
    assert all(g.output.name == h or h not in g.names for g in fuse(graph))
    assert len(labels(graph)) == 2
    x = normal(4, 3)
    (out_h, out_y), _ = export_and_run(graph, [x], tmp_path / "b")
    expected_h, expected_y = two_outputs(pyml.Tensor(x))
    assert_matches(out_h, expected_h.numpy(), "kept output")
    assert_matches(out_y, expected_y.numpy(), "second output")


def test_broadcast_operands_are_read_from_the_output_coordinates(tmp_path):
    def affine(x, per_sample):
        return pyml.ops.tanh((x - per_sample) * channel_scale + row_shift) * 2.0

    channel_scale = pyml.Tensor(normal(4, seed=3))           # (4,): the last axis
    row_shift = pyml.Tensor(normal(3, 1, seed=4))            # (3, 1): the middle axis
    graph = traced(affine, (None, 3, 4), (None, 1, 1))
    assert len(labels(graph)) == 1
    kernel = lower(graph, fuse(graph)).steps[0].kernel
    assert len(kernel.inputs) == 4  # x, per_sample, scale, shift; the scalar 2.0 is inlined
    for batch in (1, 5):
        x, s = normal(batch, 3, 4, seed=batch), normal(batch, 1, 1, seed=20 + batch)
        (out,), _ = export_and_run(graph, [x, s], tmp_path / f"b{batch}")
        assert_matches(out, affine(pyml.Tensor(x), pyml.Tensor(s)).numpy(), f"broadcast at batch {batch}")


def test_more_than_seven_operands_split_into_kernels_that_bind_at_most_eight(tmp_path):
    def total(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * 0.5 + x
        return out

    graph = traced(total, *[(None, 3)] * 9)
    plan = lower(graph, fuse(graph))
    assert len(plan.steps) == 2, str(plan)
    assert all(len(s.kernel.inputs) + len(s.kernel.outputs) <= 8 for s in plan.steps)
    xs = [normal(2, 3, seed=k) for k in range(9)]
    (out,), _ = export_and_run(graph, xs, tmp_path / "b")
    assert_matches(out, total(*[pyml.Tensor(x) for x in xs]).numpy(), "nine operands")


def test_comparisons_where_and_casts_fuse(tmp_path):
    def leaky_then_count(x):
        leaky = pyml.ops.leaky_relu(x, 0.1)
        truncated = pyml.ops.cast(pyml.ops.cast(leaky * 10.0, "int32"), "float32")
        return pyml.ops.where(pyml.ops.less(leaky, -0.05), truncated, leaky)

    graph = traced(leaky_then_count, (None, 7))
    assert len(labels(graph)) == 1
    x = normal(3, 7)
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, leaky_then_count(pyml.Tensor(x)).numpy(), "where/cast")


# ---- rows: softmax, log-softmax, layer norm ----------------------------------------------------------
def digits_mlp():
    model = pyml.Sequential([pyml.layers.Dense(64, activation="relu", name="dense"),
                             pyml.layers.Dense(10, activation="softmax", name="dense_1")])
    model.build((None, 64))
    return model


def small_cnn():
    model = pyml.Sequential([pyml.layers.Conv2D(8, 3, activation="relu", name="conv2d"), pyml.layers.MaxPooling2D(2),
                             pyml.layers.Flatten(), pyml.layers.Dense(10, activation="softmax", name="dense")])
    model.build((None, 8, 8, 1))
    return model


def test_digits_mlp_exports_as_three_steps_matching_eager(tmp_path):
    model = digits_mlp()
    graph = optimize(model.trace((None, 64)))
    before, after = format_fusion(graph, []), format_fusion(graph, fuse(graph))
    print(f"before:\n{before}\nafter:\n{after}")
    assert len(before.splitlines()) == 10
    assert [line.split()[0] for line in after.splitlines()] == \
        ["dense/matmul+add+maximum", "dense_1/matmul+add", "v11/max+sub+exp+sum+div"]
    for batch in (1, 7, 64):
        x = normal(batch, 64, seed=batch)
        (out,), bundle = export_and_run(graph, [x], tmp_path / f"b{batch}")
        assert len(bundle.manifest["steps"]) == 3
        assert_matches(out, model(pyml.Tensor(x)).numpy(), f"digits MLP at batch {batch}")
        (unfused,) = run_unfused(graph, [x], batch)
        np.testing.assert_allclose(out, unfused, rtol=1e-6, atol=0, err_msg="fused vs unfused softmax")


def test_small_cnn_steps_before_and_after():
    graph = optimize(small_cnn().trace((None, 8, 8, 1)))
    assert len(lower(graph).steps) == 11
    assert labels(graph) == ["conv2d/conv+add+maximum", "v7/max_pool", "dense/matmul+add", "v13/max+sub+exp+sum+div"]


def test_the_performance_issues_models_fuse_every_elementwise_op():
    """The mlp 784-512-512-10 and Keras's MNIST convnet (benchmarks/webgpu_inference.py): one step per layer,
    bias and activation in each anchor's epilogue, softmax one row kernel, Flatten zero-copy; the second conv is
    Winograd (four kernels, the epilogue in the last) and the 9216-long dense layer splits K (two kernels)."""
    layers = pyml.layers
    mlp = pyml.Sequential([pyml.Input(shape=(784,)), layers.Dense(512, activation="relu"),
                           layers.Dense(512, activation="relu"), layers.Dense(10, activation="softmax")])
    convnet = pyml.Sequential([pyml.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                               layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                               layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])

    def step_ops(model):
        graph = optimize(model.trace())
        return [step.label.split("/", 1)[1] for step in lower(graph, fuse(graph)).steps]

    assert step_ops(mlp) == ["matmul+add+maximum", "matmul+add+maximum", "matmul+add", "max+sub+exp+sum+div"]
    assert step_ops(convnet) == ["conv+add+maximum"] + [f"conv+add+maximum.{i}" for i in range(4)] + [
        "max_pool", "matmul+add+maximum.0", "matmul+add+maximum.1", "matmul+add", "max+sub+exp+sum+div"]


def test_log_softmax_with_a_prologue_is_one_step(tmp_path):
    graph = traced(lambda x: pyml.ops.log_softmax(x * 3.0), (None, 12))
    assert [line.split()[0] for line in format_fusion(graph, fuse(graph)).splitlines()] == \
        ["v2/mul+max+sub+exp+sum+log+sub"]  # x * 3 is recomputed in each pass over the row
    for batch in (1, 9):
        x = normal(batch, 12, seed=batch)
        (out,), _ = export_and_run(graph, [x], tmp_path / f"b{batch}")
        assert_matches(out, pyml.ops.log_softmax(pyml.Tensor(x) * 3.0).numpy(), "log_softmax")
        (unfused,) = run_unfused(graph, [x], batch)
        np.testing.assert_allclose(out, unfused, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("length", [COOPERATIVE_MIN, 300, 1000])
def test_long_rows_take_a_workgroup_each(tmp_path, length):
    graph = traced(lambda x: pyml.ops.softmax(x), (None, length))
    (step,) = lower(graph, fuse(graph)).steps
    assert "workgroupBarrier" in step.kernel.wgsl and step.kernel.threads == (step.kernel.workgroup_size, 0)
    x = normal(3, length, seed=length) * 4
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, pyml.ops.softmax(pyml.Tensor(x)).numpy(), f"softmax over {length}")
    np.testing.assert_allclose(out.sum(axis=-1), 1, rtol=1e-5)


def test_layer_normalization_is_one_step(tmp_path):
    for width in (24, 256):  # one invocation per row, then one workgroup per row
        model = pyml.Sequential([pyml.layers.LayerNormalization(name="layer_normalization")])
        model.build((None, 5, width))
        model.layers[0].gamma.assign(normal(width, seed=1))
        model.layers[0].beta.assign(normal(width, seed=2))
        graph = optimize(model.trace((None, 5, width)))
        (label,) = labels(graph)
        assert label.startswith("layer_normalization") and label.count("mean") == 2, label
        x = normal(2, 5, width, seed=width) * 3 + 1
        (out,), _ = export_and_run(graph, [x], tmp_path / f"b{width}")
        assert_matches(out, model(pyml.Tensor(x)).numpy(), f"layer norm over {width}")


def test_reduction_with_an_elementwise_prologue_and_no_keepdims(tmp_path):
    graph = traced(lambda x: pyml.ops.sqrt(pyml.ops.mean(pyml.ops.square(x - 1.0), axis=(1, 2))), (None, 4, 6))
    assert len(labels(graph)) == 2  # square(x - 1) → mean as one row kernel; sqrt on its own
    x = normal(3, 4, 6)
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    assert_matches(out, np.sqrt(np.mean(np.square(x - 1), axis=(1, 2))), "rms")


def test_softmax_over_an_inner_axis_and_over_the_batch(tmp_path):
    inner = traced(lambda x: pyml.ops.softmax(x, axis=1), (None, 5, 3))
    over_batch = traced(lambda x: pyml.ops.softmax(x, axis=0) * 2.0, (None, 4))
    for graph, axis in ((inner, 1), (over_batch, 0)):
        assert len(labels(graph)) == 1
        x = normal(6, *graph.node(graph.inputs[0]).shape[1:], seed=axis)
        (out,), _ = export_and_run(graph, [x], tmp_path / f"b{axis}")
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        assert_matches(out, e / e.sum(axis=axis, keepdims=True) * (2.0 if axis == 0 else 1.0), f"softmax axis {axis}")


def test_fusion_leaves_the_graph_the_cpu_backend_interprets_unchanged(tmp_path):
    graph = optimize(digits_mlp().trace((None, 64)))
    _, bundle = export_and_run(graph, [normal(2, 64)], tmp_path / "b")
    assert [n["name"] for n in bundle.manifest["graph"]["nodes"]] == [n.name for n in graph.nodes]
    assert sum(len(s["nodes"]) for s in bundle.manifest["steps"]) == sum(n.op == "call" for n in graph.nodes)


"""The convolution and pooling WGSL kernels run natively (wgpu-py; lavapipe on CPU machines) against eager
pyml: every conv-family sample as a one-node graph, each primitive with a dynamic batch, conv's implicit GEMM
off its tile and vec4 boundaries in every rank, fused epilogues (conv + bias + relu, conv_transpose + bias),
and a small CNN exported end to end."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.graph.ir import Graph, Node
from pyml.ops.registry import Spec, bind
from tests.op_samples.conv import SAMPLES
from tests.webexport.helpers import assert_matches, eager, export_and_run, lower_and_run_graph, one_node_graph

pytest.importorskip("wgpu", reason="native WebGPU tests need wgpu-py")

rng = np.random.default_rng(13)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_matches_eager(sample):
    graph = one_node_graph(sample.op, sample.inputs, sample.attrs)
    kernels, out = lower_and_run_graph(graph, sample.inputs)
    assert len(kernels) == 1
    assert_matches(out["out"], eager(sample.op, sample.inputs, sample.attrs), sample.id)


# One sample per primitive, run with the batch dynamic: axis 0 of every batch-sized value becomes None.
DYNAMIC = {s.op: s for s in SAMPLES if s.note in ("2d-same-stride2",)}


@pytest.mark.parametrize("op", sorted(DYNAMIC))
@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_batch(op, batch):
    sample = DYNAMIC[op]
    attrs = sample.attrs
    # Inputs with a batch axis (everything but the conv kernel) get `batch` rows.
    batched = [not (op in ("conv", "conv_transpose") and i == 1) for i in range(len(sample.inputs))]
    inputs = [np.concatenate([x] * batch) if b else x for x, b in zip(sample.inputs, batched)]
    expected = eager(op, inputs, attrs)
    nodes = [Node(f"x{i}", "placeholder", ((None,) + x.shape[1:]) if b else x.shape, "float32")
             for i, (x, b) in enumerate(zip(inputs, batched))]
    out_shape = expected.shape if op == "conv_filter_grad" else (None,) + expected.shape[1:]
    nodes.append(Node("out", "call", out_shape, "float32", op, [n.name for n in nodes], attrs))
    _, out = lower_and_run_graph(Graph(nodes, [n.name for n in nodes[:-1]], ["out"]), inputs, batch=batch)
    assert_matches(out["out"], expected, f"{op} at batch {batch}")


def _fused_graph(op, x, w, attrs):
    spec = bind(op, pyml.Tensor(x), pyml.Tensor(w), **attrs).spec
    shape = (None,) + spec.shape[1:]
    bias = normal(spec.shape[-1])
    nodes = [Node("x", "placeholder", (None,) + x.shape[1:], "float32"), Node("w", "constant", w.shape, "float32"),
             Node("b", "constant", bias.shape, "float32"), Node("zero", "constant", (), "float32"),
             Node("v1", "call", shape, "float32", op, ["x", "w"], attrs),
             Node("v2", "call", shape, "float32", "add", ["v1", "b"], {}),
             Node("v3", "call", shape, "float32", "maximum", ["v2", "zero"], {})]
    return Graph(nodes, ["x"], ["v3"], {"w": w, "b": bias, "zero": np.zeros((), np.float32)})


@pytest.mark.parametrize("op, attrs, w_shape", [
    ("conv", dict(strides=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1), (3, 3, 2, 4)),
    ("conv", dict(strides=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=2), (3, 3, 1, 4)),
    ("conv_transpose", dict(strides=(2, 2), padding=((1, 0), (1, 0)), dilation=(1, 1), groups=1,
                            spatial_shape=(14, 14)), (3, 3, 3, 2)),
])
def test_fused_bias_relu_epilogue(op, attrs, w_shape):
    x, w = normal(3, 7, 7, 2), normal(*w_shape)
    graph = _fused_graph(op, x, w, attrs)
    kernels, out = lower_and_run_graph(graph, [x], batch=3, epilogue=["v2", "v3"])
    (kernel,) = kernels
    assert kernel.nodes == ["v1", "v2", "v3"] and kernel.inputs == ["x", "w", "b"] and kernel.outputs == ["v3"]
    raw = bind(op, pyml.Tensor(x), pyml.Tensor(w), **attrs).numpy()
    assert_matches(out["v3"], np.maximum(raw + graph.constants["b"], 0), f"{op}+add+maximum")


def test_small_cnn_exports_fused_and_matches_eager_at_several_batches(tmp_path):
    """conv+bias+relu → max_pool → conv_transpose → avg_pool → depthwise conv, traced, exported, run natively."""
    from pyml.graph import trace

    w1, b1, w2, w3 = normal(3, 3, 1, 4), normal(4), normal(2, 2, 3, 4), normal(3, 3, 3, 2)

    def model(x):
        h = ops.relu(ops.conv(x, w1, padding="same") + b1)
        h = ops.max_pool(h, 2)
        h = ops.conv_transpose(h, w2, strides=2)
        h = ops.average_pool(h, 3, strides=2, padding="same")
        return ops.depthwise_conv(h, w3, padding="same")

    graph = trace(model, [Spec((None, 8, 8, 1), "float32")])
    for batch in (1, 4):
        x = normal(batch, 8, 8, 1)
        (out,), bundle = export_and_run(graph, [x], tmp_path / f"bundle{batch}", batch=batch)
        assert_matches(out, model(pyml.Tensor(x)).numpy(), f"cnn at batch {batch}")
    labels = [step["label"] for step in bundle.manifest["steps"]]
    assert any(label.endswith("conv+add+maximum") for label in labels), labels


# The implicit GEMM (groups == 1) beyond the op samples: input channels a multiple of 4 (read as vec4) or not,
# output channels off the 16- and 64-wide column blocks, pixel counts off the 16-row blocks, every rank.
GEMM_CASES = [
    ((2, 9, 9, 8), (3, 3, 8, 10), dict(strides=(2, 2), padding=((1, 2), (0, 1)), dilation=(1, 1))),
    ((1, 11, 10, 4), (3, 2, 4, 70), dict(strides=(1, 1), padding=((2, 2), (1, 1)), dilation=(2, 3))),
    ((3, 7, 5), (3, 5, 33), dict(strides=(1,), padding=((1, 1),), dilation=(1,))),
    ((1, 4, 5, 3, 12), (2, 2, 2, 12, 6), dict(strides=(1, 2, 1), padding=((1, 0), (0, 0), (1, 1)), dilation=(1, 1, 1))),
    ((2, 6, 6, 1), (3, 3, 1, 64), dict(strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1))),
]


@pytest.mark.parametrize("x_shape, w_shape, attrs", GEMM_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("batch", [None, 1, 3])
def test_implicit_gemm_matches_eager(x_shape, w_shape, attrs, batch):
    """``batch`` None: the shapes as given, static; else the batch axis dynamic, run at that batch."""
    attrs = dict(attrs, groups=1)
    x, w = normal(*(x_shape if batch is None else (batch,) + x_shape[1:])), normal(*w_shape)
    expected = eager("conv", [x, w], attrs)
    shape = x.shape if batch is None else (None,) + x.shape[1:]
    nodes = [Node("x", "placeholder", shape, "float32"), Node("w", "constant", w.shape, "float32"),
             Node("out", "call", expected.shape if batch is None else (None,) + expected.shape[1:], "float32", "conv",
                  ["x", "w"], attrs)]
    kernels, out = lower_and_run_graph(Graph(nodes, ["x"], ["out"], {"w": w}), [x], batch=batch or 1)
    assert "vec4" in kernels[0].wgsl if x_shape[-1] % 4 == 0 else "vec4" not in kernels[0].wgsl
    assert_matches(out["out"], expected, f"conv {x.shape} * {w.shape} {attrs}")


# Grouped convs as one implicit GEMM per group in one dispatch: per-group input channels a multiple of 4 (vec4) or
# not, output channels per group off the column blocks, every rank; bias + relu fused (the epilogue's column is the
# conv's output channel). Groups with fewer than GEMM_MIN_GROUP_CHANNELS input or output channels stay direct.
GROUPED_CASES = [
    ((2, 7, 7, 16), (3, 3, 8, 70), dict(strides=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=2)),
    ((1, 9, 8, 27), (2, 3, 9, 24), dict(strides=(2, 1), padding=((0, 1), (1, 1)), dilation=(1, 1), groups=3)),
    ((3, 10, 32), (3, 8, 32), dict(strides=(1,), padding=((2, 0),), dilation=(1,), groups=4)),
    ((1, 4, 4, 3, 16), (2, 2, 2, 8, 16), dict(strides=(1, 1, 1), padding=((1, 0), (0, 0), (1, 1)), dilation=(1, 1, 1),
                                              groups=2)),
    ((2, 6, 6, 64), (1, 1, 16, 64), dict(strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=4)),
]


@pytest.mark.parametrize("x_shape, w_shape, attrs", GROUPED_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("batch", [1, 3])
def test_grouped_implicit_gemm_matches_eager(x_shape, w_shape, attrs, batch):
    x, w = normal(batch, *x_shape[1:]), normal(*w_shape)
    graph = _fused_graph("conv", x, w, attrs)
    kernels, out = lower_and_run_graph(graph, [x], batch=batch, epilogue=["v2", "v3"])
    (kernel,) = kernels
    assert "let cg" in kernel.wgsl and kernel.nodes == ["v1", "v2", "v3"]
    assert ("vec4" in kernel.wgsl) == (w_shape[-2] % 4 == 0)
    raw = bind("conv", pyml.Tensor(x), pyml.Tensor(w), **attrs).numpy()
    assert_matches(out["v3"], np.maximum(raw + graph.constants["b"], 0), f"grouped conv {x.shape} * {w.shape} {attrs}")


@pytest.mark.parametrize("cin_g, cout_g", [(7, 8), (8, 7), (1, 4)])
def test_narrow_groups_stay_direct(cin_g, cout_g):
    from webexport.kernels.conv import GEMM_MIN_GROUP_CHANNELS

    assert min(cin_g, cout_g) < GEMM_MIN_GROUP_CHANNELS
    attrs = dict(strides=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=4)
    x, w = normal(2, 5, 5, 4 * cin_g), normal(3, 3, cin_g, 4 * cout_g)
    kernels, out = lower_and_run_graph(_fused_graph("conv", x, w, attrs), [x], batch=2)
    assert "let grp" in kernels[0].wgsl and "let cg" not in kernels[0].wgsl
    assert_matches(out["v1"], bind("conv", pyml.Tensor(x), pyml.Tensor(w), **attrs).numpy(), "direct grouped conv")


# Winograd F(2x2, 3x3): output sizes odd and even (a tile half outside), padding valid, same and asymmetric,
# input channels a multiple of 4 (the GEMM reads vec4) or not, output channels off the column blocks.
WINOGRAD_CASES = [
    ((2, 9, 8, 8), (3, 3, 8, 10), ((0, 0), (0, 0))),
    ((1, 8, 9, 10), (3, 3, 10, 70), ((1, 1), (1, 1))),
    ((2, 6, 7, 12), (3, 3, 12, 64), ((2, 0), (0, 1))),
]


@pytest.mark.parametrize("x_shape, w_shape, padding", WINOGRAD_CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("batch", [None, 1, 3])
def test_winograd_matches_eager(x_shape, w_shape, padding, batch):
    """``batch`` None: the shapes as given, static; else the batch axis dynamic, run at that batch. With bias + relu
    fused into the output transform."""
    attrs = dict(strides=(1, 1), padding=padding, dilation=(1, 1), groups=1)
    x, w = normal(*(x_shape if batch is None else (batch,) + x_shape[1:])), normal(*w_shape)
    graph = _fused_graph("conv", x, w, attrs)
    if batch is None:
        graph = Graph([Node(n.name, n.op, x.shape if n.name == "x" else
                            (x.shape[0],) + tuple(n.shape[1:]) if n.op == "call" else n.shape, n.dtype, n.target,
                            n.inputs, n.attrs) for n in graph.nodes], graph.inputs, graph.outputs, graph.constants)
    kernels, out = lower_and_run_graph(graph, [x], batch=batch or 1, epilogue=["v2", "v3"])
    assert [k.label.rsplit(".", 1)[-1] for k in kernels] == ["filter", "input", "gemm", "output"]
    raw = bind("conv", pyml.Tensor(x), pyml.Tensor(w), **attrs).numpy()
    assert_matches(out["v3"], np.maximum(raw + graph.constants["b"], 0), f"winograd {x.shape} {padding}")

"""The matmul WGSL kernel run natively (wgpu-py; lavapipe on CPU machines) against eager pyml: every linalg
sample as a one-node graph, both tile configurations, the dynamic batch in each position it can take, and
fused epilogues (bias + relu in one kernel, broadcast operands, inlined scalars)."""
import numpy as np
import pytest

from pyml.graph.ir import Graph, Node
from tests.op_samples.linalg import SAMPLES
from tests.webexport.helpers import assert_matches, eager, lower_and_run_graph, one_node_graph

pytest.importorskip("wgpu", reason="native WebGPU tests need wgpu-py")

rng = np.random.default_rng(9)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_matches_eager(sample):
    graph = one_node_graph(sample.op, sample.inputs, sample.attrs)
    kernels, out = lower_and_run_graph(graph, sample.inputs)
    assert len(kernels) == 1 and kernels[0].nodes == ["out"]
    assert_matches(out["out"], eager(sample.op, sample.inputs, sample.attrs), sample.id)


def test_program_follows_the_shape():
    def kernels_for(a, b):
        kernels, out = lower_and_run_graph(one_node_graph("matmul", [a, b], {}), [a, b])
        assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"{a.shape} @ {b.shape}")
        return kernels

    (gemv,) = kernels_for(normal(3, 8), normal(8, 64))
    assert "var<workgroup> partial" in gemv.wgsl and gemv.workgroup_size == 64  # K split 4 ways, 3 rows each
    (tiled,) = kernels_for(normal(40, 8), normal(8, 64))
    assert "var<workgroup>" not in tiled.wgsl and tiled.threads == (0, 3 * 64)  # 16 x 64 blocks: 3 along M
    (staged,) = kernels_for(normal(256, 64), normal(64, 64))
    assert "var<workgroup> tile_a" in staged.wgsl and staged.workgroup_size == 256  # 64 x 64 tiles
    partial, reduce = kernels_for(normal(2, 4096), normal(4096, 10))  # long K, one block of outputs: split-K
    assert partial.outputs == reduce.inputs[:1] and reduce.outputs == ["out"]


@pytest.mark.parametrize("a_shape, b_shape, out_shape", [
    ((None, 20), (20, 10), (None, 10)),                    # a dense layer: M is the batch, small tiles
    ((None, 70), (70, 65), (None, 65)),                    # M is the batch, large tiles
    ((None, 3, 4), (4, 5), (None, 3, 5)),                  # batch dims dynamic
    ((3, 4), (None, 4, 5), (None, 3, 5)),                  # the batch comes from b
    ((None, 2, 3, 4), (2, 4, 6), (None, 2, 3, 6)),         # batch broadcast against b's batch dims
])
@pytest.mark.parametrize("batch", [1, 5, 17])
def test_dynamic_batch(a_shape, b_shape, out_shape, batch):
    nodes = [Node("a", "placeholder", a_shape, "float32"), Node("b", "placeholder", b_shape, "float32"),
             Node("out", "call", out_shape, "float32", "matmul", ["a", "b"], {})]
    a = normal(*[batch if d is None else d for d in a_shape])
    b = normal(*[batch if d is None else d for d in b_shape])
    _, out = lower_and_run_graph(Graph(nodes, ["a", "b"], ["out"]), [a, b], batch=batch)
    assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"{a_shape} @ {b_shape} at batch {batch}")


def _dense_graph(batch_shape, bias_shape, extra=()):
    """x @ w + bias, then maximum(., 0) (relu), then any ``extra`` (op, constant) steps."""
    k, n = 12, 10
    nodes = [Node("x", "placeholder", batch_shape + (k,), "float32"), Node("w", "constant", (k, n), "float32"),
             Node("b", "constant", bias_shape, "float32"), Node("zero", "constant", (), "float32"),
             Node("v1", "call", batch_shape + (n,), "float32", "matmul", ["x", "w"], {}),
             Node("v2", "call", batch_shape + (n,), "float32", "add", ["v1", "b"], {}),
             Node("v3", "call", batch_shape + (n,), "float32", "maximum", ["zero", "v2"], {})]
    constants = {"w": normal(k, n), "b": normal(*bias_shape), "zero": np.zeros((), np.float32)}
    last = "v3"
    for i, (op, value) in enumerate(extra):
        name, const = f"v{4 + i}", f"c{i}"
        nodes += [Node(const, "constant", value.shape, "float32"),
                  Node(name, "call", batch_shape + (n,), "float32", op, [last, const], {})]
        constants[const], last = value, name
    return Graph(nodes, ["x"], [last], constants), last


def test_fused_matmul_bias_relu_is_one_kernel():
    graph, last = _dense_graph((None,), (10,))
    x = normal(7, 12)
    kernels, out = lower_and_run_graph(graph, [x], batch=7, epilogue=["v2", "v3"])
    (kernel,) = kernels
    assert kernel.nodes == ["v1", "v2", "v3"] and kernel.outputs == ["v3"]
    assert kernel.inputs == ["x", "w", "b"]  # the scalar 0 of relu is inlined, not bound
    c = graph.constants
    assert_matches(out["v3"], np.maximum(0, x.astype(np.float64) @ c["w"] + c["b"]), "matmul+add+maximum")


def test_fused_epilogue_broadcasts_operands_from_the_output_coordinates():
    row_scale = normal(6, 1)
    graph, last = _dense_graph((6,), (1, 10), extra=[("mul", row_scale), ("sub", np.float32(0.5).reshape(1))])
    x = normal(6, 12)
    kernels, out = lower_and_run_graph(graph, [x], epilogue=["v2", "v3", "v4", "v5"])
    assert kernels[0].inputs == ["x", "w", "b", "c0"]  # c1 has one element: inlined
    c = graph.constants
    expected = np.maximum(0, x.astype(np.float64) @ c["w"] + c["b"]) * row_scale - 0.5
    assert_matches(out[last], expected, "matmul+add+maximum+mul+sub")

"""The matmul WGSL kernels run natively (wgpu-py; lavapipe on CPU machines) against numpy and eager pyml: every
linalg sample as a one-node graph; each program (GEMV, register tiles, split-K, workgroup-memory tiles) at the
row counts around its boundaries, with K and N off every multiple of 4 and of the tiles, float32 and int32;
batched and broadcast matmuls; the dynamic batch in each position it can take, the runtime switching between
the batch variants from call to call; and fused epilogues in every program (bias + relu, a DAG, a residual,
broadcast operands, inlined scalars)."""
import numpy as np
import pytest

import pyml
from pyml import ops
from pyml.graph import trace
from pyml.graph.ir import Graph, Node
from pyml.ops.registry import Spec
from tests.op_samples.linalg import SAMPLES
from tests.webexport.helpers import assert_matches, eager, export_and_run, lower_and_run_graph, one_node_graph
from webexport import export, load_bundle, run_bundle
from webexport.kernels.common import ExportError
from webexport.kernels import linalg
from webexport.native import step_program

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

    (narrow,) = kernels_for(normal(3, 1500) / np.float32(40), normal(1500, 64))
    assert "var<workgroup> partial" in narrow.wgsl and narrow.workgroup_size == 128  # 32 columns x K split 4 ways
    (wide,) = kernels_for(normal(1, 8), normal(8, 512))
    assert "var<workgroup>" not in wide.wgsl and wide.threads == (0, 8 * 32)  # 8 blocks of 64 columns, K whole
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
@pytest.mark.parametrize("batch", [1, 5, 6, 17])
def test_dynamic_batch(a_shape, b_shape, out_shape, batch):
    nodes = [Node("a", "placeholder", a_shape, "float32"), Node("b", "placeholder", b_shape, "float32"),
             Node("out", "call", out_shape, "float32", "matmul", ["a", "b"], {})]
    a = normal(*[batch if d is None else d for d in a_shape])
    b = normal(*[batch if d is None else d for d in b_shape])
    _, out = lower_and_run_graph(Graph(nodes, ["a", "b"], ["out"]), [a, b], batch=batch)
    assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"{a_shape} @ {b_shape} at batch {batch}")


@pytest.mark.parametrize("m, n", [(3, 10), (40, 65), (300, 70)])  # GEMV, register tiles, tiles past m = 256
@pytest.mark.parametrize("batch", [1, 5, 17])
def test_transposed_a_contracts_over_the_dynamic_batch(m, n, batch):
    # a training step's weight gradient xᵀ @ dy (pyml/graph/merge.py): K is the batch, read from params.batch
    nodes = [Node("x", "placeholder", (None, m), "float32"), Node("dy", "placeholder", (None, n), "float32"),
             Node("out", "call", (m, n), "float32", "matmul", ["x", "dy"], {"transpose_a": True})]
    x, dy = normal(batch, m), normal(batch, n)
    (kernel,), out = lower_and_run_graph(Graph(nodes, ["x", "dy"], ["out"]), [x, dy], batch=batch)
    assert kernel.threads[0] == 0 and not kernel.variants  # the outputs, not the invocations, are fixed
    assert_matches(out["out"], x.T.astype(np.float64) @ dy, f"x{list(x.shape)}ᵀ @ dy{list(dy.shape)}")


def test_transposed_a_with_a_long_static_k_splits_k():
    x, dy = normal(4096, 3) / np.float32(40), normal(4096, 10)  # a static batch of 4096: split-K
    kernels, out = lower_and_run_graph(one_node_graph("matmul", [x, dy], {"transpose_a": True}), [x, dy])
    assert len(kernels) == 2  # the partial sums, then their reduction
    assert_matches(out["out"], x.T.astype(np.float64) @ dy, "long K, transposed")


def test_a_batch_dimension_contracted_without_transpose_a_is_refused():
    nodes = [Node("x", "placeholder", (3, None), "float32"), Node("dy", "placeholder", (None, 4), "float32"),
             Node("out", "call", (3, 4), "float32", "matmul", ["x", "dy"], {})]
    with pytest.raises(ExportError, match=r"%out \(matmul\): the contracted or column dimension is the dynamic batch"):
        lower_and_run_graph(Graph(nodes, ["x", "dy"], ["out"]), [normal(3, 2), normal(2, 4)], batch=2)


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


# Row counts around every boundary of the programs: GEMV up to 4 rows, register tiles of 16 rows after, 64 x 64
# workgroup-memory tiles from 256; (K, N) off every multiple of 4 and of the 64-column blocks, or on them.
ROWS = [1, 2, 3, 4, 5, 31, 32, 33, 64, 65, 256]
SIZES = [(7, 5), (12, 64), (33, 130)]


@pytest.mark.parametrize("m", ROWS)
@pytest.mark.parametrize("k, n", SIZES)
def test_static_rows_around_every_program_boundary(m, k, n):
    a, b = normal(m, k), normal(k, n)
    _, out = lower_and_run_graph(one_node_graph("matmul", [a, b], {}), [a, b])
    assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"({m}, {k}) @ ({k}, {n})")


@pytest.mark.parametrize("m, k, n", [(1, 9216, 128), (3, 4101, 10), (2, 2048, 130)])
def test_long_k_splits_across_workgroups(m, k, n):
    a, b = normal(m, k) / np.float32(np.sqrt(k)), normal(k, n)  # results of order 1: float32 sums stay within 1e-5
    kernels, out = lower_and_run_graph(one_node_graph("matmul", [a, b], {}), [a, b])
    assert len(kernels) == 2 and "partial" in kernels[0].label, [k.label for k in kernels]
    assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"split-K ({m}, {k}) @ ({k}, {n})")


@pytest.mark.parametrize("m, k", [(1, 12), (3, 7), (33, 9), (256, 70), (2, 4096)])
def test_int32_matmul_is_exact_in_every_program(m, k):
    a = rng.integers(-20, 20, (m, k)).astype(np.int32)
    b = rng.integers(-20, 20, (k, 65)).astype(np.int32)
    _, out = lower_and_run_graph(one_node_graph("matmul", [a, b], {}), [a, b])
    np.testing.assert_array_equal(out["out"], a.astype(np.int64) @ b)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((2, 1, 3, 7), (3, 7, 9)),      # GEMV rows, a's batch axis broadcast against b's
    ((2, 1, 33, 7), (3, 7, 66)),    # register tiles, the same broadcast
    ((3, 5, 6), (1, 6, 130)),       # b's batch of 1 stretched
])
def test_batched_matmul_broadcasts_batch_axes(a_shape, b_shape):
    a, b = normal(*a_shape), normal(*b_shape)
    _, out = lower_and_run_graph(one_node_graph("matmul", [a, b], {}), [a, b])
    assert_matches(out["out"], np.matmul(a.astype(np.float64), b), f"{a_shape} @ {b_shape}")


def test_dynamic_batch_switches_between_variants_from_call_to_call(tmp_path):
    """One bundle, one native runner: the batch goes up and down across the variant boundary, each result right."""
    w, bias = normal(70, 130), normal(130)
    graph = trace(lambda x: ops.relu(ops.matmul(x, w) + bias), [Spec((None, 70), "float32")])
    export(graph, tmp_path / "dense", include_runtime=False)
    bundle = load_bundle(tmp_path / "dense")
    for batch in (1, linalg.TILED_MIN_BATCH, 2, 33, linalg.TILED_MIN_BATCH - 1, 64, 1):
        x = normal(batch, 70)
        expected = np.maximum(x.astype(np.float64) @ w + bias, 0)
        assert_matches(run_bundle(bundle, x)[bundle.graph.outputs[0]], expected, f"batch {batch}")
    (step,) = bundle.manifest["steps"]
    (variant,) = step["variants"]
    assert variant["min_batch"] == linalg.TILED_MIN_BATCH and variant["kernel"] != step["kernel"]
    assert step_program(step, linalg.TILED_MIN_BATCH - 1) is step and step_program(step, 33) is variant


# Each epilogue kind, fused into each program: (name, fn(h, bias, row_scale, other) -> value).
EPILOGUES = [
    ("bias-relu", lambda h, bias, scale, other: ops.relu(h + bias)),
    ("dag-swish", lambda h, bias, scale, other: h * ops.sigmoid(h * 1.702)),
    ("residual-tanh", lambda h, bias, scale, other: ops.tanh(h + other)),
    ("row-scale-minus-scalar", lambda h, bias, scale, other: h * scale - 0.5),
]
PROGRAMS = [("gemv", 1, 24, 70), ("tiled", 37, 24, 70), ("split-k", 2, 4096, 10), ("staged", 256, 64, 65)]


@pytest.mark.parametrize("program, m, k, n", PROGRAMS, ids=[p[0] for p in PROGRAMS])
@pytest.mark.parametrize("name, epilogue", EPILOGUES, ids=[e[0] for e in EPILOGUES])
def test_every_epilogue_fuses_into_every_program(tmp_path, program, m, k, n, name, epilogue):
    w, bias, scale, other = normal(k, n) / np.float32(np.sqrt(k)), normal(n), normal(m, 1), normal(m, n)
    graph = trace(lambda x: epilogue(ops.matmul(x, w), bias, scale, other), [Spec((m, k), "float32")])
    x = normal(m, k)
    (out,), bundle = export_and_run(graph, [x], tmp_path / "bundle")
    expected = epilogue(ops.matmul(pyml.Tensor(x), pyml.Tensor(w)), bias, scale, other).numpy()
    assert_matches(out, expected, f"{program}+{name}")
    steps = bundle.manifest["steps"]
    assert len(steps) == (2 if program == "split-k" else 1), [s["label"] for s in steps]  # the epilogue is fused


def test_dense_layers_that_differ_only_in_k_share_one_kernel(tmp_path):
    """K comes from the weight's length (a buffer of its own), so 36 -> 64 and 64 -> 64 (both K multiples of 4)
    compile once, as the mlp's 784 -> 512 and 512 -> 512 do; a weight narrower than 4 columns keeps K in the
    source (its buffer's padding could exceed a row)."""
    w1, w2, w3 = normal(36, 64) / np.float32(6), normal(64, 64) / np.float32(8), normal(64, 3)
    graph = trace(lambda x: ops.matmul(ops.relu(ops.matmul(ops.relu(ops.matmul(x, w1)), w2)), w3),
                  [Spec((None, 36), "float32")])
    x = normal(5, 36)
    (out,), bundle = export_and_run(graph, [x], tmp_path / "dense", batch=5)
    expected = np.maximum(np.maximum(x.astype(np.float64) @ w1, 0) @ w2, 0) @ w3
    assert_matches(out, expected, "three dense layers")
    first, second, third = bundle.manifest["steps"]
    assert first["kernel"] == second["kernel"] != third["kernel"]
    assert "arrayLength" in bundle.manifest["kernels"][first["kernel"]]["wgsl"]
    assert "arrayLength" not in bundle.manifest["kernels"][third["kernel"]]["wgsl"]

"""Movement WGSL kernels run natively (wgpu-py; lavapipe on CPU machines) against NumPy.

Every movement sample is lowered as a one-node graph and executed; dynamic-batch cases check the maps at two
batch sizes; movements that would mix the batch with another axis must be refused with an ExportError.
"""
import numpy as np
import pytest

from pyml.graph.ir import Graph, Node
from tests.op_samples.movement import SAMPLES
from webexport.kernels import movement
from webexport.kernels.common import LOWERINGS, ExportError
from webexport.lower import LoweringContext
from webexport.native import run_kernels

pytest.importorskip("wgpu", reason="native WebGPU tests need wgpu-py")

DTYPES = {"f": "float32", "i": "int32", "b": "bool"}


def _dtype(array):
    return DTYPES[np.asarray(array).dtype.kind]


def _graph(op, shapes, dtypes, attrs, out_shape, out_dtype):
    names = [f"x{k}" for k in range(len(shapes))]
    nodes = [Node(n, "placeholder", tuple(s), d) for n, s, d in zip(names, shapes, dtypes)]
    nodes.append(Node("y", "call", tuple(out_shape), out_dtype, op, names, dict(attrs)))
    return Graph(nodes, names, ["y"])


def _run(graph, arrays, batch=1):
    """Lower the graph's one call node and run it; reshape (zero-copy) reads its input's buffer."""
    ctx = LoweringContext(graph)
    node = graph.node("y")
    kernels = LOWERINGS[node.target](node, ctx)
    values = dict(zip(graph.inputs, arrays))
    if not kernels:
        assert node.target in movement.ALIASES
        return np.asarray(arrays[0])
    for kernel in kernels:
        assert len(kernel.inputs) + len(kernel.outputs) <= 8, kernel.label
    return run_kernels(kernels, values, ctx.specs, batch=batch)["y"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_sample_matches_numpy(sample):
    expected = np.asarray(sample.reference(*sample.inputs, **sample.attrs))
    graph = _graph(sample.op, [x.shape for x in sample.inputs], [_dtype(x) for x in sample.inputs], sample.attrs,
                   expected.shape, _dtype(expected) if sample.op != "one_hot" else sample.attrs["dtype"])
    got = np.asarray(_run(graph, sample.inputs)).reshape(expected.shape)
    np.testing.assert_array_equal(got, expected.astype(got.dtype))


_rng = np.random.default_rng(3)


def _floats(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def _ints(low, high, *shape):
    return _rng.integers(low, high, shape).astype(np.int32)


# name: (op, graph input shapes (None = batch), attrs as traced (None = batch), out shape,
#        make(batch) -> input arrays, reference(arrays) -> expected)
BATCH_CASES = {
    "transpose": ("transpose", [(None, 4, 5)], {"perm": (0, 2, 1)}, (None, 5, 4),
                  lambda b: [_floats(b, 4, 5)], lambda x: x.transpose(0, 2, 1)),
    "broadcast-batch-input": ("broadcast_to", [(None, 1, 4)], {"shape": (None, 3, 4)}, (None, 3, 4),
                              lambda b: [_floats(b, 1, 4)], lambda x: np.broadcast_to(x, (len(x), 3, 4))),
    "broadcast-over-batch": ("broadcast_to", [(3, 1)], {"shape": (None, 3, 4)}, (None, 3, 4),
                             lambda b: [_floats(3, 1)], None),
    "slice-keeps-batch": ("slice", [(None, 6)], {"start": (0, 5), "stop": (None, -1), "step": (1, -2)},
                          (None, 3), lambda b: [_floats(b, 6)], lambda x: x[:, 5::-2]),
    "pad": ("pad", [(None, 2)], {"pad_width": ((0, 0), (1, 2)), "value": 0.5}, (None, 5),
            lambda b: [_floats(b, 2)], lambda x: np.pad(x, ((0, 0), (1, 2)), constant_values=0.5)),
    "concatenate": ("concatenate", [(None, 2), (None, 3)], {"axis": 1}, (None, 5),
                    lambda b: [_floats(b, 2), _floats(b, 3)], lambda x, y: np.concatenate([x, y], 1)),
    "stack": ("stack", [(None, 2)] * 3, {"axis": 1}, (None, 3, 2),
              lambda b: [_floats(b, 2) for _ in range(3)], lambda *xs: np.stack(xs, 1)),
    "take-embedding": ("take", [(10, 4), (None, 5)], {"axis": 0}, (None, 5, 4),
                       lambda b: [_floats(10, 4), _ints(-10, 10, b, 5)], lambda x, i: np.take(x, i, 0)),
    "take-columns-of-batch": ("take", [(None, 5), (2,)], {"axis": 1}, (None, 2),
                              lambda b: [_floats(b, 5), _ints(-5, 5, 2)], lambda x, i: np.take(x, i, 1)),
    "take-rows-of-batch": ("take", [(None, 5), (2,)], {"axis": 0}, (2, 5),
                           lambda b: [_floats(b, 5), np.array([b - 1, -b], np.int32)], lambda x, i: np.take(x, i, 0)),
    "one_hot": ("one_hot", [(None,)], {"depth": 4, "dtype": "float32"}, (None, 4),
                lambda b: [_ints(-1, 5, b)], lambda i: (i[:, None] == np.arange(4)).astype(np.float32)),
}


@pytest.mark.parametrize("case", sorted(BATCH_CASES))
@pytest.mark.parametrize("batch", [2, 5])
def test_dynamic_batch(case, batch):
    op, shapes, attrs, out_shape, make, reference = BATCH_CASES[case]
    arrays = make(batch)
    expected = np.broadcast_to(arrays[0], (batch, 3, 4)) if reference is None else reference(*arrays)
    graph = _graph(op, shapes, [_dtype(a) for a in arrays], attrs, out_shape, "float32")
    np.testing.assert_array_equal(_run(graph, arrays, batch=batch), expected)


def test_take_out_of_range_reads_zero():
    """Eagerly such an index is an error; the exported kernel reads 0 (and still wraps [-n, 0))."""
    x = np.arange(1.0, 7.0, dtype=np.float32).reshape(3, 2)
    indices = np.array([0, 3, -1, -4], np.int32)
    graph = _graph("take", [x.shape, indices.shape], ["float32", "int32"], {"axis": 0}, (4, 2), "float32")
    np.testing.assert_array_equal(_run(graph, [x, indices]), [[1, 2], [0, 0], [5, 6], [0, 0]])


def test_reshape_is_zero_copy():
    graph = _graph("reshape", [(None, 6)], ["float32"], {"shape": (None, 2, 3)}, (None, 2, 3), "float32")
    assert movement.lower_reshape(graph.node("y"), LoweringContext(graph)) == []
    assert "reshape" in movement.ALIASES


def test_many_inputs_split_into_kernels_of_at_most_seven():
    xs = [np.full((2, 1), k, np.float32) for k in range(16)]
    graph = _graph("concatenate", [x.shape for x in xs], ["float32"] * 16, {"axis": 1}, (2, 16), "float32")
    kernels = movement.lower_concatenate(graph.node("y"), LoweringContext(graph))
    assert [len(k.inputs) for k in kernels] == [7, 7, 2]
    np.testing.assert_array_equal(_run(graph, xs), np.concatenate(xs, 1))


def test_repeated_inputs_bind_once():
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    graph = _graph("concatenate", [x.shape] * 9, ["float32"] * 9, {"axis": 0}, (18, 2), "float32")
    graph.node("y").inputs = ["x0"] * 9
    kernels = movement.lower_concatenate(graph.node("y"), LoweringContext(graph))
    assert len(kernels) == 1 and kernels[0].inputs == ["x0"]
    np.testing.assert_array_equal(_run(graph, [x] * 9), np.concatenate([x] * 9, 0))


@pytest.mark.parametrize("op, shapes, attrs, out_shape, message", [
    ("transpose", [(None, 3)], {"perm": (1, 0)}, (3, None), "moves the batch axis"),
    ("slice", [(None, 3)], {"start": (1, 0), "stop": (None, 3), "step": (1, 1)}, (None, 3), "not the whole"),
    ("pad", [(None, 3)], {"pad_width": ((1, 0), (0, 0)), "value": 0.0}, (None, 3), "widens the batch"),
    ("concatenate", [(None, 3), (None, 3)], {"axis": 0}, (None, 3), "along the batch"),
    ("stack", [(None, 3), (None, 3)], {"axis": 0}, (2, None, 3), "before the batch"),
    ("broadcast_to", [(None, 3)], {"shape": (2, None, 3)}, (2, None, 3), "moves the batch"),
    ("reshape", [(None, 6)], {"shape": (12,)}, (12,), "mixes the batch"),
    ("slice", [(None, 3)], {"start": (1, 0), "stop": (2, 3), "step": (1, 1)}, (1, 3), "fixed slice of the batch"),
])
def test_batch_mixing_is_refused(op, shapes, attrs, out_shape, message):
    """Also x[1:2] on a dynamic batch: its shape was traced at batch 2 and 3, but at batch 1 it is empty."""
    graph = _graph(op, shapes, ["float32"] * len(shapes), attrs, out_shape, "float32")
    with pytest.raises(ExportError, match=rf"node %y \({op}\).*{message}"):
        LOWERINGS[op](graph.node("y"), LoweringContext(graph))


def test_fixed_rows_of_the_dynamic_batch_are_refused():
    graph = Graph([Node("x", "placeholder", (None, 3), "float32"), Node("i", "constant", (2,), "int32"),
                   Node("y", "call", (2, 3), "float32", "take", ["x", "i"], {"axis": 0})], ["x"], ["y"],
                  {"i": np.array([0, 1], np.int32)})
    with pytest.raises(ExportError, match=r"node %y \(take\).*fixed indices into the batch axis"):
        LOWERINGS["take"](graph.node("y"), LoweringContext(graph))

"""webexport.export end to end: an MLP with a dynamic batch runs natively like eager pyml at any batch size,
a fixed batch is baked in, the runtime is copied, and writes are atomic."""
import json

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from pyml.graph.ir import Graph, Node
from tests.webexport.helpers import assert_matches, export_and_run, movement_graph
from webexport import ExportError, export, load_bundle, run_bundle
from webexport.bundle import runtime_dir


def mlp(seed=0, sizes=(12, 32, 16, 5)):
    """A Dense-ReLU-Dense-ReLU-Dense-softmax MLP written with ops, and its traced graph (dynamic batch)."""
    rng = np.random.default_rng(seed)
    layers = [(pyml.Variable((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), name=f"dense_{i}/kernel"),
               pyml.Variable((rng.standard_normal(b) * 0.1).astype(np.float32), name=f"dense_{i}/bias"))
              for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]

    def forward(x):
        for i, (kernel, bias) in enumerate(layers):
            x = pyml.ops.matmul(x, kernel) + bias
            if i < len(layers) - 1:
                x = pyml.ops.maximum(x, 0.0)
        return pyml.ops.softmax(x, axis=-1)

    return forward, trace(forward, [((None, sizes[0]), "float32")])


@pytest.fixture(scope="module")
def mlp_bundle(tmp_path_factory):
    forward, graph = mlp()
    folder = tmp_path_factory.mktemp("mlp") / "model"
    export(graph, folder)
    return forward, load_bundle(folder)


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_dynamic_batch_mlp_matches_eager(mlp_bundle, batch):
    forward, bundle = mlp_bundle
    x = np.random.default_rng(batch).standard_normal((batch, 12)).astype(np.float32)
    out = run_bundle(bundle, x)
    (name,) = bundle.graph.outputs
    assert_matches(out[name], forward(pyml.Tensor(x)).numpy(), f"batch {batch}")


def test_dynamic_batch_manifest(mlp_bundle):
    _, bundle = mlp_bundle
    m = bundle.manifest
    assert m["inputs"][0]["shape"] == [None, 12] and m["outputs"][0]["shape"] == [None, 5]
    labels = [s["label"] for s in m["steps"]]
    assert labels[:3] == ["dense_0/matmul+add+maximum", "dense_1/matmul+add+maximum", "dense_2/matmul+add"], labels
    assert {e["label"] for e in m["weights"]["entries"]} >= {f"dense_{i}/{w}" for i in range(3) for w in ("kernel", "bias")}
    assert m["memory"]["peak_bytes"] <= 1.1 * m["memory"]["lower_bound_bytes"], m["memory"]


def test_runtime_is_copied(mlp_bundle):
    _, bundle = mlp_bundle
    copied = sorted(p.relative_to(bundle.path / "runtime") for p in (bundle.path / "runtime").rglob("*.js"))
    source = sorted(p.relative_to(runtime_dir()) for p in runtime_dir().rglob("*.js"))
    assert copied == source and any(p.name == "index.js" for p in copied)


def test_fixed_batch_is_baked_in(tmp_path):
    forward, graph = mlp(seed=1)
    x = np.random.default_rng(0).standard_normal((4, 12)).astype(np.float32)
    (out,), bundle = export_and_run(graph, [x], tmp_path / "b", batch_size=4)
    assert bundle.manifest["inputs"][0]["shape"] == [4, 12]
    assert all(b["bytes_per_batch"] == 0 for b in bundle.manifest["buffers"])
    assert_matches(out, forward(pyml.Tensor(x)).numpy(), "batch_size=4")
    with pytest.raises(ValueError, match="shape"):
        run_bundle(bundle, np.zeros((3, 12), np.float32))


def test_reshape_output_of_an_input_is_copied(tmp_path):
    graph = trace(lambda x: (pyml.ops.reshape(x, (-1, 6)), pyml.ops.tanh(x)), [((None, 2, 3), "float32")])
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    (flat, tanh), bundle = export_and_run(graph, [x], tmp_path / "b")
    np.testing.assert_array_equal(flat, x.reshape(3, 6))
    assert_matches(tanh, np.tanh(x), "tanh")
    values = bundle.manifest["values"]
    buffers = [values[n]["buffer"] for n in ["x"] + bundle.graph.outputs]
    assert len(set(buffers)) == 3, "graph inputs and outputs must be distinct buffers"


def test_float64_is_refused_naming_the_node(tmp_path):
    graph = trace(lambda x: pyml.ops.exp(x), [((2, 3), "float64")])
    with pytest.raises(ExportError, match=r"float64.*%x|%x.*float64"):
        export(graph, tmp_path / "b", include_runtime=False)
    assert not (tmp_path / "b").exists()


def test_non_finite_attribute_is_refused_naming_the_node(tmp_path):
    nodes = [Node("x", "placeholder", (2, 3), "float32"),
             Node("v1", "call", (2, 5), "float32", "pad", ["x"], {"pad_width": ((0, 0), (1, 1)), "value": float("-inf")})]
    with pytest.raises(ExportError, match=r"%v1 \(pad\): attribute value is not finite"):
        export(Graph(nodes, ["x"], ["v1"]), tmp_path / "b", include_runtime=False)
    assert not (tmp_path / "b").exists()


def test_batch_size_must_be_positive(tmp_path):
    _, graph = mlp()
    with pytest.raises(ExportError, match="batch_size"):
        export(graph, tmp_path / "b", batch_size=0)


def test_export_takes_only_models_paths_and_graphs(tmp_path):
    with pytest.raises(ExportError, match="Received: int"):
        export(42, tmp_path / "b")


class TracedModel:
    """Stands for a pyml Model: export only calls ``trace(input_shape)`` (batch-first, None = dynamic)."""

    def __init__(self):
        self.calls = []

    def trace(self, input_shape=None):
        self.calls.append(input_shape)
        return trace(lambda x: pyml.ops.tanh(x), [(input_shape or (None, 3), "float32")])


@pytest.mark.parametrize("input_shape, batch_size, traced, exported", [
    ((3,), None, (None, 3), [None, 3]),          # Keras input_shape: one example, the batch is added
    ((3,), 5, (5, 3), [5, 3]),
    ((None, 3), None, (None, 3), [None, 3]),     # already batch-first
    (None, None, None, [None, 3]),               # the model's own build shape
    (None, 2, None, [2, 3]),                     # traced dynamic, then the batch fixed
])
def test_models_are_traced_with_a_batch_first_shape(tmp_path, input_shape, batch_size, traced, exported):
    model = TracedModel()
    export(model, tmp_path / "b", input_shape=input_shape, batch_size=batch_size, include_runtime=False)
    assert model.calls == [traced]
    assert load_bundle(tmp_path / "b").manifest["inputs"][0]["shape"] == exported


def test_keras_style_model_exports_and_matches_predict(tmp_path):
    from pyml import layers, models

    model = models.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"),
                               layers.Dense(5, activation="softmax")])
    x = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    expected = np.asarray(model.predict(x))
    (out,), bundle = export_and_run(model, [x], tmp_path / "b")
    assert bundle.manifest["inputs"][0]["shape"] == [None, 12]
    assert_matches(out, expected, "Sequential")


# ---- atomic writes ---------------------------------------------------------------------------------------
def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_failed_export_leaves_the_previous_bundle_intact(tmp_path):
    folder = tmp_path / "model"
    export(movement_graph(), folder)
    before = _snapshot(folder)
    bad = movement_graph()
    bad.nodes[2].target = "no_such_op"
    with pytest.raises(ExportError, match="no_such_op"):
        export(bad, folder)
    assert _snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "no staging folder may be left behind"


def test_failure_while_writing_leaves_the_previous_bundle_intact(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    export(movement_graph(), folder)
    before = _snapshot(folder)

    def broken_copy(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("webexport.bundle.shutil.copytree", broken_copy)
    _, graph = mlp()
    with pytest.raises(OSError, match="disk full"):
        export(graph, folder)
    assert _snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_successful_export_replaces_the_previous_bundle(tmp_path):
    folder = tmp_path / "model"
    export(movement_graph(), folder)
    (folder / "stale.txt").write_text("from the old bundle")
    _, graph = mlp()
    export(graph, folder)
    assert not (folder / "stale.txt").exists()
    assert json.loads((folder / "model.json").read_text())["inputs"][0]["shape"] == [None, 12]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_folder_that_is_not_a_bundle_is_never_replaced(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(ExportError, match="not a pyml bundle"):
        export(movement_graph(), folder)
    assert (folder / "thesis.tex").read_text() == "precious"


def test_graph_with_no_kernels_still_exports(tmp_path):
    nodes = [Node("x", "placeholder", (None, 4), "float32"),
             Node("v1", "call", (None, 2, 2), "float32", "reshape", ["x"], {"shape": (None, 2, 2)})]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    (out,), bundle = export_and_run(Graph(nodes, ["x"], ["v1"]), [x], tmp_path / "b")
    np.testing.assert_array_equal(out, x.reshape(2, 2, 2))
    assert [s["label"] for s in bundle.manifest["steps"]] == ["v1/copy"]

"""Weight storage tiers (float16, int8) and shard files (webexport/weights.py; docs/internals.md §6), and the
WebGPU kernels that read float16/int8 weights as stored (natively, on wgpu).

References are numpy's own float16 rounding, the per-channel symmetric int8 formula written out here,
the reference interpreter run on the stored weights, and the 16 MiB shard limit."""
import hashlib
import json

import numpy as np
import pytest

import pyml
import webexport.weights
from pyml.graph import trace
from pyml.graph.interpreter import run_graph
from tests.webexport import weight_models
from webexport import BundleError, export, load_bundle, run_bundle
from webexport.kernels.common import ExportError
from webexport.lower import PACKED_OPERAND
from webexport.native import prepare_bundle

RNG = np.random.default_rng(3)
KERNEL = RNG.standard_normal((64, 32)).astype(np.float32)  # 2,048 elements: a matrix the tiers store
KERNEL[:, 5] = 0.0  # an all-zero output channel: int8 must not divide by a zero scale
BIAS = RNG.standard_normal(32).astype(np.float32)
HEAD = RNG.standard_normal((32, 3)).astype(np.float32)  # 96 elements: too small to quantize


def mlp(x):
    hidden = pyml.ops.relu(pyml.ops.matmul(x, pyml.Variable(KERNEL, name="dense/kernel"))
                           + pyml.Variable(BIAS, name="dense/bias"))
    return pyml.ops.matmul(hidden, pyml.Variable(HEAD, name="head/kernel"))


def graph():
    return trace(mlp, [((None, 64), "float32")])


def entries(folder):
    manifest = json.loads((folder / "model.json").read_text())
    return manifest, {e["label"]: e for e in manifest["weights"]["entries"]}


def test_float16_stores_the_matrices_as_half_floats_and_loads_them_exactly(tmp_path):
    export(graph(), tmp_path / "b", weights="float16", include_runtime=False)
    manifest, by_label = entries(tmp_path / "b")
    kernel = by_label["dense/kernel"]
    assert (kernel["storage"], kernel["byte_length"]) == ("float16", KERNEL.size * 2)
    assert by_label["dense/bias"]["storage"] == by_label["head/kernel"]["storage"] == "float32"
    loaded = load_bundle(tmp_path / "b").weights
    np.testing.assert_array_equal(loaded[kernel["name"]], KERNEL.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(loaded[by_label["dense/bias"]["name"]], BIAS)
    assert loaded[kernel["name"]].dtype == np.float32


def test_int8_quantizes_each_output_channel_symmetrically(tmp_path):
    export(graph(), tmp_path / "b", weights="int8", include_runtime=False)
    _, by_label = entries(tmp_path / "b")
    kernel = by_label["dense/kernel"]
    assert kernel["storage"] == "int8"
    assert kernel["byte_length"] == KERNEL.size + 4 * KERNEL.shape[1]  # 2,048 bytes (aligned) + 32 scales
    stored = load_bundle(tmp_path / "b").weights[kernel["name"]]
    scale = np.abs(KERNEL).max(axis=0) / 127
    expected = np.clip(np.rint(KERNEL / np.where(scale > 0, scale, 1)), -127, 127) * scale
    np.testing.assert_allclose(stored, expected, rtol=1e-6, atol=1e-7)
    assert np.all(np.abs(stored - KERNEL) <= scale / 2 * (1 + 1e-5) + 1e-7)
    np.testing.assert_array_equal(stored[:, 5], 0.0)


@pytest.mark.parametrize("tier", ["float16", "int8"])
def test_stored_weights_run_natively_like_the_interpreter_on_them(tmp_path, tier):
    g = graph()
    export(g, tmp_path / "b", weights=tier, include_runtime=False)
    bundle = load_bundle(tmp_path / "b")
    x = RNG.standard_normal((5, 64)).astype(np.float32)
    expected = run_graph(g, [x], constants=bundle.weights)[0].numpy()
    got = run_bundle(bundle, x)[g.outputs[0]]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_the_manifest_reports_how_far_the_outputs_moved(tmp_path):
    g = graph()
    errors = {}
    for tier in ("float32", "float16", "int8"):
        export(g, tmp_path / tier, weights=tier, include_runtime=False)
        manifest, _ = entries(tmp_path / tier)
        errors[tier] = manifest["weights"].get("accuracy")
    assert errors["float32"] is None  # nothing lossy, nothing to report
    # the probe: 8 standard-normal inputs from seed 0, through numpy with the stored weights
    probe = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    exact = np.maximum(probe @ KERNEL + BIAS, 0) @ HEAD
    for tier in ("float16", "int8"):
        stored = load_bundle(tmp_path / tier).weights
        kernel = next(v for k, v in stored.items() if v.shape == KERNEL.shape)
        approx = np.maximum(probe @ kernel + BIAS, 0) @ HEAD
        report = errors[tier]
        assert report["probe_inputs"] == 8
        np.testing.assert_allclose(report["max_abs_error"], np.abs(exact - approx).max(), rtol=1e-3)
        np.testing.assert_allclose(report["max_abs_output"], np.abs(exact).max(), rtol=1e-5)
    assert 0 < errors["float16"]["max_abs_error"] < errors["int8"]["max_abs_error"]


def test_values_a_tier_cannot_hold_stay_float32(tmp_path):
    big = np.full((40, 40), 1e5, np.float32)  # past float16's 65,504
    holey = RNG.standard_normal((40, 40)).astype(np.float32)
    holey[3, 4] = np.nan

    def f(x):
        return pyml.ops.matmul(x, pyml.Variable(big, name="big/kernel")) + pyml.ops.matmul(x, pyml.Variable(holey, name="holey/kernel"))

    g = trace(f, [((40, 40), "float32")])
    for tier in ("float16", "int8"):
        export(g, tmp_path / tier, weights=tier, include_runtime=False)
        _, by_label = entries(tmp_path / tier)
        assert by_label["big/kernel"]["storage"] == ("float32" if tier == "float16" else "int8")
        assert by_label["holey/kernel"]["storage"] == "float32"
        np.testing.assert_array_equal(load_bundle(tmp_path / tier).weights[by_label["holey/kernel"]["name"]], holey)


def test_an_unknown_tier_is_refused_by_name(tmp_path):
    with pytest.raises(ExportError, match=r"weights must be one of 'float32', 'float16', 'int8'\. Received: weights='bf16'"):
        export(graph(), tmp_path / "b", weights="bf16")
    assert not (tmp_path / "b").exists()


# ---- shards ------------------------------------------------------------------------------------------------
def test_weights_past_16_mib_are_split_into_shards_of_at_most_16_mib(tmp_path):
    table = RNG.standard_normal((2100, 2100)).astype(np.float32)  # 17.6 MB

    g = trace(lambda x: pyml.ops.matmul(x, pyml.Variable(table, name="big/kernel")), [((1, 2100), "float32")])
    export(g, tmp_path / "b", include_runtime=False)
    manifest, _ = entries(tmp_path / "b")
    files = manifest["weights"]["files"]
    assert [f["file"] for f in files] == ["weights-1-of-2.bin", "weights-2-of-2.bin"]
    for f in files:
        data = (tmp_path / "b" / f["file"]).read_bytes()
        assert len(data) == f["byte_length"] <= 16 * 2**20
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    np.testing.assert_array_equal(load_bundle(tmp_path / "b").weights[manifest["weights"]["entries"][0]["name"]], table)


@pytest.fixture
def sharded(tmp_path, monkeypatch):
    """The mlp (8,704 bytes of weights) exported in 1,000-byte shards, so entries start, end and span shards
    anywhere."""
    monkeypatch.setattr(webexport.weights, "SHARD_BYTES", 1000)
    export(graph(), tmp_path / "b", include_runtime=False)
    return tmp_path / "b"


def test_entries_spanning_shards_load_and_run(sharded):
    manifest, _ = entries(sharded)
    files = manifest["weights"]["files"]
    assert len(files) == 9 and all(f["byte_length"] <= 1000 for f in files)
    x = RNG.standard_normal((2, 64)).astype(np.float32)
    out = run_bundle(load_bundle(sharded), x)
    np.testing.assert_allclose(out[manifest["outputs"][0]["name"]], np.maximum(x @ KERNEL + BIAS, 0) @ HEAD,
                               rtol=1e-5, atol=1e-5)


def test_a_damaged_or_missing_shard_is_refused_naming_it(sharded):
    path = sharded / "weights-3-of-9.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"weights-3-of-9\.bin: SHA-256 does not match weights\.files\[2\]\.sha256"):
        load_bundle(sharded)
    path.unlink()
    with pytest.raises(BundleError, match=r"weights-3-of-9\.bin: no such file"):
        load_bundle(sharded)


# ---- weights the WebGPU kernels read as stored ----------------------------------------------------------


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """(graph name, tier) -> (graph, folder) for every graph of weight_models in float16 and int8."""
    folder = tmp_path_factory.mktemp("packed")
    out = {}
    for name in weight_models.GRAPHS:
        g = weight_models.graph(name)
        for tier in ("float16", "int8"):
            export(g, folder / f"{name}-{tier}", weights=tier, include_runtime=False)
            out[name, tier] = g, folder / f"{name}-{tier}"
    return out


@pytest.mark.parametrize("tier", ["float16", "int8"])
@pytest.mark.parametrize("name, batches", [("mlp", (1, 7)), ("convnet", (1, 7)), ("shared", (2,)), ("tiles", (1,)),
                                           ("recurrent", (1, 9))])
def test_kernels_unpacking_stored_weights_match_the_interpreter_on_them(packed, name, batches, tier):
    g, folder = packed[name, tier]
    bundle = load_bundle(folder)
    sources = "".join(k["wgsl"] for k in bundle.manifest["kernels"])
    assert all(text in sources for text in weight_models.PROGRAMS[name]), weight_models.PROGRAMS[name]
    grouped = [k["wgsl"] for k in bundle.manifest["kernels"] if "let cg" in k["wgsl"]]
    assert all("in1_unpack(" in wgsl for wgsl in grouped), "the grouped conv reads its weight a word at a time"
    assert any("variants" in s for s in bundle.manifest["steps"]) == (name != "tiles")  # batch 7: tiled variants
    lossy = {e["name"] for e in bundle.manifest["weights"]["entries"] if e["storage"] == tier}
    uploaded_packed = {v["weight"] for v in bundle.manifest["values"].values() if v.get("packed")}
    # Every stored matrix is read as stored, except the one an elementwise op reads too.
    assert lossy and uploaded_packed == (set() if name == "shared" else lossy)
    assert bundle.manifest["format_version"] == (2 if name == "shared" else 3)  # 3 only where weights are packed
    for batch in batches:
        x = weight_models.inputs(name, batch)
        expected = run_graph(g, x, constants=bundle.weights)[0].numpy()
        got = run_bundle(bundle, x)[g.outputs[0]]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"{name} {tier} batch {batch}")


@pytest.mark.parametrize("tier", ["float16", "int8"])
def test_a_packed_weight_takes_its_stored_bytes_on_the_gpu(packed, tier):
    """The buffer of a packed weight is its stored bytes (rounded up to 4), and limits size bindings by them."""
    _, folder = packed["mlp", tier]
    bundle = load_bundle(folder)
    entries = {e["name"]: e for e in bundle.manifest["weights"]["entries"]}
    runner = prepare_bundle(bundle)
    stored = {name: -(-entries[name]["byte_length"] // 4) * 4 for name in bundle.stored}
    assert {name: runner.weights[name].size for name in stored} == stored
    element_bytes = 2 if tier == "float16" else 1
    for name in stored:  # float16: 2 bytes per element; int8: 1, plus a float32 scale per output channel
        shape = entries[name]["shape"]
        assert stored[name] == -(-np.prod(shape) * element_bytes // 4) * 4 + (4 * shape[-1] if tier == "int8" else 0)
    assert bundle.manifest["limits"]["maxStorageBufferBindingSize"] == max(stored.values())


def test_a_weight_read_by_an_elementwise_op_is_widened_on_the_gpu(packed):
    _, folder = packed["shared", "int8"]
    bundle = load_bundle(folder)
    (name,) = bundle.stored
    assert prepare_bundle(bundle).weights[name].size == 4 * weight_models.SHARED.data.size


def test_a_kernel_binding_a_packed_weight_without_unpacking_it_is_refused(tmp_path, monkeypatch):
    """Were the elementwise mul to take a packed operand, its kernel would read the stored bits as float32."""
    monkeypatch.setitem(PACKED_OPERAND, "mul", 0)
    with pytest.raises(ExportError, match=r"step '.*mul.*': binds the int8 weight %\w+ but does not unpack it"):
        export(weight_models.graph("shared"), tmp_path / "b", weights="int8", include_runtime=False)

"""Bundles: written as docs/internals.md §6 says, read back exactly, and damaged ones refused clearly."""
import hashlib
import json

import numpy as np
import pytest

from tests.webexport.helpers import movement_graph, movement_reference
from webexport import BundleError, export, load_bundle, run_bundle
from webexport.validate import FORMAT_VERSION


@pytest.fixture()
def bundle_dir(tmp_path):
    folder = tmp_path / "model"
    export(movement_graph(), folder, include_runtime=False)
    return folder


def _edit(folder, change):
    manifest = json.loads((folder / "model.json").read_text())
    change(manifest)
    (folder / "model.json").write_text(json.dumps(manifest))


def _refused(folder, *fragments):
    with pytest.raises(BundleError) as info:
        load_bundle(folder)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in: {info.value}"
    return str(info.value)


# ---- what is written ---------------------------------------------------------------------------------------
def test_manifest_has_every_documented_field(bundle_dir):
    m = json.loads((bundle_dir / "model.json").read_text())
    for key in ("format", "format_version", "producer", "inputs", "outputs", "graph", "weights", "buffers",
                "values", "kernels", "steps", "limits", "memory"):
        assert key in m, key
    assert (m["format"], m["format_version"]) == ("pyml-bundle", 2)
    assert m["inputs"] == [{"name": "x", "shape": [2, 3], "dtype": "float32"}]
    assert [o["name"] for o in m["outputs"]] == ["v2", "v3"]
    assert m["values"]["c"] == {"weight": "c"}
    assert {m["values"][n]["buffer"] for n in ("x", "v2", "v3")} == {m["values"][n]["buffer"] for n in ("x", "v2", "v3")}
    assert len({m["values"][n]["buffer"] for n in ("x", "v2", "v3")}) == 3, "inputs and outputs need distinct buffers"


def test_weights_are_aligned_and_hashed(tmp_path):
    graph = movement_graph()
    # a 3-byte bool entry forces padding before the next entry; both are outputs, so DCE keeps them
    from pyml.graph.ir import Node

    graph.nodes[1:1] = [Node("flags", "constant", (3,), "bool", attrs={"label": "layer/flags"})]
    graph.constants["flags"] = np.array([True, False, True])
    graph.nodes.insert(2, Node("ids", "constant", (2,), "int32", attrs={"label": "layer/ids"}))
    graph.constants["ids"] = np.array([7, -1], np.int32)
    graph.outputs += ["flags", "ids"]
    export(graph, tmp_path / "b", include_runtime=False)
    m = json.loads((tmp_path / "b" / "model.json").read_text())
    blob = (tmp_path / "b" / "weights.bin").read_bytes()
    assert m["weights"]["files"] == [{"file": "weights.bin", "byte_length": len(blob),
                                      "sha256": hashlib.sha256(blob).hexdigest()}]
    entries = {e["name"]: e for e in m["weights"]["entries"]}
    for e in entries.values():
        assert e["offset"] % 4 == 0
        assert e["sha256"] == hashlib.sha256(blob[e["offset"]: e["offset"] + e["byte_length"]]).hexdigest()
    assert entries["flags"]["byte_length"] == 3 and entries["ids"]["offset"] == 4
    loaded = load_bundle(tmp_path / "b")
    np.testing.assert_array_equal(loaded.weights["flags"], [True, False, True])
    np.testing.assert_array_equal(loaded.weights["ids"], [7, -1])
    assert loaded.weights["ids"].dtype == np.int32 and loaded.weights["flags"].dtype == bool
    out = run_bundle(loaded, np.zeros((2, 3), np.float32))  # constant outputs are copied into buffers
    np.testing.assert_array_equal(out["flags"], [True, False, True])
    np.testing.assert_array_equal(out["ids"], [7, -1])


def test_limits_name_the_largest_binding_not_the_whole_weights_file(tmp_path):
    """Each weight is its own GPU buffer: the 128-byte weights file is never bound, its 80-byte entry is."""
    from pyml.graph.ir import Graph, Node

    nodes = [Node("x", "placeholder", (2, 3), "float32"),
             Node("w1", "constant", (3, 4), "float32", attrs={"label": "a/kernel"}),
             Node("w2", "constant", (4, 5), "float32", attrs={"label": "b/kernel"}),
             Node("v1", "call", (2, 4), "float32", "matmul", ["x", "w1"]),
             Node("v2", "call", (2, 5), "float32", "matmul", ["v1", "w2"])]
    rng = np.random.default_rng(0)
    constants = {"w1": rng.standard_normal((3, 4)).astype(np.float32), "w2": rng.standard_normal((4, 5)).astype(np.float32)}
    export(Graph(nodes, ["x"], ["v2"], constants), tmp_path / "b", include_runtime=False)
    m = json.loads((tmp_path / "b" / "model.json").read_text())
    assert m["weights"]["files"][0]["byte_length"] == 128
    assert m["limits"]["maxStorageBufferBindingSize"] == m["limits"]["maxBufferSize"] == 80


def test_load_bundle_round_trips_graph_and_weights(bundle_dir):
    graph = movement_graph()
    loaded = load_bundle(bundle_dir)
    assert str(loaded.graph) == str(graph)
    np.testing.assert_array_equal(loaded.weights["c"], graph.constants["c"])
    assert load_bundle(bundle_dir / "model.json").manifest == loaded.manifest


def test_kernels_are_deduplicated_by_source(tmp_path):
    from pyml.graph.ir import Graph, Node

    nodes = [Node("x", "placeholder", (4, 5), "float32"),
             Node("a", "call", (5, 4), "float32", "transpose", ["x"], {"perm": (1, 0)}),
             Node("b", "call", (4, 5), "float32", "transpose", ["a"], {"perm": (1, 0)}),
             Node("c", "call", (5, 4), "float32", "transpose", ["b"], {"perm": (1, 0)})]
    export(Graph(nodes, ["x"], ["c"]), tmp_path / "b", include_runtime=False)
    m = json.loads((tmp_path / "b" / "model.json").read_text())
    sources = [k["wgsl"] for k in m["kernels"]]
    assert len(sources) == len(set(sources))
    assert len(m["steps"]) == 3 and len(m["kernels"]) <= 3
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(run_bundle(tmp_path / "b", x)["c"], x.T)


# ---- damaged bundles ---------------------------------------------------------------------------------------
def test_truncated_weights_are_refused(bundle_dir):
    blob = (bundle_dir / "weights.bin").read_bytes()
    (bundle_dir / "weights.bin").write_bytes(blob[:-4])
    _refused(bundle_dir, "weights.bin", "truncated", "weights.files[0].byte_length")


def test_wrong_file_sha256_is_refused(bundle_dir):
    blob = bytearray((bundle_dir / "weights.bin").read_bytes())
    blob[0] ^= 0xFF
    (bundle_dir / "weights.bin").write_bytes(bytes(blob))
    _refused(bundle_dir, "weights.bin", "weights.files[0].sha256")


def test_wrong_entry_sha256_is_refused(bundle_dir):
    # the file hash is made consistent again, so only the entry's own hash can catch the change
    blob = bytearray((bundle_dir / "weights.bin").read_bytes())
    blob[-1] ^= 0x01
    (bundle_dir / "weights.bin").write_bytes(bytes(blob))
    _edit(bundle_dir, lambda m: m["weights"]["files"][0].update(sha256=hashlib.sha256(bytes(blob)).hexdigest()))
    _refused(bundle_dir, "weights.entries[0].sha256", "'c'")


def test_shape_and_byte_length_mismatch_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["weights"]["entries"][0].update(shape=[3, 3]))
    _refused(bundle_dir, "weights.entries[0].byte_length", "must be 36")


def test_entry_shape_must_match_its_constant(bundle_dir):
    def change(m):
        m["weights"]["entries"][0].update(shape=[3, 2])

    _edit(bundle_dir, change)
    _refused(bundle_dir, "weights.entries", "constant %c", "[2, 3]")


def test_entry_past_the_end_of_the_file_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["weights"]["entries"][0].update(offset=8))
    _refused(bundle_dir, "weights.entries[0]", "past the end of weights.bin")


def test_unknown_op_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["graph"]["nodes"][3].update(target="frobnicate"))
    _refused(bundle_dir, "unknown op 'frobnicate'", "%v2")


def test_newer_format_version_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    message = _refused(bundle_dir)
    assert (f"bundle format version {FORMAT_VERSION + 1} is newer than this runtime supports ({FORMAT_VERSION}); "
            "update pyml") in message


@pytest.mark.parametrize("field", ["steps", "weights", "graph", "values", "buffers", "kernels"])
def test_missing_field_is_refused(bundle_dir, field):
    _edit(bundle_dir, lambda m: m.pop(field))
    _refused(bundle_dir, "model.json", field, "missing")


def test_missing_entry_field_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["weights"]["entries"][0].pop("sha256"))
    _refused(bundle_dir, "weights.entries[0].sha256", "missing")


def test_step_with_undefined_value_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["steps"][0]["inputs"].append("ghost"))
    _refused(bundle_dir, "steps[0].inputs", "'ghost'")


def test_step_reading_a_value_before_it_is_written_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["steps"].reverse())
    _refused(bundle_dir, "steps[0].inputs", "before any step writes it")


def test_output_no_step_writes_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["steps"].clear())
    _refused(bundle_dir, "outputs", "'v2', which no step writes")


def test_step_with_undefined_kernel_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["steps"][-1].update(kernel=99))
    _refused(bundle_dir, "kernel 99")


def test_value_in_undefined_buffer_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["values"]["v2"].update(buffer=42))
    _refused(bundle_dir, "values.v2.buffer", "42")


def test_buffer_too_small_for_its_value_is_refused(bundle_dir):
    def change(m):
        slot = m["values"]["v2"]["buffer"]
        m["buffers"][slot].update(bytes_fixed=8)

    _edit(bundle_dir, change)
    _refused(bundle_dir, "values.v2", "needs 48 bytes")


def test_step_writing_a_weight_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["steps"][0].update(outputs=["c"]))
    _refused(bundle_dir, "steps[0].outputs", "weight")


@pytest.mark.parametrize("name", ["../weights.bin", "sub/weights.bin", "..\\weights.bin", "%2e%2e",
                                  "https://example.com/weights.bin", "", ".."])
def test_weights_file_outside_the_bundle_is_refused(bundle_dir, name):
    # a browser resolves "..\\x" and "%2e%2e" against the manifest's URL as "../x" and "..": outside the folder
    _edit(bundle_dir, lambda m: m["weights"]["files"][0].update(file=name))
    _refused(bundle_dir, "weights.files[0].file", "plain file name")


@pytest.mark.parametrize("change, field", [
    (lambda m: m["values"]["v2"].update(buffer=True), "values.v2.buffer"),
    (lambda m: m["values"]["v2"].update(buffer=[0]), "values.v2.buffer"),
    (lambda m: m["values"]["c"].update(weight=["c"]), "values.c.weight"),
    (lambda m: m["steps"][0].update(kernel=True), "steps[0].kernel"),
    (lambda m: m["steps"][0].update(kernel=[0]), "steps[0].kernel"),
    (lambda m: m["steps"][0]["inputs"].append({"name": "x"}), "steps[0].inputs"),
    (lambda m: m["graph"]["nodes"][2]["inputs"].append(["x"]), "graph.nodes[2].inputs"),
    (lambda m: m["graph"]["outputs"].append(["v2"]), "graph.outputs[2]"),
    (lambda m: m["graph"]["nodes"][0].update(dtype=["float32"]), "graph.nodes[0].dtype"),
    (lambda m: m["graph"]["nodes"][2].update(target=["concatenate"]), "graph.nodes[2].target"),
], ids=["buffer-bool", "buffer-list", "weight-list", "kernel-bool", "kernel-list", "step-input-object",
        "node-input-list", "graph-output-list", "dtype-list", "target-list"])
def test_references_of_the_wrong_type_are_refused_naming_the_field(bundle_dir, change, field):
    """JSON true is not buffer 1, and a list is no value name: refused like any undefined reference, never
    accepted (Python's True == 1) nor a raw TypeError (a list is unhashable)."""
    _edit(bundle_dir, change)
    _refused(bundle_dir, field)


def test_kernel_bound_with_different_binding_counts_is_refused(bundle_dir):
    def change(m):
        m["steps"].append(dict(m["steps"][-1], inputs=m["steps"][-1]["inputs"] + ["x"]))

    _edit(bundle_dir, change)
    _refused(bundle_dir, "steps[", "binds kernel", "another step")


@pytest.mark.parametrize("limits, field", [([1], "limits"), ({"maxBufferSize": "big"}, "limits.maxBufferSize"),
                                           ({"maxBufferSize": -1}, "limits.maxBufferSize")])
def test_limits_must_be_non_negative_numbers(bundle_dir, limits, field):
    _edit(bundle_dir, lambda m: m.update(limits=limits))
    _refused(bundle_dir, field)


def test_bundle_without_outputs_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: (m["outputs"].clear(), m["graph"]["outputs"].clear()))
    _refused(bundle_dir, "outputs", "non-empty")


def test_bundle_without_inputs_loads_and_runs(tmp_path):
    from pyml.graph.ir import Graph, Node

    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [Node("c", "constant", (2, 3), "float32", attrs={"label": "layer/c"}),
             Node("v1", "call", (3, 2), "float32", "transpose", ["c"], {"perm": (1, 0)})]
    export(Graph(nodes, [], ["v1"], {"c": c}), tmp_path / "b", include_runtime=False)
    np.testing.assert_array_equal(run_bundle(load_bundle(tmp_path / "b"), [])["v1"], c.T)


def test_graph_using_a_value_before_it_is_defined_is_refused(bundle_dir):
    _edit(bundle_dir, lambda m: m["graph"]["nodes"][2]["inputs"].__setitem__(0, "v3"))
    _refused(bundle_dir, "graph.nodes[2].inputs", "%v3")


def test_signature_must_match_the_graph(bundle_dir):
    _edit(bundle_dir, lambda m: m["inputs"][0].update(shape=[2, 4]))
    _refused(bundle_dir, "inputs[0]", "%x")


def test_not_json_is_refused(bundle_dir):
    (bundle_dir / "model.json").write_text("{not json")
    _refused(bundle_dir, "model.json", "not valid JSON")


def test_missing_folder_is_refused(tmp_path):
    _refused(tmp_path / "nowhere", "model.json", "no such file")


def test_bool_input_holding_other_numbers_is_read_as_numpy_casts_it(tmp_path):
    """Kernels compare bools as 0/1 words: a 2 fed to a bool input must arrive as 1 (True), not stay a 2."""
    from pyml.graph.ir import Graph, Node

    nodes = [Node("a", "placeholder", (None, 3), "bool"), Node("b", "placeholder", (None, 3), "bool"),
             Node("v", "call", (None, 3), "bool", "equal", ["a", "b"])]
    export(Graph(nodes, ["a", "b"], ["v"]), tmp_path / "b", include_runtime=False)
    a, b = np.array([[2, 0, 7]], np.uint8), np.array([[1, 0, 1]], np.uint8)
    out = run_bundle(tmp_path / "b", [a, b])["v"]
    np.testing.assert_array_equal(out, np.equal(a.astype(bool), b.astype(bool)))


def test_loaded_bundle_runs(bundle_dir):
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    loaded = load_bundle(bundle_dir)
    out = run_bundle(loaded, {"x": x})
    for name, expected in zip(["v2", "v3"], movement_reference(x, loaded.weights["c"])):
        np.testing.assert_array_equal(out[name], expected)

"""The two manifest validators agree: ``webexport.validate`` (Python) and ``validateManifest`` in web/src/bundle.js
refuse the same damaged model.json, each naming the same field, and accept the same valid ones.

Every case damages one field of a small exported bundle; the JS side runs them all in one page. The CPU
program (``cpu``, format 2) is damaged in a bundle with one ``js`` step per movement node, and in a dense
layer whose matmul step carries a bias, a clamp and an epilogue program."""
import copy
import json

import numpy as np
import pytest

import pyml
from pyml.graph.ir import Graph, Node
from tests.webexport.helpers import movement_graph
from webexport import BundleError, export, load_bundle
from webexport.validate import FORMAT_VERSION, validate_manifest


def _set(path, value):
    """A change setting ``manifest[path[0]][path[1]]... = value``."""
    def change(m):
        for key in path[:-1]:
            m = m[key]
        m[path[-1]] = value
    return change


def _append(path, value):
    def change(m):
        for key in path:
            m = m[key]
        m.append(value)
    return change


def _variant(**fields):
    """A change giving steps[0] one variant: kernel 0 from batch 4, with ``fields`` replaced."""
    return _set(["steps", 0, "variants"], [{"min_batch": 4, "kernel": 0, "threads": [64, 0], **fields}])


def _variant_of_another_arity(m):
    """steps[0] (two inputs) gets as a variant the kernel the last step binds with one input."""
    m["steps"][0]["variants"] = [{"min_batch": 4, "kernel": m["steps"][-1]["kernel"], "threads": [64, 0]}]


def _repeat_last_step_with_another_input(m):
    m["steps"].append(dict(m["steps"][-1], inputs=m["steps"][-1]["inputs"] + ["x"]))


def _nested(depth):
    """A list nested ``depth`` deep (a manifest nests about 8 deep; the loaders refuse past 64)."""
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


# (case id, change to the movement bundle's manifest, the field both messages must name)
def _pad_on_int32(value):
    """An int32 input (its graph node too) marked pad with ``value``."""
    def change(m):
        m["graph"]["nodes"][0]["dtype"] = m["inputs"][0]["dtype"] = "int32"
        m["inputs"][0]["pad"] = {"axis": 1, "value": value}
    return change


def _as_format_1(manifest):
    """The manifest as format 1 wrote it: one weights file, no storage tiers (runtimes still read it)."""
    (spec,) = manifest["weights"].pop("files")
    manifest["weights"].update(spec)
    for entry in manifest["weights"]["entries"]:
        entry.pop("storage")
    manifest["format_version"] = 1


def _as_float16(manifest):
    """Entry 0 (the movement bundle's constant c, 2x3) stored as float16 (6 halves, 12 bytes)."""
    manifest["weights"]["entries"][0].update(storage="float16", byte_length=12)


def _packed(*values, version=3):
    """c stored as float16 and uploaded packed by values.c (format 3), then ``values`` (name, fields) added."""
    def change(m):
        _as_float16(m)
        m["format_version"] = version
        m["values"]["c"]["packed"] = True
        for name, fields in values:
            m["values"][name] = fields
    return change


def _named(inputs=("image",), outputs=("probs", "score"), version=4):
    """The movement bundle's input and outputs named apart from their graph values (format 4, webexport.names)."""
    def change(m):
        m["format_version"] = version
        for key, names in (("inputs", inputs), ("outputs", outputs)):
            for signature, name in zip(m[key], names):
                signature["name"] = name
    return change


REFUSED = [
    ("missing-steps", lambda m: m.pop("steps"), "steps"),
    ("missing-graph", lambda m: m.pop("graph"), "graph"),
    ("missing-weights", lambda m: m.pop("weights"), "weights"),
    ("wrong-format", _set(["format"], "onnx"), "format"),
    ("newer-version", _set(["format_version"], FORMAT_VERSION + 1), f"bundle format version {FORMAT_VERSION + 1} is newer"),
    ("node-without-inputs", lambda m: m["graph"]["nodes"][0].pop("inputs"), "graph.nodes[0].inputs"),
    ("node-input-undefined", _append(["graph", "nodes", 2, "inputs"], "ghost"), "graph.nodes[2].inputs"),
    ("node-input-not-a-name", _append(["graph", "nodes", 2, "inputs"], ["x"]), "graph.nodes[2].inputs"),
    ("unknown-op", _set(["graph", "nodes", 2, "target"], "frobnicate"), "graph.nodes[2].target names unknown op"),
    ("dtype-unknown", _set(["graph", "nodes", 0, "dtype"], "float64"), "graph.nodes[0].dtype"),
    ("dtype-inherited-name", _set(["graph", "nodes", 0, "dtype"], "constructor"), "graph.nodes[0].dtype"),
    ("shape-negative", _set(["graph", "nodes", 0, "shape"], [-1, 3]), "graph.nodes[0].shape"),
    ("graph-output-undefined", _append(["graph", "outputs"], "ghost"), "graph.outputs[2]"),
    ("signature-shape", _set(["inputs", 0, "shape"], [2, 4]), "inputs[0]"),
    ("signature-shape-bool", _set(["inputs", 0, "shape", 1], True), "inputs[0]"),
    ("pad-not-an-object", _set(["inputs", 0, "pad"], 0), "inputs[0].pad"),
    ("pad-extra-field", _set(["inputs", 0, "pad"], {"axis": 1, "value": 0, "side": "left"}), "inputs[0].pad"),
    ("pad-axis-2", _set(["inputs", 0, "pad"], {"axis": 2, "value": 0}), "inputs[0].pad.axis"),
    ("pad-axis-bool", _set(["inputs", 0, "pad"], {"axis": True, "value": 0}), "inputs[0].pad.axis"),
    ("pad-axis-of-a-vector", lambda m: (_set(["inputs", 0, "pad"], {"axis": 1, "value": 0})(m),
                                        m["inputs"][0].update(shape=[6]), m["graph"]["nodes"][0].update(shape=[6])),
     "inputs[0].pad.axis"),
    ("pad-value-text", _set(["inputs", 0, "pad"], {"axis": 1, "value": "0"}), "inputs[0].pad.value"),
    ("pad-value-bool", _set(["inputs", 0, "pad"], {"axis": 1, "value": False}), "inputs[0].pad.value"),
    ("pad-value-fraction-on-int32", _pad_on_int32(0.5), "inputs[0].pad.value"),
    ("pad-value-past-int32", _pad_on_int32(2 ** 31), "inputs[0].pad.value"),
    ("no-outputs", lambda m: (m["outputs"].clear(), m["graph"]["outputs"].clear()), "outputs"),
    ("file-parent", _set(["weights", "files", 0, "file"], "../weights.bin"), "weights.files[0].file"),
    ("file-subfolder", _set(["weights", "files", 0, "file"], "sub/weights.bin"), "weights.files[0].file"),
    ("file-backslash", _set(["weights", "files", 0, "file"], "..\\weights.bin"), "weights.files[0].file"),
    ("file-percent-dots", _set(["weights", "files", 0, "file"], "%2e%2e"), "weights.files[0].file"),
    ("file-url", _set(["weights", "files", 0, "file"], "https://example.com/weights.bin"), "weights.files[0].file"),
    ("files-missing", lambda m: m["weights"].pop("files"), "weights.files"),
    ("files-empty", _set(["weights", "files"], []), "weights.files"),
    ("file-repeated", lambda m: m["weights"]["files"].append(dict(m["weights"]["files"][0])), "weights.files[1].file"),
    ("file-size-negative", _set(["weights", "files", 0, "byte_length"], -1), "weights.files[0].byte_length"),
    ("file-sha256-short", _set(["weights", "files", 0, "sha256"], "abc"), "weights.files[0].sha256"),
    ("storage-unknown", _set(["weights", "entries", 0, "storage"], "int4"), "weights.entries[0].storage"),
    ("format-1-with-files", lambda m: m.update(format_version=1), "weights.file"),
    ("entry-without-sha256", lambda m: m["weights"]["entries"][0].pop("sha256"), "weights.entries[0].sha256"),
    ("entry-misaligned", _set(["weights", "entries", 0, "offset"], 2), "weights.entries[0].offset"),
    ("entry-byte-length", _set(["weights", "entries", 0, "byte_length"], 20), "weights.entries[0].byte_length"),
    ("entry-past-the-end", _set(["weights", "entries", 0, "offset"], 8), "weights.entries[0]"),
    ("constant-without-entry", _set(["weights", "entries"], []), "weights.entries"),
    ("packed-float32-weight", lambda m: (m.update(format_version=3), m["values"]["c"].update(packed=True)),
     "values.c.packed"),
    ("packed-in-format-2", _packed(version=2), "values.c.packed"),
    ("packed-not-a-bool", _packed(("c", {"weight": "c", "packed": 1})), "values.c.packed"),
    ("packed-one-buffer-two-ways", _packed(("c_alias", {"weight": "c", "packed": False})), "values.c_alias.packed"),
    ("buffer-id-repeated", _set(["buffers", 1, "id"], 0), "buffers[1].id"),
    ("value-buffer-undefined", _set(["values", "v2", "buffer"], 42), "values.v2.buffer"),
    ("value-buffer-bool", _set(["values", "v2", "buffer"], True), "values.v2.buffer"),
    ("value-buffer-list", _set(["values", "v2", "buffer"], [1]), "values.v2.buffer"),
    ("value-weight-undefined", _set(["values", "c", "weight"], "ghost"), "values.c.weight"),
    ("slot-too-small", _set(["buffers", 1, "bytes_fixed"], 8), "values.v2"),
    ("output-is-a-weight", _set(["values", "v2"], {"weight": "c"}), "values"),
    ("step-kernel-undefined", _set(["steps", 0, "kernel"], 99), "steps[0].kernel"),
    ("step-kernel-bool", _set(["steps", 1, "kernel"], True), "steps[1].kernel"),
    ("step-input-undefined", _append(["steps", 0, "inputs"], "ghost"), "steps[0].inputs"),
    ("step-input-inherited-name", _append(["steps", 0, "inputs"], "constructor"), "steps[0].inputs"),
    ("step-input-not-a-name", _append(["steps", 0, "inputs"], {"name": "x"}), "steps[0].inputs"),
    ("step-writes-a-weight", _set(["steps", 0, "outputs"], ["c"]), "steps[0].outputs"),
    ("step-writes-what-it-reads", _append(["steps", 0, "outputs"], "x"), "steps[0].outputs"),
    ("step-reads-before-a-write", lambda m: m["steps"].reverse(), "steps[0].inputs"),
    ("no-step-writes-an-output", _set(["steps"], []), "outputs"),
    ("threads-malformed", _set(["steps", 0, "threads"], [12]), "steps[0].threads"),
    ("threads-past-int32", _set(["steps", 0, "threads"], [2 ** 31, 0]), "steps[0].threads"),
    ("shape-past-int32", _set(["graph", "nodes", 0, "shape"], [2 ** 16, 2 ** 16]), "graph.nodes[0].shape"),
    ("shape-product-past-int64", _set(["graph", "nodes", 0, "shape"], [3, 2 ** 62]), "graph.nodes[0].shape"),
    ("slot-past-2-gib", _set(["buffers", 0, "bytes_fixed"], 2 ** 31), "buffers[0]"),
    ("step-label-not-a-string", _set(["steps", 0, "label"], 7), "steps[0].label"),
    ("nested-too-deep", _set(["producer"], _nested(65)), "(top level) nests"),
    ("node-name-empty", _set(["graph", "nodes", 0, "name"], ""), "graph.nodes[0]"),
    ("kernel-bound-two-ways", _repeat_last_step_with_another_input, "binds kernel"),
    ("variants-not-a-list", _set(["steps", 0, "variants"], {"min_batch": 4}), "steps[0].variants"),
    ("variant-kernel-undefined", _variant(kernel=99), "steps[0].variants[0].kernel"),
    ("variant-min-batch-one", _variant(min_batch=1), "steps[0].variants[0].min_batch"),
    ("variant-min-batch-not-an-int", _variant(min_batch="4"), "steps[0].variants[0].min_batch"),
    ("variant-threads-malformed", _variant(threads=[1, -1]), "steps[0].variants[0].threads"),
    ("variants-not-increasing", _set(["steps", 0, "variants"], [{"min_batch": 8, "kernel": 0, "threads": [1, 0]},
                                                               {"min_batch": 4, "kernel": 0, "threads": [1, 0]}]),
     "steps[0].variants[1].min_batch"),
    ("variant-bound-two-ways", _variant_of_another_arity, "binds kernel"),
    ("workgroup-size-zero", _set(["kernels", 0, "workgroup_size"], 0), "kernels[0].workgroup_size"),
    ("workgroup-size-not-the-wgsl-s", _set(["kernels", 0, "workgroup_size"], 2 ** 20), "kernels[0].workgroup_size"),
    ("wgsl-empty", _set(["kernels", 0, "wgsl"], ""), "kernels[0].wgsl"),
    ("limits-not-an-object", _set(["limits"], [1]), "limits"),
    ("limit-not-a-number", _set(["limits", "maxBufferSize"], "big"), "limits.maxBufferSize"),
    ("cpu-not-an-object", _set(["cpu"], []), "cpu"),
    ("cpu-steps-missing", lambda m: m["cpu"].pop("steps"), "cpu.steps"),
    ("cpu-kernel-unknown", _set(["cpu", "steps", 0, "kernel"], "gemm"), "cpu.steps[0].kernel"),
    ("cpu-kernel-a-list", _set(["cpu", "steps", 0, "kernel"], ["matmul"]), "cpu.steps[0].kernel"),
    ("cpu-js-step-of-two-nodes", _append(["cpu", "steps", 0, "nodes"], "v2"), "cpu.steps[0].nodes"),
    ("cpu-step-node-undefined", _set(["cpu", "steps", 0, "nodes"], ["ghost"]), "cpu.steps[0].nodes"),
    ("cpu-output-not-the-last-node", _set(["cpu", "steps", 0, "output"], "x"), "cpu.steps[0].output"),
    ("cpu-input-left-out", _set(["cpu", "steps", 0, "inputs"], []), "cpu.steps[0].inputs"),
    ("cpu-reads-before-a-write", lambda m: m["cpu"]["steps"].reverse(), "cpu.steps[0].inputs"),
    ("cpu-output-never-written", _set(["cpu", "steps"], []), "cpu.steps"),
    ("cpu-buffer-id-repeated", _set(["cpu", "buffers", 1, "id"], 0), "cpu.buffers[1].id"),
    ("cpu-value-buffer-undefined", _set(["cpu", "values", "v2", "buffer"], 42), "cpu.values.v2.buffer"),
    ("cpu-value-of-no-node", _set(["cpu", "values", "ghost"], {"buffer": 0}), "cpu.values.ghost"),
    ("cpu-value-weight-undefined", _set(["cpu", "values", "v2"], {"weight": "ghost"}), "cpu.values.v2"),
    ("cpu-slot-too-small", lambda m: m["cpu"]["buffers"][m["cpu"]["values"]["v2"]["buffer"]].update(bytes_fixed=8),
     "cpu.values.v2"),
    ("name-apart-before-format-4", _named(version=3), "inputs[0].name"),
    ("name-with-a-space", _named(inputs=["the image"]), "inputs[0].name"),
    ("name-that-quotes", _named(outputs=["probs", 'p"];alert(1)//']), "outputs[1].name"),
    ("name-proto", _named(inputs=["__proto__"]), "inputs[0].name"),
    ("name-not-a-string", _named(inputs=[7]), "inputs[0].name"),
    ("name-undefined-string", _named(inputs=["undefined"], outputs=[None, "score"]), "outputs[0].name"),
    ("name-too-long", _named(inputs=["x" * 129]), "inputs[0].name"),
    ("output-names-repeated", _named(outputs=["probs", "probs"]), "outputs[1].name"),
    # a step bound to values its nodes do not read (x is still live, so only the binding check refuses it)
    ("step-binds-what-its-nodes-do-not-read", _set(["steps", 1, "inputs"], ["x"]), "steps[1].inputs"),
    ("step-binds-an-input-twice", _set(["steps", 0, "inputs"], ["x", "x"]), "steps[0].inputs"),
    ("step-writes-another-node", _set(["steps", 2, "outputs"], ["v1"]), "steps[2].outputs"),
    ("step-without-nodes", lambda m: m["steps"][0].pop("nodes"), "steps[0].nodes"),
    ("step-nodes-not-the-graph-s", _set(["steps", 0, "nodes"], ["x"]), "steps[0].nodes"),
]
# The same for the dense bundle's matmul step: its epilogue fields and register program.
def _weight_of_another_size(plan_key):
    """The dense layer's kernel value pointed at the bias's entry (a vector where the kernel is a matrix)."""
    def change(m):
        plan = m[plan_key] if plan_key else m
        entries = sorted(m["weights"]["entries"], key=lambda e: len(e["shape"]))
        plan["values"][entries[-1]["name"]] = {"weight": entries[0]["name"]}
    return change


REFUSED_DENSE = [
    ("weights-file-name-too-long", _set(["weights", "files", 0, "file"], "v" * 5000), "weights.files[0].file"),
    ("value-weight-of-another-size", _weight_of_another_size(None), "values.w1.weight names weight"),
    ("cpu-value-weight-of-another-size", _weight_of_another_size("cpu"), "cpu.values.w1.weight names weight"),
    ("cpu-kernel-for-another-op", _set(["cpu", "steps", 0, "kernel"], "conv"), "cpu.steps[0].nodes"),
    ("cpu-bias-not-an-input", _set(["cpu", "steps", 0, "bias"], "ghost"), "cpu.steps[0].bias"),
    ("cpu-clamp-short", _set(["cpu", "steps", 0, "clamp"], [0]), "cpu.steps[0].clamp"),
    ("cpu-clamp-text", _set(["cpu", "steps", 0, "clamp"], ["0", None]), "cpu.steps[0].clamp"),
    ("cpu-program-not-a-list", _set(["cpu", "steps", 0, "program"], {}), "cpu.steps[0].program"),
    ("cpu-program-op-unknown", _set(["cpu", "steps", 0, "program", 0, 0], "cosh"), "cpu.steps[0].program[0]"),
    ("cpu-program-register-16", _set(["cpu", "steps", 0, "program", 0, 1], 16), "cpu.steps[0].program[0]"),
    ("cpu-program-load-undefined", _set(["cpu", "steps", 0, "program", 1, 4], "ghost"), "cpu.steps[0].program[1]"),
    ("cpu-program-scalar-text", _set(["cpu", "steps", 0, "program", 3, 4], "0.5"), "cpu.steps[0].program[3]"),
    ("cpu-program-without-end", lambda m: m["cpu"]["steps"][0]["program"].pop(), "cpu.steps[0].program"),
    ("step-binds-a-scalar-constant", _set(["steps", 0, "inputs", 2], "c5"), "steps[0].inputs"),
    ("cpu-bias-read-by-the-first-node", _set(["cpu", "steps", 0, "bias"], "x"), "cpu.steps[0].bias"),
    ("cpu-program-loads-the-first-node-s-input", _set(["cpu", "steps", 0, "program", 1, 4], "x"), "cpu.steps[0].program[1]"),
]
ACCEPTED = [
    ("as-exported", lambda m: None),
    ("uppercase-sha256", lambda m: m["weights"]["files"][0].update(sha256=m["weights"]["files"][0]["sha256"].upper())),
    ("format-1", _as_format_1),
    ("float16-storage", _as_float16),
    ("float16-packed", _packed(("c_alias", {"weight": "c", "packed": True}))),
    ("without-optional-fields", lambda m: [m.pop(k) for k in ("limits", "memory", "producer")]),
    ("with-a-variant", _variant()),
    ("with-a-pad", _set(["inputs", 0, "pad"], {"axis": 1, "value": -1.5})),
    ("with-a-pad-on-int32", _pad_on_int32(-(2 ** 31))),
    ("format-4-named", _named()),
    ("format-4-packed", lambda m: (_packed()(m), _named()(m))),
    ("format-4-input-named-like-an-output", _named(inputs=["probs"])),
]


def _dense(x):
    """sigmoid(relu(x @ w + b)) * s + 0.5: bias and clamp in the matmul's registers, the rest a program."""
    rng = np.random.default_rng(3)
    w, b, s = (pyml.Variable(rng.standard_normal(shape).astype(np.float32), name=f"dense/{name}")
               for shape, name in (((4, 3), "kernel"), ((3,), "bias"), ((3,), "scale")))
    return pyml.ops.sigmoid(pyml.ops.relu(x @ w + b)) * s + 0.5


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """The movement bundle's manifest, a dense layer's, and one for a graph without inputs (a constant,
    transposed)."""
    folder = tmp_path_factory.mktemp("validation")
    export(movement_graph(), folder / "movement", include_runtime=False)
    export(pyml.graph.trace(_dense, [((None, 4), "float32")]), folder / "dense", include_runtime=False)
    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [Node("c", "constant", (2, 3), "float32", attrs={"label": "layer/c"}),
             Node("v1", "call", (3, 2), "float32", "transpose", ["c"], {"perm": (1, 0)})]
    export(Graph(nodes, [], ["v1"], {"c": c}), folder / "no-inputs", include_runtime=False)
    out = {name: json.loads((folder / name / "model.json").read_text()) for name in ("movement", "dense", "no-inputs")}
    step = out["dense"]["cpu"]["steps"][0]
    assert step["kernel"] == "matmul" and step["bias"] and step["clamp"] == [0, None], step
    assert [op[0] for op in step["program"]] == ["sigmoid", "column", "mul", "scalar", "add", "end"], step["program"]
    return out


def _python_verdict(manifest):
    try:
        validate_manifest(manifest)
    except BundleError as exc:
        return str(exc)
    return None


def _js_verdicts(page, manifests):
    return page.evaluate("""async ([manifests, knownOps]) => {
        const { validateManifest } = await import("/runtime/bundle.js");
        const { validateCpuPlan } = await import("/runtime/cpuplan.js");  // what the wasm backend checks first
        return manifests.map((m) => {
            try {
                validateManifest(m, { knownOps });
                if (m.cpu !== undefined) validateCpuPlan(m);
                return null;
            } catch (e) { return `${e.constructor.name}: ${e.message}`; }
        });
    }""", [manifests, sorted(pyml.ops.primitives())])


def test_python_and_js_refuse_the_same_damaged_manifests_naming_the_same_field(page, manifests):
    cases = [("movement", *case) for case in REFUSED] + [("dense", *case) for case in REFUSED_DENSE]
    damaged = []
    for bundle, _, change, _ in cases:
        m = copy.deepcopy(manifests[bundle])
        change(m)
        damaged.append(m)
    verdicts = _js_verdicts(page, damaged)
    problems = []
    for (_, case, _, field), m, js in zip(cases, damaged, verdicts):
        py = _python_verdict(m)
        if py is None or field not in py:
            problems.append(f"{case}: Python {'accepted it' if py is None else 'did not name ' + repr(field)}: {py}")
        if js is None or not js.startswith("Error: ") or field not in js:
            problems.append(f"{case}: JS {'accepted it' if js is None else 'did not name ' + repr(field)}: {js}")
    assert not problems, "\n".join(problems)


def test_python_and_js_accept_the_same_valid_manifests(page, manifests):
    valid = [("no-inputs", manifests["no-inputs"]), ("dense", manifests["dense"]),
             ("without-cpu", {k: v for k, v in manifests["dense"].items() if k != "cpu"})]
    for case, change in ACCEPTED:
        m = copy.deepcopy(manifests["movement"])
        change(m)
        valid.append((case, m))
    verdicts = _js_verdicts(page, [m for _, m in valid])
    for (case, m), js in zip(valid, verdicts):
        assert _python_verdict(m) is None, case
        assert js is None, f"{case}: {js}"


def test_python_and_js_refuse_a_bool_weight_holding_other_bytes(page, tmp_path):
    """Hashes cannot tell a 2 from a 1: both loaders check that a bool entry's bytes are 0 or 1."""
    import hashlib

    nodes = [Node("x", "placeholder", (3,), "bool"), Node("flags", "constant", (3,), "bool", attrs={"label": "l/flags"}),
             Node("v", "call", (3,), "bool", "equal", ["x", "flags"])]
    export(Graph(nodes, ["x"], ["v"], {"flags": np.array([True, False, True])}), tmp_path / "b", include_runtime=False)
    manifest = json.loads((tmp_path / "b" / "model.json").read_text())
    entry = manifest["weights"]["entries"][0]
    blob = bytearray((tmp_path / "b" / "weights.bin").read_bytes())
    blob[entry["offset"]] = 2
    entry["sha256"] = hashlib.sha256(blob[entry["offset"]: entry["offset"] + entry["byte_length"]]).hexdigest()
    manifest["weights"]["files"][0]["sha256"] = hashlib.sha256(blob).hexdigest()
    (tmp_path / "b" / "weights.bin").write_bytes(bytes(blob))
    (tmp_path / "b" / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"weights\.entries\[0\].*bool"):
        load_bundle(tmp_path / "b")
    message = page.evaluate("""async ([manifest, bytes]) => {
        const { verifyWeights } = await import("/runtime/bundle.js");
        try { await verifyWeights(manifest, new Uint8Array(bytes).buffer); return null; } catch (e) { return e.message; }
    }""", [manifest, list(blob)])
    assert message is not None and "weights.entries[0]" in message and "bool" in message, message

"""Read a bundle folder back, checking everything docs/internals.md §6 lists before anything is used.

Mirrors ``web/src/bundle.js``: the manifest's structure, graph, signature, weights table and file
(length, SHA-256 of the file and of each entry), buffer plan, kernels, steps and limits. Every problem is a
``BundleError`` naming the file and the field (``weights.entries[3].sha256``), the node or the step.

    >>> bundle = load_bundle("model")                  # the folder, or model/model.json
    >>> bundle.weights["w0"].shape, bundle.graph.outputs
    ((64, 10), ['v5'])
"""
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyml.graph.ir import OPCODES, Graph, Node, _from_jsonable
from pyml.ops.registry import primitives
from webexport.names import check_io_name
from webexport.padding import check_pad
from webexport.text import check_text
from webexport.validate_bindings import check_bindings
from webexport.validate_cpu import check_cpu_plan, check_weight_value
from webexport.validate_train import check_train
from webexport.weights import decode, storage_bytes, weights_files

FORMAT = "pyml-bundle"
FORMAT_VERSION = 4  # the newest bundle format this loader reads (1: one weights file, no storage tiers, no cpu;
#                    4: inputs/outputs named apart from the graph's values, webexport.names)
PACKED_VERSION = 3  # the format that added values[].packed; bundles without packed weights are still written as 2
DTYPES = ("float32", "int32", "bool")
STORAGE_OF = {"float32": ("float32", "float16", "int8"), "int32": ("int32",), "bool": ("bool",)}
MAX_INDEX = 2 ** 31 - 1  # kernels index with 32-bit integers: no tensor, and no step's thread count, may pass it
MAX_DEPTH = 64  # nesting a manifest may have (it needs about 8): deeper would overflow a recursive reader's stack
REQUIRED = ("inputs", "outputs", "graph", "weights", "buffers", "values", "kernels", "steps")
# weights.file: a name a browser resolves inside the bundle folder too (it reads "..\\x" and "%2e%2e" as "../x", "..")
WORKGROUP_SIZE = re.compile(r"@workgroup_size\(\s*(\d+)\s*\)")
PLAIN_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # at most 128 characters: file systems refuse longer names


class BundleError(ValueError):
    """A bundle that cannot be used; the message names the file and the field or node."""


@dataclass(eq=False)  # compared and hashed by identity: runners cache per-bundle GPU state on it
class Bundle:
    """A validated bundle: its folder, the parsed ``manifest``, ``weights`` by entry name (float32 for float16 and
    int8 storage), the ``graph``, and ``stored``: the bytes of each entry stored as float16 or int8, as a GPU
    buffer of a packed weight holds them (docs/internals.md §6)."""

    path: Path
    manifest: dict
    weights: dict
    graph: Graph
    stored: dict

    def __repr__(self):
        return f"<Bundle {self.path} steps={len(self.manifest['steps'])} weights={len(self.weights)}>"


def load_bundle(path):
    """Read and validate the bundle at ``path`` (its folder or its model.json); returns a ``Bundle``.

    Raises:
        BundleError: for anything missing, malformed, inconsistent, or whose SHA-256 does not match.
    """
    path = Path(path)
    manifest_file = path if path.is_file() else path / "model.json"
    folder = manifest_file.parent
    if not manifest_file.is_file():
        raise BundleError(f"{manifest_file}: no such file; a bundle folder holds model.json and weights.bin")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise BundleError(f"{manifest_file}: not valid JSON ({exc})") from None
    validate_manifest(manifest, file=manifest_file.name)
    graph, weights, stored = read_program(folder, manifest)
    return Bundle(folder, manifest, weights, graph, stored)


def read_program(folder, program, table="weights"):
    """``(graph, {entry: array}, {entry: stored bytes})`` of a validated manifest, or of its training section
    (``table="train.weights"``), whose weights files lie in ``folder``: the files read and checked (``read_weights``),
    the graph with its constants."""
    blobs = []
    for spec in weights_files(program["weights"]):
        weights_file = Path(folder) / spec["file"]
        if not weights_file.is_file():
            raise BundleError(f"{weights_file}: no such file (named by model.json's {table} table)")
        blobs.append(weights_file.read_bytes())
    weights, stored = read_weights(program, blobs)
    nodes = [Node(d["name"], d["op"], tuple(d["shape"]), d["dtype"], d.get("target"), list(d["inputs"]),
                  _from_jsonable(d.get("attrs", {}))) for d in program["graph"]["nodes"]]
    constants = {n.name: weights[n.name] for n in nodes if n.op == "constant"}
    graph = Graph(nodes, list(program["graph"]["inputs"]), list(program["graph"]["outputs"]), constants)
    return graph, weights, stored


def read_weights(manifest, blobs):
    """Check the weights files' bytes (``blobs``, one per shard in order; a single ``bytes`` for one file)
    against the manifest; returns ``({entry name: array}, {entry name: stored bytes})``: every entry's values
    (float16 and int8 storage widened to float32), and the bytes of the float16 and int8 ones."""
    files = weights_files(manifest["weights"])
    blobs = [blobs] if isinstance(blobs, (bytes, bytearray)) else list(blobs)
    if len(blobs) != len(files):
        raise BundleError(f"model.json lists {len(files)} weights files; received {len(blobs)}")
    for k, (spec, blob) in enumerate(zip(files, blobs)):
        file, field = spec["file"], _file_field(manifest["weights"], k)
        if len(blob) != spec["byte_length"]:
            raise BundleError(f"{file} is {len(blob)} bytes but model.json says {field}.byte_length = "
                              f"{spec['byte_length']} (truncated or wrong file)")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != spec["sha256"].lower():
            raise BundleError(f"{file}: SHA-256 does not match {field}.sha256 (corrupted or wrong file). "
                              f"Expected: {spec['sha256']}, received: {digest}")
    whole = b"".join(blobs)
    arrays, stored = {}, {}
    for i, e in enumerate(manifest["weights"]["entries"]):
        data = whole[e["offset"]: e["offset"] + e["byte_length"]]
        digest = hashlib.sha256(data).hexdigest()
        if digest != e["sha256"].lower():
            raise BundleError(f"weights.entries[{i}].sha256 does not match the bytes of {e['name']!r}. "
                              f"Expected: {e['sha256']}, received: {digest}")
        storage = e.get("storage", e["dtype"])
        if e["dtype"] == "bool" and np.frombuffer(data, np.uint8).max(initial=0) > 1:
            raise BundleError(f"weights.entries[{i}] ({e['name']!r}) is bool but holds bytes other than 0/1")
        arrays[e["name"]] = decode(data, e["shape"], e["dtype"], storage)
        if storage != e["dtype"]:
            stored[e["name"]] = data
    return arrays, stored


def validate_manifest(manifest, file="model.json"):
    """Check a parsed model.json (everything but the weights file's bytes); raises ``BundleError``."""

    def fail(field, message):
        raise BundleError(f"{file}: {field} {message}")

    if not isinstance(manifest, dict):
        fail("(top level)", f"must be a JSON object. Received: {type(manifest).__name__}")
    if _depth(manifest) > MAX_DEPTH:
        fail("(top level)", f"nests lists and objects deeper than {MAX_DEPTH} levels")
    if manifest.get("format") != FORMAT:
        fail("format", f"must be {FORMAT!r}. Received: {manifest.get('format')!r}")
    version = manifest.get("format_version")
    if not _is_count(version) or version < 1:
        fail("format_version", f"must be a positive integer. Received: {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(f"{file}: bundle format version {version} is newer than this runtime supports "
                          f"({FORMAT_VERSION}); update pyml")
    for key in REQUIRED:
        if key not in manifest:
            fail(key, "is missing (a required field)")
    nodes = _check_graph(manifest["graph"], fail)
    for key in ("inputs", "outputs"):
        _check_signature(manifest, key, nodes, fail)
    check_text(manifest, fail)
    check_pad(manifest, fail)
    entries = _check_weights_table(manifest["weights"], nodes, fail, version)
    _check_plan(manifest, nodes, entries, fail)
    if "cpu" in manifest:
        check_cpu_plan(manifest, nodes, entries, fail, lambda buffers, field: _check_slots(buffers, field, fail),
                       lambda node, slot, where: _check_slot_size(node, slot, where, fail), _Liveness)
    if "train" in manifest:
        check_train(manifest, file, validate_manifest, BundleError)


def _check_graph(graph, fail):
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        fail("graph", "must be an object with a nodes list")
    known = primitives()
    nodes = {}
    for i, node in enumerate(graph["nodes"]):
        where = f"graph.nodes[{i}]"
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"]:
            fail(where, "must be an object with a non-empty string name")
        if node["name"] in nodes:
            fail(where, f"redefines value %{node['name']}")
        if node.get("op") not in OPCODES:
            fail(f"{where}.op", f"must be placeholder, constant or call. Received: {node.get('op')!r}")
        if node["op"] == "call" and not (isinstance(node.get("target"), str) and node["target"] in known):
            fail(f"{where}.target", f"names unknown op {node.get('target')!r} in node %{node['name']}: this version "
                                    f"of pyml has no such primitive; update pyml")
        _check_shape(node.get("shape"), f"{where}.shape", fail, batch=True)
        _check_dtype(node.get("dtype"), f"{where}.dtype", fail)
        if not isinstance(node.get("inputs"), list):
            fail(f"{where}.inputs", "must be a list of value names")
        for name in node["inputs"]:
            if not _is_name(name) or name not in nodes:
                fail(f"{where}.inputs", f"of %{node['name']} uses %{name}, which is not defined before it")
        if not isinstance(node.get("attrs", {}), dict):
            fail(f"{where}.attrs", "must be an object")
        nodes[node["name"]] = node
    for key in ("inputs", "outputs"):
        if not isinstance(graph.get(key), list):
            fail(f"graph.{key}", "must be a list of value names")
        for i, name in enumerate(graph[key]):
            if not _is_name(name) or name not in nodes:
                fail(f"graph.{key}[{i}]", f"names %{name}, which the graph does not define")
            if key == "inputs" and nodes[name]["op"] != "placeholder":
                fail(f"graph.inputs[{i}]", f"%{name} is not a placeholder")
    return nodes


def _check_signature(manifest, key, nodes, fail):
    values = manifest[key]
    names = manifest["graph"][key]
    if not isinstance(values, list) or len(values) != len(names):
        fail(key, f"must list the {len(names)} graph {key} as {{name, shape, dtype}}")
    if key == "outputs" and not values:
        fail(key, "must be a non-empty list")
    seen = set()
    for i, v in enumerate(values):
        where = f"{key}[{i}]"
        if not isinstance(v, dict):
            fail(f"{where}.name", f"must be in an object {{name, shape, dtype}}. Received: {v!r}")
        check_io_name(manifest, key, i, seen, fail)
        node = nodes[names[i]]
        # compared as JSON, so that 3.0 or true is not taken for 3 or 1 (Python's == would: the runner then fails)
        if json.dumps(v.get("shape")) != json.dumps(node["shape"]) or v.get("dtype") != node["dtype"]:
            fail(where, f"is {v.get('dtype')}{v.get('shape')} but graph node %{names[i]} (graph.{key}[{i}]) is "
                        f"{node['dtype']}{node['shape']}")


def _file_field(table, k):
    """How model.json names the ``k``-th weights file: ``weights.files[k]`` (format 2) or ``weights`` (format 1)."""
    return f"weights.files[{k}]" if "files" in table else "weights"


def _check_weights_files(table, fail, version):
    """The shard list (format 2's ``files``; format 1's single ``file``) is well formed; returns the total bytes
    and how errors name the files."""
    if version >= 2:
        if not isinstance(table.get("files"), list) or not table["files"]:
            fail("weights.files", "must be a non-empty list of {file, byte_length, sha256}")
        specs = table["files"]
    else:
        for key in ("file", "byte_length", "sha256"):
            if key not in table:
                fail(f"weights.{key}", "is missing (a required field)")
        specs = [table]
    names = set()
    for k, spec in enumerate(specs):
        field = f"weights.files[{k}]" if version >= 2 else "weights"
        if not isinstance(spec, dict):
            fail(field, "must be an object {file, byte_length, sha256}")
        file = spec.get("file")
        if not isinstance(file, str) or not PLAIN_FILE_NAME.fullmatch(file):
            fail(f"{field}.file", f"must be a plain file name (at most 128 characters) inside the bundle folder. Received: {file!r}")
        if file in names:
            fail(f"{field}.file", f"repeats {file!r}")
        names.add(file)
        if not _is_count(spec.get("byte_length")):
            fail(f"{field}.byte_length", f"must be a non-negative integer. Received: {spec.get('byte_length')!r}")
        _check_hex(spec.get("sha256"), f"{field}.sha256", fail)
    return sum(spec["byte_length"] for spec in specs), specs[0]["file"] if len(specs) == 1 else "the weights files"


def _check_weights_table(table, nodes, fail, version):
    if not isinstance(table, dict):
        fail("weights", "must be an object {files, entries}")
    total, what = _check_weights_files(table, fail, version)
    if not isinstance(table.get("entries"), list):
        fail("weights.entries", "must be a list")
    entries = {}
    for i, e in enumerate(table["entries"]):
        where = f"weights.entries[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            fail(where, "must be an object with a string name")
        for key in ("shape", "dtype", "offset", "byte_length", "sha256"):
            if key not in e:
                fail(f"{where}.{key}", "is missing (a required field)")
        if e["name"] in entries:
            fail(f"{where}.name", f"repeats {e['name']!r}")
        _check_shape(e["shape"], f"{where}.shape", fail, batch=False)
        _check_dtype(e["dtype"], f"{where}.dtype", fail)
        storage = e.get("storage", e["dtype"])
        if storage not in STORAGE_OF[e["dtype"]] or (storage == "int8" and not (e["shape"] and e["shape"][-1])):
            fail(f"{where}.storage", f"must be one of {', '.join(STORAGE_OF[e['dtype']])} for {e['dtype']}"
                                     f"{' (int8 needs a last axis to scale along)' if storage == 'int8' else ''}. "
                                     f"Received: {storage!r}")
        if not _is_count(e["offset"]) or e["offset"] % 4:
            fail(f"{where}.offset", f"must be a 4-byte aligned non-negative integer. Received: {e['offset']!r}")
        expected = storage_bytes(e["shape"], storage)
        if e["byte_length"] != expected:
            fail(f"{where}.byte_length", f"must be {expected} for {e['dtype']}{e['shape']} stored as {storage}. "
                                         f"Received: {e['byte_length']!r}")
        if e["offset"] + expected > total:
            fail(where, f"spans bytes {e['offset']}..{e['offset'] + expected}, past the end of {what} ({total} bytes)")
        _check_hex(e["sha256"], f"{where}.sha256", fail)
        entries[e["name"]] = e
    for name, node in nodes.items():
        if node["op"] != "constant":
            continue
        e = entries.get(name)
        if e is None:
            fail("weights.entries", f"has no entry for constant %{name}")
        if e["shape"] != node["shape"] or e["dtype"] != node["dtype"]:
            fail("weights.entries", f"{name!r} is {e['dtype']}{e['shape']} but constant %{name} is "
                                    f"{node['dtype']}{node['shape']}")
    return entries


def _check_plan(manifest, nodes, entries, fail):
    values, kernels, steps = (manifest[k] for k in ("values", "kernels", "steps"))
    slots = _check_slots(manifest["buffers"], "buffers", fail)
    if not isinstance(values, dict):
        fail("values", "must be an object {name: {buffer: id} | {weight: name}}")
    packed = {}  # weight entry -> whether its GPU buffer holds the stored bytes, as the first value naming it says
    for name, v in values.items():
        where = f"values.{name}"
        if isinstance(v, dict) and "buffer" in v:
            if not _is_count(v["buffer"]) or v["buffer"] not in slots:
                fail(f"{where}.buffer", f"names buffer {v['buffer']!r}, which buffers does not define")
            if name in nodes:
                _check_slot_size(nodes[name], slots[v["buffer"]], where, fail)
        elif isinstance(v, dict) and "weight" in v:
            if not _is_name(v["weight"]) or v["weight"] not in entries:
                fail(f"{where}.weight", f"names {v['weight']!r}, which weights.entries does not define")
            if name in nodes:
                check_weight_value(nodes[name], entries[v["weight"]], where, fail)
            _check_packed(v, where, entries, packed, manifest["format_version"], fail)
        else:
            fail(where, "must be {buffer: id} or {weight: name}")
    for key in ("inputs", "outputs"):
        for name in manifest["graph"][key]:
            if "buffer" not in values.get(name, {}):
                fail("values", f"has no buffer for graph {key[:-1]} %{name}")
    if not isinstance(kernels, list):
        fail("kernels", "must be a list")
    kernel_ids = set()
    for i, k in enumerate(kernels):
        if not isinstance(k, dict) or not _is_count(k.get("id")) or k["id"] in kernel_ids:
            fail(f"kernels[{i}].id", "must be a unique non-negative integer")
        if not isinstance(k.get("wgsl"), str) or not k["wgsl"]:
            fail(f"kernels[{i}].wgsl", "must be WGSL source text")
        if not _is_count(k.get("workgroup_size")) or k["workgroup_size"] < 1:
            fail(f"kernels[{i}].workgroup_size", f"must be a positive integer. Received: {k.get('workgroup_size')!r}")
        if WORKGROUP_SIZE.findall(k["wgsl"]) != [str(k["workgroup_size"])]:  # dispatches are counted from it
            fail(f"kernels[{i}].workgroup_size", f"must be what the WGSL declares (@workgroup_size"
                                                 f"({k['workgroup_size']}), once). Received: {k['workgroup_size']!r}")
        kernel_ids.add(k["id"])
    if not isinstance(steps, list):
        fail("steps", "must be a list")
    live = _Liveness(manifest["graph"]["inputs"], set().union(*(_outputs_of(s) for s in steps)),
                     lambda name: values[name]["buffer"], nodes, fail)
    arity = {}  # kernel id -> "inputs+outputs" it is bound with
    for i, s in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(s, dict) or not _is_count(s.get("kernel")) or s["kernel"] not in kernel_ids:
            fail(f"{where}.kernel", f"names kernel {s.get('kernel') if isinstance(s, dict) else s!r}, "
                                    f"which kernels does not define")
        for key in ("inputs", "outputs"):
            if not isinstance(s.get(key), list):
                fail(f"{where}.{key}", "must be a list of value names")
            for name in s[key]:
                if not _is_name(name) or name not in values:
                    fail(f"{where}.{key}", f"uses {name!r}, which values does not define")
        read = {values[n].get("buffer") for n in s["inputs"]} - {None}
        for name in s["outputs"]:
            if "buffer" not in values[name]:
                fail(f"{where}.outputs", f"writes {name!r}, which is a weight")
            if values[name]["buffer"] in read:
                fail(f"{where}.outputs", f"writes {name!r} into buffer {values[name]['buffer']}, which the step also reads")
        for name in s["inputs"]:
            if "buffer" in values[name]:
                live.read(name, f"{where}.inputs")
        for name in s["outputs"]:
            live.write(name)
        if not isinstance(s.get("label", ""), str):
            fail(f"{where}.label", f"must be a string. Received: {s['label']!r}")
        threads = s.get("threads")
        if not isinstance(threads, list) or len(threads) != 2 or not all(_is_index(t) for t in threads):
            fail(f"{where}.threads", f"must be [per_batch, fixed] integers in 0..2^31 - 1. Received: {threads!r}")
        bound = f"{len(s['inputs'])}+{len(s['outputs'])}"  # the pipeline's layout is made from the first step
        for kernel in [s["kernel"]] + _check_variants(s, where, kernel_ids, fail):
            if arity.setdefault(kernel, bound) != bound:
                fail(where, f"binds kernel {kernel} with {bound} buffers, another step with {arity[kernel]}")
    check_bindings(manifest, nodes, live.owner, fail)
    for name in manifest["graph"]["outputs"]:
        live.read(name, "outputs", output=True)
    limits = manifest.get("limits", {})
    if not isinstance(limits, dict):
        fail("limits", "must be an object {limitName: number}")
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            fail(f"limits.{name}", f"must be a non-negative number. Received: {value!r}")


def _outputs_of(step):
    outputs = step.get("outputs") if isinstance(step, dict) else None
    return {name for name in outputs if isinstance(name, str)} if isinstance(outputs, list) else set()


class _Liveness:
    """Which value each buffer of a plan holds as its steps run (``buffer(name)``: a value's buffer id), to refuse a
    plan that reads a value after a later step overwrote its buffer (two live values in one buffer). ``produced``:
    the values steps write; a value no step writes is a zero-copy alias (a reshape no step runs): it shows the bytes
    of its first input. ``webexport.validate_cpu`` checks the ``cpu`` plan with it too."""

    def __init__(self, inputs, produced, buffer, nodes, fail):
        self.holder = {buffer(name): name for name in inputs}
        self.produced, self.buffer, self.nodes, self.fail = set(inputs) | set(produced), buffer, nodes, fail

    def owner(self, name):
        for _ in range(len(self.nodes)):  # nodes only read earlier nodes: a chain is never longer than the graph
            node = self.nodes.get(name)
            if name in self.produced or node is None or not node["inputs"]:
                break
            name = node["inputs"][0]
        return name

    def read(self, name, field, output=False):
        """``name`` is read by a step (``output``: named by the graph's outputs after the last step)."""
        buffer = self.buffer(name)
        if buffer not in self.holder:
            self.fail(field, f"names {name!r}, which no step writes" if output else
                      f"reads {name!r} (buffer {buffer}) before any step writes it")
        if self.owner(self.holder[buffer]) != self.owner(name):
            self.fail(field, f"{'names' if output else 'reads'} {name!r} from buffer {buffer}, which now holds "
                             f"{self.holder[buffer]!r} (two live values in one buffer)")

    def write(self, name):
        self.holder[self.buffer(name)] = name


def _check_packed(value, where, entries, packed, version, fail):
    """``values[name].packed`` (format 3, optional, true): the weight's GPU buffer holds its stored float16/int8
    bytes; every value naming one weight says the same (there is one buffer per weight)."""
    flag = value.get("packed", False)
    if not isinstance(flag, bool):
        fail(f"{where}.packed", f"must be true or false. Received: {flag!r}")
    if flag and version < PACKED_VERSION:
        fail(f"{where}.packed", f"needs format_version {PACKED_VERSION} (a runtime for format {version} would read the "
                                f"weight as float32). Received: format_version={version}")
    entry = entries[value["weight"]]
    storage = entry.get("storage", entry["dtype"])
    if flag and storage not in ("float16", "int8"):
        fail(f"{where}.packed", f"needs a float16 or int8 weight; {value['weight']!r} is stored as {storage}")
    if packed.setdefault(value["weight"], flag) != flag:
        fail(f"{where}.packed", f"is {str(flag).lower()} but another value says {str(not flag).lower()} for weight "
                                f"{value['weight']!r}")


def _check_variants(step, where, kernel_ids, fail):
    """``steps[i].variants`` (format 2): ``[{min_batch, kernel, threads}]``, min_batch increasing from 2; returns
    the kernel ids. Each variant is bound exactly as its step."""
    variants = step.get("variants", [])
    if not isinstance(variants, list):
        fail(f"{where}.variants", f"must be a list of {{min_batch, kernel, threads}}. Received: {variants!r}")
    previous = 1
    for j, v in enumerate(variants):
        at = f"{where}.variants[{j}]"
        if not isinstance(v, dict) or not _is_count(v.get("kernel")) or v["kernel"] not in kernel_ids:
            fail(f"{at}.kernel", f"names kernel {v.get('kernel') if isinstance(v, dict) else v!r}, which kernels "
                                 f"does not define")
        if not _is_count(v.get("min_batch")) or v["min_batch"] <= previous:
            fail(f"{at}.min_batch", f"must be an integer above {previous} (variants go by increasing batch). "
                                    f"Received: {v.get('min_batch')!r}")
        previous = v["min_batch"]
        threads = v.get("threads")
        if not isinstance(threads, list) or len(threads) != 2 or not all(_is_index(t) for t in threads):
            fail(f"{at}.threads", f"must be [per_batch, fixed] integers in 0..2^31 - 1. Received: {threads!r}")
    return [v["kernel"] for v in variants]


def _check_slots(buffers, field, fail):
    if not isinstance(buffers, list):
        fail(field, "must be a list")
    slots = {}
    for i, b in enumerate(buffers):
        if not isinstance(b, dict) or not _is_count(b.get("id")) or b["id"] in slots:
            fail(f"{field}[{i}].id", "must be a unique non-negative integer")
        if not all(_is_index(b.get(k)) for k in ("bytes_per_batch", "bytes_fixed")):
            fail(f"{field}[{i}]", "needs bytes_per_batch and bytes_fixed integers in 0..2^31 - 1 (a 2 GiB buffer)")
        slots[b["id"]] = b
    return slots


def _check_slot_size(node, slot, where, fail):
    dynamic = None in node["shape"]
    size = 4 * math.prod(1 if d is None else d for d in node["shape"])
    if (size > slot["bytes_per_batch"]) if dynamic else (size > slot["bytes_per_batch"] + slot["bytes_fixed"]):
        fail(where, f"needs {size} bytes{' per batch' if dynamic else ''} but buffers[id={slot['id']}] holds "
                    f"{slot['bytes_per_batch']} per batch + {slot['bytes_fixed']}")


def _check_shape(shape, field, fail, batch):
    ok = isinstance(shape, list) and all(
        _is_count(d) or (d is None and i == 0 and batch) for i, d in enumerate(shape))
    if not ok:
        fail(field, f"must be a list of non-negative integers{' (null allowed at axis 0)' if batch else ''}. "
                    f"Received: {shape!r}")
    if math.prod(1 if d is None else d for d in shape) > MAX_INDEX:
        fail(field, f"holds more than 2^31 - 1 elements, past the kernels' 32-bit index math. Received: {shape!r}")


def _check_dtype(dtype, field, fail):
    if not isinstance(dtype, str) or dtype not in DTYPES:
        fail(field, f"must be one of {', '.join(DTYPES)}. Received: {dtype!r}")


def _check_hex(value, field, fail):
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        fail(field, f"must be a 64-digit hex SHA-256. Received: {value!r}")


def _depth(value):
    """How deeply ``value`` nests lists and objects, counted without recursion (a hostile file nests 10^5 deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_index(value):
    return _is_count(value) and value <= MAX_INDEX


def _is_name(value):
    return isinstance(value, str)

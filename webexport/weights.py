"""The weights of a bundle: storage tiers (float32, float16, int8) and shard files (docs/internals.md §6).

Every graph constant is one entry of ``model.json``'s ``weights.entries``, laid out at a 4-byte aligned
offset in the concatenation of the shard files ``weights.files`` (each at most ``SHARD_BYTES``; a big
entry may span two shards). An entry keeps its graph ``dtype``; its ``storage`` says how its bytes hold it:

- ``float32``/``int32``/``bool``: the values as numpy writes them (bool as 0/1 bytes);
- ``float16``: IEEE half floats, the runtime widens them to float32;
- ``int8``: symmetric per-channel quantisation along the last axis: ``numel`` signed bytes, zero padding to
  4 bytes, then ``shape[-1]`` float32 scales; value = ``q * scale[channel]``.

The tiers apply to the matrices of a model (float32 constants of rank >= 2 with at least
``MIN_QUANTIZED_ELEMENTS`` elements: Dense and Conv kernels, embeddings); biases, normalisation
parameters and scalars stay float32, where they cost few bytes and their precision matters most.

    >>> storage = storages(graph, "int8")                        # {constant name: "int8" | "float32" | ...}
    >>> blobs, table = pack_weights(graph, storage)              # [bytes of each shard], the weights table
    >>> decode(data, entry["shape"], "float32", "int8")          # the float32 values the kernels compute with

``storages`` is the one decision: ``webexport.lower`` takes it (a matmul or conv kernel reads a float16/int8
weight as stored and unpacks it in registers) and ``pack_weights`` writes the bytes it says.
"""
import hashlib

import numpy as np

SHARD_BYTES = 16 * 2**20  # iOS Safari and HTTP caches handle files up to this size well
STORAGES = ("float32", "float16", "int8")  # the tiers `export(weights=...)` takes
MIN_QUANTIZED_ELEMENTS = 1024
F16_MAX = 65504.0
NUMPY = {"float32": "<f4", "int32": "<i4", "bool": "u1", "float16": "<f2", "int8": "i1"}
ITEM_SIZES = {"float32": 4, "int32": 4, "bool": 1, "float16": 2, "int8": 1}


def entry_storage(array, dtype, storage):
    """The storage an entry of graph ``dtype`` gets under the export tier ``storage``: the tier for a big
    float32 matrix whose values it can hold (finite; within float16's range for float16), else ``dtype``."""
    if storage == "float32" or dtype != "float32" or array.ndim < 2 or array.size < MIN_QUANTIZED_ELEMENTS:
        return dtype
    if not np.all(np.isfinite(array)) or (storage == "float16" and np.abs(array).max() > F16_MAX):
        return dtype
    return storage


def storages(graph, tier):
    """``{constant name: storage}`` for every constant of ``graph`` under the export tier ``tier``
    (``entry_storage`` of each)."""
    if tier not in STORAGES:
        raise ValueError(f"weights must be one of {', '.join(STORAGES)}. Received: weights={tier!r}")
    return {node.name: entry_storage(np.asarray(graph.constants[node.name]), node.dtype, tier)
            for node in graph.nodes if node.op == "constant"}


def encode(array, storage):
    """The bytes of ``array`` (float32 values) stored as ``storage``."""
    if storage == "int8":
        flat = array.reshape(-1, array.shape[-1])
        peak = np.abs(flat).max(axis=0)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(flat / scale), -127, 127).astype(np.int8)
        data = q.tobytes()
        return data + b"\0" * (-len(data) % 4) + scale.astype("<f4").tobytes()
    return np.ascontiguousarray(array.astype(NUMPY[storage])).tobytes()


def element_count(shape):
    """Elements in an array of ``shape``."""
    return int(np.prod(shape, dtype=np.int64))


def storage_bytes(shape, storage):
    """The byte length of an entry of ``shape`` stored as ``storage``."""
    count = element_count(shape)
    if storage == "int8":
        return -(-count // 4) * 4 + 4 * (shape[-1] if shape else 0)
    return count * ITEM_SIZES[storage]


def decode(data, shape, dtype, storage):
    """The array an entry's bytes ``data`` hold (graph ``dtype``; float16 and int8 widened to float32)."""
    count = element_count(shape)
    if storage == "int8":
        q = np.frombuffer(data, np.int8, count)
        scale = np.frombuffer(data, "<f4", shape[-1], offset=-(-count // 4) * 4)
        return (q.reshape(-1, shape[-1]).astype(np.float32) * scale).reshape(shape)
    array = np.frombuffer(data, NUMPY[storage], count).reshape(shape)
    if dtype == "bool":
        return array.astype(bool)
    return array.astype(dtype, copy=False)


def pack_weights(graph, storage="float32", shard_bytes=None):
    """``(shards, table)``: every constant of ``graph`` in node order, each 4-byte aligned in the
    concatenation of ``shards`` (a list of bytes objects, each at most ``shard_bytes``), and the
    ``weights`` table of model.json (``files``, ``entries``) describing them. ``storage`` is a tier name or
    ``storages``' dict (each constant's storage); ``shard_bytes`` defaults to ``SHARD_BYTES``."""
    shard_bytes = shard_bytes or SHARD_BYTES
    if isinstance(storage, str):
        storage = storages(graph, storage)
    chunks, entries, offset = [], [], 0
    for node in graph.nodes:
        if node.op != "constant":
            continue
        array = np.asarray(graph.constants[node.name])
        kind = storage[node.name]
        data = encode(array.astype(node.dtype, copy=False), kind)
        pad = -offset % 4
        chunks.append(b"\0" * pad)
        offset += pad
        entries.append({"name": node.name, "label": node.attrs.get("label", ""), "shape": list(node.shape),
                        "dtype": node.dtype, "storage": kind, "offset": offset, "byte_length": len(data),
                        "sha256": hashlib.sha256(data).hexdigest()})
        chunks.append(data)
        offset += len(data)
    blob = b"".join(chunks)
    shards = [blob[i:i + shard_bytes] for i in range(0, len(blob), shard_bytes)] or [b""]
    names = ["weights.bin"] if len(shards) == 1 else [f"weights-{i + 1}-of-{len(shards)}.bin"
                                                       for i in range(len(shards))]
    files = [{"file": name, "byte_length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
             for name, data in zip(names, shards)]
    return shards, {"files": files, "entries": entries}


def weights_files(table):
    """The shard list of a weights table: ``files`` (format 2), or format 1's single ``file``."""
    if "files" in table:
        return table["files"]
    return [{"file": table["file"], "byte_length": table["byte_length"], "sha256": table["sha256"]}]


def storage_error(graph, table, samples=8, seed=0):
    """How far the outputs of ``graph`` move when its constants are read back from ``table``'s storage:
    ``{"probe_inputs", "max_abs_error", "max_abs_output"}`` over ``samples`` random inputs (float inputs
    standard normal, int inputs 0 or 1, bools random), the outputs computed by the reference interpreter
    with the float32 constants and with the stored ones. ``None`` when every entry is stored exactly."""
    from pyml.graph.interpreter import run_graph  # late: the bundle reader needs no interpreter

    lossy = {e["name"] for e in table["entries"] if e["storage"] != e["dtype"]}
    if not lossy:
        return None
    stored = {}
    for node in graph.nodes:
        if node.name in lossy:
            entry = next(e for e in table["entries"] if e["name"] == node.name)
            array = np.asarray(graph.constants[node.name]).astype(np.float32)
            stored[node.name] = decode(encode(array, entry["storage"]), entry["shape"], "float32", entry["storage"])
    rng = np.random.default_rng(seed)
    inputs = []
    for name in graph.inputs:
        node = graph.node(name)
        shape = tuple(samples if d is None else d for d in node.shape)
        if node.dtype == "float32":
            inputs.append(rng.standard_normal(shape).astype(np.float32))
        elif node.dtype == "bool":
            inputs.append(rng.integers(0, 2, shape).astype(bool))
        else:
            inputs.append(rng.integers(0, 2, shape).astype(node.dtype))
    exact = [np.asarray(y.numpy(), np.float64) for y in run_graph(graph, inputs)]
    approx = [np.asarray(y.numpy(), np.float64) for y in run_graph(graph, inputs, constants=stored)]
    error = max((float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(exact, approx)), default=0.0)
    peak = max((float(np.max(np.abs(a), initial=0.0)) for a in exact), default=0.0)
    dynamic = any(graph.node(name).shape and graph.node(name).shape[0] is None for name in graph.inputs)
    finite = lambda x: x if np.isfinite(x) else None  # noqa: E731  (JSON has no NaN; the report says "unknown")
    return {"probe_inputs": samples if dynamic else 1, "max_abs_error": finite(error), "max_abs_output": finite(peak)}

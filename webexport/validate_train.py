"""Checks of a bundle's training section (``manifest["train"]``, docs/internals.md §6), the Python twin of
``validateTrain`` in web/src/train.js (same messages), and ``load_training``, which reads it back with its
weights for Python-side runs of the exported step (``run_training_step``).

    >>> training = load_training(load_bundle("model"))       # doctest: +SKIP
    >>> loss, kept = run_training_step(training, kept, x, y, t=1)   # doctest: +SKIP
"""
from typing import NamedTuple

import numpy as np

from pyml.graph.ir import Graph

OPTIMIZERS = ("SGD", "Adam", "AdamW")
HYPER = ("learning_rate", "alpha", "weight_decay")


def check_train(manifest, file, validate_manifest, fail_type):
    """Check ``manifest["train"]``: a manifest of its own (``validate_manifest``), then the fields that tie it to
    the model. Raises ``fail_type`` naming the field."""
    t = manifest["train"]

    def fail(field, message):
        raise fail_type(f"{file} train: {field} {message}")

    if not isinstance(t, dict):
        fail("", "must be an object (a manifest of the training step)")
    validate_manifest(t, file=f"{file} train")
    nodes = {n["name"]: n for n in t["graph"]["nodes"]}
    inputs = set(t["graph"]["inputs"])
    o = t.get("optimizer")
    if not isinstance(o, dict) or o.get("class") not in OPTIMIZERS:
        fail("optimizer.class", f"must be one of {', '.join(OPTIMIZERS)}")
    for key in ["learning_rate"] + ([] if o["class"] == "SGD" else ["beta_1", "beta_2"]):
        if not _finite(o.get(key)):
            fail(f"optimizer.{key}", "must be a finite number")
    if o.get("weight_decay") is not None and not _finite(o["weight_decay"]):
        fail("optimizer.weight_decay", "must be a number or null")
    hyper = t.get("hyper")
    if not isinstance(hyper, list) or not all(h in HYPER and f"hyper_{h}" in inputs for h in hyper):
        fail("hyper", f"must list hyperparameters among {', '.join(HYPER)}, each a graph input hyper_<name>")
    batch = t.get("batch_inputs")
    if not isinstance(batch, list) or len(batch) != 2 or not all(n in inputs for n in batch):
        fail("batch_inputs", "must name the graph inputs of x and y")
    host = t.get("host")
    if not isinstance(host, list) or not all(isinstance(h, dict) and h.get("kind") == "dropout" and h.get("name") in inputs
                                             and _finite(h.get("rate")) and 0 <= h["rate"] <= 1 for h in host):
        fail("host", 'must list {name, kind: "dropout", rate in [0, 1]} for graph inputs')
    kept = kept_names(t)
    if nodes[t["graph"]["outputs"][0]]["shape"] != []:
        fail("graph.outputs[0]", "must be the scalar loss")
    if not isinstance(t.get("updates"), dict):
        fail("updates", "must be an object {input: output}")
    for name, out in t["updates"].items():
        if name not in kept or out not in t["graph"]["outputs"] or nodes[out]["shape"] != nodes[name]["shape"]:
            fail(f"updates.{name}", "must map a variable input to a graph output of its shape")
    entries = {e["name"]: e for e in t["weights"]["entries"]}
    if not isinstance(t.get("initial"), dict):
        fail("initial", "must be an object {input: weights entry}")
    for name, entry in t["initial"].items():
        if name not in kept or entry not in entries or entries[entry]["shape"] != nodes[name]["shape"]:
            fail(f"initial.{name}", "must map a variable input to a weights entry of its shape")
    weights = {e["name"]: e for e in manifest["weights"]["entries"]}
    if not isinstance(t.get("variables"), list):
        fail("variables", "must be a list")
    for i, v in enumerate(t["variables"]):
        where = f"variables[{i}]"
        if (not isinstance(v, dict) or not isinstance(v.get("name"), str) or not isinstance(v.get("shape"), list)
                or v.get("dtype") not in ("float32", "int32")):
            fail(where, "must be {name, shape, dtype, source, offset, weight}")
        size = int(np.prod(v["shape"], dtype=np.int64))
        offset = v.get("offset")
        if (v.get("source") not in kept or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0
                or offset + size > int(np.prod(nodes[v["source"]]["shape"], dtype=np.int64))):
            fail(f"{where}.source", f"must be a variable input holding {size} values at offset {offset}")
        if v.get("weight") is not None and (v["weight"] not in weights or weights[v["weight"]]["shape"] != v["shape"]):
            fail(f"{where}.weight", f"must be null or an inference weights entry of shape {v['shape']}")
    metadata = t.get("save_metadata")
    if not isinstance(metadata, dict) or not all(isinstance(s, str) for s in metadata.values()):
        fail("save_metadata", "must be an object of strings")


def kept_names(t):
    """The graph inputs a step keeps from one run to the next: the flat parameters, slots and other variables."""
    passed = set(t["batch_inputs"]) | {f"hyper_{h}" for h in t["hyper"]} | {h["name"] for h in t["host"]}
    return [name for name in t["graph"]["inputs"] if name not in passed]


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


class Training(NamedTuple):
    """A bundle's training section read back: its ``section`` (the dict), the step ``graph`` with its constants,
    and ``initial``: each kept input's starting value (the ``init_*`` entries, zeros for the others)."""

    section: dict
    graph: Graph
    initial: dict


def load_training(bundle):
    """The training section of a loaded ``Bundle`` (``webexport.load_bundle``, which validated it), with its
    weights files read and checked (lengths, SHA-256)."""
    from webexport.validate import BundleError, read_program

    t = bundle.manifest.get("train")
    if t is None:
        raise BundleError(f"{bundle.path}: the bundle has no training section (export it with train=...)")
    graph, weights, _ = read_program(bundle.path, t, table="train.weights")
    initial = {}
    for name in kept_names(t):
        node = graph.node(name)
        entry = t["initial"].get(name)
        initial[name] = np.array(weights[entry]) if entry else np.zeros(node.shape, node.dtype)
    return Training(t, graph, initial)


def run_training_step(training, kept, x, y, t, masks=None):
    """One step of the exported graph in pyml's reference interpreter: ``(loss, new kept values)`` from the kept
    values ``kept`` (``training.initial`` at first), the batch ``x``, ``y``, the step number ``t`` (1-based: the
    hyperparameters are ``webexport.train.hyper_values``) and ``masks`` ({host input: array}, for Dropout)."""
    from pyml.graph.interpreter import run_graph
    from webexport.train import hyper_values

    section = training.section
    hyper = hyper_values(section["optimizer"], t)
    feed = dict(kept, **dict(zip(section["batch_inputs"], (x, y))), **(masks or {}))
    feed.update((f"hyper_{h}", np.float32(hyper[h])) for h in section["hyper"])
    outputs = [o.numpy() for o in run_graph(training.graph, [feed[name] for name in training.graph.inputs])]
    by_name = dict(zip(training.graph.outputs, outputs))
    new = dict(kept)
    new.update((name, by_name[out]) for name, out in section["updates"].items())
    return float(outputs[0]), new

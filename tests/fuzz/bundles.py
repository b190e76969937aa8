"""A seeded fuzz harness for the bundle loaders (``webexport.load_bundle`` + ``run_bundle`` here, ``loadModel`` in
the browser: tests/browser/test_bundle_fuzz_browser.py): real bundles of several model types, damaged one way per
case, must be refused with a ``BundleError`` naming the file, or load and compute the unmutated bundle's numbers.

    >>> failures = run(seed=0, cases=5000)   # [] when every case held; else (case seed, what, detail) each
    >>> case(seed=1234)                      # one case again, from the seed a failure printed

Each case draws one mutation from its own seed (``random.Random(seed)``), so a failure reproduces from that number.
Mutations (``mutate``): truncation and bit flips of model.json and weights.bin, hostile values anywhere in the
manifest, huge/negative/overlapping weight offsets and sizes, shapes whose element count passes 2^31 or 2^53, dtype
lies, nesting 100,000 deep and 4 MiB of JSON, unknown ops and format versions, value names that try to inject WGSL
or JavaScript (renamed everywhere, so a loader that accepts them must compute the same numbers), path traversal and
absolute URLs as weights file names, a step's input or output bound to another value of its plan, a memory plan (the
WebGPU one or ``cpu``) putting two values in one buffer (half of them live at the same time, ``live_pairs``: a plan
every loader that reads it must refuse), and harmless rewrites (indentation, key order, uppercase digests) that must
load and compute the same numbers. Every bundle that loads runs guarded (``run_bundle(guard=True)``), which shows a
read or write past a buffer.

Not mutated: the kernels' WGSL text and the nodes' ``attrs``. A manifest carries the program itself, and no loader
can tell a changed kernel from a different model: a bundle's integrity against tampering is its transport's (HTTPS,
Subresource Integrity), the loaders' job is to refuse what is malformed and never run out of bounds.
"""
import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.fuzz import seeded
from tests.fuzz.seeded import DEEP, dumps

TIME_LIMIT = 2.0  # seconds one case (load, and run when it loads) may take
MODELS = ("dense_extras", "cnn", "stacked_lstm", "masked_rnns", "embedding")  # MLP, convnet, LSTM, two inputs, int ids
RTOL, ATOL = 1e-5, 1e-6


# ---- the unmutated bundles ------------------------------------------------------------------------------------
_SEEDS = None


def seeds():
    """``{model: {"manifest": dict, "files": {name: bytes}, "inputs": [array], "outputs": {name: array}}}``,
    exported and run once per process (the tests/webexport/keras_models.py models, trained, seeded)."""
    global _SEEDS
    if _SEEDS is None:
        from tests.webexport.keras_models import trained
        from webexport import export, load_bundle, run_bundle

        _SEEDS = {}
        folder = Path(tempfile.mkdtemp(prefix="pyml-bundle-fuzz-"))
        try:
            for name in MODELS:
                case = trained(name)
                export(case.model, folder / name, include_runtime=False)
                files = {p.name: p.read_bytes() for p in (folder / name).iterdir()}
                inputs = [x[:1] for x in case.x]  # batch 1: the runner's warm-up batch, prepared once
                outputs = run_bundle(load_bundle(folder / name), inputs)
                _SEEDS[name] = {"manifest": json.loads(files["model.json"]), "files": files, "inputs": inputs,
                                "outputs": outputs}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _SEEDS


# ---- hostile values -------------------------------------------------------------------------------------------
INJECTIONS = ['x"];alert(1)//', "x;} @compute @workgroup_size(1) fn evil() {", "</script><script>alert(1)</script>",
              "${alert(1)}", "__proto__", "constructor", "x\u0000y", "a b", "../x", "v" * 5000, "", "toString"]
FILE_NAMES = ["../weights.bin", "/etc/passwd", "https://evil.example/w.bin", "//evil.example/w.bin",
              "file:///etc/passwd", "%2e%2e/weights.bin", "..\\weights.bin", "sub/weights.bin", "data:,AAAA",
              "javascript:alert(1)", "weights.bin?x=1", "weights.bin#x", "model.json", ".", "..", ""]
HUGE = [-1, -(2 ** 31), 2 ** 31, 2 ** 32 + 4, 2 ** 53, 2 ** 53 + 1, 2 ** 64, 10 ** 30, 1e308, float("inf"),
        float("nan"), 0.5, 3.0, True, None, "4", [4], {}]


def hostile_value(rng):
    return rng.choice(HUGE + INJECTIONS + FILE_NAMES[:4] + [f"{DEEP}100000", [None] * 3, {"buffer": 0},
                                                             {"weight": "w1"}, "float64", "bool", "int32"])


def json_paths(value, path=()):
    """Every (path, value) of a JSON tree, containers included; kernels' WGSL and nodes' attrs left out."""
    if path[-1:] in (("wgsl",), ("attrs",)):
        return
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from json_paths(item, path + (key,))


def set_path(manifest, path, value):
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def rename(value, old, new):
    """``value`` with every string and key equal to ``old`` (a value name) replaced by ``new``."""
    if isinstance(value, dict):
        return {(new if k == old else k): (v if k == "wgsl" else rename(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [rename(v, old, new) for v in value]
    return new if value == old else value


def resign(manifest, files):
    """Recompute every SHA-256 and length in the weights table (a mutation of weights.bin that a loader must catch
    by reading offsets, not by a digest)."""
    for spec in manifest["weights"]["files"]:
        data = files.get(spec["file"], b"")
        spec.update(byte_length=len(data), sha256=hashlib.sha256(data).hexdigest())


# ---- mutations ------------------------------------------------------------------------------------------------
def mutate(rng, seed):
    """``(what, {file name: bytes})``: one mutation of a seed bundle (``seeds()[model]``)."""
    m, files = json.loads(seed["files"]["model.json"]), dict(seed["files"])
    weights_name = m["weights"]["files"][0]["file"]
    entries, nodes = m["weights"]["entries"], m["graph"]["nodes"]
    kind = rng.choice(["truncate", "flip", "value", "offsets", "overflow", "dtype", "big-json", "op-version",
                       "inject-name", "file-name", "overlap", "rebind", "harmless"])
    if kind == "truncate":
        name = rng.choice(["model.json", weights_name])
        files[name] = files[name][: rng.randrange(len(files[name]))]
        return f"truncate {name}", files
    if kind == "flip":
        name = rng.choice(["model.json", weights_name])
        if name == "model.json":  # outside the WGSL text: flip a byte of a number, name or key
            text = files[name]
            protected = [(text.find(json.dumps(k["wgsl"]).encode()), len(json.dumps(k["wgsl"]).encode()))
                         for k in m["kernels"]]
            spots = bytearray(text)
            for _ in range(rng.choice([1, 1, 2, 8])):
                i = rng.randrange(len(spots))
                if not any(start <= i < start + n for start, n in protected):
                    spots[i] ^= 1 << rng.randrange(8)
            files[name] = bytes(spots)
        else:
            data = bytearray(files[name])
            for _ in range(rng.choice([1, 2, 8])):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            files[name] = bytes(data)
        return f"flip {name}", files
    if kind == "value":
        path = rng.choice([p for p, _ in json_paths(m) if p])
        set_path(m, path, hostile_value(rng))
        files["model.json"] = dumps(m)
        return f"value {'.'.join(map(str, path))}", files
    if kind == "offsets":
        i = rng.randrange(len(entries))
        field = rng.choice(["offset", "byte_length", "file"])
        if field == "file":
            m["weights"]["files"][0]["byte_length"] = rng.choice(HUGE[:8])
        else:
            entries[i][field] = rng.choice(HUGE[:8] + [entries[rng.randrange(len(entries))][field],
                                                       len(files[weights_name]), len(files[weights_name]) - 4])
        files["model.json"] = dumps(m)
        return f"offsets weights.entries[{i}].{field}", files
    if kind == "overflow":
        big = rng.choice([[2 ** 16, 2 ** 16], [2 ** 27, 2 ** 27], [2 ** 31], [2 ** 53 + 1], [3, 2 ** 62]])
        target = rng.choice(["node", "entry", "input"])
        if target == "entry":
            entries[rng.randrange(len(entries))]["shape"] = big
        else:
            node = rng.choice(nodes if target == "node" else [n for n in nodes if n["op"] == "placeholder"])
            node["shape"] = ([None] if node["shape"][:1] == [None] else []) + big
            for spec in m["inputs"] if target == "input" else []:
                spec["shape"] = node["shape"]
        files["model.json"] = dumps(m)
        return f"overflow {target}", files
    if kind == "dtype":
        where = rng.choice([entries, nodes, m["inputs"], m["outputs"]])
        item = rng.choice(where)
        item["dtype"] = rng.choice(["float32", "int32", "bool", "float16", "int8", "float64", "uint8"])
        if where is entries and rng.random() < 0.5:
            item["storage"] = rng.choice(["float16", "int8", "int32", "bool"])
        files["model.json"] = dumps(m)
        return "dtype lie", files
    if kind == "big-json":
        choice = rng.randrange(3)
        if choice == 0:
            path = rng.choice([p for p, _ in json_paths(m) if p])
            set_path(m, path, f"{DEEP}100000")
        elif choice == 1:
            m["producer"] = "x" * (4 << 20)
        else:
            m["padding"] = [0] * (1 << 18)
        files["model.json"] = dumps(m)
        return ["deep json", "huge string", "huge list"][choice], files
    if kind == "op-version":
        if rng.random() < 0.5:
            call = [n for n in nodes if n["op"] == "call"]
            rng.choice(call)["target"] = rng.choice(["frobnicate", "eval", "__proto__", "constructor", "", None, 7])
            what = "unknown op"
        else:
            field = rng.choice(["format_version", "format", ("graph", "version")])
            set_path(m, field if isinstance(field, tuple) else (field,),
                     rng.choice([0, 5, 99, -1, 1.5, "4", None, 2 ** 53, "pyml-bundle-2"]))
            what = f"version {field}"
        files["model.json"] = dumps(m)
        return what, files
    if kind == "inject-name":
        internal = [n["name"] for n in nodes if n["name"] not in m["graph"]["inputs"] + m["graph"]["outputs"]]
        old = rng.choice(internal)
        files["model.json"] = dumps(rename(m, old, rng.choice(INJECTIONS)))
        return "inject name", files
    if kind == "file-name":
        new = rng.choice(FILE_NAMES)
        m["weights"]["files"][0]["file"] = new
        files["model.json"] = dumps(m)
        if rng.random() < 0.5 and "/" not in new and new not in ("", ".", ".."):
            files[new] = files[weights_name]  # the file exists under the hostile name too
        return "file name", files
    if kind == "rebind":  # a step bound to another value of its plan, as a flipped digit in a name does
        plan = m if rng.random() < 0.5 or "cpu" not in m else m["cpu"]
        step = rng.choice(plan["steps"])
        key = rng.choice([k for k in ("inputs", "outputs", "output", "bias", "residual") if step.get(k)])
        names = step[key] if isinstance(step[key], list) else None
        new = rng.choice([n for n in plan["values"]] + [n["name"] for n in nodes if n["op"] == "constant"])
        if names:
            names[rng.randrange(len(names))] = new
        else:
            step[key] = new
        files["model.json"] = dumps(m)
        return f"rebind {'cpu.' if plan is not m else ''}steps[].{key}", files
    if kind == "overlap":
        plan = m if rng.random() < 0.5 or "cpu" not in m else m["cpu"]
        pairs = live_pairs(m, plan)
        live = bool(pairs) and rng.random() < 0.5  # two values live at once: a loader reading this plan must refuse it
        a, b = rng.choice(pairs) if live else rng.sample([n for n, v in plan["values"].items() if "buffer" in v], 2)
        overlap(plan, a, b)
        files["model.json"] = dumps(m)
        return f"overlap{' live' if live else ''} {'cpu.' if plan is not m else ''}values", files
    choice = rng.randrange(3)
    if choice == 2:
        for spec in m["weights"]["files"] + entries:
            spec["sha256"] = spec["sha256"].upper()
    files["model.json"] = dumps(m, indent=rng.choice([None, 1, 4]), sort_keys=choice == 1)
    return "harmless", files


def live_pairs(manifest, plan):
    """``[(a, b)]``: values of ``plan`` (the manifest, or its ``cpu`` plan) that are live at the same time, each
    written by its own step (or the page, for an input): putting ``a`` in ``b``'s buffer makes one overwrite the
    other before its last read. A zero-copy alias (a value no step writes) is read as its first input."""
    nodes = {n["name"]: n for n in manifest["graph"]["nodes"]}
    steps = [(s["inputs"], s["outputs"] if "outputs" in s else [s["output"]]) for s in plan["steps"]]
    written = {name: -1 for name in manifest["graph"]["inputs"]}
    written.update((name, i) for i, (_, outputs) in enumerate(steps) for name in outputs)

    def owner(name):
        while name not in written and nodes[name]["inputs"]:
            name = nodes[name]["inputs"][0]
        return name

    last = dict(written)  # value -> the last step reading it (len(steps): a graph output)
    for i, (inputs, _) in enumerate(steps):
        for name in inputs:
            if owner(name) in last:
                last[owner(name)] = i
    for name in manifest["graph"]["outputs"]:
        if owner(name) in last:
            last[owner(name)] = len(steps)
    held = [n for n in written if "buffer" in plan["values"].get(n, {})]
    return [(a, b) for a in held for b in held
            if written[a] != written[b] and max(written[a], written[b]) <= min(last[a], last[b])]


def overlap(plan, a, b):
    """Move value ``a`` into ``b``'s buffer of ``plan`` (a manifest, or its ``cpu``), every slot made big enough for
    any value, so that only liveness can refuse it."""
    plan["values"][a]["buffer"] = plan["values"][b]["buffer"]
    for slot in plan["buffers"]:
        slot["bytes_per_batch"] = max(s["bytes_per_batch"] for s in plan["buffers"])
        slot["bytes_fixed"] = max(s["bytes_fixed"] for s in plan["buffers"])


def overlapped(model, plan_key, a, b):
    """A copy of ``model``'s manifest with ``overlap(plan, a, b)`` done in plan ``plan_key`` (None or "cpu")."""
    m = json.loads(seeds()[model]["files"]["model.json"])
    overlap(m[plan_key] if plan_key else m, a, b)
    return m


def overlaps():
    """``[(model, plan, a, b, manifest)]``: every pair of values live at the same time, in either plan of every
    fuzzed model, put in one buffer."""
    out = []
    for model, seed in seeds().items():
        for plan_key in (None, "cpu"):
            m = seed["manifest"]
            out += [(model, plan_key, a, b, overlapped(model, plan_key, a, b))
                    for a, b in live_pairs(m, m[plan_key] if plan_key else m)]
    return out


# ---- running --------------------------------------------------------------------------------------------------
def _same(outputs, expected):
    """The same arrays in the same order (by position: a mutation may rename an output, as a re-export could)."""
    outputs, expected = list(outputs.values()), list(expected.values())
    return len(outputs) == len(expected) and all(
        np.asarray(a).shape == b.shape and np.allclose(a, b, RTOL, ATOL) for a, b in zip(outputs, expected))


_RAN = {}  # what each bundle's bytes computed once loaded: the same files load the same bundle


def _run_once(bundle, files, seed_bundle, run_bundle):
    """None when the loaded ``bundle`` computes the seed's outputs, else what went wrong; run once per content.
    The run is guarded (``run_bundle(guard=True)``): a read past a slot buffer brings NaN into the outputs, a write
    past one raises ``OutOfBoundsError``; either is named as the out-of-bounds access it is."""
    from webexport.native import OutOfBoundsError

    key = hashlib.sha256(b"".join(hashlib.sha256(name.encode() + data).digest()
                                  for name, data in sorted(files.items()))).hexdigest()
    if key not in _RAN:
        try:
            outputs = run_bundle(bundle, seed_bundle["inputs"], guard=True)
            nan = any(np.isnan(np.asarray(a, np.float64)).any() for a in outputs.values())
            _RAN[key] = None if _same(outputs, seed_bundle["outputs"]) else \
                "loaded, and read out of bounds (a buffer's guard NaN in the outputs)" if nan and not any(
                    np.isnan(b).any() for b in seed_bundle["outputs"].values()) else \
                "loaded, and computes other numbers than the unmutated bundle"
        except OutOfBoundsError as exc:
            _RAN[key] = f"loaded, and wrote out of bounds: {exc}"
        except Exception as exc:  # noqa: BLE001  (an accepted bundle must run)
            _RAN[key] = f"loaded, then running it raised {type(exc).__name__}: {str(exc)[:300]}"
    return _RAN[key]


def case(seed, folder=None, outcomes=None):
    """Run case ``seed``; None when it held, else ``(seed, what, detail)``. ``outcomes`` (a Counter) counts
    ``"<mutation> loaded"`` / ``"<mutation> refused"`` for the cases that held."""
    from webexport import BundleError, load_bundle, run_bundle

    rng = random.Random(seed)
    model = rng.choice(MODELS)
    seed_bundle = seeds()[model]
    what, files = mutate(rng, seed_bundle)
    where = Path(folder or tempfile.mkdtemp(prefix="pyml-bundle-fuzz-")) / f"case-{seed}"
    where.mkdir()
    for name, data in files.items():
        (where / name).write_bytes(data)
    label = f"{model}/{what}"
    started = time.perf_counter()
    try:
        try:
            bundle = load_bundle(where)
        except BundleError as exc:
            if not any(name in str(exc) for name in ("model.json", ".bin", "weights")):
                return seed, label, f"the refusal names no file or field: {exc}"
            outcome = "refused"
        else:
            outcome = "loaded"
            if what.startswith("overlap live"):  # validate_manifest reads both plans
                return seed, label, "loaded a plan with two live values in one buffer"
            problem = _run_once(bundle, files, seed_bundle, run_bundle)
            if problem:
                return seed, label, problem
    except Exception as exc:  # noqa: BLE001  (anything else is a failure of the case)
        return seed, label, f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        shutil.rmtree(where, ignore_errors=True)
    seconds = time.perf_counter() - started
    if seconds > TIME_LIMIT:
        return seed, label, f"took {seconds:.1f} s"
    if outcomes is not None:
        outcomes[f"{what.split(' ')[0]} {outcome}"] += 1
    return None


def run(seed=0, cases=5000, on_case=None, outcomes=None):
    """Cases ``seed * 1_000_003 + i`` for i < cases; the list of failures (see ``case``)."""
    return seeded.run(case, seed, cases, "pyml-bundle-fuzz-", on_case, outcomes)

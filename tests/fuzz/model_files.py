"""A seeded fuzz harness for ``pyml.load_model``: real ``.pyml`` files of several model types, damaged one way per
case, must load (the damage was harmless) or raise ValueError naming the file, within a time bound, without
executing anything or reading past a bound.

    >>> failures = run(seed=0, cases=2000)   # [] when every case held; else (case seed, what, detail) each
    >>> case(seed=1234)                      # one case again, from the seed a failure printed

Each case draws one mutation from its own seed (``random.Random(seed)``), so a failure reproduces from that one
number. Mutations: config.json and metadata.json values replaced by hostile ones (wrong types, huge and negative
numbers, deep nesting, unknown classes, strings that would run code if anything evaluated them), keys dropped;
safetensors headers with lying lengths, offsets past the end or overlapping, unknown dtypes, shapes that
overflow; zip members twice, outside the archive (``..``, absolute), of an unknown compression method, with
declared sizes far past their real ones, zip bombs; and plain truncation and bit flips of the whole file.
"""
import io
import json
import os
import random
import struct
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from tests.fuzz import seeded
from tests.fuzz.seeded import DEEP, dumps

TIME_LIMIT = 2.0  # seconds one load may take
SENTINEL = "pyml-fuzz-code-ran"  # a file the code-injection strings would create if anything evaluated them
ACCEPTED = (ValueError,)  # FileNotFoundError and friends cannot happen: the file always exists


def seed_models():
    """``{name: .pyml bytes}``: an MLP (compiled, Adam state), a functional two-input model, a CNN, an LSTM."""
    import pyml
    from pyml import layers

    pyml.layers.clear_session()  # the same layer names in every process, so a case's seed reproduces anywhere
    pyml.set_random_seed(0)
    rng = np.random.default_rng(0)
    mlp = pyml.Sequential([pyml.Input(shape=(4,)), layers.Dense(5, activation="relu"),
                           layers.Dense(3, activation="softmax")])
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mlp.fit(rng.standard_normal((8, 4)).astype(np.float32), np.arange(8) % 3, verbose=0)
    a, b = pyml.Input(shape=(3,), name="a"), pyml.Input(shape=(2,), name="b")
    merged = layers.Concatenate()([layers.Dense(4)(a), b])
    functional = pyml.Model([a, b], layers.Dense(1, activation="sigmoid", name="out")(merged))
    cnn = pyml.Sequential([pyml.Input(shape=(6, 6, 1)), layers.Conv2D(2, 3, activation="relu"),
                           layers.MaxPooling2D(), layers.Flatten(), layers.Dense(2)])
    lstm = pyml.Sequential([pyml.Input(shape=(5,), dtype="int32"), layers.Embedding(10, 4),
                            layers.LSTM(3), layers.Dense(1)])
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, model in {"mlp": mlp, "functional": functional, "cnn": cnn, "lstm": lstm}.items():
            path = os.path.join(folder, f"{name}.pyml")
            model.save(path)
            found[name] = fixed_dates(Path(path).read_bytes())
    return found


def fixed_dates(data):
    """``data`` with the save date and the zip timestamps fixed, so every process fuzzes the same bytes."""
    entries = []
    for name, content, compression in members(data):
        if name == "metadata.json":
            content = json.dumps({**json.loads(content), "date_saved": "2024-01-01T00:00:00+00:00"}).encode()
        entries.append((name, content, compression))
    return archive(entries)


# ---- reading and writing archives ------------------------------------------------------------------------
def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info), info.compress_type) for info in archive.infolist()]


def archive(entries):
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as writer:
        warnings.simplefilter("ignore")  # "Duplicate name": the point of some cases
        for name, data, compression in entries:
            writer.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return out.getvalue()


def replace_member(data, name, new):
    return archive([(n, new if n == name else d, c) for n, d, c in members(data)])


# ---- hostile values --------------------------------------------------------------------------------------
def code_strings():
    return [f"__import__('pathlib').Path('{SENTINEL}').touch()", f"lambda: open('{SENTINEL}', 'w')",
            "os.system", "builtins.eval", "subprocess.Popen", f"!!python/object/apply:os.system ['touch {SENTINEL}']"]


def hostile_value(rng):
    choices = [None, True, False, 0, -1, -(2 ** 31), 2 ** 31, 2 ** 53 + 1, 2 ** 64, 10 ** 12, 1e308, -1e308, 0.5,
               float("nan"), float("inf"), "", "x" * rng.randrange(1, 64), "relu", "softmax", "float64", "int8",
               "Lambda", "Dense", [], {}, [1, 2, 3], [-1, 4], [0], [10 ** 9, 10 ** 9], {"class_name": "Foo"},
               {"class_name": "Dense", "config": {"units": 10 ** 10}}, {"class_name": "Sequential"},
               ["deep"] * 3]
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(code_strings())
    if kind == 1:
        return f"{DEEP}{rng.choice([50, 5000, 100000])}"  # a placeholder: ``dumps`` writes the nesting as text
    return rng.choice(choices)


def json_paths(value, path=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, path + (index,))


def mutate_json(rng, value):
    paths = [p for p, _ in json_paths(value) if p]
    for _ in range(rng.choice([1, 1, 1, 2, 4])):
        path = rng.choice(paths)
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        action = rng.randrange(6)
        if action == 0 and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == 1 and isinstance(parent, dict):
            parent[rng.choice(["class_name", "config", "layers", "units", "inbound_nodes", "__class__"])] = \
                hostile_value(rng)
        else:
            try:
                parent[path[-1]] = hostile_value(rng)
            except (IndexError, KeyError, TypeError):
                pass
        paths = [p for p, _ in json_paths(value) if p] or [("format",)]
    return value


# ---- safetensors headers ---------------------------------------------------------------------------------
def mutate_safetensors(rng, data):
    (length,) = struct.unpack("<Q", data[:8])
    header, body = json.loads(data[8:8 + length]), data[8 + length:]
    names = [k for k in header if k != "__metadata__"] or ["x"]
    name = rng.choice(names)
    entry = header.setdefault(name, {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})
    action = rng.randrange(9)
    if action == 0:
        entry["dtype"] = rng.choice(["F64", "F16", "BF16", "I8", "U8", "I64", "BOOL", "F8_E4M3", "C64", "X", 7, None])
    elif action == 1:
        entry["shape"] = rng.choice([[-1], [2 ** 31, 2 ** 31], [2 ** 62, 8], [0], [], [10 ** 12], ["3"], None,
                                     [3, 2 ** 61], [1] * 100])
    elif action == 2:
        end = len(body)
        entry["data_offsets"] = rng.choice([[0, end + 4], [end, end + 4], [4, 0], [-4, 0], [0, 2 ** 64 - 1],
                                            [0, 0], [2 ** 63, 2 ** 63 + 4], "0:4", [0], None])
    elif action == 3:  # overlapping tensors
        other = header[rng.choice(names)]
        entry["data_offsets"] = list(other.get("data_offsets", [0, 4]))
    elif action == 4:
        header["__metadata__"] = rng.choice([{"format": "pyml-weights", "order": "[1, 2]"}, [1], "x", {"a": {"b": 1}}])
    elif action == 5:
        header[rng.choice(code_strings())] = dict(entry)
    else:
        text = json.dumps(header).encode()
        lie = rng.choice([0, 1, len(text) - 1, len(text) + 1, 2 ** 40, 2 ** 64 - 1, len(data)])
        return struct.pack("<Q", lie) + text + body
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


# ---- zip-level damage ------------------------------------------------------------------------------------
_BOMB = None


def bomb():
    """A deflated member of 256 MiB of zeros (about 256 KB compressed), made once."""
    global _BOMB
    if _BOMB is None:
        import zlib

        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = bytes(1 << 20)
        _BOMB = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    return _BOMB


def raw_member(name, payload, size, crc=0, method=zipfile.ZIP_DEFLATED):
    """A zip holding one already-compressed ``payload`` as ``name``, declaring ``size`` uncompressed bytes."""
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(payload), min(size, 2 ** 32 - 1),
                        len(name), 0) + name.encode() + payload
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(payload),
                          min(size, 2 ** 32 - 1), len(name), 0, 0, 0, 0, 0, 0) + name.encode()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)
    return local, central, end


def with_raw_member(data, name, payload, size, method=zipfile.ZIP_DEFLATED):
    """``data``'s members (``name`` left out) followed by a hand-made member (zipfile cannot write lies)."""
    kept = archive([m for m in members(data) if m[0] != name])
    with zipfile.ZipFile(io.BytesIO(kept)) as source:
        infos = source.infolist()
    directory_start = struct.unpack("<L", kept[-6:-2])[0]
    body, directory = kept[:directory_start], kept[directory_start:-22]
    local, central, _ = raw_member(name, payload, size, method=method)
    offset = len(body)
    central = central[:42] + struct.pack("<L", offset) + central[46:]
    directory += central
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(infos) + 1, len(infos) + 1, len(directory),
                      offset + len(local), 0)
    return body + local + directory + end


def mutate_zip(rng, data):
    entries = members(data)
    action = rng.randrange(8)
    if action == 0:  # a member twice, the second one damaged
        name, content, compression = rng.choice(entries)
        return archive(entries + [(name, content[: len(content) // 2], compression)])
    if action == 1:  # a member outside the archive
        evil = rng.choice(["../config.json", "/etc/passwd", "a/../../x", "C:\\\\evil", "..\\\\..\\\\x", "/config.json"])
        return archive(entries + [(evil, b"{}", zipfile.ZIP_STORED)])
    if action == 2:  # a zip bomb in place of a member pyml reads
        name = rng.choice(["config.json", "model.safetensors", "metadata.json", "optimizer.safetensors"])
        return with_raw_member(data, name, bomb(), 256 << 20)
    if action == 3:  # a member that declares far more than it holds (or far less)
        name, content, _ = rng.choice(entries)
        size = rng.choice([2 ** 32 - 1, 10 ** 9, 0, 1, len(content) * 1000])
        return with_raw_member(data, name, content, size, method=zipfile.ZIP_STORED)
    if action == 4:  # an unknown compression method
        name, content, _ = rng.choice(entries)
        return with_raw_member(data, name, content, len(content), method=rng.choice([1, 6, 12, 14, 93, 99]))
    if action == 5:  # a member dropped
        drop = rng.randrange(len(entries))
        return archive(entries[:drop] + entries[drop + 1:])
    if action == 6:  # every member deflated (pyml stores weights; other writers may not)
        return archive([(n, d, zipfile.ZIP_DEFLATED) for n, d, _ in entries])
    return archive(list(reversed(entries)))  # members in another order


def mutate_bytes(rng, data):
    data = bytearray(data)
    if rng.random() < 0.4:
        return bytes(data[: rng.randrange(len(data))])
    for _ in range(rng.choice([1, 2, 8, 64])):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def mutate(rng, data):
    """``(what, damaged bytes)``: one mutation of a model file's bytes."""
    kind = rng.choices(["config", "metadata", "weights", "optimizer", "zip", "bytes"], [35, 10, 20, 5, 15, 15])[0]
    if kind in ("config", "metadata"):
        name = f"{kind}.json"
        content = next(d for n, d, _ in members(data) if n == name)
        return kind, replace_member(data, name, dumps(mutate_json(rng, json.loads(content))))
    if kind in ("weights", "optimizer"):
        name = "model.safetensors" if kind == "weights" else "optimizer.safetensors"
        found = [d for n, d, _ in members(data) if n == name]
        if found:
            return kind, replace_member(data, name, mutate_safetensors(rng, found[0]))
    if kind == "zip":
        return kind, mutate_zip(rng, data)
    return "bytes", mutate_bytes(rng, data)


# ---- running ---------------------------------------------------------------------------------------------
_SEEDS = None


def seeds():
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = seed_models()
    return _SEEDS


def case(seed, folder=None, outcomes=None):
    """Run case ``seed``; None when it held, else ``(seed, what, detail)``. ``outcomes`` (a Counter) counts
    ``"<mutation> loaded"`` / ``"<mutation> refused"`` for the ones that held."""
    import pyml

    rng = random.Random(seed)
    models = seeds()
    model_name = rng.choice(sorted(models))
    what, data = mutate(rng, models[model_name])
    folder = folder or tempfile.mkdtemp(prefix="pyml-fuzz-")
    path = os.path.join(folder, f"case-{seed}.pyml")
    Path(path).write_bytes(data)
    outcome = "loaded"
    started = time.perf_counter()
    try:
        pyml.load_model(path)
    except ACCEPTED as exc:
        if path not in str(exc):
            return seed, f"{model_name}/{what}", f"{type(exc).__name__} does not name the file: {exc}"
        outcome = "refused"
    except Exception as exc:  # noqa: BLE001  (anything else is a failure of the case)
        return seed, f"{model_name}/{what}", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        os.remove(path)
    seconds = time.perf_counter() - started
    if seconds > TIME_LIMIT:
        return seed, f"{model_name}/{what}", f"took {seconds:.1f} s"
    if os.path.exists(SENTINEL) or os.path.exists(os.path.join(folder, SENTINEL)):
        return seed, f"{model_name}/{what}", "a string in the file was executed"
    if outcomes is not None:
        outcomes[f"{what} {outcome}"] += 1
    return None


def run(seed=0, cases=2000, on_case=None, outcomes=None):
    """Cases ``seed * 1_000_003 + i`` for i < cases; the list of failures (see ``case``)."""
    return seeded.run(case, seed, cases, "pyml-fuzz-", on_case, outcomes)

"""load_model on hostile .pyml files: 2,000 seeded fuzz cases (tests/fuzz/model_files.py) load or fail with a
ValueError naming the file, each within 2 s, nothing executed; and one test per defence, asserting its message
and its memory bound. The longer run is ``python scripts/fuzz_model_files.py`` (100,000 cases)."""
import collections
import io
import json
import os
import struct
import tracemalloc
import zipfile

import pytest

import pyml
from tests.fuzz import model_files as fuzz

CI_CASES = 2000
SEED = int(os.environ.get("PYML_FUZZ_SEED", "0"))  # CI runs seed 0; set it to explore others


def test_fuzzed_model_files_load_or_fail_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the code-injection strings would write their sentinel file
    outcomes = collections.Counter()
    with _quiet():
        failures = fuzz.run(SEED, CI_CASES, outcomes=outcomes)
    assert not failures, "\n".join(f"case {s} ({what}): {detail} -- rerun: python scripts/fuzz_model_files.py "
                                   f"--case {s}" for s, what, detail in failures[:20])
    assert not (tmp_path / fuzz.SENTINEL).exists()
    refused = sum(n for key, n in outcomes.items() if key.endswith("refused"))
    # the harness damages files for real: most cases are refused, and every kind of damage is drawn
    assert refused > CI_CASES // 2, outcomes
    assert {key.split()[0] for key in outcomes} == {"config", "metadata", "weights", "optimizer", "zip", "bytes"}


class _quiet:
    """numpy's overflow warnings from a config's hostile numbers are not what this test is about."""

    def __enter__(self):
        import warnings

        import numpy as np

        self.errors = np.seterr(all="ignore")
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        import numpy as np

        self.warnings.__exit__(*exc)
        np.seterr(**self.errors)


@pytest.fixture(scope="module")
def mlp():
    return fuzz.seeds()["mlp"]


def load(tmp_path, data):
    path = tmp_path / "m.pyml"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            pyml.load_model(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    return str(info.value), peak


@pytest.mark.parametrize("member", ["model.safetensors", "config.json"])
def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, mlp, member):
    message, peak = load(tmp_path, fuzz.with_raw_member(mlp, member, fuzz.bomb(), 256 << 20))
    assert f"member {member} declares 268,435,456 bytes" in message and "zip bomb" in message
    assert peak < 16 << 20, f"{peak:,} bytes allocated"


def test_a_member_that_lies_about_its_size_is_read_only_up_to_the_bound(tmp_path, mlp):
    # a stored member whose headers declare 1 byte: zipfile reads what is declared, and the CRC then fails
    content = dict((n, d) for n, d, _ in fuzz.members(mlp))["config.json"]
    message, _ = load(tmp_path, fuzz.with_raw_member(mlp, "config.json", content, 1, method=zipfile.ZIP_STORED))
    assert "member config.json is corrupted or unreadable" in message


@pytest.mark.parametrize("name", ["../config.json", "/etc/passwd", "a/../../x", "C:\\evil", "..\\x"])
def test_a_member_outside_the_archive_is_refused(tmp_path, mlp, name):
    message, _ = load(tmp_path, fuzz.archive(fuzz.members(mlp) + [(name, b"{}", zipfile.ZIP_STORED)]))
    assert f"member {name!r} points outside the archive" in message


def test_a_member_twice_is_refused(tmp_path, mlp):
    entries = fuzz.members(mlp)
    message, _ = load(tmp_path, fuzz.archive(entries + [e for e in entries if e[0] == "config.json"]))
    assert "holds member 'config.json' twice" in message


def test_an_unknown_compression_method_is_named(tmp_path, mlp):
    content = dict((n, d) for n, d, _ in fuzz.members(mlp))["metadata.json"]
    message, _ = load(tmp_path, fuzz.with_raw_member(mlp, "metadata.json", content, len(content), method=99))
    assert "member metadata.json is corrupted or unreadable" in message


def config_with(mlp, change):
    config = json.loads(dict((n, d) for n, d, _ in fuzz.members(mlp))["config.json"])
    change(config)
    return fuzz.replace_member(mlp, "config.json", json.dumps(config).encode())


def test_a_config_asking_for_more_weights_than_the_file_holds_fails_before_allocating(tmp_path, mlp):
    data = config_with(mlp, lambda c: c["config"]["layers"][0]["config"].update(units=10 ** 9))
    message, peak = load(tmp_path, data)
    assert "config.json: layer 'dense' asks for a weight 'kernel' of shape (4, 1000000000)" in message
    assert peak < 16 << 20, f"{peak:,} bytes allocated"


def test_a_deeply_nested_config_is_refused_naming_the_member(tmp_path, mlp):
    text = dict((n, d) for n, d, _ in fuzz.members(mlp))["config.json"].decode()
    deep = text.replace('"units": 5', '"units": ' + "[" * 100000 + "]" * 100000, 1)
    message, _ = load(tmp_path, fuzz.replace_member(mlp, "config.json", deep.encode()))
    assert "config.json" in message


def test_a_layer_config_of_the_wrong_type_names_the_file_and_layer(tmp_path, mlp):
    message, _ = load(tmp_path, config_with(mlp, lambda c: c["config"]["layers"][1]["config"].update(units=[1, 2])))
    assert "config.json" in message and "Dense" in message


@pytest.mark.parametrize("header_change", [
    lambda h, n: h["dense/kernel"].update(data_offsets=[0, n + 4]),
    lambda h, n: h["dense/kernel"].update(dtype="X"),
    lambda h, n: h["dense/kernel"].update(shape=[2 ** 31, 2 ** 31]),
    lambda h, n: h["dense/kernel"].update(data_offsets=h["dense/bias"]["data_offsets"]),
], ids=["offset-past-the-end", "unknown-dtype", "shape-overflows", "overlapping"])
def test_a_bad_safetensors_header_is_refused_naming_the_member(tmp_path, mlp, header_change):
    data = dict((n, d) for n, d, _ in fuzz.members(mlp))["model.safetensors"]
    (length,) = struct.unpack("<Q", data[:8])
    header, body = json.loads(data[8:8 + length]), data[8 + length:]
    header_change(header, len(body))
    text = json.dumps(header).encode()
    message, _ = load(tmp_path, fuzz.replace_member(mlp, "model.safetensors",
                                                    struct.pack("<Q", len(text)) + text + body))
    assert "model.safetensors" in message


def test_strings_that_would_run_code_are_only_ever_names(tmp_path, mlp, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for code in fuzz.code_strings():
        def poison(config, code=code):
            config["config"]["layers"][0]["config"]["activation"] = code
            config["config"]["layers"][1]["class_name"] = code
        message, _ = load(tmp_path, config_with(mlp, poison))
        assert "config.json" in message and ("Unknown activation" in message or "unknown layer class" in message), \
            message
    assert not (tmp_path / fuzz.SENTINEL).exists()


def test_the_seed_files_themselves_load(tmp_path):
    for name, data in fuzz.seeds().items():
        path = tmp_path / f"{name}.pyml"
        path.write_bytes(data)
        assert pyml.load_model(str(path)).built
    assert zipfile.is_zipfile(io.BytesIO(fuzz.seeds()["mlp"]))

"""``run_bundle(guard=True)``, the fuzz harness's check for out-of-bounds access on the WebGPU plan (the kernels run
natively, as in the browser): bugs injected on purpose past the loader, into a bundle it accepted, are caught. A read
past a buffer brings the guard's NaN into the outputs, where the unguarded run gives plausible finite numbers; a write
past one raises ``OutOfBoundsError``."""
import copy
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.fuzz import bundles
from webexport import load_bundle, run_bundle
from webexport.native import OutOfBoundsError


@pytest.fixture(scope="module")
def dense():
    """The fuzzer's MLP (a dense layer's matmul step reads x, kernel w1 [64, 32], bias w3 [32], w22), loaded."""
    seed = bundles.seeds()["dense_extras"]
    folder = Path(tempfile.mkdtemp(prefix="pyml-guard-"))
    for name, data in seed["files"].items():
        (folder / name).write_bytes(data)
    return load_bundle(folder), seed


def _injected(bundle, change):
    m = copy.deepcopy(bundle.manifest)
    change(m)
    return dataclasses.replace(bundle, manifest=m)  # past the loader: a bug in it, or in a runtime


def test_a_guarded_run_of_a_sound_bundle_computes_its_numbers(dense):
    bundle, seed = dense
    (out,) = run_bundle(bundle, seed["inputs"], guard=True).values()
    (expected,) = seed["outputs"].values()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def _small_slot(m, step, key):
    """Bind ``steps[step].<key>[0]`` to a new value in a new 16-byte slot (4 floats per batch)."""
    m["buffers"].append({"id": 99, "bytes_per_batch": 16, "bytes_fixed": 0})
    m["values"]["small"] = {"buffer": 99}
    m["steps"][step][key][0] = "small"


def test_a_read_past_a_buffer_brings_nan_into_the_outputs(dense):
    bundle, seed = dense
    assert bundle.manifest["steps"][1]["inputs"] == ["v24"]  # the norm reads 32 floats per row
    bad = _injected(bundle, lambda m: _small_slot(m, 1, "inputs"))
    (plain,) = run_bundle(bad, seed["inputs"]).values()
    (guarded,) = run_bundle(bad, seed["inputs"], guard=True).values()
    assert np.isfinite(plain).all()  # unguarded: numbers that look fine
    assert np.isnan(guarded).all()


def test_a_write_past_a_buffer_raises(dense):
    bundle, seed = dense
    assert bundle.manifest["steps"][3]["outputs"] == bundle.manifest["graph"]["outputs"]  # the softmax writes 10 floats
    bad = _injected(bundle, lambda m: _small_slot(m, 3, "outputs"))
    run_bundle(bad, seed["inputs"])  # unguarded: nothing to see
    with pytest.raises(OutOfBoundsError, match=r"wrote past the end of buffers\[id=99\]"):
        run_bundle(bad, seed["inputs"], guard=True)

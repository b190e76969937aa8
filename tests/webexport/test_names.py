"""Bundles keep the names users gave (issue #8): ``Input(name=...)`` for inputs and the layers that make the outputs
(Keras 3's ``model.output_names``) in model.json, so ``run_bundle`` (and the page's ``model.run``) take and give
values by name; the graph keeps its own value names, and bundles written before (format 2/3) still load."""
import json
import re

import numpy as np
import pytest

import pyml
from pyml import layers
from tests.webexport.helpers import ATOL, RTOL
from webexport import BundleError, ExportError, export, load_bundle, run_bundle
from webexport.validate import validate_manifest


def two_by_two():
    """Two named inputs, two named outputs: ``image`` (3 values) and ``meta`` (2) in, ``probs`` and ``score`` out."""
    pyml.random.set_random_seed(5)
    image, meta = pyml.Input(shape=(3,), name="image"), pyml.Input(shape=(2,), name="meta")
    hidden = layers.Dense(6, activation="relu")(layers.Concatenate()([image, meta]))
    return pyml.Model([image, meta], [layers.Dense(4, activation="softmax", name="probs")(hidden),
                                      layers.Dense(1, name="score")(hidden)])


def feeds(batch=3):
    rng = np.random.default_rng(batch)
    return rng.standard_normal((batch, 3)).astype(np.float32), rng.standard_normal((batch, 2)).astype(np.float32)


def manifest_of(folder):
    return json.loads((folder / "model.json").read_text())


def as_format_2(manifest):
    """``manifest`` as pyml wrote it before format 4: each input's and output's name its graph value's."""
    for key in ("inputs", "outputs"):
        for signature, value in zip(manifest[key], manifest["graph"][key]):
            signature["name"] = value
    manifest["format_version"] = 2


def test_a_two_input_two_output_model_keeps_its_names_and_runs_by_name_and_by_position(tmp_path):
    model = two_by_two()
    export(model, tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    assert manifest["format_version"] == 4
    assert [(s["name"], s["shape"]) for s in manifest["inputs"]] == [("image", [None, 3]), ("meta", [None, 2])]
    assert [(s["name"], s["shape"]) for s in manifest["outputs"]] == [("probs", [None, 4]), ("score", [None, 1])]
    assert not {"image", "meta", "probs", "score"} & {n["name"] for n in manifest["graph"]["nodes"]}  # values keep theirs
    image, meta = feeds()
    expected = dict(zip(model.output_names, model.predict([image, meta], verbose=0)))
    bundle = load_bundle(tmp_path / "b")
    for given in ({"meta": meta, "image": image}, [image, meta]):
        got = run_bundle(bundle, given)
        assert list(got) == ["probs", "score"]
        for name in got:
            np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("given, message", [
    ({"image": 0}, r"takes inputs \['image', 'meta'\]; missing \['meta'\]"),
    ({"image": 0, "meta": 0, "extra": 0}, r"unknown \['extra'\]"),
])
def test_run_bundle_refuses_missing_or_unknown_names_listing_the_inputs(tmp_path, given, message):
    export(two_by_two(), tmp_path / "b", include_runtime=False)
    with pytest.raises(ValueError, match=message):
        run_bundle(tmp_path / "b", given)


def test_a_sequential_bundle_uses_keras_default_names(tmp_path):
    pyml.layers.clear_session()
    model = pyml.Sequential([pyml.Input(shape=(4,)), layers.Dense(3), layers.Dense(2)])
    export(model, tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    assert [s["name"] for s in manifest["inputs"]] == ["input_layer"]
    assert [s["name"] for s in manifest["outputs"]] == ["dense_1"]


def test_a_saved_model_exports_with_the_names_it_was_saved_with(tmp_path):
    two_by_two().save(tmp_path / "m.pyml")
    export(str(tmp_path / "m.pyml"), tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    assert [s["name"] for s in manifest["inputs"] + manifest["outputs"]] == ["image", "meta", "probs", "score"]


def test_a_subclassed_model_names_its_inputs_and_outputs_by_position(tmp_path):
    class Twice(pyml.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            y = self.dense(x)
            return [y, y * 2.0]

    model = Twice()
    model.build((None, 3))
    export(model, tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    assert [s["name"] for s in manifest["inputs"] + manifest["outputs"]] == ["input_0", "output_0", "output_1"]


def test_a_graph_keeps_its_value_names_and_format_2(tmp_path):
    graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x), [((None, 3), "float32")])
    export(graph, tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    assert manifest["format_version"] == 2
    assert [s["name"] for s in manifest["inputs"]] == graph.inputs


@pytest.mark.parametrize("name", ["my probs", "probs<script>", "1st", "__proto__", "x" * 129, "sonde\u0301"])
def test_an_output_layer_name_a_page_cannot_use_is_refused_naming_the_layer(tmp_path, name):
    inputs = pyml.Input(shape=(3,), name="image")
    model = pyml.Model(inputs, layers.Dense(2, name=name)(inputs))
    with pytest.raises(ExportError, match=rf"output 0 is named after layer {re.escape(repr(name))}.*Rename the layer"):
        export(model, tmp_path / "b", include_runtime=False)


def test_an_unsafe_input_name_is_refused_naming_the_input(tmp_path):
    inputs = pyml.Input(shape=(3,), name="the image")
    model = pyml.Model(inputs, layers.Dense(2)(inputs))
    with pytest.raises(ExportError, match=r"input 0 is named after Input layer 'the image'"):
        export(model, tmp_path / "b", include_runtime=False)


def test_two_outputs_of_one_layer_are_refused_naming_the_layer(tmp_path):
    a, b = pyml.Input(shape=(3,), name="left"), pyml.Input(shape=(3,), name="right")
    shared = layers.Dense(2, name="embed")
    model = pyml.Model([a, b], [shared(a), shared(b)])
    with pytest.raises(ExportError, match=r"outputs 0 and 1 are both named after layer 'embed'"):
        export(model, tmp_path / "b", include_runtime=False)


def test_a_bundle_of_format_2_still_loads_and_runs_by_its_value_names(tmp_path):
    model = two_by_two()
    export(model, tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    as_format_2(manifest)
    (tmp_path / "b" / "model.json").write_text(json.dumps(manifest))
    image, meta = feeds(2)
    got = run_bundle(load_bundle(tmp_path / "b"), dict(zip(manifest["graph"]["inputs"], (image, meta))))
    assert list(got) == manifest["graph"]["outputs"]
    for (value, array), expected in zip(got.items(), model.predict([image, meta], verbose=0)):
        np.testing.assert_allclose(array, expected, rtol=RTOL, atol=ATOL, err_msg=value)


@pytest.mark.parametrize("change, field", [
    (lambda m: m.update(format_version=3), "inputs[0].name"),  # format 3 names inputs by their values
    (lambda m: m["outputs"][1].update(name="probs"), "outputs[1].name"),
    (lambda m: m["inputs"][0].update(name="a\"]);alert(1)//"), "inputs[0].name"),
    (lambda m: m["inputs"][0].update(name=None), "inputs[0].name"),
])
def test_the_loader_refuses_names_that_repeat_or_could_inject(tmp_path, change, field):
    export(two_by_two(), tmp_path / "b", include_runtime=False)
    manifest = manifest_of(tmp_path / "b")
    change(manifest)
    with pytest.raises(BundleError, match=re.escape(f"{field} ")):
        validate_manifest(manifest)


def test_a_named_model_with_packed_weights_is_format_4_and_runs(tmp_path):
    pyml.random.set_random_seed(6)
    features = pyml.Input(shape=(32,), name="features")
    model = pyml.Model(features, layers.Dense(64, name="embedding")(features))  # 2048 weights: stored as float16
    export(model, tmp_path / "b", include_runtime=False, weights="float16")
    bundle = load_bundle(tmp_path / "b")
    assert bundle.manifest["format_version"] == 4
    assert any(v.get("packed") for v in bundle.manifest["values"].values())
    x = np.random.default_rng(0).standard_normal((2, 32)).astype(np.float32)
    got = run_bundle(bundle, {"features": x})["embedding"]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-2, atol=1e-2)  # float16 weights

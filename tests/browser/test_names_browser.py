"""Names in the browser (issue #8): a bundle's inputs and outputs carry the model's names, ``model.run`` takes an
object keyed by input name and gives one keyed by output name (an array still runs by position), with the numbers
Python's ``predict`` gives; ``model.info`` lists names, shapes, dtypes and a text input's or padded input's
fields; a bundle of the format before names still loads; missing or unknown names are refused listing the
model's. Both backends: WebGPU (SwiftShader here) and the CPU."""
import copy
import json

import numpy as np
import pytest

import pyml
from pyml import layers
from tests.webexport.test_names import as_format_2, feeds, two_by_two
from webexport import export

BACKENDS = ["webgpu", "cpu"]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def bundles(web_server):
    """name -> model.json URL, plus "model": the 2-in 2-out Python model and "manifest": its model.json."""
    model = two_by_two()
    folder = web_server.path("names-tests/named")
    pyml_export(model, folder)
    manifest = json.loads((folder / "model.json").read_text())
    old = web_server.path("names-tests/format-2")  # the same bundle as pyml wrote it before names (format 2)
    pyml_export(model, old)
    old_manifest = copy.deepcopy(manifest)
    as_format_2(old_manifest)
    (old / "model.json").write_text(json.dumps(old_manifest))

    vectorize = layers.TextVectorization(max_tokens=12, output_sequence_length=4)
    vectorize.adapt(["the cat sat", "a dog ran"])
    text = pyml.Sequential([pyml.Input(shape=(1,), dtype="string", name="review"), vectorize,
                            layers.Embedding(12, 3), layers.GlobalAveragePooling1D(), layers.Dense(2, name="sentiment")])
    pyml_export(text, web_server.path("names-tests/text"))
    padded = pyml.Sequential([pyml.Input(shape=(None,), dtype="int32", name="ids"), layers.Embedding(9, 3, mask_zero=True),
                              layers.GlobalAveragePooling1D(), layers.Dense(2, name="logits")])
    pyml_export(padded, web_server.path("names-tests/padded"), sequence_length=6)
    urls = {name: web_server.url(f"names-tests/{name}/model.json") for name in ("named", "format-2", "text", "padded")}
    return dict(urls, model=model, manifest=manifest, old=old_manifest)


def pyml_export(model, folder, **kwargs):
    export(model, folder, include_runtime=False, **kwargs)


def assert_close(got, expected, what):
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE, err_msg=what)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_by_name_and_by_position_gives_what_python_predicts(shared_page, bundles, backend):
    harness, _ = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    image, meta = feeds(3)
    expected = dict(zip(["probs", "score"], bundles["model"].predict([image, meta], verbose=0)))
    (by_name, by_position), info = harness.run_series(bundles["named"], backend,
                                                      [{"meta": meta, "image": image}, [image, meta]])
    assert list(by_name) == ["probs", "score"]
    for i, name in enumerate(["probs", "score"]):
        assert_close(by_name[name], expected[name], f"{backend} {name} by name")
        assert_close(by_position[i], expected[name], f"{backend} {name} by position")
    assert info["inputs"] == [{"name": "image", "shape": [None, 3], "dtype": "float32"},
                              {"name": "meta", "shape": [None, 2], "dtype": "float32"}]
    assert info["outputs"] == [{"name": "probs", "shape": [None, 4], "dtype": "float32"},
                               {"name": "score", "shape": [None, 1], "dtype": "float32"}]
    assert info["format_version"] == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bundle_of_format_2_still_runs_by_its_value_names(shared_page, bundles, backend):
    harness, _ = shared_page
    image, meta = feeds(2)
    values = bundles["old"]["graph"]["inputs"]
    (by_name, by_position), info = harness.run_series(bundles["format-2"], backend,
                                                      [dict(zip(values, (image, meta))), [image, meta]])
    assert info["format_version"] == 2 and list(by_name) == bundles["old"]["graph"]["outputs"]
    for got, position, expected in zip(by_name.values(), by_position, bundles["model"].predict([image, meta], verbose=0)):
        assert_close(got, expected, f"{backend} by name")
        assert_close(position, expected, f"{backend} by position")


RUN_ERROR = """async ([url, feeds]) => {
    const model = await harness.runtime.loadModel(url, { backend: "cpu" });
    const messages = [];
    for (const feed of feeds) {
        try { await model.run(feed === "typed" ? new Float32Array(3) : feed); messages.push(null); }
        catch (e) { messages.push(e.message); }
    }
    model.dispose();
    return messages;
}"""


def test_missing_or_unknown_names_are_refused_listing_the_inputs(shared_page, bundles):
    harness, _ = shared_page
    row = {"data": [0, 0, 0], "shape": [1, 3]}
    messages = harness.evaluate(RUN_ERROR, [bundles["named"], [
        {"image": row}, {"image": row, "meta": [[0, 0]], "extra": row}, {"Image": row, "meta": [[0, 0]]}, "typed",
        {"image": row, "meta": [[0, 0]]}]])
    assert messages[0] == "run: the model's inputs are image, meta; missing meta"
    assert messages[1] == "run: the model's inputs are image, meta; unknown extra"
    assert messages[2] == "run: the model's inputs are image, meta; missing image; unknown Image"
    assert messages[3].startswith("run: expected an array of 2 input(s) (image, meta) or an object keyed by those names")
    assert messages[4] is None


INFO = """async ([url, backend]) => {
    const model = await harness.runtime.loadModel(url, { backend });
    model.dispose();
    return model.info;
}"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_carries_a_text_inputs_rules_and_a_padded_inputs_pad(shared_page, bundles, backend, web_server):
    harness, _ = shared_page
    text = harness.evaluate(INFO, [bundles["text"], backend])
    manifest = json.loads(web_server.path("names-tests/text/model.json").read_text())
    assert [(s["name"], s["text"]) for s in text["inputs"]] == [("review", manifest["inputs"][0]["text"])]
    assert text["outputs"][0]["name"] == "sentiment"
    padded = harness.evaluate(INFO, [bundles["padded"], backend])
    assert padded["inputs"] == [{"name": "ids", "shape": [None, 6], "dtype": "int32", "pad": {"axis": 1, "value": 0}}]
    assert [s["name"] for s in padded["outputs"]] == ["logits"]

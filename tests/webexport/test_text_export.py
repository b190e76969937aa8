"""Exporting models whose first layer takes text: the bundle's ``inputs[i].text`` (docs/internals.md §6) says how
strings become the graph's input, ``load_bundle`` validates it, and what cannot run in the browser is refused
naming the layer. (Python/JS parity of the ids: tests/browser/test_text_browser.py.)"""
import json

import numpy as np
import pytest

import pyml
from pyml.layers import IntegerLookup, StringLookup, TextVectorization
from webexport import BundleError, ExportError, export, load_bundle

TEXTS = ["the cat sat", "The dog ate the cat's food!", "a bird"]


def _model(first, input_shape=(1,), dtype="string"):
    """``first`` on an Input, then Embedding → pooling → Dense for ids, or a Dense for vectors."""
    rest = [pyml.layers.Embedding(16, 3), pyml.layers.GlobalAveragePooling1D()] if first.output_mode == "int" else []
    return pyml.Sequential([pyml.Input(shape=input_shape, dtype=dtype), first, *rest, pyml.layers.Dense(2)])


def _manifest(folder):
    return json.loads((folder / "model.json").read_text())


def test_a_text_input_carries_its_vocabulary_and_rules(tmp_path):
    vectorize = TextVectorization(max_tokens=16, output_sequence_length=5, ngrams=(1, 2))
    vectorize.adapt(TEXTS)
    export(_model(vectorize), tmp_path / "b", include_runtime=False)
    manifest = _manifest(tmp_path / "b")
    (signature,) = manifest["inputs"]
    assert (signature["shape"], signature["dtype"]) == ([None, 5], "int32")
    assert signature["text"] == {
        "standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": [1, 2], "output_mode": "int",
        "output_sequence_length": 5, "vocabulary": vectorize.get_vocabulary(), "token_start": 2, "mask_token": "",
        "oov_index": 1, "depth": None, "idf_weights": None, "input_shape": [None, 1]}
    # 4 for the model's input and output names (webexport.names); text is an additive field that changes no version
    assert manifest["format_version"] == 4
    load_bundle(tmp_path / "b")


def test_tf_idf_and_a_fixed_batch(tmp_path):
    vectorize = TextVectorization(output_mode="tf_idf")
    vectorize.adapt(TEXTS)
    export(_model(vectorize, input_shape=()), tmp_path / "b", batch_size=4, include_runtime=False)
    text = _manifest(tmp_path / "b")["inputs"][0]["text"]
    depth = vectorize.vocabulary_size()
    assert text["input_shape"] == [4] and text["depth"] == depth and len(text["idf_weights"]) == depth
    # each token alone weighs its idf: the layer's weights are the bundle's, float32 for float32
    for index, token in enumerate(vectorize.get_vocabulary()[1:], start=1):
        assert vectorize([token]).numpy()[0, index] == np.float32(text["idf_weights"][index]), token
    load_bundle(tmp_path / "b")


def test_a_string_lookup_input(tmp_path):
    lookup = StringLookup(mask_token="", output_mode="multi_hot")
    lookup.adapt(np.array([["a", "b", ""], ["b", "c", "a"]], dtype=object))
    export(_model(lookup, input_shape=(3,)), tmp_path / "b", include_runtime=False)
    text = _manifest(tmp_path / "b")["inputs"][0]["text"]
    assert (text["standardize"], text["split"], text["mask_token"], text["depth"]) == (None, None, "", 4)
    assert text["vocabulary"] == ["[UNK]", "b", "a", "c"] and text["input_shape"] == [None, 3]


def test_an_exported_saved_model_keeps_its_text(tmp_path):
    vectorize = TextVectorization(max_tokens=16, output_sequence_length=4)
    vectorize.adapt(TEXTS)
    _model(vectorize).save(tmp_path / "m.pyml")
    export(str(tmp_path / "m.pyml"), tmp_path / "b", include_runtime=False)
    assert _manifest(tmp_path / "b")["inputs"][0]["text"]["vocabulary"] == vectorize.get_vocabulary()


@pytest.mark.parametrize("make, message", [
    (lambda: _model(TextVectorization(standardize=lambda a: a, vocabulary=["a"], output_sequence_length=2)),
     "TextVectorization 'vec' has a callable standardize"),
    (lambda: _model(IntegerLookup(vocabulary=[3, 4], name="vec"), input_shape=(2,), dtype="int32"),
     "IntegerLookup 'vec'.*cannot be exported yet"),
    (lambda: _model(StringLookup(vocabulary=["a"], output_mode="one_hot", name="vec"), input_shape=(1,)),
     "StringLookup 'vec'.*output_mode='one_hot'"),
])
def test_what_cannot_run_in_the_browser_is_refused_naming_the_layer(tmp_path, make, message):
    pyml.layers.clear_session()
    model = make()
    model.layers[0].name = "vec"
    with pytest.raises(ExportError, match=message):
        export(model, tmp_path / "b", include_runtime=False)


def test_one_string_input_read_by_two_text_layers_is_refused():
    inputs = pyml.Input(shape=(1,), dtype="string")
    a = TextVectorization(vocabulary=["x"], output_sequence_length=2, name="first")(inputs)
    b = TextVectorization(vocabulary=["y"], output_sequence_length=2, name="second")(inputs)
    model = pyml.Model(inputs, pyml.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="feeds 'first'.*and other layers too"):
        model.trace()


def test_a_damaged_text_field_is_refused_on_load(tmp_path):
    vectorize = TextVectorization(vocabulary=["a", "b"], output_sequence_length=3)
    export(_model(vectorize), tmp_path / "b", include_runtime=False)
    manifest = _manifest(tmp_path / "b")
    manifest["inputs"][0]["text"]["oov_index"] = 7
    (tmp_path / "b" / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"inputs\[0\]\.text\.oov_index must be null or an integer below"):
        load_bundle(tmp_path / "b")

"""TextVectorization, StringLookup and IntegerLookup against Keras 3's documented semantics (the rule each test
checks is in its name or docstring), with references written here: Keras's own ranking expression
(``np.lexsort((tokens as UTF-8 bytes, counts))[::-1]``), the tf_idf formula, and hand-counted vectors."""
import collections
import string
import warnings

import numpy as np
import pytest

import pyml
from pyml.layers import IntegerLookup, StringLookup, TextVectorization
from pyml.layers import text_ops


def keras_ranking(tokens):
    """Keras's finalize_state: ``np.lexsort((tokens, counts))[::-1]`` over the tokens' UTF-8 bytes."""
    counts = collections.Counter(tokens)
    keys = np.array([t.encode("utf-8") for t in counts], dtype=object)
    order = np.lexsort((keys, np.array(list(counts.values()))))[::-1]
    return [keys[i].decode("utf-8") for i in order]


# ---- tokenization rules (text_ops; the same rules web/src/text.js follows) ----------------------------------
def test_lowercasing_is_ascii_only_as_tf_strings_lower_default_encoding():
    assert text_ops.standardize("ÀBÇ İSTANBUL ΣΑΣ ＡＢ Zz", "lower") == "ÀbÇ İstanbul ΣΑΣ ＡＢ zz"


def test_strip_punctuation_removes_exactly_the_32_ascii_punctuation_characters():
    every_ascii = "".join(chr(i) for i in range(128))
    kept = text_ops.standardize(every_ascii, "strip_punctuation")
    assert set(every_ascii) - set(kept) == set(string.punctuation) and len(string.punctuation) == 32
    # Unicode punctuation stays
    assert text_ops.standardize("“a”—¡b! «c»", "strip_punctuation") == "“a”—¡b «c»"


def test_whitespace_split_cuts_at_the_six_ascii_whitespace_characters_only():
    text = " a\tb\nc\vd\fe\rf  g\u00a0h\u2003i\x1cj\x85k\u3000l "
    assert text_ops.split(text, "whitespace") == ["a", "b", "c", "d", "e", "f", "g\u00a0h\u2003i\x1cj\x85k\u3000l"]
    assert text_ops.split(" \t\n ", "whitespace") == [] and text_ops.split("", "whitespace") == []


def test_character_split_gives_code_points():
    assert text_ops.split("a😀e\u0301中", "character") == ["a", "😀", "e", "\u0301", "中"]


def test_lone_surrogates_become_the_replacement_character():
    assert text_ops.standardize("a\ud800b\udfff", None) == "a\ufffdb\ufffd"


def test_ngrams_are_width_by_width_joined_by_one_space():
    assert text_ops.ngrams(["a", "b", "c"], (1, 2, 3)) == ["a", "b", "c", "a b", "b c", "a b c"]
    assert text_ops.ngrams(["a"], (2,)) == []  # a row shorter than the width gives none


# ---- TextVectorization ---------------------------------------------------------------------------------------
def test_adapt_ranks_by_count_then_token_highest_first_as_keras():
    corpus = ["b a c a b a d", "é z 😀 zz z", "Ω ω"]
    layer = TextVectorization()
    layer.adapt(corpus)
    tokens = [t for s in corpus for t in s.split()]
    assert layer.get_vocabulary() == ["", "[UNK]"] + keras_ranking(tokens)
    assert layer.get_vocabulary()[:6] == ["", "[UNK]", "a", "z", "b", "😀"]  # counts 3, 2, 2 (z > b), then ties


def test_max_tokens_counts_the_padding_and_oov_entries():
    layer = TextVectorization(max_tokens=4)
    layer.adapt(["a a a b b c"])
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b"]
    assert layer(["c a"]).numpy().tolist() == [[1, 2]]


def test_int_mode_pads_with_zero_and_cuts_to_output_sequence_length():
    layer = TextVectorization(vocabulary=["the", "cat"], output_sequence_length=3)
    assert layer(["The cat, THE CAT!", "dog", ""]).numpy().tolist() == [[2, 3, 2], [1, 0, 0], [0, 0, 0]]
    free = TextVectorization(vocabulary=["the", "cat"])
    assert free(["the", "cat the dog"]).numpy().tolist() == [[2, 0, 0], [3, 2, 1]]  # the longest in the batch


def test_a_single_string_gives_the_output_without_a_batch_axis():
    layer = TextVectorization(vocabulary=["a"], output_sequence_length=2)
    assert layer("a b").numpy().tolist() == [2, 1]


def test_inputs_of_shape_batch_by_one_are_split_like_a_column():
    layer = TextVectorization(vocabulary=["a"], output_sequence_length=2)
    np.testing.assert_array_equal(layer(np.array([["a b"], ["b"]])).numpy(), [[2, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\).*\(1, 2\)"):
        layer(np.array([["a", "b"]]))


def test_multi_hot_count_and_tf_idf_against_hand_counts():
    corpus = ["a a b", "a c", "c c c d"]
    documents = len(corpus)
    layer = TextVectorization(output_mode="tf_idf")
    layer.adapt(corpus)
    vocabulary = layer.get_vocabulary()
    assert vocabulary == ["[UNK]", "c", "a", "d", "b"]  # no padding entry outside int mode
    document_frequency = {t: sum(t in s.split() for s in corpus) for t in vocabulary[1:]}
    idf = np.array([np.log(1 + documents / (1 + document_frequency[t])) for t in vocabulary[1:]], np.float32)
    idf = np.concatenate([[idf.mean()], idf]).astype(np.float32)  # the OOV entry gets the mean
    counts = np.array([[1, 0, 2, 0, 1]], np.float32)  # "zz a b a": [UNK], c, a, d, b
    np.testing.assert_allclose(layer(["zz a b a"]).numpy(), counts * idf, rtol=1e-6)
    for mode, expected in (("count", counts), ("multi_hot", np.minimum(counts, 1))):
        other = TextVectorization(output_mode=mode, vocabulary=vocabulary[1:])
        np.testing.assert_array_equal(other(["zz a b a"]).numpy(), expected)


def test_pad_to_max_tokens_widens_the_vectors():
    layer = TextVectorization(output_mode="multi_hot", max_tokens=6, pad_to_max_tokens=True, vocabulary=["a"])
    assert layer(["a"]).numpy().tolist() == [[0, 1, 0, 0, 0, 0]]


def test_ngrams_and_character_split():
    layer = TextVectorization(ngrams=2, output_sequence_length=5, vocabulary=["a", "a b", "b"])
    assert layer(["a b c"]).numpy().tolist() == [[2, 4, 1, 3, 1]]  # a, b, c, "a b", "b c"
    chars = TextVectorization(split="character", standardize=None, vocabulary=["é", "😀"], output_sequence_length=4)
    assert chars(["😀é\u0301"]).numpy().tolist() == [[3, 2, 1, 0]]


def test_set_vocabulary_with_or_without_the_special_tokens():
    layer = TextVectorization()
    layer.set_vocabulary(["", "[UNK]", "x", "y"])
    assert layer.get_vocabulary() == ["", "[UNK]", "x", "y"]
    layer.set_vocabulary(["y", "x"])
    assert layer.get_vocabulary(include_special_tokens=False) == ["y", "x"]
    with pytest.raises(ValueError, match="repeated terms"):
        layer.set_vocabulary(["x", "x"])
    with pytest.raises(ValueError, match="mask token ''"):
        layer.set_vocabulary(["x", ""])


def test_vocabulary_from_a_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("hello\nworld\n\n", encoding="utf-8")
    layer = TextVectorization(vocabulary=str(path), output_sequence_length=2)
    assert layer(["world hello"]).numpy().tolist() == [[3, 2]]


def test_used_before_adapt_or_a_vocabulary_names_the_layer():
    layer = TextVectorization(name="reviews")
    with pytest.raises(ValueError, match="Layer 'reviews' \\(TextVectorization\\) has no vocabulary yet"):
        layer(["text"])


@pytest.mark.parametrize("data, received", [
    (np.array([1.5, 2.0]), "a float64 array of shape (2,)"),
    (pyml.Tensor(np.zeros((2, 1), np.float32)), "a pyml Tensor of dtype float32 and shape (2, 1)"),
    ([["a", 3]], "holding int values"),
])
def test_non_string_input_names_what_it_got(data, received):
    layer = TextVectorization(vocabulary=["a"], name="vec")
    with pytest.raises(TypeError, match="TextVectorization 'vec' expects strings") as info:
        layer(data)
    assert received in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(standardize="upper"), "standardize must be one of"),
    (dict(split="sentence"), "split must be"),
    (dict(output_mode="multi_hot", output_sequence_length=3), "output_sequence_length must not be set"),
    (dict(output_sequence_length=0), "positive integer"),
    (dict(ngrams=0), "ngrams must be"),
    (dict(max_tokens=1), "greater than 1"),
    (dict(pad_to_max_tokens=True), "needs max_tokens"),
    (dict(ragged=True), "dense tensors only"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextVectorization(**kwargs)


def test_adapt_after_a_given_vocabulary_is_refused_as_in_keras():
    layer = TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match="after setting a static vocabulary"):
        layer.adapt(["b"])


def test_adapt_on_an_iterable_of_batches_and_steps():
    layer = TextVectorization()
    layer.adapt(iter([["x y"], ["y"], ["z z z"]]), steps=2)
    assert layer.get_vocabulary() == ["", "[UNK]", "y", "x"]


def test_callable_standardize_runs_in_python_but_is_not_saved():
    layer = TextVectorization(standardize=lambda a: np.char.upper(a.astype(str)), vocabulary=["AB"],
                              output_sequence_length=1)
    assert layer(["ab"]).numpy().tolist() == [[2]]
    with pytest.raises(ValueError, match="callable standardize"):
        layer.get_config()


def test_config_round_trip_keeps_the_adapted_vocabulary_and_weights():
    layer = TextVectorization(output_mode="tf_idf", max_tokens=5, pad_to_max_tokens=True, ngrams=(1, 2))
    layer.adapt(["a b", "b c c", "d"])
    config = layer.get_config()
    clone = TextVectorization.from_config(config)
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(clone(["a b c zz"]).numpy(), layer(["a b c zz"]).numpy())
    assert clone.get_config() == config
    clone.adapt(["q"])  # an adapted vocabulary stays adaptable after a round trip (as Keras)


# ---- models on strings ---------------------------------------------------------------------------------------
def _classifier(vectorize):
    return pyml.Sequential([pyml.Input(shape=(1,), dtype="string"), vectorize, pyml.layers.Embedding(20, 4),
                            pyml.layers.GlobalAveragePooling1D(), pyml.layers.Dense(1, activation="sigmoid")])


TEXTS = np.array(["good film", "great film", "bad plot", "awful bad", "good good", "awful"] * 4, dtype=object)
LABELS = np.array([1, 1, 0, 0, 1, 0] * 4, np.float32)


def test_a_model_predicts_and_fits_from_strings_with_the_compiled_step():
    vectorize = TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(TEXTS)
    model = _classifier(vectorize)
    model.compile(optimizer=pyml.optimizers.Adam(0.05), loss="binary_crossentropy")
    before = model.evaluate(TEXTS, LABELS, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fit runs the training step eagerly" warning
        model.fit(TEXTS, LABELS, epochs=20, batch_size=8, verbose=0)
    assert model._compiled_step  # the traced step ran, from the ids on
    after = model.evaluate(TEXTS, LABELS, verbose=0)
    assert after < before * 0.5, (before, after)
    ids = vectorize(TEXTS[:3]).numpy()
    eager = model.layers[-1](model.layers[2](model.layers[1](ids))).numpy()
    np.testing.assert_allclose(model.predict(list(TEXTS[:3]), verbose=0), eager, rtol=1e-6)
    np.testing.assert_allclose(model(list(TEXTS[:3])).numpy(), eager, rtol=1e-6)


def test_the_traced_graph_starts_at_the_ids():
    vectorize = TextVectorization(vocabulary=["a"], output_sequence_length=7)
    graph = _classifier(vectorize).trace()
    x = graph.node(graph.inputs[0])
    assert (tuple(x.shape), x.dtype) == ((None, 7), "int32")


def test_functional_model_on_a_string_input_saves_and_loads(tmp_path):
    vectorize = TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(TEXTS)
    inputs = pyml.Input(shape=(), dtype="string")
    hidden = pyml.layers.GlobalAveragePooling1D()(pyml.layers.Embedding(20, 3)(vectorize(inputs)))
    model = pyml.Model(inputs, pyml.layers.Dense(2)(hidden))
    model.save(tmp_path / "m.pyml")
    restored = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_array_equal(restored.predict(TEXTS[:5], verbose=0), model.predict(TEXTS[:5], verbose=0))
    assert restored.layers[1].get_vocabulary() == vectorize.get_vocabulary()


def test_a_damaged_saved_vocabulary_is_refused_naming_the_layer(tmp_path):
    import json
    import zipfile

    vectorize = TextVectorization(vocabulary=["a", "b"], output_sequence_length=2, name="vec")
    _classifier(vectorize).save(tmp_path / "m.pyml")
    with zipfile.ZipFile(tmp_path / "m.pyml") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][0]["config"]["vocabulary"] = ["", "[UNK]", "a", "a"]
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "bad.pyml", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="layers\\[0\\].*TextVectorization.*'vec'.*repeated terms"):
        pyml.load_model(tmp_path / "bad.pyml")


def test_a_numeric_layer_on_a_string_input_is_refused():
    with pytest.raises(ValueError, match="'dense_text' \\(Dense\\) computes on numbers.*string tensor"):
        pyml.layers.Dense(2, name="dense_text")(pyml.Input(shape=(1,), dtype="string"))


def test_inside_a_model_int_mode_needs_output_sequence_length():
    with pytest.raises(ValueError, match="needs output_sequence_length"):
        _classifier(TextVectorization(vocabulary=["a"]))


def test_a_host_layer_after_other_layers_cannot_trace():
    lookup = IntegerLookup(vocabulary=[1, 2])
    model = pyml.Sequential([pyml.Input(shape=(3,), dtype="int32"), pyml.layers.Activation("linear"), lookup])
    with pytest.raises(ValueError, match="computes on the host.*first layer"):
        model.trace()


# ---- StringLookup and IntegerLookup --------------------------------------------------------------------------
def test_string_lookup_indices_mask_and_invert():
    lookup = StringLookup(vocabulary=["a", "b", "c"], mask_token="[PAD]")
    assert lookup.get_vocabulary() == ["[PAD]", "[UNK]", "a", "b", "c"]
    ids = lookup(np.array([["a", "[PAD]", "z"], ["c", "b", "a"]])).numpy()
    assert ids.tolist() == [[2, 0, 1], [4, 3, 2]] and ids.dtype == np.int32
    inverse = StringLookup(vocabulary=["a", "b", "c"], mask_token="[PAD]", invert=True)
    assert inverse(ids).tolist() == [["a", "[PAD]", "[UNK]"], ["c", "b", "a"]]


def test_string_lookup_output_modes_drop_the_mask():
    """Outside int mode the columns are [UNK], a, b (no mask column) and the mask token "" counts nowhere."""
    rows = np.array([["a", "z", "a", ""], ["b", "", "z", "b"]])
    for mode, expected in (("count", [[1, 2, 0], [1, 0, 2]]), ("multi_hot", [[1, 1, 0], [1, 0, 1]])):
        lookup = StringLookup(vocabulary=["a", "b"], mask_token="", output_mode=mode)
        assert lookup(rows).numpy().tolist() == expected, mode
    one_hot = StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="one_hot")
    assert one_hot(np.array([["a"], [""], ["q"]])).numpy().tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0]]


def test_string_lookup_without_oov_indices_refuses_unknown_strings():
    lookup = StringLookup(vocabulary=["a"], num_oov_indices=0)
    assert lookup(["a"]).numpy().tolist() == [0]
    with pytest.raises(ValueError, match="out-of-vocabulary values \\['q'\\]"):
        lookup(["a", "q"])


def test_string_lookup_hashed_oov_buckets_are_not_implemented():
    with pytest.raises(NotImplementedError, match="FarmHash64"):
        StringLookup(num_oov_indices=2)


def test_string_lookup_adapt_ranks_as_keras_and_respects_max_tokens():
    data = np.array(["b", "a", "c", "a", "b", "d", "a"])
    lookup = StringLookup(max_tokens=4)
    lookup.adapt(data)
    assert lookup.get_vocabulary() == ["[UNK]"] + keras_ranking(list(data))[:3]


def test_integer_lookup_floormod_oov_buckets_and_mask():
    lookup = IntegerLookup(vocabulary=[12, 36, 1138, 42], num_oov_indices=2, mask_token=0)
    # mask 0 -> 0; OOV v -> 1 + v mod 2; terms from 3
    assert lookup(np.array([[12, 0, 7], [8, 42, 36]])).numpy().tolist() == [[3, 0, 2], [1, 6, 4]]


def test_integer_lookup_adapt_ties_by_value_highest_first():
    lookup = IntegerLookup()
    lookup.adapt(np.array([3, 1, 2, 1, 3, 7]))
    assert lookup.get_vocabulary() == [-1, 3, 1, 7, 2]


def test_lookup_config_round_trip():
    lookup = StringLookup(output_mode="tf_idf", vocabulary=["x", "y"], idf_weights=[0.5, 2.0], mask_token="")
    clone = StringLookup.from_config(lookup.get_config())
    np.testing.assert_array_equal(clone(np.array([["x", "y", "y", "q"]])).numpy(),
                                  lookup(np.array([["x", "y", "y", "q"]])).numpy())
    assert lookup(np.array([["x", "y", "y", "q"]])).numpy().tolist() == [[1.25, 0.5, 4.0]]  # mean 1.25 for OOV


def test_a_subclassed_model_calling_a_text_layer_trains_eagerly_and_says_why():
    vectorize = TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(TEXTS)

    class Classifier(pyml.Model):
        def __init__(self):
            super().__init__()
            self.vectorize, self.embed = vectorize, pyml.layers.Embedding(20, 3)
            self.pool, self.out = pyml.layers.GlobalAveragePooling1D(), pyml.layers.Dense(1)

        def call(self, x):
            return self.out(self.pool(self.embed(self.vectorize(x))))

    model = Classifier()
    model.compile(optimizer="adam", loss="mse")
    with pytest.warns(UserWarning, match="eagerly.*the batch holds strings"):
        model.fit(TEXTS, LABELS, epochs=1, verbose=0)
    assert model.predict(TEXTS[:2], verbose=0).shape == (2, 1)


def test_summary_shows_the_text_layer_output_shape():
    vectorize = TextVectorization(vocabulary=["a"], output_sequence_length=6)
    lines = []
    _classifier(vectorize).summary(print_fn=lines.append)
    assert any("TextVectorization" in line and "(None, 6)" in line for line in lines), lines

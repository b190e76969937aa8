"""Variable-length inputs and shorter sequences (issue #7: "the recurrent loop runs ... for any sequence length up
to the one exported"): ``Input(shape=(None,))`` models export with ``sequence_length=N``; an input whose padding
the model masks (so right-padding changes no output, Keras's masking rule) is marked ``inputs[i].pad`` by
evidence, and ``run_bundle`` pads a shorter sequence to N and gives the numbers the model gives on the sequence
as it is; any other input takes exactly N steps, and the error says how to get shorter ones accepted."""
import json

import numpy as np
import pytest

import pyml
from pyml import layers
from tests.webexport.helpers import ATOL, RTOL
from webexport import BundleError, ExportError, export, load_bundle, run_bundle
from webexport.validate import validate_manifest

STEPS = 20
VOCABULARY = 30


def masked_lstm(mask_zero=True, return_sequences=False):
    """Embedding(mask_zero) -> LSTM -> Dense over a variable-length input of ids."""
    pyml.random.set_random_seed(1)
    ids = pyml.Input(shape=(None,), dtype="int32", name="ids")
    h = layers.Embedding(VOCABULARY, 8, mask_zero=mask_zero)(ids)
    h = layers.LSTM(6, return_sequences=return_sequences)(h)
    return pyml.Model(ids, layers.Dense(3)(h))


def masked_average():
    pyml.random.set_random_seed(2)
    return pyml.Sequential([layers.Input(shape=(None,), dtype="int32"), layers.Embedding(VOCABULARY, 8, mask_zero=True),
                            layers.GlobalAveragePooling1D(), layers.Dense(2)])


def exported(model, folder, **kwargs):
    export(model, folder, include_runtime=False, **kwargs)
    return load_bundle(folder)


def test_symbolic_shapes_keep_the_variable_length():
    ids = pyml.Input(shape=(None,), dtype="int32")
    sequence = layers.LSTM(6, return_sequences=True)(layers.Embedding(VOCABULARY, 8, mask_zero=True)(ids))
    assert sequence.shape == (None, None, 6) and sequence._keras_mask.shape == (None, None)
    assert layers.LSTM(5)(sequence).shape == (None, 5)
    # Conv1D "valid" shortens a variable length by kernel_size - 1: still unknown, never a stand-in number
    assert layers.Conv1D(4, 3)(pyml.Input(shape=(None, 8))).shape == (None, None, 4)


def test_a_variable_length_is_refused_without_sequence_length_naming_the_input_and_the_option(tmp_path):
    with pytest.raises(ExportError, match=r"input 'ids' has shape \(None, None\): its sequence length \(axis 1\) is "
                                          r"variable.*sequence_length=N \(pyml export --sequence-length N\)"):
        export(masked_lstm(), tmp_path / "b", include_runtime=False)


def test_sequence_length_on_a_model_without_a_variable_length_is_refused(tmp_path):
    model = pyml.Sequential([layers.Input(shape=(STEPS,), dtype="int32"), layers.Embedding(VOCABULARY, 4)])
    with pytest.raises(ExportError, match=r"sequence_length=20 fixes the length .* every input of this model has "
                                          r"a fixed shape: \[\(None, 20\)\]"):
        export(model, tmp_path / "b", include_runtime=False, sequence_length=STEPS)
    with pytest.raises(ExportError, match="sequence_length must be a positive int"):
        export(masked_lstm(), tmp_path / "b", include_runtime=False, sequence_length=0)


@pytest.mark.parametrize("make, marked", [
    (masked_lstm, True),
    (masked_average, True),
    (lambda: masked_lstm(mask_zero=False), False),  # padding ids are embedded and run through the LSTM
    (lambda: masked_lstm(return_sequences=True), False),  # the output would have N steps, not the input's
])
def test_export_marks_an_input_only_where_padding_changes_no_output(tmp_path, make, marked):
    bundle = exported(make(), tmp_path / "b", sequence_length=STEPS)
    (spec,) = bundle.manifest["inputs"]
    assert spec["shape"] == [None, STEPS] and spec["dtype"] == "int32"
    assert spec.get("pad") == ({"axis": 1, "value": 0} if marked else None)


def test_masking_marks_its_mask_value_on_float_sequences(tmp_path):
    pyml.random.set_random_seed(3)
    model = pyml.Sequential([layers.Input(shape=(None, 4)), layers.Masking(mask_value=-1.0), layers.GRU(5)])
    bundle = exported(model, tmp_path / "b", sequence_length=12)
    assert bundle.manifest["inputs"][0]["pad"] == {"axis": 1, "value": -1.0}
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    got = run_bundle(bundle, x)[bundle.manifest["outputs"][0]["name"]]
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("make", [masked_lstm, masked_average])
@pytest.mark.parametrize("batch", [1, 4])
def test_run_bundle_pads_a_shorter_sequence_and_matches_the_model_on_it(tmp_path, make, batch):
    model = make()
    bundle = exported(model, tmp_path / "b", sequence_length=STEPS)
    rng = np.random.default_rng(batch)
    for steps in (1, 7, STEPS):
        ids = rng.integers(1, VOCABULARY, (batch, steps)).astype(np.int32)
        got = run_bundle(bundle, ids)[bundle.manifest["outputs"][0]["name"]]
        np.testing.assert_allclose(got, np.asarray(model(ids, training=False)), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{steps} steps at batch {batch}")


@pytest.mark.parametrize("steps, message", [
    (0, "a sequence needs at least 1 step"),
    (STEPS + 1, f"cut the sequence to {STEPS} steps, or export with a longer sequence_length"),
])
def test_a_marked_input_refuses_an_empty_or_longer_sequence(tmp_path, steps, message):
    bundle = exported(masked_lstm(), tmp_path / "b", sequence_length=STEPS)
    with pytest.raises(ValueError, match=rf"input '\w+': a sequence of {steps} steps, but the model was exported for "
                                         rf"sequences of 1 to {STEPS} steps: {message}"):
        run_bundle(bundle, np.ones((2, steps), np.int32))


def test_an_unmasked_lstm_refuses_a_shorter_sequence_saying_how_to_get_it_accepted(tmp_path):
    bundle = exported(masked_lstm(mask_zero=False), tmp_path / "b", sequence_length=STEPS)
    with pytest.raises(ValueError, match=rf"a sequence of 7 steps, but the model was exported for sequences of {STEPS} "
                                         r"steps .*mask the padding \(Embedding\(mask_zero=True\) or a Masking "
                                         r"layer\)"):
        run_bundle(bundle, np.ones((2, 7), np.int32))


def test_text_inputs_pad_on_the_host_and_are_not_marked(tmp_path):
    vectorize = layers.TextVectorization(output_sequence_length=6)
    vectorize.adapt(["the cat sat", "a dog ran far away"])
    model = pyml.Sequential([layers.Input(shape=(1,), dtype="string"), vectorize,
                             layers.Embedding(vectorize.vocabulary_size(), 4, mask_zero=True),
                             layers.GlobalAveragePooling1D()])
    (spec,) = exported(model, tmp_path / "b").manifest["inputs"]
    assert spec["text"]["output_sequence_length"] == 6 and "pad" not in spec


def test_the_pad_field_survives_the_manifest_validator(tmp_path):
    export(masked_average(), tmp_path / "b", include_runtime=False, sequence_length=STEPS)
    manifest = json.loads((tmp_path / "b" / "model.json").read_text())
    validate_manifest(manifest)
    manifest["inputs"][0]["pad"]["value"] = 0.5  # an int32 input cannot hold it
    with pytest.raises(BundleError, match=r"inputs\[0\]\.pad\.value must be a finite number the input's dtype "
                                          r"\(int32\)"):
        validate_manifest(manifest)

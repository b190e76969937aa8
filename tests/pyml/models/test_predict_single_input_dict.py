"""Regression (issue #10): ``predict({name: x})`` on a one-input model predicts as ``predict(x)``, where it once
failed with a dtype error about a ``<U7`` array (the dict's keys taken as data)."""
import numpy as np
import pytest

import pyml


def models():
    inputs = pyml.Input(shape=(3,), name="feats")
    functional = pyml.Model(inputs, pyml.layers.Dense(2, activation="tanh")(inputs))
    sequential = pyml.Sequential([pyml.Input(shape=(3,), name="feats"), pyml.layers.Dense(2, activation="tanh")])
    return {"functional": functional, "sequential": sequential}


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_predict_with_a_dict_by_input_name_matches_the_array_and_numpy(kind):
    model = models()[kind]
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    kernel, bias = (w.numpy() for w in model.layers[-1].weights)
    by_name = model.predict({"feats": x}, verbose=0)
    np.testing.assert_allclose(by_name, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(by_name, model.predict(x, verbose=0))


def test_predict_with_a_wrong_name_says_which_names_the_model_has():
    with pytest.raises(ValueError, match=r"input names \['feats'\]\. Received: x keys \['feat'\]"):
        models()["functional"].predict({"feat": np.zeros((1, 3), np.float32)}, verbose=0)

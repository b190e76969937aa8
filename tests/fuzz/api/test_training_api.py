"""compile/fit/evaluate/predict/train_on_batch on hostile arguments and data (hypothesis): they train, evaluate and
predict what a NumPy reference computes from the model's weights, or refuse naming the argument."""
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pyml
from tests.fuzz.api.properties import (DTYPES, FLOATS, NOT_NUMBERS, arrays, attempt, bad_bools, bad_ints,
                                       bad_reals, examples, is_int, is_real, refused, small_shapes)

X = np.random.default_rng(0).uniform(-1, 1, (8, 4)).astype("float32")
Y = np.arange(8) % 3


def _model(loss="sparse_categorical_crossentropy", metrics=("accuracy",), optimizer="sgd"):
    model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics) if isinstance(metrics, tuple) else metrics)
    return model


def _probabilities(model, x):
    kernel, bias = (w.numpy().astype(np.float64) for w in model.layers[-1].weights)
    logits = np.asarray(x, np.float64) @ kernel + bias
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


SIZE, COUNT, RATE, FLAG = "size", "count", "rate", "flag"
FIT_ARGUMENTS = {"batch_size": SIZE, "steps_per_epoch": SIZE, "validation_batch_size": SIZE,
                 "validation_steps": SIZE, "validation_freq": SIZE, "epochs": COUNT, "initial_epoch": COUNT,
                 "validation_split": RATE, "shuffle": FLAG}
DEFAULTS = {"epochs": 1, "initial_epoch": 0, "validation_split": 0.0, "shuffle": True, "validation_freq": 1}


def _fit_values(kind):
    if kind in (SIZE, COUNT):
        return st.one_of(st.integers(0 if kind == COUNT else 1, 3), bad_ints(), st.integers(2**31, 2**70))
    if kind == RATE:
        return st.one_of(st.floats(-0.5, 1.5), bad_reals())
    return st.one_of(st.booleans(), bad_bools())


def _valid(argument, kind, value):
    if kind == SIZE:
        return value is None and argument != "validation_freq" or is_int(value) and value >= 1
    if kind == COUNT:
        return is_int(value) and value >= 0
    if kind == RATE:
        return is_real(value) and 0 <= value < 1
    return isinstance(value, bool)


@pytest.mark.parametrize("argument", sorted(FIT_ARGUMENTS))
@examples(12)
@given(data=st.data())
def test_fit_arguments_train_as_asked_or_are_refused_by_name(argument, data):
    kind = FIT_ARGUMENTS[argument]
    value = data.draw(_fit_values(kind), label=argument)
    if argument == "epochs" and is_int(value) and value > 3:
        value = 3  # valid but slow: a billion epochs is the user's wish
    arguments = {**DEFAULTS, argument: value}
    if argument.startswith("validation_") and argument != "validation_split":
        arguments["validation_data"] = (X[:4], Y[:4])
    model = _model()
    result = attempt(lambda: model.fit(X, Y, verbose=0, **arguments), [argument])
    if not _valid(argument, kind, value):
        assert refused(result), f"fit({argument}={value!r}) was accepted"
        return
    if refused(result):  # a valid value may still be impossible: a split that leaves no training rows
        assert argument == "validation_split", result
        return
    epochs = max(0, arguments["epochs"] - arguments["initial_epoch"])
    assert len(result.history.get("loss", [])) == epochs
    assert all(math.isfinite(v) for v in result.history.get("loss", []))


@examples(40)
@given(shape=small_shapes(max_dims=3), dtype=st.sampled_from(DTYPES),
       batch_size=st.one_of(st.none(), st.integers(1, 9), bad_ints()))
@example(shape=(8, 4), dtype="float32", batch_size=0)  # batch_size 0 silently became 32
@example(shape=(8, 4), dtype="int64", batch_size=None)
def test_predict_gives_the_models_outputs_or_refuses_by_name(shape, dtype, batch_size):
    model = _model()
    x = arrays(shape, dtype) if dtype not in ("int64",) else np.full(shape, 2**40, np.int64)
    result = attempt(lambda: model.predict(x, batch_size=batch_size, verbose=0),
                     ["x", "batch_size", "input", "dtype", "Tensor", model.name, "dense"])
    valid = (len(shape) == 2 and shape[1] == 4 and shape[0] > 0 and dtype in ("float32", "float64", "int32", "bool",
                                                                               "uint8", "float16")
             and (batch_size is None or (is_int(batch_size) and batch_size > 0)))
    if not valid:
        assert refused(result), f"predict(x of shape {shape} and dtype {dtype}, batch_size={batch_size!r}) accepted"
        return
    assert not refused(result), result
    np.testing.assert_allclose(result, _probabilities(model, x.astype(np.float32)), rtol=1e-5, atol=1e-6)


TARGETS = st.one_of(
    st.lists(st.integers(-2, 4), min_size=0, max_size=9).map(np.array),
    st.lists(st.floats(-1, 4, width=32), min_size=8, max_size=8).map(lambda v: np.array(v, np.float32)),
    st.builds(lambda s, d: arrays(s, d), small_shapes(max_dims=3), st.sampled_from(DTYPES)),
    NOT_NUMBERS)


@examples(40)
@given(y=TARGETS)
@example(y=Y - 1)  # -1 labels: the compiled step trained on them silently
@example(y=Y + 0.5)  # fractional labels were truncated
def test_labels_give_numpy_cross_entropy_or_are_refused_by_name(y):
    model = _model()
    names = ["y", "class", "target", "label", "samples", "Tensor", "dtype", "sparse_categorical_crossentropy"]
    evaluated = attempt(lambda: model.evaluate(X, y, verbose=0, return_dict=True), names)
    trained = attempt(lambda: _model().train_on_batch(X, y), names)
    labels = np.asarray(y) if isinstance(y, np.ndarray) else None
    valid = (labels is not None and labels.shape in ((8,), (8, 1)) and labels.dtype.kind in "iuf"
             and np.isin(labels, [0, 1, 2]).all())
    assert refused(evaluated) == refused(trained) == (not valid), (y, evaluated, trained)
    if valid:
        p = _probabilities(model, X)[np.arange(8), labels.reshape(8).astype(int)]
        assert evaluated["loss"] == pytest.approx(-np.log(p).mean(), rel=1e-5)


IDENTIFIERS = st.one_of(st.sampled_from(["mse", "mae", "sparse_categorical_crossentropy", "accuracy", "adam",
                                         "sgd", "nope", "", "Adam", "categorical_crossentropy"]),
                        FLOATS, NOT_NUMBERS, st.lists(st.sampled_from(["mae", "nope", None]), max_size=2))


@pytest.mark.parametrize("argument", ["loss", "metrics", "optimizer"])
@examples(25)
@given(identifier=IDENTIFIERS)
def test_compile_identifiers_work_or_are_refused_by_name(argument, identifier):
    def run():
        model = _model(**{argument: identifier})
        return model.train_on_batch(X, np.eye(3)[Y] if identifier == "categorical_crossentropy" else Y)

    result = attempt(run, [argument, "metric", "loss", "optimizer", "identifier", "Unknown", str(identifier)[:20], "y"])
    if not refused(result):
        values = result if isinstance(result, list) else [result]
        assert all(math.isfinite(v) for v in values)

"""Losses and metrics on mismatched shapes, and save/load_model/webexport.export on hostile paths and shapes
(hypothesis): NumPy's value, a file that loads back the same weights, or an error naming the argument."""
import os

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pyml
import webexport
from tests.fuzz.api.properties import NOT_NUMBERS, arrays, attempt, bad_ints, examples, refused, small_shapes

# loss or metric -> NumPy reference of the per-sample value (mean over the last axis)
ELEMENTWISE = {
    "mean_squared_error": lambda t, p: ((t - p) ** 2).mean(axis=-1),
    "mean_absolute_error": lambda t, p: np.abs(t - p).mean(axis=-1),
    "binary_crossentropy": lambda t, p: -(t * np.log(np.clip(p, 1e-7, 1 - 1e-7))
                                          + (1 - t) * np.log(np.clip(1 - p, 1e-7, 1 - 1e-7))).mean(axis=-1),
}
OTHERS = ["categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "huber", "hinge",
          "cosine_similarity", "poisson", "categorical_focal_crossentropy", "binary_focal_crossentropy"]
METRICS = ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
           "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mae", "auc", "precision"]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE) + OTHERS)
@examples(20)
@given(shapes=st.tuples(small_shapes(max_dims=3, max_side=3), small_shapes(max_dims=3, max_side=3)))
@example(shapes=((), ()))  # scalars: an IndexError inside the cross-entropies
@example(shapes=((4,), (4, 3)))
def test_losses_give_numpy_values_or_name_the_shapes(name, shapes):
    y_true = np.abs(arrays(shapes[0], "float32", seed=5)) / 2
    y_pred = np.clip(np.abs(arrays(shapes[1], "float32", seed=6)) / 2, 0.05, 0.95)
    loss = pyml.losses.get(name)
    result = attempt(lambda: loss(y_true, y_pred), [name, "y_true", "y_pred", "shape", "axis", "class"])
    if name in ELEMENTWISE and shapes[0] == shapes[1] and len(shapes[0]) >= 1:
        assert not refused(result), result
        np.testing.assert_allclose(result.numpy(), ELEMENTWISE[name](y_true.astype(np.float64), y_pred),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", METRICS)
@examples(12)
@given(shapes=st.tuples(small_shapes(max_dims=3, max_side=3), small_shapes(max_dims=3, max_side=3)))
@example(shapes=((), ()))
def test_metrics_update_or_name_the_shapes(name, shapes):
    y_true = (arrays(shapes[0], "float32", seed=7) > 0).astype("float32")
    y_pred = np.clip(np.abs(arrays(shapes[1], "float32", seed=8)) / 2, 0.05, 0.95)

    def update():
        metric = pyml.metrics.get(name)
        metric = metric() if isinstance(metric, type) else metric
        metric.update_state(y_true, y_pred)
        return metric.result()

    result = attempt(update, [name, "y_true", "y_pred", "shape", "axis", "class", "argmax", "top_k"])
    if not refused(result):
        assert np.isfinite(np.asarray(result, dtype=np.float64)).all() or not min(shapes[0] + shapes[1] + (1,))


def _model():
    model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    return model


PATHS = st.one_of(NOT_NUMBERS, st.sampled_from(["", ".", "{tmp}", "{tmp}/missing/m.pyml", "{tmp}/m.pyml",
                                                 "{tmp}/m.txt", "{tmp}/ünï cödé.pyml", "/proc/m.pyml"]))


@examples(12)
@given(path=PATHS)
@example(path="{tmp}")  # a folder: the error named a hidden temporary file
@example(path=b"")
def test_save_and_load_write_the_weights_or_name_the_path(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)  # a relative path (any text) lands there
    path = path.replace("{tmp}", str(tmp_path)) if isinstance(path, str) else path
    model = _model()
    names = ["filepath", "path", str(path)] if not isinstance(path, (bytes, bytearray)) else ["filepath", "path"]
    saved = attempt(lambda: model.save(path), names, errors=(ValueError, TypeError, OSError))
    if refused(saved):
        return
    loaded = attempt(lambda: pyml.load_model(path), names, errors=(ValueError, TypeError, OSError))
    assert not refused(loaded), loaded
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    os.remove(path)


SHAPES = st.one_of(st.none(), st.just((4,)), st.tuples(st.integers(-1, 5)), small_shapes(max_dims=2), bad_ints(),
                   st.lists(bad_ints(), min_size=1, max_size=2))


@examples(6)
@given(out=st.sampled_from(["{tmp}/bundle", "", "/proc/bundle", "{tmp}/m.pyml/x"]) | NOT_NUMBERS, input_shape=SHAPES)
@example(out="{tmp}/bundle", input_shape=(5,))  # the wrong width: named, not a shape error from deep inside
def test_export_writes_a_bundle_or_names_the_argument(tmp_path, monkeypatch, out, input_shape):
    monkeypatch.chdir(tmp_path)  # a relative path (any text) lands there
    out = out.replace("{tmp}", str(tmp_path)) if isinstance(out, str) else out
    (tmp_path / "m.pyml").write_text("not a folder")
    model = _model()
    result = attempt(lambda: webexport.export(model, out, input_shape=input_shape, include_runtime=False),
                     ["out_dir", "input_shape", "input", "shape", "export", str(out), "dense", "sequential"],
                     errors=(ValueError, TypeError, OSError))
    if not refused(result):
        assert input_shape in (None, (4,)), f"export(input_shape={input_shape!r}) was accepted"
        assert (result / "model.json").is_file()

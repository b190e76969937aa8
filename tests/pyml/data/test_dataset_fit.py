"""fit / evaluate / predict take a pyml.data.Dataset as Keras takes a tf.data dataset."""
import threading

import numpy as np
import pytest

import pyml
from pyml.data import Dataset
from pyml.models import data_adapter


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 2))).astype("float32")
    return x, y


def _model(seed=1):
    pyml.set_random_seed(seed)
    model = pyml.Sequential([pyml.Input(shape=(5,)), pyml.layers.Dense(8, activation="tanh"), pyml.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def test_fit_on_a_dataset_equals_fit_on_arrays_with_the_same_batches():
    x, y = _data()
    by_arrays, by_dataset = _model(), _model()
    h1 = by_arrays.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    h2 = by_dataset.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=3, verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1.history == h2.history
    by_generator = _model()  # the same through the element-by-element path (map, prefetch thread)
    by_generator.fit(Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a, b)).batch(8).prefetch(2), epochs=3,
                     verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_evaluate_and_predict_on_a_dataset_equal_arrays():
    x, y = _data()
    model = _model()
    ds = Dataset.from_tensor_slices((x, y)).batch(16)
    assert model.evaluate(ds, verbose=0) == model.evaluate(x, y, batch_size=16, verbose=0)
    expected = model.predict(x, batch_size=16, verbose=0)
    np.testing.assert_array_equal(model.predict(ds, verbose=0), expected)  # (x, y) elements: predict uses x
    np.testing.assert_array_equal(model.predict(Dataset.from_tensor_slices(x).batch(7), verbose=0), expected)


def test_sample_weights_from_the_dataset_weigh_the_loss():
    x, y = _data()
    weights = np.linspace(0, 2, len(x)).astype("float32")
    model = _model()
    from_arrays = model.evaluate(x, y, sample_weight=weights, batch_size=10, verbose=0)
    assert model.evaluate(Dataset.from_tensor_slices((x, y, weights)).batch(10), verbose=0) == from_arrays


def test_class_weight_applies_to_dataset_batches_as_to_arrays():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = rng.integers(0, 3, size=40)
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}

    def classifier():
        pyml.set_random_seed(2)
        model = pyml.Sequential([pyml.Input(shape=(5,)), pyml.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return model

    by_arrays, by_dataset = classifier(), classifier()
    by_arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, class_weight=class_weight, verbose=0)
    by_dataset.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, class_weight=class_weight, verbose=0)
    unweighted = classifier()
    unweighted.fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=2, verbose=0)
    for a, b, c in zip(by_arrays.get_weights(), by_dataset.get_weights(), unweighted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert not np.allclose(b, c)  # the weights changed the training


def _recording(indices, seen):
    """A dataset of single-row batches, one per index of ``indices``, each index recorded as it is produced."""
    x, y = _data(indices.cardinality())
    return indices.map(lambda i: (seen.append(int(i)) or x[i:i + 1], y[i:i + 1]))


def test_steps_per_epoch_continues_a_repeated_dataset_across_epochs():
    seen = []
    _model().fit(_recording(Dataset.range(5), seen).repeat(), steps_per_epoch=3, epochs=3, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 0, 1, 2, 3]


def test_without_steps_each_epoch_is_a_fresh_pass_and_reshuffles():
    seen = []
    _model().fit(_recording(Dataset.range(6).shuffle(6, seed=4), seen), epochs=3, verbose=0)
    epochs = [seen[i:i + 6] for i in range(0, 18, 6)]
    assert len(seen) == 18 and all(sorted(e) == list(range(6)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1


def test_a_finite_dataset_shorter_than_steps_per_epoch_warns_and_restarts_next_epoch():
    seen = []
    with pytest.warns(UserWarning, match="ran out of data after 4 batches"):
        history = _model().fit(_recording(Dataset.range(4), seen), steps_per_epoch=3, epochs=3, verbose=0)
    assert seen == [0, 1, 2, 3, 0, 1, 2] and len(history.history["loss"]) == 3


def test_dataset_errors_name_the_argument():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="infinite.*steps_per_epoch"):
        model.fit(Dataset.from_tensor_slices((x, y)).batch(8).repeat(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="do not pass y"):
        model.fit(Dataset.from_tensor_slices((x, y)).batch(8), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(Dataset.from_tensor_slices((x, y)).batch(8), validation_split=0.2, verbose=0)


def test_validation_data_as_a_dataset_equals_arrays():
    x, y = _data()
    h1 = _model().fit(x, y, batch_size=8, shuffle=False, epochs=2, validation_data=(x[:10], y[:10]), verbose=0)
    h2 = _model().fit(Dataset.from_tensor_slices((x, y)).batch(8), epochs=2,
                      validation_data=Dataset.from_tensor_slices((x[:10], y[:10])).batch(8), verbose=0)
    assert h1.history == h2.history and "val_mae" in h2.history


def test_dict_elements_reach_the_model_as_dicts():
    x, y = _data(6)
    ds = Dataset.from_tensor_slices(({"image": x.astype("float64"), "meta": np.arange(6)}, y)).batch(4)
    batches = list(data_adapter.make_batches(ds))
    assert [type(b[0]) for b in batches] == [dict, dict] and batches[0][2] is None
    assert batches[0][0]["image"].dtype == np.float32  # float64 data becomes float32 as with arrays
    np.testing.assert_array_equal(batches[1][0]["meta"], [4, 5])
    np.testing.assert_array_equal(batches[1][1], y[4:])


def _two_input_model():
    pyml.set_random_seed(3)
    image, meta = pyml.Input(shape=(5,), name="image"), pyml.Input(shape=(2,), name="meta")
    hidden = pyml.layers.Concatenate()([pyml.layers.Dense(4, activation="tanh")(image), meta])
    model = pyml.Model([image, meta], pyml.layers.Dense(2, name="out")(hidden))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_fit_on_a_dataset_of_named_inputs_equals_fit_on_arrays():
    x, y = _data(24)
    meta = np.random.default_rng(5).normal(size=(24, 2)).astype("float32")
    by_arrays, by_dataset = _two_input_model(), _two_input_model()
    h1 = by_arrays.fit([x, meta], y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    named = Dataset.from_tensor_slices(({"meta": meta, "image": x}, {"out": y})).batch(8)  # keys in any order
    h2 = by_dataset.fit(named, epochs=2, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(by_arrays.get_weights(), by_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(by_dataset.predict(named, verbose=0), by_arrays.predict([x, meta], verbose=0))


def test_prefetch_overlaps_producing_the_next_batch_with_training_on_this_one():
    x, y = _data(4)
    produced = [threading.Event() for _ in range(4)]

    def load(i):
        produced[int(i)].set()
        return x[i:i + 1], y[i:i + 1]

    class WaitForNextBatch(pyml.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # fit has not asked for batch + 1 yet: only a background producer can have made it
            if batch + 1 < 4:
                assert produced[batch + 1].wait(timeout=30), f"batch {batch + 1} was not produced during step {batch}"
    _model().fit(Dataset.range(4).map(load).prefetch(1), epochs=1, verbose=0, callbacks=[WaitForNextBatch()])
    assert all(e.is_set() for e in produced)


def test_fit_on_unbatched_rows_of_prebatched_arrays():
    x, y = _data(40)
    by_arrays, by_rows = _model(), _model()
    by_arrays.fit(x, y, batch_size=8, shuffle=False, epochs=1, verbose=0)
    by_rows.fit(Dataset.from_tensor_slices((x.reshape(5, 8, 5), y.reshape(5, 8, 2))), epochs=1, verbose=0)
    for a, b in zip(by_arrays.get_weights(), by_rows.get_weights()):  # read-only batches train the same
        np.testing.assert_array_equal(a, b)


def test_prefetch_threads_end_after_fit_even_on_an_endless_dataset():
    import gc
    x, y = _data(16)
    _model().fit(Dataset.from_tensor_slices((x, y)).batch(4).repeat().prefetch(2), steps_per_epoch=3, epochs=2,
                 verbose=0)
    gc.collect()  # fit's batches (and the pass it kept across epochs) are gone: the pass closes, its thread ends
    for thread in [t for t in threading.enumerate() if t.name == "pyml-data-prefetch"]:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a prefetch thread outlived the fit that started it"

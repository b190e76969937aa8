"""Saving: the .pyml zip (config, metadata, safetensors), identical predictions after loading, atomic
writes, and clear refusals of missing, truncated, corrupted or mismatched files."""
import json
import os
import zipfile

import numpy as np
import pytest
import safetensors.numpy

import pyml
from pyml import layers


def trained_model(name="classifier"):
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="relu", name="hidden"),
                             layers.BatchNormalization(name="norm"), layers.Dropout(0.2, name="drop"),
                             layers.Dense(3, activation="softmax", name="out")], name=name)
    model.compile(optimizer=pyml.optimizers.Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype("float32")
    model.fit(x, rng.integers(0, 3, 32), epochs=2, verbose=0)
    return model, x


def saved_model(tmp_path, filename="m.pyml"):
    """A trained model and the path of the file it was just saved to."""
    model, _ = trained_model()
    path = tmp_path / filename
    model.save(path)
    return model, path


def test_save_load_gives_identical_predictions_and_compile_state(tmp_path):
    model, x = trained_model()
    path = tmp_path / "model.pyml"
    model.save(path)
    restored = pyml.load_model(path)
    assert type(restored) is pyml.Sequential and restored.name == "classifier"
    assert [l.name for l in restored.layers] == ["hidden", "norm", "drop", "out"]
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(restored.weights, model.weights):
        assert a.name == b.name and a.trainable == b.trainable
    assert isinstance(restored.optimizer, pyml.optimizers.Adam) and restored.optimizer.learning_rate == np.float32(0.02)
    assert restored.metrics_names == ["loss", "accuracy"]
    restored.fit(x, np.zeros(32), epochs=1, verbose=0)  # compiled and trainable


def test_file_layout(tmp_path):
    model, path = saved_model(tmp_path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.safetensors",
                                              "optimizer.safetensors"]
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        weights = safetensors.numpy.load(archive.read("model.safetensors"))
    assert config["format"] == "pyml-model" and config["format_version"] == 1
    assert config["class_name"] == "Sequential"
    assert [l["class_name"] for l in config["config"]["layers"]] == ["Dense", "BatchNormalization", "Dropout", "Dense"]
    assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    assert metadata["pyml_version"] == pyml.__version__ and "date_saved" in metadata
    assert sorted(weights) == sorted(w.name for w in model.weights)
    np.testing.assert_array_equal(weights["out/kernel"], model.get_layer("out").kernel.numpy())


def test_functional_and_custom_objects_round_trip(tmp_path):
    @pyml.layers.register_serializable()
    class Doubler(pyml.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    def my_loss(y_true, y_pred):
        return pyml.ops.mean(pyml.ops.square(y_pred - y_true), axis=-1)

    inputs = pyml.Input(shape=(3,))
    model = pyml.Model(inputs, layers.Dense(2)(Doubler()(inputs)))
    model.compile(optimizer="sgd", loss=my_loss)
    path = tmp_path / "f.pyml"
    model.save(path)
    with pytest.raises(ValueError, match="custom function 'my_loss' is unknown"):
        pyml.load_model(path)
    restored = pyml.load_model(path, custom_objects={"my_loss": my_loss})
    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert pyml.load_model(path, compile=False).compiled is False


def test_unknown_layer_class_is_named(tmp_path):
    class Unregistered(pyml.layers.Layer):
        def call(self, inputs):
            return inputs

    model = pyml.Sequential([pyml.Input(shape=(2,)), Unregistered(name="mystery")])
    path = tmp_path / "u.pyml"
    model.save(path)
    with pytest.raises(ValueError, match=r"u.pyml: config.json.*unknown layer class 'Unregistered'.*custom_objects"):
        pyml.load_model(path)
    assert pyml.load_model(path, custom_objects={"Unregistered": Unregistered}).layers[0].name == "mystery"


def test_missing_file_and_not_a_zip(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such model file: .*nope.pyml"):
        pyml.load_model(tmp_path / "nope.pyml")
    junk = tmp_path / "junk.pyml"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="junk.pyml is not a pyml model file: it is not a zip archive"):
        pyml.load_model(junk)


def test_truncated_file_is_refused(tmp_path):
    _, path = saved_model(tmp_path, "t.pyml")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="t.pyml is not a pyml model file: it is not a zip archive"):
        pyml.load_model(path)


def test_corrupted_member_is_refused(tmp_path):
    _, path = saved_model(tmp_path, "c.pyml")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.safetensors")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # flip one byte inside the stored weights
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="c.pyml: member model.safetensors is corrupted"):
        pyml.load_model(path)


def _rewrite(path, replace):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members = replace(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_missing_member_and_bad_json_and_newer_version(tmp_path):
    model, path = saved_model(tmp_path)
    _rewrite(path, lambda m: {k: v for k, v in m.items() if k != "metadata.json"})
    with pytest.raises(ValueError, match=r"missing member\(s\) metadata.json"):
        pyml.load_model(path)
    model.save(path)
    _rewrite(path, lambda m: {**m, "config.json": b"{not json"})
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        pyml.load_model(path)
    model.save(path)

    def newer(members):
        config = json.loads(members["config.json"])
        config["format_version"] = 99
        return {**members, "config.json": json.dumps(config).encode()}

    _rewrite(path, newer)
    with pytest.raises(ValueError, match="format version 99 is newer than this pyml supports \\(1\\); update pyml"):
        pyml.load_model(path)


def test_weight_mismatches_are_named(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "m.pyml"

    def edit(change):
        model.save(path)

        def replace(members):
            arrays = safetensors.numpy.load(members["model.safetensors"])
            change(arrays)
            return {**members, "model.safetensors": safetensors.numpy.save(arrays)}

        _rewrite(path, replace)

    edit(lambda a: a.pop("out/bias"))
    with pytest.raises(ValueError, match=r"model.safetensors: weights do not match .*missing \['out/bias'\]"):
        pyml.load_model(path)
    edit(lambda a: a.update({"out/kernel": np.zeros((8, 4), "float32")}))
    with pytest.raises(ValueError, match=r"weight 'out/kernel' has shape \(8, 4\) in the file, but the model expects "
                                         r"\(8, 3\)"):
        pyml.load_model(path)
    edit(lambda a: a.update({"out/bias": np.zeros(3, "float64")}))
    with pytest.raises(ValueError, match="weight 'out/bias' has dtype float64 in the file, but the model expects float32"):
        pyml.load_model(path)
    model.save(path)
    _rewrite(path, lambda m: {**m, "model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{broken"})
    with pytest.raises(ValueError, match="model.safetensors is not a valid safetensors file"):
        pyml.load_model(path)


def test_atomic_save_leaves_existing_file_untouched_on_failure(tmp_path, monkeypatch):
    model, path = saved_model(tmp_path, "keep.pyml")
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pyml.saving.zipfile.ZipFile, "writestr", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.pyml"]  # no temporary file left behind


def test_overwrite_false_and_unbuilt_model(tmp_path):
    model, path = saved_model(tmp_path)
    with pytest.raises(FileExistsError, match="Pass overwrite=True"):
        model.save(path, overwrite=False)
    with pytest.raises(ValueError, match="is not built"):
        pyml.Sequential([layers.Dense(2)]).save(tmp_path / "x.pyml")


def test_save_weights_load_weights_into_a_fresh_model(tmp_path):
    model, x = trained_model()
    path = tmp_path / "w.weights.safetensors"
    model.save_weights(path)
    fresh = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization(),
                             layers.Dropout(0.2), layers.Dense(3, activation="softmax")])  # different layer names
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    other = trained_model("other")[0]
    other.set_weights([w + 1 for w in other.get_weights()])
    other.load_weights(path)  # same layer names: matched by name
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    wrong = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(4)])
    with pytest.raises(ValueError, match="weights do not match"):
        wrong.load_weights(path)


def test_get_set_weights_round_trip():
    model, x = trained_model()
    copy = trained_model("copy")[0]
    copy.set_weights([w * 0 for w in model.get_weights()])
    assert not np.allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))


def _edit_config(path, change):
    def replace(members):
        config = json.loads(members["config.json"])
        change(config)
        return {**members, "config.json": json.dumps(config).encode()}

    _rewrite(path, replace)


def test_damaged_functional_config_names_the_field(tmp_path):
    inputs = pyml.Input(shape=(3,))
    model = pyml.Model(inputs, layers.Dense(2)(layers.Dense(4)(inputs)))
    path = tmp_path / "f.pyml"
    for change, message in [
            (lambda c: c["config"].pop("inputs"), r"f.pyml: config.json.*missing 'inputs'"),
            (lambda c: c["config"].__setitem__("outputs", [[9, 0]]), r"outputs\[0\] refers to node 9, .* 3 nodes"),
            (lambda c: c["config"]["nodes"][2].__setitem__("inputs", [1, 5]), r"nodes\[2\].inputs.*output 5 of node 1"),
            (lambda c: c["config"]["nodes"][1].__setitem__("inputs", "x"), r"nodes\[1\].inputs.*Received: 'x'")]:
        model.save(path)
        _edit_config(path, change)
        with pytest.raises(ValueError, match=message):
            pyml.load_model(path)


def test_damaged_compile_config_names_the_field(tmp_path):
    model, path = saved_model(tmp_path)
    _edit_config(path, lambda c: c["compile_config"].pop("optimizer"))
    with pytest.raises(ValueError, match="config.json compile_config: missing 'optimizer'"):
        pyml.load_model(path)
    model.save(path)
    _edit_config(path, lambda c: c["compile_config"]["optimizer"]["config"].__setitem__("lr", 0.1))
    with pytest.raises(ValueError, match=r"config.json compile_config.optimizer: .*'lr'"):
        pyml.load_model(path)
    assert pyml.load_model(path, compile=False).compiled is False  # the architecture and weights still load
    model.save(path)
    _edit_config(path, lambda c: c["compile_config"].__setitem__("loss_weights", [1.0, 2.0]))
    with pytest.raises(ValueError, match=r"config.json compile_config.loss_weights: .*one output.*\[1.0, 2.0\]"):
        pyml.load_model(path)


def test_damaged_weight_order_metadata_is_named(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.weights.safetensors"
    model.save_weights(path)
    arrays = safetensors.numpy.load_file(path)
    safetensors.numpy.save_file(arrays, path, metadata={"order": "not json"})
    with pytest.raises(ValueError, match="w.weights.safetensors: metadata 'order' is not a JSON list of weight names"):
        model.load_weights(path)


class Subclassed(pyml.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="relu")
        self.head = layers.Dense(2)

    def call(self, inputs):
        return self.head(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_round_trips_with_its_input_shape(tmp_path):
    # Keras saves a subclassed model's build shape (build_config); without it the file could never be loaded
    model = Subclassed(units=5)
    x = np.random.default_rng(0).standard_normal((4, 7)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    path = tmp_path / "sub.pyml"
    model.save(path)
    restored = pyml.load_model(path, custom_objects={"Subclassed": Subclassed})
    assert restored.units == 5 and restored.hidden.kernel.shape == (7, 5)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    _edit_config(path, lambda c: c.__setitem__("build_config", {"shape": [None, 7]}))
    with pytest.raises(ValueError, match=r"sub.pyml: config.json build_config: could not build .*KeyError"):
        pyml.load_model(path, custom_objects={"Subclassed": Subclassed})


def test_loss_weights_round_trip_through_save(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)).astype("float32"), rng.standard_normal((8, 1)).astype("float32")
    model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(1, name="out")])
    model.compile(optimizer="sgd", loss="mse", loss_weights=[0.5])
    assert model.get_compile_config()["loss_weights"] == [0.5]
    path = tmp_path / "weighted.pyml"
    model.save(path)
    restored = pyml.load_model(path)
    assert restored.get_compile_config()["loss_weights"] == [0.5]
    assert restored.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    unweighted = np.mean((model.predict(x, verbose=0) - y) ** 2)
    assert restored.evaluate(x, y, verbose=0) == pytest.approx(0.5 * unweighted, rel=1e-5)

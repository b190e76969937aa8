"""A layer name pyml lacks, in code (``pyml.layers.Foo``) or in a saved model's config: an error that says so,
suggests the close names and lists the layers pyml has."""
import json
import zipfile

import pytest

import pyml


def public_layer_classes():
    return sorted(n for n, v in vars(pyml.layers).items()
                  if isinstance(v, type) and issubclass(v, pyml.layers.Layer) and v is not pyml.layers.Layer)


@pytest.mark.parametrize("name, close", [("Dens", "'Dense'"), ("lstm", "'LSTM'"), ("ConvLSTM2D", "'Conv2D'"),
                                         ("Lambda", None)])
def test_an_unknown_layer_attribute_says_so_suggests_and_lists_the_supported_layers(name, close):
    with pytest.raises(AttributeError) as info:
        getattr(pyml.layers, name)
    message = str(info.value)
    assert message.startswith(f"pyml.layers has no layer {name!r}")
    assert ("did you mean" in message) == (close is not None) and (close is None or close in message)
    listed = message.split(": ", 1)[1].split(", ")
    assert listed == public_layer_classes() and "Dense" in listed and "LSTM" in listed
    assert "What is supported" in message


def test_private_and_dunder_lookups_stay_plain_attribute_errors():
    assert not hasattr(pyml.layers, "__wrapped__")
    with pytest.raises(AttributeError, match=r"^module 'pyml.layers' has no attribute '_private'$"):
        pyml.layers._private  # noqa: B018


def test_a_saved_model_naming_an_unknown_layer_class_says_which_and_lists_the_layers(tmp_path):
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(2)])
    model.save(str(tmp_path / "m.pyml"))
    with zipfile.ZipFile(tmp_path / "m.pyml") as source, zipfile.ZipFile(tmp_path / "bad.pyml", "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                data = json.dumps(json.loads(data)).replace('"class_name": "Dense"', '"class_name": "Dence"').encode()
            target.writestr(item, data)
    with pytest.raises(ValueError) as info:
        pyml.load_model(str(tmp_path / "bad.pyml"))
    message = str(info.value)
    assert "bad.pyml" in message and "unknown layer class 'Dence'" in message and "did you mean 'Dense'" in message
    assert "custom_objects" in message and ", ".join(public_layer_classes()) in message

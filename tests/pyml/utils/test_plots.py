"""plot_history writes a real image of the right size; plot_model's SVG parses, names every layer and draws
each edge from its parent box to its child box."""
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import pyml
from pyml.utils import plot_history, plot_model

SVG = "{http://www.w3.org/2000/svg}"


def test_plot_history_png_has_a_panel_per_metric_with_its_val_curve(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(32, 3)).astype("float32"), np.arange(32) % 2
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(2)])
    model.compile("adam", pyml.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    figure = plot_history(history, tmp_path / "curves.png", dpi=50)
    names = [key for key in history.history if not key.startswith("val_")]
    assert sorted(names) == ["accuracy", "loss"] and [a.get_title() for a in figure.axes] == names
    for axes, name in zip(figure.axes, names):
        lines = {line.get_label(): line.get_ydata() for line in axes.lines}
        assert set(lines) == {name, f"val_{name}"}
        np.testing.assert_allclose(lines[f"val_{name}"], history.history[f"val_{name}"])
    with Image.open(tmp_path / "curves.png") as image:
        image.load()
        assert image.format == "PNG" and image.size == (2 * 4 * 50, 3 * 50)  # 2 panels of 4x3 inches at 50 dpi
        assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 10  # something was drawn
    wrapped = plot_history({f"m{i}": [1.0, 2.0] for i in range(5)}, tmp_path / "grid.png", columns=2, dpi=20)
    assert len(wrapped.axes) == 5
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (2 * 4 * 20, 3 * 3 * 20)


def test_plot_history_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"nothing to plot for \['auc'\]"):
        plot_history({"loss": [1.0]}, metrics=["auc"])
    with pytest.raises(ValueError, match="empty history"):
        plot_history({})
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_history({"loss": [1.0]})


def _branching_model():
    image = pyml.Input(shape=(16,), name="image")
    meta = pyml.Input(shape=(4,), name="meta")
    trunk = pyml.layers.Dense(8, activation="relu", name="trunk")(image)
    left = pyml.layers.Dense(8, name="left")(trunk)
    right = pyml.layers.Dense(8, name="right")(trunk)
    merged = pyml.layers.Concatenate(name="merge")([left, right, meta])
    skip = pyml.layers.Add(name="skip")([trunk, pyml.layers.Dense(8, name="after_merge")(merged)])
    return pyml.Model([image, meta], [pyml.layers.Dense(3, name="probs")(skip), right]), [
        ("image", "trunk"), ("trunk", "left"), ("trunk", "right"), ("left", "merge"), ("right", "merge"),
        ("meta", "merge"), ("merge", "after_merge"), ("trunk", "skip"), ("after_merge", "skip"), ("skip", "probs")]


def _parse(svg_text):
    root = ET.fromstring(svg_text)
    boxes = {}
    for group in root.iter(f"{SVG}g"):
        rect = group.find(f"{SVG}rect")
        boxes[group.get("data-layer")] = {
            "rect": tuple(float(rect.get(k)) for k in ("x", "y", "width", "height")),
            "text": [t.text for t in group.iter(f"{SVG}text")]}
    paths = [[tuple(map(float, p)) for p in re.findall(r"([\d.]+) ([\d.]+)", path.get("d"))]
             for path in root.iter(f"{SVG}path") if path.get("marker-end")]
    return root, boxes, paths


def test_plot_model_svg_names_every_layer_and_draws_every_edge_between_its_boxes(tmp_path):
    model, expected_edges = _branching_model()
    plot_model(model, tmp_path / "model.svg", show_shapes=True, show_layer_names=True)
    root, boxes, paths = _parse((tmp_path / "model.svg").read_text())
    assert root.tag == f"{SVG}svg"
    assert set(boxes) == {layer.name for layer in model.layers}
    for layer in model.layers:
        assert boxes[layer.name]["text"][0] == f"{layer.name} ({type(layer).__name__})"
    assert "Input shape: [(None, 8), (None, 8), (None, 4)]" in boxes["merge"]["text"]
    assert "Output shape: (None, 20)" in boxes["merge"]["text"]

    def bottom(name):
        x, y, w, h = boxes[name]["rect"]
        return x + w / 2, y + h

    def top(name):
        x, y, w, _ = boxes[name]["rect"]
        return x + w / 2, y
    drawn = sorted((path[0], path[-1]) for path in paths)
    wanted = sorted(((round(bottom(a)[0], 1), round(bottom(a)[1], 1)), (round(top(b)[0], 1), round(top(b)[1], 1)))
                    for a, b in expected_edges)
    assert drawn == wanted
    for a, b in expected_edges:  # top to bottom: every child below its parent
        assert boxes[b]["rect"][1] > boxes[a]["rect"][1] + boxes[a]["rect"][3]


def test_plot_model_sequential_html_png_and_left_to_right(tmp_path):
    model = pyml.Sequential([pyml.Input(shape=(8,)), pyml.layers.Dense(4, name="hidden"),
                             pyml.layers.Dense(2, name="out")])
    plot_model(model, tmp_path / "model.html", show_shapes=True)
    page = (tmp_path / "model.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    _, boxes, paths = _parse(page[page.index("<svg"):page.index("</svg>") + 6])
    assert list(boxes) == [model._input_layer.name, "hidden", "out"] and len(paths) == 2
    assert boxes["hidden"]["text"] == ["Dense", "Input shape: (None, 8)", "Output shape: (None, 4)"]
    plot_model(model, tmp_path / "model_lr.svg", rankdir="LR")
    _, side, _ = _parse((tmp_path / "model_lr.svg").read_text())
    x, _, width, _ = side[model._input_layer.name]["rect"]
    assert side["hidden"]["rect"][0] > x + width
    plot_model(model, tmp_path / "model.png", show_layer_names=True, dpi=50)
    with Image.open(tmp_path / "model.png") as image:
        image.load()
        assert image.format == "PNG" and min(image.size) > 10
        assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 10


def test_plot_model_errors(tmp_path):
    class Custom(pyml.Model):
        def call(self, inputs):
            return inputs
    with pytest.raises(ValueError, match="subclassed model has no layer graph. Received: a Custom"):
        plot_model(Custom(), tmp_path / "m.svg")
    with pytest.raises(ValueError, match="rankdir"):
        plot_model(_branching_model()[0], tmp_path / "m.svg", rankdir="BT")

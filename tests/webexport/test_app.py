"""webexport.app without a browser: what the service worker caches, how its version follows the files, the icons,
and the folders an app export refuses. (tests/browser/test_offline_app.py runs the apps in Chromium.)"""
import hashlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

import pyml
from pyml import layers
from webexport import ExportError, export
from webexport import app as webapp


@pytest.fixture(scope="module")
def model():
    pyml.set_random_seed(0)
    return pyml.Sequential([pyml.Input(shape=(5,)), layers.Dense(2)], name="tiny")


def service_worker(folder):
    """(VERSION, FILES) as sw.js declares them."""
    text = (folder / "sw.js").read_text()
    version = json.loads(re.search(r"^const VERSION = (.*);$", text, re.M).group(1))
    files = json.loads(re.search(r"^const FILES = (.*); //", text, re.M).group(1))
    return version, files


def test_the_worker_lists_every_file_with_its_sha256(model, tmp_path):
    site = tmp_path / "site"
    export(model, site, app=True)
    version, files = service_worker(site)
    on_disk = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert [path for path, _ in files] == [p for p in on_disk if p != "sw.js"]
    for path, digest in files:
        assert hashlib.sha256((site / path).read_bytes()).hexdigest() == digest, path
    weights = json.loads((site / "model" / "model.json").read_text())["weights"]
    assert dict(files)["model/weights.bin"] == weights["files"][0]["sha256"]
    assert {"index.html", "app.js", "offline.js", "manifest.webmanifest", "model/runtime/index.js"} <= set(dict(files))
    assert re.fullmatch(r"[0-9a-f]{20}", version)


def test_the_version_changes_with_the_weights_and_only_with_the_files(model, tmp_path):
    site = tmp_path / "site"
    export(model, site, app=True)
    first, _ = service_worker(site)
    export(model, site, app=True)
    assert service_worker(site)[0] == first  # the same export: the same version, so browsers keep their cache
    changed = pyml.Sequential([pyml.Input(shape=(5,)), layers.Dense(2)], name="tiny")
    changed.set_weights([w + 1.0 for w in model.get_weights()])
    export(changed, site, app=True)
    second, _ = service_worker(site)
    assert second != first
    assert not list(site.glob(".*")), "staging files were left in the app folder"


def test_saved_models_hidden_files_and_the_worker_itself_are_not_cached(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "digits.pyml").write_bytes(b"model")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "samples.json").write_text("{}")
    result = webapp.make_offline(tmp_path, "A page")
    assert "digits.pyml" not in result["files"] and ".hidden" not in result["files"] and "sw.js" not in result["files"]
    assert "data/samples.json" in result["files"] and "index.html" in result["files"]


def test_a_weights_file_that_does_not_match_model_json_is_refused(model, tmp_path):
    site = tmp_path / "site"
    export(model, site, app=True)
    (site / "model" / "weights.bin").write_bytes(b"short")
    with pytest.raises(ExportError, match="weights.bin: missing or not the"):
        webapp.make_offline(site, "tiny")


def test_the_manifest_and_icons_are_what_an_install_needs(model, tmp_path):
    site = tmp_path / "site"
    export(model, site, app="My <model>")
    manifest = json.loads((site / "manifest.webmanifest").read_text())
    assert manifest["name"] == "My <model>" and manifest["display"] == "standalone" and manifest["start_url"] == "."
    assert "<title>My &lt;model&gt;</title>" in (site / "index.html").read_text()
    for size in webapp.ICON_SIZES:
        icon = next(i for i in manifest["icons"] if i["sizes"] == f"{size}x{size}")
        image = np.asarray(Image.open(io.BytesIO((site / icon["src"]).read_bytes())).convert("RGBA"))
        assert image.shape == (size, size, 4)
        assert np.array_equal(image, webapp.draw_icon(size))  # the PNG encoder round-trips through Pillow
        assert (image[..., :3] == 255).all(axis=-1).mean() > 0.05  # the drawing is there, not a blank square
    assert (site / "icon.svg").read_text().count("<circle") == len(webapp._NODES)


def test_an_app_export_refuses_a_folder_that_is_not_an_app(model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not an app export"):
        export(model, tmp_path, app=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "model").exists()
    with pytest.raises(ExportError, match="include_runtime=True"):
        export(model, tmp_path / "new", app=True, include_runtime=False)

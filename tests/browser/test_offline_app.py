"""`export(..., app=True)` (`pyml export --app`): an installable page that keeps working offline, in Chromium.

A first visit online installs the service worker, which fills its cache; then the network goes away
(`context.set_offline(True)`, and the folder is moved off the server, so any request that got through would fail)
and a reload still loads the model and predicts what Python predicts. A re-export with other weights replaces the
cache whole on the next visit online: the page serves the new numbers and the old cache is gone; one served half-way
through an upload (a weights file that does not match its SHA-256) leaves the installed version in place. On WebGPU
and on the CPU (WebAssembly)."""
import json

import numpy as np
import pytest

import pyml
from pyml import cli, layers
from tests.browser.harness import CHROMIUM_ARGS, find_chromium, offline, watch
from webexport import app as webapp
from webexport import export

TOLERANCE = 1e-5
BACKENDS = ["webgpu", "wasm"]


def make_model(seed):
    pyml.set_random_seed(seed)
    return pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="tanh"),
                            layers.Dense(3, activation="softmax")], name="offline_demo")


def open_app(page, url, backend):
    """Open the app, wait until the model is loaded and a service worker with a full cache controls the page;
    returns ``pymlOffline``'s ``{version, cache, files}``."""
    page.goto(f"{url}?backend={backend}")
    page.wait_for_function("window.pymlApp && (window.pymlApp.ready || window.pymlApp.error)")
    assert page.evaluate("pymlApp.error") is None
    assert page.evaluate("pymlApp.backend") == backend
    offline = page.evaluate("window.pymlOffline.ready")
    assert offline is not None, page.evaluate("pymlOffline.error")
    return offline


def predict(page, x):
    """Type ``x`` (one sample) into the form, press Predict; returns the page's outputs."""
    runs = page.evaluate("pymlApp.runs")
    page.fill("#input-0", " ".join(repr(float(v)) for v in x))
    page.click("#predict")
    page.wait_for_function(f"pymlApp.runs > {runs} || pymlApp.error")
    assert page.evaluate("pymlApp.error") is None
    (name, output), = page.evaluate("pymlApp.outputs").items()
    return np.array(output["data"], np.float32).reshape(output["shape"])


def our_caches(page, scope):
    return page.evaluate("async (scope) => (await caches.keys()).filter((n) => n.includes(scope))", scope)


def cached_count(page, cache):
    return page.evaluate("async (name) => (await (await caches.open(name)).keys()).length", cache)


@pytest.mark.parametrize("backend", BACKENDS)
def test_app_loads_and_predicts_offline_after_one_visit(new_context, web_server, backend):
    model = make_model(0)
    site = web_server.path(f"offline-app-{backend}")
    export(model, site, app=True)
    files = webapp.cached_files(site)
    x = np.random.default_rng(1).normal(size=(1, 6)).astype(np.float32)
    expected = np.asarray(model.predict(x, verbose=0))

    page = new_context().new_page()
    url = web_server.url(f"offline-app-{backend}/")
    first = open_app(page, url, backend)
    assert first["files"] == len(files) and cached_count(page, first["cache"]) == len(files)
    assert np.abs(predict(page, x[0]) - expected).max() <= TOLERANCE

    with offline(page.context, site):
        page.reload()
        again = open_app(page, url, backend)
        assert again["version"] == first["version"]
        assert np.abs(predict(page, x[0]) - expected).max() <= TOLERANCE
        assert page.evaluate("navigator.onLine") is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_export_replaces_the_cache_whole_on_the_next_visit(new_context, web_server, backend):
    old_model, new_model = make_model(0), make_model(0)
    new_model.set_weights([w * 1.5 + 0.1 for w in old_model.get_weights()])
    site = web_server.path(f"reexport-app-{backend}")
    export(old_model, site, app=True)
    x = np.random.default_rng(2).normal(size=(1, 6)).astype(np.float32)
    old, new = (np.asarray(m.predict(x, verbose=0)) for m in (old_model, new_model))
    assert np.abs(old - new).max() > 0.01  # the test can tell them apart

    page = new_context().new_page()
    url = web_server.url(f"reexport-app-{backend}/")
    first = open_app(page, url, backend)
    assert np.abs(predict(page, x[0]) - old).max() <= TOLERANCE

    export(new_model, site, app=True)
    page.reload()  # the old worker serves this load and installs the new one, which takes over: one more reload
    page.wait_for_function(f"window.pymlOffline && pymlOffline.version && pymlOffline.version !== '{first['version']}'"
                           " && window.pymlApp && (pymlApp.ready || pymlApp.error)")
    second = open_app(page, url, backend)
    assert second["version"] != first["version"]
    assert np.abs(predict(page, x[0]) - new).max() <= TOLERANCE
    scope = web_server.url(f"reexport-app-{backend}/")
    assert our_caches(page, scope) == [second["cache"]], "the old version's cache was not deleted"


def test_the_app_form_takes_several_named_inputs_and_text(new_context, web_server):
    """The form has one field per input: numbers (row-major, a sample's shape) or lines of text, run by name."""
    pyml.set_random_seed(5)
    a, b = pyml.Input(shape=(3,), name="a"), pyml.Input(shape=(2, 2), name="b")
    joined = layers.Concatenate()([a, layers.Flatten()(b)])
    two = pyml.Model([a, b], [layers.Dense(2, name="score")(joined), layers.Dense(1, name="gate")(joined)])
    vectorize = layers.TextVectorization(max_tokens=20, output_sequence_length=6)
    vectorize.adapt(np.array(["a great film", "awful plot", "great fun"], dtype=object))
    text = pyml.Sequential([pyml.Input(shape=(1,), dtype="string"), vectorize, layers.Embedding(20, 4),
                            layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax", name="probs")])
    export(two, web_server.path("form-two-inputs"), app=True)
    export(text, web_server.path("form-text"), app=True)
    page = new_context().new_page()

    open_app(page, web_server.url("form-two-inputs/"), "wasm")
    assert page.locator("label").all_inner_texts()[:2] == ["a: float32, 3 values a sample (shape 3)",
                                                           "b: float32, 4 values a sample (shape 2×2)"]
    x_a, x_b = np.array([[0.5, -1.0, 2.0], [1, 2, 3]], np.float32), np.arange(8, dtype=np.float32).reshape(2, 2, 2) / 8
    page.fill("#input-0", "0.5, -1, 2\n1 2 3")  # two samples: the batch follows from the count
    page.fill("#input-1", " ".join(map(str, x_b.ravel())))
    page.click("#predict")
    page.wait_for_function("pymlApp.runs > 0 || pymlApp.error")
    outputs = page.evaluate("pymlApp.outputs")
    expected = dict(zip(["score", "gate"], two.predict([x_a, x_b], verbose=0)))
    for name, want in expected.items():
        got = np.array(outputs[name]["data"], np.float32).reshape(outputs[name]["shape"])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    page.fill("#input-0", "1 2")
    page.click("#predict")
    page.wait_for_function("pymlApp.error")
    assert "a: 2 values do not make whole samples of 3" in page.locator("#status").inner_text()
    page.fill("#input-0", "0.5 -1 2 1 2 3")
    page.click("#predict")
    page.wait_for_function("pymlApp.runs > 1 && !pymlApp.error")  # a good input clears the error

    open_app(page, web_server.url("form-text/"), "wasm")
    page.fill("#input-0", "a great film\nawful, awful plot")
    page.click("#predict")
    page.wait_for_function("pymlApp.runs > 0 || pymlApp.error")
    assert page.evaluate("pymlApp.error") is None
    got = np.array(page.evaluate("pymlApp.outputs.probs.data"), np.float32).reshape(2, 2)
    want = text.predict(np.array([["a great film"], ["awful, awful plot"]], dtype=object), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


UPDATE_NOW = """async () => {
  const registration = await navigator.serviceWorker.getRegistration();
  await registration.update();
  const worker = registration.installing || registration.waiting;
  if (!worker) return null;
  await new Promise((resolve) => {
    const settled = () => ["redundant", "activated"].includes(worker.state) && resolve();
    worker.addEventListener("statechange", settled);
    settled();
  });
  return worker.state;
}"""


def test_a_half_uploaded_export_leaves_the_installed_version_in_place(new_context, web_server):
    old_model, new_model = make_model(0), make_model(3)
    site = web_server.path("half-uploaded-app")
    export(old_model, site, app=True)
    x = np.random.default_rng(4).normal(size=(1, 6)).astype(np.float32)
    old = np.asarray(old_model.predict(x, verbose=0))
    page = new_context().new_page()
    url = web_server.url("half-uploaded-app/")
    first = open_app(page, url, "wasm")

    export(new_model, site, app=True)
    (site / "model" / "weights.bin").write_bytes(b"\0" * (site / "model" / "weights.bin").stat().st_size)
    assert page.evaluate(UPDATE_NOW) == "redundant", "a worker whose files do not match their SHA-256 installed"
    assert our_caches(page, url) == [first["cache"]]
    page.reload()
    assert open_app(page, url, "wasm")["version"] == first["version"]
    assert np.abs(predict(page, x[0]) - old).max() <= TOLERANCE


def test_the_manifest_makes_the_app_installable(browser, web_server, tmp_path):
    site = web_server.path("installable-app")
    export(make_model(0), site, app=True)
    # Chromium offers no install in an incognito profile (what new_context makes): a profile on disk.
    context = browser.browser_type.launch_persistent_context(str(tmp_path / "profile"), headless=True,
                                                             executable_path=find_chromium(), args=CHROMIUM_ARGS)
    try:
        page = context.new_page()
        errors = watch(page)
        open_app(page, web_server.url("installable-app/"), "wasm")
        cdp = context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        parsed = json.loads(manifest["data"])
        assert parsed["display"] == "standalone" and parsed["start_url"] == "."
        errors.check()
    finally:
        context.close()


def test_cli_export_app_writes_the_page_manifest_and_worker(tmp_path, capsys):
    model_path = tmp_path / "tiny.pyml"
    make_model(0).save(str(model_path))
    assert cli.main(["export", str(model_path), str(tmp_path / "site"), "--app"]) == 0
    assert "sw.js" in capsys.readouterr().out
    for name in ("index.html", "app.js", "offline.js", "sw.js", "manifest.webmanifest", "icon.svg", "icon-192.png",
                 "icon-512.png", "model/model.json", "model/runtime/index.js"):
        assert (tmp_path / "site" / name).is_file(), name
    assert json.loads((tmp_path / "site" / "manifest.webmanifest").read_text())["name"] == "tiny"

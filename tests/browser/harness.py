"""Browser-test plumbing: find Chromium, serve files on 127.0.0.1, and talk to tests/browser/harness.js.

The fixtures in ``tests/browser/conftest.py`` wrap these; other suites (``test_digits.py``) use the fixtures.

    >>> server = StaticServer(tmp_dir); server.start()
    >>> server.url("model/model.json")               # 'http://127.0.0.1:PORT/model/model.json'
    >>> outputs, info = Harness(page).run(server.url("model/model.json"), "webgpu", [x])
"""
import base64
import contextlib
import functools
import os
import re
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from pyml.cli import StaticHandler
from webexport.bundle import copy_runtime

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SRC = ROOT / "web" / "src"
HERE = Path(__file__).resolve().parent

# WebGPU on machines without a GPU (SwiftShader), plus quiet, offline Chromium (shared/DESIGN.md).
CHROMIUM_ARGS = [
    "--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader",
    "--use-webgpu-adapter=swiftshader", "--disable-vulkan-surface", "--no-sandbox",
    "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
    "--disable-quic",
]
NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}


def find_chromium(playwright=None):
    """The Chromium to drive: $PYML_CHROMIUM, then /usr/bin/chromium, then Playwright's bundled one, else None."""
    candidates = [os.environ.get("PYML_CHROMIUM"), "/usr/bin/chromium"]
    if playwright is not None:
        candidates.append(playwright.chromium.executable_path)
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class _QuietHandler(StaticHandler):
    """``pyml serve``'s handler (MIME types, no caching, no Nagle stall), silent, answering favicon requests."""

    def send_head(self):
        # Browsers ask every page for /favicon.ico; answer "no content" rather than log a 404 in the console.
        if self.path.split("?")[0] == "/favicon.ico" and not (Path(self.directory) / "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return None
        return super().send_head()


class StaticServer:
    """Serve ``root`` over http://127.0.0.1:<random port> from a background thread (WebGPU and
    crypto.subtle need a secure context, which 127.0.0.1 is)."""

    def __init__(self, root):
        self.root = Path(root)
        self._httpd = None
        self._thread = None

    def start(self):
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="pyml-static-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def url(self, path=""):
        return self.base_url + str(path).lstrip("/")

    def path(self, relative):
        return self.root / relative

    def install_runtime(self, dest="runtime"):
        """Copy web/src (index.js, bundle.js, ..., cpu/*.js) to ``root/dest`` as a bundle carries it (comment
        lines dropped, so the tests run what pages get); returns its URL."""
        target = self.root / dest
        if target.exists():
            shutil.rmtree(target)
        copy_runtime(RUNTIME_SRC, target)
        return self.url(f"{dest}/index.js")

    def install_harness(self):
        """Copy harness.html and harness.js to the root; returns the harness page URL."""
        for name in ("harness.html", "harness.js"):
            shutil.copy(HERE / name, self.root / name)
        return self.url("harness.html")


def encode(array, dtype=None):
    """A numpy array as the harness's wire form ``{b64, shape, dtype}`` (bool as bytes of 0/1)."""
    array = np.asarray(array)
    dtype = dtype or {"b": "bool", "i": "int32", "u": "int32"}.get(array.dtype.kind, "float32")
    raw = np.ascontiguousarray(array.astype(NUMPY_DTYPES[dtype])).tobytes()
    return {"b64": base64.b64encode(raw).decode("ascii"), "shape": list(array.shape), "dtype": dtype}


def decode(value):
    """The harness's wire form back to a numpy array (bool outputs as numpy bool)."""
    array = np.frombuffer(base64.b64decode(value["b64"]), NUMPY_DTYPES[value["dtype"]]).reshape(value["shape"])
    return array.astype(bool) if value["dtype"] == "bool" else array.copy()


class BrowserError(AssertionError):
    """The page reported an error where the test expected a result."""


class Harness:
    """Python side of harness.js: load bundles in the page and run them."""

    def __init__(self, page):
        self.page = page

    def adapter(self):
        """The page's WebGPU adapter info ``{vendor, architecture, description}``, or None without one."""
        return self.page.evaluate("harness.adapterInfo()")

    def require_webgpu(self):
        """Fail (not skip) when the page has no WebGPU adapter; returns the adapter info."""
        info = self.adapter()
        if info is None:
            raise AssertionError("navigator.gpu.requestAdapter() returned null in headless Chromium: WebGPU tests "
                                 "need the SwiftShader flags in tests/browser/harness.py CHROMIUM_ARGS and a page "
                                 "served from http://127.0.0.1")
        return info

    def cpu_kernel_names(self):
        return set(self.page.evaluate("harness.cpuKernelNames()"))

    def run(self, url, backend, inputs):
        """Load ``url`` with ``backend``, run it on numpy ``inputs``; returns (list of arrays, model info)."""
        (outputs,), info = self.run_series(url, backend, [inputs])
        return outputs, info

    def run_series(self, url, backend, series):
        """Load ``url`` once and run each list of inputs in ``series``; returns (list of output lists, info). Inputs
        given as a dict ``{name: array}`` run by name (``model.run({...})``) and give a dict of outputs back."""
        def each(values, f):
            return {k: f(v) for k, v in values.items()} if isinstance(values, dict) else [f(v) for v in values]

        result = self.page.evaluate("([url, backend, series]) => harness.runSeries(url, backend, series)",
                                    [url, backend, [each(inputs, encode) for inputs in series]])
        if "error" in result:
            raise BrowserError(f"{backend} run of {url} failed in the page: {result['error']}")
        return [each(outs, decode) for outs in result["outputs"]], result["info"]

    def run_many(self, jobs):
        """``jobs``: [{url, backends, inputs}] run in one evaluate; returns per job {backend: arrays | error str}."""
        wire = [{"url": j["url"], "backends": j["backends"], "inputs": [encode(x) for x in j["inputs"]]} for j in jobs]
        results = self.page.evaluate("(jobs) => harness.runMany(jobs)", wire)
        return [{b: (r if isinstance(r, str) else [decode(v) for v in r]) for b, r in res.items()} for res in results]

    def load_error(self, url, backend="cpu"):
        """The message loadModel rejects with (fails the test when loading succeeds)."""
        result = self.page.evaluate("([url, backend]) => harness.loadError(url, backend)", [url, backend])
        if result is None:
            raise AssertionError(f"loadModel({url!r}, {{backend: {backend!r}}}) succeeded; expected it to refuse the bundle")
        return result

    def evaluate(self, script, arg=None):
        return self.page.evaluate(script, arg)


class PageErrors:
    """Console errors and uncaught exceptions seen by a page, minus the patterns a test allowed."""

    def __init__(self):
        self.seen = []
        self.allowed = []

    def allow(self, pattern):
        self.allowed.append(re.compile(pattern))

    def record(self, kind, text):
        self.seen.append(f"{kind}: {text}")

    def unexpected(self):
        return [e for e in self.seen if not any(p.search(e) for p in self.allowed)]

    def check(self):
        bad = self.unexpected()
        if bad:
            pytest.fail("the page logged unexpected errors:\n  " + "\n  ".join(bad), pytrace=False)


def watch(page, errors=None):
    """Record ``page``'s console errors and uncaught exceptions into ``errors`` (a new PageErrors by default)."""
    errors = errors if errors is not None else PageErrors()
    page.on("console", lambda msg: msg.type == "error" and errors.record("console", msg.text))
    page.on("pageerror", lambda exc: errors.record("pageerror", str(exc)))
    page.on("response", lambda r: r.status >= 400 and errors.record(f"http {r.status}", r.url))  # names the URL
    return errors


def open_harness_page(browser, server, errors=None, timeout_ms=60_000, init_script=None):
    """A new page on ``server``'s harness.html with ``window.harness`` loaded (``init_script`` runs before any
    of the page's scripts); returns (page, errors)."""
    page = browser.new_page()
    page.set_default_timeout(timeout_ms)
    if init_script:
        page.add_init_script(init_script)
    errors = watch(page, errors)
    page.goto(server.url("harness.html"))
    page.wait_for_function("window.harness !== undefined || window.harnessError !== undefined")
    failure = page.evaluate("window.harnessError")
    if failure:
        page.close()
        pytest.fail(f"the runtime did not load in the page: {failure}", pytrace=False)
    return page, errors


@contextlib.contextmanager
def offline(context, folder):
    """Take the network away from ``context`` (``set_offline``) and move ``folder`` off the server, so a request
    that still got through would fail (a 404, which fails the test); both come back on exit."""
    moved = folder.with_name(f".{folder.name}.moved-away")
    context.set_offline(True)
    folder.rename(moved)
    try:
        yield moved
    finally:
        moved.rename(folder)
        context.set_offline(False)

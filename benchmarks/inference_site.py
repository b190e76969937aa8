"""The static site benchmarks/browser_inference.py and train_browser.py serve: the pages, each model in every
library's form, the libraries themselves, and a server for it on 127.0.0.1.

    site/inference.html, inference.js, train.html, train.js, runners.js, blank.html      the pages (benchmarks/page/)
    site/models/<name>/pyml/            the pyml bundle (model.json, weights.bin, runtime/ from web/src; with
                                        its training section when written with ``train=``)
    site/models/<name>/tfjs/            layout.json + weights.bin (models.write_tfjs)
    site/models/<name>/model.onnx       graph + weights (models.write_onnx)
    site/tfjs/<package>/ -> benchmarks/node_modules/@tensorflow/<package>/dist     (symlinks)
    site/ort/            -> benchmarks/node_modules/onnxruntime-web/dist

    >>> root = inference_site.write_site(tmp, {"mlp": model}, onnx=True)
    >>> with inference_site.serve(root, isolated=False) as url: ...     # url("inference.html?...")
    >>> inference_site.classify("models/mlp/model.onnx")                  # 'weights'
"""
import contextlib
import functools
import http.server
import os
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import common
import models

PAGE = common.HERE / "page"
PAGE_FILES = ("inference.html", "inference.js", "train.html", "train.js", "runners.js")
HARNESS_FILES = (*PAGE_FILES, "blank.html", "favicon.ico")  # not counted in the bytes a library fetches
TFJS_PACKAGES = ("tfjs-core", "tfjs-layers", "tfjs-backend-cpu", "tfjs-backend-wasm", "tfjs-backend-webgpu")
ORT_PACKAGE = "onnxruntime-web"
ORT_FILES = ("ort.wasm.min.mjs", "ort.webgpu.min.mjs")  # the entries page/runners.js imports
CATEGORIES = ("code", "wasm", "model", "weights")


def check_packages():
    """Fail early, with the npm command, when the alternatives are not installed."""
    for package in TFJS_PACKAGES:
        common.node_file(f"@tensorflow/{package}/package.json")
    for name in ORT_FILES:
        common.node_file(f"{ORT_PACKAGE}/dist/{name}")


def write_site(root, built, onnx=True, pyml_weights="float32", train=None):
    """Lay out the site under ``root`` for ``built`` ({name: pyml model}); returns ``root`` as a Path.

    ``onnx=False`` skips the ONNX files (no ORT cell selected, so the onnx package is not needed);
    ``pyml_weights`` is the bundle's weight storage (``webexport.export(weights=...)``); ``train``, when
    given, is ``webexport.export``'s ``train=`` (a bundle that can train: train_browser.py)."""
    import webexport

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        shutil.copy(PAGE / name, root / name)
    # The cold start begins by navigating from this page, so the renderer is up before the clock starts.
    (root / "blank.html").write_text('<!doctype html><title>blank</title><link rel="icon" href="data:,">\n')
    for name, model in built.items():
        folder = root / "models" / name
        webexport.export(model, folder / "pyml", weights=pyml_weights, **({"train": train} if train else {}))
        models.write_tfjs(model, folder / "tfjs")
        if onnx:
            models.write_onnx(model, folder / "model.onnx")
            models.check_onnx(model, folder / "model.onnx")
    (root / "tfjs").mkdir(exist_ok=True)
    for package in TFJS_PACKAGES:
        (root / "tfjs" / package).symlink_to(common.NODE_MODULES / "@tensorflow" / package / "dist")
    (root / "ort").symlink_to(common.NODE_MODULES / ORT_PACKAGE / "dist")
    return root


def classify(path):
    """The bytes category of a site path: "code", "wasm", "model" (graph/layout JSON), "weights" (.bin,
    and .onnx, which holds graph and weights in one file), or None for the benchmark's own page."""
    path = str(path).lstrip("/").split("?")[0]
    if path in HARNESS_FILES:
        return None
    suffix = Path(path).suffix
    return {".js": "code", ".mjs": "code", ".wasm": "wasm", ".json": "model", ".bin": "weights",
            ".onnx": "weights"}.get(suffix, "code")


@functools.lru_cache(maxsize=None)
def gzip_size(file):
    """``gzip -9`` bytes of a file on disk (cached: the same library files recur in every cell)."""
    return common.gzip_size(Path(file).read_bytes())


def _handler(root, isolated):
    from pyml.cli import StaticHandler

    libraries = os.path.realpath(common.NODE_MODULES)

    class Handler(StaticHandler):  # pyml serve's: MIME types, no caching, no Nagle stall (~40 ms a response)
        protocol_version = "HTTP/1.1"  # keep-alive, as any real server
        extensions_map = {**StaticHandler.extensions_map, ".onnx": "application/octet-stream"}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def send_head(self):
            # The site links the libraries from benchmarks/node_modules, outside its folder, which pyml serve
            # refuses to follow; files there are served, anything else outside the folder is still refused.
            path = os.path.realpath(self.translate_path(self.path))
            if path.startswith(libraries + os.sep):
                return http.server.SimpleHTTPRequestHandler.send_head(self)
            return super().send_head()

        def end_headers(self):
            if isolated:  # cross-origin isolation: SharedArrayBuffer, so wasm threads (--threads above 1)
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            super().end_headers()

    return Handler


@contextlib.contextmanager
def serve(root, isolated=False):
    """Serve ``root`` on http://127.0.0.1:<free port> while the block runs; yields ``url(path)``.

    127.0.0.1 is a secure context (WebGPU, crypto.subtle). ``isolated`` sends COOP/COEP headers."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, isolated))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="pyml-bench-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield lambda path="": base + str(path).lstrip("/")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

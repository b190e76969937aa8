"""Installable, offline web apps: a page for a bundle, a web app manifest and a service worker.

``webexport.export(model, "site", app=True)`` (``pyml export model.pyml site --app``) writes a folder a static host
serves as it is, and a phone can install:

    site/index.html, app.js      a page that loads model/model.json and runs it on a form of its inputs
    site/model/                  the bundle (model.json, weights, runtime/)
    site/manifest.webmanifest    name, icons, start_url ".", display "standalone"
    site/icon.svg, icon-192.png, icon-512.png
    site/offline.js              registers sw.js; reloads the page once when a new export takes over
    site/sw.js                   the service worker: every file above, cached under one version

``make_offline(folder)`` adds the last four kinds to any page folder (the digits demo uses it).

The version is a SHA-256 over each cached file's path and SHA-256 (a weights file's from model.json, the others
hashed here) and over the service worker's own template, so any change to what a page can fetch makes a new
``sw.js``. The browser notices on the next visit online and installs it: the new cache is filled completely, each
file checked against its SHA-256 (a host caught half-way through an upload fails the install and the old version
stays), and only then, on ``activate``, are the older caches of this folder deleted. Files are served cache-first,
so a page loads the same, consistent set offline or online.

    >>> make_offline("build/digits-demo", name="pyml digits")      # doctest: +SKIP
    {'version': '3f2a...', 'files': ['app.js', 'icon-192.png', ...]}
"""
import hashlib
import json
import struct
import zlib
from pathlib import Path

import jinja2
import numpy as np

from pyml.utils import atomic
from webexport.kernels.common import ExportError
from webexport.weights import weights_files

_PAGE = Path(__file__).resolve().parent / "app_page"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_PAGE)), undefined=jinja2.StrictUndefined,
                          autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "svg.j2")),
                          keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
SERVICE_WORKER = "sw.js"
MANIFEST = "manifest.webmanifest"
BUNDLE = "model"  # the bundle's folder inside an app
ICON_SIZES = (192, 512)  # what Chromium wants to offer an install, and the splash screen
THEME = "#1d4e89"
# The icon: a small 3-4-2 network, in a 1x1 square, drawn as SVG and rasterised to PNG from these numbers.
_LAYERS = [(0.22, [0.3, 0.5, 0.7]), (0.5, [0.22, 0.41, 0.59, 0.78]), (0.78, [0.38, 0.62])]  # (x, node ys)
_NODES = [(x, y) for x, ys in _LAYERS for y in ys]
_EDGES = [((x, y), (next_x, next_y)) for (x, ys), (next_x, next_ys) in zip(_LAYERS, _LAYERS[1:])
          for y in ys for next_y in next_ys]
_NODE_RADIUS, _EDGE_WIDTH = 0.055, 0.018


def write_page(folder, name):
    """The generic page of an app: ``index.html`` (titled ``name``) and ``app.js`` in ``folder``, for the bundle in
    ``folder/model``: one field per model input (numbers, or lines of text for a text input), a Predict button,
    and the outputs. ``?backend=webgpu|wasm|js|cpu`` picks the backend (default ``auto``)."""
    folder = Path(folder)
    _write(folder / "index.html", _ENV.get_template("index.html.j2").render(name=name, theme=THEME).encode())
    _write(folder / "app.js", (_PAGE / "app.js").read_bytes())


def make_offline(folder, name, short_name=None, description=""):
    """Make the page in ``folder`` installable and offline: write its web app manifest, icons, ``offline.js`` and a
    service worker ``sw.js`` that caches every file of the folder.

    The page links the manifest and loads ``offline.js``:

        <link rel="manifest" href="manifest.webmanifest">
        <script type="module" src="offline.js"></script>

    Cached: every file under ``folder`` but hidden ones (``.*``), saved models (``*.pyml``) and ``sw.js`` itself;
    write the page and its bundles first. Call it again after anything in the folder changes.

    Args:
        folder: the page's folder (the service worker's scope); it must hold ``index.html``.
        name: the app's name, as an installed app shows it.
        short_name: the name under its icon (default: ``name``).
        description: one sentence for the manifest.

    Returns:
        ``{"version": hex, "files": [paths]}``: the cache version and the cached paths, relative to ``folder``.

    Raises:
        ExportError: ``folder`` has no ``index.html``, or a bundle in it lacks a weights file its model.json lists.
    """
    folder = Path(folder)
    if not (folder / "index.html").is_file():
        raise ExportError(f"{folder} has no index.html: an offline app needs its page (write it first)")
    manifest = {"name": name, "short_name": short_name or name, "description": description, "start_url": ".",
                "scope": ".", "display": "standalone", "background_color": "#ffffff", "theme_color": THEME,
                "icons": [{"src": "icon.svg", "sizes": "any", "type": "image/svg+xml"}]
                + [{"src": f"icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"} for size in ICON_SIZES]}
    _write(folder / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    _write(folder / "icon.svg", _ENV.get_template("icon.svg.j2").render(
        theme=THEME, nodes=_NODES, edges=_EDGES, radius=_NODE_RADIUS, width=_EDGE_WIDTH).encode())
    for size in ICON_SIZES:
        _write(folder / f"icon-{size}.png", encode_png(draw_icon(size)))
    _write(folder / "offline.js", (_PAGE / "offline.js").read_bytes())
    files = cached_files(folder)
    template = _ENV.get_template("sw.js.j2")
    version = hashlib.sha256("".join(f"{path} {digest}\n" for path, digest in files).encode()
                             + Path(template.filename).read_bytes()).hexdigest()[:20]
    _write(folder / SERVICE_WORKER, template.render(version=version, files=files).encode())  # last: it starts updates
    return {"version": version, "files": [path for path, _ in files]}


def write_app(folder, name):
    """The page and the offline files around the bundle already in ``folder/model`` (``export(..., app=True)``)."""
    write_page(folder, name)
    return make_offline(folder, name, description=f"{name}: a model trained with pyml, running on this device")


def check_app_folder(folder):
    """Refuse to write an app over a folder that is not one: ``folder`` must be new, empty, or an earlier app."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} exists and is not a folder; an app is a folder (index.html, model/, sw.js ...)")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise ExportError(f"{folder} is a non-empty folder without {MANIFEST}, so it is not an app export; "
                          "refusing to write index.html and sw.js into it (choose an empty or new folder)")


def cached_files(folder):
    """``[(path, sha256 hex)]`` of every file a page in ``folder`` may fetch, sorted by path (see ``make_offline``).

    A bundle's weights files take the SHA-256 its model.json lists (the runtime checks the same value)."""
    folder = Path(folder)
    paths = sorted((p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".pyml")
                    and p.relative_to(folder).as_posix() != SERVICE_WORKER
                    and not any(part.startswith(".") for part in p.relative_to(folder).parts)),
                   key=lambda p: p.relative_to(folder).as_posix())
    listed = {}
    for manifest_path in (p for p in paths if p.name == "model.json"):
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != "pyml-bundle":
            continue
        for spec in weights_files(manifest["weights"]):
            path = manifest_path.parent / spec["file"]
            if not path.is_file() or path.stat().st_size != spec["byte_length"]:
                raise ExportError(f"{path}: missing or not the {spec['byte_length']} bytes {manifest_path} lists")
            listed[path] = spec["sha256"]
    return [(p.relative_to(folder).as_posix(), listed.get(p) or hashlib.sha256(p.read_bytes()).hexdigest())
            for p in paths]


def draw_icon(size):
    """The app icon as ``(size, size, 4)`` uint8 RGBA: the network of icon.svg, white on the theme colour."""
    centres = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(centres, centres)
    ink = np.zeros((size, size), bool)
    for (ax, ay), (bx, by) in _EDGES:  # distance to each segment
        t = np.clip(((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
        ink |= np.hypot(x - ax - t * (bx - ax), y - ay - t * (by - ay)) <= _EDGE_WIDTH / 2
    for cx, cy in _NODES:
        ink |= np.hypot(x - cx, y - cy) <= _NODE_RADIUS
    theme = [int(THEME[i:i + 2], 16) for i in (1, 3, 5)]
    image = np.empty((size, size, 4), np.uint8)
    image[...] = theme + [255]
    image[ink] = [255, 255, 255, 255]
    return image


def encode_png(rgba):
    """A PNG file (8-bit RGBA, no interlace) of an ``(height, width, 4)`` uint8 array."""
    height, width, _ = rgba.shape
    rows = b"".join(b"\0" + row.tobytes() for row in np.ascontiguousarray(rgba, np.uint8))  # filter 0 per row

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_file(path, lambda f: f.write(data))


__all__ = ["make_offline", "write_app", "write_page", "cached_files", "draw_icon", "encode_png"]

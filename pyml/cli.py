"""The ``pyml`` command line: export a saved model to a web bundle, serve a folder, run a demo.

    $ pyml export digits.pyml site/model         # writes model.json + weights.bin + runtime/
    $ pyml export digits.pyml site --app         # an installable offline page around the bundle (site/model/)
    $ pyml serve site                            # http://127.0.0.1:8000/  (Ctrl-C stops)
    $ pyml demo digits                           # train, export and serve the digits demo
    $ pyml demo textgen                          # the same for the text-generation demo
    $ pyml demo embed                            # the embedding examples: a plain page, an offline app
    $ pyml --version

Mistakes a user can make (a missing file, a file that is not a model, a busy port) end with one line on
stderr, ``pyml <command>: error: ...``, and exit status 2. Set ``PYML_DEBUG=1`` to see the traceback
instead. ``pyml serve`` names each damaged bundle under its folder in a warning and serves the rest.
"""
import argparse
import functools
import http.server
import importlib.util
import json
import os
import shlex
import signal
import sys
from pathlib import Path

EXIT_USAGE = 2
DEMOS_DIR = Path(__file__).resolve().parent.parent / "demos"
DEMOS = {"digits": "draw a digit, see a 64-64-10 MLP trained on scikit-learn's 8x8 digits classify it live",
         "textgen": "type a prompt, watch a character-level LSTM trained on Python's standard library continue it",
         "embed": "the digits model embedded in a plain page (five lines of JavaScript) and as an offline app"}
MIME_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".wgsl": "text/wgsl",  # the media type the WGSL specification registers
    ".ts": "text/plain",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}


WEIGHT_TIERS = {"f32": "float32", "f16": "float16", "int8": "int8"}  # pyml export --weights


class UserError(Exception):
    """An error the user can fix; ``main`` prints it as one line and exits with status 2."""


# ---- pyml export ------------------------------------------------------------------------------
def export_command(args):
    """Compile a saved model (``model.save("x.pyml")``) into a web bundle folder."""
    import webexport
    import webexport.app
    import webexport.weights

    model_path = Path(args.model_path)
    if model_path.is_dir():
        raise UserError(_folder_given(model_path))
    if not model_path.is_file():
        raise UserError(f"no such model file: {model_path}")
    input_shape = parse_shape(args.input_shape) if args.input_shape else None
    webexport.export(str(model_path), args.out_dir, input_shape=input_shape, batch_size=args.batch_size,
                     weights=WEIGHT_TIERS[args.weights], sequence_length=args.sequence_length, app=args.app,
                     train=True if args.train else None)
    bundle_dir = Path(args.out_dir) / webexport.app.BUNDLE if args.app else Path(args.out_dir)
    text = describe_bundle(bundle_dir)
    if args.app:
        text += (f"\napp in {args.out_dir}/: index.html + app.js (a form for the inputs), {webexport.app.MANIFEST}, "
                 f"icons, and {webexport.app.SERVICE_WORKER} caching the page, runtime and weights for offline use; "
                 f"serve it (pyml serve {args.out_dir}) and open it once online")
    if args.weights != "f32" and "weights stored as" not in text:
        text += (f"\nnote: no weight matrix has the {webexport.weights.MIN_QUANTIZED_ELEMENTS:,} elements --weights "
                 f"{args.weights} needs, so every weight stays float32")
    print(text)
    return 0


def _folder_given(folder):
    """What to say when MODEL_PATH is a folder: export takes one saved model file; the ones in it, if any."""
    models = sorted(p.name for p in folder.glob("*.pyml") if p.is_file())
    said = f"{folder} is a folder; pyml export takes a model file saved with model.save('NAME.pyml')"
    if models:
        more = f" and {len(models) - 5} more" if len(models) > 5 else ""
        return f"{said}. The folder holds: {', '.join(str(folder / name) for name in models[:5])}{more}"
    if (folder / "model.json").is_file():
        return f"{said}, and this folder holds model.json: it is an exported bundle already (serve it: pyml serve)"
    return f"{said}, and this folder holds no .pyml file"


def parse_shape(text):
    """``"64"`` → ``(64,)``; ``"8,8,1"`` or ``"8x8x1"`` → ``(8, 8, 1)``: one sample, without the batch axis."""
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise UserError(f"--input-shape takes positive sizes separated by commas, like 64 or 8,8,1. Received: {text!r}")
    return shape


def describe_bundle(out_dir):
    """What a bundle holds, read back from its manifest: one line, and one more on lossy weight storage."""
    import webexport.weights

    manifest = json.loads((out_dir / "model.json").read_text())
    steps = lambda i: f" (1 to {i['shape'][1]} steps)" if "pad" in i else ""  # noqa: E731  (inputs[i].pad)
    inputs = ", ".join(f"{i['name']} {_shape_text(i['shape'])}{steps(i)}" for i in manifest["inputs"])
    outputs = ", ".join(f"{o['name']} {_shape_text(o['shape'])}" for o in manifest["outputs"])
    table = manifest["weights"]
    files = webexport.weights.weights_files(table)
    weight_bytes = sum(f["byte_length"] for f in files)
    where = f" in {len(files)} files" if len(files) > 1 else ""
    text = (f"wrote {out_dir}/: {len(manifest['steps'])} kernel steps, {weight_bytes:,} bytes of weights{where}; "
            f"inputs {inputs} -> outputs {outputs}")
    train = manifest.get("train")
    if train:
        text += (f"\ntraining step: {len(train['steps'])} kernel steps, {train['optimizer']['class']} on "
                 f"{train['loss']['name']} (the page's model.trainStep, fit, saveWeights)")
    accuracy = table.get("accuracy")
    if accuracy:
        tiers = sorted({e["storage"] for e in table["entries"] if e.get("storage", e["dtype"]) != e["dtype"]})
        full = sum(4 * webexport.weights.element_count(e["shape"]) if e["dtype"] == "float32" else e["byte_length"]
                   for e in table["entries"])
        error, peak = accuracy["max_abs_error"], accuracy["max_abs_output"]
        text += (f"\nweights stored as {'/'.join(tiers)}: {full / max(weight_bytes, 1):.1f}x smaller than float32; "
                 f"on {accuracy['probe_inputs']} random inputs the outputs moved by at most "
                 f"{'unknown' if error is None else f'{error:.2g}'} (largest output "
                 f"{'unknown' if peak is None else f'{peak:.3g}'})")
    return text


def _shape_text(shape):
    return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


# ---- pyml serve -------------------------------------------------------------------------------
class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder with the MIME types ES modules and bundles need, and no caching (re-exports show up)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    quiet = True
    # The headers and the body are separate writes: with Nagle's algorithm the body waits for the delayed ACK
    # of the headers, about 40 ms a file on Linux, and a page's module imports pay it one after another.
    disable_nagle_algorithm = True

    def send_head(self):
        # translate_path drops "." and ".." parts (after percent-decoding once: %2e%2e too; a double-encoded
        # %252e%252e stays a literal name), so no URL names a path above the folder; a symlink inside it still
        # may point anywhere, so what resolves outside the folder is not found.
        root = os.path.realpath(self.directory)
        path = self.translate_path(self.path)
        if "\0" in path:  # %00: no file has such a name, and os functions raise on it
            self.send_error(http.HTTPStatus.BAD_REQUEST, "NUL in path")
            return None
        path = os.path.realpath(path)
        if path != root and not path.startswith(root + os.sep):
            self.send_error(http.HTTPStatus.NOT_FOUND, "File not found")
            return None
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")  # the browser takes the MIME types above as sent
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(directory, host="127.0.0.1", port=8000, quiet=True):
    """A threading HTTP server for ``directory``; call ``serve_forever()`` (port 0 picks a free port).

    >>> server = make_server("site", port=0)
    >>> url = server_url(server)     # 'http://127.0.0.1:PORT/'
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"no such folder: {directory}")
    handler = type("Handler", (StaticHandler,), {"quiet": quiet})
    try:
        return http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another with --port") from None


def server_url(server):
    """``http://HOST:PORT/`` of a server from ``make_server``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def check_bundles(directory):
    """The damaged pyml bundles under ``directory``, as ``[(folder, reason)]``, so they are named now, not in the
    browser; the good ones, and the rest of the folder, are served all the same.

    A bundle is a folder whose model.json says ``"format": "pyml-bundle"``; other model.json files
    (a TensorFlow.js model, say) are left alone.
    """
    from webexport import load_bundle

    bad = []
    for manifest in sorted(Path(directory).glob("**/model.json")):
        try:
            if '"pyml-bundle"' in manifest.read_text(errors="replace"):
                load_bundle(str(manifest.parent))
        except Exception as exc:  # whatever one bundle does wrong must not stop the others being served
            bad.append((manifest.parent, _one_line(exc)))
    return bad


def serve(directory, host="127.0.0.1", port=8000, quiet=True):
    """Serve ``directory`` until Ctrl-C (or SIGTERM); prints the URL first."""
    server = make_server(directory, host, port, quiet)
    print(f"Serving {directory} at {server_url(server)}  (Ctrl-C stops)", flush=True)
    # Both signals stop it, also when it was started with SIGINT ignored (a background job of a script).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve_command(args):
    """``pyml serve DIR``: check the bundles under DIR, then serve it."""
    if Path(args.directory).is_dir():
        for folder, reason in check_bundles(args.directory):
            print(f"pyml serve: warning: bad bundle in {folder} (its page will refuse it): {reason}", file=sys.stderr,
                  flush=True)
    return serve(args.directory, args.host, args.port, quiet=not args.verbose)


# ---- pyml demo --------------------------------------------------------------------------------
def load_demo(name):
    """Import ``demos/<name>/train.py`` from the source tree (demos ship with the repository, not the wheel)."""
    path = DEMOS_DIR / name / "train.py"
    if not path.is_file():
        raise UserError(f"demo {name!r} is not in {DEMOS_DIR}; the demos need a source checkout "
                        "(git clone, then pip install -e '.[demos]')")
    spec = importlib.util.spec_from_file_location(f"pyml_demo_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_command(args):
    """``pyml demo NAME``: build the demo into ``--out``, then serve it (unless ``--no-serve``)."""
    demo = load_demo(args.name)
    out = Path(args.out or Path("build") / f"{args.name}-demo")
    options = {"seed": args.seed}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    demo.build_demo(out, **options)
    if args.no_serve:
        print(f"Demo written to {out}/; serve it with: pyml serve {out}")
        return 0
    return serve(out, args.host, args.port)


# ---- entry point --------------------------------------------------------------------------------
def launch_command(args):
    from pyml.distribute import launch

    try:
        return launch.launch(args.ranks, args.script, args.script_args, shlex.split(args.mpiexec_args))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc


def build_parser():
    """The argparse parser of ``pyml`` and its subcommands (export, serve, demo)."""
    from pyml import __version__

    parser = argparse.ArgumentParser(
        prog="pyml", description="Train in Python, run in the browser: export pyml models to WebGPU bundles.")
    parser.add_argument("--version", action="version", version=f"pyml {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    export = commands.add_parser("export", help="compile a saved model into a web bundle folder",
                                 description="Compile a saved model (model.save('x.pyml')) into OUT_DIR: "
                                             "model.json + weights.bin + runtime/.")
    export.add_argument("model_path", metavar="MODEL_PATH", help="a model saved with model.save(...)")
    export.add_argument("out_dir", metavar="OUT_DIR", help="the bundle folder to write (replaced if it exists)")
    export.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="fix the batch size (default: any batch size at run time)")
    export.add_argument("--weights", choices=sorted(WEIGHT_TIERS), default="f32",
                        help="how weight matrices are stored: f32 (exact), f16 (half the bytes) or int8 (a quarter, "
                             "per-channel scales); the runtime widens them to float32")
    export.add_argument("--input-shape", default=None, metavar="DIMS",
                        help="one sample's shape, without the batch axis, e.g. 64 or 8,8,1 "
                             "(default: the model's own input shape)")
    export.add_argument("--sequence-length", type=int, default=None, metavar="N",
                        help="the steps N of inputs declared with a variable length (Input(shape=(None, ...))); the "
                             "bundle takes N steps, or 1 to N where the model masks its padding")
    export.add_argument("--app", action="store_true",
                        help="make OUT_DIR an installable offline web app: the bundle in OUT_DIR/model, a page that runs "
                             "it on a form of its inputs, a web app manifest, icons and a service worker that caches "
                             "everything (a new export replaces the cache whole)")
    export.add_argument("--train", action="store_true",
                        help="also export the training step with the model's compiled loss and optimizer, so the page "
                             "can fine-tune it (model.trainStep, fit, saveWeights)")
    export.set_defaults(run=export_command)

    serve_parser = commands.add_parser("serve", help="serve a folder over HTTP (for bundles and demo pages)")
    serve_parser.add_argument("directory", metavar="DIR")
    serve_parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    serve_parser.add_argument("--host", default="127.0.0.1",
                              help="default 127.0.0.1 (WebGPU needs a secure context: localhost or https)")
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    serve_parser.set_defaults(run=serve_command)

    demo = commands.add_parser("demo", help="build and serve a demo", description="Demos: " + "; ".join(
        f"{name}: {text}" for name, text in DEMOS.items()))
    demo.add_argument("name", choices=sorted(DEMOS), metavar="NAME", help=", ".join(sorted(DEMOS)))
    demo.add_argument("--out", default=None, metavar="DIR", help="where to write it (default: build/NAME-demo)")
    demo.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default: the demo's)")
    demo.add_argument("--seed", type=int, default=0, help="random seed for the split and the weights")
    demo.add_argument("--no-serve", action="store_true", help="build only; do not start the server")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--host", default="127.0.0.1")
    demo.set_defaults(run=demo_command)

    launch = commands.add_parser("launch", help="run a training script on N MPI ranks (pyml.distribute)",
                                 description="Run SCRIPT on N ranks with the mpiexec next to this Python "
                                             "(pip install 'pyml[distributed]'). Extra mpiexec options, e.g. "
                                             "-f hostfile, go in --mpiexec-args.")
    launch.add_argument("-n", "--ranks", type=int, required=True, metavar="N", help="the number of processes")
    launch.add_argument("--mpiexec-args", default="", metavar="ARGS",
                        help="options passed to mpiexec before -n, e.g. '-f hostfile'")
    launch.add_argument("script", metavar="SCRIPT")
    launch.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS")
    launch.set_defaults(run=launch_command)
    return parser


def _one_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def main(argv=None):
    """Run the ``pyml`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    for option in ("batch_size", "sequence_length"):
        if getattr(args, option, None) is not None and getattr(args, option) <= 0:
            print(f"pyml {args.command}: error: --{option.replace('_', '-')} must be positive. "
                  f"Received: {getattr(args, option)}", file=sys.stderr)
            return EXIT_USAGE
    try:
        return args.run(args)
    except UserError as exc:
        message = str(exc)
    except KeyboardInterrupt:
        print(f"pyml {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a model or bundle pyml refuses: the message names the file and field
        if os.environ.get("PYML_DEBUG"):
            raise
        message = f"{_one_line(exc)} (PYML_DEBUG=1 shows the traceback)"
    print(f"pyml {args.command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

"""The embedding examples: the digits model in a plain page, and as an installable offline app.

    $ pyml demo embed                                   # builds build/embed-demo/ and serves it
    $ python demos/embed/train.py --out site            # the same, without the server

The output folder:

    digits.pyml       the model of the digits demo (demos/digits/train.py trains it)
    model/            its web bundle (model.json, weights.bin, runtime/), for the pages beside it
    index.html        the plain page: five lines of JavaScript load the bundle and predict one digit
    *.html, *.js      the other pages of this folder (each one an example of one way to embed the model)
    app/              the offline app that `pyml export digits.pyml app --app` writes: a page with a form for
                      the model's 64 inputs, a web app manifest and a service worker (webexport.app)
"""
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPOCHS = 20


def page_files():
    """The example pages checked in beside this script (everything but this script and caches)."""
    return sorted(p.name for p in HERE.iterdir() if p.is_file() and p.suffix in (".html", ".js", ".css"))


def build_demo(out, epochs=EPOCHS, seed=0, log=print):
    """Train the digits model, export its bundle and its offline app, and copy the pages into ``out``."""
    import webexport
    from pyml.cli import load_demo

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, _, accuracy = load_demo("digits").train(epochs, seed)
    log(f"trained the digits model for {epochs} epochs: test accuracy {accuracy:.1%}")
    model.save(str(out / "digits.pyml"))
    webexport.export(model, out / "model")
    webexport.export(model, out / "app", app="pyml digits")
    for name in page_files():
        shutil.copyfile(HERE / name, out / name)
    log(f"wrote {out}/: digits.pyml, model/ (web bundle), {', '.join(page_files())}, app/ (the offline app)")
    return {"model": model, "accuracy": accuracy, "out": out}


if __name__ == "__main__":  # the same as `pyml demo embed --no-serve [--out DIR] [--epochs N] [--seed N]`
    from pyml.cli import main

    sys.exit(main(["demo", "embed", "--no-serve", *sys.argv[1:]]))

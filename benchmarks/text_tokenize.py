"""Strings per second turned into ids by ``TextVectorization`` (int mode, words, 64 ids per string): pyml in
Python and ``web/src/text.js`` in headless Chromium, beside the floor of a pure-Python tokenizer
(``lower`` + ``translate`` + ``split`` + ``dict.get``, none of the exact rules) on the same strings.

The corpus: the first 20,000 non-empty lines of the Python standard library's sources (local, nothing
downloaded), the vocabulary adapted on them (20,000 tokens). Every side sees the same batches of 1,024
strings; the median of ``--rounds`` timings is reported.

    python benchmarks/text_tokenize.py [--rounds 5] [--lines 20000]
"""
import argparse
import statistics
import string
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

import common  # noqa: F401  (puts the repository root on sys.path)
from pyml.layers import TextVectorization
from tests.browser.harness import CHROMIUM_ARGS, StaticServer, find_chromium

BATCH, LENGTH = 1024, 64


def corpus(lines):
    found = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                found.append(line)
                if len(found) == lines:
                    return found
    return found


def median_seconds(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_tokenizer(vocabulary):
    """The least a Python tokenizer does: ASCII-lower, strip punctuation, split, look up, pad."""
    index = {t: i for i, t in enumerate(vocabulary)}
    table = str.maketrans("", "", string.punctuation)

    def run(batch):
        out = np.zeros((len(batch), LENGTH), np.int32)
        for row, text in enumerate(batch):
            ids = [index.get(t, 1) for t in text.lower().translate(table).split()][:LENGTH]
            out[row, :len(ids)] = ids
        return out

    return run


PAGE = """async ([entry, batches, rounds]) => {
    const text = await import("/runtime/text.js");
    text.tokenize([entry], 0, batches[0]);  // warm: the vocabulary's Map is built once
    const times = [];
    for (let r = 0; r < rounds; r++) {
        const start = performance.now();
        for (const batch of batches) text.tokenize([entry], 0, batch);
        times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)] / 1000;
}"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lines", type=int, default=20_000)
    args = parser.parse_args()
    lines = corpus(args.lines)
    batches = [lines[i:i + BATCH] for i in range(0, len(lines), BATCH)]
    layer = TextVectorization(max_tokens=20_000, output_sequence_length=LENGTH)
    adapt_seconds = median_seconds(lambda: layer.adapt(lines), 1)
    pyml_seconds = median_seconds(lambda: [layer(b) for b in batches], args.rounds)
    floor = floor_tokenizer(layer.get_vocabulary())
    floor_seconds = median_seconds(lambda: [floor(b) for b in batches], args.rounds)
    entry = {"name": "x", "shape": [None, LENGTH], "dtype": "int32",
             "text": {**layer.text_spec(), "input_shape": [None]}}
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        server = StaticServer(Path(tmp)).start()
        try:
            server.install_runtime()
            (Path(tmp) / "blank.html").write_text("<!doctype html><title>text</title>")
            browser = playwright.chromium.launch(executable_path=find_chromium(playwright), headless=True,
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(server.url("blank.html"))
            js_seconds = page.evaluate(PAGE, [entry, batches, args.rounds])
            browser.close()
        finally:
            server.stop()
    n = len(lines)
    rows = [["pyml TextVectorization (Python)", round(n / pyml_seconds), common.ratio(pyml_seconds, floor_seconds)],
            ["pyml text.js (Chromium)", round(n / js_seconds), common.ratio(js_seconds, floor_seconds)],
            ["floor: lower + split + dict (Python)", round(n / floor_seconds), "1.00x"]]
    common.print_table(f"strings per second, {n} lines, batches of {BATCH}, {LENGTH} ids each "
                       f"(adapt: {adapt_seconds:.2f} s)", ["tokenizer", "strings/s", "time vs floor"], rows,
                       notes=[common.machine_summary()])


if __name__ == "__main__":
    main()

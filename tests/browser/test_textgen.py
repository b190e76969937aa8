"""The textgen demo in Chromium: a tiny version of it is built with build_demo (the full training runs only in
`pyml demo textgen`), then

- its bundle, fed strings, tokenizes them as Python's TextVectorization does and predicts the next-character
  probabilities of every position like the Python model (≤ 1e-4 max abs, 32 time steps, batch 1 and 7) on
  WebGPU, WebAssembly and plain JavaScript;
- its page, driven like a user (type a prompt, move the sliders, press Generate or Stop), writes at
  temperature 0 exactly Python's greedy continuation of the same prompt, shows the backend, why it was
  chosen and the time per character, draws the same text again for the same seed and another for another seed.
Screenshots land in the test's tmp_path."""
import numpy as np
import pytest

from pyml.cli import load_demo
from tests.test_textgen_demo import TINY, TINY_EPOCHS

TOLERANCE = 1e-4
LENGTH = 20  # the length slider's minimum: the greedy runs below draw this many characters
LONG_PROMPT = "class Wrapper:\n    def __init__(self, width=70, **options):\n        self."  # > the window of 32
PREDICT_STRINGS = """async ([runtimeUrl, modelUrl, backend, strings]) => {
  const { loadModel } = await import(runtimeUrl);
  const model = await loadModel(modelUrl, { backend });
  const ids = await model.tokenize(strings);
  const batch = await model.predict(strings);
  const one = await model.predict([strings[0]]);
  model.dispose();
  return { ids: Array.from(ids.data), idsShape: ids.shape, batch: Array.from(batch.data), shape: batch.shape,
           one: Array.from(one.data), backend: model.info.backend };
}"""


@pytest.fixture(scope="module")
def site(web_server):
    """The demo, trained tiny, written under the test server's root as `pyml demo textgen` writes it."""
    demo = load_demo("textgen")
    out = web_server.path("textgen-demo")
    built = demo.build_demo(out, epochs=TINY_EPOCHS, log=lambda *_: None, **TINY)
    model = built["model"]
    return {"demo": demo, "model": model, "text": built["text"], "vocabulary": model.layers[0].get_vocabulary(),
            "T": TINY["sequence_length"], "url": web_server.url("textgen-demo/index.html"),
            "bundle": web_server.url("textgen-demo/model/model.json"),
            "runtime": web_server.url("textgen-demo/model/runtime/index.js")}


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_bundle_tokenizes_and_predicts_strings_like_python(site, harness, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    text, T = site["text"], site["T"]
    strings = [text[i:i + T] for i in (0, 1000, 5555, 12_345)] + [
        "def ",                                   # short: padded on the right
        "naïve → 🐍 «quotes»\ttab",               # characters outside the vocabulary: [UNK]
        text[20_000:20_000 + 2 * T],              # longer than the window: cut to its first T characters
    ]
    result = harness.evaluate(PREDICT_STRINGS, [site["runtime"], site["bundle"], backend, strings])
    assert result["backend"] == backend
    model = site["model"]
    expected_ids = np.asarray(model.layers[0](strings))
    assert result["idsShape"] == [len(strings), T]
    assert np.array_equal(np.array(result["ids"]).reshape(len(strings), T), expected_ids)
    expected = np.asarray(model.predict(np.array(strings, dtype=object), verbose=0))
    V = len(site["vocabulary"])
    assert result["shape"] == [len(strings), T, V]
    assert np.abs(np.array(result["batch"]).reshape(expected.shape) - expected).max() <= TOLERANCE
    assert np.abs(np.array(result["one"]).reshape(1, T, V) - expected[:1]).max() <= TOLERANCE


def open_demo(page, site, backend):
    """Open the page with ``?backend=`` and wait for the model; checks the status names the backend and why."""
    page.goto(f"{site['url']}?backend={backend or 'auto'}")
    page.wait_for_function("window.pymlTextgen && (window.pymlTextgen.ready || window.pymlTextgen.error)")
    state = page.evaluate("({error: pymlTextgen.error, backend: pymlTextgen.backend, reason: pymlTextgen.reason,"
                          " loadMs: pymlTextgen.loadMs, T: pymlTextgen.sequenceLength, vocabulary: pymlTextgen.vocabulary})")
    assert state["error"] is None, state["error"]
    assert state["backend"] == (backend or "wasm")  # auto: the CPU here, since the WebGPU adapter is SwiftShader
    assert state["T"] == site["T"] and state["vocabulary"] == site["vocabulary"]
    status = page.locator("#status").inner_text()
    assert f"loaded in {state['loadMs']} ms" in status
    assert {"webgpu": "WebGPU", "wasm": "CPU (WebAssembly SIMD)", "js": "CPU (plain JavaScript)"}[state["backend"]] in status
    assert state["reason"] and state["reason"] in page.locator("#reason").inner_text()
    return state


def set_slider(page, name, value):
    page.get_by_label(name).fill(str(value))


def generate(page):
    """Press Generate and wait for the text; returns what the page shows as generated."""
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function("!window.pymlTextgen.running")
    page.evaluate("window.pymlTextgen.idle()")
    shown = page.locator("#text-generated").inner_text()
    assert shown == page.evaluate("pymlTextgen.generated")
    return shown


@pytest.mark.parametrize("backend, prompt", [("webgpu", LONG_PROMPT), ("wasm", "    def "), ("js", "")])
def test_temperature_zero_writes_pythons_greedy_continuation(site, page, backend, prompt, tmp_path):
    open_demo(page, site, backend)
    page.get_by_role("textbox", name="Prompt").fill("")
    page.get_by_role("textbox", name="Prompt").press_sequentially(prompt)  # typed, key by key
    page.get_by_label("Temperature").focus()
    page.keyboard.press("Home")  # the slider's minimum, 0: argmax
    assert page.locator("#temperature-value").inner_text() == "0.00"
    page.get_by_label("Length").focus()
    page.keyboard.press("Home")
    assert page.locator("#length-value").inner_text() == str(LENGTH)
    generated = generate(page)
    page.screenshot(path=str(tmp_path / f"greedy-{backend}.png"))

    demo, model = site["demo"], site["model"]
    assert generated == demo.generate(model, prompt, LENGTH)
    assert set(generated) <= set(site["vocabulary"][2:])
    assert page.locator("#text-prompt").inner_text() == prompt
    # The last step's input and softmax, against Python's for the same text.
    state = page.evaluate("({input: pymlTextgen.input, probabilities: pymlTextgen.probabilities, ms: pymlTextgen.msPerChar})")
    before_last = (prompt or "\n") + generated[:-1]
    window = before_last[-site["T"]:]
    assert state["input"] == np.asarray(model.layers[0]([window]))[0].tolist()
    expected = demo.next_probabilities(model, before_last)
    assert np.abs(np.array(state["probabilities"]) - expected).max() <= TOLERANCE
    assert state["ms"] > 0
    assert f"{LENGTH} characters · {state['ms']:.1f} ms per character on {backend}" == page.locator("#stats").inner_text()
    # The chart's top bar is the character drawn last.
    top = page.locator("#bars li").first
    assert int(top.get_attribute("data-id")) == site["vocabulary"].index(generated[-1])
    assert "top" in top.get_attribute("class")


def test_seed_and_temperature_decide_the_sampled_text(site, page, tmp_path):
    open_demo(page, site, None)
    page.get_by_role("textbox", name="Prompt").fill("def ")
    set_slider(page, "Temperature", 1)
    assert page.locator("#temperature-value").inner_text() == "1.00"
    set_slider(page, "Length", 60)
    page.get_by_label("Seed").fill("1")
    first = generate(page)
    assert len(first) == 60 and set(first) <= set(site["vocabulary"][2:])
    assert generate(page) == first, "the same seed and settings drew another text"
    page.get_by_label("Seed").fill("2")
    assert generate(page) != first
    greedy = site["demo"].generate(site["model"], "def ", 60)
    assert first != greedy
    set_slider(page, "Temperature", 0)
    page.get_by_role("textbox", name="Prompt").press("Control+Enter")  # the keyboard shortcut generates too
    page.wait_for_function("!pymlTextgen.running && pymlTextgen.generated.length === 60")
    assert page.locator("#text-generated").inner_text() == greedy
    page.screenshot(path=str(tmp_path / "sampled.png"))


def test_stop_ends_a_long_generation(site, page):
    open_demo(page, site, "wasm")
    set_slider(page, "Length", 1000)
    page.get_by_role("button", name="Generate").click()
    page.wait_for_function("pymlTextgen.generated.length >= 5")
    page.get_by_role("button", name="Stop").click()
    page.evaluate("window.pymlTextgen.idle()")
    generated = page.evaluate("pymlTextgen.generated")
    assert 5 <= len(generated) < 1000
    assert page.get_by_role("button", name="Generate").is_enabled()
    assert page.locator("#stats").inner_text().startswith(f"{len(generated)} characters")

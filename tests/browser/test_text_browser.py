"""Text in the browser: web/src/text.js turns strings into the same ids, vectors and errors as the Python layers
(``TextVectorization``, ``StringLookup``) on a corpus of tricky strings, for every output mode; its validator
refuses the same damaged ``inputs[i].text`` fields as ``webexport``'s, naming the same field; a model
TextVectorization → Embedding → GlobalAveragePooling1D → Dense predicts the same from raw strings on WebGPU and
both CPU backends; and a page whose bundle has no text input never downloads text.js.

Strings cross to the page as UTF-16 code units, so a lone surrogate arrives as itself; the Python string is the
same code units decoded with ``surrogatepass`` (a pair is then one astral code point, as in JavaScript)."""
import numpy as np
import pytest

import pyml
from pyml.layers import StringLookup, TextVectorization
from tests.browser.harness import open_harness_page
from webexport import BundleError, export
from webexport.text import check_text

LONG = " ".join(["Lorem", "ipsum,", "DOLOR", "sit", "amet!", "😀", "naïve"] * 15_000)[:100_000]
CORPUS = [
    "",
    "Hello, World!",
    "  leading and trailing  \t\n",
    "tabs\tand\nnewlines\r\nvt\x0bff\x0cend",
    "nbsp\u00a0inside and\u2003em\u3000ideographic\u2028line",
    "\x1c\x1d\x1e\x1f separators \x85 next-line",
    "İstanbul ΣΊΣΥΦΟΣ ÇAY Straße ǅ ＦＵＬＬＷＩＤＴＨ",
    "café cafe\u0301 e\u0301\u0301",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flag 🇫🇷 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "punctuation!!! runs...,,, --- (a)[b]{c} \"quoted\" 'single' back`tick` ~x~ @#$%^&*_+=|\\/<>?;:",
    "unicode — “curly” ‘quotes’ … ¡hola! ¿qué?",
    "zzzz qqqq xxxx",
    "lone \ud800 high and \udc00 low and pair \ud83d\ude00",
    "@AZ[`az{ boundaries",
    "\x00nul\x00 inside\x00",
    "中文字符 日本語 한국어",
    "the the the cat cat dog",
    LONG,
]
# What each JS string is, as a Python str: its code units decoded with surrogatepass.
STRINGS = [s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass") for s in CORPUS]
ADAPT = STRINGS[1:12] + ["the cat sat on the mat", "The dog ate the cat's food."] * 3

TEXT_CASES = [  # (id, TextVectorization arguments, rank of the strings: 1 = (batch,), 2 = (batch, 1))
    ("words-int", dict(max_tokens=40, output_sequence_length=16), 1),
    ("words-multi-hot", dict(max_tokens=40, output_mode="multi_hot"), 1),
    ("words-count-padded", dict(max_tokens=40, output_mode="count", pad_to_max_tokens=True), 2),
    ("words-tf-idf", dict(output_mode="tf_idf"), 1),
    ("characters-int", dict(split="character", output_sequence_length=48), 1),
    ("characters-count", dict(split="character", output_mode="count"), 1),
    ("bigrams-int", dict(ngrams=2, output_sequence_length=30), 1),
    ("ngrams-1-3-multi-hot", dict(ngrams=(1, 3), output_mode="multi_hot"), 1),
    ("lower-only", dict(standardize="lower", output_sequence_length=12), 1),
    ("strip-only", dict(standardize="strip_punctuation", output_sequence_length=12), 1),
    ("no-standardize", dict(standardize=None, output_sequence_length=12), 2),
    ("whole-strings", dict(split=None), 2),
    ("whole-strings-padded", dict(split=None, standardize=None, output_sequence_length=3), 1),
]


def units(text):
    """``text`` as UTF-16 code units: what a JS string holding it is."""
    return np.frombuffer(text.encode("utf-16-le", "surrogatepass"), "<u2").tolist()


def entry(layer, raw):
    """The manifest ``inputs`` entry export writes for ``layer`` on strings of shape ``raw`` (batch first)."""
    out = layer.output_spec(tuple(raw))
    return {"name": "x", "shape": list(out.shape), "dtype": out.dtype,
            "text": {**layer.text_spec(), "input_shape": list(raw)}}


def shaped(strings, rank):
    return [[s] for s in strings] if rank == 2 else list(strings)


# The page rebuilds each string from its code units (in chunks: fromCharCode takes a bounded argument count).
TOKENIZE = """async (jobs) => {
    const text = await import("/runtime/text.js");
    const fromUnits = (u) => {
        let s = "";
        for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode(...u.slice(i, i + 8192));
        return s;
    };
    const rebuild = (v) => (v.length && Array.isArray(v[0]) ? v.map(rebuild) : fromUnits(v));
    return jobs.map(({ entry, strings }) => {
        try {
            text.validateText({ inputs: [entry] });
            const out = text.tokenize([entry], 0, strings.map(rebuild));
            return { data: Array.from(out.data), shape: out.shape, dtype: out.dtype };
        } catch (e) { return { error: e.message }; }
    });
}"""


def tokenize_in_page(page, jobs):
    wire = [{"entry": e, "strings": [units(s) if isinstance(s, str) else [units(t) for t in s] for s in strings]}
            for e, strings in jobs]
    return page.evaluate(TOKENIZE, wire)


def test_tokenize_gives_the_python_ids_and_vectors_for_every_mode(page):
    """Every case, on every corpus string (one batch), gives exactly the Python layer's output: same shape,
    dtype and values (float32 counts and tf_idf products bit for bit)."""
    jobs, expected = [], []
    for name, kwargs, rank in TEXT_CASES:
        layer = TextVectorization(**kwargs)
        layer.adapt(ADAPT)
        batch = shaped(STRINGS, rank)
        expected.append((name, layer(np.array(batch, dtype=object)).numpy()))
        jobs.append((entry(layer, [None] * rank if rank == 1 else [None, 1]), batch))
    results = tokenize_in_page(page, jobs)
    for (name, want), got in zip(expected, results):
        assert "error" not in got, f"{name}: {got['error']}"
        assert got["shape"] == list(want.shape) and got["dtype"] == want.dtype.name, (name, got["shape"], want.shape)
        data = np.array(got["data"], want.dtype).reshape(want.shape)
        rows = [i for i in range(len(want)) if not np.array_equal(data[i], want[i])]
        assert not rows, f"{name}: rows {rows} differ, e.g. {CORPUS[rows[0]][:60]!r}: JS {data[rows[0]][:20]} " \
                         f"Python {want[rows[0]][:20]}"


def test_tokenize_one_string_at_a_time_matches_the_batch(page):
    """A single string is a batch of one, with the same ids as in the whole batch (no batch-wide state)."""
    layer = TextVectorization(output_sequence_length=10)
    layer.adapt(ADAPT)
    e = entry(layer, [None])
    results = tokenize_in_page(page, [(e, [s]) for s in STRINGS[:8]])
    want = layer(np.array(STRINGS[:8], dtype=object)).numpy()
    for i, got in enumerate(results):
        assert got["shape"] == [1, 10] and got["data"] == want[i].tolist(), (CORPUS[i], got)


def test_string_lookup_with_a_mask_and_bags_of_words(page):
    """StringLookup: int mode with a mask token (index 0) and multi_hot / count over rows of terms (the mask is
    dropped there), adapted on the corpus's words (ties ranked by code point, highest first)."""
    rows = [(s.split(" ") + ["", "", ""])[:3] for s in STRINGS[:-1]]
    jobs, expected = [], []
    for mode in ("int", "multi_hot", "count"):
        layer = StringLookup(mask_token="", output_mode=mode)
        layer.adapt(np.array(rows, dtype=object))
        expected.append((mode, layer(np.array(rows, dtype=object)).numpy()))
        jobs.append((entry(layer, [None, 3]), rows))
    for (mode, want), got in zip(expected, tokenize_in_page(page, jobs)):
        assert "error" not in got, f"{mode}: {got['error']}"
        np.testing.assert_array_equal(np.array(got["data"], want.dtype).reshape(got["shape"]), want, err_msg=mode)


def test_out_of_vocabulary_without_oov_indices_is_an_error_on_both_sides(page):
    layer = StringLookup(vocabulary=["a", "b"], num_oov_indices=0)
    with pytest.raises(ValueError, match="out-of-vocabulary values \\['zz'\\]"):
        layer(np.array([["a", "zz"]], dtype=object))
    (got,) = tokenize_in_page(page, [(entry(layer, [None, 2]), [["a", "zz"]])])
    assert '"zz" is not in the vocabulary' in got["error"], got


def test_tokenize_refuses_what_is_not_strings(page):
    layer = TextVectorization(vocabulary=["a"], output_sequence_length=2)
    messages = page.evaluate("""async (e) => {
        const text = await import("/runtime/text.js");
        return [[1, 2], [["a", "b"]], [], [["a"], "b"]].map((v) => {
            try { text.tokenize([e], 0, v); return null; } catch (err) { return err.message; }
        });
    }""", entry(layer, [None]))
    assert "an array holding number 1" in messages[0], messages
    assert "expected strings of shape [batch]. Received: shape [1,2]" in messages[1], messages
    assert "Received: an array of 0" in messages[2], messages
    assert messages[3] is not None, messages


def _set(key, value):
    def change(text):
        text[key] = value
    return change


# (case, change to a words-int TextVectorization's text field, the field both messages must name)
DAMAGED = [
    ("standardize", _set("standardize", "upper"), "inputs[0].text.standardize"),
    ("split", _set("split", "sentences"), "inputs[0].text.split"),
    ("output-mode", _set("output_mode", "one_hot"), "inputs[0].text.output_mode"),
    ("ngrams", _set("ngrams", [0]), "inputs[0].text.ngrams"),
    ("vocabulary-number", _set("vocabulary", ["", "[UNK]", 3]), "inputs[0].text.vocabulary"),
    ("vocabulary-repeat", lambda t: t["vocabulary"].append(t["vocabulary"][-1]), "inputs[0].text.vocabulary"),
    ("token-start", _set("token_start", 99), "inputs[0].text.token_start"),
    ("mask", _set("mask_token", "[PAD]"), "inputs[0].text.mask_token"),
    ("oov", _set("oov_index", 5), "inputs[0].text.oov_index"),
    ("length", _set("output_sequence_length", 0), "inputs[0].text.output_sequence_length"),
    ("input-shape", _set("input_shape", [None, 2]), "inputs[0].text.input_shape"),
    ("depth-in-int-mode", _set("depth", 7), "inputs[0].text.depth"),
    ("shape-mismatch", _set("output_sequence_length", 5), "inputs[0].text gives ids of shape"),
    ("not-an-object", None, "inputs[0].text must be an object"),
]


def test_python_and_js_refuse_the_same_damaged_text_fields(page):
    layer = TextVectorization(output_sequence_length=6)
    layer.adapt(ADAPT)
    cases = []
    for name, change, field in DAMAGED:
        e = entry(layer, [None])
        if change is None:
            e["text"] = ["not", "an", "object"]
        else:
            change(e["text"])
        cases.append((name, {"inputs": [e]}, field))
    tf_idf = TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(ADAPT)
    bad_idf = entry(tf_idf, [None])
    bad_idf["text"]["idf_weights"] = bad_idf["text"]["idf_weights"][:-1]
    cases.append(("idf-length", {"inputs": [bad_idf]}, "inputs[0].text.idf_weights"))
    verdicts = page.evaluate("""async (manifests) => {
        const { validateText } = await import("/runtime/text.js");
        return manifests.map((m) => { try { validateText(m); return null; } catch (e) { return e.message; } });
    }""", [m for _, m, _ in cases])
    problems = []
    for (name, manifest, field), js in zip(cases, verdicts):
        try:
            check_text(manifest, lambda f, message: (_ for _ in ()).throw(BundleError(f"model.json: {f} {message}")))
            py = None
        except BundleError as exc:
            py = str(exc)
        if py is None or field not in py:
            problems.append(f"{name}: Python {py!r}")
        if js is None or field not in js:
            problems.append(f"{name}: JS {js!r}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def classifier(web_server):
    """TextVectorization → Embedding → GlobalAveragePooling1D → Dense, trained briefly on strings, exported."""
    pyml.random.set_random_seed(3)
    texts = np.array(["a great film", "truly great", "awful plot", "boring and awful", "great great fun",
                      "dull, awful"] * 4, dtype=object)
    labels = np.array([1, 1, 0, 0, 1, 0] * 4)
    vectorize = TextVectorization(max_tokens=30, output_sequence_length=8)
    vectorize.adapt(texts)
    model = pyml.Sequential([pyml.Input(shape=(1,), dtype="string"), vectorize, pyml.layers.Embedding(30, 8),
                             pyml.layers.GlobalAveragePooling1D(), pyml.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(texts.reshape(-1, 1), labels, epochs=3, batch_size=8, verbose=0)
    export(model, web_server.path("text-tests/classifier"))
    return model, web_server.url("text-tests/classifier/model.json")


PREDICT = """async ([url, backend, batches]) => {
    const { loadModel } = await import("/runtime/index.js");
    const m = await loadModel(url, { backend });
    try {
        const outputs = [];
        for (const strings of batches) outputs.push(Array.from((await m.predict(strings)).data));
        const ids = await m.tokenize(batches[0]);
        return { backend: m.info.backend, outputs, ids: { data: Array.from(ids.data), shape: ids.shape } };
    } finally { m.dispose(); }
}"""


@pytest.mark.parametrize("backend", ["webgpu", "wasm", "js"])
def test_classifier_predicts_from_raw_strings_as_python(harness, classifier, backend):
    if backend == "webgpu":
        harness.require_webgpu()
    model, url = classifier
    batches = [[[s] for s in STRINGS[:12]], [["A GREAT film!!"]], [["awful"], ["dull dull dull"]]]
    result = harness.evaluate(PREDICT, [url, backend, batches])
    assert result["backend"] == backend
    for strings, got in zip(batches, result["outputs"]):
        want = model.predict(np.array(strings, dtype=object), verbose=0)
        np.testing.assert_allclose(np.array(got, np.float32).reshape(want.shape), want, rtol=1e-5, atol=1e-6)
    ids = model.layers[0](np.array(batches[0], dtype=object)).numpy()
    assert result["ids"]["shape"] == list(ids.shape) and result["ids"]["data"] == ids.reshape(-1).tolist()


def test_a_page_fetches_text_js_only_for_a_bundle_with_text(browser, web_server, classifier):
    """A numeric bundle never downloads the text module (the WebGPU page's gzip budget counts what it fetches)."""
    numeric = web_server.path("text-tests/numeric")
    export(pyml.graph.trace(lambda x: pyml.ops.tanh(x), [((None, 3), "float32")]), numeric)
    fetched = {}
    for name, url, x in (("numeric", web_server.url("text-tests/numeric/model.json"), [[0.5, 1.0, 2.0]]),
                         ("text", classifier[1], ["a great film"])):
        page, _ = open_harness_page(browser, web_server)
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.evaluate("""async ([url, x]) => {
            const m = await harness.runtime.loadModel(url, { backend: "js" });
            await m.predict(x);
            m.dispose();
        }""", [url, x])
        fetched[name] = any(u.endswith("/text.js") for u in requests)
        page.close()
    assert fetched == {"numeric": False, "text": True}

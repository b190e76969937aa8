"""The bundle-loader fuzz harness (tests/fuzz/bundles.py) in Chromium: the same seeded mutations of real bundles,
served to ``loadModel`` from memory (the page's ``fetch`` answers /fuzz/… from the cases), on the WebGPU and the
WebAssembly backends. Each case must reject with an Error whose message names the file or field, or load and
compute the unmutated bundle's outputs on the same backend (max abs diff ≤ 1e-5); a refusal within 2 s, a load
(with SwiftShader compiling the WebGPU pipelines) within 10 s.
CI runs 250 cases per backend (batches of 50 per ``page.evaluate``); ``python scripts/fuzz_bundles.py --browser
--cases 2500`` is the long run."""
import base64
import collections
import random

from tests.browser.harness import encode
from tests.fuzz import bundles

CASES = 250  # per backend
BATCH = 50
TIME_LIMIT_MS = 2000  # a refusal's; a bundle that loads may take longer: SwiftShader compiles its WebGPU pipelines
LOADED_LIMIT_MS = 10_000

_PAGE = """async ([cases, backend, models]) => {
  const files = new Map();
  if (!window.realFetch) window.realFetch = window.fetch;
  window.fetch = async (url, ...rest) => {
    const u = new URL(url, location.href);
    if (!u.pathname.startsWith("/fuzz/")) return window.realFetch(url, ...rest);
    const body = files.get(u.pathname);
    return body ? new Response(body) : new Response("", { status: 404, statusText: "Not Found" });
  };
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const TYPES = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };
  const tensor = ({ b64, shape, dtype }) => ({ data: new TYPES[dtype](bytes(b64).buffer), shape, dtype });
  async function compute(id, fileMap, model) {
    files.clear();
    for (const [name, b64] of Object.entries(fileMap)) files.set(`/fuzz/${id}/${name}`, bytes(b64));
    const loaded = await harness.runtime.loadModel(`/fuzz/${id}/model.json`, { backend });
    try {
      const outputs = await loaded.run(models[model].inputs.map(tensor));
      return outputs.map((o) => ({ data: Array.from(o.data), shape: o.shape }));
    } finally { loaded.dispose(); }
  }
  window.fuzzReference = window.fuzzReference || {};
  const key = (model) => `${backend}/${model}`;
  for (const model of Object.keys(models)) {
    window.fuzzReference[key(model)] ||= await compute(`ref-${model}`, models[model].files, model);
  }
  const results = [];
  for (const c of cases) {
    const started = performance.now();
    let verdict;
    try {
      const out = await compute(c.id, { ...models[c.model].files, ...c.files }, c.model);
      const ref = window.fuzzReference[key(c.model)];
      const close = (v, r) => Math.abs(v - r) <= 1e-5 || (Number.isNaN(v) && Number.isNaN(r));
      const same = out.length === ref.length && out.every((o, k) => JSON.stringify(o.shape) === JSON.stringify(ref[k].shape)
        && o.data.every((v, i) => close(v, ref[k].data[i])));
      verdict = same ? "loaded" : "loaded, and computes other numbers than the unmutated bundle";
    } catch (e) {
      const named = e instanceof Error && /model\\.json|weights|\\.bin|\\/fuzz\\//.test(e.message);
      verdict = named ? "refused" : `a rejection naming no file or field: ${e?.constructor?.name}: ${e?.message}`;
    }
    const ms = performance.now() - started;
    results.push({ seed: c.seed, verdict, ms });
  }
  return results;
}"""


def _wire_models():
    return {name: {"files": {n: base64.b64encode(d).decode() for n, d in seed["files"].items()},
                   "inputs": [encode(x) for x in seed["inputs"]]} for name, seed in bundles.seeds().items()}


def _wire_case(seed, models):
    rng = random.Random(seed)
    model = rng.choice(bundles.MODELS)
    what, files = bundles.mutate(rng, bundles.seeds()[model])
    original = bundles.seeds()[model]["files"]
    changed = {n: base64.b64encode(d).decode() for n, d in files.items() if original.get(n) != d}
    removed = {n: "" for n in original if n not in files}  # an empty body: a file the case dropped
    return {"seed": seed, "id": f"c{seed}", "model": model, "what": what, "files": {**changed, **removed}}


def run_cases(page, seed, cases, backends=("webgpu", "wasm"), case_seeds=None):
    """``(failures, counts)`` of ``cases`` cases from ``seed`` (or of the cases ``case_seeds``, as failures print
    them) on each backend, in batches of BATCH per evaluate."""
    models, failures, counts = _wire_models(), [], collections.Counter()
    case_seeds = case_seeds or [seed * 1_000_003 + i for i in range(cases)]
    for backend in backends:
        for start in range(0, len(case_seeds), BATCH):
            wire = [_wire_case(case_seed, models) for case_seed in case_seeds[start:start + BATCH]]
            what = {c["seed"]: f"{c['model']}/{c['what']}" for c in wire}
            for r in page.evaluate(_PAGE, [wire, backend, models]):
                label = f"{backend} case seed {r['seed']} ({what[r['seed']]})"
                if r["verdict"] not in ("loaded", "refused"):
                    failures.append(f"{label}: {r['verdict']}")
                elif r["verdict"] == "loaded" and what[r["seed"]].split("/")[1] in (
                        "overlap live values", *(["overlap live cpu.values"] if backend == "wasm" else [])):
                    failures.append(f"{label}: loaded a plan with two live values in one buffer")
                elif r["ms"] > (TIME_LIMIT_MS if r["verdict"] == "refused" else LOADED_LIMIT_MS):
                    failures.append(f"{label}: took {r['ms']:.0f} ms")
                else:
                    counts[f"{backend} {r['verdict']}"] += 1
    return failures, counts


def run_in_chromium(seed, cases, case_seeds=None):
    """The long run outside pytest (scripts/fuzz_bundles.py --browser): a browser, a server and a page of its own."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM_ARGS, StaticServer, find_chromium, open_harness_page

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(playwright), headless=True,
                                             args=CHROMIUM_ARGS)
        server = StaticServer(tempfile.mkdtemp(prefix="pyml-fuzz-www-")).start()
        server.install_runtime()
        server.install_harness()
        try:
            page, _ = open_harness_page(browser, server, timeout_ms=600_000)
            return run_cases(page, seed, cases, case_seeds=case_seeds)
        finally:
            server.stop()
            browser.close()


def test_fuzzed_bundles_in_chromium_are_refused_or_compute_the_same_numbers(page, page_errors, harness):
    harness.require_webgpu()
    page_errors.allow(r".")  # a refused bundle may log a failed fetch or a WGSL error; verdicts are checked below
    page.set_default_timeout(300_000)
    failures, counts = run_cases(page, seed=0, cases=CASES)
    assert not failures, "\n".join(failures[:20])
    for backend in ("webgpu", "wasm"):
        assert counts[f"{backend} refused"] > CASES // 2 and counts[f"{backend} loaded"] > 10, counts


def test_every_memory_plan_with_two_live_values_in_one_buffer_is_refused_in_js(page):
    """The JS twin of tests/webexport/test_bundle_fuzz.py's check: every pair of live values of each fuzzed model put
    in one buffer of the WebGPU plan is refused by ``validateManifest``, and of the ``cpu`` plan by
    ``validateCpuPlan`` (what the wasm backend runs first), each naming the plan's field as Python does."""
    import pyml
    from webexport import BundleError
    from webexport.validate import validate_manifest

    cases = bundles.overlaps()
    verdicts = page.evaluate("""async ([manifests, knownOps]) => {
        const { validateManifest } = await import("/runtime/bundle.js");
        const { validateCpuPlan } = await import("/runtime/cpuplan.js");
        return manifests.map(([m, cpu]) => {
            try {
                validateManifest(m, { knownOps });
                if (cpu) validateCpuPlan(m);
                return null;
            } catch (e) { return e.message; }
        });
    }""", [[[m, plan == "cpu"] for _, plan, _, _, m in cases], sorted(pyml.ops.primitives())])
    problems = []
    for (model, plan, a, b, m), js in zip(cases, verdicts):
        try:
            validate_manifest(m)
            python = None
        except BundleError as exc:
            python = str(exc)
        field = python and python.split(" ")[1]
        if js is None or python is None or field not in js:
            problems.append(f"{model} {plan or 'steps'} {a} into {b}'s buffer: JS {js!r}, Python {python!r}")
    assert len(cases) > 200 and not problems, "\n".join(problems[:10])


# Node shapes that disagree with each other or with the weights, each within its slot (so the slot checks pass): the
# wasm kernels' arguments come from these shapes, so each made a kernel run past a tensor before the reach check.
SHAPE_LIES = [
    ("cnn", "v14", [None, 68], r"cpu\.steps\[3\] \(matmul of %v16\) reads weight %w15 \[64, 10\] as 68 x 10"),
    ("stacked_lstm", "c8", [None, 12], r'cpu\.steps\[2\] \(rnn_scan of %v9\) would touch 16 elements of "c8", '
                                       r"which holds 12"),
]

_LOAD = """async ([files, backend]) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const served = new Map(Object.entries(files).map(([name, b64]) => [`/lie/${name}`, bytes(b64)]));
  const realFetch = window.fetch;
  window.fetch = async (url, ...rest) => {
    const body = served.get(new URL(url, location.href).pathname);
    return body ? new Response(body) : realFetch(url, ...rest);
  };
  try {
    (await harness.runtime.loadModel("/lie/model.json", { backend })).dispose();
    return null;
  } catch (e) { return e.message; } finally { window.fetch = realFetch; }
}"""


def test_wasm_refuses_node_shapes_that_would_make_a_kernel_reach_past_a_tensor(page):
    import json
    import re

    for model, name, shape, message in SHAPE_LIES:
        seed = bundles.seeds()[model]
        m = json.loads(seed["files"]["model.json"])
        (node,) = [n for n in m["graph"]["nodes"] if n["name"] == name]
        node["shape"] = shape
        files = {**seed["files"], "model.json": json.dumps(m).encode()}
        refusal = page.evaluate(_LOAD, [{n: base64.b64encode(d).decode() for n, d in files.items()}, "wasm"])
        assert refusal and re.search(message, refusal) and "(shapes that disagree)" in refusal, (model, refusal)

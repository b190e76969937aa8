"""Registry-driven browser parity: every op sample, exported as a one-node bundle, runs in headless
Chromium on WebGPU, on the WebAssembly CPU program (whose ``js`` steps call the JS kernel of an op it has no
wasm kernel for) and on the JS CPU kernels, and matches eager pyml (float32 to 1e-5, ints and bools
exactly). All bundles run in one page session, in one round trip.

Also: the set of primitives without a JS CPU kernel or a WGSL lowering is exactly
``tests.op_samples.NOT_YET_EXPORTABLE``; nothing is skipped silently."""
import re

import pytest

import pyml
import webexport.kernels  # noqa: F401  (registers every WGSL lowering)
from tests.browser.harness import Harness, open_harness_page
from tests.op_samples import NOT_YET_EXPORTABLE, all_samples
from tests.webexport.helpers import assert_matches, eager, one_node_graph
from webexport.export import export
from webexport.kernels.common import LOWERINGS, ExportError

BACKENDS = ["webgpu", "wasm", "js"]
SAMPLES = [s for s in all_samples() if s.op not in NOT_YET_EXPORTABLE]


@pytest.fixture(scope="module")
def ops_page(browser, web_server):
    page, errors = open_harness_page(browser, web_server, timeout_ms=600_000)
    try:
        yield Harness(page)
    finally:
        page.close()
    errors.check()


@pytest.fixture(scope="module")
def browser_results(ops_page, web_server):
    """Export every sample and run them all in the page, in one evaluate.

    Returns {index: outcome}: ("ran", feeds' eager result, {backend: [outputs] | error text}), ("refused",
    the ExportError) for float64 samples, or ("failed", text) when building or exporting the sample broke."""
    ops_page.require_webgpu()
    jobs, outcomes = [], {}
    for i, sample in enumerate(SAMPLES):
        try:  # the same construction as tests/webexport/test_ops_export.py
            graph = one_node_graph(sample.op, sample.inputs, sample.attrs)
            expected = eager(sample.op, sample.inputs, sample.attrs)
            export(graph, web_server.path(f"ops/{i}"), include_runtime=False)
        except ExportError as exc:
            outcomes[i] = ("refused", exc)
            continue
        except Exception as exc:  # reported by the sample's own test, not by the whole module
            outcomes[i] = ("failed", f"{type(exc).__name__}: {exc}")
            continue
        outcomes[i] = ("ran", expected, None)
        jobs.append((i, {"url": web_server.url(f"ops/{i}/model.json"), "backends": BACKENDS,
                         "inputs": sample.inputs}))
    for (i, _), result in zip(jobs, ops_page.run_many([job for _, job in jobs])):
        outcomes[i] = ("ran", outcomes[i][1], result)
    return outcomes


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[s.id for s in SAMPLES])
def test_op_matches_eager_in_the_browser(browser_results, index):
    sample = SAMPLES[index]
    kind, *outcome = browser_results[index]
    graph = one_node_graph(sample.op, sample.inputs, sample.attrs)
    if "float64" in [graph.node(n).dtype for n in ("out", *graph.inputs)]:
        # WebGPU has no f64: export must refuse, naming the node, rather than compute in f32
        assert kind == "refused" and re.search(r"%out.*float64|float64.*%out", str(outcome[0])), \
            f"{sample.id}: expected export to refuse float64, got {kind}: {outcome}"
        return
    assert kind == "ran", f"{sample.id}: could not export: {outcome[0]}"
    expected, results = outcome
    for backend in BACKENDS:
        got = results[backend]
        assert not isinstance(got, str), f"{sample.id} on {backend}: {got}"
        assert_matches(got[0], expected, f"{sample.id} on {backend}")


def test_not_yet_exportable_lists_exactly_the_ops_missing_a_kernel(ops_page):
    js = ops_page.cpu_kernel_names()
    missing = {}
    for name in pyml.ops.primitives():
        gaps = [what for what, ok in (("JS CPU kernel", name in js), ("WGSL lowering", name in LOWERINGS)) if not ok]
        if gaps:
            missing[name] = " and ".join(gaps)
    listed, lacking = set(NOT_YET_EXPORTABLE), set(missing)
    unlisted = {name: f"no {missing[name]}" for name in sorted(lacking - listed)}
    assert listed == lacking, (
        f"tests.op_samples.NOT_YET_EXPORTABLE is out of date. Lacking a kernel but not listed: {unlisted}; "
        f"listed but now exportable: {sorted(listed - lacking)}")


def test_every_js_cpu_kernel_names_a_primitive(ops_page):
    unknown = sorted(ops_page.cpu_kernel_names() - set(pyml.ops.primitives()))
    assert not unknown, f"web/src/cpu/*.js defines kernels for ops the registry does not have: {unknown}"

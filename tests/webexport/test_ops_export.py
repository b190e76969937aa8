"""Registry-driven export parity: every op sample, exported alone to a bundle, run natively on WebGPU
(wgpu-py; lavapipe on CPU machines) and compared with eager pyml. Ops listed in
tests.op_samples.NOT_YET_EXPORTABLE are left out, each with its reason (test_coverage.py keeps that list
honest). Float32: rtol = atol = 1e-5; int32 and bool: exact. Samples with float64 values check that export
refuses them."""
import pytest

from tests.op_samples import NOT_YET_EXPORTABLE, all_samples
from tests.webexport.helpers import assert_matches, eager, export_and_run, one_node_graph
from webexport import ExportError

SAMPLES = [s for s in all_samples() if s.op not in NOT_YET_EXPORTABLE]



@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_exported_op_matches_eager(sample, tmp_path):
    # Every array input is a placeholder, so kernels are checked on values they cannot inline.
    graph = one_node_graph(sample.op, sample.inputs, sample.attrs)
    feeds = sample.inputs
    if "float64" in [graph.node(n).dtype for n in ("out", *graph.inputs)]:
        # WebGPU has no f64: export must refuse, naming the node, rather than compute in f32
        with pytest.raises(ExportError, match=r"%out.*float64|float64.*%out"):
            export_and_run(graph, feeds, tmp_path / "bundle")
        return
    (out,), bundle = export_and_run(graph, feeds, tmp_path / "bundle")
    assert_matches(out, eager(sample.op, sample.inputs, sample.attrs), sample.id)
    assert bundle.manifest["graph"]["nodes"][-1]["target"] == sample.op


def test_every_exportable_primitive_is_exercised():
    import pyml

    missing = sorted(set(pyml.ops.primitives()) - set(NOT_YET_EXPORTABLE) - {s.op for s in SAMPLES})
    assert not missing, f"exportable primitives without samples: {missing}"

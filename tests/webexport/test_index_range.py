"""Export refuses a value whose 32-bit index math would overflow, naming it (webexport.lower.check_index_range).

The graphs are traced from shapes only: no huge array is ever allocated."""
import re

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from webexport import ExportError
from webexport.export import export
from webexport.lower import MAX_ELEMENTS, check_index_range

SIDE = 2**16  # SIDE * SIDE = 2^32 elements: past 2^31 - 1, and past u32 too


def outer_sum(x):
    """sum over i of x[b, i] * x[b, j]: the [batch, SIDE, SIDE] product is never needed whole."""
    outer = pyml.ops.multiply(pyml.ops.expand_dims(x, 2), pyml.ops.expand_dims(x, 1))
    return pyml.ops.sum(outer, axis=1)


def broadcast_sum(x):
    return pyml.ops.sum(pyml.ops.broadcast_to(pyml.ops.expand_dims(x, 1), (1, SIDE, SIDE)), axis=1)


@pytest.mark.parametrize("fn, batch, op, note", [(broadcast_sum, 1, "broadcast_to", ""),
                                                 (outer_sum, None, "mul", " at batch 1")])
def test_export_refuses_a_value_past_2_31_elements_naming_it(tmp_path, fn, batch, op, note):
    graph = trace(fn, [((batch, SIDE), "float32")])
    huge = next(n for n in graph.nodes if n.target == op)
    with pytest.raises(ExportError) as info:
        export(graph, tmp_path / "bundle")
    message = str(info.value)
    assert message.startswith(f"node %{huge.name} ({op}): shape ["), message
    assert f"holds {SIDE * SIDE:,} elements{note}, past 2,147,483,647 (2^31 - 1)" in message
    assert not (tmp_path / "bundle").exists()


def test_the_limit_is_inclusive_at_2_31_minus_1():
    def broadcast(n):
        return trace(lambda x: pyml.ops.broadcast_to(x, (n,)), [((1,), "float32")])

    check_index_range(broadcast(MAX_ELEMENTS))  # the largest index, 2^31 - 2, fits in an i32
    with pytest.raises(ExportError, match=re.escape("shape [2147483648] holds 2,147,483,648 elements, past")):
        check_index_range(broadcast(MAX_ELEMENTS + 1))


def test_run_bundle_refuses_a_batch_that_takes_a_fused_value_past_2_31_elements(tmp_path):
    from webexport.native import run_bundle
    from webexport.validate import load_bundle

    side = 1024  # the [batch, 1024, 1024] product is fused into its sum: 2^31 elements at batch 2048
    graph = trace(outer_sum, [((None, side), "float32")])
    export(graph, tmp_path / "outer")
    bundle = load_bundle(tmp_path / "outer")
    x = (np.arange(2 * side) % 7 - 3).astype(np.float32).reshape(2, side)
    (y,) = run_bundle(bundle, [x]).values()
    np.testing.assert_allclose(y, x * x.sum(axis=1, keepdims=True), rtol=1e-5)
    product = next(n.name for n in graph.nodes if n.target == "mul")
    with pytest.raises(ValueError, match=re.escape(f"run_bundle: batch 2048: %{product} (mul) would hold 2147483648 "
                                                   "elements, past 2^31 - 1")):
        run_bundle(bundle, [np.zeros((2048, side), np.float32)])

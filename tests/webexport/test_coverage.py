"""Coverage: the ops that cannot be exported yet are exactly those listed, each with its reason.

``tests.op_samples.NOT_YET_EXPORTABLE`` must equal the set of primitives without a WGSL lowering, so a
new primitive without a kernel fails here until it is listed, and a new kernel fails here until its line
is deleted. The browser suite checks the JS CPU kernels against the same dict."""
import pyml
import webexport.kernels  # noqa: F401  (registers every family's lowerings)
from tests.op_samples import NOT_YET_EXPORTABLE
from webexport.kernels.common import LOWERINGS


def test_not_yet_exportable_is_exactly_the_ops_without_a_lowering():
    without = {name for name in pyml.ops.primitives() if name not in LOWERINGS}
    listed = set(NOT_YET_EXPORTABLE)
    assert not without - listed, f"primitives without a WGSL lowering, not listed in NOT_YET_EXPORTABLE: {sorted(without - listed)}"
    assert not listed - without, f"listed in NOT_YET_EXPORTABLE but have a WGSL lowering (delete the line): {sorted(listed - without)}"


def test_every_exclusion_carries_a_reason():
    unexplained = [name for name, reason in NOT_YET_EXPORTABLE.items() if not isinstance(reason, str) or not reason.strip()]
    assert not unexplained, f"NOT_YET_EXPORTABLE entries without a reason: {unexplained}"


def test_every_exclusion_names_a_primitive():
    unknown = sorted(set(NOT_YET_EXPORTABLE) - set(pyml.ops.primitives()))
    assert not unknown, f"NOT_YET_EXPORTABLE names ops that are not primitives: {unknown}"


def test_every_lowering_names_a_primitive():
    unknown = sorted(set(LOWERINGS) - set(pyml.ops.primitives()))
    assert not unknown, f"lowerings registered for names that are not primitives: {unknown}"

"""The helpers every kernel family shares (webexport/kernels/common.py)."""
import numpy as np
import pytest

from pyml.ops.registry import Spec
from webexport.kernels.common import ExportError, Kernel, bindings, literal, numel, render, strides, threads
from webexport.native import run_kernels


class _Ctx:
    def __init__(self, specs):
        self.specs = specs

    def spec(self, name):
        return self.specs[name]

    def packed(self, name):
        return None


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1.5, -2.0, 1e-30, 3.4e38])
def test_float_literals_compile_and_keep_their_value(value):
    """NaN and ±inf must not be WGSL constants (Chromium's compiler refuses them); all literals round-trip."""
    specs = {"x": Spec((None, 4), "float32"), "y": Spec((None, 4), "float32")}
    wgsl = render("prelude.wgsl.j2", label="lit", bindings=bindings(_Ctx(specs), ["x"], ["y"]))
    wgsl += (
        "@compute @workgroup_size(64)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, "
        "@builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n"
        f"  let i = thread_index(wid, nwg, lid);\n  if (i >= {numel((None, 4))}) {{ return; }}\n"
        f"  out0[i] = in0[i] * 0.0f + {literal(value, 'float32')};\n}}\n"
    )
    assert "nan" not in wgsl.lower().replace("nanosecond", "")
    kernel = Kernel(wgsl, ["x"], ["y"], threads((None, 4)), "lit")
    out = run_kernels([kernel], {"x": np.zeros((2, 4), np.float32)}, specs, batch=2)
    np.testing.assert_array_equal(out["y"], np.full((2, 4), np.float32(value)))


@pytest.mark.parametrize("value", [-2**31, 2**31 - 1, 0, -7])
def test_int_literals_compile_and_keep_their_value(value):
    """-2147483648i does not compile (it is the negation of 2147483648i, past i32), yet it is a valid int32 value."""
    specs = {"x": Spec((None, 4), "int32"), "y": Spec((None, 4), "int32")}
    wgsl = render("prelude.wgsl.j2", label="lit", bindings=bindings(_Ctx(specs), ["x"], ["y"]))
    wgsl += (
        "@compute @workgroup_size(64)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, "
        "@builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {\n"
        f"  let i = thread_index(wid, nwg, lid);\n  if (i >= {numel((None, 4))}) {{ return; }}\n"
        f"  out0[i] = in0[i] * 0i + {literal(value, 'int32')};\n}}\n"
    )
    kernel = Kernel(wgsl, ["x"], ["y"], threads((None, 4)), "lit")
    out = run_kernels([kernel], {"x": np.zeros((2, 4), np.int32)}, specs, batch=2)
    np.testing.assert_array_equal(out["y"], np.full((2, 4), value, np.int32))


def test_strides_refuse_a_dynamic_dimension_past_axis_0():
    assert strides((None, 3, 4)) == [12, 4, 1]
    with pytest.raises(ExportError, match="only axis 0"):
        strides((2, None))


def test_numel_and_threads_scale_with_the_batch():
    assert numel((None, 5)) == "(params.batch * 5u)"
    assert threads((None, 5)) == (5, 0)
    assert threads((2, 5)) == (0, 10)

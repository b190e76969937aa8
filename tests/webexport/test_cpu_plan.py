"""The CPU program (webexport/cpu_plan.py): which wasm kernel computes which nodes, read as its printout.

Numbers are checked in the browser (tests/browser/test_wasm_kernels.py); here, what the plan decides: the
fast-path epilogue (bias, residual, clamp), register programs for the rest of a chain, where a chain is cut
and the rest left to JS, softmax matching, kernel choice, aliases and the memory plan."""
import numpy as np
import pytest

import pyml
from pyml.graph import trace
from pyml.graph.passes import optimize
from webexport.cpu_plan import format_cpu_plan, plan_cpu

ops = pyml.ops
RNG = np.random.default_rng(0)
W = pyml.Variable(RNG.standard_normal((4, 3)).astype(np.float32), name="dense/kernel")
B = pyml.Variable(RNG.standard_normal(3).astype(np.float32), name="dense/bias")
R = pyml.Variable(RNG.standard_normal((2, 3)).astype(np.float32), name="dense/residual")


def plan(fn, shape=(None, 4), dtype="float32"):
    return plan_cpu(optimize(trace(fn, [(shape, dtype)])))


def printed(fn, shape=(None, 4)):
    return format_cpu_plan(plan(fn, shape)).splitlines()


def test_bias_and_relu_run_in_the_matmul_registers():
    assert printed(lambda x: ops.relu(x @ W + B)) == [
        "matmul  dense/matmul+add+maximum  (%x, %w1, %w3) -> %v6  bias %w3  clamp [0, inf]"]


def test_relu6_composes_into_one_clamp():
    assert printed(lambda x: ops.relu6(x @ W + B)) == [
        "matmul  dense/matmul+add+maximum+minimum  (%x, %w1, %w3) -> %v8  bias %w3  clamp [0, 6]"]


def test_a_residual_add_runs_in_registers_and_what_follows_it_as_a_program():
    (line,) = printed(lambda x: ops.relu(x @ W + R + B), (2, 4))
    assert line.startswith("matmul  dense/matmul+add+add+maximum  (%x, %w1, %w3, %w5) -> %v8  residual %w3  program ")
    assert line.endswith("column 1 0 0 w5; add 1 0 1 0; scalar 2 0 0 0.0; maximum 1 2 1 0; end 0 1 0 0")


def test_leaky_relu_is_a_program_with_a_mask_and_where():
    (line,) = printed(lambda x: ops.leaky_relu(x @ W + B))
    assert "bias %w3  program scalar 1 0 0 0.0; greater 1 0 1 0; scalar 2 0 0 0.20000000298023224; " \
           "mul 2 0 2 0; where 2 0 2 1; end 0 2 0 0" in line


@pytest.mark.parametrize("approximate, function", [(True, "tanh"), (False, "erf")])
def test_gelu_reads_its_input_twice_from_one_register(approximate, function):
    step = plan(lambda x: ops.gelu(x @ W + B, approximate=approximate)).steps[0]
    assert step.kernel == "matmul" and step.bias == "w3" and len(step.nodes) > 4
    ops_used = [op[0] for op in step.program]
    assert function in ops_used and ops_used[-1] == "end"
    assert sum(1 for op in step.program for r in op[2:4] if r == 0 and op[0] in ("mul", "add")) >= 2


def test_an_op_the_program_lacks_cuts_the_chain_and_the_rest_runs_in_js():
    assert printed(lambda x: ops.relu((x @ W + B) ** 2.5)) == [
        "matmul  dense/matmul+add  (%x, %w1, %w3) -> %v4  bias %w3",
        "js  v6/pow  (%v4, %c5) -> %v6",
        "js  v8/maximum  (%c7, %v6) -> %v8"]


def test_softmax_and_log_softmax_over_the_last_axis_are_one_step():
    assert printed(lambda x: ops.softmax(x @ W)) == [
        "matmul  dense/matmul  (%x, %w1) -> %v2", "softmax  v3/max+sub+exp+sum+div  (%v2) -> %v7"]
    assert printed(lambda x: ops.log_softmax(x @ W))[1] == "log_softmax  v3/max+sub+exp+sum+log+sub  (%v2) -> %v8"


def test_softmax_over_another_axis_or_with_an_inner_output_is_left_to_js():
    assert {line.split()[0] for line in printed(lambda x: ops.softmax(x, axis=0))} == {"js"}

    def exposed(x):
        e = ops.exp(x - ops.max(x, axis=-1, keepdims=True))
        return e / ops.sum(e, axis=-1, keepdims=True), e

    graph = optimize(trace(exposed, [((None, 4), "float32")]))
    assert all(step.kernel == "js" for step in plan_cpu(graph).steps)


def test_kernel_choice():
    grouped = pyml.Variable(np.ones((3, 3, 2, 6), np.float32), name="conv/kernel")
    depthwise = pyml.Variable(np.ones((3, 3, 1, 8), np.float32), name="dw/kernel")
    conv = lambda w, groups: lambda x: ops.conv(x, w, strides=1, padding="same", groups=groups)  # noqa: E731
    assert plan(conv(grouped, 2), (None, 5, 5, 4)).steps[0].kernel == "conv"
    assert plan(conv(depthwise, 4), (None, 5, 5, 4)).steps[0].kernel == "depthwise"
    assert plan(lambda x: x @ x, (3, 3)).steps[0].kernel == "js"  # weights that are not constants
    assert plan(lambda x: x @ np.ones((4, 2), np.int32), (None, 4), "int32").steps[0].kernel == "js"
    assert [s.kernel for s in plan(lambda x: ops.max_pool(x, 2), (None, 4, 4, 3)).steps] == ["max_pool"]


def test_zero_copy_reshape_shares_its_input_buffer_and_lifetimes_never_overlap_in_a_buffer():
    model = pyml.Sequential([pyml.layers.Conv2D(4, 3, activation="relu"), pyml.layers.MaxPooling2D(2),
                             pyml.layers.Flatten(), pyml.layers.Dense(10, activation="softmax")])
    model.build((None, 8, 8, 1))
    cpu = plan_cpu(optimize(model.trace((None, 8, 8, 1))))
    assert [s.kernel for s in cpu.steps] == ["conv", "max_pool", "matmul", "softmax"]
    (flat, root), = cpu.aliases.items()
    assert cpu.memory.slot_of[flat] == cpu.memory.slot_of[root]
    live = cpu.memory.lifetimes
    for a in live:
        for b in live:
            if a < b and cpu.memory.slot_of[a] == cpu.memory.slot_of[b]:
                (a0, a1), (b0, b1) = live[a], live[b]
                assert a1 < b0 or b1 < a0, f"%{a} and %{b} share buffer {cpu.memory.slot_of[a]} while both live"
    manifest_values = cpu.to_json()["values"]
    assert manifest_values[flat] == manifest_values[root] == {"buffer": cpu.memory.slot_of[root]}


def test_an_alias_of_a_weight_names_its_entry():
    from pyml.graph.ir import Graph, Node

    nodes = [Node("x", "placeholder", (2, 3), "float32"), Node("c", "constant", (6,), "float32"),
             Node("v1", "call", (2, 3), "float32", "reshape", ["c"], {"shape": (2, 3)}),
             Node("v2", "call", (2, 3), "float32", "add", ["x", "v1"])]
    cpu = plan_cpu(Graph(nodes, ["x"], ["v2"], {"c": np.arange(6, dtype=np.float32)}))
    assert cpu.to_json()["values"]["v1"] == {"weight": "c"}
    assert format_cpu_plan(cpu) == "js  v2/add  (%x, %v1) -> %v2"


def test_rnn_scan_is_one_wasm_step_when_its_recurrent_kernel_is_a_constant():
    u = pyml.Variable(RNG.standard_normal((3, 12)).astype(np.float32), name="lstm/recurrent_kernel")

    def lstm(x, state, u=u):
        return ops.rnn_scan("lstm", x, u, state, state)

    def kernels(u):
        graph = optimize(trace(lambda x, s: lstm(x, s, u), [((None, 5, 12), "float32"), ((None, 3), "float32")]))
        return [s.kernel for s in plan_cpu(graph).steps]

    assert kernels(u) == ["rnn_scan"]
    assert kernels(u * 1.0) == ["rnn_scan"]  # folded into a constant
    traced = trace(lambda x, s, w: lstm(x, s, w), [((None, 5, 12), "float32"), ((None, 3), "float32"),
                                                   ((3, 12), "float32")])
    assert [s.kernel for s in plan_cpu(optimize(traced)).steps] == ["js"]  # u an input: the JS kernel

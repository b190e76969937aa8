"""The liveness memory plan: overlapping lifetimes never share a slot, and the plan stays near the lower bound.

Lifetimes are recomputed here from the steps, independently of webexport.memory, and checked against
its assignment."""
import numpy as np
from hypothesis import given, settings, strategies as st

from pyml.ops.registry import Spec
from webexport.memory import plan_memory, value_bytes


def independent_lifetimes(steps, inputs, outputs, aliases):
    """(first, last) per storage-owning value: inputs whole-run, outputs to past the end."""
    root = lambda n: aliases.get(n, n)  # noqa: E731
    live = {root(n): (-1, len(steps)) for n in inputs}
    for i, (reads, writes) in enumerate(steps):
        for n in map(root, list(reads) + list(writes)):
            a, b = live.get(n, (i, i))
            live[n] = (min(a, i), max(b, i))
    for n in map(root, outputs):
        live[n] = (live[n][0], len(steps))
    return live


def assert_valid(mem, steps, specs, inputs, outputs, aliases=None):
    aliases = aliases or {}
    live = independent_lifetimes(steps, inputs, outputs, aliases)
    assert set(live) <= set(mem.slot_of), f"values without a slot: {set(live) - set(mem.slot_of)}"
    owners = [n for n in live]
    for i, x in enumerate(owners):
        per_batch, fixed = value_bytes(specs[x])
        slot = mem.slots[mem.slot_of[x]]
        assert slot[0] >= per_batch and slot[1] >= fixed, f"slot {mem.slot_of[x]} too small for {x}"
        for y in owners[i + 1:]:
            if mem.slot_of[x] == mem.slot_of[y]:
                (a, b), (c, d) = live[x], live[y]
                assert b < c or d < a, f"{x} {live[x]} and {y} {live[y]} overlap but share slot {mem.slot_of[x]}"
    for name, target in aliases.items():
        assert mem.slot_of[name] == mem.slot_of[target]
    assert mem.peak_bytes >= mem.lower_bound_bytes
    for slot in range(len(mem.slots)):
        members = [value_bytes(specs[n]) for n in owners if mem.slot_of[n] == slot]
        for batch in (1, 64, 1000):
            largest = max(per_batch * batch + fixed for per_batch, fixed in members)
            assert mem.slot_bytes(slot, batch) == largest, f"slot {slot} is larger than its largest value at batch {batch}"


def chain(sizes, batch_dynamic=True):
    """x -> v1 -> ... -> vn, sizes in elements per example."""
    names = ["x"] + [f"v{i}" for i in range(1, len(sizes))]
    specs = {n: Spec((None if batch_dynamic else 4, s), "float32") for n, s in zip(names, sizes)}
    steps = [([a], [b]) for a, b in zip(names, names[1:])]
    return steps, specs, ["x"], [names[-1]]


def test_mlp_chain_reaches_the_lower_bound():
    # a 784-256-256-128-10 MLP: matmul(+bias+relu) per layer
    steps, specs, inputs, outputs = chain([784, 256, 256, 128, 10])
    mem = plan_memory(steps, specs, inputs, outputs)
    assert_valid(mem, steps, specs, inputs, outputs)
    assert mem.peak_bytes <= 1.1 * mem.lower_bound_bytes, mem.summary()


def test_uniform_chain_uses_two_ping_pong_slots_plus_the_input():
    steps, specs, inputs, outputs = chain([64] * 12)
    mem = plan_memory(steps, specs, inputs, outputs)
    assert_valid(mem, steps, specs, inputs, outputs)
    assert len(mem.slots) == 3
    assert mem.peak_bytes <= 1.1 * mem.lower_bound_bytes, mem.summary()


def test_diamond_graph_is_near_the_lower_bound():
    #   x -> a -> b -> d
    #         \-> c -/      (a residual block: a is read twice, b and c are live together)
    specs = {n: Spec((None, 32), "float32") for n in ("x", "a", "b", "c", "d", "e")}
    steps = [(["x"], ["a"]), (["a"], ["b"]), (["a"], ["c"]), (["b", "c"], ["d"]), (["d"], ["e"])]
    mem = plan_memory(steps, specs, ["x"], ["e"])
    assert_valid(mem, steps, specs, ["x"], ["e"])
    assert mem.peak_bytes <= 1.1 * mem.lower_bound_bytes, mem.summary()


def test_inputs_are_never_reused_and_outputs_never_overwritten():
    steps, specs, inputs, outputs = chain([16] * 6)
    outputs = ["v2", "v5"]  # v2 is read by step 2 and must survive to the end
    mem = plan_memory(steps, specs, inputs, outputs)
    assert_valid(mem, steps, specs, inputs, outputs)
    assert [n for n, s in mem.slot_of.items() if s == mem.slot_of["x"]] == ["x"]
    assert [n for n, s in mem.slot_of.items() if s == mem.slot_of["v2"] and mem.lifetimes[n][0] > 2] == []


def test_aliases_share_their_root_slot_and_extend_its_lifetime():
    specs = {"x": Spec((None, 8), "float32"), "a": Spec((None, 8), "float32"), "r": Spec((None, 2, 4), "float32"),
             "b": Spec((None, 8), "float32"), "c": Spec((None, 8), "float32")}
    # r = reshape(a) is read by the last step, so a must stay live until then
    steps = [(["x"], ["a"]), (["a"], ["b"]), (["b", "r"], ["c"])]
    aliases = {"r": "a"}
    mem = plan_memory(steps, specs, ["x"], ["c"], aliases=aliases)
    assert_valid(mem, steps, specs, ["x"], ["c"], aliases)
    assert mem.lifetimes["a"] == (0, 2)
    assert mem.slot_of["r"] == mem.slot_of["a"] != mem.slot_of["c"]


def test_mixed_static_and_batch_values_size_slots_for_both():
    specs = {"x": Spec((None, 4), "float32"), "t": Spec((100,), "float32"), "a": Spec((None, 4), "float32"),
             "b": Spec((None, 4), "float32"), "y": Spec((None, 4), "float32")}
    steps = [(["x"], ["t"]), (["x", "t"], ["a"]), (["a"], ["b"]), (["b"], ["y"])]
    mem = plan_memory(steps, specs, ["x"], ["y"])
    assert_valid(mem, steps, specs, ["x"], ["y"])
    for name in ("t", "a", "b"):
        per_batch, fixed = mem.slots[mem.slot_of[name]]
        assert per_batch * 1 + fixed >= value_bytes(specs[name])[0] + value_bytes(specs[name])[1]


def test_a_fixed_value_and_a_batch_sized_one_never_share_a_slot():
    """Shared, the slot would hold both at once: 100 MiB + 64 MiB per example is over WebGPU's 128 MiB binding
    limit at batch 1, although each value fits."""
    mib = 2**20
    specs = {"x": Spec((None, 4), "float32"), "t": Spec((25 * mib,), "float32"), "a": Spec((None, 16 * mib), "float32"),
             "b": Spec((None, 4), "float32"), "y": Spec((None, 4), "float32")}
    steps = [(["x"], ["t"]), (["t"], ["b"]), (["b", "x"], ["a"]), (["a"], ["y"])]
    mem = plan_memory(steps, specs, ["x"], ["y"])
    assert_valid(mem, steps, specs, ["x"], ["y"])
    assert mem.slot_of["t"] != mem.slot_of["a"]
    assert max(mem.slot_bytes(s, 1) for s in range(len(mem.slots))) == 100 * mib


def test_weights_need_no_slot():
    specs = {"x": Spec((2, 4), "float32"), "w": Spec((4, 4), "float32"), "y": Spec((2, 4), "float32")}
    mem = plan_memory([(["x", "w"], ["y"])], specs, ["x"], ["y"], external={"w"})
    assert "w" not in mem.slot_of and len(mem.slots) == 2


def test_summary_reports_peak_against_the_lower_bound():
    steps, specs, inputs, outputs = chain([10, 20, 30])
    mem = plan_memory(steps, specs, inputs, outputs)
    summary = mem.summary()
    batch = summary["reference_batch"]
    # live at step 1: v1 (read) and v2 (written), plus the input x
    assert summary["lower_bound_bytes"] == 4 * batch * (10 + 20 + 30)
    assert summary["peak_bytes"] == sum(b * batch + f for b, f in mem.slots)
    assert summary["ratio"] == round(summary["peak_bytes"] / summary["lower_bound_bytes"], 4)


@st.composite
def random_dags(draw):
    n = draw(st.integers(2, 14))
    specs = {"x": Spec((None, draw(st.integers(1, 64))), "float32")}
    steps, names = [], ["x"]
    for i in range(n):
        reads = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        name = f"v{i}"
        dynamic = draw(st.booleans())
        size = draw(st.integers(1, 64))
        specs[name] = Spec((None, size) if dynamic else (size,), "float32")
        steps.append((reads, [name]))
        names.append(name)
    outputs = draw(st.lists(st.sampled_from(names[1:]), min_size=1, max_size=3, unique=True))
    return steps, specs, outputs


@settings(max_examples=60, deadline=None)
@given(random_dags())
def test_random_graphs_never_share_a_slot_between_overlapping_values(dag):
    steps, specs, outputs = dag
    mem = plan_memory(steps, specs, ["x"], outputs)
    assert_valid(mem, steps, specs, ["x"], outputs)
    assert np.isfinite(mem.summary()["ratio"])

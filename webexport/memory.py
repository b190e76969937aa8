"""The memory plan: which activation buffer ("slot") each value lives in (docs/internals.md §6).

Values whose lifetimes overlap never share a slot, nor do a batch-sized value and a fixed-size one (so
a slot is exactly as large as its largest value at every batch); everything else may. A value lives from the step
that first writes it to the last step that reads it. Graph inputs live through the whole run (they are
uploaded before the first step), and graph outputs from their first write to past the last step (the
runtime reads them after it), so no later value ever overwrites either. Zero-copy aliases extend their
root's lifetime. A slot holds ``bytes_per_batch * B + bytes_fixed`` bytes for batch ``B``.

Slots are assigned greedily (largest value first, into the smallest free slot that fits; and again in
execution order, growing a free slot when that is cheaper than a new one); the better of the two wins.
Its quality is reported against the liveness lower bound, the most bytes ever live at one step:

    >>> specs = {"x": Spec((None, 784), "float32"), "h1": Spec((None, 128), "float32"),
    ...          "h2": Spec((None, 128), "float32"), "y": Spec((None, 10), "float32")}
    >>> mem = plan_memory([(["x"], ["h1"]), (["h1"], ["h2"]), (["h2"], ["y"])], specs, inputs=["x"], outputs=["y"])
    >>> mem.slot_of                                    # y reuses h1's slot: h1 died before y was written
    {'x': 0, 'h1': 1, 'h2': 2, 'y': 1}
    >>> mem.summary()
    {'reference_batch': 64, 'peak_bytes': 266240, 'lower_bound_bytes': 266240, 'ratio': 1.0}
"""
from dataclasses import dataclass

import numpy as np

ITEM_BYTES = 4  # f32, i32, and bool stored as u32
REFERENCE_BATCH = 64  # the batch at which sizes are compared when the batch is dynamic


@dataclass
class MemoryPlan:
    """``slots[i] = (bytes_per_batch, bytes_fixed)``; ``slot_of[value]`` for every activation (aliases too);
    ``lifetimes[value] = (first step, last step)`` for every value owning storage (-1 and len(steps)
    stand for before the first step and after the last)."""

    slots: list
    slot_of: dict
    lifetimes: dict
    peak_bytes: int
    lower_bound_bytes: int
    reference_batch: int

    def slot_bytes(self, slot, batch):
        """Bytes slot ``slot`` holds at batch size ``batch`` (before the bundle rounds it up to 16)."""
        per_batch, fixed = self.slots[slot]
        return per_batch * batch + fixed

    def summary(self):
        """The manifest's ``memory`` field."""
        ratio = self.peak_bytes / self.lower_bound_bytes if self.lower_bound_bytes else 1.0
        return {"reference_batch": self.reference_batch, "peak_bytes": self.peak_bytes,
                "lower_bound_bytes": self.lower_bound_bytes, "ratio": round(ratio, 4)}


def value_bytes(spec):
    """``(bytes_per_batch, bytes_fixed)`` of a value: one of the two is 0."""
    static = ITEM_BYTES * int(np.prod([d for d in spec.shape if d is not None], dtype=np.int64))
    return (static, 0) if None in spec.shape else (0, static)


def plan_memory(steps, specs, inputs, outputs, aliases=None, external=()):
    """Assign every activation value to a slot.

    Args:
        steps: the kernels in execution order, each a pair ``(inputs, outputs)`` of value-name lists.
        specs: value name → ``Spec`` for every value.
        inputs, outputs: the graph's input and output names.
        aliases: zero-copy value → the value owning its storage.
        external: names that need no slot (weights).

    Returns:
        A ``MemoryPlan``.
    """
    aliases = dict(aliases or {})
    external = set(external)
    root = lambda name: aliases.get(name, name)  # noqa: E731
    end = len(steps)
    first, last = {}, {}
    for name in inputs:
        first[name], last[name] = -1, end
    for i, (reads, writes) in enumerate(steps):
        for name in map(root, writes):
            if name in external:
                raise ValueError(f"step {i} writes {name!r}, which is a weight")
            first.setdefault(name, i)
            last[name] = max(last.get(name, i), i)
        for name in map(root, reads):
            if name in external:
                continue
            if name not in first:
                raise ValueError(f"step {i} reads {name!r} before any step writes it")
            last[name] = max(last[name], i)
    for name in map(root, outputs):
        if name not in external:
            first.setdefault(name, -1)  # an output that is a graph input: live throughout
            last[name] = end
    sizes = {name: value_bytes(specs[name]) for name in first}
    batch = REFERENCE_BATCH if any(per_batch for per_batch, _ in sizes.values()) else 1
    at = lambda size: size[0] * batch + size[1]  # noqa: E731
    lifetimes = {name: (first[name], last[name]) for name in first}

    by_size = sorted(lifetimes, key=lambda n: (-at(sizes[n]), first[n], n))
    by_time = sorted(lifetimes, key=lambda n: (first[n], -at(sizes[n]), n))
    plans = [_assign(by_size, lifetimes, sizes, at, grow=False), _assign(by_time, lifetimes, sizes, at, grow=True)]
    slots, slot_of = min(plans, key=lambda p: sum(at(s) for s in p[0]))
    for name in aliases:
        if root(name) in slot_of:
            slot_of[name] = slot_of[root(name)]
    lower = max((sum(at(sizes[n]) for n, (a, b) in lifetimes.items() if a <= i <= b) for i in range(-1, end + 1)),
                default=0)
    return MemoryPlan(slots, slot_of, lifetimes, sum(at(s) for s in slots), lower, batch)


def _assign(order, lifetimes, sizes, at, grow):
    """Greedy slot assignment in ``order``: best fit among the slots free for the whole lifetime.

    A slot holds batch-sized values or fixed-size ones, never both: its size is then its largest value's at
    every batch (a mixed slot would hold both at once, past the binding limit where each value fits)."""
    slots, members, slot_of = [], [], {}
    for name in order:
        a, b = lifetimes[name]
        free = [s for s in range(len(slots)) if _same_kind(slots[s], sizes[name])
                and all(b2 < a or b < a2 for a2, b2 in (lifetimes[m] for m in members[s]))]
        need = at(sizes[name])
        fits = [s for s in free if at(slots[s]) >= need]
        if fits:
            choice = min(fits, key=lambda s: at(slots[s]))
        elif free and grow:
            choice = max(free, key=lambda s: at(slots[s]))  # growing costs less than a new slot
        else:
            slots.append((0, 0))
            members.append([])
            choice = len(slots) - 1
        slots[choice] = (max(slots[choice][0], sizes[name][0]), max(slots[choice][1], sizes[name][1]))
        members[choice].append(name)
        slot_of[name] = choice
    return slots, slot_of


def _same_kind(slot, size):
    """Whether a value of ``size`` may share ``slot``: not one batch-sized and the other fixed (empty fits any)."""
    return not (slot[0] and size[1]) and not (slot[1] and size[0])

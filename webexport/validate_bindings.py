"""Check that each WebGPU step binds the values its fused graph nodes read and write (``steps[i].nodes``,
docs/internals.md §6). ``webexport.validate`` calls ``check_bindings``; ``checkBindings`` in web/src/bundle.js is its
JS twin, with the same messages.

A kernel reads its bindings by position, with sizes fixed in its WGSL: a step bound to another value of the plan (a
flipped digit in a name) would compute other numbers, or read past the value it was given. So every step input must
be a value its nodes read from outside them (or what a zero-copy alias of one shows, or a temporary an earlier step
of its group wrote and no other step read) but a scalar constant (kernels hold those in their WGSL), bound
no more often than they read it (each node's reads counted once per group; a value and its alias count as one), and every output one of its nodes or a
new temporary.
A group is the steps that compute one run of nodes (a convolution split into several kernels: they share nodes, or
hand temporaries on). Whether a step binds everything its nodes read is not checked: a kernel may hold a constant
in its WGSL, and leaves out what it does not use (a classic GRU's recurrent bias, anything of an empty output).
"""
import collections


def check_bindings(manifest, nodes, owner, fail):
    """Raise through ``fail(field, message)`` on the first step that binds a value its nodes do not read or write.

    ``nodes``: the graph's nodes by name; ``owner(name)``: the value whose bytes ``name`` shows (a zero-copy alias
    shows its first input's)."""
    steps, values, temporaries = manifest["steps"], manifest["values"], set()

    def source(name):  # a constant output's weight, read under a second name (webexport/lower.py), counts as it
        return values[name]["weight"] if name not in nodes and "weight" in values[name] else name

    start = 0
    while start < len(steps):
        chain, end, pending = set(), start, set()  # pending: temporaries the group wrote and has not read yet
        while end < len(steps):
            names = _nodes(steps[end], end, nodes, values, fail)
            if end > start and not pending and not chain & set(names):
                break
            chain.update(names)
            pending = (pending - set(steps[end]["inputs"])) | {n for n in steps[end]["outputs"] if n not in nodes}
            end += 1
        group = steps[start:end]
        reads = [r for n in chain if n in nodes for r in nodes[n]["inputs"] if r not in chain]  # each node's once
        reads += [n for n in chain if nodes.get(n, {}).get("op") == "constant"]  # a copy of a constant output
        allowed = collections.Counter(reads) + collections.Counter(owner(r) for r in reads if owner(r) != r)
        shown = collections.Counter(owner(r) for r in reads)  # each read binds once, as itself or as its alias's source
        bound, bytes_bound, written = collections.Counter(), collections.Counter(), set()
        for i, s in enumerate(group, start):
            for raw in s["inputs"]:
                name = source(raw)
                bound[name] += 1
                if name in nodes and bound[name] > allowed[name]:
                    fail(f"steps[{i}].inputs", f"binds {name!r}, which its nodes read {allowed[name]} times")
                if name in nodes:
                    bytes_bound[owner(name)] += 1
                    if bytes_bound[owner(name)] > shown[owner(name)]:
                        fail(f"steps[{i}].inputs", f"binds {name!r}, whose bytes its nodes read "
                                                   f"{shown[owner(name)]} times, once more")
                if raw in nodes and nodes[raw]["op"] == "constant" and nodes[raw]["shape"] == []:
                    fail(f"steps[{i}].inputs", f"binds {raw!r}, a scalar constant, which kernels hold inline")
                if name not in nodes and (name not in written or bound[name] > 1):
                    fail(f"steps[{i}].inputs", f"binds {name!r}, which no earlier step of its nodes writes "
                                               f"(or another step read already)")
            for name in s["outputs"]:
                if name in nodes and name not in chain or name not in nodes and name in temporaries:
                    fail(f"steps[{i}].outputs", f"binds {name!r}, which none of its nodes computes")
                written.add(name)
                temporaries.add(name)
        start = end


def _nodes(step, i, nodes, values, fail):
    """``steps[i].nodes``: graph nodes (call, or a constant output's copy) and temporaries (values no node defines)."""
    names = step.get("nodes")
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and (nodes[n]["op"] != "placeholder" if n in nodes else n in values) for n in names):
        fail(f"steps[{i}].nodes", "must be a non-empty list of the step's graph nodes or temporaries")
    return names

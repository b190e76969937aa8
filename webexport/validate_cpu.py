"""Check the manifest's ``cpu`` field, the CPU program (docs/internals.md §6; ``webexport.cpu_plan`` writes
it). ``webexport.validate`` calls ``check_cpu_plan``; ``validateCpuPlan`` in web/src/cpuplan.js is its JS twin,
with the same messages (tests/browser/test_manifest_validation.py runs damaged manifests through both). The JS
runtime checks ``cpu`` when the wasm backend loads, so a WebGPU page never downloads the checks."""
import math
import numbers

# kernel -> the op its first node must be (None: a "js" step, one node of any op)
CPU_KERNELS = {"matmul": "matmul", "conv": "conv", "depthwise": "conv", "max_pool": "max_pool",
               "avg_pool": "avg_pool", "softmax": "max", "log_softmax": "max", "rnn_scan": "rnn_scan", "js": None}
EPILOGUE_KERNELS = ("matmul", "conv", "depthwise")
PROGRAM_OPS = ("end", "scalar", "column", "full", "row",  # the order of the C enum in web/wasm/epilogue.h
               "add", "sub", "mul", "div", "maximum", "minimum",
               "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "where",
               "neg", "abs", "sqrt", "exp", "log", "tanh", "sigmoid", "erf")
PROGRAM_REGISTERS = 16  # PROGRAM_REGISTERS in web/wasm/epilogue.h
LOADS = ("column", "full", "row")


def check_weight_value(node, entry, where, fail):
    """A value read from a weight entry must be that entry's dtype and element count (a zero-copy reshape keeps both):
    a kernel bound to a smaller weight would read past it. ``validate`` checks the WebGPU plan with it too."""
    def count(shape):
        return None if None in shape else math.prod(shape)

    if entry["dtype"] != node["dtype"] or count(entry["shape"]) != count(node["shape"]):
        fail(f"{where}.weight", f"names weight {entry['name']!r}, which is {entry['dtype']}"
                                f"{entry['shape']} but %{node['name']} is {node['dtype']}{node['shape']}")


def check_cpu_plan(manifest, nodes, entries, fail, check_slots, check_slot_size, liveness):
    """Raise through ``fail(field, message)`` on the first problem in ``manifest["cpu"]`` (when present).

    ``nodes``/``entries``: the graph's nodes and the weight entries by name; ``check_slots(buffers, field)``,
    ``check_slot_size(node, slot, where)`` and ``liveness(inputs, produced, buffer, nodes, fail)`` (which value
    each buffer holds) are the loader's checks of the top-level plan."""
    cpu = manifest.get("cpu")
    if not isinstance(cpu, dict):
        fail("cpu", "must be an object {steps, buffers, values}")
    slots = check_slots(cpu.get("buffers"), "cpu.buffers")
    values = cpu.get("values")
    if not isinstance(values, dict):
        fail("cpu.values", "must be an object {name: {buffer} | {weight}}")
    for name, v in values.items():
        where = f"cpu.values.{name}"
        if name not in nodes:
            fail(where, f"names %{name}, which the graph does not define")
        if isinstance(v, dict) and "buffer" in v:
            if not _is_count(v["buffer"]) or v["buffer"] not in slots:
                fail(f"{where}.buffer", f"names buffer {v['buffer']!r}, which cpu.buffers does not define")
            check_slot_size(nodes[name], slots[v["buffer"]], where)
        elif not (isinstance(v, dict) and isinstance(v.get("weight"), str) and v["weight"] in entries):
            fail(where, "must be {buffer: id} or {weight: <a weights.entries name>}")
        else:
            check_weight_value(nodes[name], entries[v["weight"]], where, fail)

    def known(name):
        return isinstance(name, str) and (name in values or nodes.get(name, {}).get("op") == "constant")

    def buffer(name):
        return values.get(name, {}).get("buffer") if isinstance(name, str) else None

    for name in manifest["graph"]["inputs"]:
        if buffer(name) is None:
            fail("cpu.values", f"has no buffer for input {name!r}")
    steps = cpu.get("steps")
    if not isinstance(steps, list):
        fail("cpu.steps", "must be a list")
    live = liveness(manifest["graph"]["inputs"], [s["output"] for s in steps if isinstance(s, dict) and
                                                  isinstance(s.get("output"), str)], buffer, nodes, fail)
    for i, s in enumerate(steps):
        where = f"cpu.steps[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("kernel"), str) or s["kernel"] not in CPU_KERNELS:
            fail(f"{where}.kernel", f"must be one of {', '.join(CPU_KERNELS)}. "
                                    f"Received: {s.get('kernel') if isinstance(s, dict) else s!r}")
        step_nodes = s.get("nodes")
        if not isinstance(step_nodes, list) or not step_nodes or \
                not all(isinstance(n, str) and nodes.get(n, {}).get("op") == "call" for n in step_nodes):
            fail(f"{where}.nodes", "must be a non-empty list of call nodes")
        first = nodes[step_nodes[0]]["target"]
        wanted = CPU_KERNELS[s["kernel"]]
        if (first != wanted) if wanted else len(step_nodes) != 1:
            fail(f"{where}.nodes", f"cannot be computed by kernel {s['kernel']}: its first node %{step_nodes[0]} is {first}")
        if s.get("output") != step_nodes[-1] or buffer(s.get("output")) is None:
            fail(f"{where}.output", "must be the last node, stored in a cpu buffer")
        if not isinstance(s.get("inputs"), list) or not all(known(n) for n in s["inputs"]):
            fail(f"{where}.inputs", "must list values cpu.values or the graph's constants define")
        for name in nodes[step_nodes[0]]["inputs"]:
            if name not in s["inputs"]:
                fail(f"{where}.inputs", f"leaves out %{name}, which node %{step_nodes[0]} reads")
        for name in s["inputs"]:
            if buffer(name) is not None:
                live.read(name, f"{where}.inputs")
            if buffer(name) == buffer(s["output"]):
                fail(f"{where}.output", f"shares buffer {buffer(name)} with {name!r}, which the step reads")
        live.write(s["output"])
        if s["kernel"] in EPILOGUE_KERNELS:
            # the epilogue's operands: inputs a later node of the step reads (a bias bound to x reads wrong numbers)
            operands = [n for n in s["inputs"] if any(n in nodes[m]["inputs"] for m in step_nodes[1:])]
            for key in ("bias", "residual"):
                if s.get(key) is not None and not (isinstance(s[key], str) and s[key] in operands):
                    fail(f"{where}.{key}", f"must be null or one of the step's inputs that a later node reads. "
                                           f"Received: {s.get(key)!r}")
            clamp = s.get("clamp")
            if not isinstance(clamp, list) or len(clamp) != 2 or not all(v is None or _is_number(v) for v in clamp):
                fail(f"{where}.clamp", f"must be [low, high], numbers or null. Received: {clamp!r}")
            _check_program(s.get("program"), operands, f"{where}.program", fail)
    for name in manifest["graph"]["outputs"]:
        if buffer(name) is not None:
            live.read(name, "cpu.steps", output=True)
        if not known(name):
            fail("cpu.values", f"has no place for output {name!r}")


def _check_program(program, inputs, where, fail):
    if not isinstance(program, list):
        fail(where, "must be a list of [op, dst, a, b, x] instructions")

    def register(r):
        return _is_count(r) and r < PROGRAM_REGISTERS

    for i, ins in enumerate(program):
        if not isinstance(ins, list) or len(ins) != 5 or ins[0] not in PROGRAM_OPS or not all(map(register, ins[1:4])):
            fail(f"{where}[{i}]", f"must be [op, dst, a, b, x] with a known op and registers 0..{PROGRAM_REGISTERS - 1}. "
                                  f"Received: {ins!r}")
        op, x = ins[0], ins[4]
        ok = _is_number(x) if op == "scalar" else (isinstance(x, str) and x in inputs) if op in LOADS \
            else register(x) if op == "where" else (_is_number(x) and x == 0)
        if not ok:
            fail(f"{where}[{i}]", f"has a bad operand x for {op}. Received: {x!r}")
    if program and program[-1][0] != "end":
        fail(where, 'must end with an "end" instruction')


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

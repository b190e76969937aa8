"""The CPU program: which WebAssembly kernel computes which graph nodes, and where each activation lives in
the wasm memory (the manifest's ``cpu`` field, docs/internals.md §6). Computed once here, at export; the
browser's wasm executor (web/src/wasm.js) only resolves shapes and pointers for each batch size.

A step runs one kernel. ``matmul`` and ``conv`` (``depthwise`` when each group has one input channel) take
the epilogue chain ``webexport.fusion`` finds after them: the bias, a residual add and a clamp run in
registers, anything else (GELU, sigmoid, leaky relu...) as a small register program over each output tile.
``max_pool``, ``avg_pool``, ``softmax`` and ``log_softmax`` (matched over the last axis) are steps of their
own, and so is ``rnn_scan`` (the whole recurrence, its recurrent kernel a constant). Every other node is a
``js`` step: its JS kernel (web/src/cpu/) reads and writes wasm memory. Zero-copy nodes (reshape) are no step
at all: they share their input's memory. The digits MLP:

    >>> print(format_cpu_plan(plan_cpu(graph)))
    matmul  dense/matmul+add+maximum  (%x, %w1, %w3) -> %v6  bias %w3  clamp [0, inf]
    matmul  dense_1/matmul+add  (%v6, %w7, %w9) -> %v10  bias %w9
    softmax  v11/max+sub+exp+sum+div  (%v10) -> %v15

A program instruction is ``[op, dst, a, b, x]``: register ``dst`` = ``op(register a, register b)``; ``x`` is
the float of ``scalar``, the value a load reads (``column``: indexed by output column, ``full``: laid out as
the output, ``row``: one per output row), or ``where``'s condition register. Register 0 holds the value
before the program; ``["end", 0, r, 0, 0]`` stores register r.
"""
import math
from dataclasses import dataclass, field

from pyml.ops.registry import Spec
from webexport import kernels as _families
from webexport.fusion import fuse, step_label, value_readers
from webexport.kernels.common import scalar_value
from webexport.memory import plan_memory
from webexport.validate_cpu import PROGRAM_REGISTERS

LOADS = ("scalar", "column", "full", "row")
COMPARISONS = frozenset(("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"))
BINARY = frozenset(("add", "sub", "mul", "div", "maximum", "minimum")) | COMPARISONS
UNARY = frozenset(("neg", "abs", "sqrt", "exp", "log", "tanh", "sigmoid", "erf"))
MAX_TAPS = 1024  # MAX_TAPS in web/wasm/gemm.c


@dataclass
class CpuStep:
    """One kernel call: ``nodes`` (graph order) computed by ``kernel``, reading ``inputs``, storing ``output``
    (the last node). Epilogue fields are used by matmul/conv/depthwise only."""

    kernel: str
    label: str
    nodes: list
    inputs: list
    output: str
    bias: str = None
    residual: str = None
    clamp: tuple = (-math.inf, math.inf)
    program: list = field(default_factory=list)

    def to_json(self):
        step = {"kernel": self.kernel, "label": self.label, "nodes": list(self.nodes), "inputs": list(self.inputs),
                "output": self.output}
        if self.kernel in ("matmul", "conv", "depthwise"):
            step.update(bias=self.bias, residual=self.residual, program=self.program,
                        clamp=[None if math.isinf(v) else float(v) for v in self.clamp])
        return step


@dataclass
class CpuPlan:
    """The steps in order, zero-copy ``aliases`` (value -> the value owning its storage), the
    ``MemoryPlan`` of the activations, and the graph's ``constants`` (names)."""

    steps: list
    aliases: dict
    memory: object
    constants: frozenset

    def to_json(self):
        """The manifest's ``cpu`` field: steps, buffers (activation slots) and values (where each activation
        lives; a zero-copy alias of a constant names the constant's weight entry)."""
        values = {name: {"buffer": int(slot)} for name, slot in self.memory.slot_of.items()}
        for name, root in self.aliases.items():
            if root in self.constants:
                values[name] = {"weight": root}
        return {"steps": [s.to_json() for s in self.steps],
                "buffers": [{"id": i, "bytes_per_batch": int(b), "bytes_fixed": int(f)}
                            for i, (b, f) in enumerate(self.memory.slots)],
                "values": values}


def plan_cpu(graph, dynamic_weights=False):
    """The ``CpuPlan`` of an optimized ``graph``: steps in graph order, zero-copy aliases, memory plan.
    ``dynamic_weights``: a matmul or conv whose weight is computed (a training step's slice of the flat
    parameters) runs on the wasm kernels too, the weight packed into panels at each run (web/src/wasm.js); only
    runtimes that know it read such a plan (a bundle's training section, ``webexport.train``)."""
    groups = {g.output.name: g for g in fuse(graph, _EPILOGUE_ANCHORS) if g.kind == "epilogue"}
    in_group = {n.name for g in groups.values() for n in g.nodes}
    readers = value_readers(graph)
    softmaxes = _softmaxes(graph, readers, in_group)
    in_softmax = {n for nodes, _ in softmaxes.values() for n in nodes}
    zero_copy = _families.aliases()
    constants = {n.name for n in graph.nodes if n.op == "constant"}
    steps, aliases = [], {}
    for node in graph.nodes:
        if node.op != "call" or (node.name in in_group and node.name not in groups) \
                or (node.name in in_softmax and node.name not in softmaxes):
            continue
        if node.name in groups:
            steps += _anchor_steps(graph, groups[node.name].nodes, dynamic_weights)
        elif node.name in softmaxes:
            nodes, kind = softmaxes[node.name]
            steps.append(CpuStep(kind, _label(graph, nodes), nodes, [graph.node(nodes[0]).inputs[0]], node.name))
        elif node.target in zero_copy and node.inputs:
            aliases[node.name] = aliases.get(node.inputs[0], node.inputs[0])
        elif node.target in ("matmul", "conv"):
            steps += _anchor_steps(graph, [node], dynamic_weights)
        elif node.target in ("max_pool", "avg_pool") and node.dtype == "float32" or _wasm_scan(graph, node):
            steps.append(CpuStep(node.target, _label(graph, [node.name]), [node.name], list(node.inputs), node.name))
        else:
            steps.append(_js_step(graph, node))
    external = constants | {a for a, root in aliases.items() if root in constants}
    memory = plan_memory([(s.inputs, [s.output]) for s in steps],
                         {n.name: Spec(tuple(n.shape), n.dtype) for n in graph.nodes}, graph.inputs, graph.outputs,
                         aliases=aliases, external=external)
    return CpuPlan(steps, aliases, memory, frozenset(constants))


def format_cpu_plan(plan):
    """One line per step: ``matmul  dense/matmul+add+maximum  (%x, %w1, %w3) -> %v6  bias %w3  clamp [0, inf]``."""
    lines = []
    for s in plan.steps:
        line = f"{s.kernel}  {s.label}  ({', '.join('%' + v for v in s.inputs)}) -> %{s.output}"
        if s.bias:
            line += f"  bias %{s.bias}"
        if s.residual:
            line += f"  residual %{s.residual}"
        if s.clamp != (-math.inf, math.inf):
            line += f"  clamp [{_number(s.clamp[0])}, {_number(s.clamp[1])}]"
        if s.program:
            line += "  program " + "; ".join(" ".join(str(v) for v in op) for op in s.program)
        lines.append(line)
    return "\n".join(lines)


# ---- matmul and convolution with their epilogues ------------------------------------------------------
def _anchor(node, ctx=None, epilogue=None):
    """Stands for a lowering that takes an epilogue, so ``fuse`` grows one after matmul and conv."""


_EPILOGUE_ANCHORS = {"matmul": _anchor, "conv": _anchor}


def _anchor_steps(graph, nodes, dynamic_weights=False):
    """The steps computing an epilogue group ``nodes`` (anchor first): one wasm step with the longest prefix of
    the chain its epilogue can compute, then a JS step per node left, or JS steps only if the kernel can't."""
    anchor, chain = nodes[0], list(nodes[1:])
    kernel = _anchor_kernel(graph, anchor, dynamic_weights)
    if kernel is None:
        return [_js_step(graph, n) for n in [anchor] + chain]
    for keep in range(len(chain), -1, -1):
        inner = {anchor.name} | {n.name for n in chain[:keep - 1]} if keep else set()
        if any(i in inner for n in chain[keep:] for i in n.inputs):
            continue  # a node left out reads a value the kernel never stores
        step = _epilogue_step(graph, kernel, anchor, chain[:keep])
        if step is not None:
            return [step] + [_js_step(graph, n) for n in chain[keep:]]
    raise AssertionError("an empty epilogue always compiles")


def _anchor_kernel(graph, anchor, dynamic_weights=False):
    """The wasm kernel for a matmul/conv node, or None when it needs the JS kernel."""
    x, w = (graph.node(i) for i in anchor.inputs)
    computed = dynamic_weights and w.dtype == "float32" and None not in w.shape
    if anchor.dtype != "float32" or x.dtype != "float32" or (w.op != "constant" and not computed):
        return None
    if anchor.target == "matmul":  # the wasm GEMM reads x by rows: a transposed x is the JS kernel's
        return "matmul" if len(w.shape) == 2 and len(x.shape) >= 2 and not anchor.attrs.get("transpose_a") else None
    rank = len(x.shape) - 2
    if math.prod(w.shape[:rank]) > MAX_TAPS:
        return None
    if w.shape[rank] == 1 and anchor.attrs.get("groups", 1) > 1:
        return "depthwise" if w.op == "constant" else None  # the depthwise kernel reads its weight as stored
    return "conv"


NO_CLAMP = (-math.inf, math.inf)


def _epilogue_step(graph, kernel, anchor, chain):
    """The step computing ``anchor`` and ``chain`` in one kernel call, or None if the epilogue cannot."""
    out_shape = tuple(anchor.shape)
    nodes = [anchor.name] + [n.name for n in chain]
    for taken, bias, residual, clamp in _fast_paths(graph, anchor, chain, out_shape):
        start = chain[taken - 1].name if taken else anchor.name
        earlier = {anchor.name} | {n.name for n in chain[:taken]}
        if any(v in earlier - {start} for n in chain[taken:] for v in n.inputs):
            continue  # the program sees only the value the fast path ends with
        program = _program(graph, chain[taken:], start, out_shape)
        if program is None:
            return None
        reads = [v for v in (bias, residual) if v] + [op[4] for op in program if op[0] in LOADS[1:]]
        inputs = list(dict.fromkeys(list(anchor.inputs) + reads))
        return CpuStep(kernel, step_label(graph, [graph.node(n) for n in nodes]), nodes, inputs, nodes[-1],
                       bias, residual, clamp, program)
    return None


def _fast_paths(graph, anchor, chain, out_shape):
    """What the kernel can do in registers at the head of ``chain``, longest first:
    ``(nodes taken, bias, residual, (lo, hi))`` for add(column), then add(full), then maximum/minimum with
    constants (a clamp, composed)."""
    cur, i, bias, residual, (lo, hi) = anchor.name, 0, None, None, NO_CLAMP
    stages = [(0, None, None, NO_CLAMP)]
    if i < len(chain) and _kind(graph, _operand_of(chain[i], cur, "add"), out_shape) == "column":
        bias, cur, i = _operand_of(chain[i], cur, "add"), chain[i].name, i + 1
        stages.append((i, bias, None, NO_CLAMP))
    if i < len(chain) and _kind(graph, _operand_of(chain[i], cur, "add"), out_shape) == "full":
        residual, cur, i = _operand_of(chain[i], cur, "add"), chain[i].name, i + 1
        stages.append((i, bias, residual, NO_CLAMP))
    while i < len(chain) and chain[i].target in ("maximum", "minimum"):
        c = _operand_of(chain[i], cur, chain[i].target)
        value = _scalar(graph, c) if c else None
        if value is None or math.isnan(value):
            break
        value = float(value)
        lo, hi = (max(lo, value), max(hi, value)) if chain[i].target == "maximum" else (min(lo, value), min(hi, value))
        cur, i = chain[i].name, i + 1
        stages.append((i, bias, residual, (lo, hi)))
    return reversed(stages)


def _operand_of(node, cur, target):
    """The other operand of a binary ``target`` node that reads ``cur`` once, else None."""
    if node.target != target or len(node.inputs) != 2 or node.inputs.count(cur) != 1:
        return None
    return node.inputs[1] if node.inputs[0] == cur else node.inputs[0]


def _kind(graph, name, out_shape):
    """How a float32 operand broadcasts into the output: "scalar" (a constant's one value), "column" (one per
    output column), "full" (the output's shape), "row" (one per row), or None (anything else)."""
    if name is None:
        return None
    node = graph.node(name)
    if node.dtype != "float32":
        return None
    if node.op == "constant" and _scalar(graph, name) is not None:
        return "scalar"
    shape = tuple(node.shape)
    if len(shape) > len(out_shape):
        return None
    padded = (1,) * (len(out_shape) - len(shape)) + shape
    if padded == out_shape:
        return "full"
    if all(d == 1 for d in padded[:-1]) and padded[-1] == out_shape[-1]:
        return "column"
    if padded[:-1] == out_shape[:-1] and padded[-1] == 1:
        return "row"
    return None


def _program(graph, chain, start, out_shape):
    """The register program computing ``chain`` from register 0 = ``start``, or None if one node can't be."""
    if not chain:
        return []
    reg = {start: 0}
    last_use = {}
    for k, n in enumerate(chain):
        for v in n.inputs:
            last_use[v] = k
    free = list(range(PROGRAM_REGISTERS - 1, 0, -1))
    program, masks = [], set()

    def operand(name):
        if name in reg:
            return reg[name]
        kind = _kind(graph, name, out_shape)
        if kind is None or not free:
            return None
        r = free.pop()
        x = float(_scalar(graph, name)) if kind == "scalar" else name
        if kind == "scalar" and not math.isfinite(x):
            return None  # JSON cannot carry it
        program.append([kind, r, 0, 0, x])
        reg[name] = r
        last_use.setdefault(name, -1)
        return r

    for k, n in enumerate(chain):
        op = n.target
        if op not in BINARY | UNARY and op != "where":
            return None
        if (op in COMPARISONS) != (n.dtype == "bool") or (op not in COMPARISONS and n.dtype != "float32"):
            return None
        args = [operand(v) for v in n.inputs]
        if None in args or len(args) != (3 if op == "where" else 2 if op in BINARY else 1):
            return None
        if op == "where":
            cond, a, b = n.inputs
            if cond not in masks or a in masks or b in masks:
                return None
        elif any(v in masks for v in n.inputs):
            return None  # a bool value feeds arithmetic: the program has no casts
        for v in n.inputs:  # free registers whose last reader this is (0 stays: it is the start value)
            if last_use.get(v, -1) <= k and reg.get(v, 0) != 0 and reg[v] not in free:
                free.append(reg[v])
        if not free:
            return None
        dst = free.pop()
        if op == "where":
            program.append(["where", dst, args[1], args[2], args[0]])
        else:
            program.append([op, dst, args[0], args[1] if len(args) > 1 else 0, 0])
        reg[n.name] = dst
        if op in COMPARISONS:
            masks.add(n.name)
    program.append(["end", 0, reg[chain[-1].name], 0, 0])
    return program


# ---- softmax, pooling, JS ------------------------------------------------------------------------------
def _softmaxes(graph, readers, taken):
    """``{output: (node names, "softmax" | "log_softmax")}``: the chains pyml.ops.softmax and log_softmax
    trace to over the last axis, whose inner values nothing else reads:
    softmax ``div(e, sum(e))`` and log-softmax ``sub(d, log(sum(e)))``, with ``e = exp(d)``, ``d = sub(x, max(x))``."""
    def only(name, target, inputs=None, count=1):
        names = readers.get(name, ())
        nodes = [graph.node(r) for r in names if r is not None]
        if None in names or len(names) != count:
            return None
        node = next((n for n in nodes if n.target == target and n.dtype == "float32"), None)
        return node if node is not None and (inputs is None or node.inputs == inputs) else None

    def over_last_axis(node, rank):
        return tuple(node.attrs.get("axes", ())) == (rank - 1,) and node.attrs.get("keepdims")

    found = {}
    for m in graph.nodes:
        if m.op != "call" or m.target != "max" or m.dtype != "float32" or m.name in taken:
            continue
        x = m.inputs[0]
        rank = len(graph.node(x).shape)
        d = over_last_axis(m, rank) and only(m.name, "sub", [x, m.name])
        for kind, readers_of_d, readers_of_e in (("softmax", 1, 2), ("log_softmax", 2, 1)):
            e = d and only(d.name, "exp", [d.name], count=readers_of_d)
            s = e and only(e.name, "sum", [e.name], count=readers_of_e)
            if not s or not over_last_axis(s, rank):
                continue
            if kind == "softmax":
                y = only(s.name, "div", [e.name, s.name])
                if y and y.name in readers[e.name]:
                    found[y.name] = ([m.name, d.name, e.name, s.name, y.name], kind)
            else:
                log = only(s.name, "log", [s.name])
                y = log and only(log.name, "sub", [d.name, log.name])
                if y and y.name in readers[d.name]:
                    found[y.name] = ([m.name, d.name, e.name, s.name, log.name, y.name], kind)
    return found


def _wasm_scan(graph, node):
    """Whether the wasm kernel runs an ``rnn_scan`` node: float32, its recurrent kernel ``u`` a constant (packed
    into column panels at load, as a matmul's weights)."""
    return node.target == "rnn_scan" and node.dtype == "float32" and graph.node(node.inputs[1]).op == "constant"


def _js_step(graph, node):
    return CpuStep("js", step_label(graph, [node]), [node.name], list(dict.fromkeys(node.inputs)), node.name)


def _label(graph, names):
    return step_label(graph, [graph.node(n) for n in names])


def _number(v):
    return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"


def _scalar(graph, name):
    """The one value of a single-element constant, which a program inlines, else None (also for a constant marked
    ``variable``: a weight a training bundle overwrites, ``webexport.train``)."""
    if name not in graph.constants or graph.node(name).attrs.get("variable"):
        return None
    return scalar_value(graph.constants[name], broadcast=False)

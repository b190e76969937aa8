"""WGSL lowering of ``rnn_scan`` (recurrent.wgsl.j2): the whole recurrence in ONE dispatch.

The primitive (/work/wt/RNN_CONTRACT.md, ``pyml/ops/recurrent.py``) runs a SimpleRNN, LSTM or GRU cell over
``T`` steps: per step ``h_prev @ u`` (``[B, H] x [H, G*H]``), the gates, the activations and the state update.
Batch rows are independent, so one workgroup owns ``rows`` batch rows for the whole sequence and no step
needs a dispatch of its own:

- the state ``h`` of its rows lives in workgroup memory, double-buffered (step ``s`` reads buffer ``s % 2``
  and writes the other), so one ``workgroupBarrier()`` per step separates the reads of a step from the writes
  of the next (the GRU with ``reset_after=False`` needs ``r * h_prev`` of every unit before its candidate:
  a second array and barrier);
- each invocation owns hidden units ``j = lid, lid + size, ...`` and all ``G`` gate columns of them, for every
  row of the workgroup: each weight ``u[k, g*H + j]`` it loads serves ``rows`` rows; neighbouring invocations
  read neighbouring columns of ``u`` (coalesced), and every ``h[k]`` load is one broadcast from workgroup memory;
  when ``H`` is a multiple of 4 (and ``u`` float32) everything but the mask is read as ``vec4``: an invocation
  owns 4 adjacent units, each ``u`` load serves 4 of them and each ``h`` load 4 rows of ``u`` (the LSTM(128)
  over 50 steps of benchmarks/webgpu_inference.py, against a unit per invocation: 2x faster on lavapipe at
  batch 1 and 32, as fast on SwiftShader);
- ``c`` (LSTM) never leaves the invocation that owns its unit: it stays in registers; every step's ``h`` (and
  ``c``) is stored to the output as the contract lays it out, ``out[b, s] = [h, c]``;
- ``u`` stays where it is (a weight buffer, read from storage every step: "resident"); a ``u`` stored as
  float16/int8 (``ctx.packed``) is unpacked as it is loaded (packed.wgsl.j2), one int8 scale per column.

The workgroup memory (``2 * rows * H`` floats, ``3 *`` for a GRU without reset_after) must fit WebGPU's 16 KiB:
with ``rows == 1`` that is ``H <= 2048`` (1365); a larger state is refused with an ExportError naming the node.
The dynamic batch needs nothing special: the kernel runs ``ceil(B / rows)`` workgroups, rows past ``B`` compute
on zeros and store nothing. From ``MULTI_ROW_MIN_BATCH`` rows a ``Variant`` packs ``MULTI_ROWS`` rows per
workgroup, sharing the loads of ``u``.

    >>> [k.label for k in lower_rnn_scan(node, ctx)]
    ['v7/rnn_scan']
"""
from webexport.kernels.common import ExportError, Kernel, Variant, bindings, dim, lowering, render

GATES = {"simple": 1, "gru": 3, "lstm": 4}
STATES = {"simple": 1, "gru": 1, "lstm": 2}
ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "softsign")
MAX_WORKGROUP_STORAGE_BYTES = 16 * 2**10  # as webexport.lower checks (it imports this package first)
MAX_INVOCATIONS = 256  # maxComputeInvocationsPerWorkgroup every WebGPU device offers
MULTI_ROWS = 4  # rows per workgroup of the variant for larger batches ...
MULTI_ROW_MIN_BATCH = 8  # ... from this batch size
MAX_ACCUMULATORS = 32  # rows * gates sums per invocation, kept in registers


def cell_of(node):
    """``(cell, G, S)`` of an ``rnn_scan`` node, refusing a cell or activation the kernels do not know."""
    attrs = node.attrs
    cell = attrs.get("cell")
    if cell not in GATES:
        raise ExportError(f"node %{node.name} (rnn_scan): unknown cell {cell!r}; expected one of {', '.join(GATES)}")
    for key in ("activation",) + (("recurrent_activation",) if cell != "simple" else ()):
        if attrs.get(key) not in ACTIVATIONS:
            raise ExportError(f"node %{node.name} (rnn_scan): {key} {attrs.get(key)!r} has no kernel; export supports "
                              f"{', '.join(ACTIVATIONS)}")
    return cell, GATES[cell], STATES[cell]


@lowering("rnn_scan")
def lower_rnn_scan(node, ctx):
    """One kernel for the whole sequence (see the module docstring), plus a multi-row variant for big batches."""
    cell, gates, states = cell_of(node)
    batch, steps, width = ctx.spec(node.inputs[0]).shape
    units = int(node.attrs["units"])
    if width != gates * units:
        raise ExportError(f"node %{node.name} (rnn_scan): xp has {width} columns; a {cell} cell of {units} units "
                          f"needs {gates * units}")
    per_unit = 3 if cell == "gru" and not node.attrs.get("reset_after") else 2  # floats of workgroup memory
    if per_unit * units * 4 > MAX_WORKGROUP_STORAGE_BYTES:
        raise ExportError(f"node %{node.name} (rnn_scan): {units} units need {per_unit * units * 4} bytes of "
                          f"workgroup memory for the state; WebGPU guarantees {MAX_WORKGROUP_STORAGE_BYTES} "
                          f"(at most {MAX_WORKGROUP_STORAGE_BYTES // (4 * per_unit)} units can be exported)")
    label = f"{node.name}/rnn_scan"
    inputs = list(node.inputs)
    if cell == "gru" and not node.attrs.get("reset_after"):
        del inputs[2]  # b_rec: zeros without reset_after (the contract keeps the input order the same)

    vec = 4 if units % 4 == 0 and not ctx.packed(node.inputs[1]) else 1
    binds = bindings(ctx, inputs, [node.name])
    for b in binds[:len(inputs) - bool(node.attrs.get("masked"))] + binds[-1:]:  # all but the mask
        b["type"] = "vec4<f32>" if vec == 4 else b["type"]

    def program(rows):
        quads = units // vec  # what invocations share out
        slots = -(-quads // MAX_INVOCATIONS)  # per invocation
        size = min(MAX_INVOCATIONS, -(-(-(-quads // slots)) // 32) * 32)
        wgsl = render("recurrent.wgsl.j2", label=label, workgroup_size=size, vec=vec,
                      bindings=binds, cell=cell, gates=gates, states=states,
                      units=units, steps=int(steps), rows=rows, slots=slots, batch=dim(batch),
                      activation=node.attrs["activation"], recurrent_activation=node.attrs.get("recurrent_activation"),
                      go_backwards=bool(node.attrs.get("go_backwards")), reset_after=bool(node.attrs.get("reset_after")),
                      masked=bool(node.attrs.get("masked")))
        per_row = size // rows
        threads = (per_row, 0) if batch is None else (0, per_row * int(batch))
        return wgsl, threads, size

    wgsl, threads, size = program(1)
    kernel = Kernel(wgsl=wgsl, inputs=inputs, outputs=[node.name], threads=threads, label=label,
                    workgroup_size=size)
    rows = MULTI_ROWS
    fits = per_unit * units * 4 * rows <= MAX_WORKGROUP_STORAGE_BYTES and rows * gates <= MAX_ACCUMULATORS
    if fits and (batch is None or batch >= MULTI_ROW_MIN_BATCH):
        wgsl, threads, size = program(rows)
        if batch is None:
            kernel.variants = [Variant(MULTI_ROW_MIN_BATCH, wgsl, threads, size)]
        else:
            kernel = Kernel(wgsl=wgsl, inputs=kernel.inputs, outputs=kernel.outputs, threads=threads, label=label,
                            workgroup_size=size)
    return [kernel]

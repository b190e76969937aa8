"""The NumPy loops behind ``rnn_scan`` and ``rnn_scan_grad`` (``pyml/ops/recurrent.py`` defines the primitives).

Both write straight into the array they are given (the executor's ``INTO`` kernels, and the registry forwards
through ``scan_forward``/``grad_forward``), one step at a time into preallocated per-step buffers: a step of an
LSTM with batch 128 and 128 units is ~25 small NumPy calls and two 128 x 128 x 512 GEMMs, so what matters is
not allocating and not passing over the data more often than needed. Samples are independent, so the batch is
split into ``pyml.threads.gemm_threads()`` row ranges, each running the whole loop over time on its own thread
(the BLAS single-threaded, eagerly too): no synchronisation per step.

The LSTM has its own loops (the layer of the benchmarks and the most used); SimpleRNN and GRU share a generic
step. ``rnn_scan_grad`` recomputes each step's gates from the stored states (the primitive's output is the
contract's states only), except in the executor, where its step reads the gates that the linked forward step
kept (``pyml/graph/kernels_recurrent.py``). The array module comes from ``pyml.backend``, so the same loops run on
CuPy (there the batch is not split: ``pyml.threads`` uses one thread off the host).
"""
from pyml import backend, threads

GATES = {"simple": 1, "gru": 3, "lstm": 4}  # G: gate blocks of width H in xp and u
STATES = {"simple": 1, "gru": 1, "lstm": 2}  # S: states per step in the output (h, and c for lstm)
MIN_ROWS = 16  # fewer samples per thread than this: one thread (its GEMMs would be too thin to pay)


# ---- activations ---------------------------------------------------------------------------------------
def _sigmoid(xp, x):
    # 1/(1+e^-x) = (1 + tanh(x/2)) / 2: never overflows, and three in-place ufuncs are ~3x faster than the
    # select-based stable form
    y = xp.tanh(x * 0.5)
    y *= 0.5
    y += 0.5
    return y


def _hard_sigmoid(xp, x):
    return xp.clip(x / 6 + 0.5, 0, 1)  # Keras 3: relu6(x + 3) / 6


# name -> (forward(xp, x), derivative(xp, x, y) from the input x and the output y)
ACTIVATIONS = {
    "tanh": (lambda xp, x: xp.tanh(x), lambda xp, x, y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda xp, x, y: y * (1 - y)),
    "relu": (lambda xp, x: xp.maximum(x, 0), lambda xp, x, y: (x > 0).astype(x.dtype)),
    "linear": (lambda xp, x: x, lambda xp, x, y: xp.ones_like(x)),
    "hard_sigmoid": (_hard_sigmoid, lambda xp, x, y: ((x > -3) & (x < 3)).astype(x.dtype) / 6),
    "softsign": (lambda xp, x: x / (1 + xp.abs(x)), lambda xp, x, y: 1 / (1 + xp.abs(x)) ** 2),
}


def _activate(name, x, out):
    """``out = activation(x)`` (``out`` may be ``x``): the common two without temporaries, as the forward does."""
    xp = backend.xp()
    if name == "tanh":
        xp.tanh(x, out=out)
    elif name == "sigmoid":
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out *= 0.5
        out += 0.5
    else:
        xp.copyto(out, ACTIVATIONS[name][0](xp, x))


def input_names(cell, masked):
    """The primitive's inputs, in order, for ``cell`` (the contract's table)."""
    names = {"simple": ["xp", "u", "h0"], "gru": ["xp", "u", "b_rec", "h0"], "lstm": ["xp", "u", "h0", "c0"]}[cell]
    return names + ["mask"] if masked else names


def unpack(arrays, cell, masked):
    """(xp, u, b_rec, h0, c0, mask) with None for those the cell does not take."""
    values = dict(zip(input_names(cell, masked), arrays))
    return tuple(values.get(n) for n in ("xp", "u", "b_rec", "h0", "c0", "mask"))


def grad_layout(cell, units, reset_after, masked):
    """Column blocks of ``rnn_scan_grad``'s rows (one row per sample and step): name -> (start, stop).

    ``dx``: cotangent of ``xp[b, t]``; ``drec``: of the recurrent pre-activation ``h @ u + b_rec`` (GRU with
    reset_after; elsewhere it equals ``dx``); ``rh``: ``r * h_prev`` (GRU without reset_after: the operand of
    ``u``'s h block, so its gradient is one matmul too); ``dmask``: cotangent of ``mask[b, t]``.
    """
    width = GATES[cell] * units
    blocks = {"dx": (0, width)}
    if cell == "gru" and reset_after:
        blocks["drec"] = (width, 2 * width)
    elif cell == "gru":
        blocks["rh"] = (width, width + units)
    end = max(stop for _, stop in blocks.values())
    if masked:
        blocks["dmask"] = (end, end + 1)
    return blocks


def grad_shape(batch, steps, cell, units, reset_after, masked):
    """``rnn_scan_grad``'s output: rows ``b * steps + t`` (xp's time order), then one row per sample holding
    ``dh0`` (and ``dc0`` for lstm) from column 0; so the rows of all steps, and their ``dx`` columns, are one
    2-D block whose products with the states are single GEMMs."""
    width = max(stop for _, stop in grad_layout(cell, units, reset_after, masked).values())
    return batch * steps + batch, max(width, STATES[cell] * units)


def _split_batch(run, batch):
    """``run(lo, hi)`` over sample ranges, one per thread that may multiply matrices: with the BLAS on one
    thread, as convolutions do, also when called eagerly (a multithreaded BLAS spin-waits at each of the
    step's small GEMMs)."""
    with threads.blas_single_threaded():
        pieces = min(threads.gemm_threads(), max(1, batch // MIN_ROWS))
        if pieces == 1:
            run(0, batch)
            return
        bounds = [batch * i // pieces for i in range(pieces + 1)]
        threads.run_all([lambda slot, lo=lo, hi=hi: run(lo, hi) for lo, hi in zip(bounds, bounds[1:])])


# ---- forward -------------------------------------------------------------------------------------------
def scan_into(out, *arrays, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked,
              gates=None):
    """``rnn_scan`` into ``out`` (``(batch, steps, S * units)``); an LSTM's activated gates also into ``gates``
    (``(steps, batch, 4 * units)``, processing order) when given (see ``grad_into``)."""
    x, u, b_rec, h0, c0, mask = unpack(arrays, cell, masked)

    def run(lo, hi):
        rows = (x[lo:hi], h0[lo:hi], None if c0 is None else c0[lo:hi], None if mask is None else mask[lo:hi])
        with backend.errstate(backend.xp(), over="ignore", under="ignore"):
            if cell == "lstm":
                _lstm_forward(out[lo:hi], *rows, u, activation, recurrent_activation, go_backwards,
                              None if gates is None else gates[:, lo:hi])
            else:
                _generic_forward(out[lo:hi], *rows, u, b_rec, cell, activation, recurrent_activation,
                                 go_backwards, reset_after)

    _split_batch(run, x.shape[0])
    return out


def scan_forward(xp, *arrays, **attrs):
    """The registry's forward: a new array."""
    batch, steps, _ = arrays[0].shape
    out = xp.empty((batch, steps, STATES[attrs["cell"]] * attrs["units"]), arrays[0].dtype)
    return scan_into(out, *arrays, **attrs)


class _LSTMGates:
    """Activates ``z = [i f c o]`` in place: ``recurrent_activation`` on i, f, o and ``activation`` on c; for
    (tanh, sigmoid) in four ufuncs over the whole row (sigmoid(x) = tanh(x/2)/2 + 1/2, scale 1 and shift 0 on
    the tanh block, which is exact); and the derivatives from the activated values."""

    def __init__(self, units, dtype, activation, recurrent_activation):
        xp = backend.xp()
        H = units
        self.fused = (activation, recurrent_activation) == ("tanh", "sigmoid")
        self.keep_input = not {activation, recurrent_activation} <= {"tanh", "sigmoid"}  # derivatives need x
        self.scale = xp.full(4 * H, 0.5, dtype)
        self.scale[2 * H:3 * H] = 1
        self.shift = xp.full(4 * H, 0.5, dtype)
        self.shift[2 * H:3 * H] = 0
        self.plus = 1 - 2 * self.shift  # 0 on the sigmoid blocks, 1 on the tanh block
        self.blocks = [(slice(0, 2 * H), recurrent_activation), (slice(2 * H, 3 * H), activation),
                       (slice(3 * H, 4 * H), recurrent_activation)]

    def __call__(self, z):
        xp = backend.xp()
        if self.fused:
            z *= self.scale
            xp.tanh(z, out=z)
            z *= self.scale
            z += self.shift
            return
        for columns, name in self.blocks:
            _activate(name, z[:, columns], z[:, columns])

    def derivative(self, pre, y, out):
        """``out = activation'`` at every gate from the activated ``y`` and the pre-activation ``pre`` (kept only
        when ``keep_input``: tanh's and sigmoid's derivatives need ``y`` alone, ``pre`` is scratch then)."""
        xp = backend.xp()
        if self.fused:  # sigmoid' = (1 - y)(0 + y), tanh' = (1 - y)(1 + y): one formula, plus 0 or 1
            xp.subtract(1, y, out=out)
            out *= xp.add(y, self.plus, out=pre)
            return
        for columns, name in self.blocks:
            out[:, columns] = ACTIVATIONS[name][1](xp, pre[:, columns], y[:, columns])


def _lstm_forward(out, x, h, c, mask, u, activation, recurrent_activation, go_backwards, gates):
    xp = backend.xp()
    n, steps, width = x.shape
    H = width // 4
    activate = _LSTMGates(H, x.dtype, activation, recurrent_activation)
    z = xp.empty((n, width), x.dtype)
    tmp = xp.empty((n, H), x.dtype)
    for k in range(steps):
        t = steps - 1 - k if go_backwards else k
        if gates is not None:
            z = gates[k]
        xp.matmul(h, u, out=z)
        z += x[:, t]
        activate(z)
        h_out, c_out = out[:, k, :H], out[:, k, H:]
        xp.multiply(z[:, H:2 * H], c, out=c_out)  # c = f c_prev + i g
        c_out += xp.multiply(z[:, :H], z[:, 2 * H:3 * H], out=tmp)
        _activate(activation, c_out, tmp)
        xp.multiply(z[:, 3 * H:], tmp, out=h_out)  # h = o act(c)
        if mask is not None:  # a blend rather than a select, so the output is differentiable in the mask too
            m = mask[:, t, None]
            for new, old in ((h_out, h), (c_out, c)):
                new *= m
                new += (1 - m) * old
        h, c = h_out, c_out


def _generic_forward(out, x, h, c, mask, u, b_rec, cell, activation, recurrent_activation, go_backwards,
                     reset_after):
    act, rec_act = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    steps = x.shape[1]
    for k in range(steps):
        t = steps - 1 - k if go_backwards else k
        h_new, _ = _step(cell, x[:, t], h, u, b_rec, act, rec_act, reset_after)
        if mask is not None:
            m = mask[:, t, None]
            h_new = m * h_new + (1 - m) * h
        out[:, k] = h_new
        h = out[:, k]


def _step(cell, x_t, h, u, b_rec, act, rec_act, reset_after):
    """One SimpleRNN or GRU step from state h: the new (unmasked) state and what the backward pass needs."""
    xp, H = backend.xp(), h.shape[1]
    if cell == "simple":
        z = x_t + h @ u
        return act[0](xp, z), (z,)
    if reset_after:
        rec = h @ u + b_rec
        z_pre = x_t[:, :2 * H] + rec[:, :2 * H]
        zr = rec_act[0](xp, z_pre)
        r = zr[:, H:]
        hh_pre = x_t[:, 2 * H:] + r * rec[:, 2 * H:]
    else:
        rec = None
        z_pre = x_t[:, :2 * H] + h @ u[:, :2 * H]
        zr = rec_act[0](xp, z_pre)
        r = zr[:, H:]
        hh_pre = x_t[:, 2 * H:] + (r * h) @ u[:, 2 * H:]
    z = zr[:, :H]
    hh = act[0](xp, hh_pre)
    return z * h + (1 - z) * hh, (z_pre, zr, hh_pre, hh, rec)


# ---- gradient ------------------------------------------------------------------------------------------
def grad_into(packed, g, out, *arrays, cell, units, activation, recurrent_activation, go_backwards, reset_after,
              masked, gates=None):
    """``rnn_scan_grad`` into ``packed`` (``grad_shape``): backpropagation through time, walking the steps in
    reverse processing order. An LSTM's gates are recomputed from the stored states, unless ``gates`` holds
    them: what ``scan_into`` wrote there for the same inputs and output (``linked_kernels`` makes sure)."""
    x, u, b_rec, h0, c0, mask = unpack(arrays, cell, masked)
    batch, steps, _ = x.shape
    blocks = grad_layout(cell, units, reset_after, masked)
    rows = packed[:batch * steps].reshape(batch, steps, packed.shape[1])
    last = packed[batch * steps:]
    last[:, STATES[cell] * units:] = 0  # columns of the dx rows that dh0 (and dc0) do not fill

    def run(lo, hi):
        part = (rows[lo:hi], last[lo:hi], g[lo:hi], out[lo:hi], x[lo:hi], h0[lo:hi],
                None if c0 is None else c0[lo:hi], None if mask is None else mask[lo:hi])
        with backend.errstate(backend.xp(), over="ignore", under="ignore"):
            if cell == "lstm":
                _lstm_backward(*part, u, blocks, activation, recurrent_activation, go_backwards,
                               None if gates is None else gates[:, lo:hi])
            else:
                _generic_backward(*part, u, b_rec, blocks, cell, activation, recurrent_activation, go_backwards,
                                  reset_after)

    _split_batch(run, batch)
    return packed


def grad_forward(xp, g, out, *arrays, **attrs):
    """The registry's forward: a new array."""
    batch, steps, _ = out.shape
    shape = grad_shape(batch, steps, attrs["cell"], attrs["units"], attrs["reset_after"], attrs["masked"])
    return grad_into(xp.empty(shape, out.dtype), g, out, *arrays, **attrs)


def _lstm_backward(rows, last, g, out, x, h0, c0, mask, u, blocks, activation, recurrent_activation,
                   go_backwards, gates):
    xp = backend.xp()
    n, steps, width = x.shape
    H = width // 4
    dtype = x.dtype
    activate = _LSTMGates(H, dtype, activation, recurrent_activation)
    z, derivative, dz = (xp.empty((n, width), dtype) for _ in range(3))
    pre = xp.empty((n, width), dtype)
    a_c, tmp, c_own = (xp.empty((n, H), dtype) for _ in range(3))
    dh, dc = xp.zeros((n, H), dtype), xp.zeros((n, H), dtype)
    u_t = xp.ascontiguousarray(u.T)  # a transposed view as GEMM operand measured ~1.7x slower
    for k in reversed(range(steps)):
        t = steps - 1 - k if go_backwards else k
        h = h0 if k == 0 else out[:, k - 1, :H]
        c = c0 if k == 0 else out[:, k - 1, H:]
        if gates is not None:
            z = gates[k]
        else:  # the step's gates again, as the forward made them
            xp.matmul(h, u, out=z)
            z += x[:, t]
            if activate.keep_input:
                xp.copyto(pre, z)
            activate(z)
        i, f, g_, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        if mask is None:
            c_new = out[:, k, H:]
        else:  # out holds the blended state: the step's own one again
            c_new = xp.multiply(f, c, out=c_own)
            c_new += i * g_
        _activate(activation, c_new, a_c)
        dh += g[:, k, :H]
        dc += g[:, k, H:]
        if mask is not None:
            m = mask[:, t, None]
            rows[:, t, blocks["dmask"][0]] = (dh * (o * a_c - h)).sum(axis=1) + (dc * (c_new - c)).sum(axis=1)
            carry_h, carry_c = (1 - m) * dh, (1 - m) * dc
            dh *= m
            dc *= m
        # dc += dh o act'(c)
        if activation == "tanh":
            xp.multiply(a_c, a_c, out=tmp)
            xp.subtract(1, tmp, out=tmp)
        else:
            tmp[...] = ACTIVATIONS[activation][1](xp, c_new, a_c)
        tmp *= o
        tmp *= dh
        dc += tmp
        xp.multiply(dc, g_, out=dz[:, :H])
        xp.multiply(dc, c, out=dz[:, H:2 * H])
        xp.multiply(dc, i, out=dz[:, 2 * H:3 * H])
        xp.multiply(dh, a_c, out=dz[:, 3 * H:])
        dc *= f
        activate.derivative(pre, z, derivative)
        dz *= derivative
        xp.matmul(dz, u_t, out=dh)
        rows[:, t, slice(*blocks["dx"])] = dz  # one copy: computing into rows far apart measured ~10% slower
        if mask is not None:
            dh += carry_h
            dc += carry_c
    last[:, :H] = dh
    last[:, H:2 * H] = dc


def _generic_backward(rows, last, g, out, x, h0, c0, mask, u, b_rec, blocks, cell, activation,
                      recurrent_activation, go_backwards, reset_after):
    xp = backend.xp()
    act, rec_act = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    steps = x.shape[1]
    dh = xp.zeros_like(h0)
    for k in reversed(range(steps)):
        t = steps - 1 - k if go_backwards else k
        h = h0 if k == 0 else out[:, k - 1]
        dh = dh + g[:, k]
        h_new, saved = _step(cell, x[:, t], h, u, b_rec, act, rec_act, reset_after)
        row = rows[:, t]
        if mask is not None:
            m = mask[:, t, None]
            row[:, blocks["dmask"][0]] = xp.sum(dh * (h_new - h), axis=1)
            dh, carry_h = m * dh, (1 - m) * dh
        dh = _step_backward(cell, saved, dh, h, u, row, blocks, act, rec_act, reset_after)
        if mask is not None:
            dh = dh + carry_h
    last[:, :dh.shape[1]] = dh


def _step_backward(cell, saved, dh, h, u, row, blocks, act, rec_act, reset_after):
    """Cotangents of one SimpleRNN or GRU step: writes dx (and drec / rh) into ``row``; returns dh_prev."""
    xp, H = backend.xp(), h.shape[1]
    dx = row[:, slice(*blocks["dx"])]
    if cell == "simple":
        (z,) = saved
        dx[...] = dh * act[1](xp, z, act[0](xp, z))
        return dx @ u.T
    z_pre, zr, hh_pre, hh, rec = saved
    z, r = zr[:, :H], zr[:, H:]
    d_hh_pre = dh * (1 - z) * act[1](xp, hh_pre, hh)
    dx[:, 2 * H:] = d_hh_pre
    if reset_after:
        dr = d_hh_pre * rec[:, 2 * H:]
    else:
        d_rh = d_hh_pre @ u[:, 2 * H:].T
        dr = d_rh * h
        row[:, slice(*blocks["rh"])] = r * h
    d_zr = xp.concatenate([dh * (h - hh), dr], axis=1)
    dx[:, :2 * H] = d_zr * rec_act[1](xp, z_pre, zr)
    if reset_after:
        drec = row[:, slice(*blocks["drec"])]
        drec[:, :2 * H] = dx[:, :2 * H]
        drec[:, 2 * H:] = d_hh_pre * r
        return drec @ u.T + dh * z
    return dx[:, :2 * H] @ u[:, :2 * H].T + d_rh * r + dh * z

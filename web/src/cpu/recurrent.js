/**
 * CPU kernel of the recurrence primitive `rnn_scan` (docs/internals.md §5; the equations are Keras 3's): a
 * SimpleRNN, LSTM or GRU cell over every time step. The wasm backend runs its own kernel (web/wasm/rnn.c); this
 * one is the `js` backend's. Sums accumulate in doubles; the states are rounded to float32 after every step, as
 * the Python forward keeps them.
 * @module cpu/recurrent
 */

const GATES = { simple: 1, gru: 3, lstm: 4 };

/** The activations by Keras name (the set webexport accepts). */
const ACTIVATIONS = {
  tanh: Math.tanh,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  relu: (x) => (x > 0 ? x : 0),
  linear: (x) => x,
  hard_sigmoid: (x) => Math.min(Math.max(x / 6 + 0.5, 0), 1), // Keras 3: relu6(x + 3) / 6
  softsign: (x) => x / (1 + Math.abs(x)),
};

function activation(name) {
  const fn = ACTIVATIONS[name];
  if (!fn) throw new Error(`activation "${name}" has no CPU kernel; expected one of ${Object.keys(ACTIVATIONS).join(", ")}`);
  return fn;
}

/**
 * CPU kernels keyed by primitive name: `kernels[name](inputs, attrs, out) -> typed array`.
 * @example
 *   kernels.rnn_scan([xp, u, h0], { cell: "simple", units: 8, activation: "tanh", go_backwards: false,
 *                                   reset_after: false, masked: false }, { shape: [2, 20, 8], dtype: "float32" });
 */
export const kernels = {
  /**
   * The recurrence: inputs `xp [B, T, G*H], u [H, G*H]`, then `h0` (simple), `b_rec, h0` (gru) or `h0, c0` (lstm),
   * then `mask [B, T]` when `attrs.masked`; out `[B, T, S*H]`, the state after each processed step (h, then c).
   * @example
   *   kernels.rnn_scan([xp, u, h0, c0], { cell: "lstm", units: 4, activation: "tanh", recurrent_activation: "sigmoid",
   *     go_backwards: false, reset_after: false, masked: false }, { shape: [1, 20, 8], dtype: "float32" });
   */
  rnn_scan(inputs, attrs, out) {
    const { cell, units: H, masked } = attrs;
    const G = GATES[cell];
    if (!G) throw new Error(`unknown cell "${cell}"; expected one of ${Object.keys(GATES).join(", ")}`);
    const act = activation(attrs.activation), ract = cell === "simple" ? null : activation(attrs.recurrent_activation);
    const [xp, u] = inputs;
    const bRec = cell === "gru" ? inputs[2].data : null;
    const h0 = inputs[cell === "gru" ? 3 : 2], c0 = cell === "lstm" ? inputs[3] : null;
    const mask = masked ? inputs[inputs.length - 1].data : null;
    const [B, T] = xp.shape, GH = G * H, S = c0 ? 2 : 1, w = u.data;
    const y = new Float32Array(B * T * S * H);
    const h = new Float32Array(H), c = new Float32Array(H), z = new Float64Array(GH), rh = new Float32Array(H);
    const hPrev = new Float32Array(H), cPrev = new Float32Array(H);
    const classic = cell === "gru" && !attrs.reset_after; // (r * h_prev) @ u_h: a second product after r
    for (let b = 0; b < B; b++) {
      h.set(h0.data.subarray(b * H, (b + 1) * H));
      if (c0) c.set(c0.data.subarray(b * H, (b + 1) * H));
      for (let s = 0; s < T; s++) {
        const t = attrs.go_backwards ? T - 1 - s : s;
        const x = (b * T + t) * GH, at = (b * T + s) * S * H;
        if (mask) {
          hPrev.set(h);
          if (c0) cPrev.set(c);
        }
        const columns = classic ? 2 * H : GH;
        for (let j = 0; j < columns; j++) z[j] = bRec && !classic ? bRec[j] : 0;
        for (let k = 0; k < H; k++) {
          const hk = h[k], row = k * GH;
          for (let j = 0; j < columns; j++) z[j] += hk * w[row + j];
        }
        if (cell === "simple") {
          for (let j = 0; j < H; j++) h[j] = act(xp.data[x + j] + z[j]);
        } else if (cell === "lstm") {
          for (let j = 0; j < H; j++) {
            const i = ract(xp.data[x + j] + z[j]), f = ract(xp.data[x + H + j] + z[H + j]);
            const g = act(xp.data[x + 2 * H + j] + z[2 * H + j]), o = ract(xp.data[x + 3 * H + j] + z[3 * H + j]);
            c[j] = f * c[j] + i * g;
            h[j] = o * act(c[j]);
          }
        } else if (!classic) {
          for (let j = 0; j < H; j++) {
            const zj = ract(xp.data[x + j] + z[j]), r = ract(xp.data[x + H + j] + z[H + j]);
            const hh = act(xp.data[x + 2 * H + j] + r * z[2 * H + j]);
            h[j] = zj * h[j] + (1 - zj) * hh;
          }
        } else {
          for (let j = 0; j < H; j++) rh[j] = ract(xp.data[x + H + j] + z[H + j]) * h[j];
          for (let j = 0; j < H; j++) {
            let sum = 0;
            for (let k = 0; k < H; k++) sum += rh[k] * w[k * GH + 2 * H + j];
            const zj = ract(xp.data[x + j] + z[j]), hh = act(xp.data[x + 2 * H + j] + sum);
            z[j] = zj * h[j] + (1 - zj) * hh; // h is still read by the units after j: store later
          }
          for (let j = 0; j < H; j++) h[j] = z[j];
        }
        if (mask) { // a masked step carries the states: m * new + (1 - m) * previous, as the Python forward
          const m = mask[b * T + t];
          for (let j = 0; j < H; j++) h[j] = m * h[j] + (1 - m) * hPrev[j];
          if (c0) for (let j = 0; j < H; j++) c[j] = m * c[j] + (1 - m) * cPrev[j];
        }
        y.set(h, at);
        if (c0) y.set(c, at + H);
      }
    }
    return y;
  },
};

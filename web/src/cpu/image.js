/**
 * CPU kernel of the image primitive `resize` (docs/internals.md §5, pyml/ops/image.py): the spatial axes of a
 * channels-last batch resized with half-pixel centres, bilinear or nearest. Each axis's cells and weights are
 * found once, in integers as the Python forward does; rows are blended first, then columns, each step rounded
 * to float32 as NumPy computes it.
 * @module cpu/image
 */
import { allocate } from "../util.js";

/** Per output index of an axis resized from n to m cells: the two cells and the weight of the second. */
function taps(n, m, nearest) {
  const lo = new Int32Array(m), hi = new Int32Array(m), frac = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    if (nearest) {
      lo[i] = hi[i] = Math.min(Math.floor(((2 * i + 1) * n) / (2 * m)), n - 1);
      continue;
    }
    const s = Math.min(Math.max((2 * i + 1) * n - m, 0), 2 * m * (n - 1)); // the source coordinate times 2m
    lo[i] = Math.floor(s / (2 * m));
    hi[i] = Math.min(lo[i] + 1, n - 1);
    frac[i] = Math.fround((s - lo[i] * 2 * m) / (2 * m));
  }
  return { lo, hi, frac };
}

export const kernels = {
  /** resize: x [batch, h, w, c] to [batch, size[0], size[1], c]; interpolation "bilinear" or "nearest". */
  resize([x], { size, interpolation }, out) {
    const [batch, h, w, c] = x.shape, [oh, ow] = size;
    const nearest = interpolation === "nearest";
    const ty = taps(h, oh, nearest), tx = taps(w, ow, nearest);
    const data = x.data, y = allocate(out.dtype, batch * oh * ow * c);
    const f = Math.fround;
    let o = 0;
    for (let b = 0; b < batch; b++) {
      const base = b * h * w * c;
      for (let i = 0; i < oh; i++) {
        const r0 = base + ty.lo[i] * w * c, r1 = base + ty.hi[i] * w * c, fy = ty.frac[i];
        for (let j = 0; j < ow; j++) {
          const c0 = tx.lo[j] * c, c1 = tx.hi[j] * c, fx = tx.frac[j];
          for (let k = 0; k < c; k++, o++) {
            if (nearest) {
              y[o] = data[r0 + c0 + k];
              continue;
            }
            const a0 = data[r0 + c0 + k], a1 = data[r0 + c1 + k];
            const t0 = f(a0 + f(f(data[r1 + c0 + k] - a0) * fy));
            const t1 = f(a1 + f(f(data[r1 + c1 + k] - a1) * fy));
            y[o] = t0 + f(f(t1 - t0) * fx);
          }
        }
      }
    }
    return y;
  },
};

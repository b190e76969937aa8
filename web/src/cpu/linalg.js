/**
 * CPU kernel of the linear-algebra primitive `matmul` (docs/internals.md §5): numpy semantics for operands
 * of rank >= 2, the leading (batch) dims broadcast. Products accumulate in doubles and are stored once in
 * the output dtype (float32 or int32).
 * @module cpu/linalg
 */
import { allocate, numel } from "../util.js";

/**
 * The element offset of each batch matrix of an operand, for every batch index of the output.
 * @param {number[]} outBatch  the output's batch dims
 * @param {number[]} batch     the operand's batch dims (right-aligned to `outBatch`; 1 broadcasts)
 * @param {number} matrixSize  elements per matrix of the operand
 * @returns {Int32Array}
 * @example
 *   batchOffsets([2, 3], [3], 4); // Int32Array [0, 4, 8, 0, 4, 8]
 */
export function batchOffsets(outBatch, batch, matrixSize) {
  const count = numel(outBatch);
  const lead = outBatch.length - batch.length;
  const offsets = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    let rest = b;
    let offset = 0;
    let stride = matrixSize;
    for (let k = outBatch.length - 1; k >= 0; k--) {
      const coord = rest % outBatch[k];
      rest = Math.floor(rest / outBatch[k]);
      const size = k >= lead ? batch[k - lead] : 1;
      if (size !== 1) offset += coord * stride;
      stride *= size;
    }
    offsets[b] = offset;
  }
  return offsets;
}

/**
 * CPU kernels keyed by primitive name: `kernels[name](inputs, attrs, out) -> typed array`.
 * @example
 *   kernels.matmul([a, b], {}, { shape: [2, 4], dtype: "float32" }); // a: [2, 3], b: [3, 4]
 */
export const kernels = {
  /**
   * Batched matrix product `a @ b`: a `[..., M, K]`, b `[..., K, N]` → `out.shape` `[..., M, N]`. With
   * `attrs.transpose_a`, a is stored `[..., K, M]` and read transposed (a training step's weight gradient `xᵀ @ dy`).
   * @example
   *   kernels.matmul([{ data: a, shape: [2, 3], dtype: "float32" }, { data: b, shape: [3, 4], dtype: "float32" }],
   *                  {}, { shape: [2, 4], dtype: "float32" });
   */
  matmul(inputs, attrs, out) {
    const [a, b] = inputs;
    const last = a.shape.length - 1;
    const [m, k] = attrs.transpose_a ? [a.shape[last], a.shape[last - 1]] : [a.shape[last - 1], a.shape[last]];
    const [rowStride, kStride] = attrs.transpose_a ? [1, m] : [k, 1];
    const n = b.shape[b.shape.length - 1];
    const outBatch = out.shape.slice(0, -2);
    const aOffsets = batchOffsets(outBatch, a.shape.slice(0, -2), m * k);
    const bOffsets = batchOffsets(outBatch, b.shape.slice(0, -2), k * n);
    const y = allocate(out.dtype, numel(out.shape));
    const row = new Float64Array(n);
    for (let bi = 0; bi < aOffsets.length; bi++) {
      const aBase = aOffsets[bi];
      const bBase = bOffsets[bi];
      for (let i = 0; i < m; i++) {
        row.fill(0);
        for (let p = 0; p < k; p++) {
          const av = a.data[aBase + i * rowStride + p * kStride];
          const bRow = bBase + p * n;
          for (let j = 0; j < n; j++) row[j] += av * b.data[bRow + j];
        }
        y.set(row, (bi * m + i) * n);
      }
    }
    return y;
  },
};

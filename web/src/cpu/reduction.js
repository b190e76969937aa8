/**
 * CPU kernels of the reductions (docs/internals.md §5): `sum max min mean` over `attrs.axes` (sorted,
 * non-negative) with `attrs.keepdims`, and `argmax` along `attrs.axis` (int32; ties give the first index,
 * NaN counts as the largest, like numpy). Sums accumulate in doubles before rounding to the output dtype.
 * @module cpu/reduction
 */
import { allocate, numel } from "../util.js";

/**
 * For each input element (row-major), the index of the output element it reduces into.
 * @param {number[]} shape  the input shape
 * @param {number[]} axes   the reduced axes
 * @returns {{target: Int32Array, count: number, size: number}}  `count` inputs per output, `size` outputs
 * @example
 *   reductionTargets([2, 3], [1]).target; // Int32Array [0, 0, 0, 1, 1, 1]
 */
export function reductionTargets(shape, axes) {
  const reduced = new Set(axes);
  const strides = new Array(shape.length).fill(0);
  let size = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (!reduced.has(k)) {
      strides[k] = size;
      size *= shape[k];
    }
  }
  const total = numel(shape);
  const target = new Int32Array(total);
  const coord = new Array(shape.length).fill(0);
  let at = 0;
  for (let i = 0; i < total; i++) {
    target[i] = at;
    for (let k = shape.length - 1; k >= 0; k--) {
      coord[k]++;
      at += strides[k];
      if (coord[k] < shape[k]) break;
      at -= strides[k] * coord[k];
      coord[k] = 0;
    }
  }
  return { target, count: size === 0 ? 0 : total / size, size };
}

function accumulate(inputs, attrs, out, combine) {
  const [x] = inputs;
  const { target, size } = reductionTargets(x.shape, attrs.axes);
  const acc = new Float64Array(size);
  const seen = new Uint8Array(size);
  for (let i = 0; i < x.data.length; i++) {
    const o = target[i];
    acc[o] = seen[o] ? combine(acc[o], x.data[i]) : x.data[i];
    seen[o] = 1;
  }
  return { acc, size };
}

function store(out, acc, size) {
  const y = allocate(out.dtype, size);
  y.set(out.dtype === "float32" ? acc : Array.from(acc, Math.trunc));
  return y;
}

// NaN wins a max or min, as in numpy (a comparison with NaN is false, so test for it explicitly).
const larger = (a, b) => (b > a || b !== b ? b : a);
const smaller = (a, b) => (b < a || b !== b ? b : a);

/**
 * Reduction CPU kernels keyed by primitive name: `kernels[name](inputs, attrs, out) -> typed array`.
 * @example
 *   const x = { data: new Float32Array([1, 5, 3, 2]), shape: [2, 2], dtype: "float32" };
 *   kernels.max([x], { axes: [1], keepdims: false }, { shape: [2], dtype: "float32" }); // Float32Array [5, 3]
 */
export const kernels = {
  sum(inputs, attrs, out) {
    const { acc, size } = accumulate(inputs, attrs, out, (a, b) => a + b);
    return store(out, acc, size);
  },
  mean(inputs, attrs, out) {
    const { acc, size } = accumulate(inputs, attrs, out, (a, b) => a + b);
    const { count } = reductionTargets(inputs[0].shape, attrs.axes);
    for (let o = 0; o < size; o++) acc[o] /= count; // 0 / 0 is NaN for an empty reduction, like numpy
    return store(out, acc, size);
  },
  max(inputs, attrs, out) {
    const { acc, size } = accumulate(inputs, attrs, out, larger);
    return store(out, acc, size);
  },
  min(inputs, attrs, out) {
    const { acc, size } = accumulate(inputs, attrs, out, smaller);
    return store(out, acc, size);
  },
  argmax(inputs, attrs, out) {
    const [x] = inputs;
    const axis = attrs.axis;
    const { target, size } = reductionTargets(x.shape, [axis]);
    let inner = 1;
    for (let k = axis + 1; k < x.shape.length; k++) inner *= x.shape[k];
    const best = new Float64Array(size);
    const index = new Int32Array(size);
    const seen = new Uint8Array(size);
    for (let i = 0; i < x.data.length; i++) {
      const o = target[i];
      const v = x.data[i];
      // strictly greater moves the index (ties keep the first); the first NaN is final
      if (!seen[o] || (best[o] === best[o] && (v > best[o] || v !== v))) {
        best[o] = v;
        index[o] = Math.floor(i / inner) % x.shape[axis];
        seen[o] = 1;
      }
    }
    return index;
  },
};

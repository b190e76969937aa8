/**
 * CPU kernels of the movement primitives (docs/internals.md §1, §5): values are rearranged, never computed.
 * Semantics match pyml/ops/movement.py and the WGSL kernels (webexport/kernels/movement.wgsl.j2), including
 * `take`: a negative index counts from the end once, and an index outside [-n, n) reads 0.
 * Attribute entries that are the dynamic batch arrive as `null`; shapes come from `out.shape` then.
 * @module cpu/movement
 */
import { allocate, numel } from "../util.js";

/** Row-major element strides of `shape`. */
function stridesOf(shape) {
  const strides = new Array(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    strides[k] = acc;
    acc *= shape[k];
  }
  return strides;
}

/**
 * out[i] = x[base + Σ coord_k(i) * coefs[k]] over the output's coordinates, walked like an odometer.
 * transpose, broadcast_to and slice are all this map with different coefficients. Where the last axis is read
 * contiguously (coefficient 1: a slice of whole rows' parts, a broadcast of rows) the odometer steps once per
 * run of that axis and the run is copied as a block: the slices around a recurrent layer on the wasm path
 * moved 10-20x faster (element by element, the access is generic: one function serves every typed array).
 */
function gather(x, outShape, base, coefs, dtype) {
  const y = allocate(dtype, numel(outShape));
  if (y.length === 0) return y;
  const contiguous = outShape.length > 0 && coefs[outShape.length - 1] === 1;
  const run = contiguous ? outShape[outShape.length - 1] : 1;
  const shape = contiguous ? outShape.slice(0, -1) : outShape;
  const ndim = shape.length;
  const coord = new Array(ndim).fill(0);
  let src = base;
  for (let i = 0; i < y.length; i += run) {
    if (run >= 16) y.set(x.subarray(src, src + run), i);
    else for (let j = 0; j < run; j++) y[i + j] = x[src + j];
    for (let k = ndim - 1; k >= 0; k--) {
      coord[k] += 1;
      src += coefs[k];
      if (coord[k] < shape[k]) break;
      src -= coefs[k] * coord[k];
      coord[k] = 0;
    }
  }
  return y;
}

/**
 * Join `inputs` along `axis` of the output, each contributing `sizes[j]` slices of `post` elements per outer step.
 * concatenate uses the inputs' axis sizes; stack uses 1 each (a new axis).
 */
function join(inputs, sizes, pre, post, dtype) {
  const total = sizes.reduce((a, b) => a + b, 0);
  const y = allocate(dtype, pre * total * post);
  let offset = 0;
  inputs.forEach((input, j) => {
    const block = sizes[j] * post;
    for (let p = 0; p < pre; p++) {
      y.set(input.data.subarray(p * block, (p + 1) * block), (p * total + offset) * post);
    }
    offset += sizes[j];
  });
  return y;
}

function product(dims) {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * The movement kernels, keyed by primitive name: `kernel(inputs, attrs, out) -> typed array`.
 * @example
 *   kernels.transpose([{ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], dtype: "float32" }],
 *                     { perm: [1, 0] }, { shape: [3, 2], dtype: "float32" }); // Float32Array [1, 4, 2, 5, 3, 6]
 */
export const kernels = {
  /** reshape: the same elements in a new shape (attrs.shape may hold null for the batch; out.shape is concrete). */
  reshape([x], attrs, out) {
    const y = allocate(out.dtype, x.data.length);
    y.set(x.data);
    return y;
  },

  /** transpose: out.shape[k] = x.shape[perm[k]]. */
  transpose([x], { perm }, out) {
    const strides = stridesOf(x.shape);
    return gather(x.data, out.shape, 0, perm.map((p) => strides[p]), out.dtype);
  },

  /** broadcast_to: NumPy broadcasting to out.shape (axes aligned from the right; size-1 axes repeat). */
  broadcast_to([x], attrs, out) {
    const strides = stridesOf(x.shape);
    const lead = out.shape.length - x.shape.length;
    const coefs = out.shape.map((_, k) => (k < lead || x.shape[k - lead] === 1 ? 0 : strides[k - lead]));
    return gather(x.data, out.shape, 0, coefs, out.dtype);
  },

  /** slice: per axis range(start, stop, step); the output's shape gives the counts, so stop is not needed. */
  slice([x], { start, step }, out) {
    const strides = stridesOf(x.shape);
    const base = start.reduce((acc, b, k) => acc + b * strides[k], 0);
    return gather(x.data, out.shape, base, step.map((s, k) => s * strides[k]), out.dtype);
  },

  /** pad: constant padding with attrs.value; pad_width is [[before, after], ...] per axis. */
  pad([x], { pad_width: padWidth, value }, out) {
    const y = allocate(out.dtype, numel(out.shape));
    if (value) y.fill(out.dtype === "bool" ? 1 : Number(value));
    if (x.data.length === 0) return y;
    const outStrides = stridesOf(out.shape);
    const base = padWidth.reduce((acc, [lo], k) => acc + lo * outStrides[k], 0);
    // Copy the input's rows (last axis runs) to their place in the output.
    const last = x.shape.length ? x.shape[x.shape.length - 1] : 1;
    const rows = x.data.length / last;
    const inner = x.shape.slice(0, -1);
    const coord = new Array(inner.length).fill(0);
    for (let r = 0; r < rows; r++) {
      let dst = base;
      for (let k = 0; k < inner.length; k++) dst += coord[k] * outStrides[k];
      y.set(x.data.subarray(r * last, (r + 1) * last), dst);
      for (let k = inner.length - 1; k >= 0; k--) {
        if (++coord[k] < inner[k]) break;
        coord[k] = 0;
      }
    }
    return y;
  },

  /** concatenate: join along an existing axis. */
  concatenate(inputs, { axis }, out) {
    const pre = product(out.shape.slice(0, axis));
    const post = product(out.shape.slice(axis + 1));
    return join(inputs, inputs.map((x) => x.shape[axis]), pre, post, out.dtype);
  },

  /** stack: join same-shape inputs along a new axis. */
  stack(inputs, { axis }, out) {
    const pre = product(out.shape.slice(0, axis));
    const post = product(out.shape.slice(axis + 1));
    return join(inputs, inputs.map(() => 1), pre, post, out.dtype);
  },

  /** take: numpy.take along attrs.axis with int32 indices; negatives count from the end, outside [-n, n) reads 0. */
  take([x, indices], { axis }, out) {
    const n = x.shape[axis];
    const pre = product(x.shape.slice(0, axis));
    const post = product(x.shape.slice(axis + 1));
    const index = indices.data;
    const y = allocate(out.dtype, pre * index.length * post);
    for (let p = 0; p < pre; p++) {
      for (let k = 0; k < index.length; k++) {
        let j = index[k];
        if (j < 0) j += n;
        if (j < 0 || j >= n) continue; // stays 0
        const src = (p * n + j) * post;
        y.set(x.data.subarray(src, src + post), (p * index.length + k) * post);
      }
    }
    return y;
  },

  /** one_hot: a new last axis of size depth, 1 at the index (all 0 when the index is outside [0, depth)). */
  one_hot([indices], { depth }, out) {
    const y = allocate(out.dtype, indices.data.length * depth);
    indices.data.forEach((j, k) => {
      if (j >= 0 && j < depth) y[k * depth + j] = 1;
    });
    return y;
  },
};

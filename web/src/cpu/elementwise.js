/**
 * CPU kernels of the elementwise primitives (docs/internals.md §5): unary math, binary arithmetic and
 * comparisons with numpy broadcasting, `where`, `cast`. Values are computed in JS doubles and stored in
 * the output's typed array (Float32Array, Int32Array, or Uint8Array 0/1 for bool), as numpy float32
 * would round them; int32 arithmetic wraps like numpy's.
 * @module cpu/elementwise
 */
import { allocate, numel } from "../util.js";

/**
 * For each output element, the index of the input element numpy broadcasting reads
 * (`null` when the input already has the output's shape).
 * @param {number[]} inShape
 * @param {number[]} outShape
 * @returns {Int32Array|null}
 * @example
 *   broadcastIndex([3, 1], [3, 2]); // Int32Array [0, 0, 1, 1, 2, 2]
 */
export function broadcastIndex(inShape, outShape) {
  if (inShape.length === outShape.length && inShape.every((d, k) => d === outShape[k])) return null;
  const rank = outShape.length;
  const lead = rank - inShape.length;
  const strides = new Array(rank).fill(0);
  for (let k = inShape.length - 1, s = 1; k >= 0; k--) {
    strides[lead + k] = inShape[k] === 1 ? 0 : s;
    s *= inShape[k];
  }
  const total = numel(outShape);
  const index = new Int32Array(total);
  const coord = new Array(rank).fill(0);
  let at = 0;
  for (let i = 0; i < total; i++) {
    index[i] = at;
    for (let k = rank - 1; k >= 0; k--) {
      // odometer: step the last axis, carrying into the previous ones
      coord[k]++;
      at += strides[k];
      if (coord[k] < outShape[k]) break;
      at -= strides[k] * coord[k];
      coord[k] = 0;
    }
  }
  return index;
}

/** erf in double precision: its Taylor series below |x| = 3, Abramowitz–Stegun 7.1.26 (1.5e-7) above. */
function erf(x) {
  const a = Math.abs(x);
  if (a >= 3) {
    const t = 1 / (1 + 0.3275911 * a);
    const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return Math.sign(x) * (1 - poly * Math.exp(-a * a));
  }
  // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
  let term = x;
  let sum = x;
  for (let n = 1; n < 60 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x); // never overflows for x < 0
  return e / (1 + e);
}

const FLOAT_UNARY = {
  neg: (a) => -a,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign: (a) => (a > 0 ? 1 : a < 0 ? -1 : a), // keeps 0 and NaN, like numpy
  tanh: Math.tanh,
  sigmoid,
  erf,
  sin: Math.sin,
  cos: Math.cos,
};
const INT_UNARY = { neg: (a) => -a | 0, abs: (a) => Math.abs(a) | 0, sign: Math.sign };

const FLOAT_BINARY = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  // numpy (C's pow): x**0 == 1 and 1**y == 1 even for NaN, and (-1)**±inf == 1, where Math.pow gives NaN
  pow: (a, b) => (b === 0 || a === 1 || (a === -1 && Math.abs(b) === Infinity) ? 1 : Math.pow(a, b)),
  maximum: (a, b) => (a !== a || b !== b ? NaN : Math.max(a, b)),
  minimum: (a, b) => (a !== a || b !== b ? NaN : Math.min(a, b)),
};
const INT_BINARY = {
  add: (a, b) => (a + b) | 0,
  sub: (a, b) => (a - b) | 0,
  mul: Math.imul,
  maximum: Math.max,
  minimum: Math.min,
};
const COMPARE = {
  equal: (a, b) => a === b,
  not_equal: (a, b) => a !== b,
  less: (a, b) => a < b,
  less_equal: (a, b) => a <= b,
  greater: (a, b) => a > b,
  greater_equal: (a, b) => a >= b,
};

// The float32 ops a training step runs over whole flat buffers (the optimizer's update), each with a loop of its
// own: a shared loop calling `fn` through one call site runs several times slower once it has seen many ops.
// `sa`/`sb`: that operand is a single element, read at every index. Same results as the general loops.
const FAST_BINARY = {
  add: (a, b, y, sa, sb) => { for (let i = 0; i < y.length; i++) y[i] = a[sa ? 0 : i] + b[sb ? 0 : i]; },
  sub: (a, b, y, sa, sb) => { for (let i = 0; i < y.length; i++) y[i] = a[sa ? 0 : i] - b[sb ? 0 : i]; },
  mul: (a, b, y, sa, sb) => { for (let i = 0; i < y.length; i++) y[i] = a[sa ? 0 : i] * b[sb ? 0 : i]; },
  div: (a, b, y, sa, sb) => { for (let i = 0; i < y.length; i++) y[i] = a[sa ? 0 : i] / b[sb ? 0 : i]; },
};
const FAST_UNARY = {
  neg: (x, y) => { for (let i = 0; i < y.length; i++) y[i] = -x[i]; },
  sqrt: (x, y) => { for (let i = 0; i < y.length; i++) y[i] = Math.sqrt(x[i]); },
};

function unary(name) {
  return (inputs, attrs, out) => {
    const [x] = inputs;
    const fn = (x.dtype === "float32" ? FLOAT_UNARY : INT_UNARY)[name];
    if (!fn) throw new Error(`${name}: the CPU kernel does not take dtype ${x.dtype}`);
    const y = allocate(out.dtype, x.data.length);
    if (x.dtype === "float32" && FAST_UNARY[name]) FAST_UNARY[name](x.data, y);
    else for (let i = 0; i < y.length; i++) y[i] = fn(x.data[i]);
    return y;
  };
}

/** A kernel applying `fn(a, b)` (or `fn(c, a, b)`) elementwise with numpy broadcasting. */
function broadcasting(name, pick) {
  return (inputs, attrs, out) => {
    const fn = pick(inputs);
    if (!fn) throw new Error(`${name}: the CPU kernel does not take dtype ${inputs.map((x) => x.dtype).join(", ")}`);
    const y = allocate(out.dtype, numel(out.shape));
    const data = inputs.map((x) => x.data);
    const plain = (x) => x.dtype === "float32" && (x.data.length === 1 || x.data.length === y.length);
    if (FAST_BINARY[name] && out.dtype === "float32" && inputs.every(plain)) {
      FAST_BINARY[name](data[0], data[1], y, data[0].length !== y.length, data[1].length !== y.length);
      return y;
    }
    const index = inputs.map((x) => broadcastIndex(x.shape, out.shape));
    const at = (k, i) => (index[k] === null ? i : index[k][i]);
    if (inputs.length === 2) {
      const [a, b] = data;
      for (let i = 0; i < y.length; i++) y[i] = fn(a[at(0, i)], b[at(1, i)]);
    } else {
      const [c, a, b] = data;
      for (let i = 0; i < y.length; i++) y[i] = fn(c[at(0, i)], a[at(1, i)], b[at(2, i)]);
    }
    return y;
  };
}

function cast(inputs, attrs, out) {
  const [x] = inputs;
  const y = allocate(out.dtype, x.data.length);
  if (out.dtype === "bool") {
    for (let i = 0; i < y.length; i++) y[i] = x.data[i] !== 0 ? 1 : 0; // NaN is true, like numpy
  } else if (out.dtype === "int32" && x.dtype === "float32") {
    for (let i = 0; i < y.length; i++) y[i] = Math.trunc(x.data[i]); // toward zero, like astype
  } else {
    y.set(x.data);
  }
  return y;
}

/**
 * Elementwise CPU kernels keyed by primitive name: `kernels[name](inputs, attrs, out) -> typed array`.
 * @example
 *   const x = { data: new Float32Array([1, 2]), shape: [2], dtype: "float32" };
 *   kernels.add([x, x], {}, { shape: [2], dtype: "float32" }); // Float32Array [2, 4]
 */
export const kernels = {
  ...Object.fromEntries(Object.keys(FLOAT_UNARY).map((name) => [name, unary(name)])),
  ...Object.fromEntries(Object.keys(FLOAT_BINARY).map((name) => [
    name, broadcasting(name, (xs) => (xs[0].dtype === "float32" ? FLOAT_BINARY : INT_BINARY)[name]),
  ])),
  ...Object.fromEntries(Object.keys(COMPARE).map((name) => [name, broadcasting(name, () => COMPARE[name])])),
  where: broadcasting("where", () => (c, a, b) => (c ? a : b)),
  cast,
};

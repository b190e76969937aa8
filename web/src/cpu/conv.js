/**
 * CPU kernels of the convolution family (docs/internals.md §5; the math is documented in pyml/ops/conv.py
 * and pyml/ops/pooling.py): `conv`, `conv_transpose`, `conv_filter_grad`, `max_pool`, `avg_pool`,
 * `max_pool_grad`, `max_pool_gather`. Channels-last, 1 to 3 spatial dims, explicit `padding` as
 * `[[lo, hi], ...]`. Sums accumulate in doubles and are stored once as float32.
 * @module cpu/conv
 */
import { allocate, numel } from "../util.js";

/**
 * For every output position and window offset (both row-major), the flat spatial index of the input
 * element the window reads there, or -1 where it reads padding.
 * @param {number[]} spatial     the input's spatial dims
 * @param {number[]} outSpatial  the output's spatial dims
 * @param {number[]} window      window (kernel) dims
 * @param {number[]} strides
 * @param {number[]} dilation
 * @param {number[][]} padding   `[[lo, hi], ...]`
 * @returns {{table: Int32Array, taps: number}}  `table[o * taps + k]`
 * @example
 *   windowTable([3], [2], [2], [1], [1], [[0, 0]]).table; // Int32Array [0, 1, 1, 2]
 */
export function windowTable(spatial, outSpatial, window, strides, dilation, padding) {
  const rank = spatial.length;
  const taps = numel(window);
  const positions = numel(outSpatial);
  const table = new Int32Array(positions * taps);
  const o = new Array(rank);
  const k = new Array(rank);
  for (let op = 0; op < positions; op++) {
    unravel(op, outSpatial, o);
    for (let t = 0; t < taps; t++) {
      unravel(t, window, k);
      let flat = 0;
      for (let d = 0; d < rank; d++) {
        const p = o[d] * strides[d] + k[d] * dilation[d] - padding[d][0];
        if (p < 0 || p >= spatial[d]) {
          flat = -1;
          break;
        }
        flat = flat * spatial[d] + p;
      }
      table[op * taps + t] = flat;
    }
  }
  return { table, taps };
}

function unravel(index, dims, coords) {
  for (let d = dims.length - 1; d >= 0; d--) {
    coords[d] = index % dims[d];
    index = Math.floor(index / dims[d]);
  }
}

function store(acc) {
  const y = allocate("float32", acc.length);
  y.set(acc);
  return y;
}

/** The conv geometry of a (conv input x, conv output y, kernel w) triple, all shapes concrete. */
function convGeometry(xShape, yShape, wShape, attrs) {
  const rank = xShape.length - 2;
  const ones = new Array(rank).fill(1);
  const spatial = xShape.slice(1, -1);
  const outSpatial = yShape.slice(1, -1);
  const { table, taps } = windowTable(spatial, outSpatial, wShape.slice(0, rank), attrs.strides,
    attrs.dilation || ones, attrs.padding);
  const groups = attrs.groups || 1;
  const cout = wShape[rank + 1];
  return {
    table, taps, groups, batch: xShape[0], cin: xShape[rank + 1], cinG: wShape[rank], cout,
    coutG: cout / groups, plane: numel(spatial), outPlane: numel(outSpatial),
  };
}

/**
 * Visit every (batch n, output position o, window offset t) whose window reads an input element, once per
 * group and input channel of the group: `visit(xi, yRow, wRow)` gets the element offset of that input
 * channel in x and the offsets of the `coutG`-long runs of y (the group's output channels) and of w (the
 * tap's weights from that channel) that it pairs with. The three conv kernels differ only in what they
 * accumulate along those runs.
 */
function forEachChannelPair(g, visit) {
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outPlane; o++) {
      const yBase = (n * g.outPlane + o) * g.cout;
      for (let t = 0; t < g.taps; t++) {
        const p = g.table[o * g.taps + t];
        if (p < 0) continue;
        const xBase = (n * g.plane + p) * g.cin;
        const wTap = t * g.cinG * g.cout;
        for (let grp = 0; grp < g.groups; grp++) {
          for (let ci = 0; ci < g.cinG; ci++) {
            visit(xBase + grp * g.cinG + ci, yBase + grp * g.coutG, wTap + ci * g.cout + grp * g.coutG);
          }
        }
      }
    }
  }
}

/** Pooling: call `visit(n, o, c, positions)` with the window's input offsets (padding left out). */
function forEachWindow(x, outShape, attrs, visit) {
  const rank = x.shape.length - 2;
  const ones = new Array(rank).fill(1);
  const { table, taps } = windowTable(x.shape.slice(1, -1), outShape.slice(1, -1), attrs.window, attrs.strides,
    ones, attrs.padding);
  const channels = x.shape[rank + 1];
  const plane = numel(x.shape.slice(1, -1));
  const outPlane = numel(outShape.slice(1, -1));
  const offsets = [];
  for (let n = 0; n < x.shape[0]; n++) {
    for (let o = 0; o < outPlane; o++) {
      offsets.length = 0;
      for (let t = 0; t < taps; t++) {
        const p = table[o * taps + t];
        if (p >= 0) offsets.push((n * plane + p) * channels);
      }
      for (let c = 0; c < channels; c++) visit((n * outPlane + o) * channels + c, c, offsets);
    }
  }
}

/**
 * The offset (plus channel `c`) of the element a max-pool window picks among `offsets`: as numpy's argmax,
 * the first NaN if there is one, else the first maximum.
 */
function pick(x, offsets, c) {
  let best = offsets[0] + c;
  for (let i = 1; i < offsets.length && !Number.isNaN(x[best]); i++) {
    const v = x[offsets[i] + c];
    if (v > x[best] || Number.isNaN(v)) best = offsets[i] + c;
  }
  return best;
}

/**
 * CPU kernels keyed by primitive name: `kernels[name](inputs, attrs, out) -> typed array`.
 * @example
 *   kernels.max_pool([x], { window: [2, 2], strides: [2, 2], padding: [[0, 0], [0, 0]] },
 *                    { shape: [1, 2, 2, 3], dtype: "float32" }); // x: [1, 4, 4, 3]
 */
export const kernels = {
  /** conv(x, w): grouped, strided, dilated cross-correlation; w is `[...k, Cin / groups, Cout]`. */
  conv(inputs, attrs, out) {
    const [x, w] = inputs;
    const g = convGeometry(x.shape, out.shape, w.shape, attrs);
    const acc = new Float64Array(numel(out.shape));
    forEachChannelPair(g, (xi, yRow, wRow) => {
      const xv = x.data[xi];
      for (let j = 0; j < g.coutG; j++) acc[yRow + j] += xv * w.data[wRow + j];
    });
    return store(acc);
  },

  /** conv_transpose(y, w): the adjoint of conv in x; `out.shape` is the conv input's shape. */
  conv_transpose(inputs, attrs, out) {
    const [y, w] = inputs;
    const g = convGeometry(out.shape, y.shape, w.shape, attrs);
    const acc = new Float64Array(numel(out.shape));
    forEachChannelPair(g, (xi, yRow, wRow) => {
      let sum = 0;
      for (let j = 0; j < g.coutG; j++) sum += y.data[yRow + j] * w.data[wRow + j];
      acc[xi] += sum;
    });
    return store(acc);
  },

  /** conv_filter_grad(x, y): d<y, conv(x, w)>/dw, shaped `[...attrs.kernel_shape, Cin / groups, Cout]`. */
  conv_filter_grad(inputs, attrs, out) {
    const [x, y] = inputs;
    const g = convGeometry(x.shape, y.shape, out.shape, attrs);
    const acc = new Float64Array(numel(out.shape));
    forEachChannelPair(g, (xi, yRow, wRow) => {
      const xv = x.data[xi];
      for (let j = 0; j < g.coutG; j++) acc[wRow + j] += xv * y.data[yRow + j];
    });
    return store(acc);
  },

  /** max_pool(x): the first maximum of each window; padding never wins. */
  max_pool(inputs, attrs, out) {
    const [x] = inputs;
    const y = allocate("float32", numel(out.shape));
    forEachWindow(x, out.shape, attrs, (i, c, offsets) => { y[i] = x.data[pick(x.data, offsets, c)]; });
    return y;
  },

  /** avg_pool(x): the mean of each window's input elements (padding not counted, as TF/Keras). */
  avg_pool(inputs, attrs, out) {
    const [x] = inputs;
    const y = allocate("float32", numel(out.shape));
    forEachWindow(x, out.shape, attrs, (i, c, offsets) => {
      let sum = 0;
      for (const offset of offsets) sum += x.data[offset + c];
      y[i] = sum / offsets.length;
    });
    return y;
  },

  /** max_pool_grad(x, g): x-shaped; each g[o] added at the element window o of x picks. */
  max_pool_grad(inputs, attrs, out) {
    const [x, grad] = inputs;
    const acc = new Float64Array(numel(out.shape));
    forEachWindow(x, grad.shape, attrs, (i, c, offsets) => { acc[pick(x.data, offsets, c)] += grad.data[i]; });
    return store(acc);
  },

  /** max_pool_gather(x, v): pooled-shaped; v read at the element each window of x picks. */
  max_pool_gather(inputs, attrs, out) {
    const [x, v] = inputs;
    const y = allocate("float32", numel(out.shape));
    forEachWindow(x, out.shape, attrs, (i, c, offsets) => { y[i] = v.data[pick(x.data, offsets, c)]; });
    return y;
  },
};

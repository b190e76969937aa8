/**
 * The CPU backend: plain-JavaScript kernels keyed by primitive name, and an interpreter for the
 * manifest's graph (docs/internals.md §5). Used when WebGPU is missing or `backend: "cpu"` is asked for;
 * it ignores the bundle's kernels/steps/buffers and runs `graph` with the weights.
 * @module cpu
 */
import { kernels as elementwise } from "./cpu/elementwise.js";
import { kernels as reduction } from "./cpu/reduction.js";
import { kernels as movement } from "./cpu/movement.js";
import { kernels as linalg } from "./cpu/linalg.js";
import { kernels as conv } from "./cpu/conv.js";
import { allocate, formatShape, isStorageArray, numel, resolveShape } from "./util.js";

/**
 * Merge per-family kernel tables into one, refusing a primitive defined by two families.
 * @param {Object<string, Object<string, Function>>} families  `{familyName: {primitive: kernel}}`
 * @returns {Object<string, Function>}
 * @example
 *   const table = mergeKernels({ elementwise, linalg });
 */
export function mergeKernels(families) {
  const merged = {};
  const owner = {};
  for (const [family, table] of Object.entries(families)) {
    for (const [name, fn] of Object.entries(table || {})) {
      if (name in merged) throw new Error(`CPU kernel "${name}" is defined by both cpu/${owner[name]}.js and cpu/${family}.js`);
      if (typeof fn !== "function") throw new Error(`CPU kernel "${name}" in cpu/${family}.js is not a function`);
      merged[name] = fn;
      owner[name] = family;
    }
  }
  return Object.freeze(merged);
}

/**
 * Every JS CPU kernel, keyed by primitive name (the same key as the op's registry entry and WGSL lowering).
 * @example
 *   Object.keys(kernels).includes("matmul"); // true
 */
export const kernels = mergeKernels({ elementwise, reduction, movement, linalg, conv });

/**
 * Interpret a graph (the manifest's `graph`, docs/internals.md §3) on the CPU.
 * `null` dims are resolved from the batch of the inputs (axis 0 of any dynamic placeholder).
 * @param {object} graph  `{nodes, inputs, outputs}` as in model.json
 * @param {Object<string, {data, shape, dtype}>} weights  constant values by node name (see `readWeights`)
 * @param {Array<{data, shape, dtype}>} inputs  one per `graph.inputs`, concrete shapes, storage arrays
 * @param {Object<string, Function>} [table]  kernels to use (default: all of `kernels`)
 * @returns {Array<{data, shape, dtype}>}  one per `graph.outputs`
 * @example
 *   const [y] = runGraph(manifest.graph, readWeights(manifest, bytes), [{ data: x, shape: [4, 64], dtype: "float32" }]);
 */
export function runGraph(graph, weights, inputs, table = kernels) {
  const batch = batchOf(graph, inputs);
  const lastUse = new Map();
  graph.nodes.forEach((node, i) => (node.inputs || []).forEach((name) => lastUse.set(name, i)));
  graph.outputs.forEach((name) => lastUse.set(name, Infinity));
  const env = new Map();
  graph.inputs.forEach((name, i) => env.set(name, inputs[i]));
  graph.nodes.forEach((node, i) => {
    if (node.op === "constant") {
      const w = weights[node.name];
      if (!w) throw new Error(`node %${node.name} (constant): no weight entry named "${node.name}"`);
      env.set(node.name, w);
    } else if (node.op === "call") {
      env.set(node.name, callKernel(node, node.inputs.map((name) => env.get(name)), batch, table));
      for (const name of node.inputs) if (lastUse.get(name) === i) env.delete(name);
    }
  });
  return graph.outputs.map((name) => env.get(name));
}

function batchOf(graph, inputs) {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const [i, name] of graph.inputs.entries()) {
    if (byName.get(name).shape[0] === null) return inputs[i].shape[0];
  }
  return 1;
}

function callKernel(node, args, batch, table) {
  const where = `node %${node.name} (${node.target})`;
  const kernel = table[node.target];
  if (!kernel) throw new Error(`unknown op "${node.target}" in node %${node.name}: no CPU kernel for it`);
  const out = { shape: resolveShape(node.shape, batch), dtype: node.dtype };
  let data;
  try {
    data = kernel(args, node.attrs || {}, out);
  } catch (err) {
    const shapes = args.map((a) => `${a.dtype}${formatShape(a.shape)}`).join(", ");
    throw new Error(`${where} failed on inputs ${shapes}: ${err.message}`);
  }
  const expected = numel(out.shape);
  if (!data || !isStorageArray(data, out.dtype) || data.length !== expected) {
    const got = data ? `${data.constructor.name}(${data.length})` : String(data);
    throw new Error(`${where}: the CPU kernel returned ${got}; expected a ${allocate(out.dtype, 0).constructor.name}` +
      `(${expected}) for ${out.dtype}${formatShape(out.shape)}`);
  }
  return { data, shape: out.shape, dtype: out.dtype };
}

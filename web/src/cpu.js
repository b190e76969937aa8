/**
 * The plain-JavaScript kernels keyed by primitive name, and an interpreter for the manifest's graph
 * (docs/internals.md §5). The interpreter is the `js` backend: the CPU path where WebAssembly SIMD is
 * missing, or when asked for; it ignores the bundle's kernels/steps/buffers/cpu and runs `graph` with the
 * weights. The wasm backend (wasm.js) calls these kernels for the nodes it has no kernel of its own for.
 *
 * The kernels live in one module per family (cpu/<family>.js) and are imported on first use, only the
 * families a graph needs, so a page on WebGPU never downloads them.
 * @module cpu
 */
import { KERNEL_FAMILIES } from "./ops.js";
import { ARRAY_TYPES, formatShape, isStorageArray, numel, resolveShape } from "./util.js";

export { KERNEL_FAMILIES };

const familyOf = {};
for (const [family, names] of Object.entries(KERNEL_FAMILIES)) for (const name of names) familyOf[name] = family;
const imports = {}; // family -> promise of its module, once asked for
// One literal specifier per family (KERNEL_FAMILIES' keys), so that bundlers (Vite, webpack) see and emit each
// module: an import(`./cpu/${family}.js`) template is left to the browser, which then looks beside the bundle.
const importFamily = {
  elementwise: () => import("./cpu/elementwise.js"),
  reduction: () => import("./cpu/reduction.js"),
  movement: () => import("./cpu/movement.js"),
  linalg: () => import("./cpu/linalg.js"),
  conv: () => import("./cpu/conv.js"),
  recurrent: () => import("./cpu/recurrent.js"),
  image: () => import("./cpu/image.js"),
};
const loaded = {}; // primitive -> its kernel, once its family has loaded

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
 * Each entry runs its family's kernel once `loadKernels` has imported that family, and throws before.
 * @example
 *   Object.keys(kernels).includes("matmul"); // true
 *   (await loadKernels(["add"])).add([x, x], {}, { shape: [2], dtype: "float32" }); // Float32Array [2, 4]
 */
export const kernels = Object.freeze(Object.fromEntries(Object.keys(familyOf).map((name) => [name, (inputs, attrs, out) => {
  if (!loaded[name]) throw new Error(`CPU kernel "${name}" is not loaded: await loadKernels(["${name}"]) first`);
  return loaded[name](inputs, attrs, out);
}])));

/**
 * Import the kernel families that define `ops` (default: all of them), each once; resolves to `kernels`.
 * @param {Iterable<string>} [ops]  primitive names, e.g. the `target`s of a graph's call nodes
 * @returns {Promise<Object<string, Function>>}
 * @example
 *   await loadKernels(manifest.graph.nodes.filter((n) => n.op === "call").map((n) => n.target));
 */
export async function loadKernels(ops = Object.keys(familyOf)) {
  const families = new Set();
  for (const name of ops) {
    if (!familyOf[name]) throw new Error(`unknown op "${name}": this runtime has no CPU kernel for it`);
    families.add(familyOf[name]);
  }
  const tables = await Promise.all([...families].map(async (family) => {
    imports[family] ||= importFamily[family]().catch((err) => {
      delete imports[family];
      throw new Error(`could not load the CPU kernels of cpu/${family}.js: ${err.message}`);
    });
    return [family, (await imports[family]).kernels];
  }));
  Object.assign(loaded, mergeKernels(Object.fromEntries(tables)));
  return kernels;
}

/**
 * Interpret a graph (the manifest's `graph`, docs/internals.md §3) on the CPU.
 * `null` dims are resolved from the batch of the inputs (axis 0 of any dynamic placeholder).
 * @param {object} graph  `{nodes, inputs, outputs}` as in model.json
 * @param {Object<string, {data, shape, dtype}>} weights  constant values by node name (see `readWeights`)
 * @param {Array<{data, shape, dtype}>} inputs  one per `graph.inputs`, concrete shapes, storage arrays
 * @param {Object<string, Function>} [table]  kernels to use (default: `kernels`, whose families the graph
 *   needs must be loaded: see `loadKernels`)
 * @returns {Array<{data, shape, dtype}>}  one per `graph.outputs`
 * @example
 *   await loadKernels(manifest.graph.nodes.filter((n) => n.op === "call").map((n) => n.target));
 *   const [y] = runGraph(manifest.graph, readWeights(manifest, bytes), [{ data: x, shape: [4, 64], dtype: "float32" }]);
 */
export function runGraph(graph, weights, inputs, table = kernels) {
  const batch = batchOf(graph, inputs);
  const lastUse = new Map();
  graph.nodes.forEach((node, i) => node.inputs.forEach((name) => lastUse.set(name, i)));
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
  // Copy an output that is an input, a weight or an earlier output: editing it must change nothing else.
  const shared = new Set(graph.nodes.filter((n) => n.op !== "call").map((n) => n.name));
  return graph.outputs.map((name) => {
    const value = env.get(name);
    if (!shared.has(name)) {
      shared.add(name);
      return value;
    }
    return { ...value, data: value.data.slice(), shape: [...value.shape] };
  });
}

function batchOf(graph, inputs) {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const [i, name] of graph.inputs.entries()) {
    if (byName.get(name).shape[0] === null) return inputs[i].shape[0];
  }
  return 1;
}

/**
 * Run one call node's kernel on its input values, checking what it returns; errors name the node.
 * @param {object} node  a graph node (`op: "call"`)
 * @param {Array<{data, shape, dtype}>} args  its input values, concrete shapes
 * @param {number} batch  what `null` dims of the node's shape stand for
 * @param {Object<string, Function>} [table]  kernels to use (default: `kernels`, its family loaded)
 * @returns {{data, shape: number[], dtype: string}}  a fresh value
 * @example
 *   const y = callKernel(node, [x, w], 4);
 */
export function callKernel(node, args, batch, table = kernels) {
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
    throw new Error(`${where}: the CPU kernel returned ${got}; expected a ${ARRAY_TYPES[out.dtype].name}` +
      `(${expected}) for ${out.dtype}${formatShape(out.shape)}`);
  }
  return { data, shape: out.shape, dtype: out.dtype };
}

/**
 * Small stateless helpers shared by the runtime modules: shapes, dtypes, typed arrays, hashing.
 *
 * Storage dtypes follow docs/internals.md §4–§5: float32 ↔ Float32Array, int32 ↔ Int32Array,
 * bool ↔ Uint8Array (0/1) on the CPU and u32 (0/1) on the GPU.
 * @module util
 */

/** The dtypes a bundle may use, with their weights.bin item size in bytes (numpy's). */
export const ITEM_SIZES = Object.freeze({ float32: 4, int32: 4, bool: 1 });

/**
 * The typed array each dtype is stored in on the CPU (bool as 0/1 bytes).
 * @example
 *   new ARRAY_TYPES.int32(3); // Int32Array [0, 0, 0]
 */
export const ARRAY_TYPES = Object.freeze({ float32: Float32Array, int32: Int32Array, bool: Uint8Array });

/**
 * Product of a list of dimensions (1 for a scalar shape).
 * @example
 *   numel([2, 3, 4]); // 24
 */
export function numel(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * A shape as text, with `null` written as "null" (the dynamic batch): `[null, 64]`.
 * @example
 *   formatShape([null, 64]); // "[null, 64]"
 */
export function formatShape(shape) {
  return JSON.stringify(shape).replaceAll(",", ", ");
}

/**
 * Replace every `null` dimension (the dynamic batch) by `batch`.
 * @example
 *   resolveShape([null, 10], 4); // [4, 10]
 */
export function resolveShape(shape, batch) {
  return shape.map((d) => (d === null ? batch : d));
}

/**
 * Refuse a batch size at which a graph value would hold more than 2^31 - 1 elements: the WebGPU and wasm kernels
 * index with 32-bit integers. Export refuses such a value at batch 1 (webexport/lower.py `check_index_range`);
 * a dynamic batch can still get there, in a value a fused kernel never stores.
 * @example
 *   checkIndexRange(manifest.graph, 64); // throws naming the value that would overflow
 */
export function checkIndexRange(graph, batch) {
  for (const node of graph.nodes) {
    const count = numel(resolveShape(node.shape, batch));
    if (count > 2 ** 31 - 1) {
      throw new Error(`batch ${batch}: %${node.name} (${node.target || node.op}) would hold ${count} elements, past ` +
        "2^31 - 1, the most the kernels' 32-bit index math reaches: predict in smaller batches");
    }
  }
}

/**
 * A new zeroed typed array for `dtype` (CPU storage: bool is a Uint8Array of 0/1).
 * @example
 *   allocate("int32", 3); // Int32Array [0, 0, 0]
 */
export function allocate(dtype, length) {
  if (!ARRAY_TYPES[dtype]) throw new Error(`unsupported dtype "${dtype}"; bundles use float32, int32 or bool`);
  return new ARRAY_TYPES[dtype](length);
}

/**
 * True when `data` is the typed array the runtime stores `dtype` in.
 * @example
 *   isStorageArray(new Float32Array(2), "float32"); // true
 */
export function isStorageArray(data, dtype) {
  return data instanceof ARRAY_TYPES[dtype];
}

/**
 * Copy any array-like of numbers or booleans into the storage typed array of `dtype` (returned as is when it
 * already is one, and for bool holds only 0/1). int32 values must be integers; bool values become 0/1.
 * @example
 *   toStorageArray([1, 0, 2], "bool"); // Uint8Array [1, 0, 1]
 */
export function toStorageArray(values, dtype, what = "input") {
  if (isStorageArray(values, dtype) && (dtype !== "bool" || values.every((v) => v <= 1))) return values;
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (dtype === "bool") out[i] = v ? 1 : 0;
    else if (typeof v !== "number" && typeof v !== "boolean") {
      throw new Error(`${what}: element ${i} is not a number. Received: ${typeof v}`);
    } else if (dtype === "int32" && !Number.isInteger(Number(v))) {
      throw new Error(`${what}: int32 input holds a non-integer at element ${i}. Received: ${v}`);
    } else out[i] = Number(v);
  }
  return out;
}

/**
 * Shape of a nested JavaScript array (a number is a scalar, shape `[]`); throws on ragged nesting.
 * @example
 *   inferShape([[1, 2, 3], [4, 5, 6]]); // [2, 3]
 */
export function inferShape(nested, what = "input") {
  const shape = [];
  let level = nested;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const check = (value, depth, path) => {
    if (depth === shape.length) {
      if (Array.isArray(value)) throw new Error(`${what}: nested arrays are ragged at ${path} (expected a number, received an array)`);
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) {
      const got = Array.isArray(value) ? `length ${value.length}` : "a number";
      throw new Error(`${what}: nested arrays are ragged at ${path} (expected length ${shape[depth]}, received ${got})`);
    }
    value.forEach((v, i) => check(v, depth + 1, `${path}[${i}]`));
  };
  check(nested, 0, "input");
  return shape;
}

/**
 * Flatten a nested array (row-major) into a plain array.
 * @example
 *   flatten([[1, 2], [3, 4]]); // [1, 2, 3, 4]
 */
export function flatten(nested) {
  return Array.isArray(nested) ? nested.flat(Infinity) : [nested];
}

/**
 * Lower-case hex SHA-256 of a buffer or view (WebCrypto: needs a secure context such as https or 127.0.0.1).
 * @example
 *   await sha256Hex(new Uint8Array([97, 98, 99])); // "ba7816bf..."
 */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new Error("crypto.subtle is unavailable: serve the page over https or http://localhost to verify bundle hashes");
  }
  const digest = await globalThis.crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

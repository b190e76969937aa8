/**
 * Fetch and validate a pyml bundle: model.json + its weights files (docs/internals.md §6).
 *
 * Everything is checked before use, and every problem is an Error whose message names the file and
 * the field (`weights.entries[2].sha256`), the node (`%v3`) or the step.
 * @module bundle
 */
import { OP_NAMES } from "./ops.js";
import { ITEM_SIZES, formatShape, numel, sha256Hex } from "./util.js";
import { STORAGE_OF, decodeEntry, joinShards, storageBytes, weightFiles } from "./weights.js";

/**
 * The bundle format this runtime reads (model.json's `format`).
 * @example
 *   manifest.format === FORMAT; // "pyml-bundle"
 */
export const FORMAT = "pyml-bundle";

/**
 * The newest bundle `format_version` this runtime understands; newer bundles are refused.
 * @example
 *   if (manifest.format_version > FORMAT_VERSION) console.log("update pyml");
 */
export const FORMAT_VERSION = 4;
const NAMES_VERSION = 4; // inputs[i].name / outputs[i].name may differ from graph.inputs[i] / graph.outputs[i]
const IO_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

const OPCODES = new Set(["placeholder", "constant", "call"]);
// weights.file stays in the bundle folder (URLs read "..\\x" and "%2e%2e" as "../x" and "..").
const PLAIN_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/; // at most 128 characters: file systems refuse longer names

/**
 * Fetch model.json and its weights files (resolved relative to the manifest URL, fetched in parallel),
 * validate them, and verify every SHA-256: `fetchManifest`, then `fetchWeights`.
 * @param {string|URL} url  the manifest, e.g. "model/model.json"
 * @param {{knownOps?: Iterable<string>, onProgress?: Function}} [options]  `knownOps`: the primitives the
 *   runtime can run (default: the CPU kernel names); `onProgress({stage: "weights", loaded, total})` per chunk.
 * @returns {Promise<{manifest: object, weights: ArrayBuffer, url: string}>}  `weights`: the files' bytes, concatenated
 * @example
 *   const { manifest, weights } = await fetchBundle("model/model.json");
 */
export async function fetchBundle(url, options = {}) {
  const { manifest, url: href } = await fetchManifest(url, options);
  return { manifest, weights: await fetchWeights(manifest, href, options), url: href };
}

/**
 * Fetch and validate model.json alone, so that work needing only the manifest (compiling pipelines) can
 * overlap the download of the weights.
 * @param {string|URL} url  the manifest, e.g. "model/model.json"
 * @param {{knownOps?: Iterable<string>}} [options]  as `fetchBundle`
 * @returns {Promise<{manifest: object, url: string}>}  `url`: the manifest's absolute URL
 * @example
 *   const { manifest, url } = await fetchManifest("model/model.json");
 */
export async function fetchManifest(url, { knownOps } = {}) {
  const manifestUrl = new URL(url, globalThis.location?.href);
  const response = await fetchOk(manifestUrl);
  let manifest;
  try {
    manifest = JSON.parse(await response.text());
  } catch (err) {
    throw new Error(`${manifestUrl.href}: not valid JSON (${err.message})`);
  }
  validateManifest(manifest, { knownOps, file: manifestUrl.pathname.split("/").pop() || "model.json" });
  return { manifest, url: manifestUrl.href };
}

/**
 * Fetch a validated manifest's weights files in parallel (relative to the manifest's `url`) and verify them.
 * @param {object} manifest  from `fetchManifest`
 * @param {string|URL} url  the manifest's URL
 * @param {{onProgress?: Function}} [options]  as `fetchBundle`
 * @returns {Promise<ArrayBuffer>}  the files' bytes, concatenated (`readWeights` reads them)
 * @example
 *   const weights = readWeights(manifest, await fetchWeights(manifest, url));
 */
export async function fetchWeights(manifest, url, { onProgress } = {}) {
  const files = weightFiles(manifest.weights);
  const total = files.reduce((n, f) => n + f.byte_length, 0);
  const loaded = files.map(() => 0);
  const progress = onProgress && ((k, bytes) => {
    loaded[k] = bytes;
    onProgress({ stage: "weights", loaded: loaded.reduce((a, b) => a + b, 0), total });
  });
  const shards = await Promise.all(files.map((f, k) => fetchBytes(new URL(f.file, url), progress && ((n) => progress(k, n)))));
  await verifyWeights(manifest, shards);
  return joinShards(shards);
}

async function fetchOk(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`could not fetch ${url.href}: ${err.message}`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url.href}: HTTP ${response.status} ${response.statusText}`.trim());
  return response;
}

async function fetchBytes(url, onBytes) {
  const response = await fetchOk(url);
  if (!onBytes || !response.body) return response.arrayBuffer();
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onBytes(loaded);
  }
  return new Blob(chunks).arrayBuffer();
}

/**
 * Check the weights files against the manifest: each file's length and SHA-256, each entry's SHA-256, and
 * that bool entries hold only 0/1 bytes.
 * @param {object} manifest  a manifest that passed `validateManifest`
 * @param {ArrayBuffer|ArrayBuffer[]} shards  the bytes of each weights file, in `weights.files` order
 * @example
 *   await verifyWeights(manifest, [await (await fetch("model/weights.bin")).arrayBuffer()]);
 */
export async function verifyWeights(manifest, shards) {
  const files = weightFiles(manifest.weights);
  shards = Array.isArray(shards) ? shards : [shards];
  if (shards.length !== files.length) throw new Error(`model.json lists ${files.length} weights files; received ${shards.length}`);
  files.forEach((spec, k) => {
    if (shards[k].byteLength !== spec.byte_length) {
      throw new Error(`${spec.file} is ${shards[k].byteLength} bytes but model.json says ${spec.field}.byte_length = ` +
        `${spec.byte_length} (truncated or wrong file)`);
    }
  });
  // Every digest at once (the lengths are right, so every entry lies inside the bytes); files are judged first.
  const whole = joinShards(shards);
  const entries = manifest.weights.entries;
  const all = await Promise.all([...shards.map((bytes) => sha256Hex(bytes)),
    ...entries.map((e) => sha256Hex(new Uint8Array(whole, e.offset, e.byte_length)))]);
  const [digests, entryDigests] = [all.slice(0, shards.length), all.slice(shards.length)];
  files.forEach((spec, k) => {
    if (digests[k] !== spec.sha256.toLowerCase()) {
      throw new Error(`${spec.file}: SHA-256 does not match ${spec.field}.sha256 (corrupted or wrong file). ` +
        `Expected: ${spec.sha256}, received: ${digests[k]}`);
    }
  });
  entries.forEach((entry, i) => {
    if (entryDigests[i] !== entry.sha256.toLowerCase()) {
      throw new Error(`weights.entries[${i}].sha256 does not match the bytes of "${entry.name}". ` +
        `Expected: ${entry.sha256}, received: ${entryDigests[i]}`);
    }
    if (entry.dtype === "bool" && new Uint8Array(whole, entry.offset, entry.byte_length).some((b) => b > 1)) {
      throw new Error(`weights.entries[${i}] ("${entry.name}") is bool but holds bytes other than 0/1`);
    }
  });
}

/**
 * The values of every weight entry, by name: `{name: {data, shape, dtype}}` (bool as Uint8Array; float16 and
 * int8 storage widened to a Float32Array, the rest views of `weights`).
 * @param {object} manifest  a validated manifest
 * @param {ArrayBuffer} weights  the weights files' bytes, concatenated (`fetchBundle`'s `weights`)
 * @example
 *   readWeights(manifest, weights).w0.data; // Float32Array of dense/kernel
 */
export function readWeights(manifest, weights) {
  const out = {};
  for (const entry of manifest.weights.entries) {
    out[entry.name] = { data: decodeEntry(weights, entry), shape: entry.shape, dtype: entry.dtype };
  }
  return out;
}

/**
 * Validate a parsed model.json before anything uses it (structure, graph, weights table, memory plan,
 * kernels and steps). Throws an Error naming the field; returns nothing.
 * @param {object} manifest  the parsed model.json
 * @param {{knownOps?: Iterable<string>, file?: string}} [options]  `knownOps`: primitives the runtime can run
 *   (default: the CPU kernel names); `file`: the name errors start with
 * @example
 *   validateManifest(JSON.parse(text), { knownOps: ["matmul", "add", "maximum"] });
 */
export function validateManifest(manifest, { knownOps, file = "model.json" } = {}) {
  const fail = (field, message) => {
    throw new Error(`${file}: ${field} ${message}`);
  };
  if (!isObject(manifest)) fail("(top level)", `must be a JSON object. Received: ${typeName(manifest)}`);
  if (depth(manifest) > MAX_DEPTH) fail("(top level)", `nests lists and objects deeper than ${MAX_DEPTH} levels`);
  if (manifest.format !== FORMAT) fail("format", `must be "${FORMAT}". Received: ${JSON.stringify(manifest.format)}`);
  const version = manifest.format_version;
  if (!Number.isInteger(version) || version < 1) fail("format_version", `must be a positive integer. Received: ${JSON.stringify(version)}`);
  if (version > FORMAT_VERSION) {
    throw new Error(`${file}: bundle format version ${version} is newer than this runtime supports (${FORMAT_VERSION}); update pyml`);
  }
  const nodes = checkGraph(manifest.graph, new Set(knownOps || OP_NAMES), fail);
  checkSignature(manifest, "inputs", nodes, fail);
  checkSignature(manifest, "outputs", nodes, fail);
  manifest.inputs.forEach((v, i) => v.pad !== undefined && checkPad(v, `inputs[${i}].pad`, fail));
  const entries = checkWeightsTable(manifest.weights, nodes, fail, version);
  checkPlan(manifest, nodes, entries, fail);
}

function checkGraph(graph, knownOps, fail) {
  if (!isObject(graph) || !Array.isArray(graph.nodes)) fail("graph", "must be an object with a nodes list");
  const nodes = new Map();
  graph.nodes.forEach((node, i) => {
    const where = `graph.nodes[${i}]`;
    if (!isObject(node) || typeof node.name !== "string" || !node.name) fail(where, "must be an object with a non-empty string name");
    if (nodes.has(node.name)) fail(where, `redefines value %${node.name}`);
    if (!OPCODES.has(node.op)) fail(`${where}.op`, `must be placeholder, constant or call. Received: ${JSON.stringify(node.op)}`);
    if (node.op === "call" && !knownOps.has(node.target)) {
      fail(`${where}.target`, `names unknown op "${node.target}" in node %${node.name}: this runtime has no kernel for it; update pyml`);
    }
    checkShape(node.shape, `${where}.shape`, fail, true);
    checkDtype(node.dtype, `${where}.dtype`, fail);
    if (!Array.isArray(node.inputs)) fail(`${where}.inputs`, "must be a list of value names");
    for (const name of node.inputs) {
      if (!nodes.has(name)) fail(`${where}.inputs`, `of %${node.name} uses %${name}, which is not defined before it`);
    }
    if (node.attrs !== undefined && !isObject(node.attrs)) fail(`${where}.attrs`, "must be an object");
    nodes.set(node.name, node);
  });
  for (const key of ["inputs", "outputs"]) {
    if (!Array.isArray(graph[key])) fail(`graph.${key}`, "must be a list of value names");
    graph[key].forEach((name, i) => {
      if (!nodes.has(name)) fail(`graph.${key}[${i}]`, `names %${name}, which the graph does not define`);
      if (key === "inputs" && nodes.get(name).op !== "placeholder") fail(`graph.inputs[${i}]`, `%${name} is not a placeholder`);
    });
  }
  return nodes;
}

function checkSignature(manifest, key, nodes, fail) {
  const list = manifest[key];
  if (!Array.isArray(list) || list.length !== manifest.graph[key].length) {
    fail(key, `must list the ${manifest.graph[key].length} graph ${key} as {name, shape, dtype}`);
  }
  if (key === "outputs" && list.length === 0) fail(key, "must be a non-empty list");
  const seen = new Set();
  list.forEach((v, i) => {
    const where = `${key}[${i}]`, value = manifest.graph[key][i], name = v?.name;
    // Format 4 names inputs and outputs apart from the graph's values (webexport/names.py): plain keys, none twice.
    const old = manifest.format_version < NAMES_VERSION;
    if (old ? name !== value : !(typeof name === "string" && IO_NAME.test(name) && name !== "__proto__" && !seen.has(name))) {
      fail(`${where}.name`, `${old ? `must be "${value}" (graph.${key}[${i}])` : "must be letters, digits, _ . or -, a " +
        "letter or _ first (at most 128), not __proto__, no name twice"}. Received: ${JSON.stringify(name)}`);
    }
    seen.add(name);
    const node = nodes.get(value);
    if (JSON.stringify(v.shape) !== JSON.stringify(node.shape) || v.dtype !== node.dtype) {
      fail(where, `is ${v.dtype}${JSON.stringify(v.shape)} but graph node %${value} (graph.${key}[${i}]) is ${node.dtype}${formatShape(node.shape)}`);
    }
  });
}

// inputs[i].pad: {axis: 1, value} on a [batch, steps, ...] input, a value its dtype holds (webexport/padding.py).
function checkPad({ pad, shape, dtype }, where, fail) {
  if (!isObject(pad) || Object.keys(pad).sort().join() !== "axis,value") fail(where, `must be an object {axis, value}. Received: ${JSON.stringify(pad)}`);
  if (pad.axis !== 1 || shape.length < 2 || !(shape[1] >= 1)) {
    fail(`${where}.axis`, `must be 1, the sequence axis of an input of shape [batch, steps, ...]. Received: ${JSON.stringify(pad.axis)} for shape ${formatShape(shape)}`);
  }
  const { value } = pad;
  if (!Number.isFinite(value) || !["int32", "float32"].includes(dtype) || (dtype === "int32" && !(Number.isInteger(value) && Math.abs(value + 0.5) < 2 ** 31))) {
    fail(`${where}.value`, `must be a finite number the input's dtype (${dtype}) holds${dtype === "int32" ? " (an int32)" : ""}. Received: ${JSON.stringify(value)}`);
  }
}

// The weights files (format 2's `files`, format 1's single `file`) are well formed; returns the total bytes
// and how errors name the files.
function checkWeightsFiles(weights, fail, version) {
  if (version >= 2 && (!Array.isArray(weights.files) || weights.files.length === 0)) {
    fail("weights.files", "must be a non-empty list of {file, byte_length, sha256}");
  }
  const specs = version >= 2 ? weights.files : [weights];
  const names = new Set();
  specs.forEach((spec, k) => {
    const field = version >= 2 ? `weights.files[${k}]` : "weights";
    if (!isObject(spec)) fail(field, "must be an object {file, byte_length, sha256}");
    if (typeof spec.file !== "string" || !PLAIN_FILE_NAME.test(spec.file)) {
      fail(`${field}.file`, `must be a plain file name (at most 128 characters) inside the bundle folder. Received: ${JSON.stringify(spec.file)}`);
    }
    if (names.has(spec.file)) fail(`${field}.file`, `repeats "${spec.file}"`);
    names.add(spec.file);
    if (!isCount(spec.byte_length)) fail(`${field}.byte_length`, `must be a non-negative integer. Received: ${JSON.stringify(spec.byte_length)}`);
    checkHex(spec.sha256, `${field}.sha256`, fail);
  });
  return { total: specs.reduce((n, spec) => n + spec.byte_length, 0), what: specs.length === 1 ? specs[0].file : "the weights files" };
}

function checkWeightsTable(weights, nodes, fail, version) {
  if (!isObject(weights)) fail("weights", "must be an object {files, entries}");
  const { total, what } = checkWeightsFiles(weights, fail, version);
  if (!Array.isArray(weights.entries)) fail("weights.entries", "must be a list");
  const entries = new Map();
  weights.entries.forEach((e, i) => {
    const where = `weights.entries[${i}]`;
    if (!isObject(e) || typeof e.name !== "string") fail(where, "must be an object with a string name");
    if (entries.has(e.name)) fail(`${where}.name`, `repeats "${e.name}"`);
    checkShape(e.shape, `${where}.shape`, fail, false);
    checkDtype(e.dtype, `${where}.dtype`, fail);
    const storage = e.storage ?? e.dtype;
    if (!STORAGE_OF[e.dtype].includes(storage) || (storage === "int8" && !e.shape[e.shape.length - 1])) {
      fail(`${where}.storage`, `must be one of ${STORAGE_OF[e.dtype].join(", ")} for ${e.dtype}` +
        `${storage === "int8" ? " (int8 needs a last axis to scale along)" : ""}. Received: ${JSON.stringify(storage)}`);
    }
    if (!isCount(e.offset) || e.offset % 4 !== 0) fail(`${where}.offset`, `must be a 4-byte aligned non-negative integer. Received: ${JSON.stringify(e.offset)}`);
    const expected = storageBytes(e.shape, storage);
    if (e.byte_length !== expected) {
      fail(`${where}.byte_length`, `must be ${expected} for ${e.dtype}${formatShape(e.shape)} stored as ${storage}. Received: ${JSON.stringify(e.byte_length)}`);
    }
    if (e.offset + e.byte_length > total) {
      fail(where, `spans bytes ${e.offset}..${e.offset + e.byte_length}, past the end of ${what} (${total} bytes)`);
    }
    checkHex(e.sha256, `${where}.sha256`, fail);
    entries.set(e.name, e);
  });
  for (const node of nodes.values()) {
    if (node.op !== "constant") continue;
    const e = entries.get(node.name);
    if (!e) fail("weights.entries", `has no entry for constant %${node.name}`);
    if (formatShape(e.shape) !== formatShape(node.shape) || e.dtype !== node.dtype) {
      fail("weights.entries", `"${node.name}" is ${e.dtype}${formatShape(e.shape)} but constant %${node.name} is ${node.dtype}${formatShape(node.shape)}`);
    }
  }
  return entries;
}

function checkPlan(manifest, nodes, entries, fail) {
  const { values, kernels, steps } = manifest;
  const slots = checkSlots(manifest.buffers, "buffers", fail);
  if (!isObject(values)) fail("values", "must be an object {name: {buffer} | {weight}}");
  const packed = new Map(); // weight entry -> whether its GPU buffer holds the stored bytes (one buffer per weight)
  for (const [name, v] of Object.entries(values)) {
    const where = `values.${name}`;
    if (isObject(v) && "buffer" in v) {
      const slot = slots.get(v.buffer);
      if (!slot) fail(`${where}.buffer`, `names buffer ${JSON.stringify(v.buffer)}, which buffers does not define`);
      const node = nodes.get(name);
      if (node) checkSlotSize(node, slot, where, fail);
    } else if (isObject(v) && "weight" in v) {
      if (!entries.has(v.weight)) fail(`${where}.weight`, `names "${v.weight}", which weights.entries does not define`);
      if (nodes.has(name)) checkWeightValue(nodes.get(name), entries.get(v.weight), where, fail);
      checkPacked(v, `${where}.packed`, entries.get(v.weight), packed, manifest.format_version, fail);
    } else fail(where, "must be {buffer: id} or {weight: name}");
  }
  for (const key of ["inputs", "outputs"]) {
    for (const name of manifest.graph[key]) {
      if (!hasOwn(values, name) || !("buffer" in values[name])) fail("values", `has no buffer for graph ${key.slice(0, -1)} %${name}`);
    }
  }
  const kernelIds = new Map();
  if (!Array.isArray(kernels)) fail("kernels", "must be a list");
  kernels.forEach((k, i) => {
    if (!isObject(k) || !isCount(k.id) || kernelIds.has(k.id)) fail(`kernels[${i}].id`, "must be a unique non-negative integer");
    if (typeof k.wgsl !== "string" || !k.wgsl) fail(`kernels[${i}].wgsl`, "must be WGSL source text");
    if (!Number.isInteger(k.workgroup_size) || k.workgroup_size < 1) fail(`kernels[${i}].workgroup_size`, `must be a positive integer. Received: ${JSON.stringify(k.workgroup_size)}`);
    const declared = [...k.wgsl.matchAll(/@workgroup_size\(\s*(\d+)\s*\)/g)].map((d) => d[1]); // dispatches are counted from it
    if (declared.join() !== String(k.workgroup_size)) fail(`kernels[${i}].workgroup_size`, `must be what the WGSL declares (@workgroup_size(${k.workgroup_size}), once). Received: ${JSON.stringify(k.workgroup_size)}`);
    kernelIds.set(k.id, k);
  });
  if (!Array.isArray(steps)) fail("steps", "must be a list");
  const live = liveness(manifest.graph.inputs, steps.flatMap((s) => (isObject(s) && Array.isArray(s.outputs) ? s.outputs : [])),
    (name) => values[name].buffer, nodes, fail);
  const arity = new Map(); // kernel id -> "inputs+outputs" it is bound with (its pipeline's layout)
  steps.forEach((s, i) => {
    const where = `steps[${i}]`;
    if (!isObject(s) || !kernelIds.has(s.kernel)) fail(`${where}.kernel`, `names kernel ${JSON.stringify(s && s.kernel)}, which kernels does not define`);
    for (const key of ["inputs", "outputs"]) {
      if (!Array.isArray(s[key])) fail(`${where}.${key}`, "must be a list of value names");
      s[key].forEach((name) => {
        if (typeof name !== "string" || !hasOwn(values, name)) fail(`${where}.${key}`, `uses ${JSON.stringify(name)}, which values does not define`);
      });
    }
    const inputSlots = new Set(s.inputs.map((n) => values[n].buffer).filter((b) => b !== undefined));
    for (const name of s.outputs) {
      if (!("buffer" in values[name])) fail(`${where}.outputs`, `writes "${name}", which is a weight`);
      if (inputSlots.has(values[name].buffer)) fail(`${where}.outputs`, `writes "${name}" into buffer ${values[name].buffer}, which the step also reads`);
    }
    for (const name of s.inputs) if ("buffer" in values[name]) live.read(name, `${where}.inputs`);
    s.outputs.forEach(live.write);
    if (s.label !== undefined && typeof s.label !== "string") fail(`${where}.label`, `must be a string. Received: ${JSON.stringify(s.label)}`);
    if (!Array.isArray(s.threads) || s.threads.length !== 2 || !s.threads.every(isIndex)) {
      fail(`${where}.threads`, `must be [per_batch, fixed] integers in 0..2^31 - 1. Received: ${JSON.stringify(s.threads)}`);
    }
    const shape = `${s.inputs.length}+${s.outputs.length}`;
    for (const kernel of [s.kernel, ...checkVariants(s, where, kernelIds, fail)]) {
      if (arity.has(kernel) && arity.get(kernel) !== shape) fail(where, `binds kernel ${kernel} with ${shape} buffers, another step with ${arity.get(kernel)}`);
      arity.set(kernel, shape);
    }
  });
  checkBindings(manifest, nodes, live.owner, fail);
  for (const name of manifest.graph.outputs) live.read(name, "outputs", true);
  if (manifest.limits !== undefined && !isObject(manifest.limits)) fail("limits", "must be an object {limitName: number}");
  for (const [name, value] of Object.entries(manifest.limits || {})) {
    if (typeof value !== "number" || !(value >= 0)) fail(`limits.${name}`, `must be a non-negative number. Received: ${JSON.stringify(value)}`);
  }
}

// values[name].packed (format 3, optional): the weight's GPU buffer holds its stored float16/int8 bytes; every value
// naming one weight says the same (it has one buffer).
function checkPacked(value, field, entry, packed, version, fail) {
  const flag = value.packed ?? false;
  const storage = entry.storage ?? entry.dtype;
  if (typeof flag !== "boolean") fail(field, `must be true or false. Received: ${JSON.stringify(flag)}`);
  if (flag && storage !== "float16" && storage !== "int8") {
    fail(field, `needs a float16 or int8 weight; "${value.weight}" is stored as ${storage}`);
  }
  if (flag && version < 3) {
    fail(field, `needs format_version 3 (a runtime for format ${version} would read the weight as float32). ` +
      `Received: format_version=${version}`);
  }
  if ((packed.get(value.weight) ?? flag) !== flag) fail(field, `is ${flag} but another value says ${!flag} for weight "${value.weight}"`);
  packed.set(value.weight, flag);
}

// steps[i].variants (format 2): [{min_batch, kernel, threads}], min_batch increasing from 2, each bound as its
// step. Returns the kernel ids.
function checkVariants(step, where, kernelIds, fail) {
  const variants = step.variants === undefined ? [] : step.variants;
  if (!Array.isArray(variants)) fail(`${where}.variants`, `must be a list of {min_batch, kernel, threads}. Received: ${JSON.stringify(variants)}`);
  let previous = 1;
  variants.forEach((v, j) => {
    const at = `${where}.variants[${j}]`;
    if (!isObject(v) || !kernelIds.has(v.kernel)) fail(`${at}.kernel`, `names kernel ${JSON.stringify(v && v.kernel)}, which kernels does not define`);
    if (!isCount(v.min_batch) || v.min_batch <= previous) {
      fail(`${at}.min_batch`, `must be an integer above ${previous} (variants go by increasing batch). Received: ${JSON.stringify(v.min_batch)}`);
    }
    previous = v.min_batch;
    if (!Array.isArray(v.threads) || v.threads.length !== 2 || !v.threads.every(isIndex)) {
      fail(`${at}.threads`, `must be [per_batch, fixed] integers in 0..2^31 - 1. Received: ${JSON.stringify(v.threads)}`);
    }
  });
  return variants.map((v) => v.kernel);
}

/**
 * Which value each buffer of a plan holds as its steps run (`buffer(name)`: a value's buffer id), to refuse a plan
 * that reads a value after a later step overwrote its buffer (two live values in one buffer); for cpuplan.js, not
 * the public API. `read(name, field, output)` checks a read (`output`: the graph's outputs after the last step),
 * `write(name)` records a step's output. A value no step writes (`produced`: the steps' outputs) is a zero-copy
 * alias: it shows its first input's bytes.
 */
export function liveness(inputs, produced, buffer, nodes, fail) {
  const holder = new Map(inputs.map((name) => [buffer(name), name]));
  produced = new Set([...inputs, ...produced]);
  const owner = (name) => {
    for (let k = 0; k < nodes.size && !produced.has(name) && nodes.get(name)?.inputs.length; k++) name = nodes.get(name).inputs[0];
    return name;
  };
  return {
    read(name, field, output) {
      const b = buffer(name), now = holder.get(b);
      if (!holder.has(b)) fail(field, output ? `names "${name}", which no step writes` : `reads "${name}" (buffer ${b}) before any step writes it`);
      if (owner(now) !== owner(name)) fail(field, `${output ? "names" : "reads"} "${name}" from buffer ${b}, which now holds "${now}" (two live values in one buffer)`);
    },
    write: (name) => holder.set(buffer(name), name),
    owner,
  };
}

// Each step binds what its nodes read and write: the rules and messages of webexport/validate_bindings.py (and why).
function checkBindings({ steps, values }, nodes, owner, fail) {
  const made = new Set(); // temporaries (values no node defines) written so far
  for (let start = 0, end; start < steps.length; start = end) {
    const chain = new Set(), allowed = new Map(), bound = new Map(), add = (map, n) => map.set(n, (map.get(n) || 0) + 1);
    let pending = []; // temporaries the group wrote and has not read yet
    for (end = start; end < steps.length && (end === start || pending.length || steps[end].nodes?.some?.((n) => chain.has(n))); end++) {
      const s = steps[end];
      if (!Array.isArray(s.nodes) || !s.nodes.length || !s.nodes.every((n) => (nodes.has(n) ? nodes.get(n).op !== "placeholder" : hasOwn(values, n)))) {
        fail(`steps[${end}].nodes`, "must be a non-empty list of the step's graph nodes or temporaries");
      }
      s.nodes.forEach((n) => chain.add(n));
      pending = [...pending.filter((n) => !s.inputs.includes(n)), ...s.outputs.filter((n) => !nodes.has(n))];
    }
    const group = steps.slice(start, end), written = new Set();
    const reads = [...chain].flatMap((n) => nodes.get(n)?.inputs || []).filter((r) => !chain.has(r)); // each node's once
    const shown = new Map(), bytesBound = new Map(); // each read binds once, as itself or as its alias's source
    for (const r of [...reads, ...[...chain].filter((n) => nodes.get(n)?.op === "constant")]) {
      new Set([r, owner(r)]).forEach((n) => add(allowed, n));
      add(shown, owner(r));
    }
    group.forEach((s, k) => {
      const at = `steps[${start + k}]`;
      for (const raw of s.inputs) {
        const name = nodes.has(raw) || !("weight" in values[raw]) ? raw : values[raw].weight; // a constant output's weight
        const times = allowed.get(name) || 0;
        add(bound, name);
        if (nodes.has(name) && bound.get(name) > times) fail(`${at}.inputs`, `binds "${name}", which its nodes read ${times} times`);
        if (nodes.has(name) && add(bytesBound, owner(name)).get(owner(name)) > (shown.get(owner(name)) || 0)) {
          fail(`${at}.inputs`, `binds "${name}", whose bytes its nodes read ${shown.get(owner(name)) || 0} times, once more`);
        }
        if (nodes.get(raw)?.op === "constant" && !nodes.get(raw).shape.length) fail(`${at}.inputs`, `binds "${raw}", a scalar constant, which kernels hold inline`);
        if (!nodes.has(name) && (!written.has(name) || bound.get(name) > 1)) fail(`${at}.inputs`, `binds "${name}", which no earlier step of its nodes writes (or another step read already)`);
      }
      for (const name of s.outputs) {
        if (nodes.has(name) ? !chain.has(name) : made.has(name)) fail(`${at}.outputs`, `binds "${name}", which none of its nodes computes`);
        written.add(name);
        made.add(name);
      }
    });
  }
}

/** The slots of a buffer plan (`buffers` or `cpu.buffers`) by id; for cpuplan.js, not the public API. */
export function checkSlots(buffers, field, fail) {
  const slots = new Map();
  if (!Array.isArray(buffers)) fail(field, "must be a list");
  buffers.forEach((b, i) => {
    if (!isObject(b) || !isCount(b.id) || slots.has(b.id)) fail(`${field}[${i}].id`, "must be a unique non-negative integer");
    if (!isIndex(b.bytes_per_batch) || !isIndex(b.bytes_fixed)) fail(`${field}[${i}]`, "needs bytes_per_batch and bytes_fixed integers in 0..2^31 - 1 (a 2 GiB buffer)");
    slots.set(b.id, b);
  });
  return slots;
}

/** That a value fits its slot; for cpuplan.js, not the public API. */
// A value read from a weight must be its dtype and element count (a zero-copy reshape keeps both): a kernel bound to a
// smaller weight would read past it.
export function checkWeightValue(node, e, where, fail) {
  const count = (shape) => (shape.includes(null) ? -1 : numel(shape));
  if (e.dtype !== node.dtype || count(e.shape) !== count(node.shape)) {
    fail(`${where}.weight`, `names weight "${e.name}", which is ${e.dtype}${formatShape(e.shape)} but %${node.name} is ${node.dtype}${formatShape(node.shape)}`);
  }
}

export function checkSlotSize(node, slot, where, fail) {
  const dynamic = node.shape.includes(null);
  const bytes = numel(node.shape.map((d) => (d === null ? 1 : d))) * 4;
  if (dynamic ? bytes > slot.bytes_per_batch : bytes > slot.bytes_per_batch + slot.bytes_fixed) {
    fail(where, `needs ${bytes} bytes${dynamic ? " per batch" : ""} but buffers[id=${slot.id}] holds ` +
      `${slot.bytes_per_batch} per batch + ${slot.bytes_fixed}`);
  }
}

function checkShape(shape, field, fail, batchAllowed) {
  const ok = Array.isArray(shape) && shape.every((d, i) => isCount(d) || (d === null && i === 0 && batchAllowed));
  if (!ok) fail(field, `must be a list of non-negative integers${batchAllowed ? " (null allowed at axis 0)" : ""}. Received: ${JSON.stringify(shape)}`);
  if (numel(shape.map((d) => (d === null ? 1 : d))) > MAX_INDEX) fail(field, `holds more than 2^31 - 1 elements, past the kernels' 32-bit index math. Received: ${JSON.stringify(shape)}`);
}

function checkDtype(dtype, field, fail) {
  if (!hasOwn(ITEM_SIZES, dtype)) fail(field, `must be one of ${Object.keys(ITEM_SIZES).join(", ")}. Received: ${JSON.stringify(dtype)}`);
}

function checkHex(value, field, fail) {
  if (typeof value !== "string" || !/^[0-9a-fA-F]{64}$/.test(value)) fail(field, `must be a 64-digit hex SHA-256. Received: ${JSON.stringify(value)}`);
}

export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
export const hasOwn = (object, key) => typeof key === "string" && Object.prototype.hasOwnProperty.call(object, key);
const isCount = (v) => Number.isInteger(v) && v >= 0;
const MAX_DEPTH = 64; // nesting a manifest may have (it needs about 8): deeper overflows JSON.stringify's stack in messages
function depth(value) { // counted without recursion: a hostile file nests 10^5 deep
  let deepest = 0;
  for (const stack = [[value, 1]]; stack.length;) {
    const [item, d] = stack.pop();
    if (item === null || typeof item !== "object") continue;
    deepest = Math.max(deepest, d);
    if (d <= MAX_DEPTH) for (const child of Object.values(item)) stack.push([child, d + 1]);
  }
  return deepest;
}
const MAX_INDEX = 2 ** 31 - 1; // kernels index with 32-bit integers: no tensor, and no step's thread count, may pass it
const isIndex = (v) => isCount(v) && v <= MAX_INDEX;
const typeName = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

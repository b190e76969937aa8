/**
 * The checks of the manifest's CPU program (`cpu`, docs/internals.md §6), which only the wasm backend reads:
 * webexport/validate_cpu.py is the Python twin, with the same messages.
 * @module cpuplan
 */
import { checkSlots, checkSlotSize, checkWeightValue, hasOwn, isObject, liveness } from "./bundle.js";

// kernel -> the op its first node must be (null: a "js" step, one node of any op)
const CPU_KERNELS = { matmul: "matmul", conv: "conv", depthwise: "conv", max_pool: "max_pool", avg_pool: "avg_pool",
  softmax: "max", log_softmax: "max", rnn_scan: "rnn_scan", js: null };

/**
 * The register-program instruction names, in the order of the C enum (web/wasm/epilogue.h): an op's
 * index is its opcode.
 * @example
 *   PROGRAM_OPS.indexOf("add"); // 5
 */
export const PROGRAM_OPS = Object.freeze(["end", "scalar", "column", "full", "row", "add", "sub", "mul", "div", "maximum", "minimum",
  "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "where",
  "neg", "abs", "sqrt", "exp", "log", "tanh", "sigmoid", "erf"]);
const PROGRAM_REGISTERS = 16;

/**
 * Check the manifest's CPU program (`cpu`, docs/internals.md §6) before the wasm backend uses it; throws an
 * Error naming the field. `validateManifest` leaves `cpu` to this, so that a WebGPU page never downloads it.
 * @param {object} manifest  a manifest that passed `validateManifest`
 * @param {{file?: string}} [options]  the name errors start with
 * @example
 *   validateCpuPlan(manifest); // throws "model.json: cpu.steps[3].kernel must be one of ..."
 */
export function validateCpuPlan(manifest, { file = "model.json" } = {}) {
  const fail = (field, message) => {
    throw new Error(`${file}: ${field} ${message}`);
  };
  const nodes = new Map(manifest.graph.nodes.map((n) => [n.name, n]));
  const entries = new Map(manifest.weights.entries.map((e) => [e.name, e]));
  const cpu = manifest.cpu;
  if (!isObject(cpu)) fail("cpu", "must be an object {steps, buffers, values}");
  const slots = checkSlots(cpu.buffers, "cpu.buffers", fail);
  if (!isObject(cpu.values)) fail("cpu.values", "must be an object {name: {buffer} | {weight}}");
  for (const [name, v] of Object.entries(cpu.values)) {
    const where = `cpu.values.${name}`;
    if (!nodes.has(name)) fail(where, `names %${name}, which the graph does not define`);
    if (isObject(v) && "buffer" in v) {
      if (!slots.has(v.buffer)) fail(`${where}.buffer`, `names buffer ${JSON.stringify(v.buffer)}, which cpu.buffers does not define`);
      checkSlotSize(nodes.get(name), slots.get(v.buffer), where, fail);
    } else if (!(isObject(v) && entries.has(v.weight))) fail(where, "must be {buffer: id} or {weight: <a weights.entries name>}");
    else checkWeightValue(nodes.get(name), entries.get(v.weight), where, fail);
  }
  const known = (name) => hasOwn(cpu.values, name) || nodes.get(name)?.op === "constant";
  const buffer = (name) => cpu.values[name]?.buffer;
  for (const name of manifest.graph.inputs) if (buffer(name) === undefined) fail("cpu.values", `has no buffer for input "${name}"`);
  if (!Array.isArray(cpu.steps)) fail("cpu.steps", "must be a list");
  const live = liveness(manifest.graph.inputs, cpu.steps.map((s) => s?.output), buffer, nodes, fail);
  cpu.steps.forEach((s, i) => {
    const where = `cpu.steps[${i}]`;
    if (!isObject(s) || !hasOwn(CPU_KERNELS, s.kernel)) fail(`${where}.kernel`, `must be one of ${Object.keys(CPU_KERNELS).join(", ")}. Received: ${JSON.stringify(s && s.kernel)}`);
    if (!Array.isArray(s.nodes) || !s.nodes.length || !s.nodes.every((n) => nodes.get(n)?.op === "call")) fail(`${where}.nodes`, "must be a non-empty list of call nodes");
    const first = nodes.get(s.nodes[0]).target;
    if (CPU_KERNELS[s.kernel] ? first !== CPU_KERNELS[s.kernel] : s.nodes.length !== 1) {
      fail(`${where}.nodes`, `cannot be computed by kernel ${s.kernel}: its first node %${s.nodes[0]} is ${first}`);
    }
    if (s.output !== s.nodes[s.nodes.length - 1] || buffer(s.output) === undefined) fail(`${where}.output`, "must be the last node, stored in a cpu buffer");
    if (!Array.isArray(s.inputs) || !s.inputs.every(known)) fail(`${where}.inputs`, "must list values cpu.values or the graph's constants define");
    for (const name of nodes.get(s.nodes[0]).inputs) {
      if (!s.inputs.includes(name)) fail(`${where}.inputs`, `leaves out %${name}, which node %${s.nodes[0]} reads`);
    }
    for (const name of s.inputs) {
      if (buffer(name) !== undefined) live.read(name, `${where}.inputs`);
      if (buffer(name) === buffer(s.output)) fail(`${where}.output`, `shares buffer ${buffer(name)} with "${name}", which the step reads`);
    }
    live.write(s.output);
    if (!["matmul", "conv", "depthwise"].includes(s.kernel)) return;
    // the epilogue's operands: inputs a later node of the step reads (a bias bound to x would read the wrong numbers)
    const operands = s.inputs.filter((n) => s.nodes.slice(1).some((m) => nodes.get(m).inputs.includes(n)));
    for (const key of ["bias", "residual"]) {
      if (s[key] !== null && !operands.includes(s[key])) fail(`${where}.${key}`, `must be null or one of the step's inputs that a later node reads. Received: ${JSON.stringify(s[key])}`);
    }
    if (!Array.isArray(s.clamp) || s.clamp.length !== 2 || !s.clamp.every((v) => v === null || typeof v === "number")) {
      fail(`${where}.clamp`, `must be [low, high], numbers or null. Received: ${JSON.stringify(s.clamp)}`);
    }
    checkProgram(s.program, operands, `${where}.program`, fail);
  });
  for (const name of manifest.graph.outputs) {
    if (buffer(name) !== undefined) live.read(name, "cpu.steps", true);
    if (!known(name)) fail("cpu.values", `has no place for output "${name}"`);
  }
}

function checkProgram(program, inputs, where, fail) {
  if (!Array.isArray(program)) fail(where, "must be a list of [op, dst, a, b, x] instructions");
  const register = (r) => Number.isInteger(r) && r >= 0 && r < PROGRAM_REGISTERS;
  program.forEach((ins, i) => {
    const [op, dst, a, b, x] = Array.isArray(ins) ? ins : [];
    if (!Array.isArray(ins) || ins.length !== 5 || !PROGRAM_OPS.includes(op) || ![dst, a, b].every(register)) {
      fail(`${where}[${i}]`, `must be [op, dst, a, b, x] with a known op and registers 0..${PROGRAM_REGISTERS - 1}. Received: ${JSON.stringify(ins)}`);
    }
    const ok = op === "scalar" ? typeof x === "number" : ["column", "full", "row"].includes(op) ? inputs.includes(x)
      : op === "where" ? register(x) : x === 0;
    if (!ok) fail(`${where}[${i}]`, `has a bad operand x for ${op}. Received: ${JSON.stringify(x)}`);
  });
  if (program.length && program[program.length - 1][0] !== "end") fail(where, 'must end with an "end" instruction');
}

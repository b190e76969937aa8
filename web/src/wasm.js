/**
 * The CPU path: the WebAssembly SIMD backend, which runs the manifest's CPU program (`cpu`, docs/internals.md
 * §6) on the kernels of web/src/wasm/*.wasm (sources in web/wasm/, built by scripts/build_wasm.py), or the
 * plain-JS interpreter (cpu.js) where the browser has no wasm SIMD (`loadCpu` chooses).
 *
 * All the work happens at load: the module is compiled once per page, each model gets its own instance
 * and memory, weights are packed into column panels and window tables built, then per batch size the
 * activation arena is laid out from `cpu.buffers` and every step bound to its pointers (cached, like the
 * WebGPU backend's bind groups). A run copies the inputs in, calls the steps, and copies the outputs out.
 * Nodes without a wasm kernel (`js` steps) run their JS kernel (web/src/cpu/) on views of wasm memory.
 * @module wasm
 */
import { callKernel, loadKernels, runGraph } from "./cpu.js";
import { PROGRAM_OPS, validateCpuPlan } from "./cpuplan.js";
import { ARRAY_TYPES, checkIndexRange, formatShape, numel, resolveShape } from "./util.js";

const CACHED_BATCH_SIZES = 4; // batch sizes whose arena layout and bound steps stay cached
const SLACK = 64; // bytes after every region: kernels may load (never store) up to 12 bytes past a row
const PAGE = 65536;

// The smallest modules using a SIMD128 and a relaxed-SIMD instruction: `WebAssembly.validate` says whether
// this browser has them.
const PROBE_HEAD = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10];
const SPLAT = [65, 0, 253, 17]; // i32.const 0; i32x4.splat
const PROBES = {
  relaxed: [19, 1, 17, 0, ...SPLAT, ...SPLAT, ...SPLAT, 253, 133, 2, 11], // f32x4.relaxed_madd
  simd: [8, 1, 6, 0, ...SPLAT, 11],
};

const modules = {}; // variant -> promise of its compiled WebAssembly.Module
// rnn_scan's cells and activations, in the order of the enums of web/wasm/rnn.c
const RNN_CELLS = ["simple", "lstm", "gru"];
const RNN_ACTIVATIONS = ["tanh", "sigmoid", "relu", "linear", "hard_sigmoid", "softsign"];

/**
 * Prepare a bundle for the CPU: "wasm" (WebAssembly SIMD; refused where the browser or the bundle lacks
 * it), "js" (the graph interpreter), or "cpu"/"auto" (wasm where possible, else js).
 * @param {object} manifest  a validated model.json
 * @param {Object<string, {data, shape, dtype}>} weights  from `readWeights`
 * @param {"auto"|"cpu"|"wasm"|"js"} backend  what `loadModel` was asked for
 * @param {string} reason  why the CPU path, which `info.reason` extends with what was chosen
 * @returns {Promise<{backend: "wasm"|"js", reason: string, run: (inputs: Array, batch: number) => Array}>}
 * @example
 *   const cpu = await loadCpu(manifest, readWeights(manifest, bytes), "cpu", "asked for");
 *   const [y] = cpu.run([{ data: x, shape: [1, 784], dtype: "float32" }], 1);
 */
export async function loadCpu(manifest, weights, backend, reason) {
  const variant = backend === "js" ? null : wasmSimdSupport();
  if (backend === "wasm" && !variant) {
    throw new Error('backend "wasm": this browser has no WebAssembly SIMD; use backend "js" (or "cpu", which falls back to it)');
  }
  if (variant && !manifest.cpu) {
    const missing = "the bundle has no CPU program (model.json cpu: an older pyml exported it)";
    if (backend === "wasm") throw new Error(`backend "wasm": ${missing}; export it again`);
    reason += `; ${missing}`;
  } else if (variant) {
    const exec = await createWasm(manifest, weights, variant);
    return { backend: "wasm", reason: `${reason}; WebAssembly ${variant === "relaxed" ? "relaxed SIMD" : "SIMD"}`,
      run: (inputs, batch) => runWasm(exec, inputs, batch) };
  } else if (backend !== "js") reason += "; this browser has no WebAssembly SIMD";
  await loadKernels(manifest.graph.nodes.filter((n) => n.op === "call").map((n) => n.target));
  return { backend: "js", reason, run: (inputs) => runGraph(manifest.graph, weights, inputs) };
}

/**
 * Start compiling the wasm build `loadCpu` will use for `backend` (nothing for "js"), so that it overlaps
 * the download of the weights.
 * @param {"auto"|"cpu"|"wasm"|"js"} backend
 * @example
 *   prefetchKernels("cpu"); const cpu = await loadCpu(manifest, weights, "cpu", reason);
 */
export function prefetchKernels(backend) {
  const variant = backend === "js" ? null : wasmSimdSupport();
  if (variant) compileKernels(variant).catch(() => {}); // a failure surfaces when loadCpu asks again
}

/**
 * Which wasm build this browser runs: "relaxed" (relaxed SIMD: fused multiply-add), "simd" (SIMD128), or
 * null when it has no WebAssembly SIMD (the plain-JS kernels are then the CPU backend).
 * @returns {"relaxed"|"simd"|null}
 * @example
 *   const backend = wasmSimdSupport() ? "wasm" : "js";
 */
export function wasmSimdSupport() {
  const wasm = globalThis.WebAssembly;
  if (!wasm?.validate) return null;
  for (const variant of ["relaxed", "simd"]) {
    if (wasm.validate(new Uint8Array([...PROBE_HEAD, ...PROBES[variant]]))) return variant;
  }
  return null;
}

/**
 * Compile `wasm/<variant>.wasm` (beside this module) once per page: streaming where the server sends
 * application/wasm, else from its bytes.
 * @param {"relaxed"|"simd"} variant
 * @returns {Promise<WebAssembly.Module>}
 * @example
 *   const module = await compileKernels(wasmSimdSupport());
 */
export function compileKernels(variant) {
  modules[variant] ||= (async () => {
    const url = new URL(`./wasm/${variant}.wasm`, import.meta.url);
    let response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new Error(`could not fetch ${url.href}: ${err.message}`);
    }
    if (!response.ok) throw new Error(`could not fetch ${url.href}: HTTP ${response.status}`);
    if (WebAssembly.compileStreaming) {
      try {
        return await WebAssembly.compileStreaming(response.clone());
      } catch (err) {
        if (!(err instanceof TypeError)) throw new Error(`${url.href}: ${err.message}`);
        // a server that does not send application/wasm: compile the bytes instead
      }
    }
    return WebAssembly.compile(await response.arrayBuffer());
  })().catch((err) => {
    delete modules[variant];
    throw err;
  });
  return modules[variant];
}

/**
 * Instantiate the kernels for one model: pack its weights, build its window tables, import the JS kernel
 * families its `js` steps use.
 * @param {object} manifest  a validated model.json that has a CPU program (`cpu`, checked here first)
 * @param {Object<string, {data, shape, dtype}>} weights  from `readWeights`
 * @param {"relaxed"|"simd"} variant  from `wasmSimdSupport`
 * @returns {Promise<object>}  the executor record `runWasm` takes
 * @example
 *   const wasm = await createWasm(manifest, readWeights(manifest, bytes), wasmSimdSupport());
 */
export async function createWasm(manifest, weights, variant) {
  validateCpuPlan(manifest);
  const nodes = new Map(manifest.graph.nodes.map((n) => [n.name, n]));
  const jsOps = manifest.cpu.steps.filter((s) => s.kernel === "js").map((s) => nodes.get(s.nodes[0]).target);
  const [module] = await Promise.all([compileKernels(variant), loadKernels(jsOps)]);
  const { exports } = await WebAssembly.instantiate(module, {});
  const exec = { manifest, weights, nodes, exports, memory: exports.memory, top: exports.__heap_base.value,
    pointers: new Map(), packed: new Map(), panels: new Map(), tables: new Map(), programs: new Map(), plans: new Map(), current: null };
  prepare(exec);
  exec.base = align(exec.top); // the arena of every batch size starts here
  planFor(exec, 1); // checks every step's reach at load (each other batch size when first laid out)
  return exec;
}

/**
 * Run the CPU program on inputs of batch size `batch`; returns one value per manifest output (fresh arrays).
 * @param {object} exec  from `createWasm`
 * @param {Array<{data, shape, dtype}>} inputs  one per manifest input, storage arrays, concrete shapes
 * @param {number} batch  the batch size (axis 0 of the dynamic inputs; 1 when all are static)
 * @returns {Array<{data, shape: number[], dtype: string}>}
 * @example
 *   const [y] = runWasm(exec, [{ data: x, shape: [4, 784], dtype: "float32" }], 4);
 */
export function runWasm(exec, inputs, batch) {
  const plan = planFor(exec, batch);
  if (exec.current !== plan || plan.buffer !== exec.memory.buffer) bind(exec, plan);
  exec.manifest.graph.inputs.forEach((name, i) => plan.views.get(name).data.set(inputs[i].data));
  for (const run of plan.run) run();
  return exec.manifest.graph.outputs.map((name) => {
    const { data, shape, dtype } = plan.views.get(name);
    return { data: data.slice(), shape, dtype };
  });
}

// ---- load: packed weights, weight copies, window tables, program space -------------------------------------

function prepare(exec) {
  const { manifest, nodes } = exec;
  let zeros = 0; // floats of zeros a convolution reads for its padding taps
  for (const step of manifest.cpu.steps) {
    if (step.kernel === "js") continue;
    const node = nodes.get(step.nodes[0]);
    const [x, w] = node.inputs.map((name) => nodes.get(name));
    if (step.kernel === "matmul" || step.kernel === "conv") {
      const groups = node.attrs?.groups || 1, cout = w.shape[w.shape.length - 1] / groups;
      const ranges = Array.from({ length: groups }, (_, g) => [g * cout, cout]);
      if (weightOf(exec, w.name)) pack(exec, w, ranges);
      else { // a computed weight (a training step's parameters): packed at each run (kernelCalls)
        const k = numel(w.shape) / (cout * groups);
        exec.panels.set(step, ranges.map(([first, n]) => [first, n, allocate(exec, Math.ceil(n / 8) * 8 * k * 4)]));
      }
      zeros = Math.max(zeros, w.shape[w.shape.length - 2]);
    } else if (step.kernel === "rnn_scan") { // a GRU without reset_after multiplies u's last H columns apart
      const H = node.attrs.units, G = w.shape[1] / H;
      pack(exec, w, node.attrs.cell === "gru" && !node.attrs.reset_after ? [[0, 2 * H], [2 * H, H]] : [[0, G * H]]);
    }
    if (["conv", "depthwise", "max_pool", "avg_pool"].includes(step.kernel)) exec.tables.set(step, windowTable(exec, node, x));
    for (const name of step.inputs) {
      const packed = name === w?.name && step.kernel !== "depthwise";
      if (!packed && weightOf(exec, name)) exec.pointers.set(name, copyWeight(exec, name));
    }
    if (step.program?.length) exec.programs.set(step, allocate(exec, step.program.length * 20));
  }
  exec.zeros = allocate(exec, zeros * 4); // what padding taps read; nothing writes it after this
  new Float32Array(exec.memory.buffer, exec.zeros, zeros).fill(0); // the space may have held a weight being packed
}

// Pack weight w ([..., k-ish, cout] read as a (size / cout) x cout matrix) into column panels, one set per
// [first column, count] of `ranges` (a conv's groups).
function pack(exec, w, ranges) {
  if (exec.packed.has(w.name)) return;
  const cout = w.shape[w.shape.length - 1], k = numel(w.shape) / cout;
  const panels = ranges.map(([, n]) => allocate(exec, Math.ceil(n / 8) * 8 * k * 4));
  const top = exec.top;
  const raw = copyWeight(exec, w.name);
  panels.forEach((at, g) => exec.exports.pack_panels(raw + ranges[g][0] * 4, k, ranges[g][1], cout, at));
  exec.top = top; // the raw copy was only needed for packing
  exec.packed.set(w.name, panels);
}

function copyWeight(exec, name) {
  if (exec.pointers.has(name)) return exec.pointers.get(name);
  const { data } = weightOf(exec, name);
  const at = allocate(exec, data.byteLength);
  new Uint8Array(exec.memory.buffer, at, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return at;
}

// The weight holding `name` (a constant, or a zero-copy alias of one: cpu.values[name].weight), else null.
function weightOf(exec, name) {
  const alias = exec.manifest.cpu.values[name]?.weight;
  if (alias !== undefined) return exec.weights[alias];
  return exec.nodes.get(name).op === "constant" ? exec.weights[name] : null;
}

// The window table of a convolution or pooling node over input x (per image, so it serves every batch size).
function windowTable(exec, node, x) {
  const rank = x.shape.length - 2, a = node.attrs;
  const window = node.target === "conv" ? exec.nodes.get(node.inputs[1]).shape.slice(0, rank) : a.window;
  const pad = (list, fill) => [0, 1, 2].map((d) => (d < rank ? list[d] : fill));
  const geometry = [rank, ...pad(x.shape.slice(1, -1), 1), ...pad(node.shape.slice(1, -1), 1), ...pad(window, 1),
    ...pad(a.strides, 1), ...pad(a.dilation || [1, 1, 1], 1), ...pad(a.padding.map((p) => p[0]), 0)];
  const table = allocate(exec, numel(node.shape.slice(1, -1)) * numel(window) * 4);
  const top = exec.top;
  const scratch = allocate(exec, geometry.length * 4);
  new Int32Array(exec.memory.buffer, scratch, geometry.length).set(geometry);
  exec.exports.window_table(scratch, x.shape[rank + 1], table);
  exec.top = top;
  return table;
}

// ---- per batch size: arena layout, kernel arguments, views --------------------------------------------------

function planFor(exec, batch) {
  let plan = exec.plans.get(batch);
  if (plan) {
    exec.plans.delete(batch); // re-inserted below: the map is kept in least-recently-used order
  } else {
    if (exec.plans.size >= CACHED_BATCH_SIZES) exec.plans.delete(exec.plans.keys().next().value);
    plan = layOut(exec, batch);
  }
  exec.plans.set(batch, plan);
  return plan;
}

// Slot offsets for `batch` (slot i holds bytes_per_batch * batch + bytes_fixed, 16-aligned), every value's
// place {ptr, shape, dtype, weight}, and each wasm step's calls [[export, ...args]].
function layOut(exec, batch) {
  const { cpu, graph } = exec.manifest;
  checkIndexRange(graph, batch);
  const slots = new Map();
  let end = exec.base;
  for (const b of cpu.buffers) {
    slots.set(b.id, end);
    end = align(end + b.bytes_per_batch * batch + b.bytes_fixed);
  }
  const places = new Map();
  const place = (name) => {
    if (!places.has(name)) {
      const node = exec.nodes.get(name), buffer = cpu.values[name]?.buffer;
      places.set(name, { shape: resolveShape(node.shape, batch), dtype: node.dtype,
        ptr: buffer !== undefined ? slots.get(buffer) : exec.pointers.get(name) || 0,
        weight: buffer !== undefined ? null : weightOf(exec, name) });
    }
    return places.get(name);
  };
  [...graph.inputs, ...graph.outputs].forEach(place);
  const scratch = new Map(); // rnn_scan steps: B * (G * H + H) floats of gate sums (web/wasm/rnn.c)
  for (const step of cpu.steps.filter((s) => s.kernel === "rnn_scan")) {
    const node = exec.nodes.get(step.nodes[0]);
    scratch.set(step, end);
    end = align(end + batch * (exec.nodes.get(node.inputs[0]).shape[2] + node.attrs.units) * 4 + SLACK);
  }
  const steps = cpu.steps.map((step, i) => {
    if (step.kernel !== "js") return { calls: kernelCalls(exec, step, i, place, scratch.get(step)) };
    const node = exec.nodes.get(step.nodes[0]);
    [...node.inputs, step.output].forEach(place);
    return { node, output: step.output, i };
  });
  for (const step of cpu.steps) (step.program || []).forEach((op) => typeof op[4] === "string" && place(op[4]));
  return { batch, end: end + SLACK, places, steps, buffer: null, views: null };
}

// The calls of a wasm step, [export name, ...args] each, in the argument order of web/wasm/*.c. What each call will
// read or write of each operand, from the arguments it gets, is checked to lie within the operand's elements (which
// its slot or weight holds): the manifest's shapes are what the arguments come from, and a bundle whose node shapes
// disagree with each other or with the weights would make a kernel run past them.
function kernelCalls(exec, step, i, place, scratch) {
  const node = exec.nodes.get(step.nodes[0]);
  const fail = (message) => {
    throw new Error(`model.json: cpu.steps[${i}] (${step.kernel} of %${node.name}) ${message} (shapes that disagree)`);
  };
  const reach = (name, count) => { // the pointer of `name`, of which the kernel touches `count` elements
    const have = numel(place(name).shape);
    if (!(count <= have)) fail(`would touch ${count} elements of "${name}", which holds ${have}`);
    return place(name).ptr;
  };
  const packed = (w, k, n) => { // the panels of weight w (packed at load, or at each run: panelsOf), read as k x n
    if (numel(w.shape) / last(w.shape) !== k || last(w.shape) !== n) fail(`reads weight %${w.name} ${formatShape(w.shape)} as ${k} x ${n}`);
    return panelsOf(exec, step, node);
  };
  const x = place(node.inputs[0]), out = place(step.output), first = node.inputs[0];
  const plane = (shape) => numel(shape.slice(1, -1));
  const rows = out.shape[0] * plane(out.shape);
  if (exec.tables.has(step) && plane(out.shape) !== plane(node.shape)) fail(`writes ${formatShape(out.shape)}, not %${node.name}'s ${formatShape(node.shape)}`);
  const epilogue = (m, n) => {
    const counts = { column: n, full: m * n, row: m };
    for (const [op, , , , name] of step.program) if (counts[op]) reach(name, counts[op]);
    return [step.bias ? reach(step.bias, n) : 0, step.residual ? reach(step.residual, m * n) : 0,
      step.clamp[0] ?? -Infinity, step.clamp[1] ?? Infinity, exec.programs.get(step) || 0];
  };
  switch (step.kernel) {
    case "matmul": {
      const k = last(x.shape), n = last(out.shape), m = n ? numel(out.shape) / n : 0;
      const [panels] = packed(exec.nodes.get(node.inputs[1]), k, n);
      return [...packing(exec, step, node, place), ["matmul", reach(first, m * k), m, k, k, panels, n, reach(step.output, m * n), n,
        ...epilogue(m, n)]];
    }
    case "conv":
    case "depthwise": {
      const w = exec.nodes.get(node.inputs[1]), depthwise = step.kernel === "depthwise";
      const rank = x.shape.length - 2, cin = x.shape[rank + 1], cinG = w.shape[rank], cout = last(w.shape);
      const groups = node.attrs.groups || 1, taps = numel(w.shape.slice(0, rank)), image = plane(x.shape) * cin;
      if (depthwise ? cinG !== 1 || cout % cin : cin !== cinG * groups) fail(`convolves ${formatShape(x.shape)} with %${w.name} ${formatShape(w.shape)}`);
      const args = [reach(first, out.shape[0] * image), rows, image], table = exec.tables.get(step);
      const [y, rest] = [reach(step.output, rows * cout), epilogue(rows, cout)];
      if (depthwise) return [["depthwise", ...args, table, plane(out.shape), taps, cout / cin, reach(w.name, taps * cout), y, cout, ...rest]];
      return [...packing(exec, step, node, place), ...packed(w, taps * cinG, cout).map((panels, g) => ["conv",
        ...args, g * cinG, table, plane(out.shape), taps, cinG, exec.zeros, panels, cout / groups, g * cout / groups, y, cout, ...rest])];
    }
    case "rnn_scan": {
      const a = node.attrs, [batch, steps] = x.shape, names = node.inputs.slice(2), H = a.units;
      const GH = ({ lstm: 4, gru: 3 }[a.cell] || 1) * H, S = a.cell === "lstm" ? 2 : 1;
      const bRec = a.cell === "gru" ? names.shift() : null, [h0, c0] = names;
      const [panels, hPanels = 0] = packed(exec.nodes.get(node.inputs[1]), H, GH);
      const flags = (a.go_backwards ? 1 : 0) | (a.reset_after ? 2 : 0) | (a.masked ? 4 : 0);
      const code = (name) => RNN_ACTIVATIONS.indexOf(name);
      return [["rnn_scan", reach(first, batch * steps * GH), batch, steps, H, RNN_CELLS.indexOf(a.cell), flags, code(a.activation),
        code(a.recurrent_activation), panels, hPanels, bRec ? reach(bRec, GH) : 0, reach(h0, batch * H),
        a.cell === "lstm" ? reach(c0, batch * H) : 0, a.masked ? reach(node.inputs[node.inputs.length - 1], batch * steps) : 0,
        reach(step.output, batch * steps * S * H), scratch]];
    }
    case "max_pool":
    case "avg_pool": {
      const c = last(x.shape), image = plane(x.shape) * c;
      return [[step.kernel, reach(first, out.shape[0] * image), rows, image, exec.tables.get(step), plane(out.shape),
        numel(node.attrs.window), c, reach(step.output, rows * c)]];
    }
    default: { // softmax, log_softmax
      const n = last(x.shape), size = numel(x.shape);
      return [["softmax", reach(first, size), n ? size / n : 0, n, step.kernel === "log_softmax" ? 1 : 0, reach(step.output, size)]];
    }
  }
}

const last = (shape) => shape[shape.length - 1];

// A matmul/conv step's weight panels (one per group): packed at load, or for a computed weight the space `packing`
// fills at each run.
function panelsOf(exec, step, node) {
  return exec.panels.get(step)?.map(([, , at]) => at) ?? exec.packed.get(node.inputs[1]);
}

// The calls that pack a computed weight into its panels before the step (none for a constant weight).
function packing(exec, step, node, place) {
  const w = place(node.inputs[1]), cout = w.shape[w.shape.length - 1];
  return (exec.panels.get(step) || []).map(([first, n, at]) => ["pack_panels", w.ptr + first * 4, numel(w.shape) / cout, n, cout, at]);
}

// Make `plan` the one in memory: grow memory to its arena, write its programs, bind views and step closures.
function bind(exec, plan) {
  const { memory, exports, manifest } = exec;
  reserve(memory, plan.end, `batch ${plan.batch}`);
  for (const [step, at] of exec.programs) writeProgram(exec, step, at, plan.places);
  const views = new Map();
  for (const [name, p] of plan.places) {
    const data = p.ptr || !p.weight ? new ARRAY_TYPES[p.dtype](memory.buffer, p.ptr, numel(p.shape)) : p.weight.data;
    views.set(name, { data, shape: p.shape, dtype: p.dtype });
  }
  plan.run = plan.steps.map((step) => {
    if (step.node) { // a js step reads and writes views of this memory buffer, each exactly its value's length
      const args = step.node.inputs.map((name) => views.get(name)), out = views.get(step.output).data;
      return () => {
        const { data } = callKernel(step.node, args, plan.batch);
        if (data.length !== out.length) {
          throw new Error(`model.json: cpu.steps[${step.i}] (js %${step.node.name}) computes ${data.length} elements into "${step.output}", which holds ${out.length} (shapes that disagree)`);
        }
        out.set(data);
      };
    }
    const calls = step.calls.map(([name, ...args]) => [exports[name], args]);
    return calls.length === 1 ? () => calls[0][0](...calls[0][1]) : () => calls.forEach(([fn, args]) => fn(...args));
  });
  plan.views = views;
  plan.buffer = memory.buffer;
  exec.current = plan;
}

// Assemble a step's program into 5-word instructions (web/wasm/epilogue.h): names become opcodes, scalars
// their float bits, loads the pointer of the value they read.
function writeProgram(exec, step, at, places) {
  const words = new Int32Array(exec.memory.buffer, at, step.program.length * 5);
  const floats = new Float32Array(exec.memory.buffer, at, step.program.length * 5);
  step.program.forEach(([op, dst, a, b, x], i) => {
    words.set([PROGRAM_OPS.indexOf(op), dst, a, b, typeof x === "string" ? places.get(x).ptr : x], i * 5);
    if (op === "scalar") floats[i * 5 + 4] = x;
  });
}

function allocate(exec, bytes) {
  const at = align(exec.top);
  exec.top = at + bytes + SLACK;
  reserve(exec.memory, exec.top, "the weights");
  return at;
}

// Grow `memory` to `bytes`, or fail saying what needed it (wasm32 memory ends at 4 GiB, often sooner).
function reserve(memory, bytes, what) {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return;
  try {
    memory.grow(Math.ceil((bytes - have) / PAGE));
  } catch (err) {
    throw new Error(`the wasm backend needs ${Math.ceil(bytes / 2 ** 20)} MiB of WebAssembly memory for ${what}, ` +
      `more than this browser gives (${err.message}); run smaller batches, or use backend "webgpu"`);
  }
}

const align = (n) => Math.ceil(n / 16) * 16;

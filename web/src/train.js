/**
 * Training in the browser (docs/internals.md §6, `train`): the Model's `trainStep`, `fit`, `evaluate`,
 * `saveWeights` and `resetWeights` run the bundle's exported training step, a second program shaped like a
 * manifest (`manifest.train`) with its own weights file. model.js imports this module on the first training
 * call, so an inference page never downloads it.
 *
 * The flat parameters, the optimizer's slots and the other variables (BatchNormalization's moving statistics)
 * live in buffers of their own: GPU buffers on WebGPU, copied into the step's input slots before the steps and
 * back from its outputs after them, all in one command buffer; typed arrays on the CPU path. After each step the
 * inference weights `predict` reads are the new ones: on WebGPU ranges of those buffers are copied into the
 * inference weight buffers in the same command buffer; on the CPU path the weight arrays are rewritten and the
 * CPU program is prepared again before the next `predict`. The optimizer's hyperparameters (Adam's bias-corrected
 * rate) are computed per step here in float32, as `Optimizer.step_hyperparameters` does in Python; Dropout masks
 * are drawn with `Math.random`.
 * @module train
 */
import { fetchWeights, hasOwn, isObject, readWeights, validateManifest } from "./bundle.js";
import { prepareInputs } from "./model.js";
import { allocate, formatShape, numel, resolveShape } from "./util.js";
import { batchResources, createPipelines, encodeSteps, runSteps, uploadWeights } from "./webgpu.js";

const f32 = Math.fround;
const OPTIMIZERS = ["SGD", "Adam", "AdamW"];
const HYPER = ["learning_rate", "alpha", "weight_decay"];
const LOSSES = ["sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
  "mean_squared_error", "mean_absolute_error"];
const EPSILON = 1e-7; // Keras's backend epsilon, which the crossentropies clip probabilities by

/**
 * Load the bundle's training step for a loaded model and return the object the Model's training methods call.
 * @param {object} manifest  the model's validated manifest, with a `train` section
 * @param {object} state  the Model's backend record (`gpu`, or `run` and `weights` on the CPU path; `href`)
 * @param {(work: Function) => Promise} enqueue  runs `work` after the model's earlier calls
 * @returns {Promise<Trainer>}
 * @example
 *   const trainer = await createTrainer(manifest, state, (work) => work());
 *   const loss = await trainer.trainStep(x, y);
 */
export async function createTrainer(manifest, state, enqueue) {
  if (!manifest.train) throw new Error("this bundle has no training step: export it with webexport.export(..., train=...)");
  validateTrain(manifest);
  const section = manifest.train;
  const bytes = await fetchWeights(section, new URL(state.url, globalThis.location?.href));
  const core = state.gpu ? await gpuCore(section, state.gpu, bytes) : await cpuCore(manifest, section, state, bytes);
  return new Trainer(manifest, state, core, enqueue);
}

/**
 * Check `manifest.train` (a manifest of its own: `validateManifest`, then the fields that tie it to the model);
 * throws an Error naming the field.
 * @example
 *   validateTrain(manifest); // throws "model.json train: optimizer.class must be one of SGD, Adam, AdamW ..."
 */
export function validateTrain(manifest, { file = "model.json" } = {}) {
  const t = manifest.train;
  const fail = (field, message) => {
    throw new Error(`${file} train: ${field} ${message}`);
  };
  if (!isObject(t)) fail("", "must be an object (a manifest of the training step)");
  validateManifest(t, { file: `${file} train` });
  const nodes = new Map(t.graph.nodes.map((n) => [n.name, n]));
  const inputs = new Set(t.graph.inputs);
  const o = t.optimizer;
  if (!isObject(o) || !OPTIMIZERS.includes(o.class)) fail("optimizer.class", `must be one of ${OPTIMIZERS.join(", ")}`);
  const numbers = ["learning_rate", ...(o.class === "SGD" ? [] : ["beta_1", "beta_2"])];
  for (const key of numbers) if (!Number.isFinite(o[key])) fail(`optimizer.${key}`, "must be a finite number");
  if (o.weight_decay !== null && !Number.isFinite(o.weight_decay)) fail("optimizer.weight_decay", "must be a number or null");
  if (!Array.isArray(t.hyper) || !t.hyper.every((h) => HYPER.includes(h) && inputs.has(`hyper_${h}`))) {
    fail("hyper", `must list hyperparameters among ${HYPER.join(", ")}, each a graph input hyper_<name>`);
  }
  if (!Array.isArray(t.batch_inputs) || t.batch_inputs.length !== 2 || !t.batch_inputs.every((n) => inputs.has(n))) {
    fail("batch_inputs", "must name the graph inputs of x and y");
  }
  if (!Array.isArray(t.host) || !t.host.every((h) => isObject(h) && h.kind === "dropout" && inputs.has(h.name) && h.rate >= 0 && h.rate <= 1)) {
    fail("host", "must list {name, kind: \"dropout\", rate in [0, 1]} for graph inputs");
  }
  const kept = keptNames(t);
  const [loss] = t.graph.outputs;
  if (nodes.get(loss).shape.length !== 0) fail("graph.outputs[0]", "must be the scalar loss");
  if (!isObject(t.updates)) fail("updates", "must be an object {input: output}");
  for (const [name, out] of Object.entries(t.updates)) {
    if (!kept.includes(name) || !t.graph.outputs.includes(out) || formatShape(nodes.get(out).shape) !== formatShape(nodes.get(name).shape)) {
      fail(`updates.${name}`, "must map a variable input to a graph output of its shape");
    }
  }
  const entries = new Map(t.weights.entries.map((e) => [e.name, e]));
  if (!isObject(t.initial)) fail("initial", "must be an object {input: weights entry}");
  for (const [name, entry] of Object.entries(t.initial)) {
    if (!kept.includes(name) || formatShape(entries.get(entry)?.shape) !== formatShape(nodes.get(name).shape)) {
      fail(`initial.${name}`, "must map a variable input to a weights entry of its shape");
    }
  }
  const weights = new Map(manifest.weights.entries.map((e) => [e.name, e]));
  if (!Array.isArray(t.variables)) fail("variables", "must be a list");
  t.variables.forEach((v, i) => {
    const where = `variables[${i}]`;
    if (!isObject(v) || typeof v.name !== "string" || !Array.isArray(v.shape) || !["float32", "int32"].includes(v.dtype)) {
      fail(where, "must be {name, shape, dtype, source, offset, weight}");
    }
    const source = kept.includes(v.source) && nodes.get(v.source);
    if (!source || !Number.isInteger(v.offset) || v.offset < 0 || v.offset + numel(v.shape) > numel(source.shape)) {
      fail(`${where}.source`, `must be a variable input holding ${numel(v.shape)} values at offset ${v.offset}`);
    }
    if (v.weight !== null && formatShape(weights.get(v.weight)?.shape) !== formatShape(v.shape)) {
      fail(`${where}.weight`, `must be null or an inference weights entry of shape ${formatShape(v.shape)}`);
    }
  });
  if (!isObject(t.save_metadata) || !Object.values(t.save_metadata).every((s) => typeof s === "string")) {
    fail("save_metadata", "must be an object of strings");
  }
}

// The graph inputs a step keeps from one run to the next: the flat parameters, slots and other variables.
function keptNames(t) {
  const passed = new Set([...t.batch_inputs, ...t.hyper.map((h) => `hyper_${h}`), ...t.host.map((h) => h.name)]);
  return t.graph.inputs.filter((name) => !passed.has(name));
}

/**
 * The optimizer's hyperparameters for step `t` (1-based), as float32 numbers exactly as pyml's
 * `Optimizer.step_hyperparameters` computes them (webexport.train.hyper_values is the Python twin).
 * @param {{class: string, learning_rate: number, beta_1?: number, beta_2?: number, weight_decay: number|null}} o
 * @param {number} t
 * @returns {Object<string, number>}
 * @example
 *   hyperValues({ class: "Adam", learning_rate: 1e-3, beta_1: 0.9, beta_2: 0.999, weight_decay: null }, 1).alpha; // 0.000316...
 */
export function hyperValues(o, t) {
  const lr = f32(o.learning_rate);
  const out = { learning_rate: lr };
  if (o.class !== "SGD") {
    const b1 = f32(f32(o.beta_1) ** f32(t)), b2 = f32(f32(o.beta_2) ** f32(t));
    out.alpha = f32(f32(lr * f32(Math.sqrt(f32(1 - b2)))) / f32(1 - b1));
  }
  if (o.weight_decay) out.weight_decay = f32(o.weight_decay);
  return out; // (learning_rate too where pyml gives only alpha: the step reads the names `train.hyper` lists)
}

/** What the Model's training methods call (see model.js for their documentation). */
class Trainer {
  #manifest;
  #state;
  #core;
  #enqueue;
  #steps = 0; // optimizer steps taken since the export or the last reset
  #nodes; // the step graph's nodes by name

  constructor(manifest, state, core, enqueue) {
    this.#manifest = manifest;
    this.#state = state;
    this.#core = core;
    this.#enqueue = enqueue;
    this.#nodes = new Map(manifest.train.graph.nodes.map((n) => [n.name, n]));
  }

  async trainStep(x, y) {
    const { values, batch } = this.#examples(x, y);
    return this.#enqueue(() => this.#step(values, batch));
  }

  async fit(x, y, { epochs = 1, batchSize = 32, shuffle = true, onBatchEnd, onEpochEnd } = {}) {
    checkCount(epochs, "epochs");
    checkCount(batchSize, "batchSize");
    const { values, batch: n } = this.#examples(x, y);
    const loss = [];
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = Array.from({ length: n }, (_, i) => i);
      if (shuffle) shuffleInPlace(order);
      let total = 0;
      for (let start = 0, b = 0; start < n; start += batchSize, b++) {
        const rows = order.slice(start, start + batchSize);
        const value = await this.#enqueue(() => this.#step(values.map((v) => takeRows(v, rows)), rows.length));
        total += value * rows.length;
        if (onBatchEnd) await onBatchEnd(b, { loss: value });
      }
      loss.push(total / n);
      if (onEpochEnd) await onEpochEnd(epoch, { loss: total / n });
    }
    return { history: { loss } };
  }

  async evaluate(x, y, { batchSize = 32 } = {}) {
    checkCount(batchSize, "batchSize");
    const loss = lossFunction(this.#manifest.train.loss);
    const [xs, ys] = this.#examples(x, y).values;
    const n = xs.shape[0];
    let total = 0;
    for (let start = 0; start < n; start += batchSize) {
      const rows = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
      const [pred] = await this.#enqueue(() => {
        const input = [takeRows(xs, rows)];
        return this.#state.gpu ? runSteps(this.#state.gpu, input, rows.length) : this.#state.run(input, rows.length);
      });
      total += loss(pred, takeRows(ys, rows)) * rows.length;
    }
    return { loss: total / n };
  }

  async saveWeights() {
    const kept = await this.#enqueue(() => this.#core.read());
    const t = this.#manifest.train;
    return safetensors(t.variables.map((v) => ({ ...v, data: kept[v.source].subarray(v.offset, v.offset + numel(v.shape)) })),
      t.save_metadata);
  }

  async resetWeights() {
    await this.#enqueue(() => {
      this.#steps = 0;
      return this.#core.reset();
    });
  }

  // x and y checked against the step's specs with any number of rows (the step may have a fixed batch)
  #examples(x, y) {
    const t = this.#manifest.train;
    const specs = t.batch_inputs.map((name, i) => ({ ...t.inputs[t.graph.inputs.indexOf(name)], name: ["x", "y"][i] }));
    const anyRows = specs.map((s) => ({ ...s, shape: [null, ...s.shape.slice(1)] }));
    const { values, batch } = prepareInputs(anyRows, [x, y], { nodes: [] });
    if (values.some((v) => !v.shape.length)) throw new Error("x and y need a batch axis");
    return { values, batch };
  }

  async #step(values, batch) {
    const t = this.#manifest.train;
    const fixed = this.#nodes.get(t.batch_inputs[0]).shape[0];
    if (fixed !== null && fixed !== batch) {
      throw new Error(`this bundle's training step was exported for batches of ${fixed} examples. Received: ${batch}`);
    }
    const hyper = hyperValues(t.optimizer, this.#steps + 1);
    const inputs = { [t.batch_inputs[0]]: values[0], [t.batch_inputs[1]]: values[1] };
    for (const h of t.hyper) inputs[`hyper_${h}`] = { data: new Float32Array([hyper[h]]), shape: [], dtype: "float32" };
    for (const { name, rate } of t.host) {
      const shape = resolveShape(this.#nodes.get(name).shape, batch);
      const scale = rate === 1 ? 0 : f32(1 / (1 - rate));
      inputs[name] = { data: Float32Array.from({ length: numel(shape) }, () => (Math.random() >= rate ? scale : 0)), shape, dtype: "float32" };
    }
    const loss = await this.#core.step(inputs, batch);
    this.#steps++;
    return loss;
  }
}

function checkCount(value, what) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what} must be a positive integer. Received: ${JSON.stringify(value)}`);
}

function shuffleInPlace(order) {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
}

// The rows `rows` (indices along axis 0) of a value, as a new value.
function takeRows(value, rows) {
  const row = numel(value.shape.slice(1));
  const data = allocate(value.dtype, rows.length * row);
  rows.forEach((r, i) => data.set(value.data.subarray(r * row, (r + 1) * row), i * row));
  return { data, shape: [rows.length, ...value.shape.slice(1)], dtype: value.dtype };
}

// The batch's mean loss (float64) of predictions `p` against targets `y`, as the Keras loss `loss.name` computes it.
function lossFunction({ name, from_logits: logits }) {
  if (!LOSSES.includes(name)) throw new Error(`evaluate: the loss ${name} is not computed in the browser (only ${LOSSES.join(", ")})`);
  return (p, y) => {
    const classes = p.shape[p.shape.length - 1], rows = p.data.length / classes;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const q = probabilities(p.data.subarray(r * classes, (r + 1) * classes), logits, name);
      const clip = (v) => Math.min(Math.max(v, EPSILON), 1 - EPSILON);
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const target = name === "sparse_categorical_crossentropy" ? Number(y.data[r] === c) : y.data[r * classes + c];
        if (name.endsWith("categorical_crossentropy")) sum -= target * Math.log(clip(q[c]));
        else if (name === "binary_crossentropy") sum -= (target * Math.log(clip(q[c])) + (1 - target) * Math.log(clip(1 - q[c]))) / classes;
        else sum += (name === "mean_squared_error" ? (target - q[c]) ** 2 : Math.abs(target - q[c])) / classes;
      }
      total += sum;
    }
    return total / rows;
  };
}

// A row of predictions as probabilities: softmax (or sigmoid) of logits, or normalized to sum 1 for a categorical loss.
function probabilities(row, logits, name) {
  const values = Array.from(row);
  if (name === "binary_crossentropy") return logits ? values.map((v) => 1 / (1 + Math.exp(-v))) : values;
  if (!name.endsWith("categorical_crossentropy")) return values;
  const top = Math.max(...values);
  const q = logits ? values.map((v) => Math.exp(v - top)) : values;
  const sum = q.reduce((a, b) => a + b, 0);
  return q.map((v) => v / sum);
}

// safetensors bytes: an 8-byte little-endian header length, the JSON header (padded with spaces to 8 bytes), the data.
function safetensors(tensors, metadata) {
  const header = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype === "int32" ? "I32" : "F32", shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

// ---- WebGPU: the variables in GPU buffers of their own ------------------------------------------------------

async function gpuCore(section, gpu, bytes) {
  const { device } = gpu;
  const names = keptNames(section);
  const nodes = new Map(section.graph.nodes.map((n) => [n.name, n]));
  const size = (name) => numel(nodes.get(name).shape) * 4;
  const usage = GPUBufferUsage;
  device.pushErrorScope("validation");
  const train = {
    device, manifest: section, batches: new Map(), batch: null, failed: null,
    params: device.createBuffer({ label: "train params", size: 16, usage: usage.UNIFORM | usage.COPY_DST }),
    weightBuffers: uploadWeights(device, section, bytes), ...(await createPipelines(device, section)),
  };
  const kept = new Map(names.map((name) => [name, device.createBuffer({
    label: `train ${name}`, size: Math.max(16, Math.ceil(size(name) / 16) * 16), usage: usage.STORAGE | usage.COPY_SRC | usage.COPY_DST,
  })]));
  const error = await device.popErrorScope();
  if (error) throw new Error(`WebGPU error while loading the training step: ${error.message}`);
  // The inference weights that read a variable get its new value (a range of the flat parameters).
  const refresh = (encoder) => {
    for (const v of section.variables) {
      if (v.weight !== null) encoder.copyBufferToBuffer(kept.get(v.source), v.offset * 4, gpu.weightBuffers.get(v.weight), 0, numel(v.shape) * 4);
    }
  };
  // Record and submit one command buffer, then map `staging` (if given) while the error scope resolves: one wait.
  const submit = async (label, record, staging) => {
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder({ label });
    record(encoder);
    device.queue.submit([encoder.finish()]);
    const checked = device.popErrorScope();
    const mapped = staging?.mapAsync(GPUMapMode.READ);
    const failed = await checked;
    if (failed) {
      await mapped?.catch(() => {});
      if (staging?.mapState === "mapped") staging.unmap();
      throw new Error(`WebGPU validation error in ${label}: ${failed.message}`);
    }
    await mapped;
  };
  const core = {
    reset: () => submit("pyml train reset", (encoder) => {
      for (const [name, buffer] of kept) {
        const init = section.initial[name];
        if (init) encoder.copyBufferToBuffer(train.weightBuffers.get(init), 0, buffer, 0, size(name));
        else encoder.clearBuffer(buffer);
      }
      refresh(encoder);
    }),
    async step(inputs, batch) {
      const res = await batchResources(train, batch);
      for (const [name, v] of Object.entries(inputs)) {
        if (v.data.length) device.queue.writeBuffer(res.buffer(name), 0, v.data.buffer, v.data.byteOffset, v.data.byteLength);
      }
      if (train.batch !== batch) {
        device.queue.writeBuffer(train.params, 0, new Uint32Array([batch, 0, 0, 0]));
        train.batch = batch;
      }
      await submit(`pyml train step (batch ${batch})`, (encoder) => {
        for (const [name, buffer] of kept) encoder.copyBufferToBuffer(buffer, 0, res.buffer(name), 0, size(name));
        encodeSteps(train, res, batch, encoder);
        for (const [name, out] of Object.entries(section.updates)) encoder.copyBufferToBuffer(res.buffer(out), 0, kept.get(name), 0, size(name));
        refresh(encoder);
        encoder.copyBufferToBuffer(res.buffer(section.graph.outputs[0]), 0, res.staging, 0, 4);
      }, res.staging);
      const loss = new Float32Array(res.staging.getMappedRange(0, 8))[0];
      res.staging.unmap();
      return loss;
    },
    async read() {
      let total = 0;
      const at = new Map(names.map((name) => [name, (total += Math.ceil(size(name) / 8) * 8) - Math.ceil(size(name) / 8) * 8]));
      const staging = device.createBuffer({ label: "train readback", size: Math.max(8, total), usage: usage.MAP_READ | usage.COPY_DST });
      try {
        await submit("pyml train readback", (encoder) => {
          for (const [name, buffer] of kept) encoder.copyBufferToBuffer(buffer, 0, staging, at.get(name), size(name));
        }, staging);
        const range = staging.getMappedRange();
        return Object.fromEntries(names.map((name) => [name, new Float32Array(range.slice(at.get(name), at.get(name) + size(name)))]));
      } finally {
        staging.destroy();
      }
    },
  };
  await core.reset();
  return core;
}

// ---- CPU: the variables in typed arrays; the inference program is prepared again after training ------------

async function cpuCore(manifest, section, state, bytes) {
  const { loadCpu } = await import("./wasm.js");
  const tensors = readWeights(section, bytes);
  const cpu = await loadCpu(section, tensors, state.backend, "");
  const names = keptNames(section);
  const nodes = new Map(section.graph.nodes.map((n) => [n.name, n]));
  const outputs = section.graph.outputs;
  let kept;
  // Rewrite the inference weights from the variables, then prepare the CPU program again (wasm packs them at load),
  // once, before the next predict.
  const stale = () => {
    state.run = async (inputs, batch) => {
      for (const v of section.variables) {
        if (v.weight !== null) state.weights[v.weight].data.set(kept[v.source].subarray(v.offset, v.offset + numel(v.shape)));
      }
      state.run = (await loadCpu(manifest, state.weights, state.backend, "")).run;
      return state.run(inputs, batch);
    };
  };
  const core = {
    reset() {
      kept = Object.fromEntries(names.map((name) => {
        const init = section.initial[name];
        return [name, init ? tensors[init].data.slice() : allocate(nodes.get(name).dtype, numel(nodes.get(name).shape))];
      }));
      stale();
    },
    step(inputs, batch) {
      const values = section.graph.inputs.map((name) => (hasOwn(inputs, name) ? inputs[name]
        : { data: kept[name], shape: nodes.get(name).shape, dtype: nodes.get(name).dtype }));
      const results = cpu.run(values, batch);
      for (const [name, out] of Object.entries(section.updates)) kept[name] = results[outputs.indexOf(out)].data;
      stale();
      return results[0].data[0];
    },
    read: () => kept,
  };
  core.reset();
  return core;
}

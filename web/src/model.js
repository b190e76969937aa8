/**
 * `loadModel` and `Model`, the one stateful object of the runtime: a loaded bundle bound to a backend.
 * @module model
 */
import { fetchManifest, fetchWeights, hasOwn, isObject, readWeights } from "./bundle.js";
import { allocate, formatShape, flatten, inferShape, numel, toStorageArray } from "./util.js";
import { createGpu, destroyGpu, findAdapter, requestGpuDevice, runSteps } from "./webgpu.js";

const BACKENDS = ["auto", "webgpu", "cpu", "wasm", "js"];
// Adapters that emulate a GPU on the CPU: for inference the CPU path is many times faster there.
const SOFTWARE_ADAPTER = /swiftshader|lavapipe|llvmpipe/i;

/**
 * Load a pyml bundle and prepare it to run: fetch and verify model.json and the weights, then (WebGPU)
 * compile every pipeline and upload the weights, or (CPU) compile the WebAssembly kernels and pack the
 * weights, all before the promise resolves.
 * @param {string|URL} url  the bundle's model.json; its other files resolve relative to it
 * @param {{backend?: "auto"|"webgpu"|"cpu"|"wasm"|"js", onProgress?: (e: {stage: string, loaded: number, total: number}) => void, worker?: boolean|object}} [options]
 *   `backend`: "auto" (default) uses WebGPU on a hardware adapter, else the CPU; "cpu" is WebAssembly SIMD
 *   where the browser has it, else plain JavaScript; "wasm" and "js" force one of those two.
 *   `info.backend` says what runs ("webgpu", "wasm" or "js") and `info.reason` why.
 *   `onProgress` is called with stage "weights" (bytes), "compile" and "ready".
 *   `worker`: true runs the model in a Web Worker of its own, a worker from `createWorker` in that shared one
 *   (see `loadModelInWorker`).
 * @returns {Promise<Model>}
 * @example
 *   import { loadModel } from "./model/runtime/index.js";
 *   const model = await loadModel("model/model.json");
 *   const y = await model.predict([[0.1, 0.2, 0.3, 0.4]]);   // {data: Float32Array, shape: [1, 3]}
 *   console.log(model.info.backend, model.info.reason);       // "webgpu", "a hardware WebGPU adapter (...)"
 */
export async function loadModel(url, { backend = "auto", onProgress, worker } = {}) {
  if (worker) return loadModelInWorker(url, { backend, onProgress, worker });
  if (!BACKENDS.includes(backend)) {
    throw new Error(`loadModel: backend must be one of ${BACKENDS.map((b) => `"${b}"`).join(", ")}. Received: ${JSON.stringify(backend)}`);
  }
  // The bundle downloads while the backend is chosen and the kernels compile (the wasm, or the WebGPU
  // pipelines, which need only the manifest).
  const bundle = fetchManifest(url).then(checkText);
  const weights = bundle.then(({ manifest, url: href }) => fetchWeights(manifest, href, { onProgress }));
  weights.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
  let reason = `backend "${backend}" was asked for`;
  if (backend === "auto") {
    const adapter = await findAdapter();
    const software = adapter && softwareAdapter(adapter);
    if (adapter && !software) {
      return loadOnGpu((await bundle).manifest, weights, adapter, `a hardware WebGPU adapter (${describe(adapterInfo(adapter))})`, onProgress, url);
    }
    reason = adapter ? `the WebGPU adapter (${describe(adapterInfo(adapter))}) ${software}, which the CPU path outruns`
      : "this browser has no WebGPU adapter";
  } else if (backend === "webgpu") {
    return loadOnGpu((await bundle).manifest, weights, await findAdapter(), reason, onProgress, url);
  }
  const cpuPath = import("./wasm.js");
  for (const imported of [import("./cpuplan.js"), import("./cpu.js")]) imported.catch(() => {}); // wasm.js imports
  // them: fetched alongside it rather than after it
  cpuPath.then((cpu) => cpu.prefetchKernels(backend), () => {});
  const { manifest } = await bundle;
  const tensors = readWeights(manifest, await weights);
  if (onProgress) onProgress({ stage: "compile", loaded: 0, total: 1 });
  const cpu = await (await cpuPath).loadCpu(manifest, tensors, backend, reason);
  if (onProgress) onProgress({ stage: "ready", loaded: 1, total: 1 });
  return new Model(manifest, { ...cpu, weights: tensors, url });
}

// The worker runtime (worker-client.js, worker.js) is fetched only by a page that asks for it.
const workerClient = () => import("./worker-client.js");

/**
 * `loadModel` in a dedicated Web Worker, off the main thread: the model it resolves to has `Model`'s API, and a
 * typed-array input that spans its whole buffer is transferred to the worker (detached after the call).
 * @param {string|URL} url  the bundle's model.json
 * @param {{worker?: true|object, backend?: string, onProgress?: Function}} [options]  `worker`: true (default) for
 *   a worker of the model's own, which `dispose` terminates, or one from `createWorker` to share
 * @returns {Promise<Model>} a WorkerModel (worker-client.js): `Model`'s API, each call answered by the worker
 * @example
 *   const model = await loadModelInWorker("model/model.json");   // = loadModel(url, { worker: true })
 *   const { data } = await model.predict(pixels, [256, 28, 28, 1]);   // pixels.byteLength is 0 now
 */
export const loadModelInWorker = async (url, options) => (await workerClient()).loadModelInWorker(url, options);

/**
 * Start a Web Worker that several models share: `loadModel(url, { worker })`; `worker.terminate()` ends it.
 * @returns {Promise<object>}
 * @example
 *   const worker = await createWorker();
 *   const a = await loadModel("a/model.json", { worker }), b = await loadModel("b/model.json", { worker });
 */
export const createWorker = async () => new (await workerClient()).ModelWorker();

// `weights`: a promise of the weights' bytes; the device and the pipelines are made while it resolves.
async function loadOnGpu(manifest, weights, adapter, reason, onProgress, url) {
  const { device, info } = await requestGpuDevice(manifest, adapter);
  if (onProgress) onProgress({ stage: "compile", loaded: 0, total: 1 });
  const gpu = await createGpu(device, manifest, weights);
  if (onProgress) onProgress({ stage: "ready", loaded: 1, total: 1 });
  return new Model(manifest, { backend: "webgpu", gpu, adapter: info, reason, url });
}

// Only a bundle with a text input (inputs[i].text) fetches text.js, which checks that field at load.
const textModule = (manifest) => (manifest.inputs.some((s) => s.text) ? import("./text.js") : null);
const checkText = async (b) => ((await textModule(b.manifest))?.validateText(b.manifest), b);

function adapterInfo(adapter) {
  const info = adapter.info || {};
  return { vendor: info.vendor || "", architecture: info.architecture || "", description: info.description || "" };
}

const describe = ({ vendor, architecture, description }) => [vendor, architecture, description].filter(Boolean).join(" / ") || "unnamed";

// Why `adapter` emulates a GPU on the CPU ("is a fallback adapter", "runs in software"), or "" for a real GPU.
function softwareAdapter(adapter) {
  if (adapter.info?.isFallbackAdapter || adapter.isFallbackAdapter) return "is a fallback adapter";
  const { vendor, architecture, description } = adapterInfo(adapter);
  return SOFTWARE_ADAPTER.test(`${vendor} ${architecture} ${description}`) ? "runs in software" : "";
}

/**
 * A loaded model. Get one from `loadModel`; `predict` runs it, `dispose` frees it.
 * @example
 *   const model = await loadModel("model/model.json", { backend: "cpu" });
 *   const { data, shape } = await model.predict(new Float32Array(4 * 64), [4, 64]);
 *   model.dispose();
 */
export class Model {
  #manifest;
  #state;
  #queue = Promise.resolve();
  #closed = null; // why the model can no longer run ("disposed" or the device-lost message)
  #scratch = new Map(); // input name -> the array its shorter sequences are padded in (padSequence)
  #trainer = null; // a promise of train.js's trainer, made on the first training call

  /** Use `loadModel`; the constructor takes the loader's internals. */
  constructor(manifest, state) {
    this.#manifest = manifest;
    this.#state = state;
    this.info = Object.freeze({
      backend: state.backend,
      reason: state.reason,
      adapter: state.adapter ? Object.freeze({ ...state.adapter }) : null,
      // A text input's tokenizer rules and a padded input's {axis, value} as copies: the manifest's own drive `run`.
      inputs: manifest.inputs.map(({ name, shape, dtype, text, pad }) => ({ name, shape: [...shape], dtype,
        ...(text && { text: structuredClone(text) }), ...(pad && { pad: { ...pad } }) })),
      outputs: manifest.outputs.map(({ name, shape, dtype }) => ({ name, shape: [...shape], dtype })),
      format_version: manifest.format_version,
      producer: manifest.producer || "",
    });
    if (state.gpu) {
      state.gpu.device.lost.then((lost) => {
        if (!this.#closed) this.#closed = lostMessage(lost);
      });
    }
  }

  /**
   * Run a single-input, single-output model.
   * @param {Float32Array|Int32Array|Uint8Array|number[]|Array|string|string[]} input  a typed or flat array with
   *   `shape`, or nested arrays whose shape is inferred. Without `shape`, a flat array takes the input's declared
   *   shape (a dynamic batch is inferred from the length). A text input also takes strings (see `tokenize`).
   * @param {number[]} [shape]  the input's shape, e.g. [4, 64]
   * @returns {Promise<{data: Float32Array|Int32Array|Uint8Array, shape: number[], dtype: string}>}
   * @example
   *   const y = await model.predict(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
   *   const z = await model.predict([[1, 2, 3], [4, 5, 6]]);   // same
   *   const p = await textModel.predict(["a great film", "dull"]);   // strings, tokenized as in Python
   */
  async predict(input, shape = undefined) {
    const { inputs, outputs } = this.#manifest;
    if (inputs.length !== 1 || outputs.length !== 1) {
      throw new Error(`predict: this model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(", ")}) and ` +
        `${outputs.length} outputs; use run([...]) for several`);
    }
    const [out] = await this.run([shape === undefined ? input : { data: input, shape }]);
    return out;
  }

  /**
   * Run the model on one value per input: an array in `info.inputs` order resolves to an array of results in
   * `info.outputs` order; an object keyed by input name (`info.inputs[i].name`: the model's `Input(name=...)`)
   * resolves to an object keyed by output name (the layers that make the outputs).
   * @param {Array<{data, shape}|Array|Float32Array|Int32Array|Uint8Array|string[]>|Object<string, {data, shape}|Array|Float32Array|Int32Array|Uint8Array|string[]>} inputs
   * @returns {Promise<Array<{data, shape: number[], dtype: string}>|Object<string, {data, shape: number[], dtype: string}>>}
   * @example
   *   const [logits, probabilities] = await model.run([{ data: x, shape: [8, 64] }]);
   *   const { probs, box } = await model.run({ image: { data: pixels, shape: [1, 28, 28, 1] }, meta: [[0.5, 1]] });
   */
  async run(inputs) {
    const specs = this.#manifest.inputs, names = specs.map((v) => v.name);
    const named = isObject(inputs) && !ArrayBuffer.isView(inputs);
    if (named) {
      const wrong = [...names.filter((n) => !hasOwn(inputs, n)).map((n) => `missing ${n}`),
        ...Object.keys(inputs).filter((k) => !names.includes(k)).map((k) => `unknown ${k}`)];
      if (wrong.length) throw new Error(`run: the model's inputs are ${names.join(", ")}; ${wrong.join("; ")}`);
      inputs = names.map((n) => inputs[n]);
    } else if (!Array.isArray(inputs) || inputs.length !== specs.length) {
      throw new Error(`run: expected an array of ${specs.length} input(s) (${names.join(", ")}) or an object keyed by ` +
        `those names. Received: ${Array.isArray(inputs) ? `${inputs.length} items` : typeof inputs}`);
    }
    const text = await textModule(this.#manifest);
    if (text) inputs = text.textInputs(this.#manifest.inputs, inputs);
    const { values, batch } = prepareInputs(this.#manifest.inputs, inputs, this.#manifest.graph);
    const outs = await this.#enqueue(() => {
      const { gpu, run } = this.#state;
      const full = values.map((v, i) => (v.short ? padSequence(v, this.#manifest.inputs[i], this.#scratch) : v));
      return gpu ? runSteps(gpu, full, batch) : run(full, batch);
    });
    return named ? Object.fromEntries(this.#manifest.outputs.map((v, i) => [v.name, outs[i]])) : outs;
  }

  // Run `work` after every earlier call: one run at a time, and none once the model is closed.
  #enqueue(work) {
    const done = this.#queue.then(() => {
      if (this.#closed) throw new Error(`this Model cannot run: ${this.#closed}`);
      // A device lost mid-run fails the readback with a bare AbortError: say what happened and what to do.
      return Promise.resolve(work()).catch(async (err) => {
        const lost = this.#state.gpu && await Promise.race([this.#state.gpu.device.lost, null]); // null unless known
        throw lost ? new Error(`this Model cannot run: ${lostMessage(lost)}`, { cause: err }) : err;
      });
    });
    this.#queue = done.catch(() => {});
    return done;
  }

  /** Whether the bundle can train here (it was exported with `train=`): `trainStep`, `fit`, `evaluate`, ... */
  get canTrain() {
    return !!this.#manifest.train;
  }

  /**
   * One optimizer step on one batch, on this model's backend; `predict` then uses the new weights.
   * Needs a bundle exported with `train=` (`canTrain`); web/src/train.js is fetched on the first call.
   * @param {*} x  what `predict` takes
   * @param {*} y  the targets: class ids (int32 or whole floats) for a sparse loss, else shaped like the output
   * @returns {Promise<number>}  the batch's loss before the step
   * @example
   *   const loss = await model.trainStep([[0.1, 0.2, 0.3, 0.4]], [2]);
   */
  trainStep(...args) {
    return this.#train("trainStep", args);
  }

  /**
   * Train for `epochs` over (x, y) in batches, as pyml's `fit` (the last batch of an epoch may be smaller).
   * @param {*} x  every example, as `predict` takes them
   * @param {*} y  every target
   * @param {{epochs?: number, batchSize?: number, shuffle?: boolean, onBatchEnd?: Function, onEpochEnd?: Function}} [options]
   * @returns {Promise<{history: {loss: number[]}}>}  each epoch's mean loss
   * @example
   *   const { history } = await model.fit(x, y, { epochs: 5, batchSize: 32, onEpochEnd: (e, logs) => console.log(logs.loss) });
   */
  fit(...args) {
    return this.#train("fit", args);
  }

  /**
   * The mean loss over (x, y) with the inference model (Dropout off, BatchNormalization's moving statistics).
   * @returns {Promise<{loss: number}>}
   * @example
   *   const { loss } = await model.evaluate(x, y, { batchSize: 32 });
   */
  evaluate(...args) {
    return this.#train("evaluate", args);
  }

  /**
   * The weights as safetensors bytes keyed like pyml's `save_weights`: `model.load_weights(path)` reads them.
   * @returns {Promise<Uint8Array>}
   * @example
   *   const bytes = await model.saveWeights();   // download as "tuned.weights.safetensors"
   */
  saveWeights() {
    return this.#train("saveWeights", []);
  }

  /**
   * Back to the exported weights and a fresh optimizer (step 0).
   * @returns {Promise<void>}
   * @example
   *   await model.resetWeights();
   */
  resetWeights() {
    return this.#train("resetWeights", []);
  }

  // train.js (which refuses a bundle without a training step) is fetched on the first call; a failed load is retried.
  async #train(method, args) {
    this.#trainer ||= import("./train.js").then((t) => t.createTrainer(this.#manifest, this.#state, (work) => this.#enqueue(work)));
    this.#trainer.catch(() => (this.#trainer = null));
    return (await this.#trainer)[method](...args);
  }

  /**
   * Strings to the ids a text input takes, as its Python TextVectorization/StringLookup layer computes them.
   * @param {string|string[]|string[][]} strings  shaped [batch] or [batch, n]
   * @param {number} [input]  which input
   * @returns {Promise<{data: Int32Array|Float32Array, shape: number[], dtype: string}>}
   * @example
   *   const { data, shape } = await model.tokenize(["The cat sat.", "A dog!"]);   // Int32Array, [2, 20]
   */
  async tokenize(strings, input = 0) {
    return (await import("./text.js")).tokenize(this.#manifest.inputs, input, strings);
  }

  /**
   * Free the model's GPU buffers and device, or its WebAssembly memory and weights.
   * Later `predict` calls reject. Calling it twice is harmless.
   * @example
   *   model.dispose();
   */
  dispose() {
    if (this.#closed === "it was disposed") return;
    this.#closed = "it was disposed";
    const state = this.#state;
    this.#queue = this.#queue.then(() => {
      if (state.gpu) destroyGpu(state.gpu);
      state.run = null; // drops the weights and the wasm instance
    });
  }
}

const lostMessage = (lost) => `its WebGPU device was lost (${lost.reason || "unknown"}: ${lost.message}); ` +
  "load the model again with loadModel (a new device; \"auto\" takes the CPU path if no GPU adapter is left)";

/**
 * Check every input against its declared spec and convert it to the storage typed array; the batch is
 * axis 0 of the dynamic inputs (1 when every input is static). An input whose axis 1 is the sequence length of
 * one of the `graph`'s recurrent layers (rnn_scan), which export fixed, is a sequence; one marked `pad` (the model
 * ignores right-padding, webexport/padding.py) takes 1..N steps and is padded to N here.
 * @returns {{values: Array<{data, shape, dtype, short}>, batch: number}}
 * @example
 *   const { values, batch } = prepareInputs(manifest.inputs, [[[1, 2, 3, 4]]], manifest.graph);
 */
export function prepareInputs(specs, inputs, graph) {
  let batch = null;
  const values = specs.map((spec, i) => {
    const what = `input "${spec.name}"`;
    const { data, shape } = normalizeInput(inputs[i], spec, what);
    const steps = spec.shape[1];
    const other = shape.length === spec.shape.length && shape[1] !== steps;
    const sequence = () => spec.pad || graph.nodes.some((n) => n.target === "rnn_scan" && n.shape[1] === steps);
    const short = other && spec.pad && shape[1] >= 1 && shape[1] < steps;
    if (other && !short && sequence()) {
      const hint = shape[1] > steps ? `cut the sequence to ${steps} steps, or export with a longer sequence_length`
        : spec.pad ? "a sequence needs at least 1 step"
          : `pad the sequence to ${steps} steps; for the bundle to accept shorter sequences itself, mask the padding ` +
            "(Embedding(mask_zero=True) or a Masking layer) and export again";
      throw new Error(`${what}: a sequence of ${shape[1]} steps, but the model was exported for sequences of ` +
        `${spec.pad ? `1 to ${steps} steps` : `${steps} steps (its recurrent layers run that many)`}: ${hint}. Received: shape ${formatShape(shape)}`);
    }
    const mismatch = shape.length !== spec.shape.length || spec.shape.some((d, k) => d !== null && d !== shape[k] && !(short && k === 1));
    if (mismatch || numel(shape) !== data.length) {
      const note = mismatch ? "" : ` (the shape holds ${numel(shape)} elements, the data ${data.length})`;
      throw new Error(`${what}: expected shape ${formatShape(spec.shape)}${spec.shape.includes(null) ? " (null = any batch size)" : ""}, ` +
        `received ${formatShape(shape)}${note}`);
    }
    if (spec.shape[0] === null) {
      if (shape[0] < 1) throw new Error(`${what}: the batch size must be at least 1. Received: shape ${formatShape(shape)}`);
      if (batch !== null && batch !== shape[0]) {
        throw new Error(`${what}: batch size ${shape[0]} differs from the other inputs' batch size ${batch}`);
      }
      batch = shape[0];
    }
    return { data: toStorageArray(data, spec.dtype, what), shape, dtype: spec.dtype, short };
  });
  return { values, batch: batch ?? 1 };
}

// A sequence of T < N steps right-padded to N with its input's pad value, in `scratch` (one array per input, reused
// from call to call: runs are queued one at a time, and each backend has copied its inputs when its run ends).
function padSequence(value, spec, scratch) {
  const { data, shape } = value;
  const row = numel(shape.slice(1));
  const full = numel(spec.shape.slice(1));
  let out = scratch.get(spec.name);
  if (!out || out.length !== shape[0] * full) scratch.set(spec.name, (out = allocate(spec.dtype, shape[0] * full)));
  out.fill(spec.pad.value);
  for (let b = 0; b < shape[0]; b++) out.set(data.subarray(b * row, (b + 1) * row), b * full);
  return { data: out, shape: [shape[0], ...spec.shape.slice(1)], dtype: spec.dtype };
}

function normalizeInput(input, spec, what) {
  let data = input;
  let shape;
  if (input && !Array.isArray(input) && !ArrayBuffer.isView(input) && typeof input === "object" && "data" in input) {
    ({ data, shape } = input);
  }
  if (shape !== undefined && (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))) {
    throw new Error(`${what}: shape must be a list of non-negative integers. Received: ${JSON.stringify(shape)}`);
  }
  if (Array.isArray(data) && data.some(Array.isArray)) {
    const inferred = inferShape(data, what);
    if (shape !== undefined && formatShape(shape) !== formatShape(inferred)) {
      throw new Error(`${what}: the nested arrays have shape ${formatShape(inferred)} but shape ${formatShape(shape)} was given`);
    }
    return { data: flatten(data), shape: inferred };
  }
  if (!Array.isArray(data) && !(ArrayBuffer.isView(data) && !(data instanceof DataView))) {
    throw new Error(`${what}: expected a typed array, an array or nested arrays. Received: ${data === null ? "null" : typeof data}`);
  }
  return { data, shape: shape ?? declaredShape(spec, data.length, what) };
}

// A flat array without a shape takes the declared shape; a dynamic batch comes from the length.
function declaredShape(spec, length, what) {
  if (!spec.shape.includes(null)) return spec.shape;
  const perItem = numel(spec.shape.slice(1));
  if (perItem === 0 || length % perItem !== 0) {
    throw new Error(`${what}: cannot infer the batch size: ${length} elements is not a multiple of ${perItem} ` +
      `(shape ${formatShape(spec.shape)}); pass the shape`);
  }
  return [length / perItem, ...spec.shape.slice(1)];
}

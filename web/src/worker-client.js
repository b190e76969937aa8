/**
 * The main-thread side of the worker runtime: `loadModelInWorker` loads a bundle in a dedicated module Web Worker
 * (worker.js) and resolves to a `WorkerModel`, which has `Model`'s API (`predict`, `run`, `tokenize`, `info`,
 * `dispose`) and forwards each call to the worker, so inference never blocks the page.
 *
 * Inputs and outputs move, they are not copied: a typed array that spans its whole ArrayBuffer is transferred to
 * the worker and is detached (byteLength 0) once the call is sent; pass `x.slice()` to keep using `x`. A view on
 * part of a buffer is copied first (transferring it would detach the rest of the caller's buffer), a
 * SharedArrayBuffer is shared, and plain or nested arrays and strings are cloned as usual. Outputs come back
 * transferred, each in its own buffer.
 *
 * index.js does not import this module: model.js imports it on the first `loadModel(url, {worker})`,
 * `loadModelInWorker` or `createWorker` (their public entries), so a page that never asks for a worker never
 * fetches it.
 * @module worker-client
 */

/**
 * A dedicated Web Worker running the pyml runtime, which several models can share: get one from
 * `createWorker` (model.js), pass it as `loadModel(url, {worker})`. `terminate` ends it; the calls of its models
 * still pending reject.
 * @example
 *   const worker = await createWorker();
 *   const [a, b] = await Promise.all([loadModel("a/model.json", { worker }), loadModel("b/model.json", { worker })]);
 *   worker.terminate();   // both models can no longer run
 */
export class ModelWorker {
  #worker;
  #pending = new Map(); // request id -> {resolve, reject, onProgress}
  #nextId = 1;
  #ended = null; // why the worker can no longer answer

  constructor() {
    this.#worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "pyml-runtime" });
    this.#worker.onmessage = ({ data }) => this.#answer(data);
    // A worker script that fails to load or to evaluate ends the worker: every call still waiting must hear why.
    this.#worker.onerror = (event) => {
      event.preventDefault();
      const why = event.message || "its script did not load: is worker.js next to index.js?";
      this.#end(`the pyml worker failed (${why})`);
    };
    this.#worker.onmessageerror = () => this.#end("the pyml worker sent a message this page could not read");
  }

  /** Whether `terminate` was called or the worker failed. */
  get terminated() {
    return this.#ended !== null;
  }

  /**
   * End the worker and every model in it at once; their pending calls reject, later ones too.
   * @example
   *   worker.terminate();
   */
  terminate() {
    this.#end("its worker was terminated");
  }

  /** Send one request; resolves to the worker's answer. Not public: `WorkerModel` and the loader call it. */
  request(message, transfer = [], onProgress = undefined) {
    if (this.#ended) return Promise.reject(new Error(`this Model cannot run: ${this.#ended}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#worker.postMessage({ ...message, id }, transfer); // a DataCloneError throws here, rejecting
      this.#pending.set(id, { resolve, reject, onProgress });
    });
  }

  #answer({ id, value, error, progress }) {
    const waiting = this.#pending.get(id);
    if (!waiting) return;
    if (progress) return waiting.onProgress?.(progress);
    this.#pending.delete(id);
    if (error) waiting.reject(Object.assign(new Error(error.message), { name: error.name }));
    else waiting.resolve(value);
  }

  #end(why) {
    if (this.#ended) return;
    this.#ended = why;
    this.#worker.terminate();
    for (const { reject } of this.#pending.values()) reject(new Error(`this Model cannot run: ${why}`));
    this.#pending.clear();
  }
}

/**
 * Load a bundle in a Web Worker: `worker` true (the default) starts one that the model owns and `dispose` ends;
 * a `ModelWorker` from `createWorker` shares that one. The other options are `loadModel`'s.
 * @param {string|URL} url  the bundle's model.json, relative to the page
 * @param {{worker?: true|ModelWorker, backend?: string, onProgress?: Function}} [options]
 * @returns {Promise<WorkerModel>}
 * @example
 *   const model = await loadModelInWorker("model/model.json", { backend: "cpu" });
 *   const x = new Float32Array(64 * 784);            // transferred: x.byteLength is 0 after the call
 *   const { data, shape } = await model.predict(x, [64, 784]);
 */
export async function loadModelInWorker(url, { worker = true, onProgress, ...options } = {}) {
  if (worker !== true && !(worker instanceof ModelWorker)) {
    throw new Error(`loadModel: worker must be true (a worker of the model's own) or a worker from createWorker(). ` +
      `Received: ${worker === null ? "null" : typeof worker}`);
  }
  const host = worker === true ? new ModelWorker() : worker;
  // The worker resolves relative URLs against its own script: resolve against the page here, as loadModel does.
  const href = new URL(url, globalThis.location?.href).href;
  try {
    const load = { op: "load", url: href, options, progress: Boolean(onProgress) };
    const { model, info } = await host.request(load, [], onProgress);
    return new WorkerModel(host, model, info, worker === true);
  } catch (err) {
    if (worker === true) host.terminate();
    throw err;
  }
}

/**
 * A model loaded in a Web Worker (from `loadModel(url, {worker})` or `loadModelInWorker`): `Model`'s API, each call
 * answered by the worker. Whole-buffer typed-array inputs are transferred (detached after the call).
 * @example
 *   const model = await loadModel("model/model.json", { worker: true });
 *   const y = await model.predict([[0.1, 0.2, 0.3, 0.4]]);
 *   model.dispose();   // frees the model and ends its worker
 */
class WorkerModel {
  #host;
  #id;
  #owns;
  #closed = null;

  constructor(host, id, info, owns) {
    this.#host = host;
    this.#id = id;
    this.#owns = owns;
    this.info = Object.freeze({ ...info, adapter: info.adapter && Object.freeze(info.adapter) });
  }

  /** `Model#predict`, in the worker; a whole-buffer typed array `input` is transferred. */
  predict(input, shape = undefined) {
    const transfer = new Set();
    return this.#call("predict", [movable(input, transfer), shape], transfer);
  }

  /** `Model#run`, in the worker; whole-buffer typed arrays among `inputs` are transferred. */
  run(inputs) {
    const transfer = new Set();
    const each = Array.isArray(inputs) ? inputs.map((v) => movable(v, transfer))
      : inputs && typeof inputs === "object" && !ArrayBuffer.isView(inputs)
        ? Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, movable(v, transfer)])) : inputs;
    return this.#call("run", [each], transfer);
  }

  /** `Model#tokenize`, in the worker. */
  tokenize(strings, input = 0) {
    return this.#call("tokenize", [strings, input], new Set());
  }

  /** Free the model in its worker once the calls already made have ended; a worker it owns is terminated then. */
  dispose() {
    if (this.#closed) return;
    this.#closed = "it was disposed";
    const done = this.#host.request({ op: "dispose", model: this.#id });
    done.catch(() => {}).then(() => this.#owns && this.#host.terminate());
  }

  async #call(op, args, transfer) {
    if (this.#closed) throw new Error(`this Model cannot run: ${this.#closed}`);
    return this.#host.request({ op, model: this.#id, args }, [...transfer]);
  }
}

// `value` as it is posted: a whole-buffer typed array (or `{data, shape}` holding one) as is, its buffer added to
// `transfer`; a partial view copied into a buffer of its own (the clone would copy its whole buffer anyway).
function movable(value, transfer) {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    if (!(value.buffer instanceof ArrayBuffer)) return value; // a SharedArrayBuffer: shared, not moved
    const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
    const moved = whole ? value : value.slice();
    transfer.add(moved.buffer);
    return moved;
  }
  if (value && typeof value === "object" && !Array.isArray(value) && "data" in value) {
    return { ...value, data: movable(value.data, transfer) };
  }
  return value;
}

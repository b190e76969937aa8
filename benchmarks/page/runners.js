/**
 * One opener per library for benchmarks/page/inference.js. Each loads only its own library's files (so
 * the page's network log counts that library alone), loads one model on one backend and returns a runner:
 *
 *     const runner = await openRunner("ort", "wasm", "mlp", { threads: 1 });
 *     const y = await runner.predict({ data: Float32Array, shape: [1, 784] });   // Float32Array, read back
 *     runner.backend;   // what actually ran, e.g. "webgpu (google swiftshader)"
 *
 * Site layout (written by benchmarks/browser_inference.py): models/<name>/pyml/ (the pyml bundle, its
 * runtime/ inside), models/<name>/tfjs/{layout.json, weights.bin}, models/<name>/model.onnx, tfjs/<package>/
 * (each TF.js package's dist/), ort/ (onnxruntime-web's dist/).
 */

const TFJS_BACKEND_FILES = {
  cpu: "tfjs/tfjs-backend-cpu/tf-backend-cpu.min.js",
  wasm: "tfjs/tfjs-backend-wasm/tf-backend-wasm.min.js",
  webgpu: "tfjs/tfjs-backend-webgpu/tf-backend-webgpu.min.js",
};
// The smallest ORT entry a page would pick per backend: the wasm-only build, or the WebGPU one.
const ORT_ENTRIES = { wasm: "ort/ort.wasm.min.mjs", webgpu: "ort/ort.webgpu.min.mjs" };

function absolute(path) {
  return new URL(path, location.href).href;
}

/** Classic scripts in order, downloaded in parallel (async = false keeps execution order, as <script> tags). */
function loadScripts(urls) {
  return Promise.all(urls.map((url) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.async = false;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.append(script);
  })));
}

export function describeAdapter(adapter) {
  return adapter ? ` (${[adapter.vendor, adapter.architecture].filter(Boolean).join(" ")})` : "";
}

/** pyml: the bundle's own runtime; loadModel fetches and checks the bundle (and on WebGPU builds every pipeline). */
async function openPyml(backend, model) {
  const { loadModel } = await import(absolute(`models/${model}/pyml/runtime/index.js`));
  const loaded = await loadModel(`models/${model}/pyml/model.json`, { backend });
  return {
    backend: loaded.info.backend + describeAdapter(loaded.info.adapter),
    predict: async ({ data, shape }) => (await loaded.predict(data, shape)).data,
    dispose: () => loaded.dispose(),
  };
}

/**
 * TF.js core + one backend + layers, and `model`'s Sequential rebuilt from layout.json with the benchmark's
 * weights set: {tf, network, backend} (backend: what runs, e.g. "wasm, 1 thread(s)").
 * @example
 *   const { tf, network } = await loadTfjsNetwork("webgpu", "mlp", { threads: 1 });
 */
export async function loadTfjsNetwork(backend, model, { threads }) {
  if (!TFJS_BACKEND_FILES[backend]) throw new Error(`TF.js has no backend ${JSON.stringify(backend)} here`);
  await loadScripts(["tfjs/tfjs-core/tf-core.min.js", TFJS_BACKEND_FILES[backend],
    "tfjs/tfjs-layers/tf-layers.min.js"]);
  const tf = globalThis.tf;
  tf.enableProdMode();
  if (backend === "wasm") {
    tf.wasm.setWasmPaths(absolute("tfjs/tfjs-backend-wasm/"));
    if (threads > 1) tf.wasm.setThreadsCount(threads);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend("${backend}") failed to initialise`);
  await tf.ready();
  const [layout, bin] = await Promise.all([
    fetch(`models/${model}/tfjs/layout.json`).then((r) => r.json()),
    fetch(`models/${model}/tfjs/weights.bin`).then((r) => r.arrayBuffer()),
  ]);
  const network = tf.sequential();
  layout.layers.forEach(({ type, config }, i) =>
    network.add(tf.layers[type](i === 0 ? { ...config, inputShape: layout.inputShape } : config)));
  const weights = layout.weights.map(({ shape, offset }) =>
    tf.tensor(new Float32Array(bin, offset, shape.reduce((a, b) => a * b, 1)), shape));
  network.setWeights(weights);
  weights.forEach((w) => w.dispose());
  const wasmThreads = backend === "wasm" ? `, ${tf.wasm.getThreadsCount()} thread(s)` : "";
  return { tf, network, backend: tf.getBackend() + wasmThreads };
}

/** TF.js: the network loadTfjsNetwork builds, predicting. */
async function openTfjs(backend, model, options) {
  const { tf, network, backend: ran } = await loadTfjsNetwork(backend, model, options);
  return {
    backend: ran,
    predict: async ({ data, shape }) => {
      const input = tf.tensor(data, shape);
      const output = network.predict(input);
      const values = await output.data();
      input.dispose();
      output.dispose();
      return values;
    },
    dispose: () => network.dispose(),
  };
}

/** ONNX Runtime Web: its wasm or WebGPU entry module, an InferenceSession on model.onnx (graph + weights). */
async function openOrt(backend, model, { threads }) {
  if (!ORT_ENTRIES[backend]) throw new Error(`ONNX Runtime Web has no backend ${JSON.stringify(backend)} here`);
  const ort = await import(absolute(ORT_ENTRIES[backend]));
  ort.env.wasm.wasmPaths = absolute("ort/");
  ort.env.wasm.numThreads = threads; // above 1 only works cross-origin isolated (browser_inference.py --threads)
  ort.env.logLevel = "error";
  const session = await ort.InferenceSession.create(`models/${model}/model.onnx`, { executionProviders: [backend] });
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  return {
    backend: `${backend}, ${ort.env.wasm.numThreads} wasm thread(s)`,
    predict: async ({ data, shape }) => {
      const type = data instanceof Int32Array ? "int32" : "float32";
      const results = await session.run({ [inputName]: new ort.Tensor(type, data, shape) });
      const output = results[outputName];
      const values = output.data; // on the CPU: ORT reads WebGPU outputs back by default
      output.dispose();
      return values;
    },
    dispose: () => session.release(),
  };
}

const OPENERS = { pyml: openPyml, tfjs: openTfjs, ort: openOrt };

/**
 * Load `model` with `library` ("pyml" | "tfjs" | "ort") on `backend`; resolves to {backend, predict, dispose}.
 * @example
 *   const runner = await openRunner("tfjs", "wasm", "convnet", { threads: 1 });
 */
export async function openRunner(library, backend, model, options = { threads: 1 }) {
  const open = OPENERS[library];
  if (!open) {
    throw new Error(`unknown library ${JSON.stringify(library)}: expected one of ${Object.keys(OPENERS).join(", ")}`);
  }
  return open(backend, model, options);
}

/**
 * Which of `backends` pyml's runtime loads `model` on: {backend: {ok: true, ran: "cpu"} | {ok: false, error}}.
 * @example
 *   await detectPymlBackends("mlp", ["webgpu", "wasm", "cpu", "js"]);
 */
export async function detectPymlBackends(model, backends) {
  const found = {};
  for (const backend of backends) {
    try {
      const runner = await openPyml(backend, model);
      found[backend] = { ok: true, ran: runner.backend };
      runner.dispose();
    } catch (err) {
      found[backend] = { ok: false, error: err && err.message ? err.message : String(err) };
    }
  }
  return found;
}

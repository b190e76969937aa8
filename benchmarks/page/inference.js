/**
 * Page side of benchmarks/browser_inference.py: load the digits MLP with pyml or TF.js on one backend,
 * time the first result and steady-state predict, and hand back the outputs for a parity check.
 *
 *     const result = await bench.run("pyml", "cpu", [{b64, shape: [1, 64]}, {b64, shape: [360, 64]}],
 *                                    { warmup: 5, samples: 25 });
 *     // {loadMs, firstMs, steady: [{medianMs, times, inner}, ...], outputs: [b64, ...], backend}
 *
 * The server lays out: model/ (the pyml bundle, runtime/ inside), tfjs/ (TF.js UMD files, global `tf`),
 * tfjs-model/layout.json + weights.bin (the same weights as the bundle, for tf.sequential + setWeights).
 * Run each (library, backend) in a fresh page: TF.js picks its backend once per page.
 */
import { loadModel } from "./model/runtime/index.js";

// A timed sample repeats predict until it has run this long, so the browser's coarse timer (100 µs
// outside cross-origin isolation) does not swamp sub-millisecond CPU latencies.
const MIN_SAMPLE_MS = 5;
const MAX_INNER = 1000;

function decode({ b64, shape }) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { data: new Float32Array(bytes.buffer), shape };
}

function encode(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function message(err) {
  return err && err.message ? err.message : String(err);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** pyml: loadModel (fetch + verify bundle, WebGPU device and pipelines) → predict reads back. */
async function openPyml(backend) {
  const model = await loadModel("model/model.json", { backend });
  const adapter = model.info.adapter;
  return {
    backend: model.info.backend + (adapter ? ` (${adapter.vendor || ""} ${adapter.architecture || ""})`.trimEnd() : ""),
    predict: async ({ data, shape }) => (await model.predict(data, shape)).data,
    dispose: () => model.dispose(),
  };
}

/** TF.js: pick the backend, fetch the weights, build the same Sequential, setWeights → predict + data(). */
async function openTfjs(backend) {
  const tf = globalThis.tf;
  if (!tf || !tf.layers) throw new Error("TF.js did not load: tfjs/*.min.js missing from the page");
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend("${backend}") failed to initialise`);
  await tf.ready();
  const [layout, bin] = await Promise.all([
    fetch("tfjs-model/layout.json").then((r) => r.json()),
    fetch("tfjs-model/weights.bin").then((r) => r.arrayBuffer()),
  ]);
  const layers = layout.layers.map(({ units, activation }, i) =>
    tf.layers.dense(i === 0 ? { units, activation, inputShape: [layout.input_dim] } : { units, activation }));
  const model = tf.sequential({ layers });
  const weights = layout.weights.map(({ shape, offset }) =>
    tf.tensor(new Float32Array(bin, offset, shape.reduce((a, b) => a * b, 1)), shape));
  model.setWeights(weights);
  weights.forEach((w) => w.dispose());
  return {
    backend: tf.getBackend(),
    predict: async ({ data, shape }) => {
      const input = tf.tensor2d(data, shape);
      const output = model.predict(input);
      const values = await output.data();
      input.dispose();
      output.dispose();
      return values;
    },
    dispose: () => model.dispose(),
  };
}

async function timeSteady(predict, { warmup, samples }) {
  for (let i = 0; i < warmup; i++) await predict();
  let inner = 0;
  for (let round = 0; round < 2; round++) { // the second count, once the JIT has settled, is the one kept
    inner = 0;
    const start = performance.now();
    while (inner < MAX_INNER && (inner === 0 || performance.now() - start < MIN_SAMPLE_MS)) {
      await predict();
      inner++;
    }
  }
  const times = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) await predict();
    times.push((performance.now() - t0) / inner);
  }
  return { medianMs: median(times), times, inner };
}

window.bench = {
  /**
   * Time `library` ("pyml" | "tfjs") on `backend` ("cpu" | "webgpu"). The first input is the one the
   * first-result time predicts on; each input then gets a steady-state timing and returns its output.
   */
  async run(library, backend, inputs, options) {
    const batches = inputs.map(decode);
    const open = { pyml: openPyml, tfjs: openTfjs }[library];
    if (!open) return { error: `unknown library ${JSON.stringify(library)}` };
    let runner;
    try {
      const t0 = performance.now();
      runner = await open(backend);
      const loadMs = performance.now() - t0;
      await runner.predict(batches[0]);
      const firstMs = performance.now() - t0;
      const steady = [];
      for (const x of batches) steady.push(await timeSteady(() => runner.predict(x), options));
      const outputs = [];
      for (const x of batches) outputs.push(encode(await runner.predict(x)));
      return { loadMs, firstMs, steady, outputs, backend: runner.backend };
    } catch (err) {
      return { error: message(err) };
    } finally {
      if (runner) runner.dispose();
    }
  },
};

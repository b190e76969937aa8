/**
 * Page side of benchmarks/browser_inference.py. The URL names one cell,
 * `inference.html?model=mlp&shape=784&library=ort&backend=wasm&threads=1`, and the page starts on its own:
 * it loads that library alone (page/runners.js), loads the model and predicts one batch-1 input, so the
 * cold time is measured from navigation start. Python then awaits `bench.cold` and calls `bench.warm`.
 *
 *     await bench.cold;   // {startMs, loadMs, firstMs, backend, isolated} or {error}, ms since navigation start
 *                         // (startMs: when this script began the cold start)
 *     await bench.warm({ batches: [1, 32], warmup: 5, samples: 15, minSampleMs: 10, budgetMs: 3000 });
 *     // {results: [{batch, medianMs, times, inner, output: base64 float32}, ...]} or {error}
 *
 * With `?model=mlp&library=pyml&detect=1` the page loads nothing on its own, and
 * `await bench.detect(["webgpu", "wasm", "cpu"])` says which backends pyml's runtime accepts.
 *
 * Inputs are generated here (no file to fetch): element i of the flattened batch is (i * 7919 mod 1009) / 1009,
 * or with `&vocab=V` the int32 token id (i * 7919 mod 1009) mod V, as benchmarks/models.py `inputs` computes for
 * Python's reference predictions.
 */
import { detectPymlBackends, openRunner } from "./runners.js";

const params = new URLSearchParams(location.search);
const cell = {
  model: params.get("model"),
  shape: (params.get("shape") || "").split(",").map(Number),
  library: params.get("library"),
  backend: params.get("backend"),
  threads: Number(params.get("threads") || 1),
  vocab: Number(params.get("vocab") || 0), // > 0: the input is int32 token ids below it
};

function benchInput(batch) {
  const shape = [batch, ...cell.shape];
  const size = shape.reduce((a, b) => a * b, 1);
  const data = cell.vocab ? new Int32Array(size) : new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = cell.vocab ? ((i * 7919) % 1009) % cell.vocab : ((i * 7919) % 1009) / 1009;
  return { data, shape };
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

/**
 * Warm timing of `predict`: `warmup` untimed runs (fewer once `budgetMs` is spent), then samples of `inner`
 * back-to-back runs, `inner` chosen so a sample lasts at least `minSampleMs` (the browser's timer is
 * coarse: 100 µs outside cross-origin isolation); up to `samples` samples, at least 3, within `budgetMs`.
 */
async function timeWarm(predict, { warmup, samples, minSampleMs, budgetMs }) {
  let start = performance.now();
  for (let i = 0; i < warmup && (i === 0 || performance.now() - start < budgetMs); i++) await predict();
  // Calibrate: the back-to-back runs that first last minSampleMs fix `inner`, and count as the first sample.
  let inner = 0;
  start = performance.now();
  while (inner < 10000 && (inner === 0 || performance.now() - start < minSampleMs)) {
    await predict();
    inner++;
  }
  const times = [(performance.now() - start) / inner];
  start = performance.now();
  while (times.length < samples && (times.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) await predict();
    times.push((performance.now() - t0) / inner);
  }
  return { medianMs: median(times), times, inner };
}

let runner = null;

async function cold() {
  const startMs = performance.now(); // the page's own script runs: what comes before is the same for every cell
  runner = await openRunner(cell.library, cell.backend, cell.model, { threads: cell.threads });
  const loadMs = performance.now();
  await runner.predict(benchInput(1));
  const firstMs = performance.now();
  return { startMs, loadMs, firstMs, backend: runner.backend, isolated: globalThis.crossOriginIsolated === true };
}

async function warm(options) {
  if (!runner) return { error: "warm: the cold start did not load a model" };
  try {
    const results = [];
    for (const batch of options.batches) {
      const x = benchInput(batch);
      const timing = await timeWarm(() => runner.predict(x), options);
      results.push({ batch, ...timing, output: encode(await runner.predict(x)) });
    }
    return { results };
  } catch (err) {
    return { error: message(err) };
  }
}

window.bench = {
  cold: params.has("detect") ? Promise.resolve({ error: "detect page" })
    : cold().catch((err) => ({ error: message(err) })),
  warm,
  detect: (backends) => detectPymlBackends(cell.model, backends),
};

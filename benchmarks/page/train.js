/**
 * Page side of benchmarks/train_browser.py. The URL names one cell,
 * `train.html?model=mlp&shape=784&library=tfjs&backend=wasm&optimizer=adam&lr=0.001&momentum=0&threads=1`;
 * the page loads that library alone with the benchmark's initial weights (pyml: its training bundle, whose
 * optimizer is baked in at export; TF.js: tf.layers + setWeights, compiled with the same optimizer), then:
 *
 *     await bench.ready;                                   // {backend} or {error}
 *     await bench.losses({ batch: 32, steps: 3 });         // {losses: [...]}: fit, one loss per batch
 *     await bench.time({ batch: 32, steps: 4, mode: "fit", samples: 5, budgetMs: 20000 });
 *     // {stepsPerSecond (median), samples: [steps/s, ...]} or {error}; mode "step": trainStep / trainOnBatch
 *
 * The data is generated here, as benchmarks/models.py `inputs` and `labels` compute it for Python's
 * reference losses: element i of the flattened inputs is (i * 7919 mod 1009) / 1009, row r's label is
 * (7 r + 3) mod 10. Batch k is rows [k * batch, (k + 1) * batch), in order (no shuffling).
 */
import { describeAdapter, loadTfjsNetwork } from "./runners.js";

const params = new URLSearchParams(location.search);
const cell = {
  model: params.get("model"),
  shape: (params.get("shape") || "").split(",").map(Number),
  library: params.get("library"),
  backend: params.get("backend"),
  optimizer: { name: params.get("optimizer") || "adam", lr: Number(params.get("lr") || 0.001),
    momentum: Number(params.get("momentum") || 0) },
  threads: Number(params.get("threads") || 1),
};

function absolute(path) {
  return new URL(path, location.href).href;
}

/** `rows` rows of inputs and labels: {x: {data, shape}, y: Int32Array}. */
function dataset(rows) {
  const shape = [rows, ...cell.shape];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1009) / 1009;
  return { x: { data, shape }, y: Int32Array.from({ length: rows }, (_, r) => (7 * r + 3) % 10) };
}

/** Batch k of a dataset of whole batches. */
function batchOf({ x, y }, k, batch) {
  const size = x.data.length / x.shape[0];
  return { x: { data: x.data.subarray(k * batch * size, (k + 1) * batch * size), shape: [batch, ...cell.shape] },
    y: y.subarray(k * batch, (k + 1) * batch) };
}

/** pyml: the training bundle's runtime; fit and trainStep as a page calls them. */
async function openPyml() {
  const { loadModel } = await import(absolute(`models/${cell.model}/pyml/runtime/index.js`));
  const model = await loadModel(`models/${cell.model}/pyml/model.json`, { backend: cell.backend });
  if (!model.canTrain) throw new Error("the pyml bundle has no training section");
  return {
    backend: model.info.backend + describeAdapter(model.info.adapter),
    fit: ({ x, y }, batchSize, onBatchEnd) => model.fit(x, { data: y, shape: [y.length] },
      { epochs: 1, batchSize, shuffle: false, ...(onBatchEnd ? { onBatchEnd } : {}) }),
    step: ({ x, y }) => model.trainStep(x, { data: y, shape: [y.length] }),
  };
}

function tfjsOptimizer(tf, { name, lr, momentum }) {
  if (name === "adam") return tf.train.adam(lr, 0.9, 0.999, 1e-7); // Keras's defaults, as pyml's Adam
  if (name === "sgd") return momentum ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
  throw new Error(`the benchmark knows the optimizers adam and sgd. Received: ${JSON.stringify(name)}`);
}

/**
 * TF.js: tf.layers `model.fit` and `trainOnBatch`, sparse categorical cross-entropy (labels as a [n, 1] float
 * column, as tf.layers wants them). `yieldEvery: "never"`: fit does not wait for animation frames between
 * batches (the default "auto" would, which is slower and not what is compared here).
 */
async function openTfjs() {
  const { tf, network, backend } = await loadTfjsNetwork(cell.backend, cell.model, cell);
  network.compile({ optimizer: tfjsOptimizer(tf, cell.optimizer), loss: "sparseCategoricalCrossentropy" });
  const tensors = ({ x, y }) => [tf.tensor(x.data, x.shape), tf.tensor(Float32Array.from(y), [y.length, 1])];
  return {
    backend,
    fit: async (data, batchSize, onBatchEnd) => {
      const [xs, ys] = tensors(data);
      try {
        await network.fit(xs, ys, { epochs: 1, batchSize, shuffle: false, verbose: 0, yieldEvery: "never",
          ...(onBatchEnd ? { callbacks: { onBatchEnd } } : {}) });
      } finally {
        xs.dispose();
        ys.dispose();
      }
    },
    step: async (data) => {
      const [xs, ys] = tensors(data);
      try {
        return await network.trainOnBatch(xs, ys);
      } finally {
        xs.dispose();
        ys.dispose();
      }
    },
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function message(err) {
  return err && err.message ? err.message : String(err);
}

let runner = null;

/** fit over `steps` batches from the initial weights: the loss of each batch, for the step-by-step check. */
async function losses({ batch, steps }) {
  try {
    const found = [];
    await runner.fit(dataset(batch * steps), batch, (_, logs) => { found.push(logs.loss); });
    return { losses: found };
  } catch (err) {
    return { error: message(err) };
  }
}

/**
 * Training steps per second: each sample is one `fit` epoch over `steps` batches (mode "fit") or `steps`
 * trainStep / trainOnBatch calls (mode "step"); one untimed batch first (the first call of a mode may compile
 * or allocate), then up to `samples` samples (at least one) within `budgetMs`.
 */
async function time({ batch, steps, mode, samples, budgetMs }) {
  try {
    const data = dataset(batch * steps);
    const batches = Array.from({ length: steps }, (_, k) => batchOf(data, k, batch));
    const once = mode === "fit" ? () => runner.fit(data, batch)
      : async () => { for (const b of batches) await runner.step(b); };
    await (mode === "fit" ? runner.fit(dataset(batch), batch) : runner.step(batches[0]));
    const rates = [];
    const start = performance.now();
    while (rates.length < samples && (rates.length === 0 || performance.now() - start < budgetMs)) {
      const t0 = performance.now();
      await once();
      rates.push((1000 * steps) / (performance.now() - t0));
    }
    return { stepsPerSecond: median(rates), samples: rates };
  } catch (err) {
    return { error: message(err) };
  }
}

async function open() {
  const opener = { pyml: openPyml, tfjs: openTfjs }[cell.library];
  if (!opener) throw new Error(`unknown library ${JSON.stringify(cell.library)}: expected pyml or tfjs`);
  runner = await opener();
  return { backend: runner.backend };
}

window.bench = { ready: open().catch((err) => ({ error: message(err) })), losses, time };

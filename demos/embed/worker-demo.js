/**
 * The worker demo page (worker.html): load `model/model.json` in a Web Worker, run a batch there or on the main
 * thread, and show how long the longest gap between animation frames was meanwhile.
 *
 * The worker form of the runtime takes the same three lines as the page's, plus one option:
 *
 *   import { loadModel } from "./model/runtime/index.js";
 *   const model = await loadModel("model/model.json", { worker: true });
 *   const { data, shape } = await model.predict(x, [256, 28, 28, 1]);   // x is transferred: detached after
 *
 * For tests, `window.pymlWorkerDemo` holds `ready`, `error`, `backend` and `last` (the last run: `where`, `batch`,
 * `ms`, `maxGap`, `output`: `{data, shape}`), and `run(where, batch)` runs like the buttons do.
 */
import { loadModel } from "./model/runtime/index.js";

const params = new URLSearchParams(location.search);
const backend = params.get("backend") || "auto";
const batchInput = document.getElementById("batch");
const statusView = document.getElementById("status");
const runsView = document.getElementById("runs");
const buttons = { worker: document.getElementById("worker"), main: document.getElementById("main") };
const ball = document.getElementById("ball");
if (params.has("batch")) batchInput.value = params.get("batch");

const demo = { ready: false, error: null, backend: null, last: null, run };
window.pymlWorkerDemo = demo;

// The animation: one ball crossing the stage, one step per frame; every frame's time is kept, so a run's longest
// gap between frames says how long the page could not paint.
const frames = [];
(function animate(now) {
  frames.push(now);
  if (frames.length > 600) frames.splice(0, 300);
  const width = ball.parentElement.clientWidth - ball.clientWidth;
  ball.style.transform = `translateX(${Math.abs(((now / 4) % (2 * width)) - width)}px)`;
  requestAnimationFrame(animate);
})(performance.now());

const models = { worker: null, main: null }; // the main-thread model loads on first use

async function model(where) {
  models[where] ||= loadModel("model/model.json", { backend, worker: where === "worker" });
  return models[where];
}

// A batch of the model's first input in a fixed pattern (reproducible in numpy, see worker.html).
function pattern(info, batch) {
  const shape = [batch, ...info.inputs[0].shape.slice(1)];
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1009) / 1009), shape };
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));

async function run(where, batch = Number(batchInput.value)) {
  const m = await model(where);
  const { data, shape } = pattern(m.info, batch);
  await nextFrame();
  const first = frames.length - 1;
  const start = performance.now();
  const output = await m.predict(data, shape); // `data` moves to the worker: data.byteLength is 0 from here
  const ms = performance.now() - start;
  await nextFrame(); // the frame after the run closes its last gap
  const seen = frames.slice(first);
  const maxGap = Math.max(...seen.slice(1).map((t, i) => t - seen[i]));
  demo.last = { where, batch, ms, maxGap, output: { data: Array.from(output.data), shape: output.shape } };
  show(demo.last);
  return demo.last;
}

function show({ where, batch, ms, maxGap, output }) {
  const row = output.data.slice(0, output.shape.slice(1).reduce((a, b) => a * b, 1));
  const top = row.indexOf(Math.max(...row));
  const cells = [where === "worker" ? "worker" : "main thread", batch, ms.toFixed(0), maxGap.toFixed(0),
    `#${top}: ${row[top].toFixed(4)}`];
  const tr = document.createElement("tr");
  for (const text of cells) tr.appendChild(Object.assign(document.createElement("td"), { textContent: String(text) }));
  runsView.prepend(tr);
}

for (const [where, button] of Object.entries(buttons)) {
  button.addEventListener("click", async () => {
    for (const b of Object.values(buttons)) b.disabled = true;
    const place = where === "worker" ? "in the worker" : "on the main thread";
    statusView.textContent = `Running a batch of ${batchInput.value} ${place}…`;
    try {
      const { ms, maxGap } = await run(where);
      statusView.textContent = `Done in ${ms.toFixed(0)} ms; the longest frame gap was ${maxGap.toFixed(0)} ms.`;
    } catch (err) {
      statusView.textContent = `Error: ${err.message}`;
    } finally {
      for (const b of Object.values(buttons)) b.disabled = false;
    }
  });
}

try {
  const { info } = await model("worker");
  demo.backend = info.backend;
  const names = { webgpu: "WebGPU", wasm: "the CPU (WebAssembly SIMD)", js: "the CPU (plain JavaScript)" };
  statusView.textContent = `Loaded in a worker; runs on ${names[info.backend]}. ` +
    `Input shape ${JSON.stringify(info.inputs[0].shape)}.`;
  for (const b of Object.values(buttons)) b.disabled = false;
  demo.ready = true;
} catch (err) {
  demo.error = err.message;
  statusView.textContent = `The model did not load: ${err.message}`;
}

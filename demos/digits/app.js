/**
 * The digits demo page: draw on a canvas, turn the drawing into an 8x8 image like scikit-learn's
 * load_digits, and show the model's prediction live while drawing.
 *
 * The pyml runtime takes three lines (import, loadModel, predict):
 *
 *   import { loadModel } from './model/runtime/index.js';
 *   const model = await loadModel('model/model.json');
 *   const { data } = await model.predict(input, [1, 64]);
 *
 * How the drawing becomes model input: load_digits images are 32x32 bitmaps of size-normalised digits,
 * cut into 4x4 blocks whose on-pixels are counted (0..16). We keep the strokes as point lists, redraw
 * them into a 32x32 bitmap with a fixed pen after fitting their bounding box to the bitmap (centred,
 * aspect ratio kept, so a digit fills the height as in the dataset), and sum the ink coverage of each
 * 4x4 block. The model takes those counts divided by 16 (demos/digits/train.py does the same).
 *
 * For tests and the curious, `window.pymlDigits` holds the state: `input` (64 counts), `probabilities`,
 * `prediction`, `backend`, `loadMs`, `canTrain`; `await window.pymlDigits.idle()` waits for predictions to settle.
 *
 * "Teach it your handwriting" (teach.js, imported on the first example kept): the user keeps drawings as
 * examples of a digit and fine-tunes the model on them in the page. Its hooks drive the same code as the buttons:
 * `await pymlDigits.teach(digit, strokes)` keeps strokes (lists of [x, y] in 0..1 of the pad) as an example
 * and resolves to their 64 counts; `await pymlDigits.fineTune({epochs, batchSize})` resolves to
 * `{before, after, losses}`; `pymlDigits.teaching` is the panel's state (examples, before, after, losses).
 */
import { loadModel } from './model/runtime/index.js';

const GRID = 8;
const BITMAP = 32;
const BLOCK = BITMAP / GRID;
const PIXEL_MAX = 16;
const PEN = 5.5; // pen width in the 32x32 bitmap: gives about the ink of a dataset digit (~20 full blocks)
const PAD_PEN = 22; // visible pen width on the 280x280 pad
const MIN_EXTENT = 40; // pad pixels: a tiny mark is not blown up to fill the bitmap

const pad = document.getElementById('pad');
const padContext = pad.getContext('2d');
const bitmap = document.createElement('canvas');
bitmap.width = bitmap.height = BITMAP;
const bitmapContext = bitmap.getContext('2d', { willReadFrequently: true });
const preview = document.getElementById('preview');
const previewContext = preview.getContext('2d');
const predictionView = document.getElementById('prediction');
const confidenceView = document.getElementById('confidence');
const statusView = document.getElementById('status');
const sampleButton = document.getElementById('sample');
const keepButtons = buildKeepButtons(document.querySelector('#teach .keep'));

const state = {
  ready: false, backend: null, loadMs: null, error: null,
  input: new Array(GRID * GRID).fill(0), probabilities: [], prediction: null, predictions: 0,
  sample: null, idle, canTrain: false, training: false, teaching: null,
  teach: teachStrokes, fineTune: async (options) => (await teacher()).fineTune(options),
};
window.pymlDigits = state;

let model = null;
let strokes = []; // each stroke: a list of {x, y} in pad pixels
let drawing = false;
let dirty = false;
let busy = false;
let samples = [];
let nextSample = 0;
let idleWaiters = [];
let predicting = null; // the running predictSoon loop, awaited before training takes the model
let teacherLoading = null;

const bars = buildBars(document.getElementById('bars'));

// ---- drawing --------------------------------------------------------------------------------------
function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return { x: (event.clientX - rect.left) * (pad.width / rect.width), y: (event.clientY - rect.top) * (pad.height / rect.height) };
}

pad.addEventListener('pointerdown', (event) => {
  if (event.pointerType === 'mouse' && event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  if (state.sample) clear();
  drawing = true;
  strokes.push([padPoint(event)]);
  changed();
});

pad.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  const stroke = strokes[strokes.length - 1];
  for (const e of events.length ? events : [event]) stroke.push(padPoint(e));
  changed();
});

for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  pad.addEventListener(type, () => { drawing = false; });
}

pad.addEventListener('keydown', (event) => {
  if (['Escape', 'Delete', 'Backspace'].includes(event.key)) { event.preventDefault(); clear(); }
  if (/^[0-9]$/.test(event.key) && !keepButtons[0].disabled) { event.preventDefault(); keep(Number(event.key)); }
});
document.getElementById('clear').addEventListener('click', clear);
sampleButton.addEventListener('click', showSample);

function clear() {
  strokes = [];
  state.sample = null;
  changed();
}

function changed() {
  drawPad();
  dirty = true;
  predictSoon();
}

function drawPad() {
  padContext.fillStyle = '#000';
  padContext.fillRect(0, 0, pad.width, pad.height);
  if (state.sample) {
    const cell = pad.width / GRID;
    state.sample.pixels.forEach((v, i) => {
      const level = Math.round((255 * v) / PIXEL_MAX);
      padContext.fillStyle = `rgb(${level}, ${level}, ${level})`;
      padContext.fillRect((i % GRID) * cell, Math.floor(i / GRID) * cell, cell, cell);
    });
    return;
  }
  drawStrokes(padContext, strokes, PAD_PEN, '#fff');
}

function drawStrokes(context, lines, width, color) {
  context.strokeStyle = context.fillStyle = color;
  context.lineWidth = width;
  context.lineCap = context.lineJoin = 'round';
  for (const line of lines) {
    if (line.length === 1) { // a dot: zero-length paths are not stroked
      context.beginPath();
      context.arc(line[0].x, line[0].y, width / 2, 0, 2 * Math.PI);
      context.fill();
      continue;
    }
    context.beginPath();
    context.moveTo(line[0].x, line[0].y);
    for (const p of line.slice(1)) context.lineTo(p.x, p.y);
    context.stroke();
  }
}

/** The drawing as load_digits pixels: 64 counts 0..16, row-major. */
function drawingToPixels(lines) {
  const points = lines.flat();
  if (!points.length) return new Array(GRID * GRID).fill(0);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const scale = (BITMAP - PEN) / Math.max(right - left, bottom - top, MIN_EXTENT);
  const dx = BITMAP / 2 - ((left + right) / 2) * scale;
  const dy = BITMAP / 2 - ((top + bottom) / 2) * scale;
  const fitted = lines.map((line) => line.map((p) => ({ x: p.x * scale + dx, y: p.y * scale + dy })));
  bitmapContext.clearRect(0, 0, BITMAP, BITMAP);
  drawStrokes(bitmapContext, fitted, PEN, '#000');
  const alpha = bitmapContext.getImageData(0, 0, BITMAP, BITMAP).data;
  const pixels = new Array(GRID * GRID).fill(0);
  for (let y = 0; y < BITMAP; y++) {
    for (let x = 0; x < BITMAP; x++) {
      pixels[Math.floor(y / BLOCK) * GRID + Math.floor(x / BLOCK)] += alpha[(y * BITMAP + x) * 4 + 3] / 255;
    }
  }
  return pixels.map((v) => Math.min(PIXEL_MAX, Math.round(v)));
}

// ---- predicting -------------------------------------------------------------------------------------
/** Run predictions until the drawing stops changing; at most one is in flight, so input never queues up. */
function predictSoon() {
  if (busy || !model || state.training) return;
  busy = true;
  predicting = predictLoop();
}

async function predictLoop() {
  try {
    while (dirty && !state.training) {
      dirty = false;
      const pixels = state.sample ? state.sample.pixels : drawingToPixels(strokes);
      state.input = pixels;
      drawPreview(pixels);
      if (pixels.every((v) => v === 0)) { showProbabilities(null); continue; }
      const input = Float32Array.from(pixels, (v) => v / PIXEL_MAX);
      const { data } = await model.predict(input, [1, GRID * GRID]);
      showProbabilities(Array.from(data));
    }
  } catch (error) {
    dirty = false;
    fail('Prediction failed', error);
  } finally {
    busy = false;
    if (!dirty) { idleWaiters.forEach((resolve) => resolve()); idleWaiters = []; }
  }
}

/** Resolves when no prediction is running and none is pending. */
function idle() {
  if (!busy && (!dirty || !model)) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

/** Run `work` (training, saving, resetting) with live predictions paused, then predict the drawing again. */
async function exclusive(work) {
  if (state.training) throw new Error('the model is busy training');
  state.training = true;
  try {
    await predicting;
    return await work();
  } finally {
    state.training = false;
    dirty = true;
    predictSoon();
  }
}

// ---- teaching ---------------------------------------------------------------------------------------------
function buildKeepButtons(group) {
  return Array.from({ length: 10 }, (_, digit) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.digit = String(digit);
    button.innerHTML = '<span class="digit"></span><span class="count">0</span>';
    button.querySelector('.digit').textContent = String(digit);
    button.setAttribute('aria-label', `${digit} (0 kept)`);
    button.disabled = true;
    button.addEventListener('click', () => keep(digit));
    group.append(button);
    return button;
  });
}

/** The teaching panel's code, imported on first use. */
function teacher() {
  teacherLoading ||= import('./teach.js').then(({ Teacher }) => {
    const loaded = new Teacher(model, { exclusive });
    state.teaching = loaded.state;
    return loaded;
  });
  return teacherLoading;
}

/** Keep the pad's drawing (or test digit) as an example of `digit`, then clear the pad for the next one. */
async function keep(digit) {
  await idle();
  const pixels = state.input;
  if (pixels.every((v) => v === 0)) {
    document.getElementById('teach-summary').textContent = `Draw a ${digit} on the pad first, then press ${digit}.`;
    return null;
  }
  (await teacher()).add(digit, pixels);
  clear();
  pad.focus();
  return pixels;
}

/** Test hook: keep `lines` (lists of [x, y] in 0..1 of the pad) as an example of `digit`; resolves to its pixels. */
async function teachStrokes(digit, lines) {
  const pixels = drawingToPixels(lines.map((line) => line.map(([x, y]) => ({ x: x * pad.width, y: y * pad.height }))));
  (await teacher()).add(digit, pixels);
  return pixels;
}

function drawPreview(pixels) {
  const image = previewContext.createImageData(GRID, GRID);
  pixels.forEach((v, i) => {
    const level = Math.round((255 * v) / PIXEL_MAX);
    image.data.set([level, level, level, 255], i * 4);
  });
  previewContext.putImageData(image, 0, 0);
}

function buildBars(list) {
  return Array.from({ length: 10 }, (_, digit) => {
    const item = document.createElement('li');
    item.innerHTML = '<span class="digit"></span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="value"></span>';
    item.dataset.digit = String(digit);
    item.querySelector('.digit').textContent = String(digit);
    list.append(item);
    return { item, fill: item.querySelector('.fill'), value: item.querySelector('.value') };
  });
}

function showProbabilities(probabilities) {
  const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : null;
  bars.forEach(({ item, fill, value }, digit) => {
    const p = probabilities ? probabilities[digit] : 0;
    const percent = `${(100 * p).toFixed(1)}%`;
    fill.style.width = `${100 * p}%`;
    value.textContent = probabilities ? percent : '';
    item.dataset.probability = String(p);
    item.classList.toggle('top', digit === best);
    item.setAttribute('aria-label', `${digit}: ${probabilities ? percent : 'no prediction'}`);
  });
  predictionView.textContent = best === null ? '–' : String(best);
  predictionView.dataset.digit = best === null ? '' : String(best);
  confidenceView.textContent = best === null ? 'Draw something to begin.'
    : `${(100 * probabilities[best]).toFixed(1)}% sure` + (state.sample ? ` · the test digit's label is ${state.sample.label}` : '');
  state.probabilities = probabilities || [];
  state.prediction = best;
  if (probabilities) state.predictions += 1;
}

// ---- test digits from the dataset ----------------------------------------------------------------------
function showSample() {
  if (!samples.length) return;
  state.sample = samples[nextSample];
  nextSample = (nextSample + 1) % samples.length;
  strokes = [];
  changed();
}

async function loadSamples() {
  try {
    const response = await fetch('samples.json');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    samples = (await response.json()).samples;
  } catch {
    sampleButton.disabled = true;
    sampleButton.title = 'samples.json is missing: build the demo with `pyml demo digits`';
  }
}

// ---- start --------------------------------------------------------------------------------------------
function fail(what, error) {
  state.error = `${what}: ${error.message}`;
  statusView.textContent = state.error + (location.protocol === 'file:' ? ' (serve this folder over HTTP: pyml serve DIR)' : '');
  statusView.classList.add('error');
}

async function start() {
  drawPad();
  drawPreview(state.input);
  showProbabilities(null);
  const backend = new URLSearchParams(location.search).get('backend') || 'auto';
  const started = performance.now();
  try {
    [model] = await Promise.all([loadModel('model/model.json', { backend }), loadSamples()]);
  } catch (error) {
    fail('Could not load the model', error);
    return;
  }
  state.loadMs = Math.round(performance.now() - started);
  state.backend = model.info.backend;
  const adapter = model.info.adapter && model.info.adapter.description ? ` (${model.info.adapter.description})` : '';
  const where = { webgpu: `WebGPU${adapter}`, wasm: 'the CPU (WebAssembly SIMD)', js: 'the CPU (plain JavaScript)' };
  statusView.textContent = `Model loaded in ${state.loadMs} ms · running on ${where[state.backend]}`;
  statusView.title = model.info.reason; // why this backend: e.g. a software WebGPU adapter runs slower than the CPU
  state.canTrain = model.canTrain === true;
  if (state.canTrain) keepButtons.forEach((button) => { button.disabled = false; });
  else {
    document.getElementById('teach-summary').textContent = 'This model was exported without a training step '
      + '(webexport.export(..., train=...)), so it cannot learn in this page.';
  }
  state.ready = true;
  predictSoon();
}

start();

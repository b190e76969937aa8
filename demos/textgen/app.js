/**
 * The textgen demo page: a prompt, and a character-level LSTM that continues it in the page, one character
 * at a time, drawing each from its softmax at the chosen temperature with a seeded random generator.
 *
 * The pyml runtime does the work in three calls (import, loadModel, then tokenize and predict per character):
 *
 *   import { loadModel } from './model/runtime/index.js';
 *   const model = await loadModel('model/model.json');
 *   const { data: ids } = await model.tokenize(['def ']);        // the ids Python's TextVectorization gives
 *   const { data } = await model.predict(ids, [1, T]);           // [1, T, V]: next-character probabilities
 *
 * The model (demos/textgen/train.py) reads a window of T characters and predicts, at each position, the
 * character after it; it is causal, so position k sees characters 0..k only. Each step feeds the last T
 * characters of the text; tokenize pads a shorter text on the right, and we read the output at its last
 * character, which never sees the padding. The bundle's model.json holds T and the vocabulary (ids 0 and 1
 * are padding and [UNK], never drawn).
 *
 * For tests and the curious, `window.pymlTextgen` holds the state: `backend`, `reason`, `loadMs`,
 * `vocabulary`, `sequenceLength`, `generated` (the characters drawn so far), `input` (the last ids fed),
 * `probabilities` (the model's last softmax), `msPerChar`; `await window.pymlTextgen.idle()` waits for the
 * generation to end.
 */
import { loadModel } from './model/runtime/index.js';

const SPECIAL_IDS = 2; // 0: padding, 1: [UNK]
const MIN_TEMPERATURE = 0.01; // below it, sampling is argmax (temperature 0 is the limit of sharpening)
const BARS = 8;
const VISIBLE = { ' ': '␣', '\n': '↵', '\t': '⇥' };

const promptView = document.getElementById('prompt');
const temperatureInput = document.getElementById('temperature');
const temperatureView = document.getElementById('temperature-value');
const lengthInput = document.getElementById('length');
const lengthView = document.getElementById('length-value');
const seedInput = document.getElementById('seed');
const generateButton = document.getElementById('generate');
const givenView = document.getElementById('text-prompt');
const generatedView = document.getElementById('text-generated');
const textView = document.getElementById('text');
const statsView = document.getElementById('stats');
const statusView = document.getElementById('status');
const reasonView = document.getElementById('reason');

const state = {
  ready: false, backend: null, reason: null, loadMs: null, error: null, vocabulary: [], sequenceLength: null,
  running: false, generated: '', input: [], probabilities: [], msPerChar: null, idle,
};
window.pymlTextgen = state;

let model = null;
let stopping = false;
let idleWaiters = [];
const bars = buildBars(document.getElementById('bars'));

// ---- settings -------------------------------------------------------------------------------------
function showSettings() {
  temperatureView.textContent = Number(temperatureInput.value).toFixed(2);
  lengthView.textContent = lengthInput.value;
}
temperatureInput.addEventListener('input', showSettings);
lengthInput.addEventListener('input', showSettings);
generateButton.addEventListener('click', () => (state.running ? stop() : generate()));
promptView.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); if (!state.running) generate(); }
});

// ---- generating -------------------------------------------------------------------------------------
/** Continue the prompt, character by character, until the length is reached or Stop is pressed. */
async function generate() {
  if (!model || state.running) return;
  const prompt = promptView.value;
  const length = Number(lengthInput.value);
  const temperature = Number(temperatureInput.value);
  const random = mulberry32(Number(seedInput.value) >>> 0);
  state.running = true;
  stopping = false;
  state.generated = '';
  state.msPerChar = null;
  generateButton.textContent = 'Stop';
  givenView.textContent = prompt;
  generatedView.textContent = '';
  let text = prompt || '\n';
  let totalMs = 0;
  try {
    for (let step = 0; step < length && !stopping; step++) {
      const started = performance.now();
      const probabilities = await nextProbabilities(text);
      const id = pick(probabilities, temperature, random);
      totalMs += performance.now() - started;
      const char = state.vocabulary[id];
      text += char;
      state.generated += char;
      state.msPerChar = totalMs / (step + 1);
      generatedView.textContent = state.generated;
      textView.scrollTop = textView.scrollHeight;
      showBars(probabilities, id);
      statsView.textContent = `${Array.from(state.generated).length} characters · ` +
        `${state.msPerChar.toFixed(1)} ms per character on ${state.backend}`;
    }
  } catch (error) {
    fail('Generation failed', error);
  } finally {
    state.running = false;
    generateButton.textContent = 'Generate';
    idleWaiters.forEach((resolve) => resolve());
    idleWaiters = [];
  }
}

function stop() { stopping = true; }

/** Resolves when no generation is running. */
function idle() {
  if (!state.running) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

/** The model's softmax over the character after `text` (non-empty): its last T characters in, padded on the right. */
async function nextProbabilities(text) {
  const T = state.sequenceLength;
  const context = Array.from(text).slice(-T); // code points, as Python's str slicing and split="character"
  const { data: ids } = await model.tokenize([context.join('')]);
  const { data } = await model.predict(ids, [1, T]);
  const V = state.vocabulary.length;
  const last = context.length - 1;
  state.input = Array.from(ids);
  state.probabilities = Array.from(data.subarray(last * V, (last + 1) * V));
  return state.probabilities;
}

/**
 * The next id: the likeliest at temperature ~0, else drawn with weights p^(1/temperature) (the softmax of
 * logits / temperature), in float64. Ties go to the lowest id, like numpy's argmax in train.py's `generate`.
 */
function pick(probabilities, temperature, random) {
  let best = SPECIAL_IDS;
  for (let i = SPECIAL_IDS + 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[best]) best = i;
  if (temperature < MIN_TEMPERATURE) return best;
  const top = Math.log(probabilities[best]);
  const weights = probabilities.map((p, i) => (i < SPECIAL_IDS ? 0 : Math.exp((Math.log(Math.max(p, 1e-30)) - top) / temperature)));
  let r = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = SPECIAL_IDS; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return best; // rounding left r ≥ 0 after the last weight
}

/** A small seeded generator (mulberry32): the same seed and settings give the same text on every backend. */
function mulberry32(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the next-character chart -------------------------------------------------------------------------
function buildBars(list) {
  return Array.from({ length: BARS }, () => {
    const item = document.createElement('li');
    item.innerHTML = '<span class="char"></span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="value"></span>';
    list.append(item);
    return { item, char: item.querySelector('.char'), fill: item.querySelector('.fill'), value: item.querySelector('.value') };
  });
}

function showBars(probabilities, chosen) {
  const ids = probabilities.map((_, i) => i).filter((i) => i >= SPECIAL_IDS)
    .sort((a, b) => probabilities[b] - probabilities[a]).slice(0, BARS);
  bars.forEach(({ item, char, fill, value }, rank) => {
    const id = ids[rank];
    const p = probabilities[id];
    const shown = VISIBLE[state.vocabulary[id]] || state.vocabulary[id];
    char.textContent = shown;
    fill.style.width = `${100 * p}%`;
    value.textContent = `${(100 * p).toFixed(1)}%`;
    item.dataset.id = String(id);
    item.classList.toggle('top', id === chosen);
    item.setAttribute('aria-label', `${shown}: ${value.textContent}`);
  });
}

// ---- start --------------------------------------------------------------------------------------------
function fail(what, error) {
  state.error = `${what}: ${error.message}`;
  statusView.textContent = state.error + (location.protocol === 'file:' ? ' (serve this folder over HTTP: pyml serve DIR)' : '');
  statusView.classList.add('error');
}

/** The text input's vocabulary and window length, from the bundle's model.json (docs/internals.md §6). */
async function loadTextSpec() {
  const response = await fetch('model/model.json');
  if (!response.ok) throw new Error(`model/model.json: HTTP ${response.status}`);
  const { text } = (await response.json()).inputs[0];
  if (!text || text.split !== 'character') throw new Error('model/model.json: the model does not read characters');
  return text;
}

async function start() {
  showSettings();
  const backend = new URLSearchParams(location.search).get('backend') || 'auto';
  const started = performance.now();
  let text;
  try {
    [model, text] = await Promise.all([loadModel('model/model.json', { backend }), loadTextSpec()]);
  } catch (error) {
    fail('Could not load the model', error);
    return;
  }
  state.loadMs = Math.round(performance.now() - started);
  state.vocabulary = text.vocabulary;
  state.sequenceLength = text.output_sequence_length;
  state.backend = model.info.backend;
  state.reason = model.info.reason;
  const adapter = model.info.adapter && model.info.adapter.description ? ` (${model.info.adapter.description})` : '';
  const where = { webgpu: `WebGPU${adapter}`, wasm: 'the CPU (WebAssembly SIMD)', js: 'the CPU (plain JavaScript)' };
  statusView.textContent = `Model loaded in ${state.loadMs} ms · running on ${where[state.backend]} · ` +
    `${state.vocabulary.length - SPECIAL_IDS} characters, a window of ${state.sequenceLength}`;
  reasonView.textContent = `Why this backend: ${state.reason}`; // e.g. a software WebGPU adapter runs slower than the CPU
  state.ready = true;
  generateButton.disabled = false;
}

start();

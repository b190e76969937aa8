/**
 * The page of a pyml app (written by `pyml export MODEL OUT --app`): it loads model/model.json and runs the model
 * on what the form holds, one field per model input.
 *
 * A number input takes its values in row-major order, separated by spaces, commas or new lines: one sample, or
 * several for a model that takes any batch size. A text input takes one string per line. `?backend=webgpu`
 * (`wasm`, `js`, `cpu`) picks the backend; by default `auto`.
 *
 * `window.pymlApp` holds the state for tests and the curious: `ready`, `error`, `backend`, `runs` (predictions
 * made) and `outputs` (`{name: {data: number[], shape}}` of the last one).
 *
 * @example
 *   // the model runs on a form's values as any page runs it:
 *   const model = await loadModel("model/model.json");
 *   const outputs = await model.run({ image: { data: new Float32Array(64), shape: [1, 64] } });
 */
import { loadModel } from "./model/runtime/index.js";

const TYPED = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };
const state = { ready: false, error: null, backend: null, runs: 0, outputs: null };
window.pymlApp = state;

const form = document.getElementById("form");
const button = document.getElementById("predict");
const statusView = document.getElementById("status");
const outputsView = document.getElementById("outputs");
let model = null;
let fields = [];

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!model) return;
  try {
    await predict();
    state.error = null;
    statusView.classList.remove("error");
    statusView.textContent = `Ran on ${state.backend}.`;
  } catch (error) {
    fail("Prediction failed", error);
  }
});

async function start() {
  const backend = new URLSearchParams(location.search).get("backend") || "auto";
  try {
    model = await loadModel("model/model.json", { backend });
  } catch (error) {
    fail("Could not load the model", error);
    return;
  }
  fields = model.info.inputs.map(addField);
  state.backend = model.info.backend;
  state.ready = true;
  button.disabled = false;
  statusView.textContent = `Model loaded · running on ${state.backend} (${model.info.reason})`;
}

function addField(input, index) {
  const id = `input-${index}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  const sample = input.shape.slice(1);
  label.textContent = input.text ? `${input.name}: one text per line`
    : `${input.name}: ${input.dtype}, ${sample.reduce((a, b) => a * b, 1)} values a sample ` +
      `(shape ${sample.join("×") || "scalar"})`;
  const field = document.createElement("textarea");
  field.id = id;
  field.name = input.name;
  field.rows = input.text ? 3 : Math.min(8, Math.max(2, sample[0] || 1));
  field.value = input.text ? "hello" : defaultValues(sample);
  document.getElementById("inputs").append(label, field);
  return field;
}

/** Zeros, one line per row of the sample's first axis, for the user to replace. */
function defaultValues(sample) {
  const rows = sample.length > 1 ? sample[0] : 1;
  const perRow = sample.slice(sample.length > 1 ? 1 : 0).reduce((a, b) => a * b, 1);
  return Array.from({ length: rows }, () => new Array(perRow).fill("0").join(" ")).join("\n");
}

async function predict() {
  const inputs = {};
  for (const [index, input] of model.info.inputs.entries()) {
    const text = fields[index].value;
    inputs[input.name] = input.text ? await model.tokenize(text.split("\n").filter((line) => line.length), index)
      : numbers(input, text);
  }
  const outputs = await model.run(inputs);
  state.outputs = Object.fromEntries(Object.entries(outputs).map(
    ([name, { data, shape }]) => [name, { data: Array.from(data), shape }]));
  state.runs += 1;
  outputsView.replaceChildren(...Object.entries(state.outputs).map(([name, { data, shape }]) => {
    const block = document.createElement("pre");
    block.textContent = `${name} (shape ${shape.join("×")}):\n${data.map((v) => Number(v.toPrecision(6))).join(" ")}`;
    return block;
  }));
}

/** A number field's values as `{data, shape}` for `model.run`; the batch is what the count of values makes. */
function numbers(input, text) {
  const words = text.split(/[\s,]+/).filter(Boolean);
  const bad = words.find((word) => Number.isNaN(Number(word)));
  if (bad !== undefined) throw new Error(`${input.name}: ${JSON.stringify(bad)} is not a number`);
  const sample = input.shape.slice(1);
  const size = sample.reduce((a, b) => a * b, 1);
  const batch = words.length / size;
  if (!Number.isInteger(batch) || batch < 1 || (input.shape[0] !== null && batch !== input.shape[0])) {
    throw new Error(`${input.name}: ${words.length} values do not make ${input.shape[0] ?? "whole"} samples of ` +
      `${size} (shape ${sample.join("×")})`);
  }
  return { data: TYPED[input.dtype].from(words, Number), shape: [batch, ...sample] };
}

function fail(what, error) {
  state.error = `${what}: ${error.message}`;
  statusView.textContent = state.error;
  statusView.classList.add("error");
}

start();

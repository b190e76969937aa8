// Types for pyml-runtime (web/src/index.js). Mirrors its exports exactly; the manifest schema is
// documented in docs/internals.md §6.

/** A value dtype in a bundle. bool is stored as 0/1 (Uint8Array on the CPU, u32 on the GPU). */
export type DType = "float32" | "int32" | "bool";

/** Typed array a dtype is stored in: float32 → Float32Array, int32 → Int32Array, bool → Uint8Array. */
export type StorageArray = Float32Array | Int32Array | Uint8Array;

/** A shape as declared in a bundle; `null` at axis 0 is the dynamic batch. */
export type DeclaredShape = Array<number | null>;

export interface ValueSpec {
  /**
   * The input's or output's name: the model's `Input(name=...)`, or the layer that makes the output (Keras 3's
   * `model.output_names`); from format 4 on no longer the graph value it is (`graph.inputs[i]`), before it that value.
   */
  name: string;
  shape: DeclaredShape;
  dtype: DType;
  /** A text input: how strings become this input's values. */
  text?: TextSpec;
  /** A sequence input that takes 1 to `shape[1]` steps: the runtime right-pads it along `axis` with `value`. */
  pad?: { axis: 1; value: number };
}

/** A concrete value: row-major data with its shape. */
export interface TensorValue {
  data: StorageArray;
  shape: number[];
  dtype: DType;
}

/** What `predict`/`run` accept for one input: a typed or flat array (plus a shape), nested arrays, or `{data, shape}`. */
export type NestedArray = Array<number | boolean | NestedArray>;
export type InputValue =
  | Float32Array | Int32Array | Uint8Array | Float64Array | number[] | boolean[] | NestedArray
  | { data: ArrayLike<number | boolean>; shape?: number[] };

/** Strings for a text input (`ValueSpec.text`): shaped [batch] or [batch, n]; one string is a batch of one. */
export type TextValue = string | string[] | string[][];

/** How a text input turns strings into the ids its graph takes (docs/internals.md §6, `inputs[i].text`). */
export interface TextSpec {
  standardize: "lower_and_strip_punctuation" | "lower" | "strip_punctuation" | null;
  split: "whitespace" | "character" | null;
  ngrams: number[] | null;
  output_mode: "int" | "multi_hot" | "count" | "tf_idf";
  output_sequence_length: number | null;
  vocabulary: string[];
  token_start: number;
  mask_token: string | null;
  oov_index: number | null;
  depth: number | null;
  idf_weights: number[] | null;
  input_shape: DeclaredShape;
}

export interface ProgressEvent {
  stage: "weights" | "compile" | "ready";
  loaded: number;
  total: number;
}

export interface LoadOptions {
  /**
   * "auto" (default): WebGPU on a hardware adapter; the CPU without an adapter or on a software one
   * (a fallback adapter, SwiftShader, lavapipe, llvmpipe). "cpu": WebAssembly SIMD where the browser has it
   * and the bundle a CPU program, else plain JavaScript. "wasm" / "js" force one of those (no fallback).
   */
  backend?: "auto" | "webgpu" | "cpu" | "wasm" | "js";
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Run the model in a dedicated module Web Worker (`worker.js`), off the main thread: `true` starts one the model
   * owns (`dispose` terminates it), a `ModelWorker` from `createWorker` shares that one. Default: the page's thread.
   */
  worker?: boolean | ModelWorker;
}

/**
 * A Web Worker running the pyml runtime, shared by the models loaded with `{ worker }` (from `createWorker`).
 * @example
 *   const worker = await createWorker();
 *   const a = await loadModel("a/model.json", { worker });
 *   const b = await loadModel("b/model.json", { worker });
 *   worker.terminate();   // a's and b's pending and later calls reject
 */
export interface ModelWorker {
  /** True once `terminate` was called, or the worker failed. */
  readonly terminated: boolean;
  /** End the worker and every model in it; their pending and later calls reject. */
  terminate(): void;
}

/**
 * A model running in a Web Worker (`loadModel(url, { worker })`, `loadModelInWorker`): `Model`'s API, each call
 * answered by the worker. A typed-array input that spans its whole ArrayBuffer is transferred, not copied: it is
 * detached (`byteLength` 0) once the call is made (pass `x.slice()` to keep `x`). A view on part of a buffer is
 * copied, a SharedArrayBuffer shared. Outputs come back transferred, each in a buffer of its own. Errors keep
 * their `name` and `message`. `dispose` frees the model once the calls already made end, and terminates a worker
 * the model owns.
 * @example
 *   const model = await loadModel("model/model.json", { worker: true });
 *   const x = new Float32Array(256 * 784);
 *   const { data, shape } = await model.predict(x, [256, 28, 28, 1]);   // x.byteLength === 0 now
 *   model.dispose();
 */
export type WorkerModel = Pick<Model, "info" | "predict" | "run" | "tokenize" | "dispose">;

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
}

export interface ModelInfo {
  /** What runs the model: the WebGPU kernels, the WebAssembly SIMD CPU program, or the plain-JS kernels. */
  readonly backend: "webgpu" | "wasm" | "js";
  /** Why that backend, e.g. "the WebGPU adapter (google / swiftshader) is a fallback adapter, ...". */
  readonly reason: string;
  /** The WebGPU adapter, or null on the CPU backends. */
  readonly adapter: Readonly<AdapterInfo> | null;
  readonly inputs: ValueSpec[];
  readonly outputs: ValueSpec[];
  readonly format_version: number;
  readonly producer: string;
}

/** A loaded model (from `loadModel`). */
export class Model {
  private constructor(manifest: Manifest, state: unknown);
  readonly info: ModelInfo;
  /** Run a single-input, single-output model; a text input also takes strings. */
  predict(input: InputValue | TextValue, shape?: number[]): Promise<TensorValue>;
  /**
   * Run the model on one value per input: an array in `info.inputs` order resolves to an array in `info.outputs`
   * order; an object keyed by input name resolves to an object keyed by output name. A missing or unknown name
   * rejects, listing the model's input names.
   * @example
   *   const [probs, score] = await model.run([pixels, meta]);
   *   const { probs, score } = await model.run({ image: pixels, meta });
   */
  run(inputs: Array<InputValue | TextValue>): Promise<TensorValue[]>;
  run(inputs: Record<string, InputValue | TextValue>): Promise<Record<string, TensorValue>>;
  /** Text to the ids (or vectors) a text input's graph takes, as the Python layer computes them. */
  tokenize(strings: TextValue, input?: number): Promise<TensorValue>;
  /** Whether the bundle was exported with `train=` (webexport.export), so the training methods below work. */
  readonly canTrain: boolean;
  /**
   * One optimizer step on one batch (on this model's backend); resolves to the batch's loss before the step.
   * `predict` then uses the new weights. The first training call fetches runtime/train.js and train.bin.
   * @example
   *   const loss = await model.trainStep({ data: pixels, shape: [8, 28, 28, 1] }, labels);   // labels: 8 class ids
   */
  trainStep(x: InputValue, y: InputValue): Promise<number>;
  /**
   * Train over (x, y) for `epochs` in batches of `batchSize` (the last batch of an epoch may be smaller), as
   * pyml's `fit`; `history.loss` is each epoch's mean loss over its examples.
   * @example
   *   const { history } = await model.fit(x, y, { epochs: 5, batchSize: 16, onBatchEnd: (b, { loss }) => show(loss) });
   */
  fit(x: InputValue, y: InputValue, options?: FitOptions): Promise<{ history: { loss: number[] } }>;
  /**
   * The mean loss over (x, y) of the inference model (Dropout off, BatchNormalization's moving statistics).
   * @example
   *   const { loss } = await model.evaluate(x, y, { batchSize: 32 });
   */
  evaluate(x: InputValue, y: InputValue, options?: { batchSize?: number }): Promise<{ loss: number }>;
  /**
   * The weights as safetensors bytes keyed like pyml's `save_weights`, so `model.load_weights(path)` reads them.
   * @example
   *   const blob = new Blob([await model.saveWeights()]);   // save as "tuned.weights.safetensors"
   */
  saveWeights(): Promise<Uint8Array>;
  /**
   * Back to the exported weights and a fresh optimizer (step 0).
   * @example
   *   await model.resetWeights();
   */
  resetWeights(): Promise<void>;
  /** Free GPU buffers and the device; later runs reject. Runs also reject once the WebGPU device is lost: load again. */
  dispose(): void;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  /** Shuffle the examples before each epoch (default true; Math.random). */
  shuffle?: boolean;
  onBatchEnd?: (batch: number, logs: { loss: number }) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs: { loss: number }) => void | Promise<void>;
}

/**
 * Fetch, verify and prepare a bundle; with `worker`, in a Web Worker (a `WorkerModel`).
 * @example
 *   const model = await loadModel("model/model.json");
 *   const { data, shape } = await model.predict([[0.1, 0.2, 0.3, 0.4]]);
 */
export function loadModel(url: string | URL, options: LoadOptions & { worker: true | ModelWorker }): Promise<WorkerModel>;
export function loadModel(url: string | URL, options?: LoadOptions): Promise<Model>;
/**
 * `loadModel(url, { ...options, worker: options.worker ?? true })`: the model runs in a Web Worker.
 * @example
 *   const model = await loadModelInWorker("model/model.json", { backend: "cpu" });
 */
export function loadModelInWorker(url: string | URL, options?: LoadOptions): Promise<WorkerModel>;
/**
 * Start a Web Worker that several models share (`loadModel(url, { worker })`).
 * @example
 *   const worker = await createWorker();
 *   const model = await loadModel("model/model.json", { worker });
 */
export function createWorker(): Promise<ModelWorker>;

export const FORMAT: "pyml-bundle";
export const FORMAT_VERSION: number;

export interface GraphNode {
  name: string;
  op: "placeholder" | "constant" | "call";
  target: string | null;
  inputs: string[];
  attrs: Record<string, unknown>;
  shape: DeclaredShape;
  dtype: DType;
}

export interface Graph {
  version: number;
  inputs: string[];
  outputs: string[];
  nodes: GraphNode[];
}

export interface WeightEntry {
  name: string;
  label?: string;
  shape: number[];
  dtype: DType;
  /**
   * How the bytes hold the values (default: `dtype`). The CPU paths widen float16 and int8 to float32 at load;
   * on WebGPU a weight marked `packed` in `values` keeps its stored bytes and the kernels unpack them.
   */
  storage?: DType | "float16" | "int8";
  /** Offset in the concatenation of the weights files. */
  offset: number;
  byte_length: number;
  sha256: string;
}

export interface WeightsFile {
  file: string;
  byte_length: number;
  sha256: string;
}

/** Format 2 lists shard files; format 1 had one file (`file`, `byte_length`, `sha256`). */
export type WeightsTable =
  | { files: WeightsFile[]; entries: WeightEntry[]; accuracy?: { probe_inputs: number; max_abs_error: number | null; max_abs_output: number | null } }
  | (WeightsFile & { entries: WeightEntry[] });

/** model.json (docs/internals.md §6). */
export interface Manifest {
  format: "pyml-bundle";
  format_version: number;
  producer?: string;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  graph: Graph;
  weights: WeightsTable;
  buffers: Array<{ id: number; bytes_per_batch: number; bytes_fixed: number }>;
  /** Where each value lives: an activation slot, or a weight entry (`packed`: its GPU buffer holds the stored bytes). */
  values: Record<string, { buffer: number } | { weight: string; packed?: boolean }>;
  kernels: Array<{ id: number; wgsl: string; workgroup_size: number }>;
  steps: Array<{ kernel: number; label?: string; nodes?: string[]; inputs: string[]; outputs: string[]; threads: [number, number] }>;
  limits?: Record<string, number>;
  /** The CPU program of the wasm backend (docs/internals.md §6); a bundle without it runs on "js". */
  cpu?: CpuProgram;
  /** The training step (export(train=...)): a manifest of its own plus what ties it to the model (§6). */
  train?: TrainSection;
}

/** `manifest.train`: the step's program, its weights file (`train.bin`), and how to run it (docs/internals.md §6). */
export interface TrainSection extends Manifest {
  optimizer: { class: "SGD" | "Adam" | "AdamW"; learning_rate: number; beta_1?: number; beta_2?: number; weight_decay: number | null };
  loss: { name: string; from_logits: boolean };
  batch_inputs: [string, string];
  hyper: Array<"learning_rate" | "alpha" | "weight_decay">;
  host: Array<{ name: string; kind: "dropout"; rate: number }>;
  updates: Record<string, string>;
  initial: Record<string, string>;
  variables: Array<{ name: string; shape: number[]; dtype: DType; source: string; offset: number; weight: string | null }>;
  save_metadata: Record<string, string>;
}

/** One kernel call of the CPU program: `nodes` computed by `kernel`, reading `inputs`, storing `output`. */
export interface CpuStep {
  kernel: "matmul" | "conv" | "depthwise" | "max_pool" | "avg_pool" | "softmax" | "log_softmax" | "js";
  label?: string;
  nodes: string[];
  inputs: string[];
  output: string;
  /** matmul, conv, depthwise: the fused epilogue (bias, residual, clamp in registers, then the program). */
  bias?: string | null;
  residual?: string | null;
  clamp?: [number | null, number | null];
  program?: Array<[string, number, number, number, number | string]>;
}

export interface CpuProgram {
  steps: CpuStep[];
  buffers: Array<{ id: number; bytes_per_batch: number; bytes_fixed: number }>;
  values: Record<string, { buffer: number } | { weight: string }>;
}

export function fetchBundle(
  url: string | URL,
  options?: { knownOps?: Iterable<string>; onProgress?: (event: ProgressEvent) => void },
): Promise<{ manifest: Manifest; weights: ArrayBuffer; url: string }>;
export function fetchManifest(url: string | URL, options?: { knownOps?: Iterable<string> }): Promise<{ manifest: Manifest; url: string }>;
export function fetchWeights(
  manifest: Manifest,
  url: string | URL,
  options?: { onProgress?: (event: ProgressEvent) => void },
): Promise<ArrayBuffer>;
export function validateManifest(manifest: unknown, options?: { knownOps?: Iterable<string>; file?: string }): void;
export function verifyWeights(manifest: Manifest, shards: ArrayBuffer | ArrayBuffer[]): Promise<void>;
export function readWeights(manifest: Manifest, weights: ArrayBuffer): Record<string, TensorValue>;

export function computeDispatch(total: number, workgroupSize: number): [number, number];
/** The browser's GPUAdapter, or null when WebGPU or an adapter is missing. */
export function findAdapter(): Promise<object | null>;

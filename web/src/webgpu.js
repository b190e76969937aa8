/**
 * The WebGPU backend: device, pipelines, buffers, bind groups, dispatch and readback
 * (docs/internals.md §4 and §6; webexport/native.py is its Python mirror).
 *
 * All the work happens at load: pipelines are compiled in parallel, weights are uploaded once, and one run at
 * batch 1 warms every buffer, bind group and code path; for each batch size the activation slots and every
 * bind group are created once and cached. A run is one input upload, one command encoder with one compute pass,
 * one submit and one readback. Kernels for larger batches (`steps[].variants`) compile the first time a batch
 * wants them, and run once ready.
 * @module webgpu
 */
import { allocate, checkIndexRange, numel, resolveShape } from "./util.js";
import { decodeEntry } from "./weights.js";

const PARAMS_BYTES = 16; // struct Params { batch: u32, pad0: u32, pad1: u32, pad2: u32 }
const MAX_GROUPS = 65535; // maxComputeWorkgroupsPerDimension guaranteed by WebGPU
const CACHED_BATCH_SIZES = 4; // batch sizes whose buffers and bind groups stay allocated

/**
 * The browser's WebGPU adapter, or null when there is none (no navigator.gpu, or no adapter).
 * @returns {Promise<GPUAdapter|null>}
 * @example
 *   const backend = (await findAdapter()) ? "webgpu" : "cpu";
 */
export async function findAdapter() {
  return (await globalThis.navigator?.gpu?.requestAdapter({ powerPreference: "high-performance" })) ?? null;
}

/**
 * Get a device with the limits the bundle needs (`manifest.limits`), checked against the adapter first so
 * a missing limit fails with its name.
 * @param {object} manifest  a validated model.json
 * @param {GPUAdapter|null} adapter  from `findAdapter`
 * @returns {Promise<{device: GPUDevice, info: {vendor, architecture, description}}>}
 * @example
 *   const { device, info } = await requestGpuDevice(manifest, await findAdapter());
 */
export async function requestGpuDevice(manifest, adapter) {
  if (!globalThis.navigator?.gpu) {
    throw new Error("WebGPU is not available in this browser (navigator.gpu is undefined); use backend \"cpu\"");
  }
  if (!adapter) throw new Error("WebGPU: navigator.gpu.requestAdapter() returned null (no usable GPU adapter); use backend \"cpu\"");
  const raw = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
  const info = { vendor: raw.vendor || "", architecture: raw.architecture || "", description: raw.description || "" };
  const requiredLimits = {};
  for (const [name, needed] of Object.entries(manifest.limits || {})) {
    if (!(name in adapter.limits)) throw new Error(`model.json limits.${name}: not a WebGPU limit this browser knows`);
    const offered = adapter.limits[name];
    const lowerIsBetter = name.startsWith("min");
    if (lowerIsBetter ? offered > needed : offered < needed) {
      throw new Error(`model.json limits.${name}: this WebGPU adapter (${info.vendor} / ${info.architecture}) offers ` +
        `${offered}; the model needs ${needed}`);
    }
    requiredLimits[name] = needed;
  }
  // Ask for the adapter's largest buffers so big dynamic batches fit.
  for (const name of ["maxBufferSize", "maxStorageBufferBindingSize"]) {
    requiredLimits[name] = Math.max(requiredLimits[name] || 0, adapter.limits[name]);
  }
  const device = await adapter.requestDevice({ requiredLimits, label: "pyml" });
  return { device, info };
}

/**
 * Compile the kernel each step runs by default, in parallel (createComputePipelineAsync), each once (kernels
 * are deduplicated by WGSL source), with explicit layouts shared by binding count: binding 0 the params
 * uniform, then inputs (read-only), then outputs. `compile(id)` compiles another, e.g. a step's variant for
 * larger batches, which `runSteps` asks for the first time a batch wants it.
 * A WGSL error rejects naming the kernel and the step label, with the compiler's messages.
 * @returns {Promise<{pipelines: Map<number, {pipeline: GPUComputePipeline, workgroupSize: number}>,
 *   layouts: Map<string, GPUBindGroupLayout>, compile: (id: number) => Promise<void>}>}
 * @example
 *   const { pipelines, compile } = await createPipelines(device, manifest);
 *   await compile(manifest.steps[0].variants[0].kernel);   // now pipelines has it too
 */
export async function createPipelines(device, manifest) {
  const layouts = new Map();
  const pipelines = new Map();
  const stepOf = new Map(); // kernel id -> a step that runs it
  for (const s of manifest.steps) for (const p of [s, ...(s.variants || [])]) if (!stepOf.has(p.kernel)) stepOf.set(p.kernel, s);
  const started = new Map(); // kernel id -> its compilation
  const compile = (id) => {
    if (!started.has(id)) started.set(id, compileKernel(device, manifest, id, stepOf.get(id), layouts, pipelines));
    return started.get(id);
  };
  await Promise.all([...new Set(manifest.steps.map((s) => s.kernel))].map(compile));
  return { pipelines, layouts, compile };
}

async function compileKernel(device, manifest, id, step, layouts, pipelines) {
  const kernel = manifest.kernels.find((k) => k.id === id);
  const label = `kernel ${id} (${step.label || step.outputs.join(",")})`;
  const key = `${step.inputs.length}+${step.outputs.length}`;
  if (!layouts.has(key)) layouts.set(key, device.createBindGroupLayout({ label: key, entries: layoutEntries(step) }));
  const module = device.createShaderModule({ label, code: kernel.wgsl });
  try {
    pipelines.set(id, {
      pipeline: await device.createComputePipelineAsync({
        label, layout: device.createPipelineLayout({ label, bindGroupLayouts: [layouts.get(key)] }),
        compute: { module, entryPoint: "main" },
      }),
      workgroupSize: kernel.workgroup_size,
    });
  } catch (err) {
    const info = module.getCompilationInfo ? await module.getCompilationInfo() : { messages: [] };
    const notes = info.messages.map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`).join("\n");
    throw new Error(`${label}: WGSL failed to compile: ${err.message}${notes ? `\n${notes}` : ""}`);
  }
}

// What a step runs at `batch`: its last variant with min_batch <= batch that is compiled (as webexport/native.py's
// step_program, which compiles all at load), else its own kernel. A variant a batch wants starts compiling then;
// a failed compilation is reported by the next run.
function stepProgram(gpu, step, batch) {
  let ready = step;
  for (const v of step.variants || []) {
    if (v.min_batch > batch) break;
    if (gpu.pipelines.has(v.kernel)) ready = v;
    else gpu.compile(v.kernel).catch((err) => { gpu.failed = err; });
  }
  return ready;
}

function layoutEntries(step) {
  const visibility = GPUShaderStage.COMPUTE;
  return [
    { binding: 0, visibility, buffer: { type: "uniform" } },
    ...step.inputs.map((_, i) => ({ binding: 1 + i, visibility, buffer: { type: "read-only-storage" } })),
    ...step.outputs.map((_, i) => ({ binding: 1 + step.inputs.length + i, visibility, buffer: { type: "storage" } })),
  ];
}

/**
 * Upload every weight entry once into its own storage buffer: the stored bytes of a weight the kernels unpack
 * (`values[name].packed`, float16/int8; the buffer is exactly those bytes, rounded up to 4), else its values
 * widened to 4 bytes each (float16 and int8 storage to float32, bool to u32).
 * @param {object} manifest  a validated model.json
 * @param {ArrayBuffer} bytes  the weights files' bytes, concatenated (`fetchWeights`)
 * @returns {Map<string, GPUBuffer>}
 * @example
 *   const weightBuffers = uploadWeights(device, manifest, await fetchWeights(manifest, url));
 */
export function uploadWeights(device, manifest, bytes) {
  const packed = new Set(Object.values(manifest.values).filter((v) => v.packed).map((v) => v.weight));
  const buffers = new Map();
  for (const entry of manifest.weights.entries) {
    const raw = packed.has(entry.name);
    const data = raw ? new Uint8Array(bytes, entry.offset, entry.byte_length) : decodeEntry(bytes, entry);
    const buffer = device.createBuffer({
      label: `weight ${entry.name}`, size: raw ? Math.ceil(data.length / 4) * 4 : roundUp(data.length * 4),
      mappedAtCreation: true, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const View = raw ? Uint8Array : { float32: Float32Array, int32: Int32Array }[entry.dtype] ?? Uint32Array;
    new View(buffer.getMappedRange()).set(data);
    buffer.unmap();
    buffers.set(entry.name, buffer);
  }
  return buffers;
}

/**
 * Build everything a run needs on a device: pipelines, weight buffers and the params uniform. The pipelines
 * start compiling before `weights` (the concatenated weights files' bytes, or a promise of them) resolve.
 * Validation errors raised while creating them are caught by an error scope and rethrown with their message;
 * on any failure the device is destroyed.
 * @returns {Promise<object>}  the executor record that `runSteps` and `destroyGpu` take
 * @example
 *   const gpu = await createGpu(device, manifest, fetchWeights(manifest, url));
 */
export async function createGpu(device, manifest, weights) {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const pending = createPipelines(device, manifest).catch((err) => err);
  const uploaded = Promise.resolve(weights).then((w) => uploadWeights(device, manifest, w)).catch((err) => err);
  const params = device.createBuffer({ label: "params", size: PARAMS_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const [compiled, weightBuffers] = [await pending, await uploaded];
  const [validation, memory] = [await device.popErrorScope(), await device.popErrorScope()];
  const gpu = { device, manifest, params, batches: new Map(), batch: null, failed: null,
    weightBuffers: weightBuffers instanceof Error ? new Map() : weightBuffers,
    ...(compiled instanceof Error ? { pipelines: new Map() } : compiled) };
  const error = [weightBuffers, compiled].find((e) => e instanceof Error) || validation || memory;
  if (error) {
    destroyGpu(gpu);
    throw new Error(error instanceof Error ? error.message : `WebGPU error while loading the model: ${error.message}`);
  }
  // One run at batch 1 on zeros, so the first predict finds its buffers, bind groups and every code path
  // (driver and JS) warm: it then costs what a later one does.
  const zeros = manifest.inputs.map(({ shape, dtype }) => ({ data: allocate(dtype, numel(resolveShape(shape, 1))), dtype }));
  try {
    await runSteps(gpu, zeros, 1);
  } catch (err) {
    destroyGpu(gpu);
    throw err;
  }
  return gpu;
}

/**
 * Run every step for inputs of batch size `batch` and read the outputs back.
 * @param {object} gpu  from `createGpu`
 * @param {Array<{data, shape, dtype}>} inputs  one per manifest input, concrete shapes
 * @param {number} batch  the batch size (1 for fully static models)
 * @returns {Promise<Array<{data, shape, dtype}>>}  one per manifest output (bool as Uint8Array)
 * @example
 *   const [y] = await runSteps(gpu, [{ data: x, shape: [4, 64], dtype: "float32" }], 4);
 */
export async function runSteps(gpu, inputs, batch) {
  const { device, manifest } = gpu;
  if (gpu.failed) throw gpu.failed;
  const res = await batchResources(gpu, batch);
  device.pushErrorScope("validation");
  manifest.graph.inputs.forEach((name, i) => {
    const data = inputs[i].dtype === "bool" ? Uint32Array.from(inputs[i].data) : inputs[i].data;
    if (data.length) device.queue.writeBuffer(res.buffer(name), 0, data.buffer, data.byteOffset, data.byteLength);
  });
  if (gpu.batch !== batch) {
    device.queue.writeBuffer(gpu.params, 0, new Uint32Array([batch, 0, 0, 0]));
    gpu.batch = batch;
  }
  const encoder = device.createCommandEncoder({ label: `pyml predict (batch ${batch})` });
  encodeSteps(gpu, res, batch, encoder);
  for (const out of res.outputs) {
    if (out.bytes) encoder.copyBufferToBuffer(res.buffer(out.name), 0, res.staging, out.offset, out.bytes);
  }
  device.queue.submit([encoder.finish()]);
  const checked = device.popErrorScope();
  const outputs = readOutputs(res); // mapped while the error scope resolves: one wait, not two
  const error = await checked;
  if (error) {
    await outputs.catch(() => {});
    throw new Error(`WebGPU validation error while running the model: ${error.message}`);
  }
  return outputs;
}

/**
 * Record every step's dispatch at `batch` in one compute pass of `encoder` (the params uniform must hold `batch`).
 * @param {object} gpu  from `createGpu`
 * @param {object} res  `batchResources(gpu, batch)`
 * @example
 *   encodeSteps(gpu, await batchResources(gpu, 4), 4, device.createCommandEncoder());
 */
export function encodeSteps(gpu, res, batch, encoder) {
  const pass = encoder.beginComputePass({ label: "pyml steps" });
  gpu.manifest.steps.forEach((step, i) => {
    const program = stepProgram(gpu, step, batch);
    const total = program.threads[0] * batch + program.threads[1];
    if (!total) return;
    const { pipeline, workgroupSize } = gpu.pipelines.get(program.kernel);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, res.bindGroups[i]);
    pass.dispatchWorkgroups(...computeDispatch(total, workgroupSize));
  });
  pass.end();
}

/**
 * Map the staging buffer and copy each output out of it (u32 bools become a Uint8Array of 0/1).
 * @returns {Promise<Array<{data, shape, dtype}>>}
 * @example
 *   const outputs = await readOutputs(resources);
 */
export async function readOutputs(res) {
  await res.staging.mapAsync(GPUMapMode.READ);
  try {
    const range = res.staging.getMappedRange();
    return res.outputs.map(({ offset, count, shape, dtype }) => {
      const data = dtype === "float32" ? new Float32Array(range, offset, count).slice()
        : dtype === "int32" ? new Int32Array(range, offset, count).slice()
          : Uint8Array.from(new Uint32Array(range, offset, count), (v) => (v ? 1 : 0));
      return { data, shape, dtype };
    });
  } finally {
    res.staging.unmap();
  }
}

/**
 * Workgroup counts for `total` invocations: `ceil(total / workgroupSize)` groups, folded into
 * `(65535, ceil(groups / 65535))` past 65,535 (the kernels' `thread_index` unfolds it).
 * @example
 *   computeDispatch(100, 64);        // [2, 1]
 *   computeDispatch(64 * 70000, 64); // [65535, 2]
 */
export function computeDispatch(total, workgroupSize) {
  const groups = Math.max(1, Math.ceil(total / workgroupSize));
  return groups <= MAX_GROUPS ? [groups, 1] : [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS)];
}

/**
 * Release every buffer and the device (the device belongs to the model that created it).
 * @example
 *   destroyGpu(gpu);
 */
export function destroyGpu(gpu) {
  for (const res of gpu.batches.values()) destroyBatch(res);
  gpu.batches.clear();
  for (const buffer of gpu.weightBuffers.values()) buffer.destroy();
  gpu.params.destroy();
  gpu.device.destroy();
}

/**
 * The activation slots, staging buffer and bind groups for one batch size, created once and cached
 * (most recently used first; the oldest batch size's buffers are freed past CACHED_BATCH_SIZES).
 * @returns {Promise<{slots, staging, bindGroups, outputs, buffer: (name: string) => GPUBuffer}>}
 * @example
 *   const res = await batchResources(gpu, 8);   // res.buffer("x"): the slot input x is written to
 */
export async function batchResources(gpu, batch) {
  const cached = gpu.batches.get(batch);
  if (cached) {
    gpu.batches.delete(batch);
    gpu.batches.set(batch, cached);
    return cached;
  }
  const { device, manifest } = gpu;
  checkIndexRange(manifest.graph, batch);
  const maxBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const sizes = manifest.buffers.map((b) => roundUp(b.bytes_per_batch * batch + b.bytes_fixed));
  manifest.buffers.forEach((b, i) => {
    if (sizes[i] > maxBytes) {
      throw new Error(`batch ${batch} needs a ${sizes[i]}-byte buffer (buffers[id=${b.id}]); this device allows at most ` +
        `${maxBytes} bytes per binding: predict in smaller batches`);
    }
  });
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  const slots = new Map(manifest.buffers.map((b, i) => [b.id, device.createBuffer({
    label: `slot ${b.id} (batch ${batch})`, size: sizes[i],
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  })]));
  const buffer = (name) => {
    const v = manifest.values[name];
    return "buffer" in v ? slots.get(v.buffer) : gpu.weightBuffers.get(v.weight);
  };
  let offset = 0;
  const outputs = manifest.outputs.map(({ shape, dtype }, i) => {
    const name = manifest.graph.outputs[i];
    const concrete = shape.map((d) => (d === null ? batch : d));
    const count = numel(concrete);
    const out = { name, shape: concrete, dtype, count, offset, bytes: count * 4 };
    offset += out.bytes;
    return out;
  });
  const staging = device.createBuffer({ label: `outputs (batch ${batch})`, size: roundUp(offset),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bindGroups = manifest.steps.map((step, i) => device.createBindGroup({
    label: step.label || `step ${i}`,
    layout: gpu.layouts.get(`${step.inputs.length}+${step.outputs.length}`),
    entries: [gpu.params, ...[...step.inputs, ...step.outputs].map(buffer)]
      .map((b, binding) => ({ binding, resource: { buffer: b } })),
  }));
  const res = { slots, staging, bindGroups, outputs, buffer };
  const [validation, memory] = [await device.popErrorScope(), await device.popErrorScope()];
  if (validation || memory) {
    destroyBatch(res);
    throw new Error(`WebGPU error while allocating buffers for batch ${batch}: ${(validation || memory).message}`);
  }
  gpu.batches.set(batch, res);
  if (gpu.batches.size > CACHED_BATCH_SIZES) {
    const [oldest, old] = gpu.batches.entries().next().value;
    gpu.batches.delete(oldest);
    destroyBatch(old);
  }
  return res;
}

function destroyBatch(res) {
  for (const buffer of res.slots.values()) buffer.destroy();
  res.staging.destroy();
}

function roundUp(bytes) {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

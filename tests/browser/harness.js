/**
 * Page side of the browser tests (tests/browser/harness.py is the Python side). Exposes `window.harness`
 * once /runtime/index.js has loaded, or `window.harnessError` with the reason it could not.
 * Arrays cross the Playwright boundary as {b64, shape, dtype} so float32 bits arrive exactly.
 */
const TYPES = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function decode({ b64, shape, dtype }) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { data: new TYPES[dtype](bytes.buffer), shape, dtype };
}

function encode({ data, shape, dtype }) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { b64: btoa(binary), shape, dtype };
}

function message(err) {
  return err && err.message ? err.message : String(err);
}

function makeHarness(runtime) {
  // Load once, then run each entry of `series` (a list of inputs) in turn.
  async function runSeries(url, backend, series) {
    let model;
    try {
      model = await runtime.loadModel(url, { backend });
      const outputs = [];
      // A list runs by position; an object {name: value} runs by name and gives an object back.
      const each = (values, f) => (Array.isArray(values) ? values.map(f)
        : Object.fromEntries(Object.entries(values).map(([k, v]) => [k, f(v)])));
      for (const inputs of series) outputs.push(each(await model.run(each(inputs, decode)), encode));
      return { outputs, info: model.info };
    } catch (err) {
      return { error: message(err) };
    } finally {
      if (model) model.dispose();
    }
  }
  async function run(url, backend, inputs) {
    const r = await runSeries(url, backend, [inputs]);
    return r.error !== undefined ? r : { outputs: r.outputs[0], info: r.info };
  }
  return {
    runtime,
    run,
    runSeries,
    async runMany(jobs) {
      const results = [];
      for (const job of jobs) {
        const byBackend = {};
        for (const backend of job.backends) {
          const r = await run(job.url, backend, job.inputs);
          byBackend[backend] = r.error !== undefined ? r.error : r.outputs;
        }
        results.push(byBackend);
      }
      return results;
    },
    async loadError(url, backend) {
      try {
        (await runtime.loadModel(url, { backend })).dispose();
        return null;
      } catch (err) {
        return message(err);
      }
    },
    async adapterInfo() {
      const adapter = await runtime.findAdapter();
      if (!adapter) return null;
      const info = adapter.info || {};
      return { vendor: info.vendor || "", architecture: info.architecture || "", description: info.description || "" };
    },
    async cpuKernelNames() {
      const cpu = await import("/runtime/cpu.js"); // not part of the public API: the CPU backend loads lazily
      return Object.keys(cpu.kernels).sort();
    },
  };
}

import("/runtime/index.js").then(
  (runtime) => {
    window.harness = makeHarness(runtime);
    document.getElementById("status").textContent = "ready";
  },
  (err) => {
    window.harnessError = `could not import /runtime/index.js: ${message(err)}`;
    document.getElementById("status").textContent = window.harnessError;
  },
);

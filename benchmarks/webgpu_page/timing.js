/**
 * Page side of benchmarks/webgpu_inference.py: load one pyml bundle on WebGPU, then time predicts.
 *
 *     await timing.open("mlp");                  // {loadMs, firstMs}: loadModel, then one batch-1 predict
 *     await timing.repeat(32, 10);               // [ms, ...]: ten batch-32 predicts, one after the other
 *     await timing.stages("mlp");                // where load time goes (a fresh page)
 *
 * Each bundle folder holds its own runtime/ (exported with include_runtime=True). Inputs are deterministic
 * pseudo-random values: the timing does not depend on them, and parity is the test suites' job.
 */
let model = null;

function input(batch) {
  const shape = model.info.inputs[0].shape.map((d) => (d === null ? batch : d));
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  return { data, shape };
}

const message = (err) => ({ error: err && err.message ? err.message : String(err) });

window.timing = {
  /** Import the bundle's runtime and load it (timed together), then time one batch-1 predict. */
  async open(bundle) {
    try {
      const t0 = performance.now();
      const { loadModel } = await import(`./${bundle}/runtime/index.js`);
      model = await loadModel(`${bundle}/model.json`, { backend: "webgpu" });
      const loadMs = performance.now() - t0;
      const x = input(1);
      const t1 = performance.now();
      await model.predict(x.data, x.shape);
      return { loadMs, firstMs: performance.now() - t1, adapter: model.info.adapter };
    } catch (err) {
      return message(err);
    }
  },

  /** `count` predicts at `batch`, one after the other: each one's milliseconds. */
  async repeat(batch, count) {
    try {
      const x = input(batch);
      const times = [];
      for (let i = 0; i < count; i++) {
        const t = performance.now();
        await model.predict(x.data, x.shape);
        times.push(performance.now() - t);
      }
      return times;
    } catch (err) {
      return message(err);
    }
  },

  /** Where load time goes: import, fetch + verify, adapter, device, weight upload, pipelines (ms each). */
  async stages(bundle) {
    try {
      const t = [performance.now()];
      const { fetchBundle } = await import(`./${bundle}/runtime/bundle.js`);
      const gpu = await import(`./${bundle}/runtime/webgpu.js`);
      t.push(performance.now());
      const { manifest, weights } = await fetchBundle(`${bundle}/model.json`);
      t.push(performance.now());
      const adapter = await gpu.findAdapter();
      t.push(performance.now());
      const { device } = await gpu.requestGpuDevice(manifest, adapter);
      t.push(performance.now());
      gpu.uploadWeights(device, manifest, weights);
      await device.queue.onSubmittedWorkDone();
      t.push(performance.now());
      await gpu.createPipelines(device, manifest);
      t.push(performance.now());
      device.destroy();
      const names = ["import", "fetch+verify", "adapter", "device", "weights", "pipelines"];
      return Object.fromEntries(names.map((n, i) => [n, t[i + 1] - t[i]]));
    } catch (err) {
      return message(err);
    }
  },
};
